"""`framecast download {mnist,moving-mnist,vgg16}`: fetch a dataset's files into the cache, checked by checksum."""

from __future__ import annotations

from typing import Annotated

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Download a dataset into framecast's cache: mnist (the four MNIST idx files, about 11 MB), moving-mnist "
    "(the standard test file mnist_test_seq.npy, about 820 MB) or vgg16 (torchvision's VGG16 weights, about 553 MB, "
    "converted once to vgg16-features.safetensors for --loss ...+perceptual). Files are checked by md5 or sha256, "
    "kept when already present, and an interrupted download resumes. FRAMECAST_MIRROR (comma-separated base URLs) "
    "replaces the built-in mirrors; FRAMECAST_OFFLINE=1 forbids the network."
)

EPILOG = examples(
    "framecast download mnist",
    "framecast download moving-mnist",
    "framecast download mnist --force",
    "framecast download moving-mnist --json",
    "framecast download vgg16",
    "FRAMECAST_MIRROR=https://example.org/mnist/ framecast download mnist",
)


def command(
    dataset: Annotated[
        str,
        typer.Argument(help="mnist, moving-mnist or vgg16.", metavar="{mnist,moving-mnist,vgg16}", show_default=False),
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
    from framecast.data.download import converted_path, dataset_spec, download_dataset

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
    if quiet and not json_out:
        _output.emit_paths(*(f.path for f in files), *([converted] if converted else []))
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
                        "skipped": f.skipped,
                        "url": f.url,
                        "resumed_from": f.resumed_from,
                    }
                    for f in files
                ],
                "downloaded_bytes": sum(f.bytes - f.resumed_from for f in files if not f.skipped),
                "converted": str(converted) if converted else None,
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
        t.add_row(f.name, _output.fmt_bytes(f.bytes), f.md5 or f.sha256 or "", status)
    out = _output.out()
    out.print(t)
    out.print(f"in {folder}", highlight=False)
    if converted:
        out.print(f"converted to {converted}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("download", help=HELP, epilog=EPILOG)(command)
