"""The :class:`Dataset` type, its label helpers, and :func:`split_indices`."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_class_labels, check_int, is_int, is_real, subset_indices

#: The tasks a :class:`Dataset` can hold.
TASKS = ("classification", "regression")
Task = Literal["classification", "regression"]
PathLike = str | os.PathLike[str]
SeedLike = int | np.integer[Any] | np.random.SeedSequence | np.random.Generator | None

_MAX_LISTED = 20  # columns / keys / names listed in an error message


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... ({len(names)} in all)"
    return shown


def _first_rows(rows: NDArray[np.intp], limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (" ..." if len(rows) > limit else "")



def _check_count(name: str, value: Any, minimum: int) -> int:
    return check_int(name, value, minimum=minimum)


def _check_rate(name: str, value: Any, low: float, high: float) -> float:
    if not is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return float(value)



# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features, labels and the metadata a report needs, validated once at construction.

    Parameters
    ----------
    x : array_like of shape (n, n_features) or (n, C, H, W)
        Features (or images, channels first). Stored as C-contiguous float32.
    y : array_like of shape (n,)
        Class labels ``0..n_classes-1`` (stored as int64) for classification, float targets
        (stored as float32) for regression.
    task : {"classification", "regression"}
        Default ``"classification"``.
    n_classes : int, optional
        Number of classes (classification only). Default ``max(y) + 1``.
    feature_names : sequence of str, optional
        One name per feature (``prod(x.shape[1:])`` of them), kept verbatim (they are
        user-provided text: escaping them is the report's job).
    class_names : sequence of str, optional
        One name per class (classification only).
    name : str
        A short name for reports. Default ``"dataset"``.
    image_shape : tuple of int, optional
        ``(C, H, W)`` when the rows are images (also for flat image features, so that a report
        can draw thumbnails). Its product must equal the number of features.

    Raises
    ------
    ValueError
        On non-numeric, non-finite (naming the first rows) or wrongly shaped features, labels
        of the wrong length, non-integer or out-of-range class labels, an unknown task, or
        names/shapes that do not match the data.

    Notes
    -----
    The dataclass is frozen, but the arrays are numpy arrays: do not modify them in place
    (:meth:`fingerprint`, which caches depend on, would change).

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.datasets import Dataset
    >>> ds = Dataset(np.zeros((4, 2)), np.array([0, 1, 1, 0]), class_names=("no", "yes"))
    >>> len(ds), ds.n_classes, ds.x.dtype, ds.y.dtype
    (4, 2, dtype('float32'), dtype('int64'))
    >>> len(ds.subset([0, 2]))
    2
    """

    x: NDArray[Any]
    y: NDArray[Any]
    task: Task = "classification"
    n_classes: int | None = None
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    name: str = "dataset"
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.x)
        if x.dtype.kind not in "biuf":
            raise ValueError(f"x must be numeric, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(
                f"x must have shape (n, n_features) or (n, C, H, W), got shape {x.shape}"
            )
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = x.shape[0]
        n_features = math.prod(x.shape[1:])
        if n and n_features:
            bad_rows = np.flatnonzero(~np.isfinite(x.reshape(n, -1)).all(axis=1))
            if bad_rows.size:
                raise ValueError(
                    f"x has NaN or infinite values in {bad_rows.size} rows; first rows: "
                    f"{_first_rows(bad_rows)}"
                )

        y = np.asarray(self.y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y must have shape ({n},) to match x, got shape {y.shape}")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {TASKS}")

        n_classes: int | None = None
        if self.task == "classification":
            y = _as_class_codes(y)
            if self.n_classes is None:
                n_classes = int(y.max()) + 1 if n else 0
            else:
                n_classes = check_int("n_classes", self.n_classes, minimum=1)
            out = np.flatnonzero((y < 0) | (y >= max(n_classes, 0)))
            if out.size:
                raise ValueError(
                    f"class labels must lie in [0, {n_classes - 1}] (n_classes={n_classes}); "
                    f"row {int(out[0])} has label {int(y[out[0]])} ({out.size} rows out of range)"
                )
        else:
            if self.n_classes is not None or self.class_names is not None:
                raise ValueError("n_classes and class_names are for classification only")
            if y.dtype.kind not in "biuf":
                raise ValueError(f"regression targets must be numeric, got dtype {y.dtype}")
            y = np.ascontiguousarray(y, dtype=np.float32)
            bad_rows = np.flatnonzero(~np.isfinite(y))
            if bad_rows.size:
                raise ValueError(
                    f"y has NaN or infinite targets in {bad_rows.size} rows; first rows: "
                    f"{_first_rows(bad_rows)}"
                )

        feature_names = None
        if self.feature_names is not None:
            if isinstance(self.feature_names, str):
                raise ValueError("feature_names must be a sequence of names, not one string")
            feature_names = tuple(str(s) for s in self.feature_names)
            if len(feature_names) != n_features:
                raise ValueError(
                    f"got {len(feature_names)} feature_names for {n_features} features"
                )
        class_names = None
        if self.class_names is not None:
            if isinstance(self.class_names, str):
                raise ValueError("class_names must be a sequence of names, not one string")
            class_names = tuple(str(s) for s in self.class_names)
            if len(class_names) != n_classes:
                raise ValueError(f"got {len(class_names)} class_names for {n_classes} classes")
        image_shape = None
        if self.image_shape is not None:
            image_shape = tuple(int(s) for s in self.image_shape)
            if math.prod(image_shape) != n_features or (x.ndim > 2 and x.shape[1:] != image_shape):
                raise ValueError(f"image_shape {image_shape} does not match x of shape {x.shape}")

        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "n_classes", n_classes)
        object.__setattr__(self, "feature_names", feature_names)
        object.__setattr__(self, "class_names", class_names)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "image_shape", image_shape)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.task == "classification" else ""
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, x={self.x.shape} {self.x.dtype}, "
            f"task={self.task!r}{classes})"
        )

    @property
    def n_features(self) -> int:
        """Number of features per row (``prod(x.shape[1:])``)."""
        return math.prod(self.x.shape[1:])

    def fingerprint(self) -> str:
        """Hex sha256 of the content: shapes, dtypes and bytes of ``x`` and ``y``.

        Two datasets with the same arrays have the same fingerprint whatever their names;
        caches key on it.

        Examples
        --------
        >>> import numpy as np
        >>> from privmeter.datasets import Dataset
        >>> a = Dataset(np.ones((3, 2)), np.array([0, 1, 0]), name="a")
        >>> b = Dataset(np.ones((3, 2)), np.array([0, 1, 0]), name="b")
        >>> a.fingerprint() == b.fingerprint()
        True
        >>> len(a.fingerprint())
        64
        """
        h = hashlib.sha256()
        for label, arr in (("x", self.x), ("y", self.y)):
            arr = np.ascontiguousarray(arr)
            h.update(f"{label}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.data.cast("B"))
        return h.hexdigest()

    def subset(self, indices: ArrayLike) -> Dataset:
        """The rows at ``indices`` (integer indices or a boolean mask), metadata unchanged.

        Parameters
        ----------
        indices : array_like of int or bool
            Row indices in ``[0, len(self))`` (repeats allowed), or a boolean mask of length
            ``len(self)``.

        Raises
        ------
        IndexError
            If an index is out of range (negative indices are refused too).
        ValueError
            If the mask has the wrong length or the indices are not integers.

        Examples
        --------
        >>> from privmeter.datasets import load_dataset
        >>> ds = load_dataset("iris")
        >>> sub = ds.subset([0, 50, 100])
        >>> sub.y.tolist(), sub.class_names
        ([0, 1, 2], ('setosa', 'versicolor', 'virginica'))
        """
        idx = subset_indices(indices, len(self), what="rows")
        return Dataset(
            x=self.x[idx],
            y=self.y[idx],
            task=self.task,
            n_classes=self.n_classes,
            feature_names=self.feature_names,
            class_names=self.class_names,
            name=self.name,
            image_shape=self.image_shape,
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (name, size, shapes, task, classes, fingerprint).

        Examples
        --------
        >>> from privmeter.datasets import load_dataset
        >>> load_dataset("wine").summary()["n_classes"]
        3
        """
        return {
            "name": self.name,
            "n": len(self),
            "x_shape": list(self.x.shape),
            "task": self.task,
            "n_classes": self.n_classes,
            "class_names": None if self.class_names is None else list(self.class_names),
            "image_shape": None if self.image_shape is None else list(self.image_shape),
            "fingerprint": self.fingerprint(),
        }


def _as_class_codes(y: NDArray[Any]) -> NDArray[np.int64]:
    """Integer class codes from integer, boolean or integer-valued float labels."""
    try:
        return np.ascontiguousarray(check_class_labels(y, name="class labels"))
    except ValueError as exc:
        hint = (
            "for real-valued targets use task='regression'"
            if y.dtype.kind == "f"
            else "string labels: encode them as 0..C-1 and pass class_names"
        )
        raise ValueError(f"{exc} ({hint})") from None


def _encode_labels(values: Sequence[str]) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Map text labels to ``0..C-1``: numeric order when all are numbers, else sorted text.

    ``class_names`` keeps each class's first spelling (``"1"`` and ``"1.0"`` are one class).
    """
    distinct = list(dict.fromkeys(values))
    key_of: dict[str, float | str]
    try:
        key_of = {v: float(v) for v in distinct}
        numeric = all(math.isfinite(float(k)) for k in key_of.values())
    except ValueError:
        numeric = False
    if not numeric:
        key_of = {v: v for v in distinct}
    name_of_key: dict[float | str, str] = {}
    for v in distinct:
        name_of_key.setdefault(key_of[v], v)
    keys = sorted(name_of_key, key=lambda k: (float(k) if numeric else 0.0, str(k)))
    code_of_key = {k: i for i, k in enumerate(keys)}
    codes = np.fromiter((code_of_key[key_of[v]] for v in values), dtype=np.int64, count=len(values))
    return codes, tuple(name_of_key[k] for k in keys)



# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def split_indices(
    n: int,
    sizes: Sequence[int] | Sequence[float],
    seed: SeedLike,
) -> tuple[NDArray[np.int64], ...]:
    """Disjoint random index sets of ``range(n)``, e.g. target-train / population / audit.

    Parameters
    ----------
    n : int
        Number of rows.
    sizes : sequence of int or of float
        Sizes of the parts (all integers), or fractions of ``n`` (otherwise; each in
        ``[0, 1]``). Fractions are floored; when they sum to 1 the rows left over by rounding
        go to the parts with the largest remainders, so every row is used. Parts may leave
        rows unused.
    seed : int, numpy Generator or SeedSequence, or None
        Randomness (``np.random.default_rng(seed)``); ``None`` is not reproducible.

    Returns
    -------
    tuple of ndarray of int64
        One sorted index array per part, pairwise disjoint.

    Raises
    ------
    ValueError
        If sizes are negative, the sizes sum to more than ``n`` or the fractions to more
        than 1 (both numbers are given).

    Examples
    --------
    >>> from privmeter.datasets import split_indices
    >>> a, b, c = split_indices(10, [5, 3, 2], seed=0)
    >>> len(a), len(b), len(c), len(set(a) | set(b) | set(c))
    (5, 3, 2, 10)
    >>> [len(p) for p in split_indices(11, [0.5, 0.5], seed=0)]
    [6, 5]
    """
    n = check_int("n", n, minimum=0)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise ValueError(f"sizes must be a sequence of sizes or fractions, got {sizes!r}")
    values = list(sizes)
    if not values:
        raise ValueError("sizes must not be empty")
    for v in values:
        if not is_real(v):
            raise ValueError(f"sizes must be numbers, got {v!r}")
        if not math.isfinite(float(v)) or v < 0:
            raise ValueError(f"sizes must be non-negative and finite, got {v!r}")
    if all(is_int(v) for v in values):
        counts = [int(v) for v in values]
        if sum(counts) > n:
            raise ValueError(
                f"sizes {counts} sum to {sum(counts)}, more than the n={n} rows available"
            )
    else:
        fracs = [float(v) for v in values]
        total = math.fsum(fracs)
        if any(f > 1.0 for f in fracs) or total > 1.0 + 1e-9:
            raise ValueError(f"fractions {fracs} sum to {total:g}, more than 1 (of n={n} rows)")
        counts = [math.floor(f * n + 1e-9) for f in fracs]
        if abs(total - 1.0) <= 1e-9:
            left = n - sum(counts)
            remainders = [f * n - c for f, c in zip(fracs, counts, strict=True)]
            order = sorted(range(len(fracs)), key=lambda i: (-remainders[i], i))
            for i in order[: max(left, 0)]:
                counts[i] += 1
        if sum(counts) > n:  # pragma: no cover - guarded by the fraction check
            raise ValueError(f"sizes {counts} sum to {sum(counts)}, more than n={n}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n).astype(np.int64)
    bounds = np.cumsum([0, *counts])
    return tuple(np.sort(perm[bounds[i] : bounds[i + 1]]) for i in range(len(counts)))


