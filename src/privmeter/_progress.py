"""Progress reporting: tqdm bars, one-line status messages, and a tick channel out of jobs.

Three small pieces, torch-free, for every long step of an audit:

- :class:`ProgressBar`: a tqdm bar (when tqdm is installed) that is quiet on non-terminals:
  it redraws at most every ``_NON_TTY_INTERVAL_S`` seconds when ``stderr`` is a file or a
  pipe, so logs get a handful of lines rather than one per update.
- :func:`status`: ``with status("loading data"):`` shows what is running and, when it ends,
  how long it took; only on a terminal (a log or a captured ``stderr`` gets nothing, so an
  error stays the only line there).
- :func:`tick` / :func:`reporting`: training loops call ``tick(n)`` after each optimizer step;
  whoever runs the job (an executor) decides where the ticks go with ``reporting(sink)``.
  Without a sink, ``tick`` does nothing (one context-variable lookup).

``set_enabled(False)`` (the CLI's ``--no-progress``) turns every bar and status line off for
callers that pass ``enabled=None``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

__all__ = ["ProgressBar", "is_enabled", "reporting", "set_enabled", "status", "tick"]

_LOG = logging.getLogger("privmeter")

#: Seconds between redraws of a bar when stderr is not a terminal.
_NON_TTY_INTERVAL_S = 10.0
_TTY_INTERVAL_S = 0.2

_STATE: dict[str, bool] = {"enabled": True}
_SINK: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "privmeter_progress_sink", default=None
)


def set_enabled(enabled: bool) -> None:
    """Turn progress output on or off for every caller that passes ``enabled=None``."""
    _STATE["enabled"] = bool(enabled)


def is_enabled(enabled: bool | None = None) -> bool:
    """``enabled`` if given, else the process-wide setting (:func:`set_enabled`)."""
    return _STATE["enabled"] if enabled is None else bool(enabled)


def _is_tty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # closed stream
        return False


class ProgressBar:
    """A tqdm bar, or nothing when disabled or when tqdm is not installed.

    Parameters
    ----------
    total : int or float
        Units of work in all.
    initial : int or float
        Units already done (e.g. loaded from a cache).
    enabled : bool, optional
        Default: the process-wide setting (:func:`set_enabled`).
    desc, unit : str
        tqdm's label and unit name.
    file : text stream, optional
        Where to draw (default ``sys.stderr``). On a non-terminal the bar redraws at most
        every 10 s (and once at the end).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with ProgressBar(4, desc="training", unit="model", file=out, enabled=True) as bar:
    ...     bar.update(4)
    >>> "4/4" in out.getvalue()
    True
    """

    def __init__(
        self,
        total: float,
        *,
        initial: float = 0,
        enabled: bool | None = None,
        desc: str = "",
        unit: str = "it",
        file: IO[str] | None = None,
    ) -> None:
        self._bar: Any = None
        if not is_enabled(enabled):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            _LOG.debug("tqdm is not installed: no progress bar")
            return
        stream = file if file is not None else sys.stderr
        interval = _TTY_INTERVAL_S if _is_tty(stream) else _NON_TTY_INTERVAL_S
        self._bar = tqdm(
            total=total, initial=initial, desc=desc, unit=unit, file=stream,
            mininterval=interval, maxinterval=max(interval, 10.0), dynamic_ncols=True,
        )

    @property
    def active(self) -> bool:
        """Whether a bar is being drawn."""
        return self._bar is not None

    def update(self, n: float = 1) -> None:
        """Advance by ``n`` units."""
        if self._bar is not None and n:
            self._bar.update(n)

    def set_postfix(self, text: str) -> None:
        """Text after the counts (e.g. ``"2/5 models"``), redrawn with the next update."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        """Draw the final state and release the line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def status(
    message: str, *, enabled: bool | None = None, file: IO[str] | None = None
) -> Iterator[None]:
    """Show ``message`` while the block runs, then how long it took (terminals only).

    On a terminal, ``privmeter: <message>...`` appears when the block starts and is replaced
    by ``privmeter: <message>: 3.1 s`` when it ends; if the block raises, the line is erased
    so the error message stands alone. On a non-terminal nothing is written.

    Examples
    --------
    >>> with status("loading data", enabled=True):
    ...     pass
    """
    stream = file if file is not None else sys.stderr
    if not (is_enabled(enabled) and _is_tty(stream)):
        yield
        return
    stream.write(f"privmeter: {message}...")
    stream.flush()
    t0 = time.perf_counter()
    ok = False
    try:
        yield
        ok = True
    finally:
        if ok:
            stream.write(f"\r\x1b[Kprivmeter: {message}: {time.perf_counter() - t0:.1f} s\n")
        else:
            stream.write("\r\x1b[K")
        stream.flush()


def tick(n: int = 1) -> None:
    """Report ``n`` units of work done by the running job (no-op without a sink)."""
    sink = _SINK.get()
    if sink is not None:
        sink(n)


@contextlib.contextmanager
def reporting(sink: Callable[[int], None] | None) -> Iterator[None]:
    """Send the :func:`tick` calls made inside the block to ``sink`` (None: discard them)."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
