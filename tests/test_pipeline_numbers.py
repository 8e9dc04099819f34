"""End-to-end numbers: an audit of a model that learned nothing finds nothing, and an audit of
a model that memorised its training set finds it.

The other pipeline tests check shapes, keys and text; these check the figures an audit reports
against what is known about the model it audited.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from privmeter.audit import DEFAULT_ATTACKS, Audit
from privmeter.report.verdict import at_confidence
from privmeter.training import SklearnTrainer


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    return (x - x.mean(0)) / x.std(0), y


def _random_labels(y: np.ndarray, seed: int) -> np.ndarray:
    # labels independent of the features: nothing to learn, everything to memorise
    return np.random.default_rng(seed).permutation(y)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("random_labels", [False, True])
def test_a_constant_model_shows_no_leakage(
    cancer: tuple, seed: int, random_labels: bool
) -> None:
    # DummyClassifier("prior") outputs the training class frequencies for every input: its
    # output on a point does not depend on whether that point was trained on
    x, y = cancer
    labels = _random_labels(y, seed) if random_labels else y
    report = Audit((x, labels), SklearnTrainer(DummyClassifier(strategy="prior")),
                   n_references=4, progress=False, seed=seed).run()
    assert [r.attack for r in report.results] == list(DEFAULT_ATTACKS)
    # every interval at the family-wise level (Bonferroni over the attacks), as the verdict
    k = len(report.results)
    for r in report.results:
        wide = at_confidence(r, 1 - 0.05 / k)
        assert wide.auc_ci[0] < 0.5 < wide.auc_ci[1], (r.attack, r.auc, wide.auc_ci)
        assert abs(r.auc - 0.5) < 0.06, (r.attack, r.auc)
    assert report.verdict.level == "low"


@pytest.mark.parametrize(
    "estimator",
    [DecisionTreeClassifier(), KNeighborsClassifier(n_neighbors=1)],
    ids=["deep-tree", "1-nn"],
)
def test_a_memorising_model_is_exposed(cancer: tuple, estimator: object) -> None:
    # a fully grown tree or a 1-NN fits random labels exactly: every member is predicted with
    # its own label (loss 0), a non-member only by chance
    x, y = cancer
    report = Audit((x, _random_labels(y, 0)), SklearnTrainer(estimator), n_references=4,
                   progress=False, seed=0).run()
    by = {r.attack: r for r in report.results}
    loss = by["loss"]
    assert loss.auc_ci[0] > 0.65, loss.auc_ci
    # the LOSS scores take two values per point: the members all share the top one, and a
    # non-member reaches it when the model happens to predict its label (rate q). Ties count
    # 1/2, so AUC = (1 - q) + q / 2 = 1 - q / 2, with q near 1/2 for random labels.
    top = loss.scores.max()
    assert np.all(loss.scores[loss.membership] == top)
    q = float(np.mean(loss.scores[~loss.membership] == top))
    assert 0.35 < q < 0.65
    assert loss.auc == pytest.approx(1 - q / 2, abs=1e-9)
    for r in report.results:
        assert r.auc_ci[0] > 0.6, (r.attack, r.auc_ci)
    assert report.verdict.level == "high"
