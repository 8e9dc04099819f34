"""Query augmentations: several perturbed copies of every point, vectorised and seeded.

An :class:`Augmentation` makes ``n_queries`` variants of each point; :func:`compute_signal
<privmeter.signals.compute_signal>` evaluates a signal on all of them (LiRA's flipped and
shifted images, :class:`FlipShift`) or averages a signal over them (the label-only robustness
signal, :class:`GaussianNoise`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int, is_int

__all__ = ["Augmentation", "FlipShift", "GaussianNoise"]


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
        object.__setattr__(self, "shift", check_int("shift", self.shift, minimum=0))
        object.__setattr__(self, "stride", check_int("stride", self.stride, minimum=1))
        if self.padding not in ("reflect", "zero"):
            raise ValueError(f"padding must be 'reflect' or 'zero', got {self.padding!r}")
        available = (2 if self.flip else 1) * len(self.offsets())
        n = self.n_queries
        if n is None:
            n = available
        elif not is_int(n) or not 1 <= n <= available:
            raise ValueError(
                f"FlipShift(shift={self.shift}, stride={self.stride}, flip={self.flip}) makes "
                f"1 to {available} queries, got n_queries={n!r}"
            )
        object.__setattr__(self, "n_queries", int(n))

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
        object.__setattr__(self, "n_queries", check_int("n_queries", n_queries, minimum=1))
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
