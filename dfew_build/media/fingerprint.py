"""A content fingerprint that survives renames and moves without reading whole movies.

fingerprint = sha256("dfew-fp-v1" || size as 8-byte little-endian || head || middle || tail)
where head, middle and tail are SAMPLE_BYTES-long reads at offset 0, (size - SAMPLE_BYTES) // 2
and size - SAMPLE_BYTES. Files up to 3 × SAMPLE_BYTES are hashed whole. A 4 GB movie costs
3 MiB of reads. Two different encodes never share size, container header and three samples
in practice; byte-identical copies do, which is the point (a copy is the same movie).
"""

from __future__ import annotations

import hashlib
import os

SCHEME = b"dfew-fp-v1"
SAMPLE_BYTES = 1 << 20


def fingerprint(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        digest = hashlib.sha256(SCHEME)
        digest.update(size.to_bytes(8, "little"))
        if size <= 3 * SAMPLE_BYTES:
            digest.update(handle.read())
        else:
            for offset in (0, (size - SAMPLE_BYTES) // 2, size - SAMPLE_BYTES):
                handle.seek(offset)
                digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def bytes_read(size: int) -> int:
    """How many bytes fingerprint() reads for a file of this size."""
    return size if size <= 3 * SAMPLE_BYTES else 3 * SAMPLE_BYTES


def file_sha256(path: str | os.PathLike) -> str:
    """The plain SHA-256 of every byte (for files we produce or verify, not for movies)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
