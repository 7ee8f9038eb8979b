"""Atomic text output: a reader never sees half a file, and a failed write leaves none."""

from __future__ import annotations

import os
from pathlib import Path

from dfew_build.tempfiles import mkstemp_for, remove_stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to path via a temporary file in the same folder and os.replace.

    The file gets the usual permissions (0666 minus the umask), not mkstemp's 0600.
    Raises OSError as open() would.
    """
    path = Path(path)
    remove_stale(path.parent, name=path.name)  # a killed writer's temporaries of this file
    fd, temp = mkstemp_for(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
