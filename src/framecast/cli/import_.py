"""`framecast import KIND FILE --name NAME`: a checkpoint released by a model's authors, as a framecast run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Import a checkpoint released by a model's authors as a framecast run: dmvfn (the .pkl state dicts of "
    "megvii-research/CVPR2023-DMVFN). The file is read without running anything in it (torch.load with "
    "weights_only=True); every tensor's name and shape is checked; the colour order is converted to RGB; the run "
    "records the source file, its sha256 and the training data. Then `framecast predict CLIP --model dmvfn` (or "
    "--checkpoint) runs it at the clip's own size."
)

EPILOG = examples(
    "framecast import dmvfn dmvfn_city.pkl --name city --trained-on cityscapes",
    "framecast import dmvfn dmvfn_kitti.pkl --name kitti --trained-on kitti --json",
    "framecast predict clip.mp4 --checkpoint city",
)


def command(
    kind: Annotated[str, typer.Argument(help="What the file is: dmvfn.", metavar="KIND", show_default=False)],
    file: Annotated[str, typer.Argument(help="The authors' checkpoint file.", metavar="FILE", show_default=False)],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the run to create (a new folder name).")],
    trained_on: Annotated[
        Optional[str],
        typer.Option("--trained-on", help="What the file was trained on: cityscapes, kitti, ucf101 or vimeo."),
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.importing import import_checkpoint

    report = import_checkpoint(kind, file, name, trained_on)
    if json_out:
        _output.emit_json(report)
        return
    if quiet:
        _output.emit_paths(report["weights"])
        return
    card = report["card"]
    out = _output.out()
    out.print(f"imported {report['run']}: {report['parameters']:,} parameters from {card['source']}", highlight=False)
    out.print(f"  sha256      {card['sha256']}", highlight=False)
    out.print(f"  trained on  {card['trained_on']}", highlight=False)
    out.print(f"  colour      {card['channel_order_note']}", highlight=False)
    out.print(f"  in          {report['path']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("import", help=HELP, epilog=EPILOG)(command)
