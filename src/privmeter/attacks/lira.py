"""LiRA: the likelihood-ratio attack of Carlini et al. (2022)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from privmeter._validation import check_bool, check_int
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
    "quantile_bins",
    "reference_stats",
    "shrink_gap",
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

    gap_prior: bool = field(
        default=False,
        metadata={
            "help": "borrow strength across points for the IN-OUT gap (privmeter's extension): "
            "online, each point's gap is shrunk toward that of points at the same signal "
            "level (empirical Bayes); offline, the IN mean is the OUT mean plus the gap "
            "learned on the non-audit points some references trained on"
        },
    )
    variance_bins: int = field(
        default=1,
        metadata={
            "help": "with the pooled variance: pool within this many quantile bins of the "
            "points' mean reference signal (1: one pooled variance, the paper's)"
        },
    )

    def __post_init__(self) -> None:
        check_bool("online", self.online)
        check_bool("gap_prior", self.gap_prior)
        object.__setattr__(
            self, "variance_bins", check_int("variance_bins", self.variance_bins, minimum=1)
        )
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


#: Each bin of the gap prior and of the binned variance holds at least this many points.
_MIN_BIN = 25
#: Number of quantile bins of the gap prior (fewer when there are too few points).
_GAP_BINS = 20
#: A binned variance is floored at this fraction of the pooled one: a bin whose reference
#: signals coincide (saturated outputs of a random forest) must not make the ratio explode.
_BIN_VAR_FLOOR = 1e-2


def quantile_bins(
    x: NDArray[np.float64], n_bins: int, edges_from: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.int64], int]:
    """Index of the quantile bin of each value of ``x``, and the number of bins.

    The bin edges are the quantiles of ``edges_from`` (default ``x``), with at most
    ``n_bins`` bins and at least :data:`_MIN_BIN` values of ``edges_from`` per bin on average.

    Examples
    --------
    >>> b, k = quantile_bins(np.arange(100.0), 4)
    >>> k, np.bincount(b).tolist()
    (4, [25, 25, 25, 25])
    """
    ref = x if edges_from is None else edges_from
    k = max(1, min(int(n_bins), ref.size // _MIN_BIN))
    edges = np.quantile(ref, np.linspace(0.0, 1.0, k + 1)[1:-1])
    return np.asarray(np.searchsorted(edges, x, side="right"), dtype=np.int64), k


def _binned_var(
    ss: NDArray[np.float64], count: NDArray[np.int64], level: NDArray[np.float64],
    pooled: NDArray[np.float64], n_bins: int, query_level: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Pooled within-point variance inside quantile bins of ``level`` (per query column).

    ``ss`` (n, Q) and ``count`` (n,) are the per-point squared deviations and model counts of
    the fitted points, ``level`` (n, Q) their bin key; the result has the shape of
    ``query_level`` (the points to score; default the fitted points). A bin without a degree
    of freedom takes the pooled variance; every bin is floored at ``_BIN_VAR_FLOOR`` x pooled.
    """
    dof = np.maximum(count - 1, 0).astype(np.float64)
    ql = level if query_level is None else query_level
    out = np.empty(ql.shape, dtype=np.float64)
    for q in range(ql.shape[1]):
        b, k = quantile_bins(level[:, q], n_bins)
        scored = b if query_level is None else quantile_bins(
            ql[:, q], n_bins, edges_from=level[:, q])[0]
        num = np.bincount(b, weights=ss[:, q], minlength=k)
        den = np.bincount(b, weights=dof, minlength=k)
        var = np.where(den > 0, num / np.maximum(den, 1.0), pooled[q])
        out[:, q] = np.maximum(var, _BIN_VAR_FLOOR * pooled[q])[scored]
    return out


def shrink_gap(
    mu_in: NDArray[np.float64], mu_out: NDArray[np.float64],
    se2: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Empirical-Bayes shrinkage of the per-point IN-OUT gap (online LiRA's ``gap_prior``).

    With few reference models, the gap ``d = mu_in - mu_out`` of a point is a noisy estimate
    (sampling variance ``se2 = s_in^2 / n_in + s_out^2 / n_out``): a non-member whose gap is
    large by chance reads as a member. Following Efron & Morris (1975), the points are
    grouped by their signal level ``(mu_in + mu_out) / 2`` (quantile bins); within a bin the
    gaps are modelled as ``d_true ~ N(f, tau^2)``, with ``f`` the bin's mean gap and ``tau^2``
    its variance of gaps minus the mean sampling variance (at least 0), and each gap is
    replaced by its posterior mean ``f + tau^2 / (tau^2 + se2) (d - f)``. The midpoint of the
    two means is kept. Returns the new ``(mu_in, mu_out)`` (shape (n, Q)).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> level = rng.normal(0, 3, size=(400, 1))  # the points' signal levels
    >>> gap = 1.0 + rng.normal(0, 1, size=(400, 1))  # true gap 1, estimated with variance 1
    >>> mi, mo = shrink_gap(level + gap / 2, level - gap / 2, np.ones_like(gap))
    >>> bool(np.abs(mi - mo - 1).mean() < np.abs(gap - 1).mean() / 2)
    True
    """
    d = mu_in - mu_out
    mid = (mu_in + mu_out) / 2.0
    new = np.empty_like(d)
    for q in range(d.shape[1]):
        b, k = quantile_bins(mid[:, q], _GAP_BINS)
        cnt = np.bincount(b, minlength=k).astype(np.float64)
        f = np.bincount(b, weights=d[:, q], minlength=k) / np.maximum(cnt, 1.0)
        resid = d[:, q] - f[b]
        vd = np.bincount(b, weights=resid**2, minlength=k) / np.maximum(cnt - 1.0, 1.0)
        s2m = np.bincount(b, weights=se2[:, q], minlength=k) / np.maximum(cnt, 1.0)
        tau2 = np.maximum(vd - s2m, 0.0)[b]
        tot = tau2 + se2[:, q]
        w = np.where(tot > 0, tau2 / np.where(tot > 0, tot, 1.0), 1.0)
        new[:, q] = f[b] + w * resid
    return mid + new / 2.0, mid - new / 2.0


def _learned_gap(
    phi: NDArray[np.float64], membership: NDArray[np.bool_], target: int,
    fit: NDArray[np.int64], mu_out: NDArray[np.float64], variance_bins: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Offline ``gap_prior``: the IN mean and IN variance of points no reference trained on.

    On the ``fit`` points (non-audit points with IN and OUT references) the gap ``mu_in -
    mu_out`` is averaged within quantile bins of ``mu_out``; an audit point takes the mean gap
    of its bin (by its own OUT mean) and the pooled IN variance of the fit points (within the
    same bins with ``variance_bins > 1``). Returns ``(mu_in, var_in)`` for the audit points.
    """
    fin, fout = reference_stats(phi, membership, target, fit, balance=False)
    gap = fin.mean - fout.mean
    shift = np.empty_like(mu_out)
    for q in range(mu_out.shape[1]):
        b, k = quantile_bins(fout.mean[:, q], _GAP_BINS)
        cnt = np.bincount(b, minlength=k).astype(np.float64)
        f = np.bincount(b, weights=gap[:, q], minlength=k) / np.maximum(cnt, 1.0)
        ba, _ = quantile_bins(mu_out[:, q], _GAP_BINS, edges_from=fout.mean[:, q])
        shift[:, q] = f[ba]
    pooled = fin.pooled_var if fin.pooled_defined else fout.pooled_var
    if variance_bins > 1:
        assert fin.ss is not None  # reference_stats always records the squared deviations
        var_in = _binned_var(fin.ss, fin.count, fout.mean, pooled, variance_bins,
                             query_level=mu_out)
    else:
        var_in = np.broadcast_to(np.asarray(pooled), mu_out.shape).copy()
    return mu_out + shift, var_in


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
    ``extras["variance_estimator"]`` says which was used.

    Two extensions of privmeter's own (off by default, so that ``lira`` is the paper's
    attack; ``auto`` chooses them on pseudo-targets): ``variance_bins=k`` pools the variance
    within ``k`` quantile bins of the points' mean reference signal instead of over all points
    (a confident point's margins vary less than a hard point's), and ``gap_prior`` borrows
    strength across points for the IN-OUT gap. Online, each point's gap is shrunk toward the
    mean gap of the points at the same signal level by empirical Bayes (Efron & Morris 1975;
    :func:`shrink_gap`), which removes the false alarms of points whose few IN references
    happened to be confident. Offline, where no reference trained on an audit point, the IN
    mean is the OUT mean plus the gap learned, as a function of the OUT mean, on the
    non-audit points that some references trained on and others did not, and the score is
    the two-sided ratio.

    Several queries (augmentations) are
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
    if params.variance_bins > 1:
        if not fix:
            raise ValueError(
                f"variance_bins={params.variance_bins} bins the pooled variance, but this run "
                "uses per-point variances; use fix_variance=True (or None) with variance_bins"
            )
        if out_stats.pooled_defined and (not params.online or in_stats.pooled_defined):
            estimator = f"pooled in {params.variance_bins} bins"
            if params.online:
                level = (in_stats.mean + out_stats.mean) / 2.0
                assert in_stats.ss is not None
                var_in = _binned_var(in_stats.ss, in_stats.count, level, in_stats.pooled_var,
                                     params.variance_bins)
            else:
                level = out_stats.mean
            assert out_stats.ss is not None
            var_out = _binned_var(out_stats.ss, out_stats.count, level, out_stats.pooled_var,
                                  params.variance_bins)
    mu_in = in_stats.mean
    mu_out = out_stats.mean
    if params.gap_prior and params.online:
        assert var_in is not None
        se2 = var_in / np.maximum(in_stats.count, 1)[:, None] + var_out / np.maximum(
            out_stats.count, 1)[:, None]
        mu_in, mu_out = shrink_gap(in_stats.mean, out_stats.mean, se2)
    elif params.gap_prior:
        ref_rows = np.ones(table.n_models, dtype=bool)
        ref_rows[target] = False
        mem_r = table.membership[ref_rows]
        n_in_all = mem_r.sum(axis=0)
        fit = np.flatnonzero(~audit & (n_in_all >= 1) & (n_in_all < mem_r.shape[0]))
        if fit.size < _MIN_BIN:
            raise ValueError(
                f"offline LiRA with gap_prior learns the IN-OUT gap on non-audit points that "
                f"some reference models trained on and others did not, and needs at least "
                f"{_MIN_BIN} of them; this table has {fit.size}. Train the offline references "
                "on part of the population (privmeter's offline references do), or use "
                "gap_prior=False"
            )
        mu_in, var_in = _learned_gap(phi, table.membership, target, fit, out_stats.mean,
                                     params.variance_bins if fix else 1)
    extras: dict[str, Any] = {
        "fix_variance": fix,
        "variance_estimator": estimator,
        "gap_prior": params.gap_prior,
        "n_reference_models": n_refs,
        **saturation,
    }
    binned = estimator.startswith("pooled in")
    if fix and not binned:
        extras["std_out"] = _std_list(var_out[0], saturation)
    if out_stats.pooled_defined:
        extras["pooled_std_out"] = _std_list(out_stats.pooled_var, saturation)
    if params.online:
        assert var_in is not None
        if fix and not binned:
            extras["std_in"] = _std_list(var_in[0], saturation)
        if in_stats.pooled_defined:
            extras["pooled_std_in"] = _std_list(in_stats.pooled_var, saturation)
        score = (
            _log_normal_pdf(x, mu_in, var_in) - _log_normal_pdf(x, mu_out, var_out)
        ).sum(axis=-1)
    elif params.gap_prior:
        assert var_in is not None
        score = (
            _log_normal_pdf(x, mu_in, var_in) - _log_normal_pdf(x, mu_out, var_out)
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
