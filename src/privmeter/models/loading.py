"""Load a model file of any supported framework, bring your own reference models, and name a
model's framework for the threat-model card.

:func:`load_model` looks at what a path holds (not only at its name): a ``.keras`` zip or a
SavedModel folder is Keras, an ONNX protobuf is ONNX, an ``.xml`` + ``.bin`` pair is an
OpenVINO IR, a folder with a ``config.json`` is a HuggingFace classifier. Naming an
``architecture`` that the file is not raises an error naming both.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_indices, check_optional_int

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "detect_format",
    "framework_info",
    "load_model",
    "load_reference_models",
]

Architecture = Literal["keras", "onnx", "openvino", "hf"]
#: The ``architecture`` names :func:`load_model` accepts (the config's ``model.architecture``).
ARCHITECTURES: tuple[Architecture, ...] = ("keras", "onnx", "openvino", "hf")

_FORMAT_NAMES = {
    "keras": "a Keras model (.keras)",
    "savedmodel": "a TensorFlow SavedModel folder",
    "onnx": "an ONNX model",
    "openvino": "an OpenVINO IR (.xml + .bin)",
    "hf": "a HuggingFace model folder",
}
#: Which formats each architecture reads.
_READS: dict[str, tuple[str, ...]] = {
    "keras": ("keras", "savedmodel"),
    "onnx": ("onnx",),
    "openvino": ("openvino", "onnx"),
    "hf": ("hf",),
}
_DEFAULT = {"keras": "keras", "savedmodel": "keras", "onnx": "onnx", "openvino": "openvino",
            "hf": "hf"}


def detect_format(path: str | os.PathLike[str]) -> str:
    """What a model path holds: ``"keras"``, ``"savedmodel"``, ``"onnx"``, ``"openvino"``
    or ``"hf"``, from its content (the name's extension is checked against it).

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If the content is none of these, or does not match the extension (e.g. a ``.onnx``
        name on a Keras zip).
    """
    p = Path(os.fspath(path))
    if p.is_dir():
        if (p / "saved_model.pb").is_file():
            return "savedmodel"
        if (p / "config.json").is_file():
            return "hf"
        raise ValueError(
            f"{str(p)!r} is a folder, but neither a HuggingFace model folder (config.json) nor "
            "a TensorFlow SavedModel (saved_model.pb)"
        )
    if not p.is_file():
        raise FileNotFoundError(f"no model file or folder at {str(p)!r}")
    with p.open("rb") as fh:
        head = fh.read(512)
    suffix = p.suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        found = "keras"
    elif head.lstrip().startswith(b"<") and b"<net" in head:
        found = "openvino"
    elif suffix in (".h5", ".hdf5") or head.startswith(b"\x89HDF"):
        raise ValueError(f"{str(p)!r} is a legacy HDF5 Keras file, which has no safe mode; "
                         "re-save it as .keras (model.save('model.keras'))")
    elif _is_onnx(p):
        found = "onnx"
    else:
        raise ValueError(
            f"{str(p)!r} is not a model file privmeter reads: expected a .keras file, an ONNX "
            "model (.onnx), an OpenVINO IR (.xml + .bin) or a HuggingFace / SavedModel folder"
        )
    expected = {".keras": "keras", ".onnx": "onnx", ".xml": "openvino"}.get(suffix)
    if expected is not None and expected != found:
        raise ValueError(
            f"{str(p)!r} is named like {_FORMAT_NAMES[expected]} but holds "
            f"{_FORMAT_NAMES[found]}"
        )
    return found


def _is_onnx(path: Path) -> bool:
    try:
        import onnx
    except ImportError:  # pragma: no cover - without the extra, trust the name
        return path.suffix.lower() == ".onnx"
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # a protobuf parse error of any kind
        return False
    return bool(proto.graph.node) or bool(proto.graph.output)


def load_model(
    path: str | os.PathLike[str], *, architecture: str | None = None, **options: Any
) -> Any:
    """The privmeter adapter of a model file or folder.

    Parameters
    ----------
    path : str or path
        ``.keras`` file or SavedModel folder -> :class:`~privmeter.models.KerasModel`;
        ``.onnx`` -> :class:`~privmeter.models.OnnxModel` (or
        :class:`~privmeter.models.OpenVINOModel` with ``architecture="openvino"``);
        ``.xml`` with its ``.bin`` -> :class:`~privmeter.models.OpenVINOModel`; a
        HuggingFace folder -> :class:`~privmeter.models.HFClassifier`.
    architecture : {"keras", "onnx", "openvino", "hf"}, optional
        The framework the file must be for (the config's ``model.architecture``); default:
        from the file.
    **options :
        Passed to the adapter (``n_classes``, ``batch_size``, ``input_name``, ...).

    Raises
    ------
    ValueError
        If ``architecture`` is unknown, or the file is not of that architecture (the message
        names both).

    Examples
    --------
    >>> import tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> torch.onnx.export(torch.nn.Linear(4, 3), (torch.zeros(1, 4),), path,
    ...                   dynamic_axes={"input": {0: "n"}}, input_names=["input"], dynamo=False)
    >>> load_model(path).access
    'logits'
    >>> try:
    ...     load_model(path, architecture="keras")
    ... except ValueError as exc:
    ...     print(str(exc).split("net.onnx' ")[1][:45])
    holds an ONNX model, but architecture='keras'
    """
    if architecture is not None and architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of "
                         f"{ARCHITECTURES}")
    found = detect_format(path)
    if architecture is not None and found not in _READS[architecture]:
        reads = " or ".join(_FORMAT_NAMES[f] for f in _READS[architecture])
        fits = [a for a in ARCHITECTURES if found in _READS[a]]
        raise ValueError(
            f"{str(path)!r} holds {_FORMAT_NAMES[found]}, but architecture={architecture!r} "
            f"reads {reads}; use architecture="
            + " or ".join(repr(a) for a in fits)
        )
    arch = architecture or _DEFAULT[found]
    if arch == "keras":
        from privmeter.models.keras import KerasModel

        return KerasModel(path, **options)
    if arch == "onnx":
        from privmeter.models.onnx import OnnxModel

        return OnnxModel(path, **options)
    if arch == "openvino":
        from privmeter.models.openvino import OpenVINOModel

        return OpenVINOModel(path, **options)
    from privmeter.models.hf_classifier import HFClassifier

    return HFClassifier.from_pretrained(path, **options)


def _as_adapter(model: Any, n_classes: int | None, options: dict[str, Any]) -> Any:
    from privmeter.models.base import ModelAccess

    if isinstance(model, (str, os.PathLike)):
        if n_classes is not None:
            options = {**options, "n_classes": n_classes}
        return load_model(model, **options)
    if isinstance(model, ModelAccess):
        return model
    module = type(model).__module__.split(".")[0]
    if module in ("keras", "tf_keras") or (
        module == "tensorflow" and hasattr(model, "predict_on_batch")
    ):
        from privmeter.models.keras import KerasModel

        return KerasModel(model, n_classes=n_classes)
    if module == "onnxruntime":
        from privmeter.models.onnx import OnnxModel

        return OnnxModel(model, n_classes=n_classes)
    if module == "openvino":
        from privmeter.models.openvino import OpenVINOModel

        return OpenVINOModel(model, n_classes=n_classes)
    if module == "transformers":
        raise TypeError("give a HuggingFace classifier as HFClassifier(model, tokenizer) or as "
                        "the path of its saved folder")
    from privmeter.pipeline.build import as_model_access  # torch modules, scikit-learn

    return as_model_access(model, n_classes=n_classes)


def load_reference_models(
    entries: Sequence[Any],
    *,
    n_rows: int | None = None,
    n_classes: int | None = None,
    **options: Any,
) -> list[tuple[Any, NDArray[np.int64]]]:
    """Reference models trained elsewhere, each with the row indices it was trained on.

    Parameters
    ----------
    entries : sequence of (model, indices)
        ``model``: a path (see :func:`load_model`), a privmeter adapter, a Keras model, an
        onnxruntime session, an OpenVINO model, a torch module or a fitted scikit-learn
        estimator. ``indices``: the rows of the audit's dataset the model was trained on
        (integers, each listed once; a boolean mask is refused).
    n_rows : int, optional
        Rows of the dataset: every index must lie in ``[0, n_rows)``.
    n_classes : int, optional
        Passed to every adapter built here (checked against each model's output width).
    **options :
        Passed to :func:`load_model` for paths.

    Returns
    -------
    list of (adapter, indices)
        In the given order; indices as int64 arrays, in the given order.

    Raises
    ------
    ValueError
        For an entry that is not a ``(model, indices)`` pair, a reference without indices,
        non-integer, out-of-range or repeated indices (naming the reference), or a model file
        that cannot be loaded.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> ref = LogisticRegression().fit(x[[0, 3]], y[[0, 3]])
    >>> [(type(m).__name__, idx.tolist()) for m, idx in load_reference_models([(ref, [0, 3])],
    ...                                                                         n_rows=4)]
    [('SklearnModel', [0, 3])]
    >>> try:
    ...     load_reference_models([(ref, None)])
    ... except ValueError as exc:
    ...     print(str(exc)[:50])
    reference model 0 has no training indices: give (m
    """
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise TypeError("entries must be a sequence of (model, indices) pairs, got "
                        f"{type(entries).__name__}")
    n_rows = check_optional_int("n_rows", n_rows, minimum=1)
    out: list[tuple[Any, NDArray[np.int64]]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise ValueError(
                f"reference model {i} must be a (model, indices) pair, got "
                f"{type(entry).__name__}"
                + (f" of length {len(entry)}" if isinstance(entry, (tuple, list)) else "")
            )
        model, indices = entry
        if indices is None:
            raise ValueError(
                f"reference model {i} has no training indices: give (model, indices), the rows "
                "of the dataset it was trained on"
            )
        idx = _indices(f"training indices of reference model {i}", indices, n_rows)
        try:
            adapter = _as_adapter(model, n_classes, dict(options))
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise type(exc)(f"reference model {i}: {exc}") from None
        out.append((adapter, idx))
    return out


def _indices(name: str, indices: ArrayLike, n_rows: int | None) -> NDArray[np.int64]:
    arr = np.asarray(indices)
    bound = n_rows if n_rows is not None else int(np.iinfo(np.int64).max)
    if n_rows is None and arr.dtype.kind in "iu" and arr.size and int(arr.min()) < 0:
        raise ValueError(f"{name} must be non-negative row indices; got {int(arr.min())}")
    return check_indices(name, arr, bound, distinct=True)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def framework_info(adapter: Any) -> dict[str, str]:
    """``{"framework": ..., "version": ...}`` of a model adapter (for the card).

    Examples
    --------
    >>> from privmeter.models import BlackBoxModel
    >>> framework_info(BlackBoxModel(lambda x: np.full((len(x), 2), 0.5), n_classes=2))
    {'framework': 'black box (callable)', 'version': ''}
    """
    name = type(adapter).__name__
    if name == "KerasModel":
        keras = sys.modules.get("keras")
        backend = keras.backend.backend() if keras is not None else "unknown"
        return {"framework": f"keras ({backend} backend)", "version": _version("keras")}
    if name == "OnnxModel":
        return {"framework": "onnxruntime", "version": _version("onnxruntime")}
    if name == "OpenVINOModel":
        return {"framework": "openvino", "version": _version("openvino")}
    if name in ("HFClassifier", "HFCausalLM"):
        return {"framework": "transformers", "version": _version("transformers")}
    if name == "TorchModel":
        return {"framework": "torch", "version": _version("torch")}
    if name == "SklearnModel":
        return {"framework": "scikit-learn", "version": _version("scikit-learn")}
    if name in ("BlackBoxModel", "LabelOnlyModel", "BlackBoxLM"):
        return {"framework": "black box (callable)", "version": ""}
    return {"framework": f"{type(adapter).__module__}.{name}", "version": ""}
