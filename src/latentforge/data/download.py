"""Fetching canonical files from mirrors, checked before anything is written.

For the IDX files the checksum is the sha256 of the *uncompressed* content: the same data is re-gzipped by
packagers (Debian's dataset-fashion-mnist, for example), so a hash of the .gz bytes would reject good
copies. CIFAR-10's archive is checked against the MD5 of its bytes, the checksum its page publishes.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from collections.abc import Callable
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
    """Save the first of ``urls`` whose uncompressed content has ``sha256`` to ``dest`` (atomically); else raise.

    A file that fails the check is never written, so nothing half-good is left in the cache.
    """

    def problem(data: bytes) -> str | None:
        try:
            got = content_sha256(data)
        except (OSError, EOFError, zlib.error) as e:
            return f"not a valid gzip file ({e})"
        return None if got == sha256 else f"checksum mismatch (content sha256 {got}, expected {sha256})"

    return download_checked(urls, dest, problem)


def download_md5(urls: list[str], dest: Path, md5: str) -> Path:
    """Like ``download_gz`` for a file published with the MD5 of its own bytes (e.g. CIFAR-10's archive)."""

    def problem(data: bytes) -> str | None:
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return None if got == md5 else f"checksum mismatch (md5 {got}, expected {md5})"

    return download_checked(urls, dest, problem)


def download_checked(urls: list[str], dest: Path, problem: Callable[[bytes], str | None]) -> Path:
    """Save the first of ``urls`` for which ``problem(data)`` is None to ``dest`` atomically; else raise."""
    failures = []
    for url in urls:
        log.info("downloading %s", url)
        try:
            data = fetch(url)
        except (OSError, ValueError) as e:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"{url}: {e}")
            continue
        if (why := problem(data)) is not None:
            failures.append(f"{url}: {why}")
            continue
        atomic_write_bytes(dest, data)
        log.info("saved %s", dest)
        return dest
    raise DownloadError("; ".join(failures) or "no mirror to download from")
