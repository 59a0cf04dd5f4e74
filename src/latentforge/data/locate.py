"""Where canonical dataset files are looked for, in order, and how each place fared."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "LATENTFORGE_DATA"
# Debian's dataset-* packages (e.g. dataset-fashion-mnist) install under here; tests patch it.
SYSTEM_DATASET_DIR = Path("/usr/share/datasets")


@dataclass(frozen=True)
class Place:
    path: Path
    origin: str  # how the user controls this place, shown in the not-found message


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/latentforge/datasets/<name>``, else ``~/.cache/latentforge/datasets/<name>``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec ignores relative paths
    return base / "latentforge" / "datasets" / name


def search_places(name: str, data_dir: str | os.PathLike | None) -> list[Place]:
    """The folders to search for dataset ``name``, most specific first, without duplicates.

    Under ``data_dir`` and ``$LATENTFORGE_DATA`` the subfolder named after the dataset comes before the
    folder itself, so a folder holding several datasets side by side never serves the wrong one.
    """
    places: list[Place] = []
    for root, origin in ((data_dir, "data_dir / --data-dir"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if root:
            root = Path(root).expanduser()
            places += [Place(root / name, origin), Place(root, origin)]
    places.append(Place(user_cache_dir(name), "user cache"))
    places.append(Place(SYSTEM_DATASET_DIR / name, "system datasets"))
    unique: dict[Path, Place] = {}
    for place in places:
        unique.setdefault(place.path, place)
    return list(unique.values())


def find_in_folder(folder: Path, filename: str) -> Path | None:
    """``folder/filename`` or ``folder/filename.gz``, preferring the uncompressed file."""
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(places: list[Place], filenames: tuple[str, ...]) -> dict[str, Path] | None:
    """The first place holding every file in ``filenames`` (each plain or .gz), as filename -> path."""
    for place in places:
        found = {f: p for f in filenames if (p := find_in_folder(place.path, f)) is not None}
        if len(found) == len(filenames):
            return found
    return None


def searched_lines(places: list[Place], data_dir: str | os.PathLike | None, state: Callable[[Path], str]) -> list[str]:
    """The "Searched, in this order" part of a not-found message; ``state(folder)`` says what a folder lacks."""
    lines = ["Searched, in this order:"]
    if not data_dir:
        lines.append("  (no data_dir / --data-dir given)")
    if not os.environ.get(ENV_VAR):
        lines.append(f"  (${ENV_VAR} is not set)")
    for place in places:
        what = state(place.path) if place.path.is_dir() else "folder does not exist"
        lines.append(f"  {place.path}  ({place.origin}: {what})")
    return lines


def how_to_provide(name: str, what: str) -> str:
    """The common part of the "how to provide the files" advice: where to put ``what`` and how to point at it."""
    return (f"put {what} in a folder DIR (or DIR/{name}/) and pass --data-dir DIR (data_dir=DIR in Python) "
            f"or set {ENV_VAR}=DIR")
