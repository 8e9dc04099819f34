"""Signals: hand-computed values, extreme logits, registry, access checks, augmentations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from privmeter.models import BlackBoxModel, LabelOnlyModel
from privmeter.signals import (
    Augmentation,
    FlipShift,
    GaussianNoise,
    Signal,
    compute_signal,
    cross_entropy_from_logits,
    entropy_from_logits,
    get_signal,
    list_signals,
    modified_entropy_from_logits,
    probability_from_logits,
    probability_signal,
    register_signal,
    robustness_signal,
    taylor_softmax_from_logits,
    taylor_softmax_signal,
)
from privmeter.table import SignalTable, logit_margin_from_logits

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from torch import nn  # noqa: E402

from privmeter.models import SklearnModel, TorchModel  # noqa: E402


# ------------------------------------------------------------------------- helpers
def _proba_api(p: np.ndarray) -> BlackBoxModel:
    """A black box that answers the fixed probability matrix ``p`` row by row."""
    p = np.asarray(p, dtype=np.float64)

    def fn(x: Any) -> np.ndarray:
        return p[np.asarray(x, dtype=np.int64)[:, 0]]

    return BlackBoxModel(fn, n_classes=p.shape[1])


class FixedLogits(nn.Module):
    """A module whose output for input row ``[i]`` is the stored logit row ``i``."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(logits, dtype=torch.float64))

    def forward(self, x: Any) -> Any:
        return self.table[x[:, 0].long()]


def _rows(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)[:, None]


@pytest.fixture(scope="module")
def digits_mlp() -> tuple[nn.Module, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.tensor(x[:600], dtype=torch.float32), torch.tensor(y[:600])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(40):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return net, x, y


# ------------------------------------------------------------------------- hand values
Z = np.array([[2.0, 0.0, 0.0], [1.0, 3.0, -1.0]])
Y = np.array([0, 2])


def test_logit_margin_hand_values() -> None:
    model = TorchModel(FixedLogits(Z))
    got = compute_signal("logit_margin", model, _rows(2), Y)
    expected = [2.0 - np.log(2.0), -1.0 - np.log(np.exp(1.0) + np.exp(3.0))]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_probability_hand_values() -> None:
    model = TorchModel(FixedLogits(Z))
    e = np.exp(Z)
    np.testing.assert_allclose(
        compute_signal("probability", model, _rows(2), Y),
        [e[0, 0] / e[0].sum(), e[1, 2] / e[1].sum()], rtol=1e-12,
    )
    e2 = np.exp(Z / 2.0)
    np.testing.assert_allclose(
        probability_signal(temperature=2.0)(model, _rows(2), Y),
        [e2[0, 0] / e2[0].sum(), e2[1, 2] / e2[1].sum()], rtol=1e-12,
    )
    with pytest.raises(ValueError, match="temperature must be a positive finite number, got 0"):
        probability_signal(temperature=0.0)


def test_loss_entropy_and_modified_entropy_hand_values() -> None:
    model = TorchModel(FixedLogits(Z))
    p = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        compute_signal("loss", model, _rows(2), Y), -np.log(p[[0, 1], Y]), rtol=1e-12
    )
    np.testing.assert_allclose(
        compute_signal("entropy", model, _rows(2), Y), -(p * np.log(p)).sum(axis=1), rtol=1e-12
    )
    mentr = []
    for row, y in zip(p, Y, strict=True):
        others = [j for j in range(3) if j != y]
        mentr.append(
            -(1 - row[y]) * np.log(row[y]) - sum(row[j] * np.log(1 - row[j]) for j in others)
        )
    np.testing.assert_allclose(
        compute_signal("modified_entropy", model, _rows(2), Y), mentr, rtol=1e-12
    )
    # the worked example of the docstring: p = (0.8, 0.2), y = 0 -> 0.4 * log(1/0.8)
    np.testing.assert_allclose(
        modified_entropy_from_logits(np.log([[0.8, 0.2]]), [0]), [0.4 * np.log(1.25)]
    )


def test_taylor_softmax_hand_value() -> None:
    # u = z / 2 = (1, 0, -0.5); t4(u) = 1 + u + u^2/2 + u^3/6; true term t4(1 - 0.6)
    t = lambda u: 1 + u + u**2 / 2 + u**3 / 6  # noqa: E731
    expected = t(0.4) / (t(0.4) + t(0.0) + t(-0.5))
    model = TorchModel(FixedLogits(np.array([[2.0, 0.0, -1.0]])))
    got = compute_signal("taylor_softmax", model, _rows(1), [0])
    np.testing.assert_allclose(got, [expected], rtol=1e-12)
    assert abs(expected - 0.48166) < 1e-4
    assert get_signal("taylor_softmax").params == {"n": 4, "margin": 0.6, "temperature": 2.0}
    # n = 2, m = 0, T = 1: t2(u) = 1 + u
    np.testing.assert_allclose(
        taylor_softmax_from_logits([[1.0, 0.5]], [1], n=2, margin=0.0, temperature=1.0),
        [1.5 / (2.0 + 1.5)],
    )


def _research_taylor(z: np.ndarray, y: np.ndarray, n: int, m: float, temp: float) -> np.ndarray:
    """The RMIA research code's formula, term by term, without flooring."""
    u = z / temp

    def taylor(v: np.ndarray) -> np.ndarray:
        out, power = 1.0 + v, v
        for i in range(2, n):
            power = power * v
            out = out + power / np.prod(np.arange(1, i + 1))
        return out

    terms = taylor(u)
    true_u = u[np.arange(len(y)), y]
    total = terms.sum(axis=1) - terms[np.arange(len(y)), y] + taylor(true_u - m)
    return np.asarray(taylor(true_u - m) / total)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8])
def test_taylor_softmax_matches_research_formula_where_terms_are_positive(n: int) -> None:
    rng = np.random.default_rng(n)
    z = rng.uniform(0.0, 3.0, size=(50, 6))  # u >= 0 - 0.6: every term positive
    y = rng.integers(0, 6, size=50)
    np.testing.assert_allclose(
        taylor_softmax_from_logits(z, y, n=n, margin=0.6, temperature=2.0),
        _research_taylor(z, y, n, 0.6, 2.0), rtol=1e-12,
    )


def test_taylor_softmax_negative_terms_are_floored_into_unit_interval() -> None:
    z = np.array([[4.0, -4.0, -4.0], [4.0, -5.0, -9.0], [-8.0, 2.0, 1.0], [-9.0, -9.0, -9.0]])
    y = np.array([0, 0, 0, 0])
    raw = _research_taylor(z, y, 4, 0.6, 2.0)
    assert raw[0] > 1 and raw[1] < 0  # the unfloored formula leaves [0, 1]
    got = taylor_softmax_from_logits(z, y)
    assert ((got >= 0) & (got <= 1)).all()
    assert got[0] == got[1] == 1.0  # negative other terms floored: only the true term is left
    assert got[2] == 0.0 and got[3] == 0.0  # true term negative -> 0; all terms zero -> 0
    SignalTable(got[None, :], np.array([[True, False, True, False]]), kind="probability")


# ------------------------------------------------------------------------- extremes
def test_extreme_logits_give_distinct_finite_margins_and_losses() -> None:
    z = np.array([[1e4, 0.0], [2e4, 0.0], [30.0, 0.0], [40.0, 0.0], [700.0, 0.0],
                  [705.0, 0.0], [-1e4, 0.0], [-2e4, 0.0]])
    y = np.zeros(len(z), dtype=np.int64)
    model = TorchModel(FixedLogits(z))
    margin = compute_signal("logit_margin", model, _rows(len(z)), y)
    loss = compute_signal("loss", model, _rows(len(z)), y)
    np.testing.assert_array_equal(margin, z[:, 0])
    assert np.isfinite(margin).all() and np.isfinite(loss).all()
    assert np.unique(margin).size == len(z)
    # losses: exact where float64 can hold them, ordered, never NaN, never negative
    np.testing.assert_allclose(loss[2:6], np.exp(-z[2:6, 0]), rtol=1e-12)
    assert loss[2] > loss[3] > loss[4] > loss[5] > 0.0
    assert loss[0] == loss[1] == 0.0  # e^-1e4 is below the smallest float64
    np.testing.assert_array_equal(loss[6:], [1e4, 2e4])
    # the naive float32 probability path ties points 2 and 3 at loss 0: we do not
    p32 = torch.softmax(torch.tensor(z[2:4], dtype=torch.float32), dim=1)[:, 0]
    assert (-torch.log(p32)).tolist() == [0.0, 0.0]
    for name in ("probability", "entropy", "modified_entropy", "taylor_softmax"):
        values = compute_signal(name, model, _rows(len(z)), y)
        assert np.isfinite(values).all(), name
    np.testing.assert_allclose(
        compute_signal("modified_entropy", model, _rows(len(z)), y)[6:], [2e4, 4e4]
    )


def test_margin_from_probabilities_avoids_one_minus_p() -> None:
    eps = 1e-13
    p = np.array([[1.0 - eps, eps / 2, eps / 2], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    api = _proba_api(p)
    got = compute_signal("logit_margin", api, _rows(3), [0, 2, 0])
    exact = np.log1p(-eps) - np.log(eps)
    assert abs(got[0] - exact) < 1e-12 * abs(exact)
    np.testing.assert_allclose(got[1], np.log(0.5) - np.log(0.5), atol=1e-15)
    assert np.isfinite(got[2]) and got[2] > 700  # p = 1 exactly: large, finite
    # the same values as from logits whose softmax is p
    z = np.log(p[:2])
    np.testing.assert_allclose(got[:2], logit_margin_from_logits(z, [0, 2]), rtol=1e-12)


LABEL_TAKERS = [
    ("logit_margin_from_logits", lambda z, y: logit_margin_from_logits(z, y)),
    ("probability_from_logits", lambda z, y: probability_from_logits(z, y)),
    ("cross_entropy_from_logits", lambda z, y: cross_entropy_from_logits(z, y)),
    ("modified_entropy_from_logits", lambda z, y: modified_entropy_from_logits(z, y)),
    ("taylor_softmax_from_logits", lambda z, y: taylor_softmax_from_logits(z, y)),
]


@pytest.mark.parametrize(("name", "fn"), LABEL_TAKERS, ids=[n for n, _ in LABEL_TAKERS])
def test_every_label_taking_function_refuses_fractional_labels_alike(name: str, fn: Any) -> None:
    # issue 10: logit_margin_from_logits used to truncate [0.7, 1.9] to [0, 1] silently
    z = [[1.0, 0.0], [0.0, 1.0]]
    msg = r"labels must be integer class indices, got 0\.7 at index 0 \(dtype float64\)"
    with pytest.raises(ValueError, match=msg):
        fn(z, [0.7, 1.9])
    with pytest.raises(ValueError, match=r"got 1\.5 at index 1 \(dtype float64\)"):
        fn(z, [1.0, 1.5])
    with pytest.raises(ValueError, match=r"got nan at index 0"):
        fn(z, [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"labels must be integer class indices, got dtype <U1"):
        fn(z, ["a", "b"])
    with pytest.raises(ValueError, match=r"label 2 is outside the 2 classes"):
        fn(z, [0, 2])
    # whole-number floats are class indices: the same values as the integer labels
    np.testing.assert_array_equal(fn(z, [1.0, 0.0]), fn(z, [1, 0]))


def test_signal_table_labels_use_the_same_check() -> None:
    import privmeter as pm

    with pytest.raises(ValueError, match=r"labels must be integer class indices, got 0\.5"):
        SignalTable(np.zeros((2, 2)), np.array([[True, False], [False, True]]),
                    labels=[0.5, 1.0])
    table = SignalTable(np.zeros((2, 2)), np.array([[True, False], [False, True]]),
                        labels=[1.0, 0.0])
    assert table.labels is not None and table.labels.dtype == np.int64
    np.testing.assert_array_equal(table.labels, [1, 0])
    with pytest.raises(ValueError, match=r"got 0\.7 at index 0"):
        pm.logit_margin_from_logits([[1, 0], [0, 1]], [0.7, 1.9])


@settings(max_examples=60, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 5)),
                 elements=st.floats(-50, 50)),
    data=st.data(),
)
def test_softmax_signals_agree_between_logits_and_probabilities(z: np.ndarray, data: Any) -> None:
    y = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z),
                                    max_size=len(z))))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    logit_model = TorchModel(FixedLogits(z))
    proba_model = _proba_api(p)
    x = _rows(len(z))
    for name in ("probability", "loss", "entropy", "modified_entropy"):
        a = compute_signal(name, logit_model, x, y)
        b = compute_signal(name, proba_model, x, y)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=name)
    margin = compute_signal("logit_margin", logit_model, x, y)
    np.testing.assert_allclose(cross_entropy_from_logits(z, y), np.logaddexp(0, -margin))
    np.testing.assert_allclose(probability_from_logits(z, y), 1 / (1 + np.exp(-margin)))
    assert (entropy_from_logits(z) >= -1e-12).all()
    assert (modified_entropy_from_logits(z, y) >= -1e-12).all()


@settings(max_examples=80, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(2, 6)),
                 elements=st.floats(-12, 12)),
    data=st.data(),
)
def test_softmax_signals_match_naive_float64_oracles(z: np.ndarray, data: Any) -> None:
    """Where nothing underflows, the stable forms equal the textbook formulas."""
    y = np.array(data.draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z),
                                    max_size=len(z))))
    zl = z.astype(np.longdouble)  # extended precision for the naive 1 - p
    p = np.exp(zl) / np.exp(zl).sum(axis=1, keepdims=True)
    rows = np.arange(len(z))
    p_y = p[rows, y]
    mentr = -(1 - p_y) * np.log(p_y) - (p * np.log(1 - p)).sum(axis=1) + p_y * np.log(1 - p_y)
    mentr, p, p_y = (np.asarray(a, dtype=np.float64) for a in (mentr, p, p_y))
    np.testing.assert_allclose(modified_entropy_from_logits(z, y), mentr, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(entropy_from_logits(z), -(p * np.log(p)).sum(axis=1),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(probability_from_logits(z, y), p_y, rtol=1e-12)
    np.testing.assert_allclose(cross_entropy_from_logits(z, y), -np.log(p_y), rtol=1e-9,
                               atol=1e-14)
    p3 = np.exp(z / 3) / np.exp(z / 3).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probability_from_logits(z, y, temperature=3.0), p3[rows, y],
                               rtol=1e-12)


# ------------------------------------------------------------------------- real models
def test_signals_on_sklearn_models() -> None:
    x, y = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x[:500], y[:500])
    model = SklearnModel(forest)
    margin = compute_signal("logit_margin", model, x[:600], y[:600])
    assert np.isfinite(margin).all()
    p = forest.predict_proba(x[:600])[np.arange(600), y[:600]]
    with np.errstate(divide="ignore"):
        naive = np.log(p) - np.log1p(-p)
    finite = np.isfinite(naive)
    np.testing.assert_allclose(margin[finite], naive[finite], rtol=1e-9, atol=1e-9)
    assert margin[:500].mean() > margin[500:].mean()  # members look more confident
    correct = compute_signal("correctness", model, x[:600], y[:600])
    np.testing.assert_array_equal(correct, forest.predict(x[:600]) == y[:600])
    # a label-only scikit-learn classifier with string classes
    names = np.array(["even", "odd"])[y[:300] % 2]
    svm = SklearnModel(LinearSVC().fit(x[:300], names))
    assert svm.access == "label"
    np.testing.assert_array_equal(
        compute_signal("correctness", svm, x[:300], names), svm.predict(x[:300]) == names
    )
    with pytest.raises(ValueError, match="'loss' needs 'proba' access, but SklearnModel"):
        compute_signal("loss", svm, x[:3], names[:3])
    with pytest.raises(ValueError, match="'taylor_softmax' needs 'logits' access, but "
                                         "SklearnModel.* offers only 'proba'"):
        compute_signal("taylor_softmax", model, x[:5], y[:5])
    with pytest.raises(ValueError, match=r"label 10 \(at position 1\) is not one of the "
                                         r"classes_"):
        compute_signal("loss", model, x[:2], [1, 10])


def test_regression_signals() -> None:
    x, y = load_diabetes(return_X_y=True)
    reg = Ridge(alpha=0.1).fit(x[:300], y[:300])
    model = SklearnModel(reg)
    se = compute_signal("squared_error", model, x, y)
    np.testing.assert_allclose(se, (reg.predict(x) - y) ** 2, rtol=1e-12)
    assert get_signal("squared_error").higher_is_member is False
    with pytest.raises(ValueError, match="signal 'logit_margin' needs a classification model,"
                                         " but SklearnModel.* is a regressor"):
        compute_signal("logit_margin", model, x[:3], y[:3])
    with pytest.raises(ValueError, match=r"predicts outputs of shape \(3,\) but y has shape"):
        compute_signal("squared_error", model, x[:3], np.zeros((3, 2)))
    api = _proba_api(np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="'squared_error' needs a regression model, but "
                                         "BlackBoxModel.* is a classifier"):
        compute_signal("squared_error", api, np.zeros((1, 1)), [0.0])


def test_torch_regression_squared_error_and_grad_norm() -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 1).double()
    x = np.random.default_rng(0).normal(size=(10, 3))
    y = np.random.default_rng(1).normal(size=10)
    model = TorchModel(net, task="regression")
    with torch.no_grad():
        pred = net(torch.tensor(x)).numpy()[:, 0]
    np.testing.assert_allclose(compute_signal("squared_error", model, x, y), (pred - y) ** 2)
    # gradient of (w.x + b - y)^2: 2 r (x, 1), norm 2 |r| sqrt(|x|^2 + 1)
    g = compute_signal("grad_norm", model, x, y)
    np.testing.assert_allclose(g, 2 * np.abs(pred - y) * np.sqrt((x**2).sum(1) + 1), rtol=1e-10)


def test_grad_norm_signal_matches_loop(digits_mlp: Any) -> None:
    net, x, y = digits_mlp
    xs, ys = x[590:610], y[590:610]
    got = compute_signal("grad_norm", TorchModel(net, grad_batch_size=8), xs, ys)
    ref = []
    for xi, yi in zip(xs, ys, strict=True):
        net.zero_grad()
        out = net(torch.tensor(xi[None], dtype=torch.float32))
        nn.functional.cross_entropy(out, torch.tensor([yi])).backward()
        ref.append(np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters())))
    net.zero_grad()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-8)
    api = _proba_api(np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="'grad_norm' needs 'grad' access, but BlackBoxModel"):
        compute_signal("grad_norm", api, np.zeros((1, 1)), [0])


def test_signals_on_trained_torch_mlp(digits_mlp: Any) -> None:
    net, x, y = digits_mlp
    model = TorchModel(net, batch_size=256)
    x_eval, y_eval = x[:1200], y[:1200]
    member = np.arange(1200) < 600
    for name in list_signals():
        sig = get_signal(name)
        if sig.task in ("regression", "language_model"):
            continue
        values = compute_signal(sig, model, x_eval, y_eval)
        assert values.shape == (1200,) and values.dtype == np.float64, name
        oriented = values if sig.higher_is_member else -values
        assert oriented[member].mean() >= oriented[~member].mean(), name


# ------------------------------------------------------------------------- registry
def test_registry_names_and_errors() -> None:
    names = list_signals()
    for expected in ("logit_margin", "probability", "loss", "taylor_softmax", "entropy",
                     "modified_entropy", "correctness", "robustness", "squared_error",
                     "grad_norm"):
        assert expected in names
    assert names == sorted(names)
    with pytest.raises(ValueError, match=r"unknown signal 'logit_marign' \(did you mean "
                                         r"'logit_margin'\?\); known signals: .*loss"):
        get_signal("logit_marign")
    with pytest.raises(ValueError, match="already registered; pass overwrite=True"):
        register_signal(probability_signal())
    orientation = {name: get_signal(name).higher_is_member for name in names}
    assert orientation["logit_margin"] and orientation["probability"]
    assert not orientation["loss"] and not orientation["modified_entropy"]
    assert not orientation["entropy"] and not orientation["grad_norm"]
    assert orientation["correctness"] and orientation["robustness"]
    assert all(get_signal(n).paper for n in names)
    assert "Song" in get_signal("modified_entropy").doc
    assert "ICML 2024" in get_signal("probability").doc
    assert len({get_signal(n) for n in names}) == len(names)  # hashable, distinct


def test_register_custom_signal_and_overwrite() -> None:
    sig = Signal(name="test_constant", fn=lambda m, x, y: np.ones(len(y)),
                 higher_is_member=True, kind="custom", requires="label")
    register_signal(sig, overwrite=True)
    assert get_signal("test_constant") is sig
    api = _proba_api(np.array([[0.5, 0.5]]))
    np.testing.assert_array_equal(compute_signal("test_constant", api, _rows(1), [0]), [1.0])


def test_signal_definition_errors() -> None:
    with pytest.raises(ValueError, match="kind='loss' has higher_is_member=False, got True"):
        Signal(name="x", fn=lambda m, x, y: y, higher_is_member=True, kind="loss",
               requires="proba")
    with pytest.raises(ValueError, match="unknown kind 'margin'"):
        Signal(name="x", fn=lambda m, x, y: y, higher_is_member=True,
               kind="margin", requires="proba")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown access level 'weights'"):
        Signal(name="x", fn=lambda m, x, y: y, higher_is_member=True, kind="custom",
               requires="weights")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n .number of Taylor terms. must be a positive"):
        taylor_softmax_signal(n=0)


def test_bad_signal_outputs_are_caught() -> None:
    api = _proba_api(np.array([[0.5, 0.5]]))
    nan_sig = Signal(name="nan", fn=lambda m, x, y: np.where(np.arange(len(y)) % 2, np.nan, 0.0),
                     higher_is_member=True, kind="custom", requires="label")
    with pytest.raises(ValueError, match=r"'nan' gave NaN or infinite values in rows \[1, 3\]"):
        compute_signal(nan_sig, api, np.zeros((4, 1), dtype=int), np.zeros(4, dtype=int))
    short = Signal(name="short", fn=lambda m, x, y: np.zeros(1), higher_is_member=True,
                   kind="custom", requires="label")
    with pytest.raises(ValueError, match=r"returned shape \(1,\) for 3 points; expected \(3,\)"):
        compute_signal(short, api, np.zeros((3, 1), dtype=int), np.zeros(3, dtype=int))


def test_access_and_input_errors() -> None:
    labels = LabelOnlyModel(lambda x: np.zeros(len(x), dtype=int), n_classes=2)
    with pytest.raises(ValueError, match="'logit_margin' needs 'proba' access, but "
                                         r"LabelOnlyModel.* offers only 'label'; signals it "
                                         "supports: correctness, robustness"):
        compute_signal("logit_margin", labels, np.zeros((2, 1)), [0, 1])
    with pytest.raises(ValueError, match="x has 3 rows but y has 2 entries"):
        compute_signal("correctness", labels, np.zeros((3, 1)), [0, 1])
    with pytest.raises(TypeError, match="needs a model access object .* got Linear; wrap"):
        compute_signal("loss", nn.Linear(2, 2), np.zeros((1, 2)), [0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="augmentations must be an Augmentation"):
        compute_signal("correctness", labels, np.zeros((1, 1)), [0],
                       augmentations=lambda x: x)  # type: ignore[arg-type]
    api = _proba_api(np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"label 2 \(at position 1\) is not one of the 2 "
                                         r"classes 0..1"):
        compute_signal("loss", api, np.zeros((2, 1)), [1, 2])


# ------------------------------------------------------------------------- augmentations
def test_flip_shift_default_is_lira_18_queries() -> None:
    x = np.random.default_rng(0).normal(size=(5, 3, 8, 8)).astype(np.float32)
    aug = FlipShift()
    out = aug(x)
    assert aug.n_queries == 18 and out.shape == (5, 18, 3, 8, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], x)  # query 0: the original image
    np.testing.assert_array_equal(out[:, 1], x[..., ::-1])  # query 1: its mirror image
    assert aug.offsets()[0] == (0, 0) and set(aug.offsets()) == {
        (a, b) for a in (-4, 0, 4) for b in (-4, 0, 4)
    }
    assert sorted(aug.queries()) == sorted(
        (f, a, b) for f in (False, True) for a in (-4, 0, 4) for b in (-4, 0, 4)
    )
    two = FlipShift(n_queries=2)
    assert two.n_queries == 2
    np.testing.assert_array_equal(two(x), out[:, :2])  # a prefix of the full set
    with pytest.raises(ValueError, match="makes 1 to 18 queries, got n_queries=19"):
        FlipShift(n_queries=19)
    # queries are pairwise different
    flat = out.reshape(5, 18, -1)
    assert len({flat[0, q].tobytes() for q in range(18)}) == 18
    np.testing.assert_array_equal(aug(x), out)  # deterministic
    assert FlipShift(shift=0).n_queries == 2


def test_flip_shift_pixels_by_hand() -> None:
    img = np.arange(9.0).reshape(1, 1, 3, 3)
    aug = FlipShift(shift=1, stride=1, flip=False, padding="zero")
    out = aug(img)
    q = aug.offsets().index((0, 1))  # dx = +1: column j shows column j + 1
    np.testing.assert_array_equal(out[0, q, 0], [[1, 2, 0], [4, 5, 0], [7, 8, 0]])
    q = aug.offsets().index((-1, 0))  # dy = -1: row i shows row i - 1
    np.testing.assert_array_equal(out[0, q, 0], [[0, 0, 0], [0, 1, 2], [3, 4, 5]])
    reflect = FlipShift(shift=1, stride=1, flip=False, padding="reflect")
    q = reflect.offsets().index((0, 1))
    np.testing.assert_array_equal(reflect(img)[0, q, 0], [[1, 2, 1], [4, 5, 4], [7, 8, 7]])


def test_flip_shift_channels_last_and_errors() -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6))
    first = FlipShift(shift=2, stride=2)(x)
    last = FlipShift(shift=2, stride=2, channels_last=True)(x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(last.transpose(0, 1, 4, 2, 3), first)
    with pytest.raises(ValueError, match=r"expects images of shape \(N, C, H, W\), got shape "
                                         r"\(2, 6, 6\)"):
        FlipShift()(x[:, 0])
    with pytest.raises(ValueError, match="reflect padding by shift=4 needs images larger"):
        FlipShift(shift=4)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding must be 'reflect' or 'zero', got 'wrap'"):
        FlipShift(padding="wrap")  # type: ignore[arg-type]


def test_gaussian_noise_is_seeded_and_sized() -> None:
    x = np.zeros((400, 5))
    a = GaussianNoise(n_queries=6, sigma=0.05, seed=3)
    out = a(x)
    assert out.shape == (400, 6, 5)
    np.testing.assert_array_equal(out, a(x))
    assert not np.array_equal(out, GaussianNoise(n_queries=6, sigma=0.05, seed=4)(x))
    assert abs(out.std() - 0.05) < 0.003 and abs(out.mean()) < 0.003
    ints = GaussianNoise(n_queries=2, sigma=0.1)(np.ones((3, 2), dtype=np.int64))
    assert ints.dtype == np.float64
    with pytest.raises(ValueError, match="n_queries must be a positive integer, got 0"):
        GaussianNoise(n_queries=0)
    with pytest.raises(ValueError, match="sigma must be a non-negative finite number, got -1"):
        GaussianNoise(sigma=-1.0)


def test_compute_signal_with_augmentations_is_batched_and_chunk_independent(
    digits_mlp: Any,
) -> None:
    net, x, y = digits_mlp
    calls: list[int] = []

    class Counting(nn.Module):
        def forward(self, xb: Any) -> Any:
            calls.append(int(xb.shape[0]))
            return net(xb)

    images = x[:40].reshape(40, 1, 8, 8)
    conv_model = TorchModel(
        nn.Sequential(nn.Flatten(), Counting()), batch_size=4096, n_classes=10
    )
    aug = FlipShift(shift=1, stride=1)
    out = compute_signal("logit_margin", conv_model, images, y[:40], augmentations=aug)
    assert out.shape == (40, 18)
    assert calls == [40 * 18]  # one forward pass for every point and query, no Python loop
    np.testing.assert_allclose(out[:, 0], compute_signal("logit_margin", conv_model, images,
                                                         y[:40]), rtol=1e-12)
    chunked = compute_signal("logit_margin", conv_model, images, y[:40], augmentations=aug,
                             batch_size=7)
    np.testing.assert_allclose(chunked, out, rtol=1e-5, atol=1e-5)

    noise = GaussianNoise(n_queries=5, sigma=0.1, seed=0)
    model = TorchModel(net)
    a = compute_signal("loss", model, x[:50], y[:50], augmentations=noise)
    b = compute_signal("loss", model, x[:50], y[:50], augmentations=noise, batch_size=3)
    assert a.shape == (50, 5)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # same noise whatever the chunks
    np.testing.assert_array_equal(a, compute_signal("loss", model, x[:50], y[:50],
                                                    augmentations=noise))


def test_robustness_signal() -> None:
    model = LabelOnlyModel(lambda x: (np.asarray(x)[:, 0] > 0).astype(int), n_classes=2)
    x = np.array([[10.0], [0.2], [-0.2], [-10.0]])
    y = np.array([1, 1, 1, 1])
    sig = robustness_signal(GaussianNoise(n_queries=2000, sigma=1.0, seed=0))
    got = sig(model, x, y)
    from scipy.stats import norm

    np.testing.assert_allclose(got, norm.cdf(x[:, 0]), atol=0.03)
    assert got.shape == (4,) and got[0] == 1.0 and got[3] == 0.0
    # no noise: the correctness signal
    exact = robustness_signal(GaussianNoise(n_queries=3, sigma=0.0))
    np.testing.assert_array_equal(exact(model, x, y), compute_signal("correctness", model, x, y))
    # registered default, chunking does not change the noise
    default = get_signal("robustness")
    a = compute_signal(default, model, x, y)
    np.testing.assert_array_equal(a, compute_signal(default, model, x, y, batch_size=1))
    # robustness under each of several outer queries
    both = compute_signal(sig, model, x, y, augmentations=GaussianNoise(2, 0.0, seed=1))
    assert both.shape == (4, 2)
    with pytest.raises(TypeError, match="augmentation must be an Augmentation"):
        robustness_signal(lambda x: x)  # type: ignore[arg-type]


def test_augmentation_subclassing() -> None:
    class Twice(Augmentation):
        @property
        def n_queries(self) -> int:
            return 2

        def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return np.stack([x, -x], axis=1)

    model = LabelOnlyModel(lambda x: (np.asarray(x)[:, 0] > 0).astype(int), n_classes=2)
    out = compute_signal("correctness", model, np.array([[1.0], [-1.0]]), [1, 0],
                         augmentations=Twice())
    np.testing.assert_array_equal(out, [[1.0, 0.0], [1.0, 0.0]])
