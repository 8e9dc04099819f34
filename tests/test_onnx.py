"""OnnxModel: exported torch and scikit-learn models, audits equal to the originals', bad input."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
torch = pytest.importorskip("torch")

import privmeter as pm  # noqa: E402
from _graph_models import C, D, N, TwoHeads, blobs, export, make_mlp  # noqa: E402
from privmeter.models import OnnxModel  # noqa: E402
from privmeter.training import SklearnTrainer, TorchTrainer  # noqa: E402


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture(scope="module")
def torch_setup(data, tmp_path_factory):  # type: ignore[no-untyped-def]
    x, y = data
    trainer = TorchTrainer(make_mlp, optimizer="adam", lr=1e-2, epochs=15, batch_size=32)
    idx = np.arange(0, N, 2)
    module = trainer.build(trainer.fit(x, y, idx, seed=3))
    path = export(module, tmp_path_factory.mktemp("onnx") / "mlp.onnx")
    return trainer, module, idx, path


@pytest.fixture(scope="module")
def sklearn_setup(data, tmp_path_factory):  # type: ignore[no-untyped-def]
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = data
    idx = np.arange(0, N, 2)
    clf = LogisticRegression(max_iter=300).fit(x[idx], y[idx])
    folder = tmp_path_factory.mktemp("skl")
    zipmap = folder / "zipmap.onnx"
    zipmap.write_bytes(to_onnx(clf, x[:1]).SerializeToString())
    plain = folder / "plain.onnx"
    plain.write_bytes(
        to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}).SerializeToString()
    )
    return clf, idx, zipmap, plain


def torch_logits(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x, dtype=np.float32))).double().numpy()


def figures(report: object) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(r.attack, r.auc, tuple(t.tpr for t in r.tpr_at_fpr))  # type: ignore[attr-defined]
            for r in report.results]  # type: ignore[attr-defined]


# ------------------------------------------------------------------- equality
def test_torch_export_outputs_equal(torch_setup, data) -> None:  # type: ignore[no-untyped-def]
    _, module, _, path = torch_setup
    x, _ = data
    model = OnnxModel(path, batch_size=50)
    assert (model.n_classes, model.access, model.outputs) == (C, "logits", "logits")
    assert (model.input_name, model.output_name) == ("x", "logits")
    np.testing.assert_allclose(model.logits(x), torch_logits(module, x), atol=1e-5)
    z = torch_logits(module, x)
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(model.proba(x), p / p.sum(1, keepdims=True), atol=1e-6)
    assert model.logits(x).dtype == np.float64
    np.testing.assert_array_equal(model.predict(x), z.argmax(1))
    # float64 data is cast to the graph's float32 input
    np.testing.assert_allclose(model.logits(x.astype(np.float64)), z, atol=1e-5)


def test_session_input(torch_setup, data) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    _, module, _, path = torch_setup
    x, _ = data
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = OnnxModel(session)
    assert model.outputs == "logits"  # from the output's name (no graph with a session)
    np.testing.assert_allclose(model.logits(x), torch_logits(module, x), atol=1e-5)


@pytest.mark.parametrize("which", ["zipmap", "plain"])
def test_sklearn_export_outputs_equal(sklearn_setup, data, which) -> None:  # type: ignore[no-untyped-def]
    clf, _, zipmap, plain = sklearn_setup
    x, _ = data
    model = OnnxModel(zipmap if which == "zipmap" else plain, batch_size=64)
    assert model.outputs == "proba" and model.access == "proba"
    assert model.n_classes == C
    assert model.output_name == ("output_probability" if which == "zipmap" else "probabilities")
    np.testing.assert_allclose(model.proba(x), clf.predict_proba(x), atol=1e-5)
    np.testing.assert_allclose(model.logits(x), np.log(model.proba(x)), atol=1e-12)


def test_softmax_output_and_fixed_batch(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(make_mlp(), torch.nn.Softmax(dim=1))
    model = OnnxModel(export(net, tmp_path / "soft.onnx", outputs=("out",)))
    assert model.outputs == "proba" and model.access == "proba"
    with torch.no_grad():
        p = net(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(model.proba(x), p, atol=1e-6)
    # exported with a fixed batch of 4: queried in batches of 4, the last one padded
    fixed = OnnxModel(export(net, tmp_path / "fixed.onnx", dynamic=False, batch=4,
                             outputs=("out",)))
    assert fixed.input_shape == (4, D)
    np.testing.assert_allclose(fixed.proba(x[:10]), p[:10], atol=1e-6)


def test_declared_outputs(torch_setup, data) -> None:  # type: ignore[no-untyped-def]
    path = torch_setup[3]
    x, _ = data
    assert OnnxModel(path, outputs="proba").access == "proba"
    with pytest.raises(ValueError, match="probabilities outside"):
        OnnxModel(path, outputs="proba").proba(x)
    with pytest.raises(ValueError, match="outputs must be one of"):
        OnnxModel(path, outputs="scores")  # type: ignore[arg-type]


# --------------------------------------------------------------------- audits
def test_audit_of_onnx_target_equals_original(torch_setup, data) -> None:  # type: ignore[no-untyped-def]
    trainer, module, idx, path = torch_setup
    x, y = data
    kw = dict(attacks=["loss", "lira", "rmia"], n_references=4, seed=0, progress=False,
              target_indices=idx, vectorized=False)
    original = pm.Audit((x, y), trainer, target_model=module, **kw).run()
    onnx = pm.Audit((x, y), trainer, target_model=OnnxModel(path), **kw).run()
    assert figures(onnx) == figures(original)
    assert figures(original)[2][1] > 0.55  # rmia finds the members


def test_audit_of_sklearn_onnx_equals_original(sklearn_setup, data) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    clf, idx, _, plain = sklearn_setup
    x, y = data
    trainer = SklearnTrainer(LogisticRegression(max_iter=300))
    kw = dict(attacks=["loss", "lira"], n_references=4, seed=0, progress=False,
              target_indices=idx)
    original = pm.Audit((x, y), trainer, target_model=clf, **kw).run()
    onnx = pm.Audit((x, y), trainer, target_model=OnnxModel(plain), **kw).run()
    # float32 graph vs float64 estimator: AUC and TPR equal up to rank swaps of near-ties
    for (a1, auc1, t1), (a2, auc2, t2) in zip(figures(onnx), figures(original), strict=True):
        assert a1 == a2
        assert auc1 == pytest.approx(auc2, abs=2e-3)
        assert t1 == pytest.approx(t2, abs=1e-2)


# ------------------------------------------------------------------ bad input
def test_several_candidate_outputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = export(TwoHeads(), tmp_path / "two.onnx", outputs=("logits", "features"))
    with pytest.raises(ValueError, match=r"several candidate outputs: 'logits' .*'features' "
                                         r".*output_name="):
        OnnxModel(path)
    model = OnnxModel(path, output_name="logits")
    assert model.logits(np.zeros((3, D), np.float32)).shape == (3, C)
    with pytest.raises(ValueError, match="no output named 'probs'; its outputs: 'logits'"):
        OnnxModel(path, output_name="probs")
    with pytest.raises(ValueError, match="no input named 'input'"):
        OnnxModel(path, input_name="input", output_name="logits")


def test_integer_label_output_is_never_a_candidate(sklearn_setup) -> None:  # type: ignore[no-untyped-def]
    _, _, zipmap, _ = sklearn_setup
    with pytest.raises(ValueError, match="'output_label' .* does not hold class scores"):
        OnnxModel(zipmap, output_name="output_label")


def test_input_shape_and_dtype_mismatch(torch_setup) -> None:  # type: ignore[no-untyped-def]
    _, _, _, path = torch_setup
    model = OnnxModel(path)
    with pytest.raises(ValueError, match=r"expects input 'x' of shape \(n, 6\), got x of shape "
                                         r"\(4, 5\)"):
        model.logits(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"shape \(n, 6\), got x of shape \(6,\)"):
        model.logits(np.zeros(6))
    with pytest.raises(ValueError, match="numeric array for input 'x', got dtype <U1"):
        model.logits(np.full((2, D), "a"))
    big = np.zeros((3, D))
    big[2, 4] = 1e300
    with pytest.raises(ValueError, match=r"takes float32 input 'x'.*1e\+300 at row 2, column 4"):
        model.logits(big)


def test_number_of_classes_mismatch(torch_setup, sklearn_setup, data) -> None:  # type: ignore[no-untyped-def]
    _, _, idx, path = torch_setup
    _, _, zipmap, _ = sklearn_setup
    with pytest.raises(ValueError, match=r"has 3 classes, but n_classes=4"):
        OnnxModel(path, n_classes=4)
    with pytest.raises(ValueError, match=r"has 3 classes, but n_classes=2"):
        OnnxModel(zipmap, n_classes=2)
    with pytest.raises(ValueError, match="label 3 .* not one of the 3 classes"):
        OnnxModel(path).label_index([0, 3])
    x, y = data
    y4 = y.copy()
    y4[:5] = 3  # the data has 4 classes, the model 3
    # refused before any work: the target has fewer outputs than the data has classes
    with pytest.raises(ValueError, match=r"outputs 3 value\(s\) per row, but the labels go up "
                       r"to 3"):
        pm.Audit((x, y4), target_model=OnnxModel(path), target_indices=idx,
                 attacks=["loss"], progress=False)


def test_not_an_onnx_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        OnnxModel(bad)
    with pytest.raises(FileNotFoundError, match="no ONNX file"):
        OnnxModel(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="InferenceSession"):
        OnnxModel(object())
