"""One check per kind of value, shared by every module (a leaf: numpy only).

Each function returns the value in its canonical type (``int``, ``float``, ``bool``, a
boolean or ``int64`` array) or raises :class:`ValueError` with a message naming the
argument, the problem and the offending value. Bools are never accepted as numbers (``True``
is not a count, a seed or a confidence) and numpy scalar types are accepted wherever the
corresponding Python type is.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "as_membership",
    "check_bool",
    "check_class_labels",
    "check_fraction",
    "check_indices",
    "check_int",
    "check_optional_int",
    "check_seed",
    "is_int",
    "is_real",
    "subset_indices",
]


def is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """Whether ``value`` is an integer (Python or numpy), bools excluded.

    Examples
    --------
    >>> is_int(3), is_int(np.int32(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """Whether ``value`` is a real number (Python or numpy int or float), bools excluded.

    NaN and infinities are numbers here; check finiteness separately where it matters.

    Examples
    --------
    >>> is_real(0.5), is_real(np.float32(0.5)), is_real(2), is_real(True), is_real("0.5")
    (True, True, True, False, False)
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _int_kind(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    if minimum == 0:
        return "a non-negative integer"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int``, refusing bools, non-integers and values outside the bounds.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        The value to check: a Python or numpy integer.
    minimum, maximum : int, optional
        Inclusive bounds.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``value`` is a bool, not an integer, or out of bounds; the message shows it.

    Examples
    --------
    >>> check_int("epochs", np.int64(3), minimum=1)
    3
    >>> check_int("epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer, got 0
    >>> check_int("n_models", True, minimum=2)
    Traceback (most recent call last):
    ...
    ValueError: n_models must be an integer >= 2, got True
    """
    if not is_int(value):
        raise ValueError(f"{name} must be {_int_kind(minimum, maximum)}, got {value!r}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ValueError(f"{name} must be {_int_kind(minimum, maximum)}, got {v}")
    return v


def check_optional_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """:func:`check_int`, with ``None`` passed through (and named in the message).

    Examples
    --------
    >>> check_optional_int("num_threads", None, minimum=1) is None
    True
    >>> check_optional_int("num_threads", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: num_threads must be a positive integer or None, got 0
    """
    if value is None:
        return None
    if not is_int(value) or not (
        (minimum is None or int(value) >= minimum) and (maximum is None or int(value) <= maximum)
    ):
        raise ValueError(f"{name} must be {_int_kind(minimum, maximum)} or None, got {value!r}")
    return int(value)


def check_seed(value: object) -> int:
    """A seed as an ``int``: a non-negative integer (numpy integers accepted, bools not).

    Raises
    ------
    ValueError
        For every refused value (``-1``, ``1.5``, ``True``, ``"0"``), showing it.

    Examples
    --------
    >>> check_seed(np.uint32(7))
    7
    >>> check_seed(1.5)
    Traceback (most recent call last):
    ...
    ValueError: seed must be a non-negative integer, got 1.5
    """
    return check_int("seed", value, minimum=0)


def check_fraction(
    name: str, value: object, *, open_low: bool = True, open_high: bool = True
) -> float:
    """``value`` as a ``float`` in the unit interval (a confidence, a delta, a fraction).

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : object
        A Python or numpy number; bools, strings and NaN are refused.
    open_low, open_high : bool
        Whether 0 (respectively 1) is excluded.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a number in the interval; the message shows the interval and it.

    Examples
    --------
    >>> check_fraction("confidence", 0.95)
    0.95
    >>> check_fraction("delta", 0, open_low=False)
    0.0
    >>> check_fraction("confidence", 1.0)
    Traceback (most recent call last):
    ...
    ValueError: confidence must be a number in (0, 1), got 1.0
    """
    interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    if ok:
        v = float(value)  # type: ignore[arg-type]
        low_ok = v > 0.0 if open_low else v >= 0.0
        high_ok = v < 1.0 if open_high else v <= 1.0
        if low_ok and high_ok:  # NaN fails both
            return v
    raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


def check_bool(name: str, value: object) -> bool:
    """``value`` as a ``bool``: ``True`` or ``False`` (numpy bools accepted, 0/1 not).

    Examples
    --------
    >>> check_bool("online", np.bool_(True))
    True
    >>> check_bool("online", 1)
    Traceback (most recent call last):
    ...
    ValueError: online must be True or False, got 1
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating))


def _index(flat: int, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return str(flat)
    return str(tuple(int(i) for i in np.unravel_index(flat, shape)))


def as_membership(name: str, array: ArrayLike) -> NDArray[np.bool_]:
    """A membership array as booleans: bools kept, 0/1 numbers converted, anything else refused.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    array : array_like
        Booleans, or numbers that are all exactly 0 or 1 (any shape).

    Returns
    -------
    ndarray of bool
        Same shape as ``array``.

    Raises
    ------
    ValueError
        If the dtype is neither boolean nor numeric, or a value is not 0 or 1; the message
        shows the first such value and its index.

    Examples
    --------
    >>> as_membership("labels", [1, 0, 1])
    array([ True, False,  True])
    >>> as_membership("labels", [1, 0, 2])
    Traceback (most recent call last):
    ...
    ValueError: labels must be boolean (or 0/1), got 2 at index 2
    """
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iuf":
        example = ""
        if arr.size:
            values = arr.ravel().tolist()
            first = next(
                (i for i, v in enumerate(values) if not (_is_number(v) and v in (0, 1))), 0
            )
            example = f" ({values[first]!r} at index {_index(first, arr.shape)})"
        raise ValueError(f"{name} must be boolean (or 0/1), got dtype {arr.dtype}{example}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        first = int(np.argmax(bad.ravel()))
        value = arr.ravel()[first].item()
        raise ValueError(
            f"{name} must be boolean (or 0/1), got {value!r} at index {_index(first, arr.shape)}"
        )
    return arr.astype(bool)


def check_indices(
    name: str,
    array: ArrayLike,
    n: int,
    *,
    distinct: bool = False,
    allow_empty: bool = False,
) -> NDArray[np.int64]:
    """Row indices into ``n`` rows: 1-D, integer dtype, in ``[0, n)``, optionally distinct.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    array : array_like
        The indices. A boolean mask is refused (pass ``np.flatnonzero(mask)``).
    n : int
        Number of rows indexed.
    distinct : bool
        Refuse an index listed more than once.
    allow_empty : bool
        Accept an empty array.

    Returns
    -------
    ndarray of int64
        The indices, in their given order.

    Raises
    ------
    ValueError
        Naming the offending shape, dtype or (first) value.

    Examples
    --------
    >>> check_indices("indices", np.array([3, 0], dtype=np.uint8), 5)
    array([3, 0])
    >>> check_indices("indices", [0, 5], 5)
    Traceback (most recent call last):
    ...
    ValueError: indices must lie in [0, 4] (the dataset has 5 rows); got 5
    >>> check_indices("indices", [1, 1], 5, distinct=True)
    Traceback (most recent call last):
    ...
    ValueError: indices: row index 1 is listed more than once
    """
    idx = np.asarray(array)
    if idx.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {idx.shape}")
    if idx.dtype == np.bool_:
        raise ValueError(
            f"{name} must be integer indices, got a boolean mask; use np.flatnonzero(mask)"
        )
    if idx.size == 0 and allow_empty:
        return idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {idx.dtype}")
    if idx.size == 0:
        raise ValueError(f"{name} is empty: a model needs at least one training point")
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        n_bad = int(bad.sum())
        more = f" (and {n_bad - 1} more)" if n_bad > 1 else ""
        raise ValueError(
            f"{name} must lie in [0, {n - 1}] (the dataset has {n} rows); got "
            f"{int(idx[bad][0])}{more}"
        )
    out = idx.astype(np.int64, copy=False)
    if distinct:
        values, counts = np.unique(out, return_counts=True)
        if (counts > 1).any():  # the smallest duplicated index
            raise ValueError(
                f"{name}: row index {int(values[counts > 1][0])} is listed more than once"
            )
    return out


def check_class_labels(
    labels: ArrayLike,
    shape: tuple[int, ...] | None = None,
    n_classes: int | None = None,
    *,
    name: str = "labels",
) -> NDArray[np.int64]:
    """Class labels as int64 class indices, or a clear ``ValueError``.

    The one class-label check (signal maths, :class:`~privmeter.table.SignalTable`, model
    adapters, :class:`~privmeter.datasets.Dataset`): integer and boolean labels pass, float
    labels pass only if every value is a finite whole number (``1.0``; ``0.7``, ``nan`` and
    ``inf`` are refused, never truncated), anything else is refused.

    Parameters
    ----------
    labels : array_like
    shape : tuple of int, optional
        The shape the labels must have.
    n_classes : int, optional
        Labels must lie in ``0..n_classes-1``.
    name : str
        What the labels are called in the message. Default ``"labels"``.

    Raises
    ------
    ValueError
        Naming the offending shape, value (and its index) or dtype.

    Examples
    --------
    >>> check_class_labels([1.0, 0.0])
    array([1, 0])
    >>> check_class_labels([0.7, 1.9])
    Traceback (most recent call last):
        ...
    ValueError: labels must be integer class indices, got 0.7 at index 0 (dtype float64)
    >>> check_class_labels([0, np.inf], name="y")
    Traceback (most recent call last):
        ...
    ValueError: y must be integer class indices, got inf at index 1 (dtype float64)
    """
    y = np.asarray(labels)
    if shape is not None and y.shape != shape:
        raise ValueError(f"{name} have shape {y.shape}, expected {shape}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind != "f":
            raise ValueError(f"{name} must be integer class indices, got dtype {y.dtype}")
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(y) & (y == np.round(y))
        if not np.all(whole):
            at = np.argwhere(~whole)[0]
            where = ", ".join(str(int(i)) for i in at)
            raise ValueError(
                f"{name} must be integer class indices, got {float(y[tuple(at)])!r} at index "
                f"{where} (dtype {y.dtype})"
            )
    y = y.astype(np.int64)
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)].ravel()[0]
        raise ValueError(f"label {int(bad)} is outside the {n_classes} classes")
    return y


def subset_indices(indices: ArrayLike, n: int, *, what: str = "rows") -> NDArray[np.intp]:
    """Row indices for ``subset``: integers (repeats allowed) or a boolean mask of ``n``.

    Raises
    ------
    ValueError
        For a mask of the wrong length, non-integer or multi-dimensional indices.
    IndexError
        For an index outside ``[0, n)`` (the message names it and ``what``).

    Examples
    --------
    >>> subset_indices([True, False, True], 3).tolist()
    [0, 2]
    >>> subset_indices([5], 3, what="texts")
    Traceback (most recent call last):
    ...
    IndexError: index 5 is out of range for a dataset of 3 texts
    """
    idx = np.asarray(indices)
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise ValueError(f"boolean mask must have shape ({n},), got {idx.shape}")
        idx = np.flatnonzero(idx)
    elif idx.size == 0:
        idx = idx.astype(np.intp).reshape(0)
    elif idx.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers or a boolean mask, got dtype {idx.dtype}")
    if idx.ndim != 1:
        raise ValueError(f"indices must be one-dimensional, got shape {idx.shape}")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise IndexError(f"index {int(idx[bad[0]])} is out of range for a dataset of {n} {what}")
    return idx.astype(np.intp)
