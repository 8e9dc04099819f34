"""The dataset registry (:func:`register_dataset`, :func:`load_dataset`) and the built-ins.

The built-ins load offline: ``digits``, ``breast_cancer``, ``diabetes``, ``wine`` and ``iris``
from the files bundled with scikit-learn, ``synthetic_purchase`` and ``synthetic_gaussian``
generated from a seed.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter._names import _did_you_mean
from privmeter._registry import Registry
from privmeter.datasets.dataset import Dataset, _check_count, _check_rate

# --------------------------------------------------------------------------------------------
# Registry and built-in datasets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its name, its loader and a one-line description."""

    name: str
    loader: Callable[..., Dataset]
    description: str = ""


_REGISTRY: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(
    name: str,
    loader: Callable[..., Dataset],
    *,
    description: str = "",
    overwrite: bool = False,
) -> DatasetSpec:
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

    Returns
    -------
    DatasetSpec
        The registry entry.

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.datasets import Dataset, load_dataset, register_dataset
    >>> def tiny(*, n: int = 4) -> Dataset:
    ...     return Dataset(np.zeros((n, 1)), np.zeros(n, dtype=int), name="tiny")
    >>> register_dataset("tiny_example", tiny, description="four zeros").description
    'four zeros'
    >>> len(load_dataset("tiny_example", n=3))
    3
    >>> _ = _REGISTRY.unregister("tiny_example")  # leave the registry as it was
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset name must be a non-empty string, got {name!r}")
    if not callable(loader):
        raise TypeError(f"loader must be callable, got {type(loader).__name__}")
    spec = DatasetSpec(name=name, loader=loader, description=description)
    return _REGISTRY.register(name, spec, overwrite=overwrite)


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted (all load offline, without arguments).

    Examples
    --------
    >>> from privmeter.datasets import list_datasets
    >>> list_datasets()  # doctest: +NORMALIZE_WHITESPACE
    ['breast_cancer', 'diabetes', 'digits', 'iris', 'synthetic_gaussian', 'synthetic_purchase',
     'wine']
    """
    return _REGISTRY.names()


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
        close = _REGISTRY.close_names(key)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(
            f"unknown dataset {name!r}{hint} Known datasets: "
            f"{', '.join(list_datasets())}. Files are read with load_npz, load_csv, "
            "load_cifar, load_purchase and load_texas."
        )
    loader = _REGISTRY.get(key).loader
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


