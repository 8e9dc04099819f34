"""LiRA: the likelihood-ratio attack of Carlini et al. (2022)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from privmeter.attacks._common import require_refs
from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.table import SignalTable

__all__ = ["LiraParams", "gaussian_reference_stats", "lira_attack"]

_CHUNK = 8192
#: With fewer reference models per point, a per-point variance is too noisy (its relative
#: standard error is sqrt(2 / (k - 1)), 25% at k = 32) and the pooled one is used by default.
_PER_POINT_MIN = 64
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LiraParams:
    """Parameters of LiRA."""

    online: bool = field(
        default=True,
        metadata={"help": "use IN and OUT reference models (online) or OUT only (offline)"},
    )
    fix_variance: bool | None = field(
        default=None,
        metadata={
            "help": "one pooled variance for all points (True), a per-point variance (False), "
            "or automatic (None): per-point only when every point has at least 64 IN "
            "(online) and 64 OUT reference models"
        },
    )

    def __post_init__(self) -> None:
        if not isinstance(self.online, (bool, np.bool_)):
            raise ValueError(f"online must be True or False, got {self.online!r}")
        if self.fix_variance is not None and not isinstance(self.fix_variance, (bool, np.bool_)):
            raise ValueError(f"fix_variance must be True, False or None, got {self.fix_variance!r}")


@dataclass(frozen=True)
class GaussianStats:
    """Per-point Gaussian fits of reference signals (arrays of shape (n_points, n_queries))."""

    mean: NDArray[np.float64]
    var: NDArray[np.float64]
    count: NDArray[np.int64]
    pooled_var: NDArray[np.float64]


def gaussian_reference_stats(
    values: NDArray[np.float64],
    mask: NDArray[np.bool_],
    *,
    fix_variance: bool,
) -> GaussianStats:
    """Mean and variance of ``values[m, i, q]`` over the models ``m`` with ``mask[m, i]``.

    ``values`` has shape (M, N, Q) and ``mask`` (M, N). Two passes per chunk of points (mean,
    then squared deviations) keep the variance exact when the mean is large. The pooled
    variance is ``sum of squared deviations / sum of (count - 1)`` over all points, per query.
    Variances are floored at ``1e-8`` times the pooled variance (and ``1e-300``) so that a
    point whose reference signals all coincide does not produce an infinite score.
    """
    _, n_points, n_q = values.shape
    mean = np.empty((n_points, n_q))
    ss = np.empty((n_points, n_q))
    count = mask.sum(axis=0).astype(np.int64)
    for start in range(0, n_points, _CHUNK):
        sl = slice(start, start + _CHUNK)
        v = values[:, sl, :]
        w = mask[:, sl, None]
        c = np.maximum(count[sl], 1)[:, None]
        mu = np.where(w, v, 0.0).sum(axis=0) / c
        dev = np.where(w, v - mu[None], 0.0)
        mean[sl] = mu
        ss[sl] = np.einsum("mnq,mnq->nq", dev, dev)
    dof = np.maximum(count - 1, 0)
    total_dof = dof.sum()
    pooled = ss.sum(axis=0) / total_dof if total_dof > 0 else np.full(n_q, np.nan)
    if fix_variance:
        var = np.broadcast_to(pooled, (n_points, n_q)).copy()
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            var = ss / dof[:, None]
    floor = np.maximum(np.nan_to_num(pooled, nan=0.0) * 1e-8, 1e-300)
    var = np.maximum(var, floor)
    return GaussianStats(mean=mean, var=var, count=count, pooled_var=np.asarray(pooled))


def _log_normal_pdf(
    x: NDArray[np.float64], mu: NDArray[np.float64], var: NDArray[np.float64]
) -> NDArray[np.float64]:
    return np.asarray(-0.5 * (_LOG_2PI + np.log(var) + (x - mu) ** 2 / var))


def lira_attack(table: SignalTable, target: int, params: LiraParams) -> AttackOutput:
    """Likelihood-ratio attack on the logit-scaled confidence.

    Carlini, Chien, Nasr, Song, Terzis & Tramèr (2022), "Membership Inference Attacks From
    First Principles", IEEE S&P. On ``phi = log p_y - log(1 - p_y)`` of the target:

    - online: ``sum_q log N(phi_q; mu_in, s_in^2) - log N(phi_q; mu_out, s_out^2)`` with the
      Gaussians fitted per point on the reference models that trained (IN) and did not train
      (OUT) on it;
    - offline: ``sum_q log P[Z < phi_q]``, ``Z ~ N(mu_out, s_out^2)`` (the paper's one-sided
      test: a member's confidence is higher than the OUT models').

    With ``fix_variance`` one pooled variance per query replaces the per-point variances
    (the paper finds it better with few reference models; by default it is used unless every
    point has at least 64 IN and 64 OUT references). Several queries (augmentations) are
    treated as independent Gaussians (the paper's diagonal approximation).

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.normal(0, 3, size=500)
    >>> mem = rng.random((17, 500)) < 0.5
    >>> vals = mu + rng.normal(size=(17, 500)) + 1.0 * mem
    >>> t = pm.SignalTable(vals, mem)
    >>> lira = pm.run_attack("lira", t, target=0).auc
    >>> loss = pm.run_attack("loss", t, target=0).auc
    >>> lira > loss + 0.1
    True
    """
    phi = table.logit_margin()
    audit = table.audit_mask
    refs_mask = np.ones(table.n_models, dtype=bool)
    refs_mask[target] = False
    vals = phi[refs_mask][:, audit, :]
    mem = table.membership[refs_mask][:, audit]
    n_refs = int(refs_mask.sum())
    if params.fix_variance is None:
        n_out = (~mem).sum(axis=0)
        n_min = np.minimum(n_out, mem.sum(axis=0)) if params.online else n_out
        fix = bool(n_min.min() < _PER_POINT_MIN)
    else:
        fix = bool(params.fix_variance)
    audit_ids = table.point_ids[audit]
    out_stats = gaussian_reference_stats(vals, ~mem, fix_variance=fix)
    hint_var = "use fix_variance=True (one pooled variance) or train more reference models"
    require_refs(
        out_stats.count, 1 if fix else 2, what="OUT", point_ids=audit_ids,
        hint="train more reference models" + ("" if fix else f", or {hint_var}"),
    )
    x = phi[target][audit]
    extras: dict[str, Any] = {
        "fix_variance": fix,
        "n_reference_models": n_refs,
        "pooled_std_out": np.sqrt(out_stats.pooled_var).tolist(),
    }
    if params.online:
        in_stats = gaussian_reference_stats(vals, mem, fix_variance=fix)
        require_refs(
            in_stats.count, 1 if fix else 2, what="IN", point_ids=audit_ids,
            hint="online LiRA needs reference models trained on each point; use online=False "
            "or train more reference models" + ("" if fix else f", or {hint_var}"),
        )
        extras["pooled_std_in"] = np.sqrt(in_stats.pooled_var).tolist()
        score = (
            _log_normal_pdf(x, in_stats.mean, in_stats.var)
            - _log_normal_pdf(x, out_stats.mean, out_stats.var)
        ).sum(axis=-1)
    else:
        z = (x - out_stats.mean) / np.sqrt(out_stats.var)
        score = special.log_ndtr(z).sum(axis=-1)
    return AttackOutput(np.asarray(score, dtype=np.float64), extras)


register_attack(
    AttackSpec(
        name="lira",
        fn=lira_attack,
        params_type=LiraParams,
        paper="Carlini et al., Membership Inference Attacks From First Principles, IEEE S&P 2022",
        summary="Gaussian likelihood ratio of the target's logit-scaled confidence vs "
        "reference models (online IN/OUT or offline OUT-only)",
    )
)
