"""Atomic file writes and safetensors I/O. Loading never unpickles.

Every weights file is hashed (SHA-256) when written; the digest is recorded in the JSON beside it and
checked on load, so a flipped byte is an :class:`IntegrityError` instead of slightly different figures.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .errors import CheckpointError, IntegrityError, OutputError

# What to do about an OSError while writing, by errno; anything else gets the generic advice.
_WRITE_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "a file of that name is in the way of the folder; choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter one",
}


def write_error(path: Path, e: OSError, doing: str = "write") -> OutputError:
    """One clear OutputError for an OSError met while writing ``path``."""
    advice = _WRITE_ADVICE.get(e.errno, f"{e.strerror or e}; check the path and the free space")
    return OutputError(f"Cannot {doing} {path}: {advice}.")


def check_writable_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path, refusing an empty name and an existing target that is not a regular file (a
    directory, device, FIFO or socket, or a symlink to one): renaming over it would destroy it."""
    if not str(path).strip() or Path(path).name in ("", ".", ".."):
        raise OutputError(f"The output name {str(path)!r} is not a file name; give one such as out.png.")
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows a symlink: its target is what the user means
    except (FileNotFoundError, NotADirectoryError):
        return path  # absent (or a dangling symlink, which the rename replaces): nothing to lose; a missing
        # or blocked folder is reported when it is created
    except OSError as e:
        raise write_error(path, e) from e
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
        raise OutputError(f"The output {path} exists and is {kind}; latentforge does not replace it. "
                          "Give the name of a regular file.")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    Only ``path`` and its temporary sibling ``.NAME.XXXX.tmp`` are touched (missing parent folders are
    created). Any failure is an OutputError naming the path; the old file is kept and no temp file is left.
    """
    path = check_writable_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(path.parent, e, "create the folder") from e
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise write_error(path, e) from e
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path} does not exist.")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(f"{what} at {path} is not valid JSON ({e}); the file is corrupt, re-save it.") from e
    except OSError as e:
        raise CheckpointError(f"{what} at {path} cannot be read ({e.strerror or e}); check its permissions.") from e


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_tensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor]) -> str:
    """Write ``tensors`` as safetensors atomically; returns the SHA-256 (hex) of the bytes written."""
    data = save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()})
    atomic_write_bytes(path, data)
    return sha256_hex(data)


def read_tensors(path: str | os.PathLike, what: str) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a safetensors file and the SHA-256 (hex) of its bytes, read once."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path} does not exist.")
    try:
        data = path.read_bytes()
        return load(data), sha256_hex(data)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(
            f"{path} ({what.lower()}) is corrupt or truncated ({e}). Restore it from a copy or retrain."
        ) from e


def load_tensors(path: str | os.PathLike, what: str, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against the SHA-256 recorded for it when there is one."""
    tensors, actual = read_tensors(path, what)
    verify_sha256(Path(path), what, actual, sha256)
    return tensors


def recorded_sha256(meta: Any, filename: str, record: Path) -> str | None:
    """The digest the JSON ``meta`` (read from ``record``) holds for ``filename`` under "sha256", or None for
    files written before digests were recorded; a malformed entry is a CheckpointError."""
    if not isinstance(meta, dict) or "sha256" not in meta:
        return None
    entry = meta["sha256"]
    digest = entry.get(filename) if isinstance(entry, dict) else None
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise CheckpointError(f"{record} has a malformed \"sha256\" entry for {filename} ({entry!r}); the file is "
                              "corrupt. Restore the directory from a copy or retrain.")
    return digest


def verify_sha256(path: Path, what: str, actual: str, recorded: str | None) -> None:
    if recorded is not None and actual != recorded:
        raise IntegrityError(
            f"{path} ({what.lower()}) is corrupt or truncated: its SHA-256 is {actual}, but {recorded} was recorded "
            "when it was saved. Restore the file from a copy or retrain."
        )


def check_finite(tensors: Mapping[str, torch.Tensor], path: Path, what: str) -> None:
    """IntegrityError naming the first floating tensors that hold NaN or infinite values."""
    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise IntegrityError(
            f"{path} ({what.lower()}) holds NaN or infinite values (in {', '.join(bad[:5])}"
            f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''}): a model whose training diverged was saved. "
            "Retrain (e.g. with a lower learning rate or train.grad_clip) or restore an earlier copy."
        )
