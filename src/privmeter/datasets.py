"""Built-in offline datasets and loaders for user files.

Everything here works without a network: the built-in datasets come from data shipped inside
scikit-learn (``digits``, ``breast_cancer``, ``diabetes``, ``wine``, ``iris``) or are generated
from a seed (``synthetic_purchase``, ``synthetic_gaussian``). User data is read from ``.npz``,
CSV, the CIFAR-10/100 python batches, and the Purchase-100 / Texas-100 text formats.

Untrusted files are never unpickled freely: ``.npz`` archives are read with
``allow_pickle=False`` and the CIFAR pickles with :class:`RestrictedUnpickler`, which only
rebuilds numpy arrays.

Examples
--------
>>> from privmeter.datasets import load_dataset, split_indices
>>> ds = load_dataset("digits")
>>> ds.x.shape, ds.x.dtype, ds.n_classes
((1797, 1, 8, 8), dtype('float32'), 10)
>>> train, population = split_indices(len(ds), [0.5, 0.5], seed=0)
>>> len(train), len(population)
(899, 898)
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import importlib
import inspect
import math
import os
import pickle
import stat
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "TASKS",
    "Dataset",
    "RestrictedUnpickler",
    "list_datasets",
    "load_cifar",
    "load_csv",
    "load_dataset",
    "load_npz",
    "load_purchase",
    "load_texas",
    "register_dataset",
    "split_indices",
]

#: The tasks a :class:`Dataset` can hold.
TASKS = ("classification", "regression")
Task = Literal["classification", "regression"]
PathLike = str | os.PathLike[str]
SeedLike = int | np.integer[Any] | np.random.SeedSequence | np.random.Generator | None

_MAX_LISTED = 20  # columns / keys / names listed in an error message


# --------------------------------------------------------------------------------------------
# Small helpers for error messages
# --------------------------------------------------------------------------------------------


def _close_names(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> list[str]:
    """The candidates closest to ``name``, all of them when several are equally close.

    A candidate equal to ``name`` up to case and surrounding whitespace wins outright;
    otherwise the candidates with the highest :class:`difflib.SequenceMatcher` ratio (at
    least ``cutoff``, as :func:`difflib.get_close_matches` computes it) are returned, in
    the order given. ``'lria'`` is as close to ``'lira'`` as to ``'rmia'``, so both come back.
    """
    cands = list(dict.fromkeys(str(c) for c in candidates))
    name = str(name)
    norm = name.strip().lower()
    same = [c for c in cands if c.strip().lower() == norm]
    if same:
        return same[:1]
    scored: list[tuple[float, str]] = []
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(name)
    for c in cands:
        matcher.set_seq1(c)
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, c))
    if not scored:
        return []
    best = max(r for r, _ in scored)
    return [c for r, c in scored if math.isclose(r, best, rel_tol=1e-12, abs_tol=1e-12)]


def _closest_names(
    name: str, candidates: Iterable[str], cutoff: float = 0.6, prefix: str = ""
) -> str | None:
    """``"'a'"``, ``"'a' or 'b'"`` or ``"'a', 'b' or 'c'"``: the closest candidates, quoted.

    ``None`` when no candidate is close enough (see :func:`_close_names`); ``prefix`` is
    put before each name (``'data.'`` for a config key).
    """
    close = [repr(prefix + c) for c in _close_names(name, candidates, cutoff)]
    if not close:
        return None
    return close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    # 0.7: typos (lable, labl, klass) but not unrelated names ('target' vs 'worst_area')
    close = _closest_names(name, candidates, cutoff=0.7)
    return f"; did you mean {close}?" if close is not None else ""


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        shown += f", ... ({len(names)} in all)"
    return shown


def _first_rows(rows: NDArray[np.intp], limit: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (" ..." if len(rows) > limit else "")


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
                if isinstance(self.n_classes, bool) or not isinstance(
                    self.n_classes, (int, np.integer)
                ):
                    raise ValueError(f"n_classes must be an integer, got {self.n_classes!r}")
                n_classes = int(self.n_classes)
                if n_classes < 1:
                    raise ValueError(f"n_classes must be at least 1, got {n_classes}")
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
        idx = np.asarray(indices)
        n = len(self)
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
            raise IndexError(f"index {int(idx[bad[0]])} is out of range for a dataset of {n} rows")
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
    if y.dtype.kind in "biu":
        return np.ascontiguousarray(y, dtype=np.int64)
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise ValueError(
                f"class labels must be integers; row {int(bad[0])} has {float(y[bad[0]])!r} (for "
                "real-valued targets use task='regression')"
            )
        return np.ascontiguousarray(y, dtype=np.int64)
    raise ValueError(
        f"class labels must be integers, got dtype {y.dtype} (string labels: encode them as "
        "0..C-1 and pass class_names)"
    )


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
# Registry and built-in datasets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    loader: Callable[..., Dataset]
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_dataset(
    name: str,
    loader: Callable[..., Dataset],
    *,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make ``load_dataset(name, **options)`` call ``loader(**options)``.

    Parameters
    ----------
    name : str
        Registry name (lower case, ``_`` between words by convention).
    loader : callable
        Takes keyword options only and returns a :class:`Dataset`.
    description : str
        One line for listings.
    overwrite : bool
        Replace an existing entry instead of raising ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.datasets import Dataset, load_dataset, register_dataset
    >>> def tiny(*, n: int = 4) -> Dataset:
    ...     return Dataset(np.zeros((n, 1)), np.zeros(n, dtype=int), name="tiny")
    >>> register_dataset("tiny_example", tiny, description="four zeros")
    >>> len(load_dataset("tiny_example", n=3))
    3
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"dataset {name!r} is already registered (pass overwrite=True)")
    if not callable(loader):
        raise TypeError(f"loader must be callable, got {type(loader).__name__}")
    _REGISTRY[name] = _Entry(loader=loader, description=description)


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted (all load offline, without arguments).

    Examples
    --------
    >>> from privmeter.datasets import list_datasets
    >>> [n for n in list_datasets() if not n.startswith("tiny")]  # doctest: +NORMALIZE_WHITESPACE
    ['breast_cancer', 'diabetes', 'digits', 'iris', 'synthetic_gaussian', 'synthetic_purchase',
     'wine']
    """
    return sorted(_REGISTRY)


def load_dataset(name: str, **options: Any) -> Dataset:
    """Load a registered dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (``-`` is accepted for ``_`` and case is ignored).
    **options
        Keyword options of that dataset (e.g. ``flat=True`` for ``digits``, ``n``/``seed``
        for the synthetic ones).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones and suggesting the closest).
    TypeError
        For an option the dataset does not take (listing the ones it takes).
    ImportError
        If a built-in needs scikit-learn and it is not installed.

    Examples
    --------
    >>> from privmeter.datasets import load_dataset
    >>> load_dataset("digits", flat=True).x.shape
    (1797, 64)
    >>> ds = load_dataset("synthetic_gaussian", n=100, d=3, n_classes=4, seed=1)
    >>> ds.x.shape, ds.n_classes
    ((100, 3), 4)
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {name!r}")
    key = name if name in _REGISTRY else name.strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        known = list_datasets()
        raise ValueError(
            f"unknown dataset {name!r}{_did_you_mean(key, known)} Known datasets: "
            f"{', '.join(known)}. Files are read with load_npz, load_csv, load_cifar, "
            "load_purchase and load_texas."
        )
    loader = _REGISTRY[key].loader
    try:
        sig = inspect.signature(loader)
    except (TypeError, ValueError):  # builtins without a signature: let the call check
        sig = None
    if sig is not None:
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
        accepted = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        unknown = [k for k in options if k not in accepted]
        if unknown and not takes_any:
            hint = _did_you_mean(unknown[0], accepted)
            raise TypeError(
                f"dataset {key!r} has no option {unknown[0]!r}{hint} Its options: "
                f"{', '.join(accepted) or '(none)'}"
            )
    return loader(**options)


def _sklearn_datasets() -> Any:
    try:
        return importlib.import_module("sklearn.datasets")
    except ImportError as err:  # pragma: no cover - scikit-learn is installed in the tests
        raise ImportError(
            "the built-in datasets digits, breast_cancer, diabetes, wine and iris are read from "
            "scikit-learn's bundled files: pip install 'privmeter[sklearn]'"
        ) from err


def _standardize(x: NDArray[np.float64]) -> NDArray[np.float64]:
    std = x.std(axis=0)
    std[std == 0] = 1.0
    out: NDArray[np.float64] = (x - x.mean(axis=0)) / std
    return out


def _load_digits(*, flat: bool = False) -> Dataset:
    """8x8 handwritten digits (1,797 images, 10 classes), pixels scaled to [0, 1].

    ``flat=False`` gives images of shape (n, 1, 8, 8); ``flat=True`` gives (n, 64) features
    (``image_shape`` is ``(1, 8, 8)`` either way).
    """
    data = _sklearn_datasets().load_digits()
    images = np.asarray(data.images, dtype=np.float64) / 16.0
    n = images.shape[0]
    x = images.reshape(n, 64) if flat else images.reshape(n, 1, 8, 8)
    return Dataset(
        x=x,
        y=np.asarray(data.target),
        n_classes=10,
        feature_names=tuple(str(s) for s in data.feature_names),
        class_names=tuple(str(s) for s in data.target_names),
        name="digits",
        image_shape=(1, 8, 8),
    )


def _tabular(loader_name: str, name: str, *, standardize: bool) -> Dataset:
    data = getattr(_sklearn_datasets(), loader_name)()
    x = np.asarray(data.data, dtype=np.float64)
    if standardize:
        x = _standardize(x)
    return Dataset(
        x=x,
        y=np.asarray(data.target),
        n_classes=len(data.target_names),
        feature_names=tuple(str(s) for s in data.feature_names),
        class_names=tuple(str(s) for s in data.target_names),
        name=name,
    )


def _load_breast_cancer(*, standardize: bool = True) -> Dataset:
    """Wisconsin breast cancer (569 rows, 30 features, malignant/benign).

    Features are standardised (zero mean, unit variance over the whole set) by default.
    """
    return _tabular("load_breast_cancer", "breast_cancer", standardize=standardize)


def _load_wine(*, standardize: bool = True) -> Dataset:
    """Wine recognition (178 rows, 13 features, 3 classes), standardised by default."""
    return _tabular("load_wine", "wine", standardize=standardize)


def _load_iris(*, standardize: bool = False) -> Dataset:
    """Iris (150 rows, 4 features in cm, 3 classes)."""
    return _tabular("load_iris", "iris", standardize=standardize)


def _load_diabetes(*, scaled: bool = True) -> Dataset:
    """Diabetes progression (442 rows, 10 features): a regression task.

    ``scaled=True`` keeps scikit-learn's mean-centred, norm-scaled features.
    """
    data = _sklearn_datasets().load_diabetes(scaled=scaled)
    return Dataset(
        x=np.asarray(data.data, dtype=np.float64),
        y=np.asarray(data.target, dtype=np.float64),
        task="regression",
        feature_names=tuple(str(s) for s in data.feature_names),
        name="diabetes",
    )


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_rate(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return float(value)


def _load_synthetic_purchase(
    *,
    n: int = 10_000,
    n_features: int = 600,
    n_classes: int = 100,
    flip_rate: float = 0.4,
    density: float = 0.5,
    seed: int = 0,
) -> Dataset:
    """A generated task shaped like Purchase-100 (binary features, many classes).

    Each class has a random binary prototype (each bit 1 with probability ``density``); a
    point is its class's prototype with every bit flipped independently with probability
    ``flip_rate``. Classes are balanced (sizes differ by at most one). With the defaults a
    one-hidden-layer MLP trained on 5,000 points fits them perfectly and reaches about 75%
    test accuracy: the generalisation gap that membership inference feeds on.
    """
    n = _check_count("n", n, 1)
    n_features = _check_count("n_features", n_features, 1)
    n_classes = _check_count("n_classes", n_classes, 2)
    flip_rate = _check_rate("flip_rate", flip_rate, 0.0, 0.5)
    density = _check_rate("density", density, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    prototypes = rng.random((n_classes, n_features)) < density
    y = rng.permutation(np.arange(n) % n_classes)
    flips = rng.random((n, n_features), dtype=np.float32) < flip_rate
    x = np.logical_xor(prototypes[y], flips).astype(np.float32)
    return Dataset(x=x, y=y, n_classes=n_classes, name="synthetic_purchase")


def _load_synthetic_gaussian(
    *,
    n: int = 1_000,
    d: int = 10,
    n_classes: int = 2,
    class_sep: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """Gaussian blobs: class means ~ N(0, class_sep^2 I_d), points = mean + N(0, I_d).

    Classes are balanced (sizes differ by at most one). Small and fast, for tests.
    """
    n = _check_count("n", n, 1)
    d = _check_count("d", d, 1)
    n_classes = _check_count("n_classes", n_classes, 2)
    if not isinstance(class_sep, (int, float, np.floating, np.integer)) or class_sep < 0:
        raise ValueError(f"class_sep must be a non-negative number, got {class_sep!r}")
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, float(class_sep), size=(n_classes, d))
    y = rng.permutation(np.arange(n) % n_classes)
    x = means[y] + rng.normal(0.0, 1.0, size=(n, d))
    return Dataset(x=x, y=y, n_classes=n_classes, name="synthetic_gaussian")


register_dataset("digits", _load_digits, description="8x8 digit images, 10 classes (sklearn)")
register_dataset(
    "breast_cancer", _load_breast_cancer, description="breast cancer, 30 features, 2 classes"
)
register_dataset("diabetes", _load_diabetes, description="diabetes progression (regression)")
register_dataset("wine", _load_wine, description="wine recognition, 13 features, 3 classes")
register_dataset("iris", _load_iris, description="iris, 4 features, 3 classes")
register_dataset(
    "synthetic_purchase",
    _load_synthetic_purchase,
    description="generated Purchase-100-like task: 600 binary features, 100 classes",
)
register_dataset(
    "synthetic_gaussian", _load_synthetic_gaussian, description="seeded Gaussian blobs"
)


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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise ValueError(f"sizes must be a sequence of sizes or fractions, got {sizes!r}")
    values = list(sizes)
    if not values:
        raise ValueError("sizes must not be empty")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"sizes must be numbers, got {v!r}")
        if not math.isfinite(float(v)) or v < 0:
            raise ValueError(f"sizes must be non-negative and finite, got {v!r}")
    if all(isinstance(v, (int, np.integer)) for v in values):
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


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - doors, whiteouts...


def _existing_file(path: PathLike, what: str) -> Path:
    """``path`` if it is a regular file; never opened here, so a FIFO cannot hang us."""
    p = Path(os.fspath(path)).expanduser()
    try:
        mode = p.stat().st_mode  # follows symlinks: a link to a regular file is fine
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {p}") from None
    except OSError as exc:
        raise ValueError(f"{what} {p} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{what} {p} is a directory, expected a file")
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{what} {p} is {_file_kind(mode)}, not a regular file; refusing to read it"
        )
    return p


def load_npz(
    path: PathLike,
    x_key: str = "x",
    y_key: str = "y",
    *,
    task: Literal["auto", "classification", "regression"] = "auto",
    name: str | None = None,
) -> Dataset:
    """Read features and labels from a numpy ``.npz`` archive (never unpickling anything).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file (``np.savez`` / ``np.savez_compressed``).
    x_key, y_key : str
        Names of the feature and label arrays in the archive.
    task : {"auto", "classification", "regression"}
        ``"auto"``: integer, boolean or text labels are classes, float labels are regression
        targets. Pass ``"classification"`` for class labels stored as floats.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    Dataset
        Non-negative integer labels are kept as they are (``n_classes = max + 1``); other
        labels (text, negative) are mapped to ``0..C-1`` in sorted order, keeping
        ``class_names``. A ``class_names`` (or ``feature_names``) string array in the archive
        is used when present. 4-D ``x`` is taken as images ``(n, C, H, W)``; values are
        converted to float32 unchanged (no scaling).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not an ``.npz`` archive, a key is missing (listing the keys present),
        or an array holds Python objects (which would need unpickling).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from privmeter.datasets import load_npz
    >>> path = os.path.join(tempfile.mkdtemp(), "data.npz")
    >>> np.savez(path, x=np.random.default_rng(0).random((5, 3)), y=np.array([0, 1, 2, 1, 0]))
    >>> ds = load_npz(path)
    >>> ds.x.shape, ds.n_classes, ds.name
    ((5, 3), 3, 'data')
    """
    p = _existing_file(path, "npz file")
    if task not in ("auto", *TASKS):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    try:
        archive = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{p}: not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{p}: expected an .npz archive (np.savez), found a single .npy array")
    with archive:
        keys = list(archive.files)

        def read(key: str, required: bool) -> NDArray[Any] | None:
            if key not in keys:
                if not required:
                    return None
                raise ValueError(
                    f"{p}: no array named {key!r}{_did_you_mean(key, keys)} Arrays in the file: "
                    f"{_listing(keys) or '(none)'}"
                )
            try:
                return np.asarray(archive[key])
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ValueError(f"{p}: cannot read array {key!r} ({err})") from None
            except ValueError as err:
                if "allow_pickle" in str(err) or "Object arrays" in str(err):
                    raise ValueError(
                        f"{p}: array {key!r} holds Python objects (dtype=object); refusing to "
                        "unpickle it. Save numeric (or fixed-width string) arrays instead."
                    ) from None
                raise ValueError(f"{p}: cannot read array {key!r} ({err})") from None

        x = read(x_key, True)
        y = read(y_key, True)
        class_names_arr = read("class_names", False)
        feature_names_arr = read("feature_names", False)
    assert x is not None and y is not None
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{p}: features {x_key!r} must be numeric, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(
            f"{p}: expected {x_key!r} of shape (n, ...) and {y_key!r} of shape (n,); got "
            f"{x.shape} and {y.shape}"
        )
    resolved: Task
    if task == "auto":
        resolved = "regression" if y.dtype.kind == "f" else "classification"
    else:
        resolved = task
    class_names: tuple[str, ...] | None = None
    n_classes: int | None = None
    if resolved == "classification":
        if y.dtype.kind in "US":
            codes, class_names = _encode_labels([_text(v) for v in y.tolist()])
            y = codes
        else:
            try:
                y = _as_class_codes(y)
            except ValueError as err:
                raise ValueError(f"{p}: {err}") from None
            if y.size and y.min() < 0:
                codes, class_names = _encode_labels([str(v) for v in y.tolist()])
                y = codes
        n_classes = len(class_names) if class_names is not None else None
        if class_names is None and class_names_arr is not None:
            class_names = tuple(_text(v) for v in class_names_arr.reshape(-1).tolist())
            n_classes = len(class_names)
    feature_names = None
    if feature_names_arr is not None:
        feature_names = tuple(_text(v) for v in feature_names_arr.reshape(-1).tolist())
    image_shape = tuple(int(s) for s in x.shape[1:]) if x.ndim == 4 else None
    try:
        return Dataset(
            x=x,
            y=y,
            task=resolved,
            n_classes=n_classes,
            feature_names=feature_names,
            class_names=class_names,
            name=p.stem if name is None else name,
            image_shape=image_shape,
        )
    except ValueError as err:
        raise ValueError(f"{p}: {err}") from None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})


def _column_index(header: list[str], column: str, p: Path, what: str) -> int:
    matches = [i for i, h in enumerate(header) if h == column]
    if not matches:
        raise ValueError(
            f"{p}: no {what} {column!r}{_did_you_mean(column, header)} Available columns: "
            f"{_listing(header)}"
        )
    if len(matches) > 1:
        raise ValueError(f"{p}: the header has {len(matches)} columns named {column!r}")
    return matches[0]


def load_csv(
    path: PathLike,
    label_column: str = "label",
    feature_columns: Sequence[str] | None = None,
    delimiter: str = ",",
    *,
    task: Task = "classification",
    name: str | None = None,
) -> Dataset:
    """Read a CSV file with a header row: one label column and numeric feature columns.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, an optional byte-order mark is skipped).
    label_column : str
        Header name of the label column.
    feature_columns : sequence of str, optional
        Header names of the feature columns, in the order wanted (default: every other
        column).
    delimiter : str
        Field separator (e.g. ``"\\t"`` for TSV).
    task : {"classification", "regression"}
        Classification maps labels to ``0..C-1`` (numeric order when every label is a number,
        else sorted text) and keeps the original labels as ``class_names``; regression reads
        labels as numbers.
    name : str, optional
        Dataset name (default: the file name without extension).

    Returns
    -------
    Dataset
        ``feature_names`` are the header names verbatim (they are user text, possibly
        markup; escaping is the report's job).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        With the file name and, where it applies, the line and column: an empty file, a
        missing column (listing the available ones and suggesting the closest), a row with
        the wrong number of fields, a feature that is not a number, NaN / infinite / missing
        features (naming the first rows), an empty label.

    Examples
    --------
    >>> import tempfile, os
    >>> from privmeter.datasets import load_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.csv")
    >>> _ = open(path, "w").write("age,income,label\\n31,2.5,yes\\n45,1.0,no\\n27,3.5,yes\\n")
    >>> ds = load_csv(path)
    >>> ds.x.tolist(), ds.y.tolist(), ds.class_names, ds.feature_names
    ([[31.0, 2.5], [45.0, 1.0], [27.0, 3.5]], [1, 0, 1], ('no', 'yes'), ('age', 'income'))
    """
    p = _existing_file(path, "CSV file")
    if task not in TASKS:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if isinstance(feature_columns, str):
        raise ValueError("feature_columns must be a list of column names, not one string")
    rows: list[list[float]] = []
    labels: list[str] = []
    lines: list[int] = []
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header: list[str] | None = None
            for row in reader:
                if any(cell.strip() for cell in row):
                    header = row
                    break
            if header is None:
                raise ValueError(f"{p}: the file is empty (expected a header row)")
            label_idx = _column_index(header, label_column, p, "label column")
            if feature_columns is None:
                feat_idx = [i for i in range(len(header)) if i != label_idx]
            else:
                feat_idx = [_column_index(header, c, p, "feature column") for c in feature_columns]
                if label_idx in feat_idx:
                    raise ValueError(
                        f"{p}: the label column {label_column!r} is also in feature_columns"
                    )
            if not feat_idx:
                raise ValueError(f"{p}: no feature columns (the header is {_listing(header)})")
            n_fields = len(header)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) != n_fields:
                    raise ValueError(
                        f"{p}, line {line}: {len(row)} fields, but the header has {n_fields}"
                    )
                values: list[float] = []
                for j in feat_idx:
                    cell = row[j]
                    try:
                        values.append(float(cell))
                    except ValueError:
                        if cell.strip().lower() in _MISSING:
                            values.append(math.nan)
                            continue
                        raise ValueError(
                            f"{p}, line {line}, column {header[j]!r}: {cell!r} is not a number"
                        ) from None
                label = row[label_idx].strip()
                if not label:
                    raise ValueError(f"{p}, line {line}: empty label in column {label_column!r}")
                rows.append(values)
                labels.append(label)
                lines.append(line)
    except UnicodeDecodeError as err:
        raise ValueError(f"{p}: not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise ValueError(f"{p}: malformed CSV ({err})") from None
    if not rows:
        raise ValueError(f"{p}: no data rows after the header")
    x64 = np.asarray(rows, dtype=np.float64)
    with np.errstate(over="ignore"):  # values beyond float32 become inf, reported below
        x = x64.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    too_big = np.isfinite(x64) & ~np.isfinite(x)
    if too_big.any():
        r, c = (int(v) for v in np.argwhere(too_big)[0])
        raise ValueError(
            f"{p}, line {lines[r]}, column {header[feat_idx[c]]!r}: value {x64[r, c]:g} does "
            f"not fit in float32 (largest {float(np.finfo(np.float32).max):.3g}); features are "
            "read as float32: rescale the column"
        )
    if bad.size:
        first = int(bad[0])
        col = feat_idx[int(np.flatnonzero(~np.isfinite(x[first]))[0])]
        shown = ", ".join(str(lines[int(i)]) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise ValueError(
            f"{p}: NaN, infinite or missing feature values in {bad.size} rows (lines {shown}); "
            f"first at line {lines[first]}, column {header[col]!r}"
        )
    feature_names = tuple(header[j] for j in feat_idx)
    if task == "classification":
        y, class_names = _encode_labels(labels)
        return Dataset(
            x=x,
            y=y,
            n_classes=len(class_names),
            feature_names=feature_names,
            class_names=class_names,
            name=p.stem if name is None else name,
        )
    targets = np.empty(len(labels), dtype=np.float64)
    for i, label in enumerate(labels):
        try:
            targets[i] = float(label)
        except ValueError:
            raise ValueError(
                f"{p}, line {lines[i]}, column {label_column!r}: target {label!r} is not a number"
            ) from None
        if not math.isfinite(targets[i]):
            raise ValueError(
                f"{p}, line {lines[i]}, column {label_column!r}: target {label!r} is not finite"
            )
    return Dataset(
        x=x,
        y=targets,
        task="regression",
        feature_names=feature_names,
        name=p.stem if name is None else name,
    )


# --- restricted unpickling ------------------------------------------------------------------


def _numpy_global(modules: tuple[str, ...], attr: str) -> Any:
    for module in modules:
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {attr!r} in {modules}")  # pragma: no cover


_MULTIARRAY = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")

# (module, name) -> how to get the object. numpy arrays pickle as
# ``_reconstruct(ndarray, ...)`` + ``dtype`` (protocols 0-4), ``_frombuffer`` (protocol 5)
# and, under protocols 0-2 in Python 3, their bytes go through ``_codecs.encode``.
_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_global(_MULTIARRAY, "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_global(_MULTIARRAY, "_reconstruct"),
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.numeric", "_frombuffer"): lambda: _numpy_global(_NUMERIC, "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): lambda: _numpy_global(_NUMERIC, "_frombuffer"),
    ("_codecs", "encode"): lambda: _latin1_encode,
}


def _latin1_encode(obj: str, encoding: str = "latin1") -> bytes:
    """What pickle protocols 0-2 need to rebuild ``bytes``; only text codecs are allowed."""
    if not isinstance(obj, str) or encoding.replace("-", "").lower() not in ("latin1", "utf8"):
        raise pickle.UnpicklingError(f"forbidden _codecs.encode call with encoding {encoding!r}")
    return obj.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays and plain Python containers.

    ``find_class`` allows numpy's array reconstruction (``numpy.core.multiarray._reconstruct``
    or ``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, plus
    ``_frombuffer`` for protocol-5 pickles and latin-1 ``_codecs.encode`` for protocol-2
    pickles written by Python 3). Any other global raises :class:`pickle.UnpicklingError`
    naming it, before anything is called. Dicts, lists, strings, bytes and numbers need no
    global and load as usual.

    Examples
    --------
    >>> import io, pickle, numpy as np
    >>> from privmeter.datasets import RestrictedUnpickler
    >>> blob = pickle.dumps({b"data": np.arange(3, dtype=np.uint8)})
    >>> RestrictedUnpickler(io.BytesIO(blob)).load()[b"data"].tolist()
    [0, 1, 2]
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(print))).load()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    _pickle.UnpicklingError: forbidden global 'builtins.print' ...
    """

    def __init__(self, file: BinaryIO, *, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed numpy global; raise ``UnpicklingError`` for anything else."""
        getter = _ALLOWED_GLOBALS.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"forbidden global '{module}.{name}' in pickle: only numpy arrays may be "
                "loaded from data files"
            )
        return getter()

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids are never resolved."""
        raise pickle.UnpicklingError("forbidden persistent id in pickle")


def _load_pickle(p: Path) -> Any:
    try:
        with p.open("rb") as fh:
            return RestrictedUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(f"{p}: {err}") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise ValueError(f"{p}: not a readable pickle of numpy arrays ({err!r})") from None


def _get(batch: dict[Any, Any], key: str) -> Any:
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


_CIFAR = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ("train",),
        "test": ("test",),
        "meta": "meta",
    },
}


def load_cifar(
    path: PathLike,
    variant: Literal["cifar10", "cifar100"] = "cifar10",
    split: Literal["train", "test"] = "train",
    *,
    label_type: Literal["fine", "coarse"] = "fine",
) -> Dataset:
    """Read the CIFAR-10 / CIFAR-100 python batches (safely: numpy arrays only).

    Parameters
    ----------
    path : str or path-like
        The folder holding the batches (``cifar-10-batches-py`` / ``cifar-100-python``, as
        extracted from the official archives), or the folder that contains it.
    variant : {"cifar10", "cifar100"}
        CIFAR-10 reads ``data_batch_1`` .. ``data_batch_5`` (train) or ``test_batch`` and
        ``batches.meta``; CIFAR-100 reads ``train`` or ``test`` and ``meta``.
    split : {"train", "test"}
    label_type : {"fine", "coarse"}
        CIFAR-100 only: the 100 fine labels or the 20 coarse ones.

    Returns
    -------
    Dataset
        Images of shape (n, 3, 32, 32), float32 in [0, 1]; ``class_names`` from the meta file
        (``None`` if it is absent); ``name`` like ``"cifar10-train"``.

    Raises
    ------
    FileNotFoundError
        If the folder or a batch file is missing (naming the files expected).
    pickle.UnpicklingError
        If a batch pickle references anything but numpy array reconstruction (e.g. a
        malicious ``os.system``): nothing from it is called.
    ValueError
        If a batch does not hold the expected dict (``b"data"`` uint8 (n, 3072) and the
        labels).

    Examples
    --------
    >>> from privmeter.datasets import load_cifar
    >>> train = load_cifar("~/data/cifar-10-batches-py")  # doctest: +SKIP
    >>> train.x.shape, train.class_names[:2]  # doctest: +SKIP
    ((50000, 3, 32, 32), ('airplane', 'automobile'))
    """
    if variant not in _CIFAR:
        raise ValueError(f"variant must be 'cifar10' or 'cifar100', got {variant!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if label_type not in ("fine", "coarse"):
        raise ValueError(f"label_type must be 'fine' or 'coarse', got {label_type!r}")
    spec = _CIFAR[variant]
    root = Path(os.fspath(path)).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{variant} folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(
            f"{root} is a file; pass the folder that holds the {variant} batches "
            f"({', '.join(spec[split])})"
        )
    files: tuple[str, ...] = tuple(spec[split])
    folder = root
    if not (root / files[0]).exists() and (root / str(spec["folder"])).is_dir():
        folder = root / str(spec["folder"])
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        present = sorted(e.name for e in folder.iterdir())
        raise FileNotFoundError(
            f"{folder}: missing {variant} {split} batch files {', '.join(missing)} (found: "
            f"{_listing(present) or 'nothing'})"
        )
    if variant == "cifar10":
        label_key, names_key, n_classes = "labels", "label_names", 10
    elif label_type == "fine":
        label_key, names_key, n_classes = "fine_labels", "fine_label_names", 100
    else:
        label_key, names_key, n_classes = "coarse_labels", "coarse_label_names", 20

    data_parts: list[NDArray[np.uint8]] = []
    label_parts: list[NDArray[np.int64]] = []
    for fname in files:
        fp = folder / fname
        batch = _load_pickle(fp)
        if not isinstance(batch, dict):
            raise ValueError(f"{fp}: expected a dict batch, found {type(batch).__name__}")
        data = _get(batch, "data")
        labels = _get(batch, label_key)
        if data is None or labels is None:
            keys = [_text(k) for k in batch]
            raise ValueError(
                f"{fp}: a {variant} batch needs keys 'data' and {label_key!r}; found "
                f"{_listing(keys)}"
            )
        if (
            not isinstance(data, np.ndarray)
            or data.dtype != np.uint8
            or data.ndim != 2
            or (data.shape[1] != 3 * 32 * 32)
        ):
            desc = (
                f"{data.dtype} array of shape {data.shape}"
                if isinstance(data, np.ndarray)
                else type(data).__name__
            )
            raise ValueError(f"{fp}: 'data' must be a uint8 array of shape (n, 3072), got {desc}")
        try:
            lab = np.asarray(labels)
            if lab.dtype.kind not in "iu":
                raise TypeError
            lab = lab.astype(np.int64)
        except (TypeError, ValueError):
            raise ValueError(f"{fp}: {label_key!r} must be a list of integers") from None
        if lab.shape != (data.shape[0],):
            raise ValueError(
                f"{fp}: {data.shape[0]} images but {label_key!r} has shape {lab.shape}"
            )
        out = np.flatnonzero((lab < 0) | (lab >= n_classes))
        if out.size:
            raise ValueError(
                f"{fp}: label {int(lab[out[0]])} at row {int(out[0])} is outside "
                f"[0, {n_classes - 1}]"
            )
        data_parts.append(data)
        label_parts.append(lab)

    class_names: tuple[str, ...] | None = None
    meta_path = folder / str(spec["meta"])
    if meta_path.is_file():
        meta = _load_pickle(meta_path)
        names = _get(meta, names_key) if isinstance(meta, dict) else None
        if names is None:
            raise ValueError(f"{meta_path}: no {names_key!r} in the meta file")
        class_names = tuple(_text(s) for s in names)
        if len(class_names) != n_classes:
            raise ValueError(
                f"{meta_path}: {len(class_names)} {names_key!r} for {n_classes} classes"
            )

    data_all = np.concatenate(data_parts) if len(data_parts) > 1 else data_parts[0]
    x = data_all.reshape(-1, 3, 32, 32).astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)
    y = np.concatenate(label_parts)
    return Dataset(
        x=x,
        y=y,
        n_classes=n_classes,
        class_names=class_names,
        name=f"{variant}-{split}",
        image_shape=(3, 32, 32),
    )


# --- Purchase-100 / Texas-100 ---------------------------------------------------------------


def _locate_text_error(p: Path, delimiter: str) -> str | None:
    """Re-scan a numeric text file slowly to name the first bad line and field."""
    n_fields: int | None = None
    first_line = 0
    with p.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            fields = text.split(delimiter)
            if n_fields is None:
                n_fields, first_line = len(fields), line_no
            elif len(fields) != n_fields:
                return (
                    f"line {line_no} has {len(fields)} fields, but line {first_line} has {n_fields}"
                )
            for j, field in enumerate(fields, start=1):
                try:
                    float(field)
                except ValueError:
                    return f"line {line_no}, field {j}: {field.strip()!r} is not a number"
    return None


def _load_numeric_text(p: Path, delimiter: str = ",") -> NDArray[np.float32]:
    """A 2-D float32 table from a delimited numeric text file (fast path: ``np.loadtxt``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(p, delimiter=delimiter, dtype=np.float32, ndmin=2)
    except (ValueError, UnicodeDecodeError) as err:
        where = _locate_text_error(p, delimiter)
        raise ValueError(f"{p}: {where or err}") from None
    if table.size == 0:
        raise ValueError(f"{p}: the file holds no data")
    bad = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{p}: NaN or infinite values in {bad.size} rows; first rows (1-based): "
            f"{_first_rows(bad + 1)}"
        )
    return np.ascontiguousarray(table)


def _labels_from_base(
    raw: NDArray[np.float32], p: Path, n_classes: int, label_base: int
) -> NDArray[np.int64]:
    """Class codes ``raw - label_base`` checked to be integers in ``[0, n_classes)``."""
    not_int = np.flatnonzero(raw != np.round(raw))
    if not_int.size:
        i = int(not_int[0])
        raise ValueError(f"{p}: row {i + 1} has label {float(raw[i])!r}, not an integer")
    codes = raw.astype(np.int64) - label_base
    out = np.flatnonzero((codes < 0) | (codes >= n_classes))
    if out.size:
        i = int(out[0])
        hint = ""
        if label_base == 1 and codes[i] == -1:
            hint = " (labels are 1-based here; pass label_base=0 for a 0-based file)"
        raise ValueError(
            f"{p}: row {i + 1} has label {int(raw[i])}, outside {label_base}.."
            f"{n_classes - 1 + label_base}{hint}"
        )
    return codes


def load_purchase(
    path: PathLike,
    *,
    n_classes: int = 100,
    label_base: int = 1,
    name: str = "purchase100",
) -> Dataset:
    """Read Purchase-100 in its text format: each line ``label,f1,...,f600``.

    Parameters
    ----------
    path : str or path-like
        The comma-separated file (e.g. ``dataset_purchase``).
    n_classes : int
        Number of classes (100 for Purchase-100; 2, 10, 20, 50 for its coarser variants).
    label_base : int
        The first label in the file: ``1`` for the original files (labels 1..100 become
        0..99), ``0`` for re-saved 0-based copies.
    name : str
        Dataset name.

    Returns
    -------
    Dataset
        Binary features as float32 (n, 600), labels int64.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        Naming the file and line: ragged rows, non-numbers, labels that are not integers in
        ``label_base .. n_classes - 1 + label_base``, an empty file.

    Examples
    --------
    >>> from privmeter.datasets import load_purchase
    >>> ds = load_purchase("~/data/dataset_purchase")  # doctest: +SKIP
    >>> ds.x.shape, ds.n_classes  # doctest: +SKIP
    ((197324, 600), 100)
    """
    n_classes = _check_count("n_classes", n_classes, 1)
    p = _existing_file(path, "Purchase file")
    table = _load_numeric_text(p)
    if table.shape[1] < 2:
        raise ValueError(f"{p}: expected 'label,f1,...,fd' lines, found one field per line")
    y = _labels_from_base(table[:, 0], p, n_classes, label_base)
    return Dataset(x=table[:, 1:], y=y, n_classes=n_classes, name=name)


def load_texas(
    features_path: PathLike,
    labels_path: PathLike,
    *,
    n_classes: int = 100,
    label_base: int = 1,
    name: str = "texas100",
) -> Dataset:
    """Read Texas-100: a comma-separated binary features file and a labels file.

    Parameters
    ----------
    features_path : str or path-like
        One row of comma-separated features per line (e.g. ``texas/100/feats``).
    labels_path : str or path-like
        One label per line (e.g. ``texas/100/labels``), ``label_base``-based.
    n_classes : int
        Number of classes (100).
    label_base : int
        The first label: ``1`` for the original files (1..100 become 0..99), or ``0``.
    name : str
        Dataset name.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        Naming the file: ragged rows, non-numbers, a labels file with several fields per
        line, labels out of range, or different row counts in the two files.

    Examples
    --------
    >>> from privmeter.datasets import load_texas
    >>> ds = load_texas("texas/100/feats", "texas/100/labels")  # doctest: +SKIP
    >>> ds.x.shape  # doctest: +SKIP
    (67330, 6169)
    """
    n_classes = _check_count("n_classes", n_classes, 1)
    fp = _existing_file(features_path, "Texas features file")
    lp = _existing_file(labels_path, "Texas labels file")
    x = _load_numeric_text(fp)
    raw = _load_numeric_text(lp)
    if raw.shape[1] != 1:
        raise ValueError(f"{lp}: expected one label per line, found {raw.shape[1]} fields")
    if raw.shape[0] != x.shape[0]:
        raise ValueError(
            f"{fp} has {x.shape[0]} rows but {lp} has {raw.shape[0]} labels; they must match"
        )
    y = _labels_from_base(raw[:, 0], lp, n_classes, label_base)
    return Dataset(x=x, y=y, n_classes=n_classes, name=name)
