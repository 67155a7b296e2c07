"""Write the model cards of the shipped checkpoints (docs/pages/checkpoints.md) from their JSON records.

Every figure on the page comes from `src/framecast/pretrained/*.json`, which `scripts/export_pretrained.py`
writes when it exports and scores a run, so the cards cannot drift from the weights. ``--check`` exits 1 when
the page is not what the records give (the test suite runs it).

Usage:
    python scripts/model_cards.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "src/framecast/pretrained"
PAGE = ROOT / "docs/pages/checkpoints.md"
ORDER = ("convlstm", "predrnn", "predrnn-v2", "vit")
NAMES = {"convlstm": "ConvLSTM", "predrnn": "PredRNN", "predrnn-v2": "PredRNN-V2", "vit": "ViT predictor"}
#: Options recorded in a run that are not `framecast train` flags of the same name.
NOT_FLAGS = {"overrides", "val_metric", "name", "init"}

INTRO = """\
# Shipped checkpoints

framecast carries trained weights inside the package, so `framecast predict clip.mp4 --model predrnn` works on a
fresh install with no download and no training run. `--model NAME` takes the best checkpoint of your newest
finished run of that model when there is one, else the shipped checkpoint, and says which it used (`chosen_by`
in `--json`). `framecast runs` lists the shipped checkpoints beside your runs.

Each card below is written by `scripts/model_cards.py` from the checkpoint's JSON record in
`src/framecast/pretrained/`, which `scripts/export_pretrained.py` made when it exported the run's best weights
(fp16 safetensors, no pickle) and scored them with the `framecast eval` command shown. The test suite checks the
files against their recorded sizes and sha256, re-runs that command on the first {subset} test sequences and
compares the scores with the record, and checks that this page is what the records give.

All scores follow the [metric definitions](metrics.md): `mse` and `mae` are per-frame sums over the 64x64
pixels, averaged over the 10 predicted frames; `ssim` uses data range 1; `accuracy` is the share of pixels on the
right side of 0.5 (prediction and truth thresholded). The test split is generated Moving
MNIST drawn from MNIST's 10,000 test digits (never seen in training or validation), with fixed seeds, and the
baselines are scored on the very same sequences: `zeros` predicts blank frames, `copy-last` repeats the last
frame seen. A checkpoint ships only with an MSE below 60% of the zeros baseline's.

The natural-video checkpoints (`-scenes`, in grey and in colour) learnt from generated moving scenes only and
are scored on every non-overlapping 10 -> 10 window of three real clips they never saw (`../shared/data/videos`
beside the project: `framecast eval --data DIR --split all`), pooled and per clip, beside copy-last on the same
windows; on natural video copying the last frame is the bar. `--model NAME` picks them for clips, the digit ones
for Moving MNIST, and colour ones when `--channels 3` asks for colour.

`mnist_digits.npz` in the commands holds the full MNIST digits, the same 70,000 that `framecast download mnist`
fetches (`--digits` takes that idx folder too; without `--digits`, downloaded digits are used when present, else
the compact set inside the package, whose test sequences differ).
"""


def train_command(options: dict) -> str:
    """The `framecast train` command a run's recorded options stand for (defaults left out)."""
    from framecast.data.registry import default_window
    from framecast.training.options import TrainOptions

    defaults = {f.name: f.default for f in fields(TrainOptions) if f.default is not MISSING}
    defaults["context"], defaults["horizon"] = default_window(options.get("data", "moving-mnist"))
    parts = ["framecast train", f"--model {options['model']}", f"--preset {options['preset']}"]
    for key, value in options.items():
        if key in ("model", "preset") or key in NOT_FLAGS or value == defaults.get(key) or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} {','.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    parts += [f"--set {k}={v}" for k, v in (options.get("overrides") or {}).items()]
    if options.get("init"):
        parts.append(f"--init {options['init']}")
    if options.get("name"):
        parts.append(f"--name {options['name']}")
    return " ".join(parts)


def wrap_command(command: str, width: int = 100) -> str:
    """A long command over several lines with backslashes, broken between options."""
    lines, line = [], ""
    for word in command.replace(" --", "\0--").split("\0"):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def best_row(best: dict, weights: str = "best") -> str:
    """The card's row for how the shipped epoch was chosen: by MSE, or against copy-last (natural video); or that
    the run's last weights ship, beside what its best validation epoch was."""
    if weights == "last":
        return (f"| weights shipped | the run's last (the end of its schedule); its best validation epoch was "
                f"{best['epoch']} |")  # fmt: skip
    if best["metric"] == "vs_copy_last":  # MSE over copy-last's, plus SSIM lost (framecast.evaluation)
        return (f"| best validation against copy-last | {best['value']:.3f} (MSE / copy-last's, plus any SSIM lost; "
                f"epoch {best['epoch']}) |")  # fmt: skip
    return f"| best validation {best['metric'].upper()} | {best['value']:.1f} (epoch {best['epoch']}) |"


def trained_through(record: dict) -> str:
    """Where a checkpoint ships predicting more frames than it was trained through, say so."""
    trained = record.get("trained_horizon", record["spec"]["horizon"])
    return "" if trained == record["spec"]["horizon"] else f"; trained through {trained} rollout steps"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def stage_commands(record: dict, stages: list[dict]) -> list[str]:
    """Each stage's command as its options rebuild it, the last ones replaced by the exact commands given at export
    (one per stage, or a string: the last stage's)."""
    commands = [train_command(st["options"]) for st in stages]
    given = record.get("command")
    if given:
        given = [given] if isinstance(given, str) else given
        commands[-len(given) :] = given
    return commands


def stage_frames(stage: dict, stages: list[dict]) -> str:
    """'grey, ' or 'colour, ' where the stages trained on frames of different channels (a colour model started
    from grey weights, `train --init GREY --channels 3`), else nothing."""
    channels = [st["options"].get("channels") or 1 for st in stages]
    if len(set(channels)) == 1:
        return ""
    return ("colour" if (stage["options"].get("channels") or 1) == 3 else "grey") + ", "


def card(record: dict) -> str:
    name = NAMES.get(record["model"], record["model"])
    options = record["options"]
    test = record.get("test")
    single = {k: record[k] for k in ("steps", "epochs", "train_seconds")}
    stages = record.get("stages") or [{"options": options, **single}]
    sequences_seen = sum(st["steps"] * st["options"]["batch_size"] * st["options"].get("devices", 1) for st in stages)
    if len(stages) == 1:
        schedule = f"learning rate {options['lr']:g} ({options['schedule']}, {options['optimizer']})"
    else:
        schedule = "; ".join(
            f"stage {k}: {stage_frames(st, stages)}{st['steps']:,} steps, {st['epochs']} epochs, "
            f"learning rate {st['options']['lr']:g} "
            f"({st['options']['schedule']}), {minutes(st['train_seconds'])}"
            + (", its last weights" if st.get("weights") == "last" else "")
            for k, st in enumerate(stages, 1)
        )
    kind = ""
    if record.get("clips") or record["spec"].get("content") == "natural":
        kind = ", natural video, " + ("colour" if record["spec"]["channels"] == 3 else "grey")
    out = [f"## {name} `{record['preset']}`{kind}: `--model {record['model']}`", ""]
    out += [
        "| | |",
        "| --- | --- |",
        f"| weights | `{record['file']}`, {record['bytes'] / 1e6:.2f} MB ({record['dtype']}), sha256 "
        f"`{record['sha256'][:16]}...` |",
        f"| parameters | {record['parameters']:,} |",
        f"| frames | {record['spec']['channels']} channel, {record['spec']['height']}x{record['spec']['width']}, "
        f"{record['spec']['context']} in, {record['spec']['horizon']} out (any horizon rolls forward)"
        + trained_through(record)
        + " |",
        f"| training data | {record['data']['train']}"
        + ("; the grey stages: the same scenes in grey" if stage_frames(stages[0], stages) else "")
        + " |",
        f"| validation data | {record['data']['val']} |",
        f"| training | {record['steps']:,} steps of {options['batch_size']} sequences ({sequences_seen:,} sequences "
        f"seen), {record['epochs']} epochs, {record['precision']}, {schedule} |",
        f"| wall time | {minutes(record['train_seconds'])} |",
        f"| hardware | {record.get('hardware') or 'not recorded'} |",
        best_row(record["best"], record.get("weights", "best")),
        *(
            [f"| self-check | over the context's last {check['frames']} frames, prior weight {check['prior']:g} |"]
            if (check := record.get("self_check"))
            else []
        ),
        *(
            [f"| views | the prediction averaged over {views} mirrored views of the context (`--views`) |"]
            if (views := record.get("views") or 1) > 1
            else []
        ),
        f"| framecast | {record['framecast']} |",
        "",
        "Trained with:" if len(stages) == 1 else f"Trained in {len(stages)} stages, each starting from the last:",
        "",
        "```bash",
        *(wrap_command(c) for c in stage_commands(record, stages)),
        "```",
        "",
    ]
    if not test:
        return "\n".join([*out, "Not yet scored on the test split.", ""])
    if record.get("clips"):
        return "\n".join([*out, *video_scores(record)])
    scores = test["scores"]
    zeros = scores["zeros"]["mse"]
    out += [
        f"Scored on the test split, {test['sequences']:,} sequences, in {test['seconds']:.0f} s ({test['precision']}). "
        f"The data: {test['data']}.",
        "",
        "```bash",
        wrap_command(test["command"]),
        "```",
        "",
        "| predictor | mse | mse per pixel | mae | psnr | ssim | accuracy | MSE / zeros' MSE |",
        "| --- | --: | --: | --: | --: | --: | --: | --: |",
    ]
    for who, s in scores.items():
        label = f"{record['model']} {record['preset']}" if who == record["model"] else who
        accuracy = f"{s['accuracy']:.4f}" if "accuracy" in s else "-"
        out.append(
            f"| {label} | {s['mse']:.1f} | {s['mse_pixel']:.4f} | {s['mae']:.1f} | {s['psnr']:.2f} | "
            f"{s['ssim']:.4f} | {accuracy} | {s['mse'] / zeros:.2f} |"
        )
    steps = scores[record["model"]]["per_step_mse"]
    out += [
        "",
        "MSE per predicted frame:",
        "",
        "| " + " | ".join(str(i + 1) for i in range(len(steps))) + " |",
        "| " + " | ".join("--:" for _ in steps) + " |",
        "| " + " | ".join(f"{v:.1f}" for v in steps) + " |",
        "",
    ]
    subset = test["subset"]
    out += [
        f"On the first {subset['sequences']} of these sequences (`--limit {subset['sequences']}`, what the test "
        f"suite re-runs) the MSE is {subset['scores'][record['model']]['mse']:.2f}.",
        "",
    ]
    return "\n".join(out)


def video_scores(record: dict) -> list[str]:
    """A natural-video checkpoint's scores: the real clips (pooled and per clip) and the generated scenes."""
    clips, test = record["clips"], record["test"]
    out = [
        "Scored on the real clips (every 10 -> 10 window at 64x64, never trained on):",
        "",
        "```bash",
        wrap_command(clips["command"]),
        "```",
        "",
        "| clips | windows | mse | copy-last mse | mse / copy-last's | ssim | copy-last ssim | ssim - copy-last's |",
        "| --- | --: | --: | --: | --: | --: | --: | --: |",
    ]
    rows = [("all three, pooled", clips["pooled"]), *clips["per_clip"].items()]
    for name, r in rows:
        out.append(
            f"| {name} | {r['windows']} | {r['mse']:.1f} | {r['copy_last_mse']:.1f} | {r['mse_vs_copy_last']:.3f} | "
            f"{r['ssim']:.4f} | {r['copy_last_ssim']:.4f} | {r['ssim_vs_copy_last']:+.4f} |"
        )
    if before := record.get("before_restamp"):  # the same weights, shipped before with other views
        pooled = before["clips"]["pooled"]
        out += [
            "",
            f"As it first shipped, with {before.get('views') or 1} view (file sha256 `{before['sha256'][:16]}...`, the "
            f"same weights): pooled MSE {pooled['mse_vs_copy_last']:.3f} of copy-last's, SSIM "
            f"{pooled['ssim_vs_copy_last']:+.4f}.",
        ]
    mine, copy = test["scores"][record["model"]], test["scores"]["copy-last"]
    out += [
        "",
        f"On the generated moving-scenes test split ({test['sequences']} sequences from photos kept out of "
        f"training): MSE {mine['mse']:.1f} against copy-last's {copy['mse']:.1f} "
        f"({mine['mse'] / copy['mse']:.3f}), SSIM {mine['ssim']:.4f} against {copy['ssim']:.4f}; on its first "
        f"{test['subset']['sequences']} sequences (what the test suite re-runs) the MSE is "
        f"{test['subset']['scores'][record['model']]['mse']:.2f}.",
        "",
        "```bash",
        wrap_command(test["command"]),
        "```",
        "",
    ]
    return out


def render() -> str:
    records = [json.loads(p.read_text()) for p in RECORDS.glob("*.json")]
    records.sort(
        key=lambda r: (
            "clips" in r,
            r["spec"]["channels"],
            ORDER.index(r["model"]) if r["model"] in ORDER else len(ORDER),
            r["model"],
        )
    )
    subset = next((r["test"]["subset"]["sequences"] for r in records if r.get("test") and "clips" not in r), "N")
    total = sum(r["bytes"] for r in records)
    head = INTRO.format(subset=subset)
    head += f"\nTogether the {len(records)} checkpoints take {total / 1e6:.1f} MB of the package.\n"
    return head + "\n" + "\n".join(card(r) for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page differs from the records")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python scripts/model_cards.py", file=sys.stderr)
            sys.exit(1)
        return
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
