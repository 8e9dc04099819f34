"""The games end to end on small tasks (scikit-learn and PyTorch models)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from privmeter.audit import Audit
from privmeter.training import SklearnTrainer, Store, TorchTrainer


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x, y


def tree_trainer() -> SklearnTrainer:
    # an unpruned tree memorises its training set (its outputs are 0/1, so fast but coarse)
    return SklearnTrainer(DecisionTreeClassifier(min_samples_leaf=1))


def forest_trainer() -> SklearnTrainer:
    # fully grown trees, averaged: graded probabilities that fit members more tightly
    return SklearnTrainer(RandomForestClassifier(n_estimators=20))


def test_model_game_finds_leakage_of_a_memorising_model(cancer: tuple) -> None:
    report = Audit(cancer, forest_trainer(), n_references=4, progress=False, seed=1).run()
    by = {r.attack: r for r in report.results}
    assert list(by) == ["loss", "population", "reference", "lira", "rmia", "auto"]
    for r in by.values():
        assert r.target == 0
        assert 0.0 <= r.auc_ci[0] <= r.auc <= r.auc_ci[1] <= 1.0
        assert r.scores[r.membership].mean() > r.scores[~r.membership].mean()
    assert by["rmia"].auc_ci[0] > 0.6
    assert by["rmia"].auc > by["loss"].auc  # reference models help
    card = report.card
    assert card["game"] == "model" and card["reference models per target"] == 4
    assert card["population size"] == round(0.3 * 569)
    assert set(card["timings (s)"]) >= {"training", "querying", "attacks", "total"}
    n_mem = by["loss"].n_members
    assert card["members / non-members (first target)"] == f"{n_mem} / {by['loss'].n_non_members}"


def test_model_game_is_deterministic(cancer: tuple) -> None:
    kw = {"attacks": ["lira", "rmia"], "n_references": 2, "progress": False, "seed": 3}
    a = Audit(cancer, tree_trainer(), **kw).run()
    b = Audit(cancer, tree_trainer(), **kw).run()
    for ra, rb in zip(a.results, b.results, strict=True):
        np.testing.assert_array_equal(ra.scores, rb.scores)
        np.testing.assert_array_equal(ra.point_ids, rb.point_ids)


def test_model_game_with_the_users_own_target(cancer: tuple) -> None:
    x, y = cancer
    rng = np.random.default_rng(0)
    train = rng.choice(len(y), size=200, replace=False)
    target = DecisionTreeClassifier(random_state=0).fit(x[train], y[train])
    report = Audit(
        cancer, tree_trainer(), target_model=target, target_indices=train, n_references=4,
        population_fraction=0.25,
        attacks=["loss", "lira"], progress=False,
    ).run()
    res = report.results[0]
    assert res.n_members == 200 and res.n_non_members == 200
    assert set(res.point_ids[res.membership].tolist()) == set(train.tolist())
    assert "user's trained model" in report.card["attacker knowledge"]


def test_only_loss_needs_no_trainer(cancer: tuple) -> None:
    x, y = cancer
    train = np.arange(0, 300)
    target = LogisticRegression(max_iter=500).fit(x[train], y[train])
    report = Audit(cancer, None, target_model=target, target_indices=train,
                   attacks=["loss", "population"], progress=False).run()
    assert [r.attack for r in report.results] == ["loss", "population"]


def test_offline_model_game(cancer: tuple) -> None:
    report = Audit(cancer, tree_trainer(), online=False, population_fraction=0.6,
                   attacks=["lira", ("rmia", {"online": False})], n_references=4,
                   progress=False).run()
    assert [r.attack for r in report.results] == ["lira", "rmia"]
    assert "offline" in report.card["attacker knowledge"]
    assert report.results[1].extras["a"] in [round(0.1 * i, 1) for i in range(11)]


def test_algorithm_game_pools_every_target(cancer: tuple) -> None:
    report = Audit(cancer, tree_trainer(), game="algorithm", n_references=3,
                   attacks=["loss", "lira"], progress=False).run()
    n_audit = 569 - round(0.3 * 569)
    for r in report.results:
        assert r.target == -1
        assert r.extras["pooled_over_targets"] == [0, 1, 2, 3]
        assert r.scores.size == 4 * n_audit
        assert r.n_members == 4 * n_audit // 2


def test_record_game_uniform_and_leave_one_out(cancer: tuple) -> None:
    for loo in (False, True):
        report = Audit(cancer, tree_trainer(), game="record", records=10, n_references=7,
                       leave_one_out=loo, attacks=["lira"], progress=False).run()
        res = report.results[0]
        per = res.extras["per_record"]
        assert len(per) == 10
        assert all(p["n_in"] == 4 and p["n_out"] == 4 for p in per)
        assert res.scores.size == 8 * 10
        assert ("leave-one-out" in report.card["attacker knowledge"]) == loo
    from privmeter.report.html import render_html

    html = render_html(report)
    table = html.split('id="per-record-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 10  # header + one row per audited record
    aucs = [p["auc"] for p in per]
    assert f"{max(aucs):.3f} [" in table.split("<tbody>")[1].split("</tr>")[0]  # sorted


def test_torch_audit_with_cache_resumes_without_training(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from privmeter.architectures import make_factory

    # count what is trained and what is written to the cache (not timings, which a busy
    # machine can invert)
    calls = {"fit": 0, "put": 0}
    real_fit = TorchTrainer.fit

    def counting_fit(self: TorchTrainer, *args: object, **kwargs: object) -> object:
        calls["fit"] += 1
        return real_fit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TorchTrainer, "fit", counting_fit)
    from privmeter.training.ensemble import EnsembleTrainer  # the default (vectorized) engine

    real_ensemble_fit = EnsembleTrainer.fit

    def counting_ensemble_fit(self: EnsembleTrainer, *args: object, **kwargs: object) -> object:
        calls["fit"] += len(kwargs["seeds"])  # type: ignore[arg-type]
        return real_ensemble_fit(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(EnsembleTrainer, "fit", counting_ensemble_fit)
    for name in ("put_state_dict", "put_arrays", "put_object"):
        real_put = getattr(Store, name)

        def counting_put(self: Store, *args: object, _real: object = real_put,
                         **kwargs: object) -> object:
            calls["put"] += 1
            return _real(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(Store, name, counting_put)
    x, y = load_digits(return_X_y=True)
    x = (x[:400] / 16).astype(np.float32)
    y = y[:400]
    trainer = TorchTrainer(make_factory("mlp", input_shape=(64,), n_classes=10, hidden=(32,)),
                           optimizer="adam", lr=1e-2, epochs=3, batch_size=32)
    store = Store(tmp_path)  # type: ignore[arg-type]
    kw = {"attacks": ["lira"], "n_references": 2, "progress": False, "store": store}
    first = Audit((x, y), trainer, **kw).run()
    assert calls["fit"] == 3  # the target and its 2 reference models
    assert calls["put"] >= 3  # each of them cached
    after_first = dict(calls)
    n_files = sum(1 for _ in store.root.rglob("*"))
    second = Audit((x, y), trainer, **kw).run()
    assert calls == after_first  # nothing trained again, nothing written to the cache
    assert sum(1 for _ in store.root.rglob("*")) == n_files
    np.testing.assert_array_equal(first.results[0].scores, second.results[0].scores)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"game": "models"}, ValueError, r"unknown game 'models' \(did you mean 'model'\?\)"),
        ({"attacks": ["lira", "liar"]}, ValueError, "unknown attack 'liar'"),
        ({"attacks": []}, ValueError, "no attack to run"),
        ({"trainer": None}, ValueError, "needs a trainer"),
        ({"population_fraction": 1.5}, ValueError, r"population_fraction must be a number in \("),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer, got -1"),
        ({"target_indices": [1, 2]}, ValueError, "target_model and target_indices go together"),
        ({"game": "record", "records": 1}, ValueError, "records must be between 2 and"),
        ({"game": "record", "records": [0, 5, 177, 5000]}, ValueError,
         r"records must lie in \[0, 568\] \(the dataset has 569 rows\); got 5000"),
        ({"game": "record", "records": [-1, 5, 7000]}, ValueError,
         r"records must lie in \[0, 568\] .*; got -1 \(and 1 more\)"),
        ({"game": "record", "records": [0, 0, 5]}, ValueError,
         "records: row index 0 is listed more than once"),
        ({"game": "record", "records": [3]}, ValueError,
         "records must hold at least 2 row indices, got 1"),
        ({"game": "record", "records": [0.5, 2.0]}, ValueError,
         r"records must be a number of records or a list of row indices \(integers\)"),
        ({"population_fraction": True}, ValueError, "population_fraction must be a number in"),
    ],
)
def test_audit_bad_input(cancer: tuple, kwargs: dict, exc: type, match: str) -> None:
    base = {"trainer": tree_trainer(), "progress": False}
    base.update(kwargs)
    with pytest.raises(exc, match=match):
        Audit(cancer, **base).run()


def test_bad_data_is_named(cancer: tuple) -> None:
    x, y = cancer
    x = x.copy()
    x[[3, 17]] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values in 2 rows: 3, 17"):
        Audit((x, y), tree_trainer(), progress=False)
    with pytest.raises(ValueError, match=r"x has 569 rows but y has shape \(568,\)"):
        Audit((cancer[0], cancer[1][:-1]), tree_trainer(), progress=False)


def test_fewer_points_than_the_game_needs() -> None:
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array([0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match="fewer points than the 'model' game needs"):
        Audit((x, y), tree_trainer(), population_fraction=0.5, progress=False).run()


def test_offline_needs_enough_population(cancer: tuple) -> None:
    with pytest.raises(ValueError, match=r"offline reference models .* raise population_fraction"):
        Audit(cancer, tree_trainer(), online=False, population_fraction=0.3,
              progress=False).run()


# ----------------------------------------------------- no hidden state (issue 10, point 6)
def test_audit_keeps_the_users_arguments_as_given(cancer: tuple, tmp_path: Path) -> None:
    seed = np.int64(2)
    audit = Audit(cancer, tree_trainer(), seed=seed, store=tmp_path, attacks=["loss", "lira"],
                  n_references=2, progress=False)
    assert audit.seed is seed and audit.store == tmp_path  # not rewritten to int / Store
    report = audit.run()
    assert report.card["seed"] == 2 and type(report.card["seed"]) is int
    assert any(p.is_file() for p in tmp_path.rglob("*"))  # the folder was used as the cache


def test_attack_leaves_the_built_table_unchanged(
    cancer: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    import privmeter.pipeline.audit as audit_mod

    real = audit_mod.run_attack

    def no_lira(name: str, *args: object, **kwargs: object) -> object:
        if name == "lira":
            raise ValueError("lira is switched off")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit_mod, "run_attack", no_lira)
    audit = Audit(cancer, tree_trainer(), attacks=["loss", "lira"], n_references=2,
                  progress=False)
    built = audit.build_table()
    before = dict(built.card)
    with pytest.warns(UserWarning, match="attack 'lira' could not run: lira is switched off"):
        results = audit.attack(built)
    assert [r.attack for r in results] == ["loss"]
    assert dict(built.card) == before and "attacks not run" not in built.card
    with pytest.warns(UserWarning, match="could not run"):
        report = audit.run()
    assert report.card["attacks not run"] == {"lira": "lira is switched off"}
    assert list(report.card)[-3:] == ["utility", "attacks not run", "timings (s)"]


def test_the_card_keeps_the_results_json_keys(cancer: tuple) -> None:
    report = Audit(cancer, tree_trainer(), attacks=["loss"], n_references=2, seed=4,
                   progress=False).run()
    card = report.card
    assert list(card) == [
        "game", "access level", "signal", "attacker knowledge", "reference models per target",
        "targets", "population size", "audited records", "members / non-members (first target)",
        "dataset", "model", "seed", "versions", "utility", "timings (s)",
    ]
    assert card["access level"] == "probabilities" and card["signal"] == "logit_margin"
    assert card["targets"] == 1 and card["reference models per target"] == 2
    assert card["audited records"] == 569 - 171 and card["population size"] == 171
    assert card["dataset"] == "user data (569 rows, classification, 2 classes)"
    assert card["model"] == "DecisionTreeClassifier()" and card["seed"] == 4
    assert set(card["versions"]) >= {"privmeter", "numpy", "python", "sklearn"}


def test_threat_model_card_to_dict() -> None:
    from privmeter.pipeline.card import ThreatModelCard

    card = ThreatModelCard(
        game="record", access_level="probabilities", signal="loss",
        attacker_knowledge="knows everything", reference_models_per_target=5, targets=6,
        population_size=30, audited_records=10, members=4, non_members=6,
        dataset="d (40 rows, classification)", model="m", seed=3, versions={"numpy": "2"},
    )
    expected = {
        "game": "record", "access level": "probabilities", "signal": "loss",
        "attacker knowledge": "knows everything", "reference models per target": 5,
        "targets": 6, "population size": 30, "audited records": 10,
        "members / non-members (first target)": "4 / 6",
        "dataset": "d (40 rows, classification)", "model": "m", "seed": 3,
        "versions": {"numpy": "2"},
    }
    assert card.to_dict() == expected and list(card.to_dict()) == list(expected)
    assert dict(card) == expected and card["targets"] == 6 and "utility" not in card
    with_utility = dataclasses.replace(card, utility={"metric": "accuracy"})
    assert list(with_utility)[-1] == "utility" and "utility" not in card
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.seed = 4  # type: ignore[misc]


def test_models_are_built_and_queried_one_at_a_time(cancer: tuple) -> None:
    from privmeter.models import SklearnModel
    from privmeter.pipeline.build import query_models
    from privmeter.pipeline.data import as_data
    from privmeter.signals import get_signal

    x, y = cancer
    live: list[int] = [0]
    most: list[int] = [0]

    class Counted(SklearnModel):
        def __init__(self, est: object) -> None:
            super().__init__(est)  # type: ignore[arg-type]
            live[0] += 1
            most[0] = max(most[0], live[0])

        def __del__(self) -> None:
            live[0] -= 1

    fits = [LogisticRegression(max_iter=300).fit(x[i::3], y[i::3]) for i in range(3)]
    factories = [lambda est=est: Counted(est) for est in fits]
    rows = np.arange(0, 569, 7)
    member = np.zeros((3, rows.size), dtype=bool)
    member[0, ::2] = True
    values, utility, timings = query_models(
        factories, [None] * 3, rows, as_data(cancer), get_signal("logit_margin"),
        augmentations=None, store=None, progress=False, member=member,
    )
    assert most[0] == 1 and live[0] == 0  # never two models alive at once
    assert values.shape == (3, rows.size, 1) and set(timings) == {"querying", "utility"}
    assert isinstance(utility, list) and len(utility) == 3
    expected = fits[0].score(x[rows[member[0]]], y[rows[member[0]]])
    assert utility[0]["train"] == pytest.approx(expected)
