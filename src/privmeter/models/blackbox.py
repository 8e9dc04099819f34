"""Black-box adapters: a callable returning probabilities (an API), or hard labels only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_class_indices,
    check_labels_output,
    check_proba,
    log_proba_as_logits,
)

__all__ = ["BlackBoxModel", "LabelOnlyModel"]


def _check_n_classes(n_classes: int) -> int:
    return check_int("n_classes", n_classes, minimum=2)


def _check_batch_size(batch_size: int | None) -> int | None:
    return check_optional_int("batch_size", batch_size, minimum=1)


def _n_rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(x)


def _call_batched(
    fn: Callable[[Any], Any], x: Any, batch_size: int | None
) -> tuple[list[Any], int]:
    n = _n_rows(x)
    if batch_size is None or n <= batch_size:
        return [fn(x)], n
    return [fn(x[i : i + batch_size]) for i in range(0, n, batch_size)], n


class _CallableClassifier:
    """What the two black-box adapters share: a callable, its classes and batching."""

    def __init__(
        self, fn: Callable[[Any], Any], n_classes: int, *, batch_size: int | None = None
    ) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self._n_classes = _check_n_classes(n_classes)
        self.batch_size = _check_batch_size(batch_size)

    @property
    def task(self) -> Task:
        """Always ``"classification"``."""
        return "classification"

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return self._n_classes

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"{type(self).__name__}({name}, n_classes={self._n_classes})"

    def _answers(self, x: Any) -> tuple[NDArray[Any], int]:
        """The callable's raw answers for every row (batched), and the number of rows."""
        parts, n = _call_batched(self.fn, x, self.batch_size)
        return np.concatenate([np.atleast_1d(np.asarray(p)) for p in parts], axis=0), n

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Validate integer labels ``0..n_classes-1``."""
        return check_class_indices(y, n_classes=self._n_classes, source=repr(self))


class BlackBoxModel(_CallableClassifier):
    """A classifier known only through a function returning class probabilities.

    Parameters
    ----------
    fn : callable
        ``fn(x_batch) -> array_like (batch, n_classes)`` of probabilities (e.g. a wrapper around
        a prediction API). Class ``j`` is column ``j``; true labels are indices ``0..C-1``.
    n_classes : int
        Number of classes; every answer is checked against it.
    batch_size : int, optional
        Rows per call (default: all rows in one call).
    atol : float
        Tolerance on each row summing to one (APIs often round their probabilities).

    Notes
    -----
    Probabilities are validated on every call: the number of columns, NaN/inf (naming the
    first rows), values outside ``[0, 1]`` and row sums. :meth:`logits` returns
    log-probabilities (zeros mapped to ``-745``), whose softmax is the returned probability:
    margin, loss and entropy signals are computed from them without forming ``1 - p_y``.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = lambda x: np.tile([0.7, 0.2, 0.1], (len(x), 1))
    >>> model = BlackBoxModel(api, n_classes=3)
    >>> model.proba(np.zeros((2, 5)))
    array([[0.7, 0.2, 0.1],
           [0.7, 0.2, 0.1]])
    >>> model.predict(np.zeros((2, 5)))
    array([0, 0])
    """

    def __init__(
        self,
        fn: Callable[[Any], Any],
        n_classes: int,
        *,
        batch_size: int | None = None,
        atol: float = 1e-4,
    ) -> None:
        super().__init__(fn, n_classes, batch_size=batch_size)
        self.atol = float(atol)

    @property
    def access(self) -> AccessLevel:
        """``"proba"``."""
        return "proba"

    def proba(self, x: Any) -> NDArray[np.float64]:
        """The callable's probabilities, validated, float64 ``(n, n_classes)``."""
        raw, n = self._answers(x)
        return check_proba(raw, n_rows=n, n_classes=self._n_classes, source=repr(self),
                           atol=self.atol)

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Log-probabilities (zeros mapped to ``-745``); their softmax is :meth:`proba`."""
        return log_proba_as_logits(self.proba(x))

    def predict(self, x: Any) -> NDArray[np.int64]:
        """Most probable class index, ``(n,)``."""
        return np.asarray(self.proba(x).argmax(axis=1), dtype=np.int64)


class LabelOnlyModel(_CallableClassifier):
    """A classifier known only through the hard labels it predicts.

    Parameters
    ----------
    fn : callable
        ``fn(x_batch) -> array_like (batch,)`` of predicted class indices ``0..n_classes-1``.
    n_classes : int
    batch_size : int, optional
        Rows per call (default: all rows in one call).

    Notes
    -----
    Only label-only signals apply (``"correctness"``, ``"robustness"``; Choquette-Choo et al.,
    "Label-Only Membership Inference Attacks", ICML 2021). :meth:`proba` and :meth:`logits`
    raise :class:`NotImplementedError`.

    Examples
    --------
    >>> from privmeter.models import LabelOnlyModel
    >>> model = LabelOnlyModel(lambda x: (np.asarray(x)[:, 0] > 0).astype(int), n_classes=2)
    >>> model.predict(np.array([[-1.0], [2.0]]))
    array([0, 1])
    """

    @property
    def access(self) -> AccessLevel:
        """``"label"``."""
        return "label"

    def predict(self, x: Any) -> NDArray[np.int64]:
        """The callable's labels, validated, int64 ``(n,)``."""
        raw, n = self._answers(x)
        return check_labels_output(raw, n_rows=n, n_classes=self._n_classes, source=repr(self))

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Not available: raises :class:`NotImplementedError`."""
        raise NotImplementedError(
            f"{self!r} returns hard labels only; it has no probabilities. Use a label-only "
            "signal ('correctness' or 'robustness')"
        )

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Not available: raises :class:`NotImplementedError`."""
        raise NotImplementedError(
            f"{self!r} returns hard labels only; it has no logits. Use a label-only signal "
            "('correctness' or 'robustness')"
        )
