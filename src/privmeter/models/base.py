"""The model-access Protocol and the output checks shared by every adapter.

A *model access* is what an auditor can ask of a model: raw logits (white-box or grey-box),
class probabilities (a prediction API), hard labels only (a label-only API), or per-sample
gradients (full white-box). Signals (:mod:`privmeter.signals`) declare which level they need
and work with any adapter that offers at least that much.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_class_labels

__all__ = [
    "ACCESS_LEVELS",
    "AccessLevel",
    "ModelAccess",
    "Task",
    "WhiteBoxModelAccess",
    "access_rank",
    "check_class_indices",
    "check_labels_output",
    "check_proba",
    "check_scores",
    "describe_rows",
    "log_proba_as_logits",
]

Task = Literal["classification", "regression", "language_model"]
AccessLevel = Literal["label", "proba", "logits", "grad"]

#: Access levels from the weakest to the strongest. A model offering one level also offers
#: every weaker one (logits give probabilities give labels; ``"grad"`` is a white-box model
#: that also gives logits).
ACCESS_LEVELS: tuple[AccessLevel, ...] = ("label", "proba", "logits", "grad")

#: ``log(5e-324)``, the log of the smallest positive float64, rounded down: a probability of
#: exactly zero maps to this finite log-probability.
LOG_TINY = -745.0


def access_rank(level: str) -> int:
    """Position of an access level in :data:`ACCESS_LEVELS` (higher = more access)."""
    try:
        return ACCESS_LEVELS.index(level)
    except ValueError:
        raise ValueError(
            f"unknown access level {level!r}; expected one of {ACCESS_LEVELS}"
        ) from None


@runtime_checkable
class ModelAccess(Protocol):
    """What a signal may ask of a model.

    Attributes
    ----------
    task : {"classification", "regression"}
    n_classes : int or None
        Number of classes of a classifier (``None`` for a regressor, or while unknown).
    access : {"label", "proba", "logits", "grad"}
        The strongest query the model answers (see :data:`ACCESS_LEVELS`).

    Notes
    -----
    Every array returned is float64 (``predict`` of a classifier: int64 class indices, or
    the estimator's own class values for scikit-learn), with one row per input row.
    Methods above the model's access level raise :class:`NotImplementedError` with a message
    naming the adapter and what it can do instead.
    """

    @property
    def task(self) -> Task: ...

    @property
    def n_classes(self) -> int | None: ...

    @property
    def access(self) -> AccessLevel: ...

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Raw class scores, shape ``(n, n_classes)``; ``softmax(logits) = proba``."""
        ...

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Class probabilities, shape ``(n, n_classes)``, rows summing to one."""
        ...

    def predict(self, x: Any) -> NDArray[Any]:
        """Predicted class indices ``(n,)`` (classifiers) or outputs ``(n,)``/``(n, k)``."""
        ...

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Column index of each true label (validates that every label is a known class)."""
        ...


@runtime_checkable
class WhiteBoxModelAccess(ModelAccess, Protocol):
    """A model whose parameters can be differentiated (``access == "grad"``)."""

    def loss(self, x: Any, y: ArrayLike) -> NDArray[np.float64]:
        """Per-sample training loss, shape ``(n,)``."""
        ...

    def per_sample_grad_norm(self, x: Any, y: ArrayLike) -> NDArray[np.float64]:
        """L2 norm of the gradient of each sample's loss w.r.t. the parameters, ``(n,)``."""
        ...


# ----------------------------------------------------------------------------- checks
def describe_rows(mask: ArrayLike, limit: int = 5) -> str:
    """``"rows [3, 7, 9] (12 in total)"`` for the first True entries of a row mask."""
    idx = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    more = f" ({idx.size} in total)" if idx.size > limit else ""
    return f"rows [{shown}]{more}"


def check_scores(
    values: ArrayLike,
    *,
    n_rows: int,
    n_classes: int | None,
    source: str,
    what: str = "logits",
) -> NDArray[np.float64]:
    """Validate a model's ``(n, n_classes)`` score matrix and return it as float64.

    Raises
    ------
    ValueError
        If it is not 2-D, has the wrong number of rows or columns (expected vs got), or holds
        NaN or infinite values (naming the first rows).
    """
    arr = np.asarray(values)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise ValueError(f"{source} returned {what} of non-numeric dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{source} returned {what} of shape {arr.shape}; expected (n_samples, n_classes)"
            f" = ({n_rows}, {n_classes if n_classes is not None else 'n_classes'})"
        )
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{source} returned {arr.shape[0]} rows of {what} for {n_rows} inputs"
        )
    if n_classes is not None and arr.shape[1] != n_classes:
        raise ValueError(
            f"{source} returned {what} with {arr.shape[1]} columns; expected {n_classes} "
            f"(n_classes), got {arr.shape[1]}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = bad.any(axis=1)
        raise ValueError(
            f"{source} returned NaN or infinite {what} in {describe_rows(rows)}"
        )
    return arr


def check_proba(
    values: ArrayLike,
    *,
    n_rows: int,
    n_classes: int | None,
    source: str,
    atol: float = 1e-4,
) -> NDArray[np.float64]:
    """Validate a probability matrix: finite, in ``[0, 1]``, rows summing to one (± ``atol``).

    Raises
    ------
    ValueError
        On any failure of :func:`check_scores`, on values outside ``[0, 1]`` (naming the first
        row and value) or on rows whose sum differs from one by more than ``atol``.
    """
    p = check_scores(values, n_rows=n_rows, n_classes=n_classes, source=source,
                     what="probabilities")
    out = (p < 0.0) | (p > 1.0)
    if out.any():
        rows = out.any(axis=1)
        r, c = np.argwhere(out)[0]
        raise ValueError(
            f"{source} returned probabilities outside [0, 1] in {describe_rows(rows)}; "
            f"first: row {int(r)}, column {int(c)} = {float(p[r, c])!r}"
        )
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        r = int(np.argmax(off))
        raise ValueError(
            f"{source} returned probability rows that do not sum to 1 (tolerance {atol}) in "
            f"{describe_rows(off)}; row {r} sums to {float(sums[r])!r}"
        )
    return p


def check_labels_output(
    values: ArrayLike, *, n_rows: int, n_classes: int, source: str
) -> NDArray[np.int64]:
    """Validate hard labels returned by a label-only model: shape ``(n,)``, integers in range."""
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValueError(
            f"{source} returned labels of shape {arr.shape}; expected ({n_rows},)"
        )
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if bad.any():
                raise ValueError(f"{source} returned NaN or infinite labels in "
                                 f"{describe_rows(bad)}")
            if not np.all(arr == np.round(arr)):
                r = int(np.argmax(arr != np.round(arr)))
                raise ValueError(
                    f"{source} returned non-integer label {arr[r].item()!r} at row {r}"
                )
        else:
            raise ValueError(f"{source} returned labels of non-integer dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    out = (labels < 0) | (labels >= n_classes)
    if out.any():
        r = int(np.argmax(out))
        raise ValueError(
            f"{source} returned label {int(labels[r])} at row {r}, outside the {n_classes} "
            f"classes 0..{n_classes - 1}"
        )
    return labels


def check_class_indices(y: ArrayLike, *, n_classes: int | None, source: str) -> NDArray[np.int64]:
    """Validate integer class labels ``0..n_classes-1`` and return them as int64.

    Raises
    ------
    ValueError
        If the labels are not 1-D integers, or a label is outside the model's classes (the
        message names the first such label).
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    labels = check_class_labels(arr, name=f"labels for {source}")
    if n_classes is None:
        raise ValueError(
            f"{source} does not know its number of classes yet; pass n_classes=... or query "
            "the model once before mapping labels"
        )
    out = (labels < 0) | (labels >= n_classes)
    if out.any():
        r = int(np.argmax(out))
        raise ValueError(
            f"label {int(labels[r])} (at position {r}) is not one of the {n_classes} classes "
            f"0..{n_classes - 1} of {source}"
        )
    return labels


def log_proba_as_logits(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log p`` with zeros mapped to :data:`LOG_TINY`: logits whose softmax is ``p``.

    Any function of ``softmax(z)`` (margin, loss, entropy, ...) gives the same value on these
    as on the model's true logits, up to the float64 rounding of ``p`` itself.
    """
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    return np.maximum(logp, LOG_TINY)
