"""Fetching gzipped canonical files from mirrors, checked before anything is written.

The checksum is the sha256 of the *uncompressed* content: the same data is re-gzipped by packagers
(Debian's dataset-fashion-mnist, for example), so a hash of the .gz bytes would reject good copies.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from pathlib import Path
from urllib.request import urlopen

from ..errors import DataError
from ..io import atomic_write_bytes

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0


class DownloadError(DataError):
    """No mirror delivered a file with the expected content."""


def fetch(url: str, timeout: float = TIMEOUT_S) -> bytes:
    with urlopen(url, timeout=timeout) as response:  # tests replace ``urlopen`` so they never go online
        return response.read()


def content_sha256(gz_bytes: bytes) -> str:
    return hashlib.sha256(gzip.decompress(gz_bytes)).hexdigest()


def download_gz(urls: list[str], dest: Path, sha256: str) -> Path:
    """Save the first of ``urls`` whose content checks out to ``dest`` (atomically); else raise.

    A file that fails the check is never written, so nothing half-good is left in the cache.
    """
    failures = []
    for url in urls:
        log.info("downloading %s", url)
        try:
            data = fetch(url)
        except (OSError, ValueError) as e:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"{url}: {e}")
            continue
        try:
            got = content_sha256(data)
        except (OSError, EOFError, zlib.error) as e:
            failures.append(f"{url}: not a valid gzip file ({e})")
            continue
        if got != sha256:
            failures.append(f"{url}: checksum mismatch (content sha256 {got}, expected {sha256})")
            continue
        atomic_write_bytes(dest, data)
        log.info("saved %s", dest)
        return dest
    raise DownloadError("; ".join(failures) or "no mirror to download from")
