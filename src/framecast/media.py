"""Frames in and out of files: decode videos and GIFs, write GIFs, MP4s, PNGs and arrays, tile and upscale.

Everything here works on uint8 frames ``(T, H, W, C)`` (C = 1 grey or 3 RGB): the edge of the library, where
files live. Inside the library clips are float32 in [0, 1]; :mod:`framecast.clips` owns the conversions between
the two (layout, uint8), and the writers here take only what it gives them.

Decoding runs the ffmpeg binary that imageio-ffmpeg ships, once per file, and lets ffmpeg do the work it
does best in one pass: grey conversion (``-pix_fmt gray``, the BT.601 luma plane with its range expanded to
0-255), the crop and the resize (``-vf``). The default resize policy, for a clip whose shape differs from the
requested size:

1. centre-crop to the target's aspect ratio, measured in *display* pixels (a clip with non-square pixels, such
   as 176x144 at SAR 128:117, is cropped by its displayed shape, so circles stay round);
2. scale to the target size with area averaging (``flags=area``), which anti-aliases when shrinking.

``fit="stretch"`` skips the crop and squeezes the whole frame instead. Frames come out exactly as the file
holds them (``-fps_mode passthrough``): ffmpeg neither duplicates nor drops frames to fit a constant rate.
The frame rate is read from the stream header and reported; :func:`read_video`'s ``frame_stride`` keeps every
Nth frame.

A damaged file never reaches the user as a traceback: a missing path or a file that is not a video raises
:class:`~framecast.errors.InputError`; a video that is truncated or corrupt raises
:class:`~framecast.errors.DataError`. Truncation shows up differently per container, and each is checked:

- MP4/MOV whose index (``moov``) sits at the end: ffmpeg cannot open it ("moov atom not found"). The file
  still starts with an MP4 box, which is how it is told apart from a file that is not a video at all.
- AVI: ffmpeg decodes what is there and stops without complaint. The AVI main header promises a frame count
  (``avih``/``dmlh``); fewer decoded frames means the file was cut.
- MP4 with its index first, MKV, WebM: the container's duration promises ``duration x fps`` frames, and
  ffmpeg logs errors ("File ended prematurely", "partial file") when the data runs out.
- GIF: a complete GIF ends with a trailer byte (0x3B); a cut one does not (and ffmpeg logs "LZW decode
  failed").
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framecast._fs import atomic_path
from framecast.errors import DataError, FramecastError, InputError

#: Frame size (height, width) when none is asked for: the size of Moving MNIST, and of the models' presets.
DEFAULT_SIZE = (64, 64)
#: How a clip of another shape is brought to the requested size (see the module docstring).
FIT_MODES = ("crop", "stretch")
#: Video files a folder search picks up and `predict` decodes (case does not matter).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".gif", ".mov", ".m4v")
#: Arrays of frames or sequences.
ARRAY_SUFFIXES = (".npy", ".npz")
#: File types the writers know, by extension.
GIF_SUFFIXES = (".gif",)
VIDEO_WRITE_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
ANIMATION_SUFFIXES = (*GIF_SUFFIXES, *VIDEO_WRITE_SUFFIXES)
STILL_SUFFIXES = (".png",)
WRITE_SUFFIXES = (*ANIMATION_SUFFIXES, *STILL_SUFFIXES, ".npy")

#: Decodes run since the process started; lets callers (and tests) see whether a cache answered instead.
decode_count = 0


@dataclass(frozen=True)
class VideoInfo:
    """What a decode learnt about a video file.

    Attributes:
        path: the file decoded.
        container: ffmpeg's name of the container format ("avi", "mov,mp4,m4a,3gp,3g2,mj2", "gif").
        codec: the video codec ("h264", "mpeg4", "gif").
        width: frame width stored in the file, in pixels.
        height: frame height stored in the file, in pixels.
        fps: frames per second from the stream header (0.0 when the file does not say).
        duration: seconds, from the container (0.0 when unknown).
        frames: frames decoded, before any stride.
        frames_expected: frames the container promises (AVI header count, else duration x fps), or None.
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float
    frames: int
    frames_expected: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------- decoding


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped with imageio-ffmpeg (or the one IMAGEIO_FFMPEG_EXE names).

    Raises:
        FramecastError: when no ffmpeg can be found.
    """
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise FramecastError(
            f"ffmpeg is not available ({exc})",
            "reinstall framecast so that imageio-ffmpeg brings its ffmpeg, or set IMAGEIO_FFMPEG_EXE",
        ) from None


def _video_filter(size: tuple[int, int] | None, fit: str) -> str | None:
    """The ffmpeg -vf chain that brings frames to `size` (None: keep the stored size)."""
    if size is None:
        return None
    h, w = size
    scale = f"scale={w}:{h}:flags=area,setsar=1"
    if fit == "stretch":
        return scale
    # Crop in storage pixels to the target aspect in display pixels: display width = stored width x sar.
    # ffmpeg's crop filter reads an unknown sar as 1, so this holds for every file.
    crop = f"crop=w='min(iw,ih*{w}/{h}/sar)':h='min(ih,iw*sar*{h}/{w})'"
    return f"{crop},{scale}"


def _decode_command(path: Path, channels: int, size: tuple[int, int] | None, fit: str, passthrough: list[str]):
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-i", str(path)]
    cmd += ["-map", "0:v:0", "-an", "-sn", "-dn", *passthrough]
    vf = _video_filter(size, fit)
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-pix_fmt", "gray" if channels == 1 else "rgb24", "-f", "rawvideo", "pipe:1"]
    return cmd


def _run_decoder(cmd: list[str]) -> tuple[bytearray, str, int]:
    """Run ffmpeg, collecting raw frames from stdout and its log from stderr; (frames, log, exit code)."""
    # The log goes to a temporary file, not a pipe: a damaged file can make ffmpeg log more than a pipe
    # holds, and a pipe nobody reads would stall it.
    with tempfile.TemporaryFile() as log_file:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file)
        buffer = bytearray()
        try:
            assert process.stdout is not None
            while chunk := process.stdout.read(1 << 20):
                buffer += chunk
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            if process.stdout is not None:
                process.stdout.close()
        log_file.seek(0)
        log = log_file.read().decode("utf-8", errors="replace")
    return buffer, log, code


_LEVEL = re.compile(r"\[(trace|debug|verbose|info|warning|error|fatal|panic)\] ?")


def _log_lines(log: str) -> list[tuple[str, str]]:
    """ffmpeg's log (written with -loglevel level+info) as (level, text) pairs."""
    lines = []
    for raw in log.splitlines():
        match = _LEVEL.search(raw)
        if match is None:
            lines.append(("info", raw))
        else:
            lines.append((match.group(1), (raw[: match.start()] + raw[match.end() :]).strip()))
    return lines


def _parse_header(lines: list[tuple[str, str]]) -> dict[str, Any]:
    """Container, codec, stored size, fps and duration of the input, from ffmpeg's log."""
    meta: dict[str, Any] = {"container": "", "codec": "", "width": 0, "height": 0, "fps": 0.0, "duration": 0.0}
    in_input = False
    for _level, text in lines:
        if text.startswith("Input #0"):
            in_input = True
            meta["container"] = text.split(",", 1)[1].rsplit(", from", 1)[0].strip() if "," in text else ""
            continue
        if text.startswith(("Output #0", "Stream mapping")):
            in_input = False
        if not in_input:
            continue
        if text.startswith("Duration:"):
            m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
            if m:
                meta["duration"] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        elif text.startswith("Stream #") and " Video: " in text and not meta["codec"]:
            video = text.split(" Video: ", 1)[1]
            meta["codec"] = video.split(" ", 1)[0].rstrip(",")
            # "320x240", never the "0x3450..." of a codec tag
            m = re.search(r"(?:^|[\s,])([1-9]\d{0,4})x([1-9]\d{0,4})(?=[\s,\[]|$)", video)
            if m:
                meta["width"], meta["height"] = int(m.group(1)), int(m.group(2))
            m = re.search(r"([\d.]+) fps", video) or re.search(r"([\d.]+) tbr", video)
            if m:
                meta["fps"] = float(m.group(1))
    return meta


_CONTAINER_NAMES = {
    "mp4": "an MP4/MOV",
    "avi": "an AVI",
    "matroska": "a Matroska/WebM",
    "gif": "a GIF",
    "ogg": "an Ogg",
    "flv": "an FLV",
    "asf": "an ASF/WMV",
    "mpeg-ps": "an MPEG program stream",
    "mpeg-ts": "an MPEG transport stream",
}
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def sniff_container(head: bytes) -> str | None:
    """The container a file's first bytes announce (mp4, avi, matroska, gif, ...), or None if none.

    Used to tell a damaged video (a known container that ffmpeg cannot read) from a file that is not a video.
    """
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == _ASF_GUID:
        return "asf"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"
    return None


def avi_header_frames(head: bytes) -> int | None:
    """Frames an AVI's header promises: the OpenDML total (``dmlh``) when present, else ``avih``'s count."""
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    found = None
    at = head.find(b"avih")
    if at >= 0 and len(head) >= at + 8 + 20:
        found = struct.unpack_from("<I", head, at + 8 + 16)[0]  # dwTotalFrames, after 4 other DWORDs
    at = head.find(b"dmlh")
    if at >= 0 and len(head) >= at + 12:
        found = struct.unpack_from("<I", head, at + 8)[0] or found  # a file over 1 GB counts here
    return found or None


def _gif_complete(path: Path) -> bool:
    """A whole GIF ends with its trailer byte, 0x3B."""
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\x3b"


def _errors(lines: list[tuple[str, str]]) -> list[str]:
    return [text for level, text in lines if level in ("error", "fatal", "panic")]


def _explain_open_failure(path: Path, head: bytes, lines: list[tuple[str, str]]) -> FramecastError:
    """The error for a file that ffmpeg could not open or decode at all."""
    errors = _errors(lines)
    said = next((e for e in errors if not e.startswith("Error opening input")), errors[-1] if errors else "")
    said = re.sub(r"^\[[^\]]*\]\s*", "", said)  # drop ffmpeg's "[in#0 @ 0x...]" context
    text = " ".join(errors)
    if "No such file" in text:
        return InputError(f"{path} does not exist", "check the path")
    if "Permission denied" in text:
        return InputError(f"{path} cannot be read: permission denied", "check the file's permissions")
    container = sniff_container(head)
    if container is not None and ("matches no streams" in text or "does not contain any stream" in text):
        return InputError(f"{path} has no video stream", "give a file with video in it (not audio only)")
    if container is None:
        said = "" if "matches no streams" in said else said  # ffmpeg guessed a text format; its words confuse
        return InputError(
            f"{path} is not a video that ffmpeg can read" + (f" (ffmpeg: {said})" if said else ""),
            "give a video file such as .mp4, .avi, .mkv, .webm or .gif",
        )
    return DataError(
        f"{path} looks like {_CONTAINER_NAMES.get(container, container)} file but cannot be decoded: it is damaged "
        "or truncated" + (f" (ffmpeg: {said})" if said else ""),
        "the file was probably cut short by an interrupted copy or download: copy or download it again",
    )


def read_video(
    path: str | os.PathLike[str],
    *,
    channels: int = 1,
    size: tuple[int, int] | None = DEFAULT_SIZE,
    frame_stride: int = 1,
    fit: str = "crop",
) -> tuple[np.ndarray, VideoInfo]:
    """Decode a video or animated GIF to uint8 frames ``(T, H, W, C)``.

    Args:
        path: any file ffmpeg reads: mp4, avi, mkv, webm, mov, gif, ...
        channels: 1 for grey (BT.601 luma), 3 for RGB.
        size: (height, width) of the frames returned, or None to keep the stored size.
        frame_stride: keep every Nth frame (the first frame is always kept).
        fit: "crop" (centre-crop to the target aspect, then scale) or "stretch" (scale the whole frame).

    Returns:
        The frames, and what the decode learnt about the file (fps, stored size, frames decoded).

    Raises:
        InputError: the path does not exist, is a folder, or is not a video.
        DataError: the video is damaged or truncated.
    """
    global decode_count
    path = Path(path).expanduser()
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, not {channels}", "1 for grey frames, 3 for colour")
    if fit not in FIT_MODES:
        raise InputError(f"unknown fit '{fit}'", f"use one of {', '.join(FIT_MODES)}")
    if frame_stride < 1:
        raise InputError(f"frame stride must be at least 1, not {frame_stride}", "use --frame-stride 1 or more")
    if size is not None and (size[0] < 1 or size[1] < 1):
        raise InputError(f"frame size {size[0]}x{size[1]} is empty", "give a size such as 64 or 64x80")
    if not path.exists():
        raise InputError(f"{path} does not exist", "check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video", "give a video file, or the folder as a dataset")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror})", "check the file's permissions") from None
    if not head:
        raise DataError(f"{path} is empty (0 bytes)", "the copy or download failed: fetch the file again")

    decode_count += 1
    buffer, log, code = _run_decoder(_decode_command(path, channels, size, fit, ["-fps_mode", "passthrough"]))
    if code != 0 and "Unrecognized option 'fps_mode'" in log:  # an ffmpeg older than 5.1 (IMAGEIO_FFMPEG_EXE)
        buffer, log, code = _run_decoder(_decode_command(path, channels, size, fit, ["-vsync", "passthrough"]))
    lines = _log_lines(log)
    meta = _parse_header(lines)
    if size is None:
        out_h, out_w = meta["height"], meta["width"]
    else:
        out_h, out_w = size
    frame_bytes = out_h * out_w * channels
    if frame_bytes == 0 or (code != 0 and not buffer):
        raise _explain_open_failure(path, head, lines)
    decoded = len(buffer) // frame_bytes
    errors = _errors(lines)

    exact = avi_header_frames(head)
    expected = exact
    if expected is None and meta["duration"] > 0 and meta["fps"] > 0:
        expected = round(meta["duration"] * meta["fps"])
    info = VideoInfo(
        path=str(path),
        container=meta["container"],
        codec=meta["codec"],
        width=meta["width"],
        height=meta["height"],
        fps=meta["fps"],
        duration=meta["duration"],
        frames=decoded,
        frames_expected=expected,
    )
    _check_complete(path, info, exact is not None, errors, code)
    frames = np.frombuffer(buffer, dtype=np.uint8, count=decoded * frame_bytes).reshape(decoded, out_h, out_w, channels)
    if frame_stride > 1:
        frames = frames[::frame_stride]
    return frames, info


def _check_complete(path: Path, info: VideoInfo, exact: bool, errors: list[str], code: int) -> None:
    """Raise DataError when the decode shows the file to be truncated or broken."""
    hint = "the file was probably cut short by an interrupted copy or download: copy or download it again"
    said = re.sub(r"^\[[^\]]*\]\s*", "", errors[-1]) if errors else ""
    if info.frames == 0:
        raise DataError(f"{path}: no frame could be decoded" + (f" (ffmpeg: {said})" if said else ""), hint)
    if code != 0:
        raise DataError(
            f"{path}: decoding stopped after {info.frames} frames" + (f" (ffmpeg: {said})" if said else ""), hint
        )
    if info.frames_expected is not None:
        # A header count (AVI) is trusted on its own; a duration x fps estimate only when ffmpeg also logged
        # errors, since a longer audio track or an edit list can stretch the duration past the last frame.
        tolerance = max(1, round(0.01 * info.frames_expected))
        if info.frames < info.frames_expected - tolerance and (exact or errors):
            raise DataError(
                f"{path} is truncated: decoded {info.frames} of the {info.frames_expected} frames its "
                f"{'header' if exact else 'duration'} promises",
                hint,
            )
    if info.codec == "gif" and not _gif_complete(path):
        raise DataError(f"{path} is truncated: the GIF has no trailer after frame {info.frames}", hint)


# ---------------------------------------------------------------------------------------------------- writers


def _check_frames(frames: Any) -> np.ndarray:
    """The writers take uint8 ``(T, H, W, C)`` frames, C of 1 or 3 (framecast.clips.as_uint8_frames makes them)."""
    array = np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"writers take uint8 (T, H, W, C) frames, not {array.dtype} {tuple(array.shape)}")
    return np.ascontiguousarray(array)


def _encode(frames: np.ndarray, target: Path, fps: float, args: list[str]) -> None:
    """Pipe uint8 (T, H, W, C) frames through ffmpeg into `target`, written atomically."""
    t, h, w, c = frames.shape
    if t == 0:
        raise InputError(f"no frames to write to {target}", "give at least one frame")
    if fps <= 0:
        raise InputError(f"frame rate must be positive, not {fps}", "give --fps 1 or more")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "gray" if c == 1 else "rgb24", "-s", f"{w}x{h}", "-r", format(fps, ".10g")]
    cmd += ["-i", "pipe:0", *args]
    with atomic_path(target) as tmp:
        result = subprocess.run([*cmd, str(tmp)], input=frames.tobytes(), capture_output=True)
        if result.returncode != 0:
            said = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            raise DataError(
                f"ffmpeg could not write {target}" + (f": {said[-1]}" if said else ""),
                "check that the folder is writable and has space; try another format such as .gif",
            )


def write_gif(frames: Any, path: str | os.PathLike[str], fps: float = 10.0, loop: int = 0) -> Path:
    """Write frames as an animated GIF, frame for frame (identical frames are kept, not merged).

    GIF delays are whole hundredths of a second, so a rate such as 29.97 plays at the nearest (33.3 fps).

    Args:
        frames: uint8 ``(T, H, W, C)``.
        path: the .gif to write.
        fps: frames per second.
        loop: 0 loops forever, -1 plays once, N repeats N times.
    """
    array = _check_frames(frames)
    target = Path(path)
    if array.shape[-1] == 1:
        args = ["-loop", str(loop)]  # GIF stores grey directly: 256 levels, no palette search
    else:
        # One palette for the whole clip keeps colours steady from frame to frame.
        palette = "split[a][b];[a]palettegen=stats_mode=full:reserve_transparent=0[p];[b][p]paletteuse=dither=bayer"
        args = ["-filter_complex", palette, "-loop", str(loop)]
    _encode(array, target, fps, [*args, "-f", "gif"])
    return target


def write_video(frames: Any, path: str | os.PathLike[str], fps: float = 25.0) -> Path:
    """Write frames as a video: H.264 in .mp4/.m4v/.mov/.mkv, VP8 in .webm, MPEG-4 part 2 in .avi.

    Frames are encoded as yuv420p, which needs even sides: an odd height or width gets one black row or
    column at the bottom or right.

    Args:
        frames: uint8 ``(T, H, W, C)``.
        path: the file to write; its extension picks the codec.
        fps: frames per second.
    """
    array = _check_frames(frames)
    target = Path(path)
    suffix = target.suffix.lower()
    pad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    if suffix == ".webm":
        codec = ["-c:v", "libvpx", "-crf", "10", "-b:v", "2M", "-f", "webm"]
    elif suffix == ".avi":
        codec = ["-c:v", "mpeg4", "-q:v", "2", "-f", "avi"]
    elif suffix == ".mkv":
        codec = ["-c:v", "libx264", "-crf", "18", "-f", "matroska"]
    elif suffix in (".mp4", ".m4v", ".mov"):
        container = "mov" if suffix == ".mov" else "mp4"
        codec = ["-c:v", "libx264", "-crf", "18", "-movflags", "+faststart", "-f", container]
    else:
        raise InputError(f"cannot write a video as {suffix or 'a file without extension'}", _write_hint())
    _encode(array, target, fps, [*pad, *codec, "-pix_fmt", "yuv420p"])
    return target


def write_png(frame_or_strip: Any, path: str | os.PathLike[str]) -> Path:
    """Write one uint8 image ``(H, W, C)`` as a PNG; frames ``(T, H, W, C)`` are laid side by side in a strip."""
    from PIL import Image

    array = np.asarray(frame_or_strip)
    frames = _check_frames(array[None] if array.ndim == 3 else array)
    strip = np.concatenate(list(frames), axis=1)  # (H, T*W, C)
    image = Image.fromarray(strip[..., 0] if strip.shape[-1] == 1 else strip)  # L or RGB, from the shape
    target = Path(path)
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG")
    return target


def write_npy(frames: Any, path: str | os.PathLike[str]) -> Path:
    """Write frames as a uint8 ``(T, H, W, C)`` .npy array."""
    array = _check_frames(frames)
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    return target


def _write_hint() -> str:
    return f"use one of {', '.join(WRITE_SUFFIXES)}"


def write_frames(frames: Any, path: str | os.PathLike[str], *, fps: float = 10.0, loop: int = 0) -> Path:
    """Write frames in the format the path's extension names: .gif, .mp4/.m4v/.mov/.mkv/.webm/.avi, .png, .npy.

    Raises:
        InputError: for an extension none of the writers knows.
    """
    suffix = Path(path).suffix.lower()
    if suffix in GIF_SUFFIXES:
        return write_gif(frames, path, fps=fps, loop=loop)
    if suffix in VIDEO_WRITE_SUFFIXES:
        return write_video(frames, path, fps=fps)
    if suffix == ".png":
        return write_png(frames, path)
    if suffix == ".npy":
        return write_npy(frames, path)
    raise InputError(f"cannot write {path}: unknown format {suffix or '(no extension)'}", _write_hint())
