"""The process pool's plumbing, run in the worker processes and around them.

Worker initialisation (threads per worker, the progress queue), the watcher thread that ends a
worker when its parent dies (even by ``kill -9``), the sink that batches a job's progress ticks
onto the queue, and the temporary files that carry ``map_shared``'s shared object to each
worker once (files left by a dead process are removed by the next call). Used by
:class:`privmeter.training.executors.ProcessExecutor`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privmeter import _progress

__all__: list[str] = []

_WORKER_STATE: dict[str, Any] = {"token": None, "shared": None, "threads": None, "queue": None}

#: Seconds between two progress messages from one worker (ticks are summed in between).
_PROGRESS_FLUSH_S = 0.25
#: How often a worker's watcher thread checks that its parent is still alive (the parent's
#: sentinel usually wakes it at once; this poll is the fallback, e.g. for ``fork`` workers).
_PARENT_POLL_S = 0.5


def _init_worker(threads: int | None, progress_queue: Any = None) -> None:
    _WORKER_STATE["threads"] = threads
    if progress_queue is not None:
        # Never block the worker's exit on progress messages nobody reads any more.
        progress_queue.cancel_join_thread()
    _WORKER_STATE["queue"] = progress_queue
    _start_parent_watch()


def _start_parent_watch() -> None:
    """Exit this worker as soon as the process that started it dies.

    ``concurrent.futures`` workers notice a dead parent only when they next read the call
    queue, so a worker in the middle of a long training job would keep running (and holding
    CPUs and memory) after a ``kill -9`` of the main process. A daemon thread waits on the
    parent's sentinel (a pipe that becomes readable when the parent dies, on every start
    method and platform) and polls ``os.getppid()`` as a fallback, then calls ``os._exit``.
    """
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    ppid = os.getppid() if hasattr(os, "getppid") else None

    def parent_gone() -> bool:
        if parent is not None and not parent.is_alive():
            return True
        return ppid is not None and os.getppid() != ppid

    def watch() -> None:
        while not parent_gone():
            if sentinel is None:
                time.sleep(_PARENT_POLL_S)
                continue
            try:
                multiprocessing.connection.wait([sentinel], timeout=_PARENT_POLL_S)
            except (OSError, ValueError):
                time.sleep(_PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="privmeter-parent-watch", daemon=True).start()


class _QueueSink:
    """Sums a job's ticks and sends them to the parent at most every ``_PROGRESS_FLUSH_S``."""

    def __init__(self, q: Any, token: str, index: int) -> None:
        self._q = q
        self._token = token
        self._index = index
        self._pending = 0
        self._last = time.monotonic()

    def __call__(self, n: int) -> None:
        self._pending += n
        now = time.monotonic()
        if now - self._last >= _PROGRESS_FLUSH_S:
            self._last = now
            self.flush()

    def flush(self) -> None:
        if self._pending:
            with contextlib.suppress(Exception):  # progress must never fail a job
                self._q.put_nowait((self._token, self._index, self._pending))
            self._pending = 0


def _worker_call(
    token: str,
    path: str,
    fn: Callable[[Any, Any], Any],
    job: Any,
    index: int = -1,
    report: bool = False,
) -> Any:
    state = _WORKER_STATE
    if state["token"] != token:
        state["shared"] = None  # free the previous call's data first
        with open(path, "rb") as fh:
            state["shared"] = pickle.load(fh)
        state["token"] = token
    threads = state["threads"]
    if threads is not None and "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    q = state["queue"]
    if not report or q is None:
        return fn(state["shared"], job)
    sink = _QueueSink(q, token, index)
    with _progress.reporting(sink):
        result = fn(state["shared"], job)
    sink.flush()
    return result


_SHARED_PREFIX = "privmeter-shared-"
_SHARED_RE = re.compile(rf"^{_SHARED_PREFIX}(\d+)-.*\.pkl$")


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (a zombie counts as gone).

    Where this cannot be told safely (Windows, where ``os.kill(pid, 0)`` would terminate the
    process), every process counts as alive: callers then only clean up by age.
    """
    if pid <= 0:
        return False
    if os.path.isdir("/proc/self"):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return False
        except (OSError, IndexError):
            return True
        return fields[0] not in ("Z", "X")
    if sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def _remove_stale_shared_files(folder: str | None = None) -> list[Path]:
    """Delete shared-data files of ``map_shared`` calls whose process died (e.g. ``kill -9``)."""
    removed: list[Path] = []
    root = Path(folder if folder is not None else tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    me = os.getpid()
    for entry in entries:
        match = _SHARED_RE.match(entry.name)
        if match is None or int(match.group(1)) == me or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def _pickled(obj: object, what: str) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"{what} must be picklable to run in other processes ({type(exc).__name__}: "
            f"{exc}); define model factories and job functions at module top level "
            "(not as lambdas or local functions)"
        ) from exc

