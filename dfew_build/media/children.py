"""Child processes (FFmpeg) that do not outlive the process that started them.

A `clips cut` that is killed (SIGKILL, a lost terminal, an OOM kill) must not leave FFmpeg
children encoding on. Three layers, so every platform has at least one:

* Linux: the child asks the kernel for SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, through ctypes, in ``preexec_fn``), and exits at once if
  the parent is already gone. This is the only one that survives a SIGKILL of the parent.
  The kernel sends it when the *thread* that started the child ends; :func:`run` waits for
  the child in that same thread, so that thread outlives it.
* Every platform: children still running when this process exits normally or by an
  exception (Ctrl-C included) are killed by an ``atexit`` hook.
* Callers that stop early (Ctrl-C in `clips cut`) call :func:`kill_all` before waiting for
  their worker threads, so those return at once instead of after their encode.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_live: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()  # set by stop_all(): no new child until allow()


def _load_prctl():
    """libc's prctl, resolved here rather than in the child: after a fork in a threaded
    process the child should do as little as possible (no dlopen)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent(parent: int):
    """The child-side hook: SIGKILL when the parent dies; gone already if it has."""
    def hook() -> None:
        if _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != parent:
            os._exit(1)  # the parent died between fork and prctl
    return hook


def popen(command: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen for a child that dies with this process (module doc), tracked until
    :func:`release` so :func:`kill_all` can stop it. ChildProcessError (an OSError) after
    :func:`stop_all`, until :func:`allow`."""
    if _stopping.is_set():
        raise ChildProcessError("stopping: no new child process is started")
    if _PRCTL is not None:
        kwargs.setdefault("preexec_fn", _die_with_parent(os.getpid()))
    process = subprocess.Popen(command, **kwargs)
    with _lock:
        _live.add(process)
    return process


def release(process: subprocess.Popen) -> None:
    with _lock:
        _live.discard(process)


def run(command: list[str]) -> subprocess.CompletedProcess:
    """Run ``command`` (stdin and stdout closed, stderr captured as text) in a child that
    dies with this process; returns its CompletedProcess. Waits in this thread."""
    process = popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        _, stderr = process.communicate()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        release(process)
    return subprocess.CompletedProcess(command, process.returncode, None, stderr)


def kill_all() -> int:
    """SIGKILL every tracked child still running; returns how many were."""
    with _lock:
        running = [p for p in _live if p.poll() is None]
    for process in running:
        try:
            process.kill()
        except OSError:  # it ended meanwhile
            pass
    return len(running)


def stop_all() -> int:
    """Kill every tracked child and refuse new ones (worker threads still running would
    start their next FFmpeg otherwise) until :func:`allow`; returns how many were killed."""
    _stopping.set()
    return kill_all()


def allow() -> None:
    """Let :func:`popen` start children again (a stage calls this when it starts)."""
    _stopping.clear()


def running() -> list[int]:
    """Pids of the tracked children still running."""
    with _lock:
        return [p.pid for p in _live if p.poll() is None]


atexit.register(kill_all)
