"""Helpers shared by the attacks: signal transforms and reference-model bookkeeping."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from privmeter.table import SignalTable

__all__ = ["member_likeness", "reference_models", "require_refs"]


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

