"""Temporary files of atomic writers, named after the process that writes them.

A writer puts its output in ``.{name}.{pid}.tmp`` (or ``.{stem}.{pid}.tmp{suffix}`` where
the writing library picks the format from the suffix, e.g. matplotlib's ``.png``; or
``.{name}.{pid}-{random}.tmp`` from :func:`mkstemp_for`, where threads of one process may
write the same file) next to the final file, then ``os.replace``s it into place. A
process killed in between leaves the temporary behind; :func:`remove_stale` deletes those
whose writer is no longer alive, so the next run of the stage cleans up after the killed
one. A temporary of a process still running (a concurrent run) is left alone.

The pid is of this machine: on a filesystem shared between machines a pid may belong to a
writer elsewhere, which is why only stages that hold the workspace (not cluster workers)
sweep.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from pathlib import Path

# .{name}.{pid}.tmp, .{name}.{pid}.tmp.{ext} or .{name}.{pid}-{mkstemp's random}.tmp
_TEMP = re.compile(r"^\..+\.(\d+)(?:-[A-Za-z0-9_]+)?\.tmp(?:\.[A-Za-z0-9]+)?$")


def temp_path(path: str | os.PathLike, *, keep_suffix: bool = False) -> Path:
    """The temporary name for writing ``path`` from this process. ``keep_suffix``: end the
    name with the final file's suffix (for writers that choose the format from it)."""
    path = Path(path)
    if keep_suffix and path.suffix:
        return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def mkstemp_for(path: str | os.PathLike) -> tuple[int, Path]:
    """tempfile.mkstemp next to ``path``, named with this process's pid (a unique name even
    for threads writing the same file): (open descriptor, temporary path). OSError as
    mkstemp raises it."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                                dir=path.parent if str(path.parent) else ".")
    return fd, Path(temp)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (this process counts; one of
    another user counts as alive: it cannot be ours to clean up)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # Windows: no such process
        return False
    return True


def writer_pid(name: str) -> int | None:
    """The writer's pid in a temporary file name of :func:`temp_path`, else None."""
    match = _TEMP.match(name)
    return int(match.group(1)) if match else None


def remove_stale(folder: str | os.PathLike, *, recursive: bool = False,
                 name: str | None = None) -> list[Path]:
    """Delete the temporaries in ``folder`` (and below it with ``recursive``) whose writer
    process is gone; returns what was deleted. ``name``: only the temporaries of that final
    file (for a folder that is not ours, e.g. where `votes export` writes). A missing
    folder has none."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    pattern = f".{glob.escape(name)}.*.tmp*" if name else ".*.tmp*"
    for path in (folder.rglob(pattern) if recursive else folder.glob(pattern)):
        pid = writer_pid(path.name)
        if pid is None or pid_alive(pid) or not path.is_file():
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # another sweeper was first
            continue
        removed.append(path)
    return removed
