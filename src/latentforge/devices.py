"""One place that turns a device name (auto, cpu, cuda, cuda:N, mps) into a torch.device, or says what exists."""

from __future__ import annotations

import re

import torch

from .errors import ConfigError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


def available_devices() -> list[str]:
    """The device names this machine can run on, e.g. ``["cpu", "cuda:0"]``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (or None) is the first GPU when there is one, else the CPU; anything unknown or absent is a
    ConfigError that lists the devices this machine has."""
    if isinstance(name, torch.device):
        name = str(name)
    name = "auto" if name is None else str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"(cpu|mps|cuda)(?::(\d+))?", name)
    if match is None or (match[2] is not None and match[1] != "cuda"):
        raise ConfigError(f"Unknown device {name!r}: use {DEVICE_NAMES} (this machine has: "
                          f"{', '.join(available_devices())}).")
    kind, index = match[1], match[2]
    wanted = kind if index is None else f"cuda:{int(index)}"
    here = available_devices()
    if kind != "cpu" and not any(d == wanted or d.startswith(f"{wanted}:") for d in here):
        raise ConfigError(f"Device {name!r} is not available on this machine, which has: {', '.join(here)}. "
                          "Use --device auto (or cpu).")
    return torch.device(wanted)
