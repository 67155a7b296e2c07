"""Export the best weights of a training run as a checkpoint that ships inside the package, and score it.

The weights are stored in fp16 safetensors (half the size; framecast loads them back as float32) with the run's
metadata, beside a JSON record of where they came from, their size and sha256 (which the tests check), and,
with ``--digits``, the scores of the exported weights on the generated test split next to the zeros and
copy-last baselines, measured by the very `framecast eval` command a user runs. Model cards
(``docs/pages/checkpoints.md``) are written from these records by ``scripts/model_cards.py``.

A run trained on natural video (moving scenes) ships as ``<model>-<preset>-scenes[-rgb]``; with ``--clips DIR``
it is scored on every window of the real clips in DIR (pooled and per clip, beside copy-last) and on the
generated moving-scenes test split, again by the `framecast eval` command a user runs.

Usage:
    python scripts/export_pretrained.py RUN_DIR --digits mnist_digits.npz --hardware "2-core x86_64 CPU, ..."
    python scripts/export_pretrained.py RUN_DIR --clips ../shared/data/videos --hardware "..."
    python scripts/export_pretrained.py --rescore src/framecast/pretrained/vit-small.json --digits mnist_digits.npz
    python scripts/export_pretrained.py --restamp src/framecast/pretrained/vit-small-scenes-rgb.json --views 8 \
        --clips ../shared/data/videos

``--rescore`` scores a shipped digit checkpoint again with the recorded command and updates its record with
scores added since it was exported (accuracy), after checking that the recorded ones come out unchanged.

``--out stages`` writes a natural-video stage that does not ship yet beside the others in the repository's
``stages/`` folder (see its README), scored as that file: the next stage starts from it with ``--init``.

``--self-check N`` and ``--views N`` ship a checkpoint with those inference-time rules in its metadata (see
framecast.models.self_check and framecast.models.views): every command that loads it applies them. ``--restamp``
changes the views of a shipped natural-video checkpoint, whose run may be long gone, without touching a weight,
and scores it again (the record's earlier clip scores are kept under ``before_restamp``).

``--weights last`` exports the run's last weights (the end of its schedule) instead of its best validation epoch;
the card says so, and so does the stage's record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from framecast._fs import usual_mode

#: Where shipped checkpoints live: `eval --model NAME` finds them there.
PACKAGE = Path(__file__).resolve().parents[1] / "src/framecast/pretrained"
#: Test sequences behind the card's figures, and the subset a test re-scores on every CI run.
TEST_SEQUENCES = 1000
SUBSET_SEQUENCES = 32
#: The same for natural-video checkpoints on the generated moving-scenes test split (each costs more to draw).
SCENES_TEST_SEQUENCES = 256
SCENES_SUBSET_SEQUENCES = 4
BASELINES = ("zeros", "copy-last")
SCORES = ("mse", "mse_pixel", "mae", "psnr", "ssim", "accuracy")


def eval_command(model: str, digits: str, limit: int) -> list[str]:
    """The `framecast eval` arguments that score a shipped checkpoint on the generated test split."""
    return ["eval", "--model", model, "--split", "test", "--limit", str(limit), "--digits", digits,
            "--baseline", ",".join(BASELINES), "--json"]  # fmt: skip


def video_eval_command(
    model: str, data: str, channels: int, *, split: str, limit: int | None, checkpoint: Path | None = None
) -> list[str]:
    """The `framecast eval` arguments that score a shipped natural-video checkpoint on clips or generated scenes
    (or, given `checkpoint`, a weights file exported outside the package, such as a stage that does not ship)."""
    chosen = ["--checkpoint", str(checkpoint)] if checkpoint else ["--model", model]
    args = ["eval", *chosen, "--data", data, "--split", split, "--baseline", "copy-last"]
    args += ["--channels", str(channels)] if channels != 1 else []
    return [*args, *(["--limit", str(limit)] if limit else []), "--json"]


def run_eval(args: list[str]) -> tuple[dict, float]:
    """Run `framecast eval` in an empty home (no runs, no standard test file), exactly as on a fresh install.
    A model named by `--model` must come out as the one shipped in the package; a `--checkpoint` file is itself."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FRAMECAST_HOME": home, "FRAMECAST_OFFLINE": "1"}
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "framecast", *args], env=env, capture_output=True, text=True, check=True
        )
        seconds = time.perf_counter() - began
    report = json.loads(done.stdout)
    if "--model" in args and "shipped" not in report["chosen_by"]:
        raise SystemExit(f"eval did not use the shipped checkpoint: {report['chosen_by']}")
    return report, seconds


def score(model: str, digits: Path, limit: int) -> dict:
    """The rollout scores of the shipped checkpoint of `model` on the generated test split, and the baselines'."""
    report, seconds = run_eval(eval_command(model, str(digits), limit))

    return {
        "sequences": report["sequences"],
        "data": report["data"].replace(str(digits), digits.name),
        "precision": report["precision"],
        "seconds": round(seconds, 1),
        "scores": {name: _pick(result["rollout"]) for name, result in report["results"].items()},
    }


def _pick(rollout: dict) -> dict:
    return {**{k: rollout[k] for k in SCORES}, "per_step_mse": rollout["per_step"]["mse"]}


def score_scenes(model: str, channels: int, limit: int, checkpoint: Path | None = None) -> dict:
    """Scores of a natural-video checkpoint on the generated moving-scenes test split, beside copy-last."""
    args = video_eval_command(model, "moving-scenes", channels, split="test", limit=limit, checkpoint=checkpoint)
    report, seconds = run_eval(args)
    return {
        "command": "framecast " + " ".join(args[:-1]),
        "sequences": report["sequences"],
        "data": report["data"],
        "seconds": round(seconds, 1),
        "scores": {name: _pick(result["rollout"]) for name, result in report["results"].items()},
    }


def score_clips(model: str, channels: int, clips: Path, checkpoint: Path | None = None) -> dict:
    """Scores on every 10 -> 10 window of the real clips in `clips`, pooled and per clip, beside copy-last: one
    `framecast eval` over the folder, which scores each clip on its own windows too."""
    args = video_eval_command(model, str(clips), channels, split="all", limit=None, checkpoint=checkpoint)
    pooled, _ = run_eval(args)
    return {
        "command": "framecast " + " ".join(args[:-1]).replace(str(clips), clips.name),
        "pooled": _relative(pooled, model),
        "per_clip": {name: _relative(entry, model) for name, entry in sorted(pooled["clips"].items())},
    }


def _relative(report: dict, model: str) -> dict:
    mine, copy = report["results"][model]["rollout"], report["results"]["copy-last"]["rollout"]
    return {
        "windows": report["sequences"],
        "mse": mine["mse"],
        "ssim": mine["ssim"],
        "copy_last_mse": copy["mse"],
        "copy_last_ssim": copy["ssim"],
        "mse_vs_copy_last": mine["mse"] / copy["mse"],
        "ssim_vs_copy_last": mine["ssim"] - copy["ssim"],
    }


def stages_of(run: Path, config: dict) -> list[dict]:
    """The training stages behind a run, first to last, as records. A run started with `--init RUN` follows that
    run; one started from a shipped checkpoint's weights file follows the stages on that checkpoint's card."""
    from framecast.checkpoints import resolve_run

    configs, earlier_records = [config], []
    while configs[0]["options"].get("init"):
        init = configs[0]["options"]["init"]
        read = configs[0].get("init_weights") or {}  # what the trainer read: its path and sha256
        carded = read.get("path") and Path(read["path"]).with_suffix(".json").is_file()  # a shipped name's file
        if init.endswith(".safetensors") or carded:
            earlier_records = shipped_stages(Path(read["path"]) if carded else Path(init), run, read.get("sha256"))
            break
        configs.insert(0, json.loads((resolve_run(init, configs[0]["model"]) / "config.json").read_text()))
    return earlier_records + [stage_record(c) for c in configs]


def shipped_stages(weights: Path, run: Path, read: str | None = None) -> list[dict]:
    """The stages on the card beside a shipped weights file, up to the version `read` (the sha256 the trainer
    recorded), the file's sha256 noted on the last of them: export may write new weights over that very file,
    and a later export then finds the stages that made this version by that note. A run from before the trainer
    recorded what it read needs the file to be as its card describes. Any other weights file has no history."""
    card = weights.with_suffix(".json")
    if not card.is_file():
        raise SystemExit(f"{run} started from the weights file {weights}: export needs the run or card that made it")
    record = json.loads(card.read_text())
    stages = record.get("stages") or []
    if not stages:
        raise SystemExit(f"{card} lists no training stages")
    if read is None:
        if not weights.is_file() or record.get("sha256") != hashlib.sha256(weights.read_bytes()).hexdigest():
            raise SystemExit(f"{weights} is not the file its card {card.name} describes")
        read = record["sha256"]
    if read == record.get("sha256"):
        return [*stages[:-1], {**stages[-1], "shipped_sha256": read}]
    # exported over since the run read it: that version's history ends at the stage noted with its sha256
    made = next((i for i, stage in enumerate(stages) if stage.get("shipped_sha256") == read), None)
    if made is None:
        raise SystemExit(f"{run} started from a version of {weights} that its card {card.name} does not list")
    return stages[: made + 1]


def stage_record(config: dict) -> dict:
    options = dict(config["options"])
    if config["status"] != "finished" and not options.get("max_steps"):
        # a stage stopped by hand: --max-steps ends the loop at the same step, on the schedule of --epochs
        options["max_steps"] = config["steps_done"]
    return {
        "options": options,
        "status": config["status"],
        "epochs": config["epochs_done"],
        "steps": config["steps_done"],
        "train_seconds": round(config["train_seconds"]),
        "best": config["best"],
    }


def export(
    run: Path,
    out: Path,
    *,
    hardware: str | None,
    self_check: int = 0,
    horizon: int | None = None,
    views: int = 1,
    weights: str = "best",
) -> tuple[Path, dict]:
    config = json.loads((run / "config.json").read_text())
    trained_horizon = config["spec"]["horizon"]
    if horizon is not None:  # a model trained through fewer rollout steps, shipped to predict `horizon` frames
        config["spec"] = {**config["spec"], "horizon": horizon}
    stages = stages_of(run, config)
    if weights == "last":  # the weights at the end of the run's schedule, not its best validation epoch
        stages[-1] = {**stages[-1], "weights": "last"}
    best = run / f"{weights}.safetensors"
    with safe_open(str(best), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    check = {"frames": self_check, "prior": 1.0} if self_check else None
    meta = json.loads(metadata["framecast"])
    if check is not None:  # the shipped file checks itself wherever it is loaded (framecast.models.self_check)
        meta["self_check"] = check
    if views > 1:  # and averages its views (framecast.models.views)
        meta["views"] = views
    if meta["config"].get("any_size"):
        # a model that could run at any frame size ships at the size it learnt and was scored at: predict then
        # scales a clip to it, as for every other model (motion in pixels grows with the frame)
        meta["config"]["any_size"] = False
    meta["spec"] = config["spec"]  # what eval and predict take by default: the frames it ships to predict
    metadata["framecast"] = json.dumps(meta)
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(best)).items()}
    natural = config["spec"].get("content") == "natural"
    name = f"{config['model']}-{config['preset']}" + ("-scenes" if natural else "")
    name += "-rgb" if config["spec"]["channels"] == 3 else ""
    target = out / f"{name}.safetensors"
    save_file(tensors, str(target), metadata=metadata)
    usual_mode(target)  # the writer may leave it private; a packaged file must be readable by all
    blob = target.read_bytes()
    shipped_epoch = config["best"]["epoch"] if weights == "best" else config["history"][-1]["epoch"]
    record = {
        "model": config["model"],
        "preset": config["preset"],
        "file": target.name,
        "bytes": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "dtype": "float16",
        "parameters": config["parameters"],
        "spec": config["spec"],
        "trained_horizon": trained_horizon,
        "data": config["data"],
        "options": config["options"],
        "epochs": sum(st["epochs"] for st in stages),
        "steps": sum(st["steps"] for st in stages),
        "train_seconds": sum(st["train_seconds"] for st in stages),
        "stages": stages,
        "precision": config["precision"],
        "hardware": hardware or config.get("environment", {}).get("hardware"),
        "best": config["best"],
        "weights": weights,
        "self_check": check,
        "views": views,
        "val": next(h["val"] for h in config["history"] if h["epoch"] == shipped_epoch),
        "framecast": config["framecast"],
    }
    digits = record["options"].get("digits")
    if digits:  # record the digit file by name: where it lay on the training machine means nothing elsewhere
        for options in (record["options"], *(st["options"] for st in stages)):
            options["digits"] = Path(options["digits"]).name if options.get("digits") else None
        record["data"] = {k: v.replace(digits, Path(digits).name) for k, v in record["data"].items()}
    return target, record


def restamp(path: Path, views: int, clips: Path) -> None:
    """Ship a natural-video checkpoint with `views` (its weights untouched), and score it again on the clips and
    the scenes, as a user's eval does; the scores it had before are kept in the record under `before_restamp`."""
    from framecast.models.views import check

    check(views)
    record = json.loads(path.read_text())
    if "clips" not in record:
        raise SystemExit(f"{path.name} is not a natural-video checkpoint's record")
    target = path.with_name(record["file"])
    if record["sha256"] != hashlib.sha256(target.read_bytes()).hexdigest():
        raise SystemExit(f"{target} is not the file its record describes")
    with safe_open(str(target), framework="pt") as f:
        metadata = dict(f.metadata() or {})
    meta = json.loads(metadata["framecast"])
    meta["views"] = views
    metadata["framecast"] = json.dumps(meta)
    save_file(load_file(str(target)), str(target), metadata=metadata)
    usual_mode(target)
    blob = target.read_bytes()
    before = {k: record[k] for k in ("sha256", "views", "clips", "test") if k in record}
    record.update(bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest(), views=views, before_restamp=before)
    path.write_text(json.dumps(record, indent=2) + "\n")  # written first: eval --model checks the new file
    score_video(record, clips)
    path.write_text(json.dumps(record, indent=2) + "\n")
    pooled = record["clips"]["pooled"]["mse_vs_copy_last"]
    print(f"{target.name}: {views} views, clips pooled {pooled:.3f} of copy-last's MSE")


def score_video(record: dict, clips: Path, checkpoint: Path | None = None) -> None:
    """The record's scores on the generated scenes' test split (and the subset a test re-scores) and the clips:
    of the shipped checkpoint of its model, or of the weights file `checkpoint` (exported outside the package)."""
    channels = record["spec"]["channels"]
    record["test"] = score_scenes(record["model"], channels, SCENES_TEST_SEQUENCES, checkpoint)
    subset = score_scenes(record["model"], channels, SCENES_SUBSET_SEQUENCES, checkpoint)
    record["test"]["subset"] = {"sequences": subset["sequences"], "scores": subset["scores"]}
    record["clips"] = score_clips(record["model"], channels, clips, checkpoint)


def rescore(path: Path, digits: Path) -> None:
    """Score a shipped digit checkpoint again; the recorded scores must come out the same, new ones are added."""
    record = json.loads(path.read_text())
    test = record["test"]
    full = score(record["model"], digits, test["sequences"])
    subset = score(record["model"], digits, test["subset"]["sequences"])
    for who, old in test["scores"].items():
        new = full["scores"][who]
        for key, value in old.items():
            if key != "per_step_mse" and abs(new[key] - value) > 2e-3 * max(abs(value), 1e-9):
                raise SystemExit(f"{path.name}: {who} {key} is now {new[key]}, recorded {value}: not re-scoring")
    test["scores"] = full["scores"]
    test["subset"]["scores"] = subset["scores"]
    path.write_text(json.dumps(record, indent=2) + "\n")
    accuracies = ", ".join(f"{who} accuracy {s['accuracy']:.4f}" for who, s in full["scores"].items())
    print(f"{path.name}: re-scored, {accuracies}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, nargs="?", help="a run folder with config.json and best.safetensors")
    parser.add_argument("--rescore", type=Path, help="a shipped digit checkpoint's record to score again")
    parser.add_argument("--out", type=Path, default=PACKAGE, help="where to write (default: into the package)")
    parser.add_argument("--digits", type=Path, help="the MNIST digits (.npz or idx folder) to score the test split")
    parser.add_argument("--clips", type=Path, help="a folder of real clips to score a natural-video checkpoint on")
    parser.add_argument("--hardware", help="the machine the run trained on, in words")
    parser.add_argument(
        "--command", action="append", help="the exact command that trained the run (one per stage, in order)"
    )
    parser.add_argument("--self-check", type=int, default=0, help="ship it checking itself over N context frames")
    parser.add_argument("--horizon", type=int, help="frames it predicts by default, if not those it trained through")
    parser.add_argument("--views", type=int, default=1, help="ship it averaging N mirrored views (1, 2, 4, 8)")
    parser.add_argument("--restamp", type=Path, help="a shipped natural-video checkpoint's record: set --views")
    parser.add_argument(
        "--weights", choices=("best", "last"), default="best", help="the run's best epoch (default) or its last weights"
    )
    args = parser.parse_args()
    if args.rescore:
        if not args.digits:
            parser.error("--rescore needs --digits")
        return rescore(args.rescore, args.digits)
    if args.restamp:
        if not args.clips:
            parser.error("--restamp needs --clips")
        return restamp(args.restamp, args.views, args.clips)
    if args.run is None:
        parser.error("give a run folder, or --rescore RECORD")
    outside = args.out.resolve() != PACKAGE.resolve()  # a stage that does not ship (stages/)
    if args.digits and outside:
        parser.error("--digits scores the checkpoint shipped in the package: export a digit run there")
    target, record = export(
        args.run,
        args.out,
        hardware=args.hardware,
        self_check=args.self_check,
        horizon=args.horizon,
        views=args.views,
        weights=args.weights,
    )
    path = args.out / f"{target.stem}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")  # written first: eval --model reads the new weights
    if args.digits:
        full = score(record["model"], args.digits, TEST_SEQUENCES)
        subset = score(record["model"], args.digits, SUBSET_SEQUENCES)
        record["test"] = {
            "command": "framecast " + " ".join(eval_command(record["model"], args.digits.name, TEST_SEQUENCES)[:-1]),
            **full,
            "subset": {"sequences": subset["sequences"], "scores": subset["scores"]},
        }
        path.write_text(json.dumps(record, indent=2) + "\n")
    if args.command:
        record["command"] = args.command[0] if len(args.command) == 1 else args.command
        path.write_text(json.dumps(record, indent=2) + "\n")
    if args.clips:  # a file written outside the package is scored as that file
        score_video(record, args.clips, target if outside else None)
        path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{target.name}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
