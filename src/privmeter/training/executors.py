"""Run independent jobs in-process, in local worker processes, or on a Ray cluster.

All executors share one interface, ``executor.map(fn, jobs) -> results in job order``, and
give bit-identical results for deterministic jobs (training jobs are seeded per job, never
from shared state). ``map_shared(fn, shared, jobs)`` sends a large read-only object (the
dataset and trainer) to each worker once instead of once per job. ``on_result(index,
result)`` is called in the calling process as each job finishes (in completion order), which
is where results are written to the cache: a job that fails leaves every finished job cached.
``on_progress(index, n)`` receives the :func:`privmeter._progress.tick` calls a job makes while
it runs (training loops tick once per optimizer step), in-process and from worker processes.

Worker processes exit by themselves within about a second when the process that started them
dies (even by ``kill -9``): each runs a watcher thread on its parent's sentinel.
"""

from __future__ import annotations

import abc
import concurrent.futures
import concurrent.futures.process
import contextlib
import multiprocessing
import os
import queue
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from privmeter import _progress
from privmeter._validation import check_int
from privmeter.training._pool import (
    _PROGRESS_FLUSH_S,
    _SHARED_PREFIX,
    _init_worker,
    _pickled,
    _worker_call,
)
from privmeter.training._pool import _pid_alive as _pid_alive
from privmeter.training._pool import _remove_stale_shared_files as _remove_stale_shared_files

__all__ = [
    "Executor",
    "InProcessExecutor",
    "JobFailedError",
    "ProcessExecutor",
    "RayExecutor",
    "describe_job",
]

J = TypeVar("J")
R = TypeVar("R")
S = TypeVar("S")


def describe_job(job: object) -> str:
    """A short description of a job: ``job.describe()`` when it has one, else its repr."""
    describe = getattr(job, "describe", None)
    if callable(describe):
        return str(describe())
    text = repr(job)
    return text if len(text) <= 200 else text[:197] + "..."


class JobFailedError(RuntimeError):
    """A job raised an exception; the message names the job (index, and its description).

    The original exception is the ``__cause__``.

    Attributes
    ----------
    index : int
        Position of the failed job in the list given to ``map``.
    job : object or None
        The job itself (None after unpickling).
    """

    def __init__(self, message: str, *, index: int, job: object = None) -> None:
        super().__init__(message)
        self.index = index
        self.job = job

    @classmethod
    def from_exception(cls, index: int, job: object, cause: BaseException) -> JobFailedError:
        """The error for job ``index`` that raised ``cause``."""
        lines = str(cause).strip().splitlines()
        detail = lines[-1] if lines else ""
        return cls(
            f"job {index} [{describe_job(job)}] failed: {type(cause).__name__}: {detail}",
            index=index,
            job=job,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_job_failed, (str(self), self.index))


def _rebuild_job_failed(message: str, index: int) -> JobFailedError:
    return JobFailedError(message, index=index)


def _call_plain(fn: Callable[[Any], Any], job: Any) -> Any:
    return fn(job)


ProgressCallback = Callable[[int, int], None]


class Executor(abc.ABC):
    """Runs a function over a list of jobs and returns the results in job order."""

    def map(
        self,
        fn: Callable[[J], R],
        jobs: Sequence[J],
        *,
        on_result: Callable[[int, R], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[R]:
        """``[fn(job) for job in jobs]``, possibly in parallel.

        Raises
        ------
        JobFailedError
            If a job raises; the original exception is its ``__cause__``.
        """
        return self.map_shared(
            _call_plain, fn, jobs, on_result=on_result, on_progress=on_progress
        )

    @abc.abstractmethod
    def map_shared(
        self,
        fn: Callable[[S, J], R],
        shared: S,
        jobs: Sequence[J],
        *,
        on_result: Callable[[int, R], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[R]:
        """``[fn(shared, job) for job in jobs]``, sending ``shared`` to each worker once.

        ``on_progress(index, n)``, when given, is called in the calling process with the
        :func:`privmeter._progress.tick` counts of job ``index`` (possibly batched, possibly
        late; executors that cannot forward them, such as Ray, never call it).
        """


class InProcessExecutor(Executor):
    """Runs jobs one after another in the calling process (the default).

    Examples
    --------
    >>> InProcessExecutor().map(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    def map_shared(
        self,
        fn: Callable[[S, J], R],
        shared: S,
        jobs: Sequence[J],
        *,
        on_result: Callable[[int, R], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[R]:
        results: list[R] = []
        for i, job in enumerate(jobs):
            sink = None if on_progress is None else _bind_progress(on_progress, i)
            try:
                with _progress.reporting(sink):
                    result = fn(shared, job)
            except Exception as exc:
                raise JobFailedError.from_exception(i, job, exc) from exc
            results.append(result)
            if on_result is not None:
                on_result(i, result)
        return results

    def __repr__(self) -> str:
        return "InProcessExecutor()"


def _bind_progress(on_progress: ProgressCallback, index: int) -> Callable[[int], None]:
    def sink(n: int) -> None:
        on_progress(index, n)

    return sink


# ------------------------------------------------------------------ processes
class ProcessExecutor(Executor):
    """Runs jobs in a pool of local worker processes (``spawn`` start method by default).

    ``spawn`` is safe with PyTorch and threads (``fork`` can deadlock). As with any
    multiprocessing code, a script that uses it must guard its entry point with
    ``if __name__ == "__main__":``. The pool starts at the first ``map`` and is reused by the
    next ones (workers import torch once); :meth:`shutdown` (or a ``with`` block) stops it.
    The shared object is pickled once per ``map`` to a temporary file that each worker reads
    once.

    Parameters
    ----------
    max_workers : int, optional
        Number of worker processes (default: the number of CPUs).
    start_method : {"spawn", "forkserver", "fork"}
    threads_per_worker : int, optional
        ``torch.set_num_threads`` in each worker (default: CPUs // workers, at least 1), so
        workers do not oversubscribe the cores. A :class:`TorchTrainer` with ``num_threads``
        set uses its own count while it trains.

    Examples
    --------
    >>> import math
    >>> with ProcessExecutor(max_workers=2) as ex:  # doctest: +SKIP
    ...     ex.map(math.sqrt, [1.0, 4.0, 9.0])
    [1.0, 2.0, 3.0]
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        start_method: str = "spawn",
        threads_per_worker: int | None = None,
    ) -> None:
        cpus = os.cpu_count() or 1
        self.max_workers = (
            check_int("max_workers", max_workers, minimum=1) if max_workers is not None else cpus
        )
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"unknown start method {start_method!r}; available: "
                f"{multiprocessing.get_all_start_methods()}"
            )
        self.start_method = start_method
        self.threads_per_worker = (
            threads_per_worker
            if threads_per_worker is not None
            else max(1, cpus // self.max_workers)
        )
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._queue: Any = None

    def __repr__(self) -> str:
        return (
            f"ProcessExecutor(max_workers={self.max_workers}, "
            f"start_method={self.start_method!r}, threads_per_worker={self.threads_per_worker})"
        )

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None
        state["_queue"] = None
        return state

    def shutdown(self) -> None:
        """Stop the worker processes (a later ``map`` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._queue is not None:
            with contextlib.suppress(Exception):
                self._queue.close()
            self._queue = None

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context(self.start_method)
            self._queue = ctx.Queue()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.max_workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self.threads_per_worker, self._queue),
            )
        return self._pool

    def _drain_progress(self, token: str, on_progress: ProgressCallback | None) -> None:
        q = self._queue
        if q is None:
            return
        while True:
            try:
                tok, index, n = q.get_nowait()
            except (queue.Empty, OSError, ValueError, EOFError):
                return
            if tok == token and on_progress is not None:
                on_progress(index, n)

    def map_shared(
        self,
        fn: Callable[[S, J], R],
        shared: S,
        jobs: Sequence[J],
        *,
        on_result: Callable[[int, R], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[R]:
        jobs = list(jobs)
        if not jobs:
            return []
        shared_bytes = _pickled(shared, "the shared data (trainer, x, y)")
        _pickled(fn, "the job function")
        _remove_stale_shared_files()
        fd, path = tempfile.mkstemp(prefix=f"{_SHARED_PREFIX}{os.getpid()}-", suffix=".pkl")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(shared_bytes)
            del shared_bytes
            return self._run(fn, path, jobs, on_result, on_progress)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _run(
        self,
        fn: Callable[[Any, Any], Any],
        path: str,
        jobs: list[Any],
        on_result: Callable[[int, Any], None] | None,
        on_progress: ProgressCallback | None,
    ) -> list[Any]:
        token = secrets.token_hex(8)
        pool = self._get_pool()
        report = on_progress is not None
        results: list[Any] = [None] * len(jobs)
        failure: tuple[int, BaseException] | None = None
        futures = {
            pool.submit(_worker_call, token, path, fn, job, i, report): i
            for i, job in enumerate(jobs)
        }
        pending = set(futures)
        try:
            while pending:
                done, pending = concurrent.futures.wait(
                    pending,
                    timeout=_PROGRESS_FLUSH_S if report else None,
                    return_when=concurrent.futures.FIRST_COMPLETED,
                )
                if report:
                    self._drain_progress(token, on_progress)
                for future in sorted(done, key=futures.__getitem__):
                    i = futures[future]
                    if future.cancelled():
                        continue
                    exc = future.exception()
                    if exc is not None:
                        if failure is None:
                            failure = (i, exc)
                            for other in futures:
                                other.cancel()  # not started yet: skipped; running ones finish
                        continue
                    result = future.result()
                    results[i] = result
                    if on_result is not None:
                        on_result(i, result)
        except BaseException:
            for other in futures:
                other.cancel()
            raise
        if report:  # the last ticks travel on another pipe than the results: collect them
            time.sleep(_PROGRESS_FLUSH_S / 5)
            self._drain_progress(token, on_progress)
        if failure is not None:
            i, exc = failure
            if isinstance(exc, concurrent.futures.process.BrokenProcessPool):
                self._pool = None  # a worker died: start a fresh pool next time
                self._queue = None
            raise JobFailedError.from_exception(i, jobs[i], exc) from exc
        return results


# ------------------------------------------------------------------------ Ray
def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "the Ray executor needs Ray, which is not installed: pip install privmeter[ray]"
        ) from exc
    return ray


def _ray_call(
    fn: Callable[[Any, Any], Any], shared: Any, job: Any, threads: int | None
) -> Any:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return fn(shared, job)


class RayExecutor(Executor):
    """Runs jobs as Ray tasks, on a local machine or a cluster (``pip install privmeter[ray]``).

    Connects to the running Ray instance if there is one, else calls ``ray.init(address,
    num_cpus, **init_kwargs)``. The shared object is put in Ray's object store once
    (``ray.put``). Results come back to the caller, which writes the cache, so the cache
    folder need not be shared with the cluster.

    Parameters
    ----------
    address : str, optional
        Cluster address for ``ray.init`` (default: start or reuse a local instance).
    num_cpus : int, optional
        CPUs of a local instance started here.
    cpus_per_job : float
        Ray resource request per task.
    threads_per_job : int, optional
        ``torch.set_num_threads`` inside each task (Ray sets ``OMP_NUM_THREADS`` to the
        task's CPUs by default).
    init_kwargs : dict, optional
        Extra ``ray.init`` arguments.

    Raises
    ------
    ImportError
        If Ray is not installed (the message says ``pip install privmeter[ray]``).

    Examples
    --------
    >>> RayExecutor(num_cpus=2).map(abs, [-1, 2, -3])  # doctest: +SKIP
    [1, 2, 3]
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_job: float = 1.0,
        threads_per_job: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _import_ray()
        if cpus_per_job <= 0:
            raise ValueError(f"cpus_per_job must be positive, got {cpus_per_job!r}")
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_job = float(cpus_per_job)
        self.threads_per_job = threads_per_job
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus}, "
            f"cpus_per_job={self.cpus_per_job})"
        )

    def _ensure_ray(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, **self.init_kwargs}
            if self.address is not None:
                kwargs["address"] = self.address
            if self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
            self._started = True
        return ray

    def shutdown(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            _import_ray().shutdown()
            self._started = False

    def map_shared(
        self,
        fn: Callable[[S, J], R],
        shared: S,
        jobs: Sequence[J],
        *,
        on_result: Callable[[int, R], None] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[R]:
        jobs = list(jobs)
        if not jobs:
            return []
        ray = self._ensure_ray()
        remote = ray.remote(num_cpus=self.cpus_per_job, max_retries=0)(_ray_call)
        shared_ref = ray.put(shared)
        refs = [remote.remote(fn, shared_ref, job, self.threads_per_job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(jobs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for other in pending:
                        ray.cancel(other)
                    cause = getattr(exc, "cause", None)
                    raise JobFailedError.from_exception(
                        i, jobs[i], cause if isinstance(cause, BaseException) else exc
                    ) from exc
                results[i] = result
                if on_result is not None:
                    on_result(i, result)
        return results

