"""Scale-out: the same `framecast train` across processes, nodes and restarts, shown with gloo on this CPU.

Real torchrun agents start real ranks that write real run folders; the commands are those of
docs/pages/distributed.md. Two agents on this machine stand in for two nodes, each with a FRAMECAST_HOME of its
own (no shared file system). A small driver (`DRIVER`) runs the command line unchanged and only watches the
training steps: it records a digest of every sequence a rank trains on, and can SIGKILL one rank at a step of
the first attempt, or slow the steps of a restarted attempt so that a SIGTERM lands mid-run; it can also list the
threads a rank has left after it leaves its group.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from framecast.training.distributed import ShardSampler, free_port

REPO = Path(__file__).resolve().parents[1]
#: 16 sequences, 3 epochs of 2 steps of a global batch of 8: commits at steps 0, 2, 4 and 6.
RUN = (
    "--model convlstm --preset tiny --train-size 16 --val-size 4 --context 3 --horizon 3 --epochs 3 "
    "--device cpu --sampling none"
)
#: The commands the tests run, as docs/pages/distributed.md shows them (`command` runs them).
NODES = (
    "torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:29400 --rdzv-id loopback "
    f"-m framecast train {RUN} --batch-size 4 --name nodes --json"
)
ONE = f"framecast train {RUN} --batch-size 8 --name one --json"
FILES = (
    "torchrun --standalone --nproc-per-node 2 -m framecast train --model convlstm --preset tiny --context 3 "
    "--horizon 3 --val-size 2 --epochs 2 --batch-size 4 --device cpu --name files --json --data clips.npy"
)
ELASTIC = (
    f"torchrun --standalone --nproc-per-node 2 --max-restarts 1 -m framecast train {RUN} --batch-size 4 --name run"
)
RESUME = "torchrun --standalone --nproc-per-node 2 -m framecast train --resume convlstm/run --json"


def command(shown: str, *, driver: str | None = None, port: int | None = None, data: Path | None = None) -> list[str]:
    """`shown` as this test runs it: this Python's torchrun and framecast, the driver in place of `-m framecast`
    when given, a free port in place of 29400, and the data file made for the test."""
    text = shown.replace("127.0.0.1:29400", f"127.0.0.1:{port}") if port else shown
    if data is not None:
        text = text.replace("clips.npy", str(data))
    words = shlex.split(text)
    if words[0] == "framecast":
        return [*([sys.executable, driver] if driver else [sys.executable, "-m", "framecast"]), *words[1:]]
    at = words.index("-m")  # torchrun's own options end here
    program = [driver] if driver else ["-m", "framecast"]
    return [sys.executable, "-m", "torch.distributed.run", *words[1:at], *program, *words[at + 2 :]]


DRIVER = r"""
import hashlib, os, signal, sys, time
from framecast.training import trainer
restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
step = trainer.Trainer._step
def watched(self, batch, teacher_forcing, weight=1.0):
    if os.environ.get("SEEN") and weight:  # a filler sequence (weight 0) trains on nothing
        with open(f"{os.environ['SEEN']}.{self.dist.rank}", "a") as f:
            for seq in batch:
                f.write(f"{self.epoch} {hashlib.sha256(seq.numpy().tobytes()).hexdigest()}\n")
    if os.environ.get("KILL_AT") and restart == 0:  # RANK:STEP
        rank, at = map(int, os.environ["KILL_AT"].split(":"))
        if self.dist.rank == rank and self.step == at:
            os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("SLOW_FROM") and restart > 0 and self.step >= int(os.environ["SLOW_FROM"]):
        time.sleep(2.0)
    return step(self, batch, teacher_forcing, weight)
trainer.Trainer._step = watched
from framecast.training import distributed
leave = distributed.teardown
def teardown_and_list_threads(info):
    leave(info)
    if os.environ.get("THREADS"):  # the threads this rank still has, as the kernel names them
        names = [open(os.path.join(t, "comm")).read().strip() for t in os.scandir("/proc/self/task")]
        with open(f"{os.environ['THREADS']}.{info.rank}", "w") as f:
            f.write("\n".join(names))
distributed.teardown = teardown_and_list_threads
if __name__ == "__main__":  # a process spawned by `--devices` imports this file too
    from framecast.cli import main
    main(sys.argv[1:])
"""


def env(home: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "FRAMECAST_HOME": str(home),
        "FRAMECAST_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",
        **more,
    }


def driver(folder: Path) -> str:
    path = folder / "driver.py"
    path.write_text(DRIVER)
    return str(path)


def run_of(home: Path, name: str) -> Path:
    return home / "data" / "runs" / "convlstm" / name


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "last.safetensors"))


def initial_weights() -> dict[str, torch.Tensor]:
    """The weights `RUN` starts from (seed 0, Moving MNIST's 64x64 grey frames), as the trainer builds them."""
    from framecast.models import create_model
    from framecast.training.trainer import seed_everything

    seed_everything(0)
    model = create_model("convlstm", "tiny", channels=1, height=64, width=64)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def max_difference(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def seen_by_rank(log: Path, world: int) -> list[Counter]:
    """Per rank, how often it trained on each (epoch, sequence digest)."""
    out = []
    for rank in range(world):
        lines = Path(f"{log}.{rank}").read_text().split()
        out.append(Counter(zip(lines[0::2], lines[1::2], strict=True)))
    return out


def digest(sequence: torch.Tensor) -> str:
    return hashlib.sha256(sequence.numpy().tobytes()).hexdigest()


def epoch_digests(data: str, epochs: int, limit: int | None = None) -> Counter:
    """Every (epoch, sequence digest) of the training data, read in this process: what one epoch holds."""
    from framecast.data.registry import DataOptions

    train_set = DataOptions(data).open("train", context=3, horizon=3, limit=limit, seed=0)
    out: Counter = Counter()
    for epoch in range(epochs):
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        out.update(
            (str(epoch), hashlib.sha256(train_set[i].numpy().tobytes()).hexdigest()) for i in range(len(train_set))
        )
    return out


def assert_split_once(seen: list[Counter], expected: Counter) -> None:
    """Every sequence of every epoch trained on by exactly one rank, and by no rank twice."""
    assert sum(seen, Counter()) == expected
    assert all(count == 1 for rank in seen for count in rank.values())


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run trained by two torchrun agents (two "nodes", one rank each, c10d on the loopback), beside the
    same run in one process with the same global batch."""
    homes = [tmp_path_factory.mktemp(f"node{n}") for n in range(2)]
    single = tmp_path_factory.mktemp("single")
    seen = tmp_path_factory.mktemp("seen") / "seen"
    script = driver(tmp_path_factory.mktemp("driver"))
    port = free_port()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            command(NODES, driver=script, port=port),
            env=env(home, SEEN=str(seen)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for home in homes
    ]
    one = subprocess.Popen(
        command(ONE),
        env=env(single),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outputs = [p.communicate(timeout=300) for p in procs]
    one_out, one_err = one.communicate(timeout=300)
    assert one.returncode == 0, one_err
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    return {
        "homes": homes,
        "outputs": outputs,
        "single": run_of(single, "one"),
        "single_summary": json.loads(one_out),
        "seen": seen,
        "seconds": time.perf_counter() - started,
    }


def test_two_nodes_train_one_run_written_and_reported_by_rank_0_alone(two_nodes) -> None:
    homes, outputs = two_nodes["homes"], two_nodes["outputs"]
    # c10d picks which agent hosts rank 0; that node alone writes the run and reports it
    main = [n for n, home in enumerate(homes) if run_of(home, "nodes").is_dir()]
    assert len(main) == 1, "exactly one node holds the run folder"
    other = 1 - main[0]
    assert not list(homes[other].rglob("*")), "the other node writes nothing"
    # nothing of framecast's on the other node: no epoch lines, no error. (torch's elastic agent may log a C++
    # warning there when rank 0's store closes at the end, a block of "[W...]" and "frame #" lines: not ours)
    assert outputs[other][0] == "" and "Traceback" not in outputs[other][1]
    assert not any(line.startswith(("epoch", "Error:", "Hint:")) for line in outputs[other][1].splitlines())
    summary = json.loads(outputs[main[0]][0])  # one JSON document, from rank 0
    assert summary["world_size"] == 2 and summary["effective_batch_size"] == 8 and summary["steps"] == 6
    assert "global batches of 8 (4 per process x 2 processes)" in outputs[main[0]][1]
    assert "peak learning rate 0.001" in outputs[main[0]][1]
    # both ranks end with the same weights, and they are those of one process with the same global batch
    digests = summary["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    single = two_nodes["single_summary"]
    assert single["world_size"] == 1 and single["effective_batch_size"] == 8 and single["steps"] == 6
    # Equal up to float rounding, measured against how far training moved each weight tensor: a batch of 8 in
    # one process and two of 4 averaged by all-reduce sum in different orders (and CPU kernels pick their
    # reduction order by batch size and by CPU), and Adam carries that rounding on. Measured: 0.2% of the
    # movement at most; a rank on other data, or gradients not averaged, is of the order of the movement itself.
    nodes, one, start = weights(run_of(homes[main[0]], "nodes")), weights(two_nodes["single"]), initial_weights()
    assert nodes.keys() == one.keys() == start.keys()
    relative = {k: float((nodes[k] - one[k]).norm() / (one[k] - start[k]).norm()) for k in one}
    print(f"two nodes vs one process: at most {max(relative.values()):.3g} of the training's movement")
    assert max(relative.values()) < 0.01, relative
    run_history = json.loads((run_of(homes[main[0]], "nodes") / "config.json").read_text())["history"]
    assert [h["val"]["mse"] for h in run_history] == pytest.approx([h["val"]["mse"] for h in single["history"]])


def test_each_generated_sequence_of_an_epoch_is_trained_on_by_exactly_one_rank(two_nodes) -> None:
    seen = seen_by_rank(two_nodes["seen"], 2)
    assert [sum(rank.values()) for rank in seen] == [24, 24]  # 8 sequences a rank in each of 3 epochs
    assert_split_once(seen, epoch_digests("moving-mnist", 3, limit=16))


def test_each_file_sequence_of_an_epoch_is_trained_on_by_exactly_one_rank(tmp_path) -> None:
    clips = np.random.default_rng(0).integers(0, 256, size=(15, 6, 16, 16), dtype=np.uint8)
    data = tmp_path / "clips.npy"
    np.save(data, clips)
    expected = epoch_digests(str(data), 2)
    sequences = len(expected) // 2
    assert sequences % 8 != 0, "a short last global batch, split unevenly"
    seen = tmp_path / "seen"
    proc = subprocess.run(
        command(FILES, driver=driver(tmp_path), data=data),
        env=env(tmp_path / "home", SEEN=str(seen)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert_split_once(seen_by_rank(seen, 2), expected)
    summary = json.loads(proc.stdout)
    assert summary["effective_batch_size"] == 8 and summary["steps"] == 2 * -(-sequences // 8)
    assert len(set(summary["rank_weight_digests"])) == 1


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="lists a process's threads through /proc")
@pytest.mark.parametrize("launch", ["devices", "torchrun"])
def test_a_rank_leaves_no_thread_of_its_group_behind(tmp_path, launch) -> None:
    """The group's threads (gloo's, the store's) are joined when a rank leaves the group, while Python still
    runs; left to the interpreter's exit, a rank could abort there after a run that succeeded."""
    tiny = "--model convlstm --preset tiny --train-size 16 --val-size 4 --context 3 --horizon 3 --epochs 1"
    tiny += " --batch-size 4 --device cpu --name run"  # gloo, as on a machine with GPUs too
    shown = {
        "devices": f"framecast train {tiny} --devices 2 --json",
        "torchrun": f"torchrun --standalone --nproc-per-node 2 -m framecast train {tiny}",
    }[launch]
    listed = tmp_path / "threads"
    proc = subprocess.run(
        command(shown, driver=driver(tmp_path)),
        env=env(tmp_path / "home", THREADS=str(listed)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for rank in range(2):
        names = Path(f"{listed}.{rank}").read_text().split()
        assert names, "the main thread at least"
        assert not [n for n in names if n.startswith(("gloo", "pt_"))], (rank, names)


def test_a_short_last_global_batch_is_split_once_with_weights_that_make_its_mean() -> None:
    for length, world, batch in [(17, 2, 4), (13, 2, 4), (9, 3, 2), (3, 4, 1), (100, 2, 1)]:
        samplers = [
            ShardSampler(length, rank=r, world=world, shuffle=True, seed=3, epoch=1, batch_size=batch)
            for r in range(world)
        ]
        assert len({s.steps for s in samplers}) == 1  # every rank takes every step
        real: Counter = Counter()
        for sampler in samplers:
            stream, at = list(sampler), 0
            for step in range(sampler.steps):
                count = sampler.share(step)[1]
                part = stream[at : at + max(count, 1)]  # a rank without a sequence gets one filler
                at += len(part)
                if count:
                    real.update(part)
                else:
                    assert sampler.loss_weight(step) == 0.0
            assert at == len(stream)
        assert real == Counter(range(length)), (length, world, batch)
        for step in range(samplers[0].steps):
            # DDP averages the ranks' gradients: weights count x world / size give the global batch's mean
            counts = [s.share(step)[1] for s in samplers]
            size = sum(counts)
            for s, count in zip(samplers, counts, strict=True):
                assert s.loss_weight(step) == pytest.approx(count * world / size)


def test_killed_rank_elastic_restart_sigterm_and_resume_end_like_an_uninterrupted_run(two_nodes, tmp_path) -> None:
    reference = next(run_of(h, "nodes") for h in two_nodes["homes"] if run_of(h, "nodes").is_dir())
    home = tmp_path / "home"
    # rank 1 is SIGKILLed at step 3 (after the commit of step 2); torchrun restarts both ranks, which continue
    # from step 2; their steps are slowed from step 4 so that the launcher's SIGTERM lands mid-run
    proc = subprocess.Popen(
        command(ELASTIC, driver=driver(tmp_path)),
        env=env(home, KILL_AT="1:3", SLOW_FROM="4"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said = []
    watchdog = threading.Timer(240, proc.send_signal, (signal.SIGTERM,))  # a hang fails the test, not the suite
    watchdog.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            if line.startswith("epoch 2:"):
                break
        proc.send_signal(signal.SIGTERM)
        said.append(proc.communicate(timeout=120)[1])
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    said = "".join(said)
    assert proc.returncode != 0
    assert "elastic restart 1: continuing" in said and "resuming from the state committed at step 2" in said
    # rank 0 of the first attempt, as it lost rank 1, says so and where it stopped, unless the launcher's teardown
    # stopped it first (a race that a loaded machine loses now and then; the restart is the same either way)
    lost = [line for line in said.splitlines() if "another training process stopped" in line]
    assert all("stopped at step 3;" in line for line in lost), lost
    assert "training interrupted by SIGTERM" in said and "bug in framecast" not in said
    run = run_of(home, "run")
    assert len(list(run.parent.iterdir())) == 1, "a restart continues its run, never starts another"
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "interrupted" and 4 <= config["steps_done"] < 6
    resumed = subprocess.run(
        command(RESUME),
        env=env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from the state committed at step {config['steps_done']}" in resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "finished" and summary["steps"] == 6
    assert [h["epoch"] for h in summary["history"]] == [1, 2, 3]
    assert max_difference(reference, run) == 0.0  # bit for bit


def test_the_documented_commands_are_the_ones_run_here() -> None:
    page = (REPO / "docs" / "pages" / "distributed.md").read_text()
    shown = " ".join(page.split("```bash")[i].split("```")[0] for i in range(1, page.count("```bash") + 1))
    lines = [" ".join(line.split("  #")[0].split()) for line in shown.replace("\\\n", " ").splitlines()]
    for cmd in (NODES, ONE, FILES, ELASTIC, RESUME):
        assert cmd in lines, cmd
