"""Keep matrices: which model trains on which point.

In the "average privacy loss of a training algorithm" game (Ye et al., CCS 2022) and in the
online LiRA attack (Carlini et al., "Membership Inference Attacks From First Principles",
IEEE S&P 2022, section IV), ``M`` models are trained on random halves of a data pool so that
every point is IN the training set of exactly half of the models and OUT of the other half.
The matrix ``keep[m, i]`` (True if model ``m`` trains on point ``i``) is that design; it is
also the ``membership`` of the resulting :class:`~privmeter.SignalTable`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_indices, check_int

__all__ = ["KeepScheme", "keep_matrix", "target_membership"]

KeepScheme = Literal["random", "paired"]


def keep_matrix(
    n_models: int,
    n_points: int,
    *,
    seed: int | np.random.SeedSequence | np.random.Generator,
    scheme: KeepScheme = "random",
) -> NDArray[np.bool_]:
    """A balanced random design: every point is IN for exactly half of the models.

    ``keep[m, i]`` is True when model ``m`` trains on point ``i``. Every column has exactly
    ``n_models / 2`` True entries, as in LiRA's experiments (Carlini et al., S&P 2022), so each
    point has as many IN as OUT reference models. Unlike LiRA's code, the rows are balanced too:
    every model trains on ``floor(n_points / 2)`` or ``ceil(n_points / 2)`` points (exactly
    ``n_points / 2`` when ``n_points`` is even), which lets the vectorized ensemble trainer
    train the models in lockstep.

    Parameters
    ----------
    n_models : int
        Number of models ``M``; must be even and at least 2.
    n_points : int
        Number of points ``N`` in the pool; at least 1.
    seed : int, SeedSequence or Generator
        Randomness, passed to :func:`numpy.random.default_rng`.
    scheme : {"random", "paired"}
        ``"random"``: each point gets an independent uniformly random set of ``M / 2`` models,
        then rows are balanced by swapping entries within columns (which keeps every column's
        count). ``"paired"``: model ``2k + 1`` trains exactly on the complement of model
        ``2k``'s points (each pair splits the pool in two halves).

    Returns
    -------
    ndarray of bool, shape (n_models, n_points)

    Raises
    ------
    ValueError
        If ``n_models`` is odd or smaller than 2, ``n_points`` is smaller than 1, or the scheme
        is unknown.

    Examples
    --------
    >>> keep = keep_matrix(4, 6, seed=0)
    >>> keep.sum(axis=0).tolist()
    [2, 2, 2, 2, 2, 2]
    >>> keep.sum(axis=1).tolist()
    [3, 3, 3, 3]
    >>> paired = keep_matrix(4, 5, seed=0, scheme="paired")
    >>> bool((paired[0] ^ paired[1]).all())
    True
    """
    m = check_int("n_models", n_models, minimum=2)
    n = check_int("n_points", n_points, minimum=1)
    if m % 2:
        raise ValueError(
            f"n_models must be even so that every point is IN for exactly half of the models, "
            f"got n_models={m}"
        )
    if scheme not in ("random", "paired"):
        raise ValueError(f"unknown keep scheme {scheme!r}; expected 'random' or 'paired'")
    rng = np.random.default_rng(seed)
    half = m // 2

    if scheme == "paired":
        keep = np.zeros((m, n), dtype=bool)
        for k in range(half):
            first = rng.permutation(n)[: n // 2] if k % 2 == 0 else rng.permutation(n)[: n - n // 2]
            keep[2 * k, first] = True
            keep[2 * k + 1] = ~keep[2 * k]
        return keep

    # Each point: a uniformly random set of M/2 models (the argsort trick of LiRA's code).
    ranks = rng.random((m, n)).argsort(axis=0)
    keep = ranks < half
    # Balance the rows. Targets: N/2 each; for odd N, a random half of the models get the
    # extra point (the total M*N/2 then splits exactly).
    target = np.full(m, n // 2, dtype=np.int64)
    if n % 2:
        target[rng.permutation(m)[:half]] += 1
    excess = keep.sum(axis=1).astype(np.int64) - target
    while True:
        heavy = np.flatnonzero(excess > 0)
        if heavy.size == 0:
            break
        light = np.flatnonzero(excess < 0)
        h = int(rng.choice(heavy))
        lo = int(rng.choice(light))
        # Points IN for the heavy model and OUT for the light one; moving some of them from
        # h to lo keeps every column sum. There are at least excess[h] - excess[lo] - 1 >= c.
        candidates = np.flatnonzero(keep[h] & ~keep[lo])
        count = int(min(excess[h], -excess[lo]))
        moved = rng.choice(candidates, size=count, replace=False)
        keep[h, moved] = False
        keep[lo, moved] = True
        excess[h] -= count
        excess[lo] += count
    return keep


def target_membership(train_indices: ArrayLike, n_points: int) -> NDArray[np.bool_]:
    """Membership of a fixed target model trained on ``train_indices`` of a pool of points.

    For the "privacy loss of a model" game (Ye et al., CCS 2022): the target is given, and its
    training set is a known index set of the audited pool. Stack the result on top of a
    :func:`keep_matrix` for the reference models to get the full membership matrix.

    Parameters
    ----------
    train_indices : array_like of int
        Indices (into the pool) of the target's training points; no duplicates.
    n_points : int
        Size of the pool.

    Returns
    -------
    ndarray of bool, shape (n_points,)

    Raises
    ------
    ValueError
        On indices out of range, duplicate indices, or non-integer indices.

    Examples
    --------
    >>> target_membership([0, 2], 4).tolist()
    [True, False, True, False]
    >>> import numpy as np
    >>> membership = np.vstack([target_membership([0, 2], 4), keep_matrix(2, 4, seed=1)])
    >>> membership.shape
    (3, 4)
    """
    n = check_int("n_points", n_points, minimum=1)
    idx = check_indices("train_indices", train_indices, n, distinct=True, allow_empty=True)
    member = np.zeros(n, dtype=bool)
    member[idx] = True
    return member
