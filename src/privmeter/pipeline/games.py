"""Planning the inference games: data sizes and a seed -> index sets and keep matrices.

Pure index arithmetic, no model: which rows are audited, which are population points, which
model trains on which row (the keep matrix) and which models are targets. The games are those
of Ye et al. (2022), "Enhanced Membership Inference Attacks against Machine Learning Models",
ACM CCS; the reference models follow LiRA (Carlini et al., S&P 2022): each audited point is
IN for half of the online reference models and OUT for the other half.

Examples
--------
>>> p = plan_game(20, game="algorithm", n_references=3, population_fraction=0.3, seed=0)
>>> p.audit_rows.size, p.population_rows.size, p.keep.shape, p.targets
(14, 6, (4, 20), [0, 1, 2, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_indices, check_seed, is_int

__all__ = [
    "GAMES",
    "GamePlan",
    "add_reference_keep",
    "check_records",
    "check_seed",
    "plan_game",
    "split_seeds",
]

GAMES = ("model", "algorithm", "record")


def split_seeds(seed: int) -> tuple[np.random.Generator, int, int]:
    """The audit's three independent streams from one seed: ``(split rng, train seed, query
    seed)``, children of ``numpy.random.SeedSequence(seed)``.

    Examples
    --------
    >>> rng, train, query = split_seeds(0)
    >>> (train, query) == split_seeds(0)[1:]
    True
    """
    ss = np.random.SeedSequence(seed)
    split, train, query = ss.spawn(3)
    return (
        np.random.default_rng(split),
        int(train.generate_state(1)[0] >> 1),
        int(query.generate_state(1)[0] >> 1),
    )


@dataclass(frozen=True)
class GamePlan:
    """Who is audited and who trains on what.

    Attributes
    ----------
    audit_rows : ndarray of int
        Data rows whose membership is attacked.
    population_rows : ndarray of int
        Data rows never trained on by a target (population points).
    keep : ndarray of bool, shape (n_models, n)
        One row per model, one column per data row: True where the model trains on the row.
    targets : list of int
        The models attacked in turn (rows of ``keep``).
    """

    audit_rows: NDArray[np.int64]
    population_rows: NDArray[np.int64]
    keep: NDArray[np.bool_]
    targets: list[int]

    def as_tuple(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], list[int]]:
        """``(audit_rows, population_rows, keep, targets)``."""
        return self.audit_rows, self.population_rows, self.keep, self.targets


def check_records(records: Any, n: int) -> NDArray[np.int64]:
    """The record game's row indices, sorted: integers in ``[0, n)``, distinct, at least 2."""
    raw = np.asarray(records)
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "iu"):
        raise ValueError(
            f"records must be a number of records or a list of row indices (integers), got "
            f"{records!r}"
        )
    recs = np.sort(check_indices("records", raw, n, distinct=True, allow_empty=True))
    if recs.size < 2:
        raise ValueError(f"records must hold at least 2 row indices, got {recs.size}")
    return recs


def plan_game(
    n: int,
    *,
    game: str,
    n_references: int,
    population_fraction: float,
    seed: int,
    online: bool = True,
    target_indices: ArrayLike | None = None,
    records: int | ArrayLike = 20,
    leave_one_out: bool = False,
) -> GamePlan:
    """Plan a game on ``n`` data rows (see the module docstring).

    Parameters
    ----------
    n : int
        Rows of the data.
    game : {"model", "algorithm", "record"}
        The inference game.
    n_references : int
        Reference models per target (``"model"``); the other games train ``n_references + 1``
        models, rounded up to an even number, each the target in turn.
    population_fraction : float
        Share of the rows kept as population points.
    seed : int
        The audit's seed (the split stream of :func:`split_seeds` is used).
    online : bool
        ``"model"`` game: references train on halves of the audit points (True) or on
        population points only (False).
    target_indices : array of int, optional
        ``"model"`` game with the user's trained target: the rows of its training set. Its
        row in ``keep`` is row 0.
    records : int or array of int
        ``"record"`` game: how many records (random) or their row indices.
    leave_one_out : bool
        ``"record"`` game: the rest of the training set fixed across models.

    Returns
    -------
    GamePlan
    """
    from privmeter.training.keep import keep_matrix  # lazy: the training package imports torch

    rng, _, _ = split_seeds(seed)
    keep_seed = int(rng.integers(2**31))
    if game == "model" and target_indices is not None:
        members = np.unique(np.asarray(target_indices, dtype=np.int64))
        if members.size != np.asarray(target_indices).size:
            raise ValueError("target_indices contain duplicates")
        if members.size == 0 or members.min() < 0 or members.max() >= n:
            raise ValueError(
                f"target_indices must be row indices in [0, {n - 1}], got values from "
                f"{members.min() if members.size else 'none'} to "
                f"{members.max() if members.size else 'none'}"
            )
        rest = rng.permutation(np.setdiff1d(np.arange(n), members))
        n_pop = round(population_fraction * n)
        n_non = min(members.size, rest.size - n_pop)
        if n_non < 1 or rest.size - n_non < 1:
            raise ValueError(
                f"not enough points for the model game: {members.size} members of the "
                f"target, {rest.size} other points, {n_pop} wanted as population; lower "
                "population_fraction or provide more data"
            )
        audit = np.r_[members, rest[:n_non]]
        pop = rest[n_non:]
        keep = np.zeros((1 + n_references, n), dtype=bool)
        keep[0, members] = True
        add_reference_keep(keep, audit, pop, members.size, keep_seed, online=online)
        return GamePlan(audit, pop, keep, [0])

    perm = rng.permutation(n)
    n_pop = round(population_fraction * n)
    pop, audit = np.sort(perm[:n_pop]), np.sort(perm[n_pop:])
    min_audit = 4 if game != "record" else 6
    if audit.size < min_audit or pop.size < 1:
        raise ValueError(
            f"fewer points than the {game!r} game needs: {n} rows give {audit.size} "
            f"audit and {pop.size} population points"
        )
    if game == "model":
        keep = np.zeros((1 + n_references, n), dtype=bool)
        t = rng.permutation(audit)[: audit.size // 2]
        keep[0, t] = True
        add_reference_keep(keep, audit, pop, t.size, keep_seed, online=online)
        return GamePlan(audit, pop, keep, [0])

    n_models = n_references + 1
    n_models += n_models % 2
    keep = np.zeros((n_models, n), dtype=bool)
    if game == "algorithm":
        keep[:, audit] = keep_matrix(n_models, audit.size, seed=keep_seed)
        return GamePlan(audit, pop, keep, list(range(n_models)))

    # record game
    if is_int(records):
        k = int(records)
        if not 2 <= k <= audit.size - 2:
            raise ValueError(
                f"records must be between 2 and {audit.size - 2} for this data, got {k}"
            )
        recs = np.sort(rng.choice(audit, size=k, replace=False))
    else:
        recs = check_records(records, n)
        pop = np.setdiff1d(pop, recs)
    base = np.setdiff1d(np.setdiff1d(np.arange(n), pop), recs)
    keep[:, recs] = keep_matrix(n_models, recs.size, seed=keep_seed)
    if leave_one_out:
        fixed = rng.permutation(base)[: base.size // 2]
        keep[:, fixed] = True
    else:
        keep[:, base] = keep_matrix(n_models, base.size, seed=keep_seed + 1)
    return GamePlan(recs, pop, keep, list(range(n_models)))


def add_reference_keep(
    keep: NDArray[np.bool_], audit: NDArray[np.int64], pop: NDArray[np.int64],
    size: int, seed: int, *, online: bool,
) -> None:
    """Fill the reference rows of ``keep`` (rows 1..) in place: online on halves of the audit
    points, offline on subsets of the population of the target's training-set ``size``."""
    from privmeter.training.keep import keep_matrix

    m = keep.shape[0] - 1
    if m == 0:
        return
    m_even = m + m % 2
    if online:
        pool = audit
    else:
        if pop.size < 2 * size:
            raise ValueError(
                f"offline reference models train on population data only: they need at "
                f"least {2 * size} population points (twice the target's {size} training "
                f"points), but there are {pop.size}; raise population_fraction (e.g. 0.6)"
            )
        pool = np.random.default_rng(seed).permutation(pop)[: 2 * size]
    # every pool point, odd pool sizes included (the last point once had no IN model):
    # each point is IN for exactly m_even / 2 of m_even models, so with m >= 2 kept rows
    # every point has at least one IN and one OUT reference model
    keep[1:, pool] = keep_matrix(m_even, pool.size, seed=seed)[:m]
