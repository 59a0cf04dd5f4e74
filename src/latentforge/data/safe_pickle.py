"""Unpickling data files with a whitelist: numpy arrays, dicts, lists, bytes, str and numbers, nothing else.

A pickle can name any importable callable (``os.system``, ``builtins.eval``) and call it while it loads.
``RestrictedUnpickler.find_class`` is the only way a pickle reaches a global, so refusing every name
outside the whitelist means a hostile file raises a DataError before any of its code runs. Containers
and scalars (dict, list, tuple, bytes, str, int, float, bool, None) have opcodes of their own and never
pass through ``find_class``.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DataError

_PROBE = np.zeros(1, dtype=np.uint8)


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What ``_codecs.encode`` does in a protocol 0–2 pickle of ``bytes``, for that use only.

    Python 3 pickles ``bytes`` at protocol 2 as ``_codecs.encode(text, "latin1")``. The real
    ``codecs.encode`` looks codecs up by name, so it is not admitted itself; this stand-in accepts
    only str and latin-1.
    """
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed as (str, 'latin1'), got encoding {encoding!r}")
    return text.encode("latin1")


# module -> name -> the object handed to the pickle. Array reconstruction is taken from numpy's own
# reductions, so it is right for numpy 1.x (numpy.core) and 2.x (numpy._core) without private imports;
# both module spellings are accepted because files written under either numpy name the one they had.
_RECONSTRUCT = _PROBE.__reduce_ex__(2)[0]  # multiarray._reconstruct (protocol 0–4 arrays)
_FROMBUFFER = _PROBE.__reduce_ex__(5)[0]  # numeric._frombuffer (protocol 5 arrays)
_SCALAR = np.uint8(0).__reduce__()[0]  # multiarray.scalar (numpy scalars such as an np.int64 label)
ALLOWED_GLOBALS: dict[str, dict[str, Any]] = {
    "numpy": {"ndarray": np.ndarray, "dtype": np.dtype},
    "numpy.core.multiarray": {"_reconstruct": _RECONSTRUCT, "scalar": _SCALAR},
    "numpy._core.multiarray": {"_reconstruct": _RECONSTRUCT, "scalar": _SCALAR},
    "numpy.core.numeric": {"_frombuffer": _FROMBUFFER},
    "numpy._core.numeric": {"_frombuffer": _FROMBUFFER},
    "_codecs": {"encode": _latin1_bytes},
}


class RefusedGlobalError(DataError):
    """A pickle asked for a global outside the whitelist; nothing of it was run."""


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only ``ALLOWED_GLOBALS``."""

    def __init__(self, file: io.BufferedIOBase, source: str, *, encoding: str = "bytes") -> None:
        # encoding="bytes": Python 2 str (the official CIFAR-10 files) stays bytes, as the dataset page says.
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        allowed = ALLOWED_GLOBALS.get(module, {})
        if name in allowed:
            return allowed[name]
        raise RefusedGlobalError(
            f"{self.source} asks to load the Python object {module}.{name}, which a data file never needs; "
            f"refused without running anything (only numpy arrays, dicts, lists, bytes, str and numbers are "
            f"read). The file is not a genuine data file: delete it and get it again from the official source."
        )


def safe_load(data: bytes, source: str | os.PathLike) -> Any:
    """Unpickle ``data`` with the whitelist; ``source`` names the file in errors.

    Any failure (a refused global, a truncated or malformed pickle) is a DataError naming ``source``.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), str(source)).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError, UnicodeDecodeError) as e:
        raise DataError(
            f"{source} is truncated or not a valid pickle ({type(e).__name__}: {e}). Delete it and get it again."
        ) from e
