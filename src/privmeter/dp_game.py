"""The DP audit game: plant canaries, train, and test the claimed epsilon.

A training pipeline that claims (epsilon, delta)-differential privacy -- DP-SGD (Abadi et al.
2016, ``abadi2016``) with an accountant's epsilon -- promises that no membership test on any
single training record does better than ``TPR <= e^eps FPR + delta``. A missed clipping step,
noise added to the wrong tensor or sampling that is not what the accountant assumes leave the
accountant's number unchanged; only an experiment sees them. This game:

1. builds ``m`` canaries -- training records made easy to recognise: mislabelled copies of data
   rows (``"mislabel"``), random out-of-distribution inputs with random labels (``"ood"``), or,
   for white-box access, dirac inputs scored by how far training moved the weights along the
   canary's gradient (``"gradient"``, after the gradient canaries of Nasr et al., USENIX
   Security 2023, ``nasr2023``);
2. includes each canary in each training run independently with probability 1/2 (recorded);
3. trains ``runs`` models through :func:`privmeter.training.train_models` (cache, executors);
4. scores every canary in every run (minus its loss, or the gradient alignment) and computes
   empirical lower bounds on epsilon: the one-run bound (Steinke, Nasr & Jagielski 2023,
   ``steinke2023``, :func:`privmeter.dp_audit.one_run_epsilon`) over all (run, canary) pairs
   and, with several runs, the Clopper-Pearson bound (Jagielski et al. 2020,
   ``jagielski2020``) and the Gaussian-DP bound (Dong, Roth & Su 2022, ``dong2022``; Nasr et
   al. 2023);
5. compares them with the claimed epsilon: *consistent* when every lower bound is at most the
   claim, *violated* when one exceeds it. The bounds are computed at a Bonferroni-corrected
   confidence each, so that the verdict holds at the stated confidence.

A lower bound is evidence, not proof, in one direction only: *violated* shows the claim false
(at the confidence); *consistent* only says that this test found no leak beyond the claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_fraction, check_int, check_seed
from privmeter.dp_audit import (
    _largest_refuted_eps,
    epsilon_lower_bound_runs,
    gdp_epsilon_lower_bound_runs,
    one_run_epsilon,
    tpr_bound,
)

__all__ = [
    "CANARIES",
    "DPAuditResult",
    "DPBound",
    "canaries_needed",
    "dp_audit_game",
    "max_certifiable_epsilon",
    "tpr_bound",
]

CANARIES: tuple[str, ...] = ("mislabel", "ood", "gradient")

#: Citation keys (privmeter.references) of the game and its estimators.
CITES: tuple[str, ...] = (
    "steinke2023", "nasr2023", "dong2022", "jagielski2020", "kairouz2015", "abadi2016",
    "mironov2017", "gopi2021", "yousefpour2021",
)

_METHOD_TEXT = {
    "one_run": "one-run audit (Steinke, Nasr & Jagielski 2023)",
    "clopper_pearson": "several runs, Clopper-Pearson (Jagielski et al. 2020)",
    "gdp": "several runs, Gaussian DP (Dong, Roth & Su 2022; Nasr et al. 2023)",
}

_ASSUMPTION = {
    "one_run": "each canary included independently with probability 1/2 (none other)",
    "clopper_pearson": "canaries of one run treated as independent trials (exact with one "
                       "canary per run)",
    "gdp": "as clopper_pearson, and the training algorithm's privacy is Gaussian-shaped "
           "(mu-GDP), as DP-SGD's approximately is",
}


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class DPBound:
    """One empirical lower bound on epsilon.

    Attributes
    ----------
    method : {"one_run", "clopper_pearson", "gdp"}
    epsilon : float
        The lower bound (0 when nothing is refuted).
    confidence : float
        Its own confidence (Bonferroni share of the audit's confidence).
    assumption : str
        What the bound assumes beyond the randomised canary inclusion.
    details : dict
        The estimator's diagnostics (guesses and correct guesses, or the deciding
        threshold, rates and their upper bounds, mu).
    """

    method: str
    epsilon: float
    confidence: float
    assumption: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        return {
            "method": self.method, "epsilon": self.epsilon, "confidence": self.confidence,
            "assumption": self.assumption, "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DPBound:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["method"]), float(d["epsilon"]), float(d["confidence"]),
                   str(d["assumption"]), dict(d.get("details", {})))


@dataclass(frozen=True)
class DPAuditResult:
    """Claimed versus measured epsilon, with a verdict (:func:`dp_audit_game`).

    Attributes
    ----------
    claimed_epsilon : float
        The claim tested: the accountant's epsilon (the largest over the runs, whose training
        sets differ by the included canaries), or the caller's ``claimed_epsilon``.
    accountant : str or None
        ``"rdp"`` or ``"prv"`` (None for a caller's claim).
    claimed_epsilon_rdp, claimed_epsilon_prv : float or None
        Both accountants' epsilons (largest over the runs), when the trainer is DP.
    delta, confidence : float
        The delta of the claim and of the bounds; the audit's overall confidence.
    bounds : tuple of DPBound
        ``one_run`` always; ``clopper_pearson`` and ``gdp`` with ``runs >= 2``.
    verdict : {"consistent", "violated"}
    canary : str
        ``"mislabel"``, ``"ood"`` or ``"gradient"``.
    n_canaries, runs, seed : int
    seeds : tuple of int
        Training seed of each run.
    canary_rows : tuple of int
        Rows of the audited data (data rows first, then canaries) holding the canaries.
    source_rows : tuple of int or None
        ``"mislabel"``: the data rows the canaries were copied from (then left out of the
        base training set).
    inclusion : ndarray of bool, shape (runs, n_canaries)
        Whether each run trained on each canary.
    scores : ndarray of float, shape (runs, n_canaries)
        Membership score of each canary in each run (higher = more likely IN).
    max_detectable_epsilon : float
        The largest bound a perfect attack would reach with these canaries and runs (over the
        methods run): the largest epsilon this audit could ever certify.
    privacy : tuple of dict
        The trainer's ``privacy_spent`` of each distinct training-set size (empty for a
        caller's claim).
    canaries_for_claim : int or None
        When ``max_detectable_epsilon`` is at most the claim (the audit could not have shown
        a violation): the (run, canary) observations a perfect attack needs to certify 1.25
        times the claim, or None when no number up to 10^6 does at this delta.
    """

    claimed_epsilon: float
    accountant: str | None
    claimed_epsilon_rdp: float | None
    claimed_epsilon_prv: float | None
    delta: float
    confidence: float
    bounds: tuple[DPBound, ...]
    verdict: str
    canary: str
    n_canaries: int
    runs: int
    seed: int
    seeds: tuple[int, ...]
    canary_rows: tuple[int, ...]
    source_rows: tuple[int, ...] | None
    inclusion: NDArray[np.bool_]
    scores: NDArray[np.float64]
    max_detectable_epsilon: float
    privacy: tuple[dict[str, Any], ...] = ()
    canaries_for_claim: int | None = None

    @property
    def lower_bound(self) -> DPBound:
        """The largest lower bound (the first of the largest)."""
        return max(self.bounds, key=lambda b: b.epsilon)

    @property
    def violated(self) -> bool:
        """Whether a lower bound exceeds the claimed epsilon."""
        return self.verdict == "violated"

    def tpr_bound(self, fpr: ArrayLike) -> Any:
        """The highest TPR the claimed (epsilon, delta) allows at each FPR (for ROC plots)."""
        return tpr_bound(fpr, self.claimed_epsilon, self.delta)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (arrays as nested lists); :meth:`from_dict` reads it back."""
        return {
            "claimed_epsilon": self.claimed_epsilon,
            "accountant": self.accountant,
            "claimed_epsilon_rdp": self.claimed_epsilon_rdp,
            "claimed_epsilon_prv": self.claimed_epsilon_prv,
            "delta": self.delta,
            "confidence": self.confidence,
            "bounds": [b.to_dict() for b in self.bounds],
            "lower_bound": self.lower_bound.epsilon,
            "lower_bound_method": self.lower_bound.method,
            "verdict": self.verdict,
            "canary": self.canary,
            "n_canaries": self.n_canaries,
            "runs": self.runs,
            "seed": self.seed,
            "seeds": list(self.seeds),
            "canary_rows": list(self.canary_rows),
            "source_rows": None if self.source_rows is None else list(self.source_rows),
            "inclusion": self.inclusion.astype(int).tolist(),
            "scores": self.scores.tolist(),
            "max_detectable_epsilon": self.max_detectable_epsilon,
            "privacy": [dict(p) for p in self.privacy],
            "canaries_for_claim": self.canaries_for_claim,
            "summary": self.summary(),
            "cites": list(CITES),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DPAuditResult:
        """Read a :meth:`to_dict` back (derived keys such as ``summary`` are ignored)."""
        def opt(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            claimed_epsilon=float(d["claimed_epsilon"]), accountant=d.get("accountant"),
            claimed_epsilon_rdp=opt(d.get("claimed_epsilon_rdp")),
            claimed_epsilon_prv=opt(d.get("claimed_epsilon_prv")),
            delta=float(d["delta"]), confidence=float(d["confidence"]),
            bounds=tuple(DPBound.from_dict(b) for b in d["bounds"]),
            verdict=str(d["verdict"]), canary=str(d["canary"]),
            n_canaries=int(d["n_canaries"]), runs=int(d["runs"]), seed=int(d["seed"]),
            seeds=tuple(int(s) for s in d["seeds"]),
            canary_rows=tuple(int(r) for r in d["canary_rows"]),
            source_rows=None if d.get("source_rows") is None
            else tuple(int(r) for r in d["source_rows"]),
            inclusion=np.asarray(d["inclusion"], dtype=bool),
            scores=np.asarray(d["scores"], dtype=np.float64),
            max_detectable_epsilon=float(d["max_detectable_epsilon"]),
            privacy=tuple(dict(p) for p in d.get("privacy", [])),
            canaries_for_claim=None if d.get("canaries_for_claim") is None
            else int(d["canaries_for_claim"]),
        )

    # ------------------------------------------------------------------ words
    def summary_lines(self) -> list[str]:
        """Short lines for the CLI summary (claim, each bound, verdict).

        Examples
        --------
        >>> r = _example_result()
        >>> print("\\n".join(r.summary_lines()))
        DP claim: epsilon = 2.00 at delta = 1e-05 (rdp accountant; prv 1.80)
        DP lower bound: epsilon >= 0.31 (one_run, 95% confidence)
        DP audit power: a perfect attack on these 200 x 1 canary observations would show at most epsilon = 6.93
        DP verdict: consistent (no lower bound exceeds the claimed epsilon)
        """  # noqa: E501
        claim = f"DP claim: epsilon = {self.claimed_epsilon:.2f} at delta = {self.delta:.3g}"
        if self.accountant is not None:
            other = "prv" if self.accountant == "rdp" else "rdp"
            other_eps = self.claimed_epsilon_prv if other == "prv" else self.claimed_epsilon_rdp
            shown = "not computed" if other_eps is None else f"{other_eps:.2f}"
            claim += f" ({self.accountant} accountant; {other} {shown})"
        lines = [claim]
        for b in self.bounds:
            lines.append(
                f"DP lower bound: epsilon >= {b.epsilon:.2f} ({b.method}, "
                f"{_pct(b.confidence)} confidence)"
            )
        lines.append(
            f"DP audit power: a perfect attack on these {self.n_canaries} x {self.runs} canary "
            f"observations would show at most epsilon = {self.max_detectable_epsilon:.2f}"
        )
        if self.violated:
            lines.append(
                f"DP verdict: VIOLATED (lower bound {self.lower_bound.epsilon:.2f} > claimed "
                f"{self.claimed_epsilon:.2f})"
            )
        else:
            lines.append("DP verdict: consistent (no lower bound exceeds the claimed epsilon)")
        return lines

    def summary(self) -> str:
        """The report's first-screen sentence, for a reader who is not a statistician.

        Examples
        --------
        >>> print(_example_result().summary())
        The training claims differential privacy with epsilon = 2.00 (delta = 1e-05). We planted 200 marked test records (mislabelled copies of real records), each in the training data with probability 1/2, in 1 training run, and checked how well the trained model gives away which were used. The best test shows a privacy loss of at least epsilon = 0.31 (95% confidence), within the claimed 2.00: no evidence that the privacy guarantee is broken. This does not prove the guarantee; with 200 records this test could detect a privacy loss of at most epsilon = 6.93.
        """  # noqa: E501
        kind = {
            "mislabel": "mislabelled copies of real records",
            "ood": "random records unlike the real data",
            "gradient": "records built to leave a distinct trace in the model's weights",
        }[self.canary]
        runs = f"{self.runs} training run" + ("s" if self.runs > 1 else "")
        head = (
            f"The training claims differential privacy with epsilon = "
            f"{self.claimed_epsilon:.2f} (delta = {self.delta:.3g}). We planted "
            f"{self.n_canaries} marked test records ({kind}), each in the training data with "
            f"probability 1/2, in {runs}, and checked how well the trained model gives away "
            "which were used."
        )
        lb = self.lower_bound
        conf = _pct(self.confidence)
        if self.violated:
            return (
                f"{head} The DP claim is violated: with {conf} confidence the model reveals "
                f"more than the claim allows (privacy loss of at least epsilon = "
                f"{lb.epsilon:.2f}, above the claimed {self.claimed_epsilon:.2f}). The "
                "privacy guarantee does not hold: the DP training or its accounting is wrong."
            )
        text = (
            f"{head} The best test shows a privacy loss of at least epsilon = "
            f"{lb.epsilon:.2f} ({conf} confidence), within the claimed "
            f"{self.claimed_epsilon:.2f}: no evidence that the privacy guarantee is broken."
        )
        if self.max_detectable_epsilon <= self.claimed_epsilon:
            need = self.canaries_for_claim
            target = 1.25 * self.claimed_epsilon
            advice = (
                f"to detect a privacy loss of 1.25 x the claim (epsilon = {target:.2f}) use "
                f"more canaries or runs (about {need} observations in all)" if need
                else f"no number of canary observations up to 10^6 lets the one-run test "
                f"certify 1.25 x the claim (epsilon = {target:.2f}) at delta = "
                f"{self.delta:g} (its delta term caps it; a smaller delta or a multi-run audit "
                "with the Gaussian-DP bound can go further)"
            )
            return (
                f"{text} Note that this test could not have detected a violation: with "
                f"{self.n_canaries * self.runs} canary observations even a perfect attack shows "
                f"at most epsilon = {self.max_detectable_epsilon:.2f}, below the claim; "
                f"{advice}."
            )
        return (
            f"{text} This does not prove the guarantee; with {self.n_canaries} records this "
            f"test could detect a privacy loss of at most epsilon = "
            f"{self.max_detectable_epsilon:.2f}."
        )


def _pct(c: float) -> str:
    return f"{100 * c:.3g}%"


def _example_result() -> DPAuditResult:
    """A fixed result for the docstring examples."""
    return DPAuditResult(
        claimed_epsilon=2.0, accountant="rdp", claimed_epsilon_rdp=2.0,
        claimed_epsilon_prv=1.8, delta=1e-5, confidence=0.95,
        bounds=(DPBound("one_run", 0.31, 0.95, _ASSUMPTION["one_run"]),),
        verdict="consistent", canary="mislabel", n_canaries=200, runs=1, seed=0, seeds=(1,),
        canary_rows=tuple(range(200)), source_rows=tuple(range(200)),
        inclusion=np.zeros((1, 200), dtype=bool), scores=np.zeros((1, 200)),
        max_detectable_epsilon=6.93,
    )


# ------------------------------------------------------------------ how many canaries
def max_certifiable_epsilon(
    n_observations: int, *, confidence: float = 0.95, delta: float = 0.0
) -> float:
    """The one-run bound of a perfect attack on ``n_observations`` (run, canary) pairs.

    Every guess right: no audit with this many canaries can certify a larger epsilon at this
    confidence with :func:`~privmeter.dp_audit.one_run_epsilon`'s default test grid (Steinke,
    Nasr & Jagielski 2023). With ``delta > 0`` the bound's delta term ``2 m delta`` grows with
    ``m``, so more canaries eventually certify *less*.

    Examples
    --------
    >>> round(max_certifiable_epsilon(100), 2), round(max_certifiable_epsilon(1000), 2)
    (2.6, 4.94)
    >>> round(max_certifiable_epsilon(1000, delta=1e-5), 2)
    4.02
    """
    m = check_int("n_observations", n_observations, minimum=1)
    if m < 2:
        return 0.0
    fractions = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)  # one_run_epsilon's default grid
    ks = sorted({max(0, min(m // 2, round(f * m))) for f in fractions} | {0})
    pairs = [(a, b) for a in ks for b in ks if a + b > 0]
    level = (1.0 - check_fraction("confidence", confidence)) / len(pairs)
    return max(_largest_refuted_eps(m, r, r, delta, level) for r in {a + b for a, b in pairs})


def canaries_needed(
    epsilon: float, *, confidence: float = 0.95, delta: float = 0.0, limit: int = 10**6
) -> int | None:
    """The fewest canary observations with which a perfect attack certifies ``epsilon``.

    None when no number up to ``limit`` does (with ``delta > 0`` the delta term caps what
    the one-run bound can certify: use a smaller delta).

    Examples
    --------
    >>> canaries_needed(1.0), canaries_needed(1.0, delta=1e-5)
    (22, 22)
    >>> canaries_needed(8.0, delta=1e-3) is None
    True
    """
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    lo, hi = 1, 2
    previous = 0.0
    while (now := max_certifiable_epsilon(hi, confidence=confidence, delta=delta)) < epsilon:
        if hi > limit or (delta > 0 and now < previous):
            return None  # past the peak: the delta term only grows from here
        previous = now
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 100):  # to 1%: the grid's rounding makes it not monotone
        mid = (lo + hi) // 2
        if max_certifiable_epsilon(mid, confidence=confidence, delta=delta) >= epsilon:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- canaries
def _as_xy(data: Any) -> tuple[Any, NDArray[Any], int]:
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        n_classes = None
    elif hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
        n_classes = getattr(data, "n_classes", None)
    else:
        raise TypeError(f"data must be a Dataset or an (x, y) pair, got {type(data)!r}")
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has shape {y.shape}")
    if x.dtype.kind not in "fiub":
        raise ValueError(
            f"the DP game needs numeric features (got dtype {x.dtype}); text models are not "
            "supported by this game yet"
        )
    if y.dtype.kind not in "iub":
        raise ValueError("the DP game needs integer class labels (a classification task)")
    if n_classes is None:
        n_classes = int(y.max()) + 1
    return x, y.astype(np.int64), int(n_classes)


def _make_canaries(
    kind: str, x: NDArray[Any], y: NDArray[np.int64], n_classes: int, m: int,
    rng: np.random.Generator,
) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64] | None, NDArray[np.bool_]]:
    """Canary inputs and labels, the data rows they replace (mislabel), and the base mask."""
    n = x.shape[0]
    base = np.ones(n, dtype=bool)
    if n_classes < 2:
        raise ValueError(f"canaries need at least 2 classes, got {n_classes}")
    wrong = rng.integers(1, n_classes, size=m)  # a shift of 1..C-1: never the true class
    if kind == "mislabel":
        if m > n // 2:
            raise ValueError(
                f"n_canaries={m} mislabelled canaries are copied from data rows, at most half "
                f"of the {n} rows; lower n_canaries or use canary='ood'"
            )
        src = np.sort(rng.choice(n, size=m, replace=False))
        base[src] = False
        return x[src].copy(), (y[src] + wrong) % n_classes, src, base
    labels = rng.integers(0, n_classes, size=m)
    xf = x.reshape(n, -1).astype(np.float64)
    if kind == "ood":
        mean, sd = xf.mean(axis=0), xf.std(axis=0) + 1e-12
        # independent features far out in the tails: unlike any real record
        z = rng.choice([-1.0, 1.0], size=(m, xf.shape[1])) * (2.0 + rng.random((m, xf.shape[1])))
        xc = mean + sd * z
    else:  # gradient: dirac inputs, one coordinate each (cycled), large value
        d = xf.shape[1]
        scale = 4.0 * float(np.abs(xf).max() or 1.0)
        xc = np.zeros((m, d))
        coords = rng.permutation(np.resize(np.arange(d), m))
        xc[np.arange(m), coords] = scale * rng.choice([-1.0, 1.0], size=m)
    return xc.reshape((m, *x.shape[1:])).astype(x.dtype), labels.astype(np.int64), None, base


# --------------------------------------------------------------------------- scoring
def _canary_losses(trainer: Any, state: Any, xc: Any, yc: Any) -> NDArray[np.float64]:
    if getattr(trainer, "result_kind", None) == "state_dict":
        import torch

        from privmeter.training.torch_trainer import per_example_loss

        model = trainer.build(state)
        xt, yt = trainer.tensors(xc, yc, model)
        with torch.no_grad():
            loss = per_example_loss(trainer.loss, model(xt), yt)
        return np.asarray(loss.double().cpu().numpy())
    proba = getattr(state, "predict_proba", None)
    if proba is None:
        raise TypeError(
            f"cannot score canaries with {type(state)!r}: need a torch state dict "
            "(TorchTrainer) or an estimator with predict_proba"
        )
    p = np.asarray(proba(xc), dtype=np.float64)
    classes = list(getattr(state, "classes_", range(p.shape[1])))
    col = np.array([classes.index(c) if c in classes else -1 for c in yc])
    pc = np.where(col >= 0, p[np.arange(len(yc)), np.maximum(col, 0)], 0.0)
    return np.asarray(-np.log(np.clip(pc, 1e-300, None)))


def _gradient_scores(
    trainer: Any, state: Any, seed: int, xc: Any, yc: Any
) -> NDArray[np.float64]:
    """``<theta_T - theta_0, -g_c(theta_0)> / |g_c(theta_0)|`` for each canary (white-box)."""
    import torch
    from torch.func import functional_call, grad

    from privmeter.training.torch_trainer import per_example_loss

    if not hasattr(trainer, "init_model"):
        raise TypeError("gradient canaries need a TorchTrainer (white-box access to weights)")
    init = trainer.init_model(seed)
    names = [n for n, p in init.named_parameters() if p.requires_grad]
    theta0 = {n: p.detach() for n, p in init.named_parameters() if n in names}
    moved = torch.cat([(state[n].to(theta0[n]) - theta0[n]).reshape(-1) for n in names])
    xt, yt = trainer.tensors(xc, yc, init)
    buffers = dict(init.named_buffers())

    def loss_of(params: dict[str, torch.Tensor], xi: torch.Tensor,
                yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(init, {**params, **buffers}, (xi[None],))
        return per_example_loss(trainer.loss, out, yi[None]).sum()

    g_fn = grad(loss_of)
    scores = np.empty(len(yc))
    init.eval()
    for i in range(len(yc)):
        g = g_fn(theta0, xt[i], yt[i])
        flat = torch.cat([g[n].reshape(-1) for n in names])
        scores[i] = float(-(moved @ flat) / (flat.norm() + 1e-12))
    return scores


# ------------------------------------------------------------------------------- game
def _claim(
    trainer: Any, n_train: list[int], claimed_epsilon: float | None, delta: float | None
) -> tuple[float, float, str | None, float | None, float | None, tuple[dict[str, Any], ...]]:
    dp = getattr(trainer, "dp", None)
    if claimed_epsilon is not None:
        if not math.isfinite(claimed_epsilon) or claimed_epsilon < 0:
            raise ValueError(f"claimed_epsilon must be a non-negative number, got "
                             f"{claimed_epsilon!r}")
        if delta is None:
            if dp is None:
                raise ValueError("with claimed_epsilon, give its delta too (delta=...)")
            delta = dp.delta
        return float(claimed_epsilon), float(delta), None, None, None, ()
    if dp is None:
        raise ValueError(
            "claimed epsilon missing: the trainer is not differentially private (no "
            "dp=DPConfig(...)), so there is no claim to audit; train with DP or pass "
            "claimed_epsilon= and delta= for a pipeline of your own"
        )
    if delta is not None and float(delta) != dp.delta:
        raise ValueError(
            f"delta={delta!r} differs from the trainer's DPConfig delta={dp.delta!r}: the "
            "accountant's claim is at the trainer's delta; leave delta=None"
        )
    spent = tuple(trainer.privacy_spent(n) for n in sorted(set(n_train)))
    rdp = max(float(s["epsilon_rdp"]) for s in spent)
    prvs = [s["epsilon_prv"] for s in spent]
    prv = None if None in prvs else max(float(e) for e in prvs)
    claimed = rdp if dp.accountant == "rdp" else float(prv)  # type: ignore[arg-type]
    return claimed, dp.delta, dp.accountant, rdp, prv, spent


def dp_audit_game(
    data: Any,
    trainer: Any,
    *,
    n_canaries: int = 500,
    canary: str = "mislabel",
    runs: int = 1,
    seed: int = 0,
    confidence: float = 0.95,
    delta: float | None = None,
    claimed_epsilon: float | None = None,
    store: Any = None,
    executor: Any = None,
    progress: bool = False,
) -> DPAuditResult:
    """Audit a DP training pipeline's claimed epsilon with canaries (see the module docstring).

    Parameters
    ----------
    data : Dataset or (x, y)
        Classification data with numeric features: the training set of every run (minus
        the rows copied into mislabelled canaries) plus the included canaries.
    trainer : TorchTrainer (with ``dp=DPConfig(...)``) or any Trainer
        The training pipeline under audit. Its ``privacy_spent`` gives the claim, unless
        ``claimed_epsilon`` is given (for a trainer that is not a DP ``TorchTrainer``).
    n_canaries : int
        Canaries ``m`` per run (at least 2). Too few to certify anything raises an error that
        says how many are needed.
    canary : {"mislabel", "ood", "gradient"}
        ``"mislabel"``: copies of random data rows with a wrong label (black-box, loss score);
        ``"ood"``: random inputs far out in every feature's tails with random labels
        (black-box); ``"gradient"``: dirac inputs scored by the alignment of the weight change
        with the canary's gradient at initialisation (white-box, ``TorchTrainer`` only).
    runs : int
        Training runs, each with its own inclusion draws and seed.
    seed : int
        Seeds the canaries, the inclusion draws and the training seeds (all recorded).
    confidence : float
        Confidence of the verdict; each of the ``k`` bounds is computed at
        ``1 - (1 - confidence) / k``.
    delta : float, optional
        The claim's delta; default the trainer's ``DPConfig.delta``.
    claimed_epsilon : float, optional
        The claim to test when the trainer has no accountant.
    store, executor, progress :
        Passed to :func:`privmeter.training.train_models`.

    Returns
    -------
    DPAuditResult

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from privmeter.training import DPConfig, TorchTrainer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 5)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)
    >>> trainer = TorchTrainer(lambda: nn.Linear(5, 2), epochs=2, batch_size=50,
    ...                        dp=DPConfig(noise_multiplier=1.0, delta=1e-4))
    >>> res = dp_audit_game((x, y), trainer, n_canaries=100, seed=0)
    >>> res.verdict, res.runs, res.inclusion.shape
    ('consistent', 1, (1, 100))
    """
    from privmeter.training import train_models
    from privmeter.training._hashing import spawn_seeds

    x, y, n_classes = _as_xy(data)
    if canary not in CANARIES:
        raise ValueError(f"unknown canary {canary!r}; expected one of {CANARIES}")
    m = check_int("n_canaries", n_canaries, minimum=2)
    runs = check_int("runs", runs, minimum=1)
    seed = check_seed(seed)
    confidence = check_fraction("confidence", confidence)
    methods = ("one_run",) if runs == 1 else ("one_run", "clopper_pearson", "gdp")
    each = 1.0 - (1.0 - confidence) / len(methods)

    canary_ss, mask_ss, train_ss = np.random.SeedSequence(seed).spawn(3)
    xc, yc, src, base = _make_canaries(canary, x, y, n_classes, m,
                                       np.random.default_rng(canary_ss))
    inclusion = np.random.default_rng(mask_ss).random((runs, m)) < 0.5
    n_base = int(base.sum())
    n_train = [n_base + int(r.sum()) for r in inclusion]
    claimed, delta_, accountant, rdp, prv, spent = _claim(trainer, n_train, claimed_epsilon,
                                                          delta)
    if not 0.0 < delta_ < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta_!r}")
    best = max_certifiable_epsilon(runs * m, confidence=each, delta=delta_)
    if best <= 0.0:
        need = canaries_needed(1.0, confidence=each, delta=delta_)
        why = (
            f"certifying epsilon = 1 needs at least {need} canaries (n_canaries x runs)"
            if need is not None else
            f"at delta={delta_:g} no number of canaries certifies epsilon = 1 (the one-run "
            "bound's delta term, 2 m delta, grows with the canaries m): audit a smaller delta"
        )
        raise ValueError(
            f"n_canaries={m} with runs={runs} is too few to bound anything at "
            f"delta={delta_:g}: even an attack that guesses every canary right cannot refute "
            f"epsilon = 0 at {_pct(confidence)} confidence; {why}"
        )

    x_all = np.concatenate([x[base], xc])
    y_all = np.concatenate([y[base], yc])
    canary_rows = np.arange(n_base, n_base + m)
    keep = np.zeros((runs, n_base + m), dtype=bool)
    keep[:, :n_base] = True
    keep[:, canary_rows] = inclusion
    seeds = spawn_seeds(int(train_ss.generate_state(1)[0] >> 1), runs)
    states = train_models(trainer, x_all, y_all, keep, seeds=seeds, store=store,
                          executor=executor, progress=progress)
    scores = np.empty((runs, m))
    for r, state in enumerate(states):
        if canary == "gradient":
            scores[r] = _gradient_scores(trainer, state, seeds[r], xc, yc)
        else:
            scores[r] = -_canary_losses(trainer, state, xc, yc)

    flat_s, flat_in = scores.ravel(), inclusion.ravel()
    bounds: list[DPBound] = []
    one = one_run_epsilon(flat_s, flat_in, delta=delta_, confidence=each)
    bounds.append(DPBound("one_run", one.epsilon, each, _ASSUMPTION["one_run"], {
        "k_plus": one.k_plus, "k_minus": one.k_minus, "guesses": one.guesses,
        "correct": one.correct, "n_tests": one.n_tests, "observations": int(flat_s.size),
    }))
    if runs > 1:
        for name, fn in (("clopper_pearson", epsilon_lower_bound_runs),
                         ("gdp", gdp_epsilon_lower_bound_runs)):
            rb = fn(flat_s[flat_in], flat_s[~flat_in], delta=delta_, confidence=each)
            details = rb.to_dict()
            for k in ("epsilon", "method", "confidence", "delta"):
                details.pop(k)
            bounds.append(DPBound(name, rb.epsilon, each, _ASSUMPTION[name], details))
    verdict = "violated" if any(b.epsilon > claimed for b in bounds) else "consistent"
    if runs > 1:  # what the multi-run bounds reach when IN and OUT scores separate perfectly
        n_in = int(flat_in.sum())
        for fn in (epsilon_lower_bound_runs, gdp_epsilon_lower_bound_runs):
            perfect = fn(np.ones(n_in), np.zeros(flat_in.size - n_in), delta=delta_,
                         confidence=each)
            best = max(best, perfect.epsilon)
    for_claim = (
        canaries_needed(1.25 * claimed, confidence=each, delta=delta_, limit=10**6)
        if best <= claimed and claimed > 0 else None
    )
    return DPAuditResult(
        claimed_epsilon=claimed, accountant=accountant, claimed_epsilon_rdp=rdp,
        claimed_epsilon_prv=prv, delta=delta_, confidence=confidence, bounds=tuple(bounds),
        verdict=verdict, canary=canary, n_canaries=m, runs=runs, seed=seed,
        seeds=tuple(seeds), canary_rows=tuple(int(i) for i in canary_rows),
        source_rows=None if src is None else tuple(int(i) for i in src),
        inclusion=inclusion, scores=scores, max_detectable_epsilon=best, privacy=spent,
        canaries_for_claim=for_claim,
    )
