"""Bring-your-own reference models: figures equal those of the same models trained here."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import privmeter as pm
from privmeter.training import SklearnTrainer, train_models


@pytest.fixture(scope="module")
def setup() -> tuple[np.ndarray, np.ndarray, SklearnTrainer, object, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    trainer = SklearnTrainer(LogisticRegression(C=10.0, max_iter=300))
    rng = np.random.default_rng(3)
    target_idx = np.sort(rng.choice(len(x), size=200, replace=False))
    target = LogisticRegression(C=10.0, max_iter=300).fit(x[target_idx], y[target_idx])
    return x, y, trainer, target, target_idx


def test_given_references_reproduce_trained_ones(setup: tuple) -> None:
    x, y, trainer, target, target_idx = setup
    attacks = ["loss", "reference", "lira", "rmia"]
    kw = dict(attacks=attacks, n_references=4, target_model=target, target_indices=target_idx,
              progress=False, seed=5)
    trained = pm.Audit((x, y), trainer, **kw)
    rep_a = trained.run()
    # the same reference models, trained outside the audit on the rows the audit would use
    _, _, keep, _ = trained._plan()
    _, train_seed, _ = trained._seeds()
    models = train_models(trainer, x, y, keep[1:], seeds=train_seed, progress=False)
    refs = [(m, np.flatnonzero(row)) for m, row in zip(models, keep[1:], strict=True)]
    given = pm.Audit((x, y), None, reference_models=refs, **kw)
    rep_b = given.run()
    for a, b in zip(rep_a.results, rep_b.results, strict=True):
        assert a.attack == b.attack
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-12)
        assert a.auc == pytest.approx(b.auc, abs=1e-12)
    assert "user-supplied (4 models" in rep_b.card["model"]


def test_reference_models_bad_input(setup: tuple) -> None:
    x, y, trainer, target, target_idx = setup
    kw = dict(attacks=["lira"], target_model=target, target_indices=target_idx, progress=False)
    with pytest.raises(ValueError, match=r"reference_models\[0\] has no training indices"):
        pm.Audit((x, y), None, reference_models=[(target, None)], **kw)
    with pytest.raises(ValueError, match=r"reference_models\[1\] must be a \(model, training"):
        pm.Audit((x, y), None, reference_models=[(target, target_idx), target], **kw)
    with pytest.raises(ValueError, match=r"reference_models\[0\] indices"):
        pm.Audit((x, y), None, reference_models=[(target, [0, 1, len(x)])], **kw)
    with pytest.raises(ValueError, match="reference_models is empty"):
        pm.Audit((x, y), None, reference_models=[], **kw)
    with pytest.raises(ValueError, match="only used by the 'model' game"):
        pm.Audit((x, y), trainer, game="algorithm", reference_models=[(target, target_idx)],
                 attacks=["lira"], progress=False)
    with pytest.raises(ValueError, match="reference_models without target_model"):
        pm.Audit((x, y), None, reference_models=[(target, target_idx)], attacks=["lira"],
                 progress=False)
