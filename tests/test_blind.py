"""The blind baseline (Das et al. 2024): a cross-fitted text-only membership classifier."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import privmeter.blind as blind_module
from privmeter.blind import (
    BLIND_MARGIN,
    BlindVerdict,
    blind_baseline,
    blind_comparison,
    blind_features,
    cross_fit_folds,
)
from privmeter.datasets import TextDataset, synthetic_records
from privmeter.result import AttackResult


def _random_strings(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz     "))
    return ["".join(rng.choice(letters, size=60)) + f" {i}" for i in range(n)]


def test_flags_a_topic_shift() -> None:
    members = synthetic_records(80, seed=0, kinds=("bank",)).texts
    others = synthetic_records(80, seed=1, kinds=("support",)).texts
    res = blind_baseline(members + others, [True] * 80 + [False] * 80)
    assert isinstance(res, AttackResult) and res.attack == "blind_baseline"
    assert res.auc > 0.95 and res.extras["auc_ci_cross_fit"][0] > 0.5
    assert res.n_members == 80 and res.n_non_members == 80
    assert len(res.extras["fold_auc"]) == 5 and sum(res.extras["fold_sizes"]) == 160
    assert res.extras["n_folds"] == 5 and "logistic regression" in res.extras["method"]
    assert res.extras["references"] == ["das2024", "duan2024", "meeus2025"]
    verdict = blind_comparison(res, best_attack_auc=0.75, best_attack_auc_lo=0.70)
    assert not verdict.comparable and verdict.shift_detected
    assert "Not comparable" in verdict.reason and "0.750" in verdict.reason
    assert "lower bound 0.700" in verdict.reason and "above" in verdict.reason


def test_flags_a_length_shift() -> None:
    # same generator, members short and non-members long: a collection artefact
    pool = synthetic_records(900, seed=5).texts
    short = [t for t in pool if len(t) < 135][:80]
    long = [t for t in pool if len(t) > 170][:80]
    res = blind_baseline(short + long, [True] * 80 + [False] * 80, seed=1)
    assert res.auc > 0.9 and res.extras["auc_ci_cross_fit"][0] > 0.5
    assert not blind_comparison(res, best_attack_auc=0.9).comparable


def test_quiet_on_iid_splits() -> None:
    # i.i.d. members and non-members: the cross-fitting interval should contain 0.5 in 95% of
    # splits; at least 8 of 10 (P[<= 7 of 10] = 0.012 at 95% coverage)
    covered = 0
    comparable = 0
    aucs = []
    for seed in range(10):
        ds = synthetic_records(160, seed=200 + seed)
        member = np.random.default_rng(seed).permutation(160) < 80
        res = blind_baseline(ds, member, seed=seed, hash_bits=16)
        lo, hi = res.extras["auc_ci_cross_fit"]
        covered += lo <= 0.5 <= hi
        comparable += blind_comparison(res, best_attack_auc=0.6).comparable
        aucs.append(res.auc)
    assert covered >= 8 and comparable >= 8
    assert abs(np.mean(aucs) - 0.5) < 0.05
    assert stats.binom.cdf(7, 10, 0.95) < 0.02


def test_identical_texts_share_a_fold() -> None:
    texts = ["a", "b", "a", "c", "a", "d", "e", "f", "g", "h", "i", "b"]
    member = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)
    folds = cross_fit_folds(texts, member, n_folds=3, seed=4)
    for t in set(texts):
        assert len({int(folds[i]) for i, u in enumerate(texts) if u == t}) == 1
    assert folds.dtype == np.int64 and set(folds.tolist()) == {0, 1, 2}
    # stratified: each fold holds one or two of the 4 distinct member texts and 2 non-members
    big = cross_fit_folds([str(i) for i in range(103)], np.arange(103) < 50, n_folds=5, seed=0)
    for f in range(5):
        assert np.sum((big == f) & (np.arange(103) < 50)) == 10
        assert np.sum((big == f) & (np.arange(103) >= 50)) in (10, 11)


def test_cross_fitting_never_scores_a_text_with_a_model_that_saw_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # members are random strings present three times each, non-members random strings once:
    # nothing but the repetition distinguishes them. A model that saw a copy of a text
    # scores it high; grouping the copies in one fold keeps the AUC near chance.
    uniq = _random_strings(90, seed=0)
    members = [t for t in uniq[:45] for _ in range(3)]
    texts = members + uniq[45:]
    member = np.r_[np.ones(len(members), bool), np.zeros(45, bool)]
    honest = blind_baseline(texts, member, seed=0, hash_bits=16)
    assert honest.auc < 0.75

    def leaky(texts: list[str], membership: np.ndarray, *, n_folds: int, seed: int) -> np.ndarray:
        return np.arange(len(texts), dtype=np.int64) % n_folds  # copies spread over folds

    monkeypatch.setattr(blind_module, "cross_fit_folds", leaky)
    leaked = blind_baseline(texts, member, seed=0, hash_bits=16)
    assert leaked.auc > 0.95 > honest.auc + 0.2  # the test has the power to see a leak


def test_deterministic_by_seed() -> None:
    members = synthetic_records(40, seed=0, kinds=("bank", "clinical")).texts
    others = synthetic_records(40, seed=1, kinds=("support", "clinical")).texts
    y = [True] * 40 + [False] * 40
    a = blind_baseline(members + others, y, seed=3, hash_bits=14)
    b = blind_baseline(members + others, y, seed=3, hash_bits=14)
    c = blind_baseline(members + others, y, seed=4, hash_bits=14)
    assert np.array_equal(a.scores, b.scores) and a.auc == b.auc
    assert not np.array_equal(a.scores, c.scores)
    assert a.params == {"n_folds": 5, "seed": 3, "C": 1.0, "hash_bits": 14}
    AttackResult.from_dict(a.to_dict())  # JSON round trip of the extras


def test_features() -> None:
    s1, d1 = blind_features(["Hello World 42!", "hello world 42!"], hash_bits=10)
    assert s1.shape == (2, 2048) and d1.shape == (2, 5)
    s2, _ = blind_features(["Hello World 42!", "hello world 42!"], hash_bits=10)
    assert (s1 != s2).nnz == 0  # deterministic hashing
    row_norms = [np.linalg.norm(s1[0, :1024].toarray()), np.linalg.norm(s1[0, 1024:].toarray())]
    assert row_norms == pytest.approx([1.0, 1.0])
    assert d1[0, 2] == pytest.approx(2 / 15) and d1[0, 3] == pytest.approx(2 / 15)
    assert d1[1, 3] == 0.0


def test_comparison_rule() -> None:
    def fake(auc_lo: float, auc: float) -> AttackResult:
        rng = np.random.default_rng(0)
        res = AttackResult.from_scores(
            "blind_baseline", rng.random(20), np.arange(20) < 10,
            extras={"auc_ci_cross_fit": [auc_lo, 1.0]},
        )
        object.__setattr__(res, "auc", auc)
        return res

    # shift detected and within the margin: not comparable
    v = blind_comparison(fake(0.55, 0.70), best_attack_auc=0.70 + BLIND_MARGIN)
    assert isinstance(v, BlindVerdict) and not v.comparable and "within 0.05 of" in v.reason
    # shift detected but the attack is clearly better: comparable, with a caveat
    v = blind_comparison(fake(0.55, 0.60), best_attack_auc=0.90)
    assert v.comparable and v.shift_detected and "caveat" in v.reason and "0.300" in v.reason
    # no shift: comparable, whatever the attack
    v = blind_comparison(fake(0.45, 0.58), best_attack_auc=0.55)
    assert v.comparable and not v.shift_detected and "does not exceed chance" in v.reason
    assert v.to_dict()["blind_auc_ci"] == [0.45, 1.0]
    with pytest.raises(ValueError, match="best_attack_auc must be an AUC in"):
        blind_comparison(fake(0.4, 0.5), best_attack_auc=1.5)
    with pytest.raises(ValueError, match="best_attack_auc_lo must be an AUC"):
        blind_comparison(fake(0.4, 0.5), 0.6, best_attack_auc_lo=-0.1)
    with pytest.raises(ValueError, match="AttackResult of blind_baseline"):
        blind_comparison(0.7, 0.6)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("membership", "options", "message"),
    [
        ([True] * 9, {}, r"membership must have shape \(10,\)"),
        ([0, 1, 2] + [0] * 7, {}, r"membership must be boolean \(or 0/1\), got 2 at index 2"),
        (["yes"] * 10, {}, r"membership must be boolean"),
        ([True] * 10, {}, r"both members and non-members; all 10 texts are members"),
        ([False] * 10, {}, r"all 10 texts are non-members"),
        ([True] * 3 + [False] * 7, {},
         r"n_folds=5 needs at least 5 distinct texts among the members, got 3"),
        ([True] * 5 + [False] * 5, {"n_folds": 1}, r"n_folds must be an integer >= 2"),
        ([True] * 5 + [False] * 5, {"C": 0.0}, r"C must be a positive number"),
        ([True] * 5 + [False] * 5, {"confidence": 1.0}, r"confidence must be a number in"),
    ],
)
def test_bad_input(membership: list[object], options: dict[str, float], message: str) -> None:
    texts = [f"text number {i}" for i in range(10)]
    with pytest.raises(ValueError, match=message):
        blind_baseline(texts, membership, **options)  # type: ignore[arg-type]


def test_bad_texts() -> None:
    with pytest.raises(ValueError, match="row 1 is a int"):
        bad: list[object] = ["a", 3, "c", "d"]
        blind_baseline(bad, [True, True, False, False], n_folds=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one string"):
        blind_baseline("abcd", [True, True, False, False], n_folds=2)
    few = TextDataset(["x", "x", "y", "z"])  # two copies of one member text: 1 distinct
    with pytest.raises(ValueError, match="at least 2 distinct texts among the members, got 1"):
        blind_baseline(few, [True, True, False, False], n_folds=2)
