"""Where a stage's per-item work runs: in this process, or on a Ray cluster (DESIGN.md §9).

`preprocess`, `clips propose` and `clips cut` each split their work into independent jobs
(a clip, a movie) and one function of a job that touches no database. An executor maps
that function over the jobs and yields each result as it finishes; the stage, in this
process (the *driver*), records the results exactly as its local path does. So with any
executor the database is written by the driver alone, and what a job writes to disk
(clip files, aligned frames) goes to a temporary name first and is os.replace'd into
place, so running a job twice, as a retry does, leaves one copy.

* ``local`` (the default): the stages keep their own tuned local paths (a process pool for
  faces, FFmpeg threads for cuts, this process for proposals); `LocalExecutor.map` is the
  same interface run here, one job after the other.
* ``ray``: one Ray task per job on a local Ray instance or a cluster (``--ray-address``).
  A task whose worker process dies (killed, out of memory, node lost) is retried up to
  ``max_retries`` times by Ray; a job that still cannot finish comes back through the
  stage's ``failed(job, reason)`` so it is recorded as failed and the others go on.
  Every node must see the workspace and the movies at the same paths (a shared
  filesystem) and have the same dfew-build installed; docs/scaling.md says how.

Ray is an optional extra: ``import ray`` happens only in this module, only when a Ray
executor is created.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Callable, Iterable, Iterator, Sequence

from dfew_build.errors import DfewError, ExecutorError

EXECUTORS = ("local", "ray")
RAY_MISSING = ('--executor ray needs Ray, which is not installed: pip install "dfew-build[ray]" '
               '(from a checkout: pip install -e ".[ray]")')
MAX_RETRIES = 3  # Ray's own default for tasks; a killed worker's job runs again


Setup = tuple[Callable[..., Any], tuple]  # (initializer, its arguments), once per worker
Failed = Callable[[Any, str], Any]         # (job, reason) -> the stage's failure result


class Executor:
    """The interface the stages use.

    map(fn, jobs, setup=None, cpus=1, ordered=False, failed=None) -> iterator of fn(job):
        fn and setup[0] are module-level functions (sent by reference to other machines);
        setup runs once in each worker process before its first job, like a process
        pool's initializer; cpus is what one job uses (Ray reserves that many CPUs per
        task); ordered yields in the order of jobs instead of as they finish; failed turns
        a job whose worker kept dying into a result (without it: ExecutorError). The
        iterator's close() stops the jobs not yet finished.
    """

    name = "local"
    distributed = False

    def map(self, fn: Callable, jobs: Iterable, *, setup: Setup | None = None, cpus: int = 1,
            ordered: bool = False, failed: Failed | None = None) -> Iterator:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the executor started (a local Ray instance)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """This process, one job after the other, in order (results are produced lazily, so a
    stage records each before the next job starts)."""

    def map(self, fn, jobs, *, setup=None, cpus=1, ordered=False, failed=None):
        if setup is not None:
            setup[0](*setup[1])
        return (fn(job) for job in jobs)


# -- Ray -----------------------------------------------------------------------------------

_worker_setup: list = [None]  # the token of the setup this worker process last ran


def _run_task(fn: Callable, setup: tuple | None, job):
    """What a Ray task runs: the setup once per worker process and map call, then fn."""
    if setup is not None:
        token, init, args = setup
        if _worker_setup[0] != token:
            init(*args)
            _worker_setup[0] = token
    return fn(job)


def import_ray():
    """The ray module, or ExecutorError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ExecutorError(RAY_MISSING) from None
    return ray


def ray_address(address: str | None) -> str:
    """The address ray.init gets: the one given, else $RAY_ADDRESS, else "local" (a new
    Ray instance on this machine, stopped when the command ends)."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT or ray://HOST:PORT that nothing answers on: ExecutorError now (ray.init
    itself keeps retrying for many minutes)."""
    import socket
    from urllib.parse import urlsplit

    if address in ("local", "auto"):
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ExecutorError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT, "
                            "auto or local")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise ExecutorError(
            f"cannot reach Ray at --ray-address {address}: nothing answers on {host}:{port} "
            f"({exc.strerror or exc}); start the head node with `ray start --head` and give "
            "the address it prints (auto on the head node itself), see docs/scaling.md"
        ) from None


class RayExecutor(Executor):
    """Jobs as Ray tasks.

    address: None (a new local Ray instance, or $RAY_ADDRESS), "auto" (the cluster
        `ray start` runs on this machine), "HOST:PORT" or "ray://HOST:10001" (Ray Client).
        When Ray is already initialised in this process (a test, a notebook) that
        session is used as it is and left running.
    num_cpus: CPUs of a new local instance (default: all of this machine's).
    max_retries: how often Ray runs a job again whose worker process died.
    window: jobs submitted ahead of the results taken (default: 4 per cluster CPU), so
        a million jobs do not sit in Ray's queues at once.
    """

    name = "ray"
    distributed = True

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 max_retries: int = MAX_RETRIES, window: int | None = None):
        ray = import_ray()
        self.max_retries = max_retries
        self._started = False
        if not ray.is_initialized():
            target = ray_address(address)
            _check_reachable(target)
            options: dict = {"address": target, "log_to_driver": False,
                             "logging_level": "WARNING", "configure_logging": True}
            if target == "local":
                options.update(include_dashboard=False, num_cpus=num_cpus)
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                lines = str(exc).strip().splitlines() or [type(exc).__name__]
                raise ExecutorError(
                    f"cannot start or reach Ray at --ray-address {target}: "
                    f"{lines[0].rstrip('.')}; start a cluster with `ray start --head` and give "
                    "its address (auto on the head node; a cluster with token authentication "
                    "also needs RAY_AUTH_MODE=token and its token), see docs/scaling.md"
                ) from None
            self._started = True
        self._ray = ray
        cpus = ray.cluster_resources().get("CPU", 1) if window is None else 0
        self.window = window or max(16, 4 * int(cpus))
        self._remote = ray.remote(_run_task)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def map(self, fn, jobs, *, setup=None, cpus=1, ordered=False, failed=None):
        return self._results(fn, list(jobs), setup, cpus, ordered, failed)

    def _results(self, fn, jobs: Sequence, setup, cpus, ordered, failed) -> Iterator:
        ray = self._ray
        setup_ref = (ray.put((uuid.uuid4().hex, setup[0], tuple(setup[1])))
                     if setup is not None else None)
        task = self._remote.options(num_cpus=cpus, max_retries=self.max_retries,
                                    retry_exceptions=False)
        pending: dict = {}  # ObjectRef -> index in jobs
        done: dict[int, Any] = {}  # ordered: results waiting for an earlier job
        submitted, next_out = 0, 0
        try:
            while submitted < len(jobs) or pending:
                while submitted < len(jobs) and len(pending) < self.window:
                    pending[task.remote(fn, setup_ref, jobs[submitted])] = submitted
                    submitted += 1
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    index = pending.pop(ref)
                    value = self._get(ref, jobs[index], failed)
                    if not ordered:
                        yield value
                        continue
                    done[index] = value
                    while next_out in done:
                        yield done.pop(next_out)
                        next_out += 1
        finally:
            for ref in pending:  # an interrupt or an error: stop what is still running
                ray.cancel(ref)

    def _get(self, ref, job, failed: Failed | None):
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # The job's own exception (not retried, as the local path would not retry it).
            cause = getattr(exc, "cause", None)
            if isinstance(cause, DfewError):
                raise cause from None
            raise exc.as_instanceof_cause() from None
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            reason = (f"its Ray worker died on each of {self.max_retries + 1} attempts "
                      f"(killed, out of memory or its node lost: {type(exc).__name__}: "
                      f"{first}); run again to retry it")
            if failed is None:
                raise ExecutorError(reason) from None
            return failed(job, reason)


def create_executor(name: str = "local", *, address: str | None = None,
                    **options) -> Executor:
    """The executor called `name` ("local" or "ray"); address and options go to Ray.
    ExecutorError when Ray is missing or cannot be reached, or for an unknown name."""
    if name == "local":
        if address:
            raise ExecutorError("--ray-address is for --executor ray; add --executor ray or "
                                "leave --ray-address out")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, **options)
    raise ExecutorError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def is_distributed(executor: Executor | None) -> bool:
    """Whether a stage should hand its jobs to executor.map instead of its local path."""
    return executor is not None and executor.distributed
