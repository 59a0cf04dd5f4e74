"""The demo: the ``demo`` preset trained into a folder with its report, never deleting what it did not write."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from ..errors import OutputError
from ..run_config import load_run_config
from ..training.run import Run
from ..validation import at_least, check_value
from .runs import train

DEMO_OUTPUTS = ("run.yaml", "metrics.jsonl", "model", "report")


def demo(out: str | os.PathLike = "runs/demo", *, epochs: int | None = None, progress: bool = True) -> Run:
    """Train the ``demo`` preset into ``out`` with a report. A previous demo run there is replaced (its own
    outputs only); any other non-empty folder is refused: the demo never deletes what it did not write."""
    if epochs is not None:
        check_value("epochs", epochs, int, at_least(1))
    clear_previous_demo(Path(out))
    return train(config="demo", out=out, epochs=epochs, report=True, progress=progress)


def clear_previous_demo(out: Path) -> None:
    """Remove the outputs of an earlier demo run in ``out``; OutputError if ``out`` holds anything else."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"The demo folder {out} is a file; give a folder with --out.")
    others = sorted(p.name for p in out.iterdir() if p.name not in DEMO_OUTPUTS and not _is_housekeeping(p.name))
    if not others and not any((out / name).exists() for name in DEMO_OUTPUTS):
        return
    if others or not _is_demo_run(out):
        listed = f"{', '.join(others[:5])}{' …' if len(others) > 5 else ''}"
        what = f"it holds {listed}" if others else "it holds another run"
        raise OutputError(f"{out} is not empty and is not a previous demo run ({what}); the demo never deletes "
                          "files it did not write. Choose another --out, or empty the folder yourself.")
    for name in DEMO_OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _is_housekeeping(name: str) -> bool:
    """A run's lock or temporary file (hidden), which the run machinery manages itself."""
    return name.startswith(".") and ("lock" in name or name.endswith(".tmp"))


def _is_demo_run(out: Path) -> bool:
    """Whether ``out/run.yaml`` records the demo preset's model and data."""
    try:
        recipe = yaml.safe_load((out / "run.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    preset = load_run_config("demo")
    return (isinstance(recipe, dict) and recipe.get("model") == preset["model"]
            and (recipe.get("data") or {}).get("name") == preset["data"]["name"])
