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
        "cpu_capability": cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


#: A `small` ConvLSTM training step under bf16 autocast took this many times as long as in fp32 on a CPU without
#: native bf16 (AVX2 only: 13.8 s against 1.0 s), where every bf16 operation is emulated.
EMULATED_BF16_SLOWDOWN = 14

_warned_bf16 = False


def cpu_capability() -> str:
    """What this CPU's vector units can do, as torch sees it ("AVX2", "AVX512", ...), with native bf16 noted."""
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}+BF16" if cpu_has_native_bf16() else capability


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX), so bf16 autocast can be faster than fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is what is faster on the device at hand: bf16 on a CUDA GPU that supports it (fp16 on one that does
    not), bf16 on a CPU that computes it natively, fp32 on other CPUs and elsewhere. An explicit bf16 on a CPU that
    only emulates it is honoured, with a warning of what it costs.

    Raises:
        UsageError: an unknown precision, or fp16 off CUDA.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", f"choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA GPU", "use --precision bf16 on a CPU, or fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        _warn_emulated_bf16()
    return precision


def _warn_emulated_bf16() -> None:
    global _warned_bf16
    if not _warned_bf16:
        import logging

        logging.getLogger("framecast").warning(
            "this CPU (%s) has no native bf16: bf16 autocast is emulated, measured %dx slower than fp32 for a small "
            "ConvLSTM training step; --precision auto picks fp32 here",
            torch.backends.cpu.get_cpu_capability(),
            EMULATED_BF16_SLOWDOWN,
        )
        _warned_bf16 = True


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
