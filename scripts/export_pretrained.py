"""Export the best weights of a training run as a checkpoint that ships inside the package.

The weights are stored in fp16 safetensors (half the size; framecast loads them back as float32) with the run's
metadata, beside a JSON record of where they came from and their size and sha256, which the tests check.

Usage:
    python scripts/export_pretrained.py RUN_DIR [--out src/framecast/pretrained]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file


def export(run: Path, out: Path) -> Path:
    config = json.loads((run / "config.json").read_text())
    best = run / "best.safetensors"
    with safe_open(str(best), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(best)).items()}
    name = f"{config['model']}-{config['preset']}"
    target = out / f"{name}.safetensors"
    save_file(tensors, str(target), metadata=metadata)
    blob = target.read_bytes()
    record = {
        "model": config["model"],
        "preset": config["preset"],
        "file": target.name,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "dtype": "float16",
        "parameters": config["parameters"],
        "spec": config["spec"],
        "data": config["data"],
        "options": config["options"],
        "epochs": config["epochs_done"],
        "steps": config["steps_done"],
        "train_seconds": round(config["train_seconds"]),
        "precision": config["precision"],
        "best": config["best"],
        "framecast": config["framecast"],
    }
    digits = record["options"].get("digits")
    if digits:  # record the digit file by name: where it lay on the training machine means nothing elsewhere
        record["options"]["digits"] = Path(digits).name
        record["data"] = {k: v.replace(digits, Path(digits).name) for k, v in record["data"].items()}
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with config.json and best.safetensors")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/framecast/pretrained")
    args = parser.parse_args()
    target = export(args.run, args.out)
    print(f"{target.name}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
