"""The command line: thin verbs over the Python API (``latentforge --help``), one module per kind of job.

Exit codes: 0 done, 2 an error latentforge explains in one ``error:`` line (bad option, file or data),
130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

from . import editing, representation, restoration, runs  # noqa: F401  (importing a module registers its verbs)
from .base import Terminated, main

__all__ = ["Terminated", "main"]
