"""``auto``: choose the attack on pseudo-targets (reference models), then attack the target once.

privmeter's own selection procedure, built from the pseudo-target idea of the papers whose
attacks it chooses among: Ye et al. (2022) calibrate attacks on reference models,
Carlini et al. (2022) evaluate LiRA's variants by attacking one shadow model with the others,
and Zarifzadeh et al. (2024) tune RMIA's ``a`` by attacking a reference model with the rest.
Here the same game chooses the whole attack (which attack, its parameters, its queries, and
optionally a combination of attacks) by the quantity the verdict reads: the TPR at the
reference FPR.

The procedure never reads the target's row of ``table.membership`` and never uses the
target's signals for the choice: the target model is removed from the table first, each of
up to ``max_pseudo_targets`` reference models is attacked with the remaining references by
every candidate of the grid, and only the chosen attack then runs, once, on the real target
with all its references.

What a pseudo-target's table contains (so that its situation mimics the target's):

- **audit-point rule** (online references, or any reference that trained on part of the
  audit set): the pseudo-target ``r`` trained on some audit points and not on others, so its
  audit points are the table's audit points, labelled with ``r``'s membership; its
  population points are the table's population points that ``r`` did not train on (those it
  trained on become role ``reference``, unused), exactly like the target, whose population it
  never trained on.
- **pool rule** (offline references, which never saw an audit point; Ye et al.'s offline
  model game): ``r`` is attacked on the non-audit points that some reference trained on
  (the references' training pool): those ``r`` trained on are its members; of the pool
  points it did not train on, a seeded, label-free half are its non-members and the other
  half, with every non-audit point no reference trained on, its population. The table's
  audit points become role ``reference`` (unused). Offline attacks use only the references
  that did not train on a point, so ``r``, like the target, is attacked with OUT references
  only; each pseudo-audit point has about half of the other references OUT (the target's
  audit points have all of them), so the pseudo-target game is a slightly harder version of
  the target's.

A pseudo-target must have members and non-members among its audit points; those that do not
are skipped. Candidates that cannot run on the pseudo-targets' tables (e.g. LiRA with a
per-point variance and too few references per point) are dropped and named in the extras.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from privmeter import metrics
from privmeter._names import _closest_names
from privmeter._validation import check_bool, check_int, check_seed
from privmeter.attacks._registry import (
    AttackOutput,
    AttackSpec,
    attack_info,
    make_params,
    register_attack,
)
from privmeter.attacks.calibration import population_quantiles
from privmeter.table import SignalTable

__all__ = [
    "AutoParams",
    "Candidate",
    "auto_attack",
    "candidate_grid",
    "candidate_names",
    "pseudo_target_tables",
]

#: FPR levels the selection reads, tried in order (the verdict's reference FPR rule: the first
#: level at which every pseudo-target has at least one false positive to spare).
_SELECTION_LEVELS: tuple[float, ...] = (0.001, 0.01)


@dataclass(frozen=True)
class Candidate:
    """One entry of the selection grid: a registered attack, its parameters, its queries.

    ``queries`` is ``"all"`` (every query of the table, as the attack combines them) or
    ``"first"`` (only the first query: the unaugmented point). ``transform`` is ``"none"`` or
    ``"population"``: the attack reads
    :func:`~privmeter.attacks.calibration.population_quantiles` of the table (each model's
    signal as a normal score among its own population non-members).
    """

    name: str
    attack: str
    params: dict[str, Any] = field(default_factory=dict)
    queries: str = "all"
    transform: str = "none"


def candidate_grid(online: bool, n_queries: int = 1) -> list[Candidate]:
    """The candidates ``auto`` evaluates for an online or offline audit.

    Online: LOSS, Attack-R, LiRA online (fixed and per-point variance) and offline, LiRA
    online with privmeter's extensions (``gap_prior``, ``variance_bins=5`` and both), RMIA
    online at temperatures 1, 2 (its default) and 4. Offline: LOSS, Attack-R, LiRA offline
    (fixed and per-point variance, and with the extensions), RMIA offline at temperatures 1, 2
    and 4, each with ``a`` tuned by RMIA's own procedure (``a="auto"``). The main LiRA and
    RMIA variants also run on the population-calibrated table (suffix ``_q``, see
    :func:`~privmeter.attacks.calibration.population_quantiles`). With several queries per
    point, RMIA with ``gamma=2`` (the majority vote of the paper) and first-query-only
    variants (suffix ``:q1``) of LiRA and RMIA are added.

    Examples
    --------
    >>> [c.name for c in candidate_grid(True)][:4]
    ['loss', 'reference', 'lira', 'lira_per_point']
    >>> [c.name for c in candidate_grid(False)][-2:]
    ['rmia_offline_t1_q', 'rmia_offline_t4_q']
    """
    c: list[Candidate] = [Candidate("loss", "loss"), Candidate("reference", "reference")]
    gap = {"gap_prior": True}
    bins = {"variance_bins": 5}
    if online:
        lira: dict[str, Any] = {"online": True}
        c += [
            Candidate("lira", "lira", lira),
            Candidate("lira_per_point", "lira", {**lira, "fix_variance": False}),
            Candidate("lira_offline", "lira", {"online": False}),
        ]
        rmia: dict[str, Any] = {"online": True}
        prefix_l = "lira"
    else:
        lira = {"online": False}
        c += [
            Candidate("lira_offline", "lira", lira),
            Candidate("lira_offline_per_point", "lira", {**lira, "fix_variance": False}),
        ]
        rmia = {"online": False, "a": "auto"}
        prefix_l = "lira_offline"
    c += [
        Candidate(f"{prefix_l}_gap", "lira", {**lira, **gap}),
        Candidate(f"{prefix_l}_b5", "lira", {**lira, **bins}),
        Candidate(f"{prefix_l}_gap_b5", "lira", {**lira, **gap, **bins}),
    ]
    prefix = "rmia" if online else "rmia_offline"
    c += [
        Candidate(prefix, "rmia", {**rmia, "temperature": 2.0}),
        Candidate(f"{prefix}_t1", "rmia", {**rmia, "temperature": 1.0}),
        Candidate(f"{prefix}_t4", "rmia", {**rmia, "temperature": 4.0}),
    ]
    calibrated = (prefix_l, f"{prefix_l}_gap", prefix, f"{prefix}_t1", f"{prefix}_t4")
    c += [dataclasses.replace(x, name=f"{x.name}_q", transform="population")
          for x in list(c) if x.name in calibrated]
    if n_queries > 1:
        c.append(Candidate(f"{prefix}_g2", "rmia", {**rmia, "temperature": 2.0, "gamma": 2.0}))
        main = ("lira", prefix) if online else ("lira_offline", prefix)
        c += [dataclasses.replace(x, name=f"{x.name}:q1", queries="first")
              for x in list(c) if x.name in main]
    return c


def candidate_names() -> tuple[str, ...]:
    """Every candidate name of the online and offline grids (with several queries)."""
    names = [x.name for x in candidate_grid(True, 2)] + [x.name for x in candidate_grid(False, 2)]
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class AutoParams:
    """Parameters of the ``auto`` attack."""

    online: bool = field(
        default=True,
        metadata={"help": "choose among online attacks (IN and OUT references) or offline ones "
                  "(OUT references only)"},
    )
    max_pseudo_targets: int = field(
        default=8,
        metadata={"help": "at most this many reference models are attacked as pseudo-targets"},
    )
    candidates: tuple[str, ...] | None = field(
        default=None,
        metadata={"help": "names of the candidates to choose among (see "
                  "privmeter.attacks.auto.candidate_grid); None: the whole grid that applies"},
    )
    combine: int = field(
        default=3,
        metadata={"help": "also try the mean of rank-normalised scores of the top 2 .. combine "
                  "candidates (0 or 1: no combination)"},
    )
    level: float | None = field(
        default=None,
        metadata={"help": "FPR at which candidates are compared; None: the verdict's reference "
                  "FPR (0.1% when the pseudo-targets resolve it, else 1%, else the AUC)"},
    )
    seed: int | None = field(
        default=None,
        metadata={"help": "order in which reference models become pseudo-targets, the pool "
                  "rule's split, and RMIA's a-tuning (None: index order, fixed splits)"},
    )

    def __post_init__(self) -> None:
        check_bool("online", self.online)
        object.__setattr__(
            self, "max_pseudo_targets",
            check_int("max_pseudo_targets", self.max_pseudo_targets, minimum=1),
        )
        object.__setattr__(self, "combine", check_int("combine", self.combine, minimum=0))
        if self.seed is not None:
            object.__setattr__(self, "seed", check_seed(self.seed))
        if self.level is not None:
            ok = isinstance(self.level, (int, float)) and not isinstance(self.level, bool)
            if not ok or not 0.0 < float(self.level) < 1.0:
                raise ValueError(f"level must be None or an FPR in (0, 1), got {self.level!r}")
            object.__setattr__(self, "level", float(self.level))
        if self.candidates is not None:
            if isinstance(self.candidates, str) or not isinstance(self.candidates, Sequence):
                raise ValueError(
                    f"candidates must be a list of candidate names, got {self.candidates!r}"
                )
            names = tuple(self.candidates)
            if not names:
                raise ValueError("candidates must name at least one candidate, got none")
            known = candidate_names()
            for n in names:
                if n not in known:
                    close = _closest_names(str(n), list(known))
                    hint = f" (did you mean {close}?)" if close else ""
                    raise ValueError(
                        f"unknown candidate {n!r}{hint}; known candidates: {', '.join(known)}"
                    )
            object.__setattr__(self, "candidates", names)


# ------------------------------------------------------------------ pseudo-targets
def pseudo_target_tables(
    table: SignalTable, target: int, *, max_pseudo_targets: int = 8, seed: int | None = None
) -> list[tuple[SignalTable, int, int, str]]:
    """The pseudo-target games: ``(table, pseudo index in it, model index, rule)`` tuples.

    Every table holds the models of ``table`` except ``target`` (whose signals and membership
    are never read); see the module docstring for the audit-point and pool rules. At most
    ``max_pseudo_targets`` games, the reference models tried in index order (``seed`` None)
    or in the order of a permutation drawn from ``default_rng([seed, target])``.
    """
    refs = np.asarray([m for m in range(table.n_models) if m != target], dtype=np.int64)
    if refs.size < 2:
        return []
    values = table.values[refs]
    mem = table.membership[refs]
    audit = table.audit_mask
    non_audit = ~audit
    pool = non_audit & mem.any(axis=0)
    order = np.arange(refs.size)
    if seed is not None:
        order = np.random.default_rng([seed, target]).permutation(refs.size)
    out: list[tuple[SignalTable, int, int, str]] = []
    for j in order:
        m_r = mem[j]
        role = np.array(table.role, copy=True)
        a_in = m_r[audit]
        if a_in.any() and not a_in.all():
            rule = "audit points"
            role[non_audit & m_r] = "reference"
        else:
            rule = "reference pool"
            cand_out = np.flatnonzero(pool & ~m_r)
            if not (pool & m_r).any() or cand_out.size < 2:
                continue
            rng = np.random.default_rng(int(j) if seed is None else [seed, target, int(j)])
            half = cand_out[rng.permutation(cand_out.size)[: cand_out.size // 2]]
            role[:] = "reference"
            role[non_audit & ~m_r] = "population"
            role[pool & m_r] = "audit"
            role[half] = "audit"
        sub = SignalTable(
            values, mem, role=role, labels=table.labels, groups=table.groups, kind=table.kind,
            higher_is_member=table.higher_is_member, point_ids=table.point_ids,
            metadata=table.metadata,
        )
        out.append((sub, int(j), int(refs[j]), rule))
        if len(out) >= max_pseudo_targets:
            break
    return out


def _first_query(table: SignalTable) -> SignalTable:
    def make() -> SignalTable:
        return SignalTable(
            table.values[:, :, :1], table.membership, role=table.role, labels=table.labels,
            groups=table.groups, kind=table.kind, higher_is_member=table.higher_is_member,
            point_ids=table.point_ids, metadata=table.metadata,
        )

    return table.cached("auto:first_query", make)


def _run(cand: Candidate, table: SignalTable, target: int, seed: int | None) -> AttackOutput:
    spec = attack_info(cand.attack)
    params = dict(cand.params)
    if cand.attack == "rmia":
        params["seed"] = seed
    t = _first_query(table) if cand.queries == "first" and table.n_queries > 1 else table
    if cand.transform == "population":
        if cand.attack == "rmia" and t.kind == "custom":
            # RMIA reads probabilities, which a custom signal does not give (calibrated or not)
            raise ValueError("RMIA needs probabilities; the table holds a 'custom' signal")
        t = population_quantiles(t)
    out: AttackOutput = spec.fn(t, target, make_params(spec, params))
    return out


def _rank01(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mid-ranks scaled to (0, 1]: a label-free, order-preserving normalisation."""
    return np.asarray(stats.rankdata(scores, method="average") / scores.size, dtype=np.float64)


def _figures(scores: NDArray[np.float64], labels: NDArray[np.bool_],
             level: float | None) -> tuple[float, float]:
    roc = metrics.roc_curve(scores, labels)
    auc = float(np.trapezoid(roc.tpr, roc.fpr))
    tpr = metrics.tpr_at_fpr_from_roc(roc, level).tpr if level is not None else auc
    return float(tpr), auc


def _selection_level(n_non_members: Sequence[int], level: float | None) -> float | None:
    if level is not None:
        return level
    for lv in _SELECTION_LEVELS:
        if all(lv * n >= 1.0 for n in n_non_members):
            return lv
    return None


# ------------------------------------------------------------------------ attack
def auto_attack(table: SignalTable, target: int, params: AutoParams) -> AttackOutput:
    """Choose an attack on pseudo-targets (never the target), then run it on the target.

    privmeter's own selection procedure (module docstring), using the pseudo-target game of
    Ye et al. (2022), Carlini et al. (2022) and Zarifzadeh et al. (2024): every candidate of
    :func:`candidate_grid` (or ``params.candidates``) attacks each pseudo-target with the
    other references; candidates are ranked by the mean pseudo-target TPR at the reference
    FPR of the verdict (0.1% when every pseudo-target has at least 1,000 non-members, else
    1%, else the AUC), ties broken by the mean AUC. With ``combine >= 2``, the mean of the
    rank-normalised scores of the top 2 .. ``combine`` candidates is ranked too. The best one
    runs once on the target with all its references.

    ``extras``: ``chosen`` (name), ``chosen_attacks`` (each ``{name, attack, params,
    queries}``), ``criterion`` and ``level``, ``candidates`` (per name: ``score``, ``auc``,
    ``per_pseudo_target``), ``dropped`` (candidates that could not run, with the reason),
    ``pseudo_targets`` (model indices), ``n_pseudo_targets``, ``pseudo_target_rule``,
    ``selection_seconds`` and ``attack_extras`` (the chosen attack's own extras). When no
    pseudo-target can be formed (fewer than 2 reference models, or none with members and
    non-members), the default of the mode runs (RMIA, else LiRA, else LOSS), with
    ``extras["fallback"]`` saying why.

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> mem = np.argsort(rng.random((9, 600)), axis=0) < 4
    >>> mem[0] = rng.random(600) < 0.5
    >>> mem[0, 400:] = False  # population points: not in the target's training set
    >>> vals = rng.normal(0, 2, size=600) + rng.normal(size=(9, 600)) + 1.5 * mem
    >>> t = pm.SignalTable(vals, mem, role=["audit"] * 400 + ["population"] * 200)
    >>> res = pm.run_attack("auto", t, target=0)
    >>> res.extras["n_pseudo_targets"], res.auc > 0.75
    (8, True)
    """
    t0 = time.perf_counter()
    grid = candidate_grid(params.online, table.n_queries)
    if params.candidates is not None:
        wanted = set(params.candidates)
        grid = [c for c in grid if c.name in wanted]
        if not grid:
            mode = "online" if params.online else "offline"
            raise ValueError(
                f"none of the candidates {list(params.candidates)} applies to an {mode} audit "
                f"with {table.n_queries} queries per point; candidates that do: "
                f"{', '.join(c.name for c in candidate_grid(params.online, table.n_queries))}"
            )
    games = pseudo_target_tables(
        table, target, max_pseudo_targets=params.max_pseudo_targets, seed=params.seed
    )
    if not games:
        return _fallback(table, target, params, grid, t0)
    labels = [g.membership[j, g.audit_mask] for g, j, _, _ in games]
    level = _selection_level([int((~lab).sum()) for lab in labels], params.level)
    scored: dict[str, list[NDArray[np.float64]]] = {}
    dropped: dict[str, str] = {}
    for cand in grid:
        runs: list[NDArray[np.float64]] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for g, j, _, _ in games:
                    runs.append(np.asarray(_run(cand, g, j, params.seed).scores))
        except ValueError as exc:
            dropped[cand.name] = " ".join(str(exc).split())
            continue
        scored[cand.name] = runs
    if not scored:
        raise ValueError(
            "auto: no candidate could run on the pseudo-targets: "
            + "; ".join(f"{k}: {v}" for k, v in dropped.items())
        )
    table_rows: dict[str, dict[str, Any]] = {}

    def evaluate(name: str, runs: list[NDArray[np.float64]], members: list[str]) -> None:
        figs = [_figures(s, lab, level) for s, lab in zip(runs, labels, strict=True)]
        table_rows[name] = {
            "score": float(np.mean([f[0] for f in figs])),
            "auc": float(np.mean([f[1] for f in figs])),
            "per_pseudo_target": [f[0] for f in figs],
            "members": members,
        }

    for name, runs in scored.items():
        evaluate(name, runs, [name])

    def key(name: str) -> tuple[float, float]:
        return (table_rows[name]["score"], table_rows[name]["auc"])

    singles = sorted(scored, key=key, reverse=True)
    for k in range(2, min(params.combine, len(singles)) + 1):
        top = singles[:k]
        runs = [np.mean([_rank01(scored[n][i]) for n in top], axis=0) for i in range(len(games))]
        evaluate("mean_rank(" + "+".join(top) + ")", runs, top)
    chosen = max(table_rows, key=key)
    selection_seconds = time.perf_counter() - t0
    by_name = {c.name: c for c in grid}
    members = [by_name[n] for n in table_rows[chosen]["members"]]
    outs = [_run(c, table, target, params.seed) for c in members]
    if len(outs) == 1:
        scores = np.asarray(outs[0].scores, dtype=np.float64)
    else:
        scores = np.asarray(np.mean([_rank01(np.asarray(o.scores)) for o in outs], axis=0))
    extras: dict[str, Any] = {
        "chosen": chosen,
        "chosen_attacks": [
            {"name": c.name, "attack": c.attack, "params": dict(c.params), "queries": c.queries,
             "transform": c.transform}
            for c in members
        ],
        "criterion": "auc" if level is None else "tpr_at_fpr",
        "level": level,
        "candidates": {
            n: {k: v for k, v in row.items() if k != "members"}
            for n, row in sorted(table_rows.items(), key=lambda kv: key(kv[0]), reverse=True)
        },
        "dropped": dropped,
        "pseudo_targets": [m for _, _, m, _ in games],
        "n_pseudo_targets": len(games),
        "pseudo_target_rule": sorted({rule for *_, rule in games}),
        "selection_seconds": selection_seconds,
        "attack_extras": outs[0].extras if len(outs) == 1 else [o.extras for o in outs],
    }
    return AttackOutput(scores, extras)


def _fallback(table: SignalTable, target: int, params: AutoParams, grid: list[Candidate],
              t0: float) -> AttackOutput:
    """No pseudo-target: the first default of the grid that runs (RMIA, LiRA, LOSS)."""
    why = (
        "no pseudo-target: auto needs at least 2 reference models, one of which has members "
        "and non-members among the audit points (online) or among the points the references "
        "trained on (offline)"
    )
    order = ["rmia", "rmia_offline", "lira", "lira_offline", "reference", "loss"]
    names = {c.name: c for c in grid}
    errors: list[str] = []
    for n in order:
        if n not in names:
            continue
        try:
            out = _run(names[n], table, target, params.seed)
        except ValueError as exc:
            errors.append(f"{n}: {' '.join(str(exc).split())}")
            continue
        c = names[n]
        return AttackOutput(out.scores, {
            "chosen": n,
            "chosen_attacks": [{"name": c.name, "attack": c.attack, "params": dict(c.params),
                                "queries": c.queries, "transform": c.transform}],
            "fallback": why,
            "n_pseudo_targets": 0,
            "selection_seconds": time.perf_counter() - t0,
            "attack_extras": out.extras,
        })
    raise ValueError(f"auto: {why}, and no default attack could run: " + "; ".join(errors))


register_attack(
    AttackSpec(
        name="auto",
        fn=auto_attack,
        params_type=AutoParams,
        paper="privmeter's pseudo-target selection over Ye et al. (CCS 2022), Carlini et al. "
        "(S&P 2022) and Zarifzadeh et al. (ICML 2024)",
        summary="chooses the attack (and its parameters, queries, or a rank-mean combination) "
        "by attacking reference models with the others, never the target, then runs it once",
        cites=("ye2022", "carlini2022", "zarifzadeh2024", "efron1975"),
        title="Auto (pseudo-target selection)",
        method="privmeter's own selection procedure: each candidate attack (LOSS, Attack-R, "
        "LiRA and RMIA variants, among them LiRA with an empirical-Bayes prior on each "
        "point's IN-OUT gap and attacks on population-calibrated signals) attacks up to 8 "
        "reference models with the remaining ones; "
        "the one with the highest TPR at the reference FPR on these pseudo-targets runs once "
        "on the target. The target's membership is never used for the choice.",
    )
)
