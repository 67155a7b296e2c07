"""`framecast info`: version, torch, the device `auto` picks, every path and what is cached."""

from __future__ import annotations

import typer

from framecast.cli._common import Json, examples

HELP = (
    "Show the version, torch, the device `auto` would pick, where files live and what is cached (with the size of "
    "each downloaded dataset)."
)


def gather() -> dict:
    """Everything `info` reports, as a JSON-ready dict."""
    import platform

    from framecast import paths
    from framecast._version import __version__

    try:
        import torch

        torch_version = torch.__version__
        from framecast.devices import pick_device

        device = str(pick_device("auto"))
    except ImportError:  # pragma: no cover - torch is a dependency, but say so plainly if it is missing
        torch_version, device = None, "cpu"
    places = {
        "home": paths.home(),
        "cache": paths.cache_dir(),
        "data": paths.data_dir(),
        "config": paths.config_dir(),
        "downloads": paths.downloads_dir(),
        "clips": paths.clips_cache_dir(),
        "runs": paths.runs_dir(),
    }
    sizes = {name: paths.tree_size(p) for name, p in places.items() if p is not None and name != "home"}
    downloads = paths.downloads_dir()
    # what `framecast download` has cached, one folder per dataset (archives and what they unpacked to)
    datasets = (
        {p.name: paths.tree_size(p) for p in sorted(downloads.iterdir()) if p.is_dir()} if downloads.is_dir() else {}
    )
    return {
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch_version,
        "device": device,
        "offline": paths.offline(),
        "paths": {k: (str(v) if v is not None else None) for k, v in places.items()},
        "sizes": sizes,
        "datasets": datasets,
    }


def command(json_out: Json = False) -> None:
    from framecast.cli import _output

    info = gather()
    if json_out:
        _output.emit_json(info)
        return
    t = _output.table("framecast", ["what", "value"])
    for key in ("version", "python", "platform", "torch", "device", "offline"):
        t.add_row(key, str(info[key]))
    for name, place in info["paths"].items():
        size = info["sizes"].get(name)
        shown = "not set" if place is None else place
        if size is not None:
            shown = f"{shown}  ({_output.fmt_bytes(size)})"
        t.add_row(f"{name} dir", shown)
    for name, size in info["datasets"].items():
        t.add_row(f"  dataset {name}", _output.fmt_bytes(size))
    _output.out().print(t)


def register(app: typer.Typer) -> None:
    app.command("info", help=HELP, epilog=examples("framecast info", "framecast info --json"))(command)
