"""`framecast download NAME`: fetch a dataset's files into the cache, checked by checksum, and unpack its archives."""

from __future__ import annotations

from typing import Annotated

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Download a dataset into framecast's cache: mnist (the four MNIST idx files, about 11 MB), moving-mnist "
    "(the standard test file mnist_test_seq.npy, about 820 MB), vgg16 (torchvision's VGG16 weights, about 553 MB, "
    "converted once to vgg16-features.safetensors for --loss ...+perceptual), fmnist (the four Fashion-MNIST idx "
    "files, about 31 MB, for --data moving-fmnist), kth (KTH's six action archives, unpacked, for --data kth) or "
    "ucf101 (UCF101.rar, about 6.5 GB, and the official split lists, unpacked, for --data ucf101; unpacking a RAR "
    "needs unrar, unar, 7z or bsdtar). Files are checked by md5, sha256 or sha1 where one is published, kept when "
    "already present, and an interrupted download resumes. FRAMECAST_MIRROR (comma-separated base URLs) replaces "
    "the built-in mirrors; FRAMECAST_OFFLINE=1 forbids the network."
)

EPILOG = examples(
    "framecast download mnist",
    "framecast download moving-mnist",
    "framecast download mnist --force",
    "framecast download moving-mnist --json",
    "framecast download vgg16",
    "framecast download fmnist",
    "framecast download kth",
    "framecast download ucf101 --json",
    "FRAMECAST_MIRROR=https://example.org/mnist/ framecast download mnist",
)

NAMES = "{mnist,moving-mnist,vgg16,fmnist,kth,ucf101}"


def command(
    dataset: Annotated[
        str,
        typer.Argument(help="mnist, moving-mnist, vgg16, fmnist, kth or ucf101.", metavar=NAMES, show_default=False),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Download again even when the files are present and good.")
    ] = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from framecast.cli import _output
    from framecast.data.download import converted_path, dataset_spec, download_dataset, unpacked_paths

    spec = dataset_spec(dataset)  # an unknown name fails here, before anything is created
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_output.err(),
        transient=True,
        disable=not _output.show_progress(),
    ) as bar:
        tasks: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        files = download_dataset(spec.name, force=force, progress=on_progress, notify=_output.log)
    folder = files[0].path.parent
    converted = converted_path(spec)  # made by download_dataset when the dataset has a conversion
    unpacked = unpacked_paths(spec)  # likewise for the archives it unpacks
    if quiet and not json_out:
        _output.emit_paths(*(f.path for f in files), *([converted] if converted else []), *unpacked)
        return
    if json_out:
        _output.emit_json(
            {
                "dataset": spec.name,
                "folder": str(folder),
                "files": [
                    {
                        "name": f.name,
                        "path": str(f.path),
                        "bytes": f.bytes,
                        "md5": f.md5,
                        "sha256": f.sha256,
                        "sha1": f.sha1,
                        "verified": f.verified,
                        "skipped": f.skipped,
                        "url": f.url,
                        "resumed_from": f.resumed_from,
                    }
                    for f in files
                ],
                "downloaded_bytes": sum(f.bytes - f.resumed_from for f in files if not f.skipped),
                "converted": str(converted) if converted else None,
                "unpacked": [str(p) for p in unpacked],
            }
        )
        return
    algorithms = {f.algorithm for f in spec.files}
    checksum = algorithms.pop() if len(algorithms) == 1 else "checksum"
    t = _output.table(f"{spec.name}: {spec.description}", ["file", "size", checksum, "status"])
    for f in files:
        if f.skipped:
            status = "already present"
        elif f.resumed_from:
            status = f"downloaded (resumed at {_output.fmt_bytes(f.resumed_from)})"
        else:
            status = "downloaded"
        t.add_row(f.name, _output.fmt_bytes(f.bytes), f.md5 or f.sha256 or f.sha1 or "", status)
    out = _output.out()
    out.print(t)
    out.print(f"in {folder}", highlight=False)
    for f in spec.files:
        if f.unverified:  # say plainly which file was not checked, and why
            out.print(f"{f.name}: its md5 is shown, not compared: {f.unverified}", highlight=False)
    if converted:
        out.print(f"converted to {converted}", highlight=False)
    if unpacked:
        shown = ", ".join(p.name for p in unpacked[:8]) + (
            f" and {len(unpacked) - 8} more" if len(unpacked) > 8 else ""
        )
        out.print(f"unpacked: {shown}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("download", help=HELP, epilog=EPILOG)(command)
