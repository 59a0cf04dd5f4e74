"""Learning-rate schedules as pure functions of the step (resuming needs no scheduler state)."""

from __future__ import annotations

import math


def cosine_decay(step: int, steps: int) -> float:
    """The half-cosine factor 0.5·(1 + cos(π·t/T)): 1 at step 0, falling to 0 at ``steps`` and held there."""
    return 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, steps))))
