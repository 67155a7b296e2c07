"""`framecast import KIND FILE --name NAME`: a checkpoint released by a model's authors, as a framecast run."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from framecast.cli._common import Json, Quiet, examples

HELP = (
    "Import a checkpoint released by a model's authors as a framecast run: dmvfn (the .pkl state dicts of "
    "megvii-research/CVPR2023-DMVFN), or openstl (the .pth files of the OpenSTL library's ConvLSTM, PredRNN, "
    "PredRNN++, MIM, SimVP and TAU, trained on Moving MNIST, Moving Fashion-MNIST or KTH; give --model and "
    "--dataset). The file is read without running anything in it (torch.load with weights_only=True); every "
    "tensor's name and shape is checked; the run records the source file, its sha256 and the training data. Then "
    "`framecast predict CLIP --model dmvfn` (or --checkpoint) predicts with it."
)

EPILOG = examples(
    "framecast import dmvfn dmvfn_city.pkl --name city --trained-on cityscapes",
    "framecast import dmvfn dmvfn_kitti.pkl --name kitti --trained-on kitti --json",
    "framecast import openstl mmnist_simvp_s_gsta_one_ep2000.pth --model simvp --name openstl",
    "framecast import openstl kth_predrnn.pth --model predrnn --dataset kth --name kth",
    "framecast predict clip.mp4 --checkpoint city",
)


def command(
    kind: Annotated[
        str, typer.Argument(help="What the file is: dmvfn or openstl.", metavar="KIND", show_default=False)
    ],
    file: Annotated[str, typer.Argument(help="The authors' checkpoint file.", metavar="FILE", show_default=False)],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the run to create (a new folder name).")],
    trained_on: Annotated[
        Optional[str],
        typer.Option("--trained-on", help="dmvfn: what the file was trained on: cityscapes, kitti, ucf101 or vimeo."),
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option("--model", "-m", help="openstl: the family: convlstm, predrnn, predrnnpp, mim, simvp or tau."),
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="openstl: framecast's preset it was trained at (base: OpenSTL's).")
    ] = "base",
    dataset: Annotated[
        str,
        typer.Option("--dataset", help="openstl: what it was trained on: mmnist, mfmnist or kth (frames, options)."),
    ] = "mmnist",
    size: Annotated[Optional[str], typer.Option("--size", help="openstl: frame size, when not the data set's.")] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="openstl: a model option, KEY=VALUE (repeatable).")
    ] = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    from framecast.cli import _output
    from framecast.cli._common import parse_size
    from framecast.cli.train import parse_set
    from framecast.errors import UsageError
    from framecast.importing import import_checkpoint
    from framecast.importing_openstl import import_openstl

    if kind == "openstl":
        if not model:
            raise UsageError("importing an OpenSTL file needs --model", "for example --model simvp")
        options = parse_set(set_ or [])
        report = import_openstl(
            file, model, name, preset=preset, dataset=dataset, size=parse_size(size), overrides=options
        )
    else:
        report = import_checkpoint(kind, file, name, trained_on)
    if json_out:
        _output.emit_json(report)
        return
    if quiet:
        _output.emit_paths(report["weights"])
        return
    _show(_output.out(), report)


def _show(out, report: dict) -> None:
    card = report["card"]
    out.print(f"imported {report['run']}: {report['parameters']:,} parameters from {card['source']}", highlight=False)
    out.print(f"  sha256      {card['sha256']}", highlight=False)
    out.print(f"  trained on  {card['trained_on']}", highlight=False)
    if "channel_order_note" in card:
        out.print(f"  colour      {card['channel_order_note']}", highlight=False)
    if "head" in card:
        out.print(f"  head        {card['head']}", highlight=False)
    out.print(f"  in          {report['path']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("import", help=HELP, epilog=EPILOG)(command)
