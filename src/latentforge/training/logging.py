"""Metrics go to a JSONL file (one object per event) and to TensorBoard when it is installed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class MetricsLog:
    def __init__(self, path: str | os.PathLike, tensorboard: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self._tb = None

    def write(self, event: str, step: int, values: dict[str, Any]) -> None:
        record = {"event": event, "step": step, **values}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self._tb.add_scalar(f"{event}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by a crash ends the log
    return records


def truncate_metrics(path: str | os.PathLike, last_step: int) -> None:
    """Drop records after ``last_step`` so that a resumed run appends without duplicates."""
    path = Path(path)
    if not path.is_file():
        return
    kept = [r for r in read_metrics(path) if r["step"] <= last_step]
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in kept).encode())
