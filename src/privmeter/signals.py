"""Membership signals: named functions of a model's answers on ``(x, y)``, with an orientation.

A :class:`Signal` maps ``(model_access, x, y)`` to one float64 value per point. It declares
whether a higher value is more member-like, which :data:`~privmeter.table.SIGNAL_KINDS` its
values are (so attacks can convert between margin, probability and loss), the access level it
needs (``"label"`` < ``"proba"`` < ``"logits"`` < ``"grad"``) and the task it applies to.
Signals are registered by name (:func:`register_signal`, :func:`get_signal`,
:func:`list_signals`) and evaluated with :func:`compute_signal`, which also handles several
queries per point (augmentations).

All softmax-based signals are computed in float64 from logits (or from log-probabilities when
only probabilities are available) with log-sum-exp arithmetic: confident predictions keep
distinct, finite values where ``1 - p_y`` would round to zero.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter.datasets import _closest_names
from privmeter.models.base import (
    ACCESS_LEVELS,
    AccessLevel,
    ModelAccess,
    access_rank,
    describe_rows,
    log_proba_as_logits,
)
from privmeter.table import SIGNAL_KINDS, SignalKind, logit_margin_from_logits

__all__ = [
    "Augmentation",
    "FlipShift",
    "GaussianNoise",
    "Signal",
    "SignalTask",
    "compute_signal",
    "cross_entropy_from_logits",
    "entropy_from_logits",
    "get_signal",
    "list_signals",
    "modified_entropy_from_logits",
    "probability_from_logits",
    "probability_signal",
    "register_signal",
    "robustness_signal",
    "taylor_softmax_from_logits",
    "taylor_softmax_signal",
]

SignalTask = Literal["classification", "regression", "any"]
SignalFn = Callable[[ModelAccess, Any, Any], ArrayLike]

#: Rows (points x queries) handed to the model per chunk when augmenting, by default.
_DEFAULT_AUGMENTED_ROWS = 8192


# ============================================================================ array maths
def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + exp(x))`` without overflow or underflow to the wrong side."""
    return np.asarray(np.logaddexp(0.0, x), dtype=np.float64)


def _log_softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = z - z.max(axis=-1, keepdims=True)
    return np.asarray(
        shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), dtype=np.float64
    )


def _logits_labels(
    logits: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits must have at least 2 classes in the last axis, got {z.shape}")
    if y.shape != z.shape[:-1]:
        raise ValueError(f"labels have shape {y.shape}, expected {z.shape[:-1]}")
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    n_classes = z.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)].ravel()[0]
        raise ValueError(f"label {int(bad)} is outside the {n_classes} classes")
    return z, y.astype(np.int64)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return t


def probability_from_logits(
    logits: ArrayLike, labels: ArrayLike, *, temperature: float = 1.0
) -> NDArray[np.float64]:
    """True-class probability ``softmax(z / T)_y``, via a float64 log-softmax.

    Parameters
    ----------
    logits : array_like of shape (..., n_classes)
    labels : array_like of int, shape (...)
    temperature : float
        ``T > 0``; a larger ``T`` flattens the softmax (RMIA tunes it on reference models).

    Examples
    --------
    >>> probability_from_logits([[2.0, 0.0]], [0]).round(4)
    array([0.8808])
    >>> probability_from_logits([[2.0, 0.0]], [0], temperature=2.0).round(4)
    array([0.7311])
    """
    z, y = _logits_labels(logits, labels)
    t = _check_temperature(temperature)
    zt = z / t if t != 1.0 else z
    m = zt.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(zt - m).sum(axis=-1))
    z_y = np.take_along_axis(zt, y[..., None], axis=-1)[..., 0]
    return np.asarray(np.exp(z_y - lse), dtype=np.float64)


def cross_entropy_from_logits(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Cross-entropy ``-log softmax(z)_y = softplus(-phi)`` with ``phi`` the logit margin.

    Accurate down to the smallest float64 (a loss below ``~5e-324``, i.e. ``phi > ~745``,
    is 0.0): unlike ``-log(p_y)`` it does not collapse to 0 once ``p_y`` rounds to one
    (``phi > ~17`` in float32, ``~37`` in float64).

    Examples
    --------
    >>> cross_entropy_from_logits([[2.0, 0.0]], [0]).round(4)
    array([0.1269])
    >>> float(cross_entropy_from_logits([[40.0, 0.0]], [0])[0])  # -log(p) would give 0.0
    4.248354255291589e-18
    """
    return _softplus(-logit_margin_from_logits(logits, labels))


def entropy_from_logits(logits: ArrayLike) -> NDArray[np.float64]:
    """Prediction entropy ``-sum_j p_j log p_j`` with ``p = softmax(z)`` (natural log).

    Examples
    --------
    >>> entropy_from_logits([[0.0, 0.0]]).round(4)
    array([0.6931])
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 2:
        raise ValueError(f"logits must have at least 2 classes in the last axis, got {z.shape}")
    logp = _log_softmax(z)
    return np.asarray(-(np.exp(logp) * logp).sum(axis=-1), dtype=np.float64)


def modified_entropy_from_logits(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Modified entropy ``-(1-p_y) log p_y - sum_{j!=y} p_j log(1-p_j)`` (Song & Mittal 2021).

    Every ``log(1 - p_j)`` that could cancel (the most probable class, whose ``p_j`` may be
    close to one) is computed from the sum of the other classes' exponentials, never from
    ``1 - p_j`` (and as ``-softplus(phi_j)`` from the logit margin when that sum underflows);
    the others have ``p_j <= 1/2`` and use ``log1p(-p_j)``. One ``exp`` and one ``log1p`` pass
    over the logits.

    Examples
    --------
    >>> modified_entropy_from_logits([[0.0, 0.0]], [0]).round(4)  # 2 * 0.5 * log 2
    array([0.6931])
    """
    z, y = _logits_labels(logits, labels)
    top = z.argmax(axis=-1)[..., None]
    shifted = z - np.take_along_axis(z, top, axis=-1)  # 0 at the most probable class
    p = np.exp(shifted)
    np.put_along_axis(p, top, 0.0, axis=-1)
    rest = p.sum(axis=-1)  # sum_{k != top} exp(z_k - z_top), without cancellation
    np.put_along_axis(p, top, 1.0, axis=-1)
    log_total = np.log1p(rest)  # log sum_k exp(z_k - z_top)
    p /= (1.0 + rest)[..., None]
    with np.errstate(divide="ignore"):
        log1m = np.log1p(-p)  # accurate where p_j <= 1/2, i.e. every class but the top one
        log1m_top = np.log(rest) - log_total  # log(1 - p_top), exact from the rest sum
    tiny = rest < 1e-300  # the rest underflowed: take -softplus(phi_top) from the logits
    if tiny.any():
        log1m_top[tiny] = -_softplus(logit_margin_from_logits(z[tiny], top[tiny][..., 0]))
    np.put_along_axis(log1m, top, log1m_top[..., None], axis=-1)
    yy = y[..., None]
    log_p_y = np.take_along_axis(shifted, yy, axis=-1)[..., 0] - log_total
    log1m_y = np.take_along_axis(log1m, yy, axis=-1)[..., 0]
    p_y = np.take_along_axis(p, yy, axis=-1)[..., 0]
    true_term = np.exp(log1m_y) * -log_p_y  # (1 - p_y) * (-log p_y)
    # sum_{j != y} p_j log(1 - p_j), without a temporary n x C product
    other = np.einsum("...j,...j->...", p, log1m) - p_y * log1m_y
    return np.asarray(true_term - other, dtype=np.float64)


def _taylor(u: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``sum_{k=0}^{n-1} u^k / k!`` by Horner's rule."""
    out = np.ones_like(u)
    for k in range(n - 1, 0, -1):
        out *= u
        if k > 1:
            out *= 1.0 / k
        out += 1.0
    return out


def taylor_softmax_from_logits(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    n: int = 4,
    margin: float = 0.6,
    temperature: float = 2.0,
) -> NDArray[np.float64]:
    """Soft-margin Taylor softmax of the true class (RMIA's signal; Zarifzadeh et al. 2024).

    With ``u = z / T`` and ``t_n(u) = sum_{k=0}^{n-1} u^k / k!`` (``exp`` truncated to ``n``
    terms)::

        p = t_n(u_y - m) / (t_n(u_y - m) + sum_{j != y} t_n(u_j))

    Parameters
    ----------
    logits : array_like of shape (..., n_classes)
        Raw logits. The Taylor softmax is not shift-invariant: log-probabilities give a
        different value than the model's logits.
    labels : array_like of int, shape (...)
    n : int
        Number of Taylor terms (default 4, as in the RMIA code).
    margin : float
        Soft margin ``m`` subtracted from the scaled true-class logit (default 0.6).
    temperature : float
        ``T`` dividing the logits (default 2).

    Notes
    -----
    For even ``n`` the polynomial has odd degree and is negative for very negative ``u``
    (``t_4(u) < 0`` for ``u < -1.596``). The RMIA research code lets such terms through, which
    can push the value outside ``[0, 1]``; here each term is floored at zero (``exp(u)`` is
    never negative), so the result is always in ``[0, 1]`` and equals the research code's value
    whenever no term is negative. If every term is zero the value is 0.

    References
    ----------
    S. Zarifzadeh, P. Liu, R. Shokri, "Low-Cost High-Power Membership Inference Attacks",
    ICML 2024. A. de Brébisson, P. Vincent, "An Exploration of Softmax Alternatives Belonging
    to the Spherical Loss Family", ICLR 2016.

    Examples
    --------
    >>> taylor_softmax_from_logits([[2.0, 0.0, -1.0]], [0]).round(4)
    array([0.4817])
    """
    z, y = _logits_labels(logits, labels)
    t = _check_temperature(temperature)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of Taylor terms) must be a positive integer, got {n!r}")
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin!r}")
    u = z / t
    terms = _taylor(u, int(n))
    np.maximum(terms, 0.0, out=terms)
    u_y = np.take_along_axis(u, y[..., None], axis=-1)[..., 0]
    true_term = np.maximum(_taylor(u_y - float(margin), int(n)), 0.0)
    np.put_along_axis(terms, y[..., None], true_term[..., None], axis=-1)
    denom = terms.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 0, true_term / np.where(denom > 0, denom, 1.0), 0.0)
    return np.asarray(p, dtype=np.float64)


# ============================================================================ augmentations
class Augmentation(ABC):
    """Produces ``n_queries`` variants of every point, vectorised over the points.

    Subclasses implement :meth:`apply`; randomness, if any, comes only from the generator it
    is given, so :func:`compute_signal` can draw chunk after chunk from one generator and get
    the same values for any chunk size.
    """

    @property
    @abstractmethod
    def n_queries(self) -> int:
        """Number of variants per point."""

    @property
    def seed(self) -> int | None:
        """Seed of the generator made by :meth:`make_rng` (``None``: deterministic)."""
        return None

    @abstractmethod
    def apply(self, x: NDArray[Any], rng: np.random.Generator) -> NDArray[Any]:
        """Variants of ``x`` (shape ``(n, ...)``) as an array of shape ``(n, n_queries, ...)``."""

    def make_rng(self) -> np.random.Generator:
        """A fresh generator, ``np.random.default_rng(self.seed)``."""
        return np.random.default_rng(self.seed)

    def __call__(self, x: ArrayLike) -> NDArray[Any]:
        """``apply(x, make_rng())``: the same output on every call."""
        return self.apply(np.asarray(x), self.make_rng())


@dataclass(frozen=True)
class FlipShift(Augmentation):
    """Horizontal flips and pixel shifts of images: LiRA's query augmentations.

    The queries are the combinations of (no flip, flip) x (vertical, horizontal) shifts in
    ``range(-shift, shift + 1, stride)``, ordered so that any prefix is a sensible smaller set:
    query 0 is the unchanged image, query 1 its mirror image, then each further shift
    (smallest first) unflipped and flipped. The defaults give LiRA's 18 queries (2 flips x
    3 x 3 shifts by up to 4 pixels); ``n_queries=2`` gives LiRA's 2 mirror queries.

    Parameters
    ----------
    shift : int
        Largest shift in pixels (``>= 0``).
    stride : int
        Step between shifts.
    flip : bool
        Include horizontally mirrored images.
    padding : {"reflect", "zero"}
        How pixels shifted in from outside the image are filled.
    channels_last : bool
        Images are ``(N, H, W, C)`` instead of ``(N, C, H, W)``.
    n_queries : int, optional
        Keep only the first ``n_queries`` queries of the list above (default: all of them).

    References
    ----------
    N. Carlini, S. Chien, M. Nasr, S. Song, A. Terzis, F. Tramèr, "Membership Inference
    Attacks From First Principles", IEEE S&P 2022 (Section VI-B, "Inference-time
    augmentations").

    Examples
    --------
    >>> aug = FlipShift(shift=1, stride=1, padding="zero")
    >>> aug.n_queries
    18
    >>> x = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> out = aug(x)
    >>> out.shape
    (1, 18, 1, 2, 2)
    >>> bool((out[:, 0] == x).all()), bool((out[:, 1] == x[..., ::-1]).all())
    (True, True)
    >>> FlipShift(n_queries=2).queries()
    [(False, 0, 0), (True, 0, 0)]
    """

    shift: int = 4
    stride: int = 4
    flip: bool = True
    padding: Literal["reflect", "zero"] = "reflect"
    channels_last: bool = False
    n_queries: int | None = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or self.shift < 0:
            raise ValueError(f"shift must be a non-negative integer, got {self.shift!r}")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise ValueError(f"stride must be a positive integer, got {self.stride!r}")
        if self.padding not in ("reflect", "zero"):
            raise ValueError(f"padding must be 'reflect' or 'zero', got {self.padding!r}")
        available = (2 if self.flip else 1) * len(self.offsets())
        n = self.n_queries
        if n is None:
            n = available
        elif isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= available:
            raise ValueError(
                f"FlipShift(shift={self.shift}, stride={self.stride}, flip={self.flip}) makes "
                f"1 to {available} queries, got n_queries={n!r}"
            )
        object.__setattr__(self, "n_queries", n)

    def offsets(self) -> list[tuple[int, int]]:
        """The ``(dy, dx)`` shifts: ``(0, 0)`` first, then by size (largest coordinate)."""
        steps = list(range(-self.shift, self.shift + 1, self.stride))
        if 0 not in steps:
            steps.append(0)
        pairs = [(dy, dx) for dy in steps for dx in steps]
        pairs.sort(key=lambda p: (max(abs(p[0]), abs(p[1])), abs(p[0]) + abs(p[1]), p))
        return pairs

    def queries(self) -> list[tuple[bool, int, int]]:
        """The ``(flipped, dy, dx)`` of each query, in order."""
        flips = (False, True) if self.flip else (False,)
        every = [(f, dy, dx) for dy, dx in self.offsets() for f in flips]
        return every[: self.n_queries]

    def apply(self, x: NDArray[Any], rng: np.random.Generator) -> NDArray[Any]:
        """Shifted (and mirrored) copies of a batch of images, ``(n, n_queries, ...)``."""
        arr = np.asarray(x)
        layout = "(N, H, W, C)" if self.channels_last else "(N, C, H, W)"
        if arr.ndim != 4:
            raise ValueError(f"FlipShift expects images of shape {layout}, got shape {arr.shape}")
        h_ax, w_ax = (1, 2) if self.channels_last else (2, 3)
        h, w = arr.shape[h_ax], arr.shape[w_ax]
        s = self.shift
        if self.padding == "reflect" and s >= min(h, w):
            raise ValueError(
                f"reflect padding by shift={s} needs images larger than {s} pixels, got "
                f"{h}x{w}; use padding='zero' or a smaller shift"
            )
        pad = [(0, 0)] * 4
        pad[h_ax] = (s, s)
        pad[w_ax] = (s, s)
        padded: dict[bool, NDArray[Any]] = {}
        queries = self.queries()
        out = np.empty((arr.shape[0], len(queries), *arr.shape[1:]), dtype=arr.dtype)
        for q, (flipped, dy, dx) in enumerate(queries):
            if flipped not in padded:
                src = np.flip(arr, axis=w_ax) if flipped else arr
                if not s:
                    padded[flipped] = src
                elif self.padding == "reflect":
                    padded[flipped] = np.pad(src, pad, mode="reflect")
                else:
                    padded[flipped] = np.pad(src, pad, mode="constant")
            idx: list[slice] = [slice(None)] * 4
            idx[h_ax] = slice(s + dy, s + dy + h)
            idx[w_ax] = slice(s + dx, s + dx + w)
            out[:, q] = padded[flipped][tuple(idx)]
        return out


@dataclass(frozen=True)
class GaussianNoise(Augmentation):
    """Additive Gaussian noise ``x + sigma * N(0, 1)`` (tabular or image data), seeded.

    Parameters
    ----------
    n_queries : int
        Noisy copies per point.
    sigma : float
        Noise standard deviation, in the units of ``x`` (``0.1`` suits standardised features
        or pixels in ``[0, 1]``).
    seed : int or None
        Seed of ``np.random.default_rng``: the same seed gives the same noise, whatever the
        chunking in :func:`compute_signal`.

    References
    ----------
    C. A. Choquette-Choo, F. Tramèr, N. Carlini, N. Papernot, "Label-Only Membership
    Inference Attacks", ICML 2021 (noise robustness).

    Examples
    --------
    >>> noise = GaussianNoise(n_queries=3, sigma=0.01, seed=0)
    >>> noise(np.zeros((5, 2))).shape
    (5, 3, 2)
    >>> bool((noise(np.zeros((5, 2))) == noise(np.zeros((5, 2)))).all())
    True
    """

    n_queries: int = 8
    sigma: float = 0.1
    seed: int | None = 0

    def __post_init__(self) -> None:
        n_queries = self.n_queries
        if isinstance(n_queries, bool) or not isinstance(n_queries, int) or n_queries < 1:
            raise ValueError(f"n_queries must be a positive integer, got {n_queries!r}")
        if not np.isfinite(self.sigma) or self.sigma < 0:
            raise ValueError(f"sigma must be a non-negative finite number, got {self.sigma!r}")
        object.__setattr__(self, "sigma", float(self.sigma))

    def apply(self, x: NDArray[Any], rng: np.random.Generator) -> NDArray[Any]:
        """``x[:, None] + sigma * rng.standard_normal((n, n_queries, ...))``."""
        arr = np.asarray(x)
        if arr.ndim < 1:
            raise ValueError("GaussianNoise expects a batch (n, ...) of points, got a scalar")
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        noise = rng.standard_normal((arr.shape[0], self.n_queries, *arr.shape[1:]))
        return np.asarray(arr[:, None].astype(dtype, copy=False) + self.sigma * noise,
                          dtype=dtype)


# ============================================================================ the Signal type
_KIND_ORIENTATION = {"logit_margin": True, "probability": True, "loss": False}


@dataclass(frozen=True)
class Signal:
    """A named membership signal.

    Parameters
    ----------
    name : str
        Registry name.
    fn : callable
        ``fn(model_access, x, y) -> array (n,)``: one value per point and query. It may assume
        the checks of :meth:`check_model` passed.
    higher_is_member : bool
        Orientation: True if a higher value is more member-like.
    kind : {"logit_margin", "probability", "loss", "custom"}
        What the values are (see :data:`privmeter.table.SIGNAL_KINDS`); fixes the orientation
        except for ``"custom"``.
    requires : {"label", "proba", "logits", "grad"}
        Weakest model access the signal works with.
    task : {"classification", "regression", "any"}
        Models it applies to.
    queries : Augmentation, optional
        Perturbed queries the signal makes for each point and averages (e.g. the label-only
        robustness signal).
    paper : str
        Citation.
    params : mapping
        Parameters the signal was built with (temperature, ...), for reports and caching.

    Examples
    --------
    >>> sig = get_signal("loss")
    >>> sig.kind, sig.higher_is_member, sig.requires
    ('loss', False, 'proba')
    """

    name: str
    fn: SignalFn = field(repr=False)
    higher_is_member: bool
    kind: SignalKind
    requires: AccessLevel
    task: SignalTask = "classification"
    queries: Augmentation | None = None
    paper: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a signal needs a non-empty name, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"signal {self.name!r}: fn must be callable")
        if self.kind not in SIGNAL_KINDS:
            raise ValueError(
                f"signal {self.name!r}: unknown kind {self.kind!r}; expected one of "
                f"{SIGNAL_KINDS}"
            )
        expected = _KIND_ORIENTATION.get(self.kind)
        if expected is not None and bool(self.higher_is_member) != expected:
            raise ValueError(
                f"signal {self.name!r}: kind={self.kind!r} has higher_is_member={expected}, got "
                f"{self.higher_is_member}"
            )
        if self.requires not in ACCESS_LEVELS:
            raise ValueError(
                f"signal {self.name!r}: unknown access level {self.requires!r}; expected one of "
                f"{ACCESS_LEVELS}"
            )
        if self.task not in ("classification", "regression", "any"):
            raise ValueError(
                f"signal {self.name!r}: task must be 'classification', 'regression' or 'any', "
                f"got {self.task!r}"
            )
        object.__setattr__(self, "params", dict(self.params))

    @property
    def doc(self) -> str:
        """The signal function's docstring (formula and paper)."""
        return self.fn.__doc__ or self.paper

    def check_model(self, model: Any) -> None:
        """Raise a clear error if this signal cannot be computed on ``model``.

        Raises
        ------
        TypeError
            If ``model`` does not implement :class:`~privmeter.models.ModelAccess`.
        ValueError
            If the model's task (classification/regression) or access level does not fit.
        """
        if not isinstance(model, ModelAccess):
            raise TypeError(
                f"signal {self.name!r} needs a model access object (TorchModel, SklearnModel, "
                f"BlackBoxModel, LabelOnlyModel or any ModelAccess), got "
                f"{type(model).__name__}; wrap the model first"
            )
        if self.task != "any" and model.task != self.task:
            alt = "'squared_error'" if model.task == "regression" else "'loss' or 'logit_margin'"
            raise ValueError(
                f"signal {self.name!r} needs a {self.task} model, but {model!r} is a "
                f"{'regressor' if model.task == 'regression' else 'classifier'} "
                f"(task={model.task!r}); use a {model.task} signal such as {alt}"
            )
        if access_rank(model.access) < access_rank(self.requires):
            raise ValueError(
                f"signal {self.name!r} needs {self.requires!r} access, but {model!r} offers only "
                f"{model.access!r}; signals it supports: "
                f"{_signals_for(model.access, model.task)}"
            )

    def evaluate(self, model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """``fn(model, x, y)`` with the result checked: float64, shape ``(n,)``, finite."""
        n = _n_rows(x)
        values = np.asarray(self.fn(model, x, y), dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(
                f"signal {self.name!r} returned shape {values.shape} for {n} points; "
                f"expected ({n},)"
            )
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"signal {self.name!r} gave NaN or infinite values in {describe_rows(bad)}"
            )
        return values

    def __call__(
        self,
        model: ModelAccess,
        x: Any,
        y: Any,
        *,
        augmentations: Augmentation | None = None,
        batch_size: int | None = None,
    ) -> NDArray[np.float64]:
        """Shorthand for :func:`compute_signal` ``(self, model, x, y, ...)``."""
        return compute_signal(self, model, x, y, augmentations=augmentations,
                              batch_size=batch_size)


# ============================================================================ registry
_REGISTRY: dict[str, Signal] = {}


def register_signal(signal: Signal, *, overwrite: bool = False) -> Signal:
    """Add a signal to the registry under ``signal.name`` and return it.

    Raises
    ------
    ValueError
        If the name is taken and ``overwrite`` is False.

    Examples
    --------
    >>> sig = probability_signal(temperature=4.0, name="probability_t4")
    >>> _ = register_signal(sig, overwrite=True)
    >>> get_signal("probability_t4").params
    {'temperature': 4.0}
    """
    if not isinstance(signal, Signal):
        raise TypeError(f"expected a Signal, got {type(signal).__name__}")
    if signal.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"a signal named {signal.name!r} is already registered; pass overwrite=True to "
            "replace it"
        )
    _REGISTRY[signal.name] = signal
    return signal


def get_signal(name: str) -> Signal:
    """The registered signal called ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = _closest_names(str(name), list_signals())
        hint = f" (did you mean {close}?)" if close else ""
        raise ValueError(
            f"unknown signal {name!r}{hint}; known signals: {', '.join(list_signals())}"
        ) from None


def list_signals() -> list[str]:
    """Names of the registered signals, sorted.

    Examples
    --------
    >>> "logit_margin" in list_signals()
    True
    """
    return sorted(_REGISTRY)


def _signals_for(access: str, task: str) -> str:
    rank = access_rank(access)
    names = [
        s.name for s in _REGISTRY.values()
        if access_rank(s.requires) <= rank and s.task in (task, "any")
    ]
    return ", ".join(sorted(names)) or "none"


# ============================================================================ computing
def _n_rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(x)


def _take(x: Any, start: int, stop: int) -> Any:
    if isinstance(x, (list, tuple)):
        return np.asarray(x)[start:stop]
    return x[start:stop]


def _as_numpy(x: Any) -> NDArray[Any]:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


def compute_signal(
    signal: Signal | str,
    model: ModelAccess,
    x: Any,
    y: Any,
    *,
    augmentations: Augmentation | None = None,
    batch_size: int | None = None,
) -> NDArray[np.float64]:
    """Evaluate a signal on every point, optionally under several queries per point.

    Parameters
    ----------
    signal : Signal or str
        A signal or a registered name (see :func:`list_signals`).
    model : ModelAccess
        An adapter (:class:`~privmeter.models.TorchModel`, ...).
    x : array_like or tensor of shape (n, ...)
    y : array_like of shape (n,)
        True labels (classification) or targets (regression).
    augmentations : Augmentation, optional
        Queries per point (e.g. :class:`FlipShift`, :class:`GaussianNoise`). All variants of
        a chunk of points go to the model in one batched call.
    batch_size : int, optional
        Points per chunk. Default: all points at once without augmentation (the adapter
        batches the forward passes itself); with augmentation, enough points for about 8192
        augmented rows per chunk. Results do not depend on it.

    Returns
    -------
    ndarray of float64, shape (n,) or (n, n_queries)

    Raises
    ------
    ValueError
        Unknown signal name, a model that does not fit the signal (task or access level), or
        ``x`` and ``y`` of different lengths.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.9, 0.1], (len(x), 1)), n_classes=2)
    >>> compute_signal("logit_margin", api, np.zeros((2, 3)), [0, 1]).round(4)
    array([ 2.1972, -2.1972])
    >>> compute_signal("correctness", api, np.zeros((2, 3)), [0, 1],
    ...                augmentations=GaussianNoise(n_queries=3, sigma=0.1, seed=0))
    array([[1., 1., 1.],
           [0., 0., 0.]])
    """
    sig = get_signal(signal) if isinstance(signal, str) else signal
    if not isinstance(sig, Signal):
        raise TypeError(f"signal must be a Signal or a registered name, got {type(sig).__name__}")
    sig.check_model(model)
    if augmentations is not None and not isinstance(augmentations, Augmentation):
        raise TypeError(
            f"augmentations must be an Augmentation (FlipShift, GaussianNoise, ...), got "
            f"{type(augmentations).__name__}"
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    n = _n_rows(x)
    y_arr = np.asarray(y)
    if y_arr.ndim == 0 or y_arr.shape[0] != n:
        raise ValueError(
            f"x has {n} rows but y has {y_arr.shape[0] if y_arr.ndim else 'no'} entries"
        )
    inner = sig.queries
    q_outer = augmentations.n_queries if augmentations is not None else 1
    q_inner = inner.n_queries if inner is not None else 1
    if augmentations is None and inner is None and batch_size is None:
        return sig.evaluate(model, x, y_arr)

    if batch_size is None:
        batch_size = max(1, _DEFAULT_AUGMENTED_ROWS // (q_outer * q_inner)) if (
            augmentations is not None or inner is not None
        ) else max(n, 1)
    rng_outer = augmentations.make_rng() if augmentations is not None else None
    rng_inner = inner.make_rng() if inner is not None else None
    shape: tuple[int, ...] = (n, q_outer) if augmentations is not None else (n,)
    out = np.empty(shape, dtype=np.float64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        xb: Any = _take(x, start, stop)
        yb = y_arr[start:stop]
        if augmentations is not None and rng_outer is not None:
            aug = augmentations.apply(_as_numpy(xb), rng_outer)
            xb = aug.reshape(-1, *aug.shape[2:])
            yb = np.repeat(yb, q_outer, axis=0)
        if inner is not None and rng_inner is not None:
            aug = inner.apply(_as_numpy(xb), rng_inner)
            rows = aug.shape[0]
            values = sig.evaluate(model, aug.reshape(-1, *aug.shape[2:]),
                                  np.repeat(yb, q_inner, axis=0))
            values = values.reshape(rows, q_inner).mean(axis=1)
        else:
            values = sig.evaluate(model, xb, yb)
        out[start:stop] = values.reshape(stop - start, *shape[1:])
    return out


# ============================================================================ signal functions
def _class_scores(model: ModelAccess, x: Any) -> NDArray[np.float64]:
    """Logits, or log-probabilities (same softmax) for a probability-only model."""
    if access_rank(model.access) >= access_rank("logits"):
        return model.logits(x)
    return log_proba_as_logits(model.proba(x))


def _scores_and_labels(
    model: ModelAccess, x: Any, y: Any
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    z = _class_scores(model, x)
    labels = model.label_index(y)
    if labels.shape[0] != z.shape[0]:
        raise ValueError(f"x has {z.shape[0]} rows but y has {labels.shape[0]} labels")
    return z, labels


def _logit_margin(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Logit margin ``phi = z_y - logsumexp_{j != y} z_j`` (signal ``"logit_margin"``).

    LiRA's "logit scaling" ``log p_y - log(1 - p_y)`` (Carlini, Chien, Nasr, Song, Terzis,
    Tramèr, "Membership Inference Attacks From First Principles", IEEE S&P 2022), computed
    from the logits with :func:`~privmeter.table.logit_margin_from_logits`; from
    probabilities as ``log p_y - log(sum_{j != y} p_j)``, never from ``1 - p_y``.
    Higher = member.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.75, 0.25], (len(x), 1)), n_classes=2)
    >>> get_signal("logit_margin")(api, np.zeros((1, 1)), [0]).round(4)  # log 3
    array([1.0986])
    """
    z, labels = _scores_and_labels(model, x, y)
    return logit_margin_from_logits(z, labels)


def _loss(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Cross-entropy loss ``softplus(-phi)`` (signal ``"loss"``; lower = member).

    The LOSS attack's signal (Yeom, Giacomelli, Fredrikson, Jha, "Privacy Risk in Machine
    Learning: Analyzing the Connection to Overfitting", IEEE CSF 2018), computed from the
    logit margin so that confident points do not all tie at 0 (see
    :func:`cross_entropy_from_logits`).

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.5, 0.5], (len(x), 1)), n_classes=2)
    >>> get_signal("loss")(api, np.zeros((1, 1)), [0]).round(4)  # log 2
    array([0.6931])
    """
    z, labels = _scores_and_labels(model, x, y)
    return cross_entropy_from_logits(z, labels)


def _entropy(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Prediction entropy ``-sum_j p_j log p_j`` (signal ``"entropy"``; lower = member).

    Label-free confidence signal (Salem, Zhang, Humbert, Berrang, Fritz, Backes, "ML-Leaks",
    NDSS 2019; evaluated by Song & Mittal, USENIX Security 2021). ``y`` is only checked.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.5, 0.5], (len(x), 1)), n_classes=2)
    >>> get_signal("entropy")(api, np.zeros((1, 1)), [0]).round(4)
    array([0.6931])
    """
    z, _ = _scores_and_labels(model, x, y)
    return entropy_from_logits(z)


def _modified_entropy(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Modified entropy (signal ``"modified_entropy"``; lower = member).

    ``-(1 - p_y) log p_y - sum_{j != y} p_j log(1 - p_j)`` from Song, Mittal, "Systematic
    Evaluation of Privacy Risks of Machine Learning Models", USENIX Security 2021: monotone in
    the true-class probability, unlike the entropy. See :func:`modified_entropy_from_logits`.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.8, 0.2], (len(x), 1)), n_classes=2)
    >>> get_signal("modified_entropy")(api, np.zeros((1, 1)), [0]).round(4)
    array([0.0893])
    """
    z, labels = _scores_and_labels(model, x, y)
    return modified_entropy_from_logits(z, labels)


def _correctness(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """``1[predicted class = y]`` (signal ``"correctness"``; label-only; higher = member).

    The "gap attack" of Yeom et al., IEEE CSF 2018, and the baseline of Choquette-Choo,
    Tramèr, Carlini, Papernot, "Label-Only Membership Inference Attacks", ICML 2021.

    Examples
    --------
    >>> from privmeter.models import LabelOnlyModel
    >>> model = LabelOnlyModel(lambda x: np.zeros(len(x), dtype=int), n_classes=3)
    >>> get_signal("correctness")(model, np.zeros((2, 1)), [0, 2])
    array([1., 0.])
    """
    predicted = model.label_index(model.predict(x))
    labels = model.label_index(y)
    return np.asarray(predicted == labels, dtype=np.float64)


def _squared_error(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Squared error ``||f(x) - y||^2`` of a regressor (signal ``"squared_error"``).

    The regression analogue of the LOSS attack (Yeom et al., IEEE CSF 2018); lower = member.
    Multi-output predictions are summed over outputs.
    """
    pred = np.asarray(model.predict(x), dtype=np.float64)
    target = np.asarray(y)
    if target.dtype == object or not np.issubdtype(target.dtype, np.number):
        raise ValueError(f"regression targets must be numeric, got dtype {target.dtype}")
    target = target.astype(np.float64)
    if pred.ndim == 2 and pred.shape[1] == 1 and target.ndim == 1:
        pred = pred[:, 0]
    if target.ndim == 2 and target.shape[1] == 1 and pred.ndim == 1:
        target = target[:, 0]
    if pred.shape != target.shape:
        raise ValueError(
            f"{model!r} predicts outputs of shape {pred.shape} but y has shape {target.shape}"
        )
    bad = ~np.isfinite(target.reshape(target.shape[0], -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"regression targets y are NaN or infinite in {describe_rows(bad)}")
    diff = (pred - target).reshape(pred.shape[0], -1)
    return np.asarray((diff * diff).sum(axis=1), dtype=np.float64)


def _grad_norm(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
    """Per-sample gradient norm ``||d loss(x, y) / d theta||_2`` (signal ``"grad_norm"``).

    White-box signal: training drives members' gradients towards zero (Nasr, Shokri,
    Houmansadr, "Comprehensive Privacy Analysis of Deep Learning", IEEE S&P 2019). Lower =
    member. Needs ``"grad"`` access (:class:`~privmeter.models.TorchModel`).
    """
    method = getattr(model, "per_sample_grad_norm", None)
    if method is None:
        raise ValueError(f"{model!r} has no per_sample_grad_norm method (white-box access)")
    return np.asarray(method(x, y), dtype=np.float64)


# ---------------------------------------------------------------------------- factories
_LIRA = (
    "Carlini, Chien, Nasr, Song, Terzis, Tramèr, 'Membership Inference Attacks From First "
    "Principles', IEEE S&P 2022"
)
_RMIA = (
    "Zarifzadeh, Liu, Shokri, 'Low-Cost High-Power Membership Inference Attacks', ICML 2024"
)
_YEOM = (
    "Yeom, Giacomelli, Fredrikson, Jha, 'Privacy Risk in Machine Learning: Analyzing the "
    "Connection to Overfitting', IEEE CSF 2018"
)
_SONG = (
    "Song, Mittal, 'Systematic Evaluation of Privacy Risks of Machine Learning Models', "
    "USENIX Security 2021"
)
_LABEL_ONLY = (
    "Choquette-Choo, Tramèr, Carlini, Papernot, 'Label-Only Membership Inference Attacks', "
    "ICML 2021"
)
_NASR = (
    "Nasr, Shokri, Houmansadr, 'Comprehensive Privacy Analysis of Deep Learning', IEEE S&P 2019"
)


def probability_signal(temperature: float = 1.0, *, name: str = "probability") -> Signal:
    """True-class probability ``softmax(z / T)_y`` (higher = member).

    The tempered softmax confidence is RMIA's ``Pr(x | theta)`` (Zarifzadeh, Liu, Shokri,
    "Low-Cost High-Power Membership Inference Attacks", ICML 2024). From probabilities
    alone it is ``softmax(log p / T)_y``, the same value.

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> api = BlackBoxModel(lambda x: np.tile([0.8, 0.2], (len(x), 1)), n_classes=2)
    >>> probability_signal(temperature=1.0)(api, np.zeros((1, 1)), [0]).round(4)
    array([0.8])
    >>> probability_signal(temperature=2.0)(api, np.zeros((1, 1)), [0]).round(4)  # 2 / 3
    array([0.6667])
    """
    t = _check_temperature(temperature)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """True-class probability ``softmax(z / T)_y`` (higher = member).

        Tempered softmax confidence, RMIA's ``Pr(x | theta)`` (Zarifzadeh, Liu, Shokri,
        "Low-Cost High-Power Membership Inference Attacks", ICML 2024).
        """
        z, labels = _scores_and_labels(model, x, y)
        return probability_from_logits(z, labels, temperature=t)

    return Signal(name=name, fn=fn, higher_is_member=True, kind="probability",
                  requires="proba", paper=_RMIA, params={"temperature": t})


def taylor_softmax_signal(
    n: int = 4, margin: float = 0.6, temperature: float = 2.0, *, name: str = "taylor_softmax"
) -> Signal:
    """Soft-margin Taylor softmax of the true class (higher = member); needs raw logits.

    RMIA's best signal on CIFAR-10 (Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership
    Inference Attacks", ICML 2024), defaults ``n=4``, ``m=0.6``, ``T=2`` from its code. See
    :func:`taylor_softmax_from_logits` for the formula and the handling of negative terms.

    Examples
    --------
    >>> sig = taylor_softmax_signal()
    >>> sig.requires, sig.params
    ('logits', {'n': 4, 'margin': 0.6, 'temperature': 2.0})
    """
    t = _check_temperature(temperature)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (number of Taylor terms) must be a positive integer, got {n!r}")
    m = float(margin)

    def fn(model: ModelAccess, x: Any, y: Any) -> NDArray[np.float64]:
        """Soft-margin Taylor softmax of the true class (higher = member).

        RMIA's signal (Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership Inference
        Attacks", ICML 2024); see :func:`taylor_softmax_from_logits`.
        """
        z, labels = _scores_and_labels(model, x, y)
        return taylor_softmax_from_logits(z, labels, n=n, margin=m, temperature=t)

    return Signal(name=name, fn=fn, higher_is_member=True, kind="probability",
                  requires="logits", paper=_RMIA,
                  params={"n": n, "margin": m, "temperature": t})


def robustness_signal(
    augmentation: Augmentation | None = None, *, name: str = "robustness"
) -> Signal:
    """Fraction of perturbed queries still classified correctly (label-only; higher = member).

    Choquette-Choo, Tramèr, Carlini, Papernot, "Label-Only Membership Inference Attacks",
    ICML 2021: training points are more robust to perturbations than unseen points, which a
    label-only attacker measures by querying perturbed copies.

    Parameters
    ----------
    augmentation : Augmentation, optional
        The perturbations. Default: ``GaussianNoise(n_queries=8, sigma=0.1, seed=0)``; for
        images, :class:`FlipShift` gives the paper's data-augmentation attack.

    Examples
    --------
    >>> from privmeter.models import LabelOnlyModel
    >>> model = LabelOnlyModel(lambda x: (np.asarray(x)[:, 0] > 0).astype(int), n_classes=2)
    >>> sig = robustness_signal(GaussianNoise(n_queries=100, sigma=1.0, seed=0))
    >>> values = sig(model, np.array([[5.0], [0.1]]), [1, 1])
    >>> bool(values[0] == 1.0), bool(0.3 < values[1] < 0.8)
    (True, True)
    """
    aug = augmentation if augmentation is not None else GaussianNoise(8, 0.1, 0)
    if not isinstance(aug, Augmentation):
        raise TypeError(f"augmentation must be an Augmentation, got {type(aug).__name__}")
    return Signal(name=name, fn=_correctness, higher_is_member=True, kind="custom",
                  requires="label", queries=aug, paper=_LABEL_ONLY,
                  params={"augmentation": repr(aug)})


LOGIT_MARGIN = Signal(
    name="logit_margin", fn=_logit_margin, higher_is_member=True, kind="logit_margin",
    requires="proba", paper=_LIRA,
)
LOSS = Signal(
    name="loss", fn=_loss, higher_is_member=False, kind="loss", requires="proba", paper=_YEOM,
)
ENTROPY = Signal(
    name="entropy", fn=_entropy, higher_is_member=False, kind="custom", requires="proba",
    paper=(
        "Salem, Zhang, Humbert, Berrang, Fritz, Backes, 'ML-Leaks', NDSS 2019; " + _SONG
    ),
)
MODIFIED_ENTROPY = Signal(
    name="modified_entropy", fn=_modified_entropy, higher_is_member=False, kind="custom",
    requires="proba", paper=_SONG,
)
CORRECTNESS = Signal(
    name="correctness", fn=_correctness, higher_is_member=True, kind="custom",
    requires="label", paper=_YEOM + "; " + _LABEL_ONLY,
)
SQUARED_ERROR = Signal(
    name="squared_error", fn=_squared_error, higher_is_member=False, kind="custom",
    requires="label", task="regression", paper=_YEOM,
)
GRAD_NORM = Signal(
    name="grad_norm", fn=_grad_norm, higher_is_member=False, kind="custom", requires="grad",
    task="any", paper=_NASR,
)

for _sig in (
    LOGIT_MARGIN,
    probability_signal(),
    LOSS,
    taylor_softmax_signal(),
    ENTROPY,
    MODIFIED_ENTROPY,
    CORRECTNESS,
    robustness_signal(),
    SQUARED_ERROR,
    GRAD_NORM,
):
    register_signal(_sig)
del _sig
