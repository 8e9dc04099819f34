"""Model-access adapters on real small models, and their input/output validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from torch import nn  # noqa: E402

from privmeter.models import (  # noqa: E402
    BlackBoxModel,
    LabelOnlyModel,
    ModelAccess,
    SklearnModel,
    TorchModel,
    WhiteBoxModelAccess,
)
from privmeter.models.base import check_class_indices  # noqa: E402


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float64), y.astype(np.int64)


@pytest.fixture(scope="module")
def mlp(digits: tuple[np.ndarray, np.ndarray]) -> nn.Module:
    x, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt = torch.tensor(x[:1000], dtype=torch.float32)
    yt = torch.tensor(y[:1000])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only add overhead on a busy machine
    try:
        for _ in range(60):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return net


@pytest.fixture(scope="module")
def forest(digits: tuple[np.ndarray, np.ndarray]) -> RandomForestClassifier:
    x, y = digits
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(x[:1000], y[:1000])


@pytest.fixture(scope="module")
def logreg(digits: tuple[np.ndarray, np.ndarray]) -> LogisticRegression:
    x, y = digits
    return LogisticRegression(max_iter=300, solver="newton-cg").fit(x[:1000], y[:1000])


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray, LinearRegression]:
    x, y = load_diabetes(return_X_y=True)
    return x, y, LinearRegression().fit(x, y)


# ------------------------------------------------------------------------- torch
def test_torch_logits_match_module_and_are_float64(mlp: nn.Module, digits: Any) -> None:
    x, y = digits
    model = TorchModel(mlp, batch_size=128)
    z = model.logits(x)
    assert z.dtype == np.float64 and z.shape == (len(x), 10)
    with torch.no_grad():
        ref = mlp(torch.tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(z, ref, rtol=1e-6, atol=1e-6)
    assert model.n_classes is None  # not given: never learned from a query
    assert isinstance(model, ModelAccess) and isinstance(model, WhiteBoxModelAccess)
    # a trained model: well above chance on its training rows
    assert (model.predict(x[:1000]) == y[:1000]).mean() > 0.9
    p = model.proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(model.predict(x), z.argmax(axis=1))


def test_torch_results_do_not_depend_on_batch_size(mlp: nn.Module, digits: Any) -> None:
    x, _ = digits
    a = TorchModel(mlp, batch_size=7).logits(x[:100])
    b = TorchModel(mlp, batch_size=1000).logits(x[:100])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # float32 GEMM blocking


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.astype(np.int64),
        lambda a: a.astype(np.uint8),
        lambda a: a.astype(np.uint16),
        lambda a: a.astype(np.float16),
        lambda a: torch.tensor(a, dtype=torch.float64),
        lambda a: torch.tensor(a, dtype=torch.int32),
        lambda a: a.tolist(),
    ],
)
def test_torch_accepts_any_numeric_input(mlp: nn.Module, digits: Any, convert: Any) -> None:
    x, _ = digits
    raw = np.round(x[:20] * 16)  # integer-valued so every dtype holds it exactly
    model = TorchModel(mlp)
    expected = model.logits(raw.astype(np.float32))
    np.testing.assert_allclose(model.logits(convert(raw)), expected, rtol=1e-6, atol=1e-5)


def test_torch_rejects_non_numeric_input(mlp: nn.Module) -> None:
    with pytest.raises(ValueError, match="x must be numeric, got dtype <U"):
        TorchModel(mlp).logits(np.array([["a"] * 64]))
    with pytest.raises(ValueError, match="leading batch dimension"):
        TorchModel(mlp).logits(np.float64(3.0))


def test_torch_restores_each_submodule_mode() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.Linear(8, 3))
    net.train()
    net[2].eval()  # a user-frozen batch norm inside a training model
    model = TorchModel(net)
    x = np.random.default_rng(0).normal(size=(16, 4))
    first = model.logits(x)
    np.testing.assert_array_equal(first, model.logits(x))  # eval: dropout off, deterministic
    assert net.training and net[1].training and not net[2].training
    net.eval()
    model.logits(x)
    assert not net.training and not net[1].training


def test_torch_eval_mode_even_when_the_module_raises() -> None:
    class Boom(nn.Module):
        def forward(self, x: Any) -> Any:
            raise RuntimeError("boom")

    net = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        TorchModel(net).logits(np.zeros((2, 3)))
    assert net.training


def test_torch_wrong_number_of_columns(mlp: nn.Module, digits: Any) -> None:
    x, _ = digits
    with pytest.raises(ValueError, match=r"10 columns; expected 12 \(n_classes\), got 10"):
        TorchModel(mlp, n_classes=12).logits(x[:5])


def test_torch_nan_output_names_rows() -> None:
    class NaNRows(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 3)

        def forward(self, x: Any) -> Any:
            out = self.lin(x)
            out[x[:, 0] > 0] = float("nan")
            return out

    x = np.array([[-1.0, 0], [1.0, 0], [-1.0, 0], [2.0, 0]])
    with pytest.raises(ValueError, match=r"NaN or infinite logits in rows \[1, 3\]"):
        TorchModel(NaNRows(), batch_size=3).logits(x)


def test_torch_single_output_classifier_is_rejected() -> None:
    with pytest.raises(ValueError, match="1 column"):
        TorchModel(nn.Linear(3, 1)).logits(np.zeros((2, 3)))


def test_torch_bad_arguments() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TorchModel(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        TorchModel(nn.Linear(2, 2), batch_size=0)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2 or None, got 1"):
        TorchModel(nn.Linear(2, 2), n_classes=1)
    with pytest.raises(ValueError, match="parameters are on cpu but device='meta'"):
        TorchModel(nn.Linear(2, 2), device="meta")
    with pytest.raises(ValueError, match="task must be"):
        TorchModel(nn.Linear(2, 2), task="ranking")  # type: ignore[arg-type]


def test_torch_n_classes_is_fixed_and_calls_do_not_depend_on_order() -> None:
    class WidthFromInput(nn.Module):
        """A (pathological) module whose output width is the batch's first feature."""

        def forward(self, x: Any) -> Any:
            return torch.zeros(x.shape[0], int(x[0, 0]))

    three, four = np.full((2, 1), 3.0), np.full((2, 1), 4.0)
    fresh = TorchModel(WidthFromInput())
    order_a = TorchModel(WidthFromInput())
    assert order_a.logits(three).shape == (2, 3)
    assert order_a.logits(four).shape == (2, 4)  # not checked against the earlier call's width
    assert order_a.n_classes is None
    order_b = TorchModel(WidthFromInput())
    assert order_b.logits(four).shape == (2, 4)
    assert order_b.logits(three).shape == (2, 3)
    assert order_b.n_classes is None
    # label checks and losses see only their own call: label 3 is in range for a batch of 4
    # outputs and out of range for a batch of 3, whatever was queried before
    for model in (fresh, order_a, order_b):
        np.testing.assert_array_equal(model.label_index([0, 3]), [0, 3])  # no bound known
        with pytest.raises(ValueError, match=r"label -1 \(at position 1\) is negative"):
            model.label_index([0, -1])
        assert model.loss(four, [0, 3]).shape == (2,)
        with pytest.raises(ValueError, match=r"label 3 \(at position 1\) is not one of the 3"):
            model.loss(three, [0, 3])
    declared = TorchModel(WidthFromInput(), n_classes=3)
    assert declared.logits(three).shape == (2, 3)
    with pytest.raises(ValueError, match=r"4 columns; expected 3 \(n_classes\), got 4"):
        declared.logits(four)
    assert declared.n_classes == 3
    np.testing.assert_array_equal(declared.label_index([0, 2]), [0, 2])


def test_torch_labels_checked(mlp: nn.Module) -> None:
    model = TorchModel(mlp, n_classes=10)
    np.testing.assert_array_equal(model.label_index([0, 9, 3.0]), [0, 9, 3])
    with pytest.raises(ValueError, match=r"label 10 \(at position 1\) is not one of the 10"):
        model.label_index([0, 10])
    with pytest.raises(ValueError, match=r"label -1 \(at position 0\)"):
        model.label_index([-1, 2])
    with pytest.raises(ValueError, match=r"class indices, got 2.5 at index 1 \(dtype float64\)"):
        model.label_index([1.0, 2.5])


def test_torch_loss_matches_cross_entropy(mlp: nn.Module, digits: Any) -> None:
    x, y = digits
    model = TorchModel(mlp, batch_size=64)
    loss = model.loss(x[:200], y[:200])
    with torch.no_grad():
        ref = nn.functional.cross_entropy(
            mlp(torch.tensor(x[:200], dtype=torch.float32)).double(),
            torch.tensor(y[:200]),
            reduction="none",
        ).numpy()
    np.testing.assert_allclose(loss, ref, rtol=1e-5, atol=1e-7)


def _grad_norm_oracle(net: nn.Module, x: np.ndarray, y: np.ndarray, loss_fn: Any) -> np.ndarray:
    """One backward pass per sample, in eval mode."""
    was = net.training
    net.eval()
    out = []
    for xi, yi in zip(x, y, strict=True):
        net.zero_grad()
        loss = loss_fn(net(torch.tensor(xi[None], dtype=torch.float32)), torch.as_tensor(yi)[None])
        loss.sum().backward()
        out.append(
            np.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in net.parameters()))
        )
    net.zero_grad()
    net.train(was)
    return np.array(out)


def test_per_sample_grad_norm_matches_loop(mlp: nn.Module, digits: Any) -> None:
    x, y = digits
    xs, ys = x[990:1030], y[990:1030]  # members and non-members
    model = TorchModel(mlp, grad_batch_size=16)
    got = model.per_sample_grad_norm(xs, ys)
    ref = _grad_norm_oracle(
        mlp, xs, ys, lambda o, t: nn.functional.cross_entropy(o, t, reduction="none")
    )
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-7)
    assert np.unique(got).size == got.size


def test_per_sample_grad_norm_with_batchnorm_and_regression() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Dropout(0.3), nn.Linear(8, 1))
    net.train()
    net(torch.randn(32, 5))  # update the running statistics
    x = np.random.default_rng(0).normal(size=(12, 5))
    y = np.random.default_rng(1).normal(size=12)
    model = TorchModel(net, task="regression", grad_batch_size=5)
    got = model.per_sample_grad_norm(x, y)
    ref = _grad_norm_oracle(
        net, x, y, lambda o, t: ((o.reshape(-1) - t.float()) ** 2)
    )
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-7)
    assert net.training  # restored
    pred = model.predict(x)
    assert pred.shape == (12,) and pred.dtype == np.float64
    with pytest.raises(ValueError, match="is a regressor: it has no logits"):
        model.logits(x)


# ------------------------------------------------------------------------- scikit-learn
def test_sklearn_classifiers(forest: Any, logreg: Any, digits: Any) -> None:
    x, _ = digits
    for est in (forest, logreg):
        model = SklearnModel(est, batch_size=300)
        p = model.proba(x)
        np.testing.assert_allclose(p, est.predict_proba(x))
        assert model.n_classes == 10 and model.task == "classification"
        assert model.access == "proba"
        np.testing.assert_array_equal(model.predict(x), est.predict(x))
        z = model.logits(x)
        assert np.isfinite(z).all() and z.min() >= -745.0
        ez = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(ez / ez.sum(axis=1, keepdims=True), p, atol=1e-12)


def test_sklearn_maps_labels_through_classes(digits: Any) -> None:
    x, y = digits
    names = np.array(["zero", "one", "two"])[y[:300] % 3]
    clf = LogisticRegression(max_iter=200).fit(x[:300], names)
    model = SklearnModel(clf)
    assert list(clf.classes_) == ["one", "two", "zero"]
    np.testing.assert_array_equal(model.label_index(["zero", "one", "two"]), [2, 0, 1])
    with pytest.raises(ValueError, match=r"label 'three' \(at position 1\) is not one of the "
                                         r"classes_ of .*\['one', 'two', 'zero'\]"):
        model.label_index(["one", "three"])
    with pytest.raises(ValueError, match=r"label 7 \(at position 0\) is not one of the classes_"):
        model.label_index([7])

    sparse = LogisticRegression(max_iter=200).fit(x[:300], np.array([2, 5, 9])[y[:300] % 3])
    smodel = SklearnModel(sparse)
    np.testing.assert_array_equal(smodel.label_index([9, 2, 5, 5.0]), [2, 0, 1, 1])
    with pytest.raises(ValueError, match=r"label 3 .*\[2, 5, 9\]"):
        smodel.label_index([2, 3])


def test_sklearn_regressor(diabetes: Any) -> None:
    x, _, reg = diabetes
    model = SklearnModel(reg, batch_size=100)
    assert model.task == "regression" and model.n_classes is None and model.access == "label"
    np.testing.assert_allclose(model.predict(x), reg.predict(x))
    with pytest.raises(ValueError, match="is a regressor: it has no class probabilities"):
        model.proba(x)
    with pytest.raises(ValueError, match="is a regressor: it has no class labels"):
        model.label_index([1])


def test_sklearn_label_only_classifier_and_unfitted(digits: Any) -> None:
    x, y = digits
    svm = LinearSVC().fit(x[:300], y[:300])
    model = SklearnModel(svm)
    assert model.access == "label"
    with pytest.raises(NotImplementedError, match="has no predict_proba"):
        model.proba(x[:3])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SklearnModel(LogisticRegression())
    with pytest.raises(TypeError, match="fitted scikit-learn estimator"):
        SklearnModel(object())


# ------------------------------------------------------------------------- black box
def _api(p: np.ndarray) -> Any:
    def fn(x: Any) -> np.ndarray:
        return np.tile(p, (len(x), 1))

    return fn


def test_blackbox_valid_and_batched() -> None:
    calls: list[int] = []

    def fn(x: Any) -> np.ndarray:
        calls.append(len(x))
        return np.tile([0.7, 0.2, 0.1], (len(x), 1))

    model = BlackBoxModel(fn, n_classes=3, batch_size=4)
    p = model.proba(np.zeros((10, 2)))
    assert p.shape == (10, 3) and calls == [4, 4, 2]
    np.testing.assert_allclose(model.logits(np.zeros((1, 2))), np.log([[0.7, 0.2, 0.1]]))
    np.testing.assert_array_equal(model.predict(np.zeros((2, 2))), [0, 0])
    assert model.access == "proba" and isinstance(model, ModelAccess)


def test_blackbox_wrong_columns() -> None:
    model = BlackBoxModel(_api(np.array([0.5, 0.5])), n_classes=3)
    with pytest.raises(ValueError, match=r"2 columns; expected 3 \(n_classes\), got 2"):
        model.proba(np.zeros((4, 1)))


def test_blackbox_wrong_rows() -> None:
    model = BlackBoxModel(lambda x: np.full((3, 2), 0.5), n_classes=2)
    with pytest.raises(ValueError, match="returned 3 rows of probabilities for 5 inputs"):
        model.proba(np.zeros((5, 1)))


def test_blackbox_nan_rows_named() -> None:
    def fn(x: Any) -> np.ndarray:
        p = np.tile([0.5, 0.5], (len(x), 1))
        p[[2, 6]] = np.nan
        return p

    with pytest.raises(ValueError, match=r"NaN or infinite probabilities in rows \[2, 6\]"):
        BlackBoxModel(fn, n_classes=2).proba(np.zeros((8, 1)))


def test_blackbox_outside_unit_interval() -> None:
    model = BlackBoxModel(_api(np.array([1.2, -0.2])), n_classes=2)
    with pytest.raises(ValueError, match=r"outside \[0, 1\] .* row 0, column 0 = 1.2"):
        model.proba(np.zeros((2, 1)))


def test_blackbox_rows_not_summing_to_one() -> None:
    def fn(x: Any) -> np.ndarray:
        p = np.tile([0.6, 0.4], (len(x), 1))
        p[3] = [0.6, 0.3]
        return p

    with pytest.raises(ValueError, match=r"do not sum to 1 \(tolerance 0.0001\) in rows \[3\];"
                                         r" row 3 sums to 0.8999"):
        BlackBoxModel(fn, n_classes=2).proba(np.zeros((5, 1)))
    # within tolerance (an API rounding to 5 decimals) passes
    BlackBoxModel(_api(np.array([0.33333, 0.33333, 0.33333])), n_classes=3).proba(np.zeros((1,)))


def test_blackbox_label_and_argument_checks() -> None:
    model = BlackBoxModel(_api(np.array([0.5, 0.5])), n_classes=2)
    with pytest.raises(ValueError, match=r"label 2 \(at position 0\) is not one of the 2"):
        model.label_index([2])
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got 1"):
        BlackBoxModel(_api(np.array([1.0])), n_classes=1)
    with pytest.raises(TypeError, match="fn must be callable"):
        BlackBoxModel("api", n_classes=2)  # type: ignore[arg-type]


def test_label_only_model() -> None:
    model = LabelOnlyModel(lambda x: np.asarray(x)[:, 0].astype(int), n_classes=3)
    np.testing.assert_array_equal(model.predict(np.array([[0], [2], [1]])), [0, 2, 1])
    assert model.access == "label"
    with pytest.raises(NotImplementedError, match="hard labels only; it has no probabilities"):
        model.proba(np.zeros((1, 1)))
    with pytest.raises(NotImplementedError, match="hard labels only; it has no logits"):
        model.logits(np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"returned label 3 at row 1, outside the 3 classes"):
        model.predict(np.array([[0], [3]]))
    bad_shape = LabelOnlyModel(lambda x: np.zeros((len(x), 2)), n_classes=3)
    with pytest.raises(ValueError, match=r"labels of shape \(4, 2\); expected \(4,\)"):
        bad_shape.predict(np.zeros((4, 1)))
    fractional = LabelOnlyModel(lambda x: np.full(len(x), 0.5), n_classes=3)
    with pytest.raises(ValueError, match="non-integer label 0.5 at row 0"):
        fractional.predict(np.zeros((2, 1)))


def test_check_class_indices_without_n_classes() -> None:
    with pytest.raises(ValueError, match="does not know its number of classes"):
        check_class_indices([0, 1], n_classes=None, source="M")
    with pytest.raises(ValueError, match=r"labels must be 1-D, got shape \(1, 2\)"):
        check_class_indices([[0, 1]], n_classes=2, source="M")


def test_integer_arguments_share_one_check(mlp: nn.Module) -> None:
    """batch_size, grad_batch_size and n_classes: numpy integers pass, bools never do."""
    torch_model = TorchModel(mlp, batch_size=np.int64(4), grad_batch_size=np.int32(2))
    assert type(torch_model.batch_size) is int and torch_model.batch_size == 4
    assert type(torch_model.grad_batch_size) is int and torch_model.grad_batch_size == 2
    for kwargs, message in [
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"batch_size": 2.0}, "batch_size must be a positive integer, got 2.0"),
        ({"grad_batch_size": 0}, "grad_batch_size must be a positive integer or None, got 0"),
        ({"grad_batch_size": False}, "grad_batch_size must be a positive integer or None"),
        ({"n_classes": True}, "n_classes must be an integer >= 2 or None, got True"),
    ]:
        with pytest.raises(ValueError, match=message):
            TorchModel(mlp, **kwargs)
    assert TorchModel(mlp, n_classes=np.int64(10)).n_classes == 10
    api = _api(np.array([0.5, 0.5]))
    box = BlackBoxModel(api, n_classes=np.int64(2), batch_size=np.int64(3))
    assert box.n_classes == 2 and box.batch_size == 3
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got True"):
        BlackBoxModel(api, n_classes=True)
    with pytest.raises(ValueError, match="batch_size must be a positive integer or None, got 0"):
        LabelOnlyModel(lambda x: np.zeros(len(x), dtype=int), n_classes=2, batch_size=0)
    clf = LogisticRegression(max_iter=200).fit(np.eye(2), [0, 1])
    assert SklearnModel(clf, batch_size=np.int16(5)).batch_size == 5
    for bad in (True, 0, 1.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer or None"):
            SklearnModel(clf, batch_size=bad)


def test_unknown_architecture_suggests_close_names() -> None:
    from privmeter.architectures import make_factory

    with pytest.raises(ValueError, match=r"unknown architecture 'mpl' \(did you mean 'mlp'\?\); "
                       "built-in: logistic, mlp, cnn, wide_resnet"):
        make_factory("mpl", input_shape=(4,), n_classes=2)
    with pytest.raises(ValueError, match=r"unknown architecture 'transformer'; built-in"):
        make_factory("transformer", input_shape=(3, 8, 8), n_classes=2)
    with pytest.raises(ValueError, match=r"did you mean 'wide_resnet'\?"):
        make_factory("wide_resnt", input_shape=(3, 8, 8), n_classes=2)


def test_model_labels_use_the_shared_class_label_check() -> None:
    box = BlackBoxModel(_api(np.array([0.5, 0.5])), n_classes=2)
    np.testing.assert_array_equal(box.label_index(np.array([1.0, 0.0])), [1, 0])
    for bad, shown in ((np.nan, "nan"), (np.inf, "inf"), (0.5, "0.5")):
        with pytest.raises(ValueError, match=rf"labels for BlackBoxModel\(.*\) must be integer "
                           rf"class indices, got {shown} at index 1 \(dtype float64\)"):
            box.label_index([0.0, bad])
    with pytest.raises(ValueError, match="must be integer class indices, got dtype <U1"):
        box.label_index(["a", "b"])
