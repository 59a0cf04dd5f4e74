"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped.

Layout: two zero bytes, a dtype code, the number of dimensions, one big-endian uint32 per dimension,
then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def corrupt(path: str | os.PathLike, why: str) -> DataError:
    return DataError(f"{path} is truncated or corrupt ({why}). Delete it and download it again.")


def read_maybe_gzipped(path: str | os.PathLike) -> bytes:
    """The file's bytes, decompressed when it is gzip (recognised by content, not by name)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e}. Check that it is a readable file.") from e
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise corrupt(path, f"bad gzip data: {e}") from e


def parse_idx(data: bytes, path: str | os.PathLike) -> np.ndarray:
    """Decode IDX bytes into a native-endian array; ``path`` is only used in error messages."""
    if len(data) < 4:
        raise corrupt(path, f"{len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise corrupt(path, f"bad IDX magic number {data[:4].hex()}")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise corrupt(path, f"header needs {header} bytes, file has {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims) * dtype.itemsize  # Python ints: huge dimensions cannot wrap around
    if len(data) != expected:
        raise corrupt(path, f"dimensions {'×'.join(map(str, dims))} need {expected} bytes, file has {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    return parse_idx(read_maybe_gzipped(path), path)
