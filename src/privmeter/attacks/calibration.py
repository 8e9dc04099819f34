"""Population calibration: each model's signal as a normal score among its own non-members.

A table transform that ``auto`` applies before LiRA or RMIA (candidates with the suffix
``_q``). Models differ in overall confidence (one reference trained longer or luckier than
another; a random forest's votes are coarse), and that difference is noise to an attack that
compares the target's signal with the references'. Ye et al. (2022)'s Attack-P reads the
target's signal as a percentile of the target's own signals on population points; here every
model's signal is read that way, each against the population points it did not train on, and
the percentile is mapped to the standard normal scale, so that LiRA's Gaussians and RMIA's
probabilities then compare like with like (Zarifzadeh et al. 2024 compare each point with
population points for the same reason).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from privmeter.attacks._common import desaturate
from privmeter.table import SignalTable

__all__ = ["MIN_POPULATION", "normal_scores", "population_quantiles"]

#: A model needs at least this many population points it did not train on to be calibrated.
MIN_POPULATION = 20
#: Fraction of the reference values at each end whose slope extends the map beyond them.
_TAIL = 0.05


def normal_scores(
    values: NDArray[np.float64], reference: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``values`` mapped to the normal scale by the empirical distribution of ``reference``.

    Within the range of ``reference`` the map is the piecewise-linear interpolation of
    ``Phi^-1((r + 0.5) / n)`` at the distinct reference values (``r`` their mid-rank, so ties
    share a score); beyond it the map continues linearly with the slope of its outer
    :data:`_TAIL` (at least one segment), so that values above every reference keep their
    order instead of tying at the top, where a low-FPR attack needs them apart. The map is
    increasing, so each model's order of points is unchanged.

    Examples
    --------
    >>> ref = np.arange(1.0, 100.0)
    >>> z = normal_scores(np.array([50.0, 150.0, 200.0]), ref)
    >>> round(float(z[0]), 6), bool(z[2] > z[1] > 2.0)
    (0.0, True)
    """
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    n = ref.size
    uniq, first, counts = np.unique(ref, return_index=True, return_counts=True)
    if uniq.size < 2:
        raise ValueError(
            f"population calibration needs at least 2 distinct reference values, got {uniq.size}"
        )
    mid = first + (counts - 1) / 2.0
    z = special.ndtri((mid + 0.5) / n)
    out = np.interp(values, uniq, z)
    k = max(1, min(uniq.size - 1, int(np.ceil(_TAIL * uniq.size))))
    lo_slope = (z[k] - z[0]) / (uniq[k] - uniq[0])
    hi_slope = (z[-1] - z[-1 - k]) / (uniq[-1] - uniq[-1 - k])
    out = np.where(values < uniq[0], z[0] + lo_slope * (values - uniq[0]), out)
    out = np.where(values > uniq[-1], z[-1] + hi_slope * (values - uniq[-1]), out)
    return np.asarray(out, dtype=np.float64)


def population_quantiles(table: SignalTable) -> SignalTable:
    """The table with each model's signal replaced by its population normal score.

    For model ``m`` and each query, the logit-scaled signal (saturated margins capped, see
    :func:`privmeter.attacks._common.desaturate`) is mapped by :func:`normal_scores` against
    ``m``'s signals on the population points ``m`` did not train on. The target's population
    points are its non-members by the table's definition, so the transform reads no audit
    membership of the target. The result has kind ``"logit_margin"`` (higher = more
    member-like) and is computed once per table. Raises when a model has fewer than
    :data:`MIN_POPULATION` such points.

    Examples
    --------
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> vals = rng.normal(size=(3, 300)) + np.array([[0.0], [5.0], [-5.0]])  # model offsets
    >>> mem = np.zeros((3, 300), dtype=bool)
    >>> t = pm.SignalTable(vals, mem, role=["audit"] * 100 + ["population"] * 200)
    >>> q = population_quantiles(t)
    >>> [abs(round(float(np.median(q.values[m, 100:, 0])), 1)) for m in range(3)]
    [0.0, 0.0, 0.0]
    """

    def make() -> SignalTable:
        phi, _ = desaturate(table.logit_margin())
        pop = table.population_mask
        out = np.empty(phi.shape, dtype=np.float64)
        for m in range(table.n_models):
            ref = pop & ~table.membership[m]
            _check_population(table, m, ref)
            for q in range(phi.shape[2]):
                out[m, :, q] = normal_scores(phi[m, :, q], phi[m, ref, q])
        return SignalTable(
            out, table.membership, role=table.role, labels=table.labels, groups=table.groups,
            kind="logit_margin", point_ids=table.point_ids, metadata=table.metadata,
        )

    return table.cached("calibration:population_quantiles", make)


def _check_population(table: SignalTable, m: int, ref: NDArray[np.bool_]) -> None:
    if int(ref.sum()) < MIN_POPULATION:
        raise ValueError(
            f"population calibration needs at least {MIN_POPULATION} population points "
            f"each model did not train on; model {m} has {int(ref.sum())}. Add "
            "population points (data the target never saw)"
        )

