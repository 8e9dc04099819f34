"""The ``auto`` attack: selection on pseudo-targets that never reads the target's membership."""

from __future__ import annotations

import numpy as np
import pytest

import privmeter as pm
from conftest import balanced_membership, gaussian_table, pdf_text_cells
from privmeter.attacks.auto import AutoParams, candidate_grid, pseudo_target_tables


def _table(d: float, seed: int, n_models: int = 9, n_points: int = 500,
           n_population: int = 300) -> pm.SignalTable:
    return gaussian_table(n_models=n_models, n_points=n_points, d=d, n_population=n_population,
                          seed=seed)


def _with_target_row(table: pm.SignalTable, values: np.ndarray | None = None,
                     membership: np.ndarray | None = None) -> pm.SignalTable:
    v = np.array(table.values)
    m = np.array(table.membership)
    if values is not None:
        v[0] = values
    if membership is not None:
        m[0] = membership
    return pm.SignalTable(v, m, role=table.role)


def test_the_target_membership_and_signals_never_enter_the_selection() -> None:
    table = _table(1.0, seed=3)
    base = pm.run_attack("auto", table, target=0)
    rng = np.random.default_rng(0)
    audit = np.flatnonzero(table.audit_mask)
    mem = np.array(table.membership[0])
    mem[audit] = mem[audit][rng.permutation(audit.size)]  # the target's labels permuted
    permuted = pm.run_attack("auto", _with_target_row(table, membership=mem), target=0)
    assert permuted.extras["chosen"] == base.extras["chosen"]
    assert permuted.extras["candidates"] == base.extras["candidates"]
    np.testing.assert_array_equal(permuted.scores, base.scores)  # the labels are not used
    # the target's signals do not enter the choice either (only the final run)
    noise = rng.normal(size=table.values[0].shape)
    other = pm.run_attack("auto", _with_target_row(table, values=noise), target=0)
    assert other.extras["chosen"] == base.extras["chosen"]
    assert other.extras["candidates"] == base.extras["candidates"]
    assert base.extras["n_pseudo_targets"] == 8 and 0 not in base.extras["pseudo_targets"]
    assert base.extras["criterion"] == "tpr_at_fpr" and base.extras["level"] == 0.01
    assert base.extras["selection_seconds"] > 0
    assert set(base.extras["candidates"]) >= {c.name for c in candidate_grid(True)}


def test_pseudo_target_tables_leave_the_target_out() -> None:
    table = _table(1.0, seed=1)
    games = pseudo_target_tables(table, 2, max_pseudo_targets=3, seed=5)
    assert len(games) == 3
    refs = [m for m in range(table.n_models) if m != 2]
    for sub, j, model, rule in games:
        assert rule == "audit points" and model == refs[j] and model != 2
        np.testing.assert_array_equal(sub.values, table.values[refs])
        # population points the pseudo-target trained on are not its population
        assert not (sub.membership[j] & sub.population_mask).any()
    assert [g[2] for g in games] == [g[2] for g in pseudo_target_tables(
        table, 2, max_pseudo_targets=3, seed=5)]


@pytest.mark.parametrize("online", [True, False])
def test_on_null_tables_auto_stays_at_auc_one_half(online: bool) -> None:
    inside = []
    aucs = []
    for seed in range(12):
        r = pm.run_attack("auto", _table(0.0, seed=100 + seed, n_points=400), target=0,
                          online=online)
        inside.append(r.auc_ci[0] <= 0.5 <= r.auc_ci[1])
        aucs.append(r.auc)
    assert sum(inside) >= 10, aucs  # 95% intervals: at most ~1 of 12 misses by chance
    assert abs(float(np.mean(aucs)) - 0.5) < 0.03


def test_with_signal_auto_is_as_good_as_the_best_default_within_its_ci() -> None:
    table = _table(1.2, seed=7, n_points=1000, n_population=500)
    defaults = [pm.run_attack(a, table, target=0) for a in ("loss", "reference", "lira", "rmia")]
    auto = pm.run_attack("auto", table, target=0)
    best_tpr = max(defaults, key=lambda r: r.tpr_at(0.01).tpr).tpr_at(0.01)
    assert auto.tpr_at(0.01).tpr >= best_tpr.tpr_ci[0]
    best_auc = max(defaults, key=lambda r: r.auc)
    assert auto.auc >= best_auc.auc_ci[0]
    assert auto.auc > 0.75


def test_offline_references_use_the_pool_rule() -> None:
    # offline references trained on halves of a pool of non-audit points, never on audit
    rng = np.random.default_rng(0)
    n_aud, n_pool, n_rest, k = 300, 400, 200, 8
    n = n_aud + n_pool + n_rest
    mem = np.zeros((k + 1, n), dtype=bool)
    mem[0, :n_aud] = rng.random(n_aud) < 0.5
    mem[1:, n_aud : n_aud + n_pool] = balanced_membership(rng, k, n_pool)
    mu = rng.normal(0, 2, size=n)
    values = mu + rng.normal(size=(k + 1, n)) + 1.5 * mem
    role = np.array(["audit"] * n_aud + ["population"] * (n_pool + n_rest))
    table = pm.SignalTable(values, mem, role=role)
    games = pseudo_target_tables(table, 0)
    assert games and all(rule == "reference pool" for *_, rule in games)
    sub, j, _, _ = games[0]
    assert not sub.audit_mask[:n_aud].any()  # the target's audit points are not used
    lab = sub.membership[j, sub.audit_mask]
    assert lab.any() and not lab.all()
    assert not (sub.membership[j] & sub.population_mask).any()
    res = pm.run_attack("auto", table, target=0, online=False)
    assert res.extras["pseudo_target_rule"] == ["reference pool"]
    assert res.extras["chosen_attacks"][0]["params"].get("online", False) is False
    assert res.auc > 0.7


def test_candidates_restrict_the_grid_and_a_single_choice_equals_that_attack() -> None:
    table = _table(1.0, seed=2)
    res = pm.run_attack("auto", table, target=0, candidates=["lira"], combine=0)
    assert res.extras["chosen"] == "lira" and list(res.extras["candidates"]) == ["lira"]
    np.testing.assert_array_equal(res.scores, pm.run_attack("lira", table, target=0).scores)
    one = pm.run_attack("auto", table, target=0, max_pseudo_targets=1, seed=3)
    assert one.extras["n_pseudo_targets"] == 1
    again = pm.run_attack("auto", table, target=0, max_pseudo_targets=1, seed=3)
    assert again.extras == one.extras or again.extras["chosen"] == one.extras["chosen"]


def test_several_queries_add_first_query_candidates() -> None:
    table = gaussian_table(n_models=7, n_points=300, d=1.0, n_population=200, n_queries=3,
                           seed=4)
    res = pm.run_attack("auto", table, target=0)
    assert "lira:q1" in res.extras["candidates"] and "rmia_g2" in res.extras["candidates"]
    assert res.auc > 0.7


def test_too_few_references_fall_back_to_a_default_attack() -> None:
    rng = np.random.default_rng(0)
    mem = rng.random((2, 600)) < 0.5
    mem[0, 400:] = False
    mem[1, :400] = False  # one offline reference model
    values = rng.normal(size=(2, 600)) + mem
    table = pm.SignalTable(values, mem, role=np.array(["audit"] * 400 + ["population"] * 200))
    with pytest.warns(UserWarning, match="a='auto' needs at least 2"):
        res = pm.run_attack("auto", table, target=0, online=False)
    assert res.extras["n_pseudo_targets"] == 0 and "no pseudo-target" in res.extras["fallback"]
    assert res.extras["chosen"] == "rmia_offline"


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown candidate 'lria' \\(did you mean 'lira'"):
        AutoParams(candidates=("lria",))
    with pytest.raises(ValueError, match="list of candidate names"):
        AutoParams(candidates="lira")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one candidate"):
        AutoParams(candidates=())
    with pytest.raises(ValueError, match="max_pseudo_targets"):
        AutoParams(max_pseudo_targets=0)
    with pytest.raises(ValueError, match="combine"):
        AutoParams(combine=-1)
    with pytest.raises(ValueError, match="level must be None or an FPR in \\(0, 1\\), got 1.5"):
        AutoParams(level=1.5)
    with pytest.raises(ValueError, match="online"):
        AutoParams(online="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown parameter 'onlin' for attack 'auto'"):
        pm.run_attack("auto", _table(1.0, seed=0), target=0, onlin=True)
    with pytest.raises(ValueError, match="none of the candidates"):
        pm.run_attack("auto", _table(1.0, seed=0), target=0, online=False,
                      candidates=["lira_per_point"])
    assert AutoParams(candidates=["lira", "rmia"]).candidates == ("lira", "rmia")  # type: ignore[arg-type]
    assert "auto" in pm.list_attacks()
    assert pm.attack_info("auto").cites == ("ye2022", "carlini2022", "zarifzadeh2024",
                                            "efron1975")


def test_the_grid_holds_the_extensions_and_the_calibrated_variants() -> None:
    online = {c.name: c for c in candidate_grid(True)}
    offline = {c.name: c for c in candidate_grid(False)}
    assert online["lira_gap"].params == {"online": True, "gap_prior": True}
    assert online["lira_gap_b5"].params == {"online": True, "gap_prior": True,
                                            "variance_bins": 5}
    assert offline["lira_offline_gap"].params == {"online": False, "gap_prior": True}
    assert online["rmia_t1_q"].transform == "population"
    assert offline["lira_offline_gap_q"].transform == "population"
    assert all(c.transform == "none" for n, c in online.items() if not n.endswith("_q"))


def test_a_custom_signal_drops_the_calibrated_rmia_with_the_reason() -> None:
    t = _table(1.0, seed=2)
    custom = pm.SignalTable(t.values, t.membership, role=t.role, kind="custom",
                            higher_is_member=True)
    res = pm.run_attack("auto", custom, target=0)
    assert "rmia_q" in res.extras["dropped"] and "probabilities" in res.extras["dropped"]["rmia_q"]
    assert "lira_q" in res.extras["candidates"]


def test_the_report_says_what_auto_chose_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from privmeter.report import html

    res = pm.run_attack("auto", _table(1.5, seed=4), target=0)
    chosen = res.extras["chosen"]
    report = pm.AuditReport([res], card={"game": "model"})
    text = report.summary()
    assert f"auto chose {chosen} on 8 pseudo-targets (mean TPR at 1% FPR " in text
    page = html.render_html(report, figures={})
    assert f"auto chose {chosen} by attacking 8 reference models (pseudo-targets)" in page
    assert "never the target" in page and "(chosen)" in page
    cells = "\n".join(pdf_text_cells(report, monkeypatch))
    assert f"auto chose {chosen} by attacking 8" in cells and f"{chosen} (chosen)" in cells
    assert "candidates › " not in cells  # the full ranking stays in the JSON
