"""Prove `framecast import openstl`: OpenSTL's models and framecast's imports of them predict the same frames.

Point `OPENSTL_SRC` at a checkout of OpenSTL (github.com/chengtan9907/OpenSTL). For each family (ConvLSTM,
PredRNN, PredRNN++, MIM, SimVP, TAU) this script loads OpenSTL's model and module files straight from that folder
(with `openstl_reference.py` beside it, which `benchmarks/bench_peer.py` shares; nothing of OpenSTL is copied here;
what those files import and these models never use, such as timm's blocks, is stood in for by empty
placeholders), builds the model with random weights (every tensor perturbed, so that no
zero-initialised gate or peephole hides a wrong mapping), saves its state dict as OpenSTL's training does, imports
the file with framecast's importer, and runs both on the same frames: OpenSTL's model as its test loop runs it
(patched frames for the recurrent ones, no teacher forcing), framecast's as every command runs it. It prints, per
family, the parameters and the largest absolute difference of the predictions (framecast returns frames kept in
[0, 1], so OpenSTL's are compared kept in [0, 1] too; `inside` is the share of OpenSTL's values that were already
there, and so compared exactly).

    OPENSTL_SRC=path/to/OpenSTL python scripts/check_openstl_import.py            # base configuration, 64x64
    OPENSTL_SRC=path/to/OpenSTL python scripts/check_openstl_import.py --tiny --fixtures tests/fixtures/openstl

`--tiny` uses small configurations of the same structure (16x16 frames); `--fixtures DIR` writes, per family,
the saved reference file, the frames and OpenSTL's prediction, and the import's options, for the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared loader beside this file, however it is run
from openstl_reference import (
    CONTEXT,
    FAMILIES,
    HORIZON,
    RECURRENT,
    build_reference,
    load_reference,
    reference_options,
    reference_predict,
)

#: Small configurations of the same structure, and the import options that say so.
TINY_RECURRENT = {"layers": 2, "hidden": 4, "kernel": 3, "patch": 4}
TINY_BLOCKS = {"spatial_width": 2, "spatial_layers": 2, "translator_width": 8, "translator_depth": 2, "mlp_ratio": 2.0}
#: How each family's fixture file is saved: OpenSTL's training checkpoint (`state_dict`, keys under `model.`) or the
#: bare state dict; both shapes of the released files are exercised.
LIGHTNING = {"convlstm", "mim", "tau"}


# ---------------------------------------------------------------------------------------- building and running


def options(family: str, tiny: bool) -> dict:
    """framecast's options for the family (its base preset, or the small ones)."""
    from framecast.models import create_model

    if tiny:
        return dict(TINY_RECURRENT if family in RECURRENT else TINY_BLOCKS)
    return reference_options(family, create_model(family, "base").config)


def perturb(model: nn.Module, generator: torch.Generator) -> None:
    """Every floating tensor moved at random, by as much as its own spread (0.1 for a constant one; BatchNorm's
    variances kept positive), so that nothing is left at its start. Moving the weights by more than their spread
    makes a deep recurrent stack chaotic, where rounding differences of 1e-7 grow without bound over the steps."""
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if key.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
                continue
            spread = float(tensor.std()) if tensor.numel() > 1 else 0.0
            tensor.add_(torch.randn(tensor.shape, generator=generator) * (spread if spread > 0 else 0.1))


def save_like_openstl(model: nn.Module, family: str, path: Path) -> None:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if family in LIGHTNING:  # its training checkpoint: the method's state dict, the model under `model.`
        torch.save({"epoch": 200, "state_dict": {f"model.{k}": v for k, v in state.items()}}, path)
    else:
        torch.save(state, path)


def import_args(family: str, o: dict, tiny: bool, size: int) -> list[str]:
    """The `framecast import openstl` options for this file."""
    args = ["--model", family.replace("++", "pp"), "--dataset", "mmnist"]
    if tiny:
        args += ["--preset", "tiny", "--size", str(size)] + [f"--set={k}={v}" for k, v in o.items()]
    return args


def check(family: str, cls: type, tiny: bool, fixtures: Path | None, work: Path) -> dict:
    from framecast.checkpoints import load_checkpoint
    from framecast.cli import run

    size = 16 if tiny else 64
    torch.manual_seed(FAMILIES.index(family))  # OpenSTL's own initialisation draws from the global generator
    generator = torch.Generator().manual_seed(FAMILIES.index(family))
    o = options(family, tiny)
    reference = build_reference(cls, family, o, size)
    perturb(reference, generator)
    reference.eval()
    path = (fixtures or work) / f"{family.replace('++', 'pp')}.pth"
    save_like_openstl(reference, family, path)
    context = torch.rand(1, CONTEXT, 1, size, size, generator=generator)
    theirs = reference_predict(reference, family, context, o.get("patch", 1))
    args = import_args(family, o, tiny, size)
    name = f"check-{family.replace('++', 'pp')}"
    if run(["import", "openstl", str(path), "--name", name, "-q", *args]) != 0:
        raise SystemExit(f"{family}: the import failed")
    runs = Path(os.environ["FRAMECAST_HOME"]) / "data" / "runs" / family / name
    ours_model = load_checkpoint(runs / "best.safetensors").model.eval()
    with torch.no_grad():
        ours = ours_model(context, HORIZON)
    kept = theirs.clamp(0, 1)
    diff = float((ours - kept).abs().max())
    inside = float(((theirs > 0) & (theirs < 1)).float().mean())
    if fixtures is not None:
        torch.save({"input": context, "output": kept}, fixtures / f"{path.stem}.frames.pt")
        (fixtures / f"{path.stem}.json").write_text(json.dumps({"args": args, "max_abs_diff": diff}, indent=1) + "\n")
    params = sum(p.numel() for p in ours_model.parameters())
    ref_params = sum(p.numel() for p in reference.parameters())
    return {"family": family, "parameters": params, "reference": ref_params, "max_abs_diff": diff, "inside": inside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small configurations of the same structure, 16x16")
    parser.add_argument("--fixtures", type=Path, help="write the test fixtures here")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    if "OPENSTL_SRC" not in os.environ:
        raise SystemExit("set OPENSTL_SRC to a checkout of OpenSTL")
    classes = load_reference(Path(os.environ["OPENSTL_SRC"]))
    if args.fixtures:
        args.fixtures.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as home:
        os.environ["FRAMECAST_HOME"] = home
        for family in args.families.split(","):
            rows.append(check(family, classes[family], args.tiny, args.fixtures, Path(home)))
    print("| family | parameters (framecast) | parameters (OpenSTL) | max abs diff | inside (0, 1) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        counts = f"{r['parameters']:,} | {r['reference']:,}"
        print(f"| {r['family']} | {counts} | {r['max_abs_diff']:.1e} | {r['inside']:.0%} |")
    if any(r["max_abs_diff"] > 1e-5 for r in rows):
        raise SystemExit("some predictions differ by more than 1e-5")


if __name__ == "__main__":
    main()
