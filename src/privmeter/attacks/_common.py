"""Helpers shared by the attacks: signal transforms and reference-model bookkeeping."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter.table import SignalTable

__all__ = [
    "desaturate",
    "gaussian_margin",
    "member_likeness",
    "reference_models",
    "require_refs",
    "rescale",
]

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


def require_reference_models(table: SignalTable, attack: str) -> None:
    """Raise when ``table`` holds no model besides the target (an attack that calibrates on
    reference models has nothing to calibrate on)."""
    if table.n_models < 2:
        raise ValueError(
            f"the {attack} attack needs reference models besides the target, but the table "
            f"has {table.n_models} model; add reference models (n_references >= 1) or use "
            "the loss attack"
        )


def require_refs(
    counts: NDArray[np.int64],
    minimum: int,
    *,
    what: str,
    point_ids: NDArray[np.int64],
    hint: str,
) -> None:
    """Raise naming the points with fewer than ``minimum`` reference models of a kind."""
    problem = _missing_refs(counts, minimum, what, point_ids)
    if problem:
        raise ValueError(f"{problem}; {hint}")


def _missing_refs(
    counts: NDArray[np.int64], minimum: int, what: str, point_ids: NDArray[np.int64]
) -> str:
    """``"N points have fewer than k WHAT reference models (point ids: ...)"``, or ``""``."""
    bad = counts < minimum
    if not bad.any():
        return ""
    ids = point_ids[np.flatnonzero(bad)]
    shown = ", ".join(str(int(i)) for i in ids[:10]) + (" ..." if ids.size > 10 else "")
    return (
        f"{int(bad.sum())} points have fewer than {minimum} {what} reference models "
        f"(point ids: {shown})"
    )


def require_in_and_out_refs(
    in_counts: NDArray[np.int64],
    out_counts: NDArray[np.int64],
    minimum: int,
    *,
    point_ids: NDArray[np.int64],
    hint: str,
) -> None:
    """Raise naming the points with too few IN and, separately, too few OUT models."""
    problems = [
        p
        for p in (
            _missing_refs(in_counts, minimum, "IN", point_ids),
            _missing_refs(out_counts, minimum, "OUT", point_ids),
        )
        if p
    ]
    if problems:
        raise ValueError("; ".join(problems) + f"; {hint}")



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


#: Margins whose largest magnitude has a binary exponent outside this range are rescaled by a
#: power of two before Gaussian fits (see :func:`rescale`).
_SAFE_EXPONENTS = (-16, 16)


def rescale(
    phi: NDArray[np.float64], *, lo: float | None = None, hi: float | None = None
) -> tuple[NDArray[np.float64], int]:
    """Scale ``phi`` by an exact power of two so that its largest magnitude is about 1.

    LiRA and Attack-R are invariant to a common rescaling of the signal in exact arithmetic,
    but not in floating point: the squared deviations of signals of order 1e-300 underflow
    (a table multiplied by 1e-300 gave LiRA AUC 0.500 instead of 0.743) and those of order
    1e308 overflow (NaN scores). Multiplying by ``2**-e`` is exact (no digit of the signal is
    lost), so the scores are those of the unscaled signal. Signals whose largest magnitude
    lies within ``2**-16 .. 2**16`` are returned unchanged, without a copy.

    Returns the (possibly new) array and the exponent ``e`` it was divided by (0 = unchanged).

    Examples
    --------
    >>> x, e = rescale(np.array([3e-300, -1e-300]))
    >>> e, bool(abs(x).max() <= 1.0), float(x[0] / x[1])
    (-994, True, -3.0)
    """
    if phi.size == 0:
        return phi, 0
    top = float(phi.max()) if hi is None else hi
    bottom = float(phi.min()) if lo is None else lo
    big = max(abs(top), abs(bottom))
    if big == 0.0 or not np.isfinite(big):
        return phi, 0
    e = int(np.frexp(big)[1])
    if _SAFE_EXPONENTS[0] <= e <= _SAFE_EXPONENTS[1]:
        return phi, 0
    return np.ldexp(phi, -e), e


def gaussian_margin(table: SignalTable) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """The logit margin prepared for Gaussian fits (LiRA, Attack-R), once per table.

    Saturated margins are capped (:func:`desaturate`), then the signal is rescaled by a power
    of two when its magnitude would make squared deviations overflow or underflow
    (:func:`rescale`). Returns the read-only array and diagnostics for the attack's extras.
    """

    def compute() -> tuple[NDArray[np.float64], dict[str, Any]]:
        phi, info = desaturate(table.logit_margin())
        phi, e = rescale(phi)
        if e:
            info = {**info, "rescale_exponent": e}  # the signal was divided by 2**e
        if phi.flags.writeable:
            phi.setflags(write=False)
        return phi, info

    phi, info = table.cached("gaussian_margin", compute)
    return phi, dict(info)
