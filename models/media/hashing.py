"""Content hashes used as stable identifiers (Camtrap DP ``mediaID``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (memory does not grow with size).

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of an in-memory payload (uploads)."""
    return hashlib.sha256(data).hexdigest()


def media_id(sha256_hex: str) -> str:
    """Camtrap DP ``mediaID`` derived from the content hash: the first 16 hex digits (64 bits).

    Identical bytes give the same ID wherever and whenever they are ingested, so repeated
    ingestion and repeated uploads are idempotent.
    """
    return sha256_hex[:16]
