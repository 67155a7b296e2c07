"""Choosing a torch device and a precision, and running under that precision: the one place for both."""

from __future__ import annotations

import contextlib

import torch

from framecast.errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when present, then Apple's MPS, then the CPU; a named device must exist."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":", 1)[0]
    if base not in DEVICES:
        raise UsageError(f"unknown device '{name}'", f"choose one of {', '.join(DEVICES)}")
    if base == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is visible", "use --device auto or cpu")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps was asked for but MPS is not available", "use --device auto or cpu")
    return torch.device(name)


def environment(device: torch.device) -> dict[str, object]:
    """What a run's figures depend on, for config.json: versions, the device in words, CPU threads."""
    import os
    import platform

    if device.type == "cuda":
        hardware = f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}"
    else:
        hardware = f"{os.cpu_count()}-core {platform.machine()} CPU"
    return {
        "hardware": hardware,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 on a CUDA GPU that supports it (fp16 otherwise) and fp32 elsewhere.

    Raises:
        UsageError: an unknown precision, or fp16 off CUDA.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", f"choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA GPU", "use --precision bf16 on a CPU, or fp32")
    return precision


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (fp32 means none)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def available_memory(device: torch.device | None = None) -> int | None:
    """Bytes a new allocation can take: free GPU memory on CUDA, else the system's available memory (Linux's
    MemAvailable); None when it cannot be told."""
    if device is not None and device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(need: int, what: str, *, per_frame: int, frames: int, option: str, device=None) -> None:
    """Refuse, before allocating, work that cannot fit in memory, and say how much would.

    Args:
        need: the bytes the work is estimated to take.
        what: the work, in words ("a horizon of 100000 frames").
        per_frame: bytes each frame of `option` adds; frames: how many the user asked for.
        option: the option to lower ("--horizon").

    Raises:
        UsageError: the estimate is above what is available.
    """
    free = available_memory(device)
    if free is None or need <= free:
        return
    fits = max(0, frames - -(-(need - free) // max(per_frame, 1)))
    raise UsageError(
        f"{what} needs about {need / 2**30:.1f} GiB of memory, and {free / 2**30:.1f} GiB is available",
        f"lower {option} (about {fits:,} fit)" + ("" if fits else ", or free memory"),
    )
