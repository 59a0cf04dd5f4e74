"""The run lock: one training process per run directory.

``run_dir/.lock`` is held with an exclusive ``fcntl.flock`` for the whole of ``Trainer.fit``; it records the
holder's pid, host and start time so that a refused trainer can say who holds it. The kernel drops the
lock when the holder exits, even on ``kill -9``, so a stale file never blocks a later run. The file is
removed on release; an acquirer that locked a file another process had just removed retries on the new
one (the inode check), so two holders can never coexist.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ..errors import OutputError, RunLockedError
from ..io import write_error

if TYPE_CHECKING:
    from typing_extensions import Self

try:
    import fcntl
except ImportError:  # Windows: no flock; training proceeds unlocked
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunLock:
    """``with RunLock(run_dir):`` holds the run directory's lock, or raises RunLockedError at once."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        if fcntl is None or self._fd is not None:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(self.run_dir, e, "create the run directory") from e
        while self._fd is None:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLockedError(self._held_message()) from None
            except OSError as e:
                os.close(fd)
                raise OutputError(f"Cannot lock the run directory {self.run_dir} ({e.strerror or e}); "
                                  "use a run directory on a local disk.") from e
            if self._is_current(fd):
                self._fd = fd
            else:
                os.close(fd)  # the holder removed this file while we waited for it: lock the new one
        self._write_holder()

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise write_error(self.path, e) from e

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is still the file at ``self.path`` (not one a releasing holder unlinked)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write_holder(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def _held_message(self) -> str:
        holder = read_holder(self.path)
        who = (f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('since', '?')}"
               if holder else "another process")
        return (f"{self.run_dir} is being trained by {who}. Wait for it to finish (or stop it), or train into "
                "another --out.")


def read_holder(path: Path) -> dict:
    """The pid/host/since record of a lock file; empty when it cannot be read (the holder is writing it)."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
