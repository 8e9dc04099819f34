"""RMIA: the robust membership inference attack of Zarifzadeh, Liu & Shokri (2024)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter import metrics
from privmeter.attacks._common import reference_models, require_refs
from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.table import SignalTable

__all__ = [
    "RmiaParams",
    "count_dominated",
    "rmia_attack",
    "rmia_log_ratios",
    "rmia_scores_from_log_ratios",
]

_CHUNK_POINTS = 65536
#: Upper bound on the number of (x, z, query) booleans held at once by the multi-query path.
_PAIR_BUDGET = 1 << 24
A_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))


@dataclass(frozen=True)
class RmiaParams:
    """Parameters of RMIA (defaults from the research code, except ``gamma``: see rmia_attack)."""

    online: bool = field(
        default=True,
        metadata={"help": "Pr(x) from IN and OUT reference models (online) or OUT only"},
    )
    a: float | str = field(
        default="auto",
        metadata={
            "help": "offline: Pr(x) = ((1+a)/2) mean_OUT + (1-a)/2; 'auto' tunes a on the "
            "reference models alone (one reference attacked with the others)"
        },
    )
    gamma: float = field(
        default=1.0, metadata={"help": "likelihood-ratio threshold against each population z"}
    )
    temperature: float = field(
        default=2.0, metadata={"help": "temperature T of Pr(x|theta) = sigmoid(phi / T)"}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.online, (bool, np.bool_)):
            raise ValueError(f"online must be True or False, got {self.online!r}")
        if isinstance(self.a, str):
            if self.a != "auto":
                raise ValueError(f"a must be a number in [0, 1] or 'auto', got {self.a!r}")
        elif not (isinstance(self.a, (int, float)) and 0.0 <= float(self.a) <= 1.0):
            raise ValueError(f"a must be in [0, 1], got {self.a!r}")
        if not (isinstance(self.gamma, (int, float)) and math.isfinite(self.gamma)) or (
            self.gamma <= 0
        ):
            raise ValueError(f"gamma must be a positive number, got {self.gamma!r}")
        if not isinstance(self.temperature, (int, float)) or not (
            math.isfinite(self.temperature) and self.temperature > 0
        ):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")


def _log_mean_proba(
    log_p: NDArray[np.float64], log_q: NDArray[np.float64], w: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log mean p`` and ``mean q`` (``q = 1 - p``) over the models with ``w``, per point.

    Shapes (R, n, Q) and (R, n); empty columns give NaN.
    """
    cnt = w.sum(axis=0)[:, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_q = np.where(w[..., None], np.exp(log_q), 0.0).sum(axis=0) / cnt
        masked = np.where(w[..., None], log_p, -np.inf)
        m = masked.max(axis=0)
        m_safe = np.where(np.isfinite(m), m, 0.0)
        lse = m_safe + np.log(np.exp(masked - m_safe).sum(axis=0))
        log_mean_p = lse - np.log(cnt)
    return log_mean_p, mean_q


def rmia_log_ratios(
    phi: NDArray[np.float64],
    target_phi: NDArray[np.float64],
    ref_mask: NDArray[np.bool_],
    *,
    a: float | None,
    temperature: float,
    in_mask: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """``log Pr(x|theta_t) - log Pr(x)`` for each point and query, computed in log space.

    ``phi`` (R, n, Q) are the reference models' logit margins, ``ref_mask`` (R, n) selects
    the references that enter ``Pr(x)`` (all references online; the OUT ones offline, with
    ``a`` given), and ``Pr(.|theta) = sigmoid(phi / T)``. ``Pr(x)`` is the mean over the
    selected references; offline it is ``((1+a)/2) mean + (1-a)/2`` (Zarifzadeh et al. 2024,
    Sec. 4). Online with ``in_mask`` (which references trained on each point), it is
    ``(mean_IN + mean_OUT) / 2`` wherever a point has both: an equal-weight average that
    does not move with the numbers of IN and OUT references. With a balanced design and the
    target left out, those numbers differ by one according to the target's own membership,
    and a plain mean would turn that design artefact into a spurious membership signal.
    Near ``p = 1`` the mean is taken as ``log1p(-mean(1 - p))`` so that confident points keep
    distinct ratios instead of all rounding to ``log 1``.
    """
    n = phi.shape[1]
    out = np.empty((n, phi.shape[2]))
    t_log_p = -np.logaddexp(0.0, -target_phi / temperature)
    for start in range(0, n, _CHUNK_POINTS):
        sl = slice(start, start + _CHUNK_POINTS)
        z = phi[:, sl, :] / temperature
        log_p = -np.logaddexp(0.0, -z)
        log_q = -np.logaddexp(0.0, z)
        if in_mask is None:
            log_mean_p, mean_q = _log_mean_proba(log_p, log_q, ref_mask[:, sl])
        else:
            w_in = ref_mask[:, sl] & in_mask[:, sl]
            w_out = ref_mask[:, sl] & ~in_mask[:, sl]
            lmp_in, mq_in = _log_mean_proba(log_p, log_q, w_in)
            lmp_out, mq_out = _log_mean_proba(log_p, log_q, w_out)
            has_in = np.asarray(w_in.any(axis=0))[:, None]
            has_out = np.asarray(w_out.any(axis=0))[:, None]
            both = has_in & has_out
            with np.errstate(invalid="ignore"):
                mean_q = np.where(both, 0.5 * (mq_in + mq_out), np.where(has_in, mq_in, mq_out))
                log_mean_p = np.where(
                    both, np.logaddexp(lmp_in, lmp_out) - math.log(2.0),
                    np.where(has_in, lmp_in, lmp_out),
                )
        c = 1.0 if a is None else (1.0 + a) / 2.0
        d = 1.0 - c
        with np.errstate(divide="ignore", invalid="ignore"):
            near_one = np.log1p(-c * mean_q)
            general = (
                np.logaddexp(math.log(c) + log_mean_p, math.log(d)) if d > 0 else log_mean_p
            )
        log_pr = np.where(mean_q < 0.5, near_one, general)
        out[sl] = t_log_p[sl] - log_pr
    return out


def count_dominated(
    lr_x: NDArray[np.float64], lr_z_sorted: NDArray[np.float64], log_gamma: float
) -> NDArray[np.int64]:
    """Number of ``j`` with ``lr_x[i] - lr_z_sorted[j] >= log_gamma``, for each ``i``.

    ``lr_z_sorted`` is ascending, so for a given ``i`` the predicate (with float rounding, a
    monotone function of ``lr_z``) holds on a prefix: a binary search finds its length in
    O(log Z). ``np.searchsorted`` gives the answer up to rounding at the boundary; the few
    points where the exact predicate disagrees are settled by a vectorised binary search on
    the predicate itself, so the count equals a dense ``N x Z`` comparison exactly, ties
    included. Time O((N + Z) log Z), memory O(N + Z).

    Examples
    --------
    >>> count_dominated(np.array([0.0, 1.0, 5.0]), np.array([-1.0, 0.0, 0.0, 3.0]), 1.0)
    array([1, 3, 4])
    """
    z = lr_z_sorted
    n_z = z.size
    k = np.searchsorted(z, lr_x - log_gamma, side="right").astype(np.int64)
    ok_left = (k == 0) | ((lr_x - z[np.maximum(k - 1, 0)]) >= log_gamma)
    ok_right = (k == n_z) | ((lr_x - z[np.minimum(k, n_z - 1)]) < log_gamma)
    bad = np.flatnonzero(~(ok_left & ok_right))
    if bad.size:
        xb = lr_x[bad]
        lo = np.zeros(bad.size, dtype=np.int64)
        hi = np.full(bad.size, n_z, dtype=np.int64)
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = np.minimum((lo + hi) // 2, n_z - 1)
            pred = (xb - z[mid]) >= log_gamma
            lo = np.where(active & pred, mid + 1, lo)
            hi = np.where(active & ~pred, mid, hi)
        k[bad] = lo
    return k


def rmia_scores_from_log_ratios(
    lr_x: NDArray[np.float64], lr_z: NDArray[np.float64], gamma: float
) -> NDArray[np.float64]:
    """RMIA score: fraction of population ``z`` with ``ratio(x) / ratio(z) >= gamma``.

    ``lr_x`` (N, Q) and ``lr_z`` (Z, Q) are log ratios. With one query, a sort and binary
    search (:func:`count_dominated`). With several queries, each pair counts when a strict
    majority of the queries has ``LR >= gamma`` (the paper's majority vote), computed in
    chunks that hold at most ~16M booleans.

    Examples
    --------
    >>> rmia_scores_from_log_ratios(np.log([[1.0], [3.0]]), np.log([[1.0], [2.0]]), 2.0)
    array([0. , 0.5])
    """
    if lr_x.ndim == 1:
        lr_x = lr_x[:, None]
    if lr_z.ndim == 1:
        lr_z = lr_z[:, None]
    n_z, n_q = lr_z.shape
    if n_z == 0:
        raise ValueError("RMIA needs at least one population point z")
    log_gamma = math.log(gamma)
    if n_q == 1:
        counts = count_dominated(lr_x[:, 0], np.sort(lr_z[:, 0]), log_gamma)
        return np.asarray(counts / n_z, dtype=np.float64)
    out = np.empty(lr_x.shape[0])
    rows = max(1, _PAIR_BUDGET // (n_z * n_q))
    for start in range(0, lr_x.shape[0], rows):
        xs = lr_x[start : start + rows]
        votes = ((xs[:, None, :] - lr_z[None, :, :]) >= log_gamma).sum(axis=-1)
        out[start : start + rows] = (2 * votes > n_q).sum(axis=1) / n_z
    return out


def _scores(
    phi: NDArray[np.float64],
    membership: NDArray[np.bool_],
    target: int,
    refs: NDArray[np.int64],
    x_idx: NDArray[np.int64],
    z_idx: NDArray[np.int64],
    *,
    online: bool,
    a: float | None,
    gamma: float,
    temperature: float,
    point_ids: NDArray[np.int64],
) -> NDArray[np.float64]:
    idx = np.r_[x_idx, z_idx]
    ref_phi = phi[refs][:, idx, :]
    mask = np.ones((refs.size, idx.size), dtype=bool)
    if not online:
        mask = ~membership[refs][:, idx]
        require_refs(
            mask.sum(axis=0), 1, what="OUT", point_ids=point_ids[idx],
            hint="offline RMIA needs reference models that did not train on each point",
        )
    lr = rmia_log_ratios(
        ref_phi, phi[target][idx], mask, a=None if online else a, temperature=temperature,
        in_mask=membership[refs][:, idx] if online else None,
    )
    return rmia_scores_from_log_ratios(lr[: x_idx.size], lr[x_idx.size :], gamma)


def tune_a(
    table: SignalTable, target: int, *, gamma: float, temperature: float,
    grid: tuple[float, ...] = A_GRID,
) -> tuple[float, list[float], int]:
    """Choose offline RMIA's ``a`` by attacking one reference model with the others.

    The target's membership is never used. The pseudo-target is the first reference model
    ``r`` whose training set splits the table's points into members and non-members (audit
    points for online-style references, population points for references trained on
    population data); half of the population points that ``r`` did not train on serve as
    its z points, every other point with an OUT model among the remaining references is a
    candidate x, and the remaining references (never the target) play the references.
    Returns ``(best a, AUC per grid value, pseudo-target index)``.
    """
    refs = reference_models(table, target)
    if refs.size < 2:
        raise ValueError(
            f"a='auto' needs at least 2 reference models to tune a (has {refs.size}); pass a "
            "explicitly, e.g. a=0.3 (the research code's CIFAR-10 value)"
        )
    pop = np.flatnonzero(table.population_mask)
    everything = np.arange(table.n_points)
    phi = table.logit_margin()
    for r in refs:
        pop_out = pop[~table.membership[r, pop]]
        if pop_out.size < 2:
            continue
        # a fixed, label-free split of r's OUT population points into z and candidates
        z_r = pop_out[np.random.default_rng(int(r)).permutation(pop_out.size)[: pop_out.size // 2]]
        others = refs[refs != r]
        cand = np.setdiff1d(everything, z_r)
        has_out = (~table.membership[others][:, cand]).any(axis=0)
        x_r = cand[has_out]
        if (table.membership[others][:, z_r]).all(axis=0).any():
            continue
        lab = table.membership[r, x_r]
        if lab.all() or not lab.any():
            continue
        aucs = []
        for a in grid:
            s = _scores(
                phi, table.membership, int(r), others, x_r, z_r, online=False, a=a,
                gamma=gamma, temperature=temperature, point_ids=table.point_ids,
            )
            aucs.append(metrics.auc(s, lab))
        best = int(np.argmax(aucs))
        return float(grid[best]), aucs, int(r)
    raise ValueError(
        "a='auto' found no reference model to tune on (one needs members and non-members "
        "among the table's points and population points it did not train on); pass a "
        "explicitly"
    )


def rmia_attack(table: SignalTable, target: int, params: RmiaParams) -> AttackOutput:
    """Robust membership inference attack: pairwise likelihood ratios against population z.

    Zarifzadeh, Liu & Shokri (2024), "Low-Cost High-Power Membership Inference Attacks",
    ICML. ``ratio(x) = Pr(x|theta_t) / Pr(x)`` with ``Pr(x|theta) = sigmoid(phi / T)`` (the
    true-class probability of a two-way softmax over the logit margin at temperature T) and
    ``Pr(x)`` the mean over reference models (online: all of them; offline: the OUT ones,
    linearly corrected by ``a`` for the missing IN models). The score of x is the fraction of
    population points z with ``ratio(x) / ratio(z) >= gamma``. The default ``gamma = 1``
    departs from the research code's 2: with one query the score is the population's
    empirical CDF of log-ratios at ``log ratio(x) - log gamma``, monotone in ``ratio(x)`` but
    flat beyond the population's range shifted by ``log gamma``, so a larger gamma only adds
    ties (measured: digits MLP AUC 0.658 vs 0.620, random forest 0.723 vs 0.505).
    ``a='auto'`` picks ``a`` from {0, 0.1, ..., 1} by attacking a reference model with the
    other references, as ML Privacy Meter does, never touching the target's membership.
    Exact, O((N + Z) log Z).

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> n_aud, n_pop = 300, 300
    >>> mu = rng.normal(0, 2, size=n_aud + n_pop)
    >>> mem = np.argsort(rng.random((8, n_aud + n_pop)), axis=0) < 4  # each point IN 4 of 8
    >>> mem[0, n_aud:] = False  # the target never saw the population
    >>> vals = mu + rng.normal(size=(8, n_aud + n_pop)) + 2.0 * mem
    >>> role = ["audit"] * n_aud + ["population"] * n_pop
    >>> res = pm.run_attack("rmia", pm.SignalTable(vals, mem, role=role), target=0, a=0.3)
    >>> res.auc > 0.8
    True
    """
    if table.kind == "custom":
        raise ValueError(
            "RMIA needs probabilities, but the table holds a 'custom' signal; build the table "
            "with kind='logit_margin', 'probability' or 'loss'"
        )
    pop = table.population_mask
    if not pop.any():
        raise ValueError(
            "RMIA needs population points z (role='population') that the target did not "
            "train on; the table has none"
        )
    extras: dict[str, Any] = {}
    a: float | None = None
    if not params.online:
        if params.a == "auto":
            a, aucs, r = tune_a(
                table, target, gamma=params.gamma, temperature=params.temperature
            )
            extras.update({"a": a, "a_tuning_auc": aucs, "a_tuning_model": r})
        else:
            a = float(params.a)
            extras["a"] = a
    refs = reference_models(table, target)
    if refs.size == 0:
        raise ValueError("RMIA needs at least one reference model besides the target")
    if params.online:
        audit = np.flatnonzero(table.audit_mask)
        require_refs(
            table.membership[refs][:, audit].sum(axis=0), 1, what="IN",
            point_ids=table.point_ids[audit],
            hint="online RMIA needs reference models trained on each audit point; use "
            "online=False or train more reference models",
        )
    scores = _scores(
        table.logit_margin(), table.membership, target, refs,
        np.flatnonzero(table.audit_mask), np.flatnonzero(pop),
        online=params.online, a=a, gamma=params.gamma, temperature=params.temperature,
        point_ids=table.point_ids,
    )
    extras["n_population"] = int(pop.sum())
    return AttackOutput(scores, extras)


register_attack(
    AttackSpec(
        name="rmia",
        fn=rmia_attack,
        params_type=RmiaParams,
        paper="Zarifzadeh, Liu & Shokri, Low-Cost High-Power Membership Inference Attacks, "
        "ICML 2024",
        summary="pairwise likelihood ratio of x against population points z, with reference "
        "models estimating Pr(x)",
    )
)
