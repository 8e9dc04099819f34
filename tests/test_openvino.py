"""OpenVINOModel: the ONNX export of a torch MLP compiled with OpenVINO (from .onnx and from
an IR), outputs and audit figures equal to the original's, bad input."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")
torch = pytest.importorskip("torch")

import privmeter as pm  # noqa: E402
from _graph_models import C, D, N, TwoHeads, blobs, export, make_mlp  # noqa: E402
from privmeter.models import OnnxModel, OpenVINOModel  # noqa: E402
from privmeter.training import TorchTrainer  # noqa: E402


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return blobs()


@pytest.fixture(scope="module")
def setup(data, tmp_path_factory):  # type: ignore[no-untyped-def]
    x, y = data
    trainer = TorchTrainer(make_mlp, optimizer="adam", lr=1e-2, epochs=15, batch_size=32)
    idx = np.arange(0, N, 2)
    module = trainer.build(trainer.fit(x, y, idx, seed=3))
    folder = tmp_path_factory.mktemp("ov")
    onnx_path = export(module, folder / "mlp.onnx")
    ir = folder / "mlp.xml"
    # compress_to_fp16=False: the default stores the weights in float16 (errors ~1e-4)
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(ir), compress_to_fp16=False)
    return trainer, module, idx, onnx_path, ir


def torch_logits(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x, dtype=np.float32))).double().numpy()


@pytest.mark.parametrize("which", ["onnx", "ir", "model"])
def test_outputs_equal_original(setup, data, which) -> None:  # type: ignore[no-untyped-def]
    _, module, _, onnx_path, ir = setup
    x, _ = data
    source = {"onnx": onnx_path, "ir": ir,
              "model": ov.Core().read_model(str(onnx_path))}[which]
    model = OpenVINOModel(source, batch_size=64)
    assert (model.n_classes, model.access, model.input_name) == (C, "logits", "x")
    z = torch_logits(module, x)
    np.testing.assert_allclose(model.logits(x), z, atol=1e-5)
    np.testing.assert_allclose(model.logits(x.astype(np.float64)), z, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x), z.argmax(1))
    assert np.allclose(model.proba(x).sum(1), 1.0)


def test_softmax_output_detected(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, _ = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(make_mlp(), torch.nn.Softmax(dim=1))
    model = OpenVINOModel(export(net, tmp_path / "soft.onnx", outputs=("out",)))
    assert model.outputs == "proba" and model.access == "proba"
    with torch.no_grad():
        p = net(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(model.proba(x), p, atol=1e-6)


def test_audit_figures_equal_original(setup, data) -> None:  # type: ignore[no-untyped-def]
    trainer, module, idx, onnx_path, ir = setup
    x, y = data
    kw = dict(attacks=["loss", "lira", "rmia"], n_references=4, seed=0, progress=False,
              target_indices=idx, vectorized=False)

    def figures(target: object) -> list[tuple[str, float, tuple[float, ...]]]:
        report = pm.Audit((x, y), trainer, target_model=target, **kw).run()
        return [(r.attack, r.auc, tuple(t.tpr for t in r.tpr_at_fpr)) for r in report.results]

    original = figures(module)
    assert figures(OpenVINOModel(ir)) == original
    assert figures(OnnxModel(onnx_path)) == original


def test_bad_input(setup, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, _, _, onnx_path, ir = setup
    model = OpenVINOModel(ir)
    with pytest.raises(ValueError, match=r"expects input 'x' of shape \(n, 6\), got x of shape "
                                         r"\(2, 7\)"):
        model.logits(np.zeros((2, 7)))
    with pytest.raises(ValueError, match=r"takes float32 input 'x'.*not finite"):
        model.logits(np.full((2, D), np.nan))
    with pytest.raises(ValueError, match=r"has 3 classes, but n_classes=5"):
        OpenVINOModel(onnx_path, n_classes=5)
    two = export(TwoHeads(), tmp_path / "two.onnx", outputs=("logits", "features"))
    with pytest.raises(ValueError, match=r"several candidate outputs: 'logits' .*'features'"):
        OpenVINOModel(two)
    assert OpenVINOModel(two, output_name="logits").logits(np.zeros((2, D))).shape == (2, C)
    # an IR without its weights file
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(ir.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"needs its weights file .*lonely\.bin"):
        OpenVINOModel(lonely)
    with pytest.raises(ValueError, match=r"reads an OpenVINO IR \(\.xml \+ \.bin\) or an "
                                         r"\.onnx file"):
        OpenVINOModel(tmp_path / "model.keras")


def test_sklearn_onnx_is_refused_with_a_hint(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = data
    clf = LogisticRegression(max_iter=200).fit(x, y)
    path = tmp_path / "lr.onnx"
    path.write_bytes(to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}})
                     .SerializeToString())
    with pytest.raises(ValueError, match="ai.onnx.ml operators .* use privmeter.models.OnnxModel"):
        OpenVINOModel(path)
