"""LiRA: the likelihood-ratio attack of Carlini et al. (2022)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from privmeter._validation import check_bool
from privmeter.attacks._common import (
    gaussian_margin,
    require_in_and_out_refs,
    require_reference_models,
    require_refs,
)
from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.table import SignalTable

__all__ = [
    "GaussianStats",
    "LiraParams",
    "combined_global_var",
    "lira_attack",
    "reference_stats",
]

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
        check_bool("online", self.online)
        if self.fix_variance is not None and not isinstance(self.fix_variance, (bool, np.bool_)):
            raise ValueError(f"fix_variance must be True, False or None, got {self.fix_variance!r}")


@dataclass(frozen=True)
class GaussianStats:
    """Per-point Gaussian fits of reference signals (arrays of shape (n_points, n_queries)).

    ``var`` is the per-point unbiased variance (NaN where fewer than 2 models),
    ``pooled_var`` the pooled within-point variance per query: sum of squared deviations
    over sum of (count - 1), over all points (NaN when no point has 2 models), and
    ``global_var`` the variance of all the signals of every point and model together, about
    the grand mean (Carlini et al.'s ``fix_variance`` estimator, ``np.std(dat_in)`` in their
    code): defined with a single model per point. ``ss`` holds the per-point sums of squared
    deviations.
    """

    mean: NDArray[np.float64]
    var: NDArray[np.float64]
    count: NDArray[np.int64]
    pooled_var: NDArray[np.float64]
    global_var: NDArray[np.float64] = field(default_factory=lambda: np.full(1, np.nan))
    ss: NDArray[np.float64] | None = None

    @property
    def pooled_defined(self) -> bool:
        """Whether the pooled within-point variance is estimable (some point has 2 models)."""
        return bool(np.all(np.isfinite(self.pooled_var)))

    def fixed_var(self) -> NDArray[np.float64]:
        """The one variance per query used with ``fix_variance``: pooled, else global.

        The pooled within-point variance when some point has at least two models; with one
        model per point (two reference models online, one offline) it is undefined and the
        global variance is used instead (Carlini et al. 2022 recommend one global variance
        for few reference models).
        """
        return self.pooled_var if self.pooled_defined else self.global_var

    def variance(
        self, *, fix_variance: bool, fixed: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Fixed (``fixed`` or :meth:`fixed_var`) or per-point variance, with a floor.

        The floor, ``1e-8`` x the fixed variance (at least 1e-300), keeps a point whose
        reference signals all coincide from producing an infinite score.
        """
        common = self.fixed_var() if fixed is None else fixed
        common = np.nan_to_num(common, nan=0.0)
        var = np.broadcast_to(common, self.var.shape) if fix_variance else self.var
        return np.asarray(np.maximum(var, np.maximum(common * 1e-8, 1e-300)))


def combined_global_var(a: GaussianStats, b: GaussianStats) -> NDArray[np.float64]:
    """Global variance (about the grand mean) of the signals of two fits taken together."""
    if a.ss is None or b.ss is None:
        raise ValueError("combined_global_var needs fits with per-point squared deviations")
    ca = a.count[:, None].astype(np.float64)
    cb = b.count[:, None].astype(np.float64)
    n = float(a.count.sum() + b.count.sum())
    if n < 2:
        return np.full(a.mean.shape[1], np.nan)
    grand = (np.where(ca > 0, ca * a.mean, 0.0).sum(0) + np.where(cb > 0, cb * b.mean, 0.0)
             .sum(0)) / n
    between = np.where(ca > 0, ca * (a.mean - grand) ** 2, 0.0).sum(0) + np.where(
        cb > 0, cb * (b.mean - grand) ** 2, 0.0
    ).sum(0)
    return np.asarray((a.ss.sum(0) + b.ss.sum(0) + between) / (n - 1.0))


def _first_k(mask: NDArray[np.bool_], k: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Keep, in each column, only the first ``k[j]`` True entries of ``mask`` (M, n).

    A loop over the (few) models with vector operations across points: numpy's cumulative
    sum down axis 0 is about ten times slower here.
    """
    if bool((mask.sum(axis=0) == k).all()):
        return mask
    running = np.zeros(mask.shape[1], dtype=np.int64)
    out = np.empty_like(mask)
    for m in range(mask.shape[0]):
        running += mask[m]
        out[m] = mask[m] & (running <= k)
    return out


def reference_stats(
    values: NDArray[np.float64],
    membership: NDArray[np.bool_],
    target: int,
    points: NDArray[np.int64] | None = None,
    *,
    balance: bool = False,
) -> tuple[GaussianStats, GaussianStats]:
    """Gaussian fits of the reference models' signals, IN and OUT, for each point.

    ``values`` (M, N, Q) and ``membership`` (M, N) cover every model; model ``target`` is
    left out. ``points`` selects the points (default all). With ``balance``, both fits of a
    point use the same number of references, the smaller of its IN and OUT counts (the
    lowest-indexed models of the larger group): a likelihood ratio between fits of unequal
    precision is biased, and in leave-one-out designs the counts differ by the target's own
    membership. One pass over the values in
    chunks of points, with no copy of the (M, N) array: the sums of the shifted signals
    ``d = v - v_ref0`` and of ``d^2`` give means and squared deviations (shifting by one
    reference's own value per point keeps the one-pass variance free of cancellation).
    """
    n_models, n_all, n_q = values.shape
    refs = np.ones(n_models, dtype=bool)
    refs[target] = False
    ref0 = int(np.flatnonzero(refs)[0])
    idx = np.arange(n_all) if points is None else np.asarray(points, dtype=np.int64)
    contiguous = points is None
    n = idx.size
    acc = {k: np.empty((n, n_q)) for k in ("s_in", "q_in", "s_out", "q_out", "shift")}
    c_in = np.empty(n, dtype=np.int64)
    c_out = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        sel: slice | NDArray[np.int64] = slice(start, stop) if contiguous else idx[start:stop]
        v = values[:, sel, :]
        w = membership[:, sel] & refs[:, None]
        w_out = ~membership[:, sel] & refs[:, None]
        if balance:
            k = np.minimum(w.sum(axis=0), w_out.sum(axis=0))
            w = _first_k(w, k)
            w_out = _first_k(w_out, k)
        shift = v[ref0]
        d = v - shift[None]
        d2 = d * d
        d[target] = 0.0
        d2[target] = 0.0
        wf = w.astype(np.float64)[:, :, None]
        s_in = (wf * d).sum(axis=0)
        q_in = (wf * d2).sum(axis=0)
        acc["s_in"][start:stop] = s_in
        acc["q_in"][start:stop] = q_in
        if balance:
            wo = w_out.astype(np.float64)[:, :, None]
            acc["s_out"][start:stop] = (wo * d).sum(axis=0)
            acc["q_out"][start:stop] = (wo * d2).sum(axis=0)
        else:
            acc["s_out"][start:stop] = d.sum(axis=0) - s_in
            acc["q_out"][start:stop] = d2.sum(axis=0) - q_in
        acc["shift"][start:stop] = shift
        c_in[start:stop] = w.sum(axis=0)
        c_out[start:stop] = w_out.sum(axis=0)

    def fit(
        s: NDArray[np.float64], q: NDArray[np.float64], cnt: NDArray[np.int64]
    ) -> GaussianStats:
        cf = np.maximum(cnt, 1)[:, None].astype(np.float64)
        mean_d = s / cf
        ss = np.maximum(q - s * mean_d, 0.0)
        dof = np.maximum(cnt - 1, 0)
        total = dof.sum()
        pooled = ss.sum(axis=0) / total if total > 0 else np.full(n_q, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(dof[:, None] > 0, ss / dof[:, None], np.nan)
        mean = mean_d + acc["shift"]
        # global variance = (within-point SS + between-point SS about the grand mean) / (n - 1)
        c = cnt[:, None].astype(np.float64)
        n_tot = float(cnt.sum())
        if n_tot >= 2:
            grand = np.where(c > 0, c * mean, 0.0).sum(axis=0) / n_tot
            between = np.where(c > 0, c * (mean - grand) ** 2, 0.0).sum(axis=0)
            global_var = (ss.sum(axis=0) + between) / (n_tot - 1.0)
        else:
            global_var = np.full(n_q, np.nan)
        return GaussianStats(mean=mean, var=var, count=cnt, pooled_var=np.asarray(pooled),
                             global_var=np.asarray(global_var), ss=ss)

    return fit(acc["s_in"], acc["q_in"], c_in), fit(acc["s_out"], acc["q_out"], c_out)


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

    With ``fix_variance`` one variance per query replaces the per-point variances (the paper
    finds it better with few reference models; by default it is used unless every point has at
    least 64 IN and 64 OUT references): the pooled within-point variance when some point has two
    references on that side, else, with one reference per side (two reference models online, one
    offline), the global variance of all the references' signals about their grand mean, the
    estimator of the paper's code (``np.std(dat_in)``); online, IN and OUT then share that one
    variance, which makes the score linear in the target's signal, ``(mu_in - mu_out) (phi -
    (mu_in + mu_out) / 2) / s^2``. (Before, one reference per side left the variance undefined,
    floored at 1e-300: scores of 1e300 and false alarms on null models.)
    ``extras["variance_estimator"]`` says which was used. Several queries (augmentations) are
    treated as independent Gaussians (the paper's diagonal approximation). Online, the IN and
    OUT fits of a point use equally many references (the smaller count): with unequal counts the
    ratio of the two fits is biased, and with a balanced design and the target left out (the
    algorithm and record games) the counts differ by one according to the target's own
    membership, which would read as membership signal (a null table gave AUC 0.455 over 6
    models). Margins of probabilities that are exactly 0 or 1 are capped first (see
    :func:`privmeter.attacks._common.desaturate`), and signals of extreme magnitude are rescaled
    by an exact power of two (:func:`privmeter.attacks._common.rescale`), which leaves the
    scores unchanged but keeps squared deviations of 1e-300 or 1e308 finite.

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
    require_reference_models(table, "LiRA")
    phi, saturation = gaussian_margin(table)
    audit = table.audit_mask
    points = None if audit.all() else np.flatnonzero(audit)
    in_stats, out_stats = reference_stats(
        phi, table.membership, target, points, balance=params.online
    )
    n_refs = table.n_models - 1
    if params.fix_variance is None:
        n_min = np.minimum(out_stats.count, in_stats.count) if params.online else out_stats.count
        fix = bool(n_min.min() < _PER_POINT_MIN)
    else:
        fix = bool(params.fix_variance)
    audit_ids = table.point_ids[audit]
    hint_var = "use fix_variance=True (one pooled variance) or train more reference models"
    if params.online:
        # the balanced counts are min(IN, OUT): name what each point actually lacks
        ref_rows = np.ones(table.n_models, dtype=bool)
        ref_rows[target] = False
        mem_refs = table.membership[ref_rows][:, audit]
        n_in = mem_refs.sum(axis=0)
        require_in_and_out_refs(
            n_in, mem_refs.shape[0] - n_in, 1 if fix else 2, point_ids=audit_ids,
            hint="online LiRA needs reference models trained on each point (at least 2 "
            "reference models, each point IN one and OUT of another); use online=False "
            "or train more reference models" + ("" if fix else f", or {hint_var}"),
        )
    require_refs(
        out_stats.count, 1 if fix else 2, what="OUT", point_ids=audit_ids,
        hint="train more reference models" + ("" if fix else f", or {hint_var}"),
    )
    x = phi[target][audit]
    if not fix:
        estimator = "per-point"
        var_out = out_stats.variance(fix_variance=False)
        var_in = in_stats.variance(fix_variance=False) if params.online else None
    elif params.online and not (in_stats.pooled_defined and out_stats.pooled_defined):
        # one reference per side: one common global variance for IN and OUT, as in the
        # paper's code; the ratio is then linear in phi and free of the variance's noise
        estimator = "global"
        common = combined_global_var(in_stats, out_stats)
        var_in = in_stats.variance(fix_variance=True, fixed=common)
        var_out = out_stats.variance(fix_variance=True, fixed=common)
    else:
        estimator = "pooled" if out_stats.pooled_defined else "global"
        var_out = out_stats.variance(fix_variance=True)
        var_in = in_stats.variance(fix_variance=True) if params.online else None
    extras: dict[str, Any] = {
        "fix_variance": fix,
        "variance_estimator": estimator,
        "n_reference_models": n_refs,
        **saturation,
    }
    if fix:
        extras["std_out"] = _std_list(var_out[0], saturation)
    if out_stats.pooled_defined:
        extras["pooled_std_out"] = _std_list(out_stats.pooled_var, saturation)
    if params.online:
        assert var_in is not None
        if fix:
            extras["std_in"] = _std_list(var_in[0], saturation)
        if in_stats.pooled_defined:
            extras["pooled_std_in"] = _std_list(in_stats.pooled_var, saturation)
        score = (
            _log_normal_pdf(x, in_stats.mean, var_in) - _log_normal_pdf(x, out_stats.mean, var_out)
        ).sum(axis=-1)
    else:
        z = (x - out_stats.mean) / np.sqrt(var_out)
        score = special.log_ndtr(z).sum(axis=-1)
    return AttackOutput(np.asarray(score, dtype=np.float64), extras)


def _std_list(var: NDArray[np.float64], info: dict[str, Any]) -> list[float]:
    """Standard deviations per query on the signal's own scale (undoing :func:`rescale`)."""
    e = int(info.get("rescale_exponent", 0))
    return [float(v) for v in np.ldexp(np.sqrt(var), e)]


register_attack(
    AttackSpec(
        name="lira",
        fn=lira_attack,
        params_type=LiraParams,
        paper="Carlini et al., Membership Inference Attacks From First Principles, IEEE S&P 2022",
        summary="Gaussian likelihood ratio of the target's logit-scaled confidence vs "
        "reference models (online IN/OUT or offline OUT-only)",
        cites=("carlini2022",),
        title="LiRA",
        method="Gaussian likelihood ratio of the target's logit-scaled confidence under models "
        "trained with (online) and without the record.",
    )
)
