"""LOSS (Yeom et al. 2018) and population (Attack-P, Ye et al. 2022) attacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter.attacks._common import member_likeness
from privmeter.attacks._registry import AttackOutput, AttackSpec, register_attack
from privmeter.metrics import DEFAULT_FPR_LEVELS
from privmeter.table import SignalTable

__all__ = ["LossParams", "PopulationParams", "loss_attack", "population_attack"]


@dataclass(frozen=True)
class LossParams:
    """The LOSS attack has no parameters."""


def _target_scores(table: SignalTable, target: int) -> NDArray[np.float64]:
    return np.asarray(member_likeness(table)[target].mean(axis=-1), dtype=np.float64)


def loss_attack(table: SignalTable, target: int, params: LossParams) -> AttackOutput:
    """Threshold the target's own signal: score = -loss(x; target).

    Yeom, Giacomelli, Fredrikson & Jha (2018), "Privacy Risk in Machine Learning: Analyzing
    the Connection to Overfitting", IEEE CSF. With several queries the per-query losses are
    averaged. The score needs no reference model; its ROC is the attack's ROC over every
    threshold, which a real attacker would still have to choose (see ``population``).

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> t = pm.SignalTable(np.array([[3.0, -1.0, 2.0, 0.0]]), np.array([[1, 0, 1, 0]]))
    >>> pm.run_attack("loss", t).auc
    1.0
    """
    del params
    return AttackOutput(_target_scores(table, target)[table.audit_mask])


@dataclass(frozen=True)
class PopulationParams:
    """Parameters of the population attack."""

    calibration_levels: tuple[float, ...] = field(
        default=DEFAULT_FPR_LEVELS,
        metadata={"help": "FPR levels whose thresholds are calibrated on population points"},
    )

    def __post_init__(self) -> None:
        for lv in self.calibration_levels:
            if not 0.0 <= float(lv) <= 1.0:
                raise ValueError(f"calibration_levels must lie in [0, 1], got {lv!r}")


def population_thresholds(
    population_scores: NDArray[np.float64], levels: tuple[float, ...]
) -> list[tuple[float, float, float]]:
    """For each FPR level alpha, the threshold ``thr`` such that predicting "member" when
    ``score > thr`` flags at most ``floor(alpha * n_pop)`` population points.

    Returns ``(level, threshold, population_fpr)`` triples.
    """
    sp = np.sort(population_scores)[::-1]
    n = sp.size
    out = []
    for lv in levels:
        k = int(np.floor(float(lv) * n + 1e-9))
        thr = float(sp[k]) if k < n else -np.inf
        pop_fpr = float(np.count_nonzero(sp > thr)) / n
        out.append((float(lv), thr, pop_fpr))
    return out


def population_attack(table: SignalTable, target: int, params: PopulationParams) -> AttackOutput:
    """Attack-P: thresholds on the target's signal calibrated on population points.

    Ye, Maddi, Murakonda, Bindschaedler & Shokri (2022), "Enhanced Membership Inference
    Attacks against Machine Learning Models", ACM CCS. The threshold for FPR alpha is the
    alpha upper quantile of the target's signal on population points (never trained on by
    the target). Its ranking, hence its ROC, equals LOSS; what it adds is a decision rule
    chosen without knowing the target's membership. ``extras["calibration"]`` reports, for
    each level, that threshold and the FPR and TPR it actually achieves on the audit points,
    so a miscalibrated population is visible.

    Examples
    --------
    >>> import numpy as np
    >>> import privmeter as pm
    >>> rng = np.random.default_rng(0)
    >>> mem = np.r_[rng.random(1000) < 0.5, np.zeros(1000, bool)][None]
    >>> vals = rng.normal(size=(1, 2000)) + mem
    >>> role = ["audit"] * 1000 + ["population"] * 1000
    >>> res = pm.run_attack("population", pm.SignalTable(vals, mem, role=role))
    >>> cal = res.extras["calibration"][1]
    >>> cal["level"], abs(cal["audit_fpr"] - 0.01) < 0.02
    (0.01, True)
    """
    pop = table.population_mask
    if not pop.any():
        raise ValueError(
            "the population attack needs population points (role='population') that the "
            "target did not train on; the table has none"
        )
    scores = _target_scores(table, target)
    audit_scores = scores[table.audit_mask]
    members = table.membership[target, table.audit_mask]
    calibration: list[dict[str, Any]] = []
    for lv, thr, pop_fpr in population_thresholds(scores[pop], params.calibration_levels):
        pred = audit_scores > thr
        calibration.append(
            {
                "level": lv,
                "threshold": thr,
                "population_fpr": pop_fpr,
                "audit_fpr": float(pred[~members].mean()),
                "audit_tpr": float(pred[members].mean()),
            }
        )
    return AttackOutput(
        audit_scores, {"calibration": calibration, "n_population": int(pop.sum())}
    )


register_attack(
    AttackSpec(
        name="loss",
        fn=loss_attack,
        params_type=LossParams,
        paper="Yeom et al., Privacy Risk in Machine Learning, IEEE CSF 2018",
        summary="threshold the target's own loss (no reference model)",
        cites=("yeom2018",),
        title="LOSS",
        method="Threshold the target model's own loss (or confidence) on the record.",
    )
)
register_attack(
    AttackSpec(
        name="population",
        fn=population_attack,
        params_type=PopulationParams,
        paper="Ye et al., Enhanced Membership Inference Attacks, ACM CCS 2022 (Attack-P)",
        summary="loss thresholds calibrated on population points the target never saw",
        cites=("ye2022",),
        title="Population (Attack-P)",
        method="As LOSS, with the threshold calibrated on population records no model "
        "trained on.",
    )
)
