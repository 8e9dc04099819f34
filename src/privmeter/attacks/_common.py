"""Helpers shared by the attacks: signal transforms and reference-model bookkeeping."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from privmeter.table import SignalTable

__all__ = ["desaturate", "member_likeness", "reference_models", "require_refs"]

#: Logit margins in this band are the adapters' stand-ins for a probability of exactly 0 or 1
#: (log 0 is floored at -745, so such margins land within 745 +- log(n_classes)).
SATURATION_BAND = (700.0, 760.0)


def member_likeness(table: SignalTable) -> NDArray[np.float64]:
    """Per-query signal oriented so that higher = more member-like, shape (M, N, Q).

    For one query the signal itself (on the logit scale for confidence signals, to keep every
    digit); for several queries the negative loss, so that averaging over queries averages
    losses (Yeom et al. 2018) rather than logits.
    """
    if table.n_queries == 1 or table.kind == "custom":
        return table.logit_margin() if table.kind != "custom" else table.oriented()
    if table.kind == "loss":
        return -table.values
    return table.log_proba()  # = -cross-entropy


def reference_models(table: SignalTable, target: int) -> NDArray[np.int64]:
    """Indices of every model except the target."""
    return np.asarray([m for m in range(table.n_models) if m != target], dtype=np.int64)


def require_refs(
    counts: NDArray[np.int64],
    minimum: int,
    *,
    what: str,
    point_ids: NDArray[np.int64],
    hint: str,
) -> None:
    """Raise naming the points with fewer than ``minimum`` reference models of a kind."""
    bad = counts < minimum
    if bad.any():
        ids = point_ids[np.flatnonzero(bad)]
        shown = ", ".join(str(int(i)) for i in ids[:10]) + (" ..." if ids.size > 10 else "")
        raise ValueError(
            f"{int(bad.sum())} points have fewer than {minimum} {what} reference models "
            f"(point ids: {shown}); {hint}"
        )



def desaturate(phi: NDArray[np.float64]) -> tuple[NDArray[np.float64], dict[str, float]]:
    """Replace saturated logit margins by a finite cap just beyond the observed ones.

    A model that reports a probability of exactly 1 (a random forest, a rounded API) has an
    infinite logit margin, which the adapters store as about +-745. For a Gaussian model of
    the margins (LiRA, the tails of Attack-R) such a value is an outlier that dominates every
    mean and variance it enters, although all it says is "at least as confident as any finite
    output". Values with ``|phi|`` in :data:`SATURATION_BAND` are therefore set to
    ``sign * (max finite |phi| + 1)``: the order of all points is kept (saturated points stay
    the most extreme, tied among themselves) and the Gaussian fits see a plausible value.
    Measured on a digits random forest with 8 references: online LiRA TPR at 1% FPR 4.1% ->
    52.9% (AUC 0.921 -> 0.964). Genuine margins beyond the band (huge logits) are untouched.

    Returns the (possibly new) array and ``{"saturated_values": n, "saturation_cap": cap}``
    (empty when nothing is saturated).
    """
    lo, hi = SATURATION_BAND
    if phi.size == 0 or (float(phi.max()) < lo and float(phi.min()) > -lo):
        return phi, {}  # the common case, checked without a temporary the size of phi
    mag = np.abs(phi)
    sat = (mag >= lo) & (mag <= hi)
    n = int(sat.sum())
    if n == 0:
        return phi, {}
    finite = mag[~sat & (mag < lo)]
    cap = (float(finite.max()) if finite.size else 0.0) + 1.0
    out = np.where(sat, np.sign(phi) * cap, phi)
    return out, {"saturated_values": n, "saturation_cap": cap}
