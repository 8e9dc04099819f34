"""Keras adapter: Keras 3 models (any backend) and ``tf.keras`` models.

Keras 3 needs a backend. When TensorFlow is not installed and ``KERAS_BACKEND`` is not set,
this module sets ``KERAS_BACKEND=torch`` before importing keras (Keras 3 on the PyTorch
backend needs no TensorFlow); set the variable yourself before anything imports keras to
choose another backend. Keras is imported when a :class:`KerasModel` is built, never at
``import privmeter``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_class_indices,
    log_proba_as_logits,
)
from privmeter.models.onnx import class_scores, prepare_input, shape_text, softmax

__all__ = ["KerasModel", "LogitsSource", "import_keras", "load_keras_file"]

#: Where :meth:`KerasModel.logits` comes from: the model's own outputs (a linear last layer),
#: the last layer's input before its softmax / sigmoid (``"pre_activation"``), the
#: probabilities (``log p``: no softmax-free path), or decided per call from the values
#: (``"auto"``: a last operation privmeter does not recognise).
LogitsSource = Literal["outputs", "pre_activation", "probabilities", "auto"]

_PROBA_ACTIVATIONS = ("softmax", "sigmoid")


def import_keras() -> Any:
    """Import Keras 3, choosing the torch backend when TensorFlow is absent and
    ``KERAS_BACKEND`` is unset."""
    if "keras" not in __import__("sys").modules and importlib.util.find_spec("tensorflow") is None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def load_keras_file(path: str | os.PathLike[str], *, compile: bool = False,
                    custom_objects: dict[str, Any] | None = None) -> Any:
    """A Keras model from a ``.keras`` file (``safe_mode=True``) or a TensorFlow SavedModel
    folder (needs TensorFlow).

    Raises
    ------
    ValueError
        For a file holding Python code (a ``Lambda`` layer): privmeter never loads with
        ``safe_mode=False``; for a legacy ``.h5`` file; for a SavedModel without TensorFlow.
    """
    p = Path(os.fspath(path))
    if p.is_dir():
        if not (p / "saved_model.pb").is_file():
            raise ValueError(f"{str(p)!r} is a folder but not a TensorFlow SavedModel "
                             "(no saved_model.pb)")
        if importlib.util.find_spec("tensorflow") is None:
            raise ValueError(
                f"{str(p)!r} is a TensorFlow SavedModel: reading it needs TensorFlow "
                "(pip install tensorflow-cpu), or re-save the model as a .keras file "
                "(model.save('model.keras')), which Keras 3 reads on any backend"
            )
        keras = import_keras()  # pragma: no cover - needs TensorFlow
        layer = keras.layers.TFSMLayer(str(p), call_endpoint="serving_default")
        return keras.Sequential([layer])  # pragma: no cover
    if not p.is_file():
        raise FileNotFoundError(f"no Keras model file at {str(p)!r}")
    if p.suffix.lower() in (".h5", ".hdf5"):
        raise ValueError(
            f"{str(p)!r} is a legacy HDF5 Keras file, which has no safe mode; re-save the model "
            "as .keras (model.save('model.keras')) and audit that"
        )
    keras = import_keras()
    try:
        return keras.saving.load_model(str(p), compile=compile, safe_mode=True,
                                       custom_objects=custom_objects)
    except ValueError as exc:
        detail = " ".join(str(exc).split())
        if "safe_mode" in detail or "Lambda" in detail:
            raise ValueError(
                f"refusing to load {str(p)!r}: it holds Python code (a Lambda layer), which "
                "would run on loading; privmeter loads Keras files only in safe mode. Replace "
                "the Lambda by a registered custom layer (keras.saving."
                "register_keras_serializable), or build the model in Python and pass the object"
            ) from None
        raise ValueError(f"Keras cannot load {str(p)!r}: {detail}") from None


def _activation_name(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return str(getattr(act, "__name__", act)).lower()


def _output_layer(model: Any) -> Any:
    outputs = getattr(model, "outputs", None)
    if outputs and len(outputs) == 1:
        history = getattr(outputs[0], "_keras_history", None)
        op = getattr(history, "operation", None) or getattr(history, "layer", None)
        if op is not None:
            return op
    layers = getattr(model, "layers", None)
    return layers[-1] if layers else None


def _linear_head(keras: Any, dense: Any) -> Any:
    """A layer computing ``dense``'s output without its activation, with ``dense``'s own
    variables (shared, not copied: later training of the model shows through)."""
    ops = keras.ops

    class PreActivation(keras.layers.Layer):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__(name=f"{dense.name}_pre_activation")
            self._head = [dense]  # a list, so Keras does not track it as a sublayer

        def call(self, h: Any) -> Any:
            layer = self._head[0]
            z = ops.matmul(h, layer.kernel)
            return z + layer.bias if getattr(layer, "use_bias", True) else z

    return PreActivation()


class KerasModel:
    """Query a Keras model (Keras 3 on any backend, or ``tf.keras``) in batches.

    Parameters
    ----------
    model : keras.Model, str or path
        A model object, a ``.keras`` file (loaded with ``safe_mode=True``: a file with a
        ``Lambda`` layer is refused) or a TensorFlow SavedModel folder (needs TensorFlow).
    batch_size : int
        Rows per ``predict_on_batch`` call.
    n_classes : int, optional
        Number of classes; must match the model's output width (read from it otherwise).
    logits : bool, optional
        ``None`` (default): logits when the model has them (see :attr:`logits_source`),
        probabilities otherwise. ``True``: require a softmax-free path (an error names the
        last layer when there is none). ``False``: always work from the probabilities.
    atol : float
        Tolerance on probability rows summing to one.
    custom_objects : dict, optional
        Passed to ``keras.saving.load_model`` for a file with registered custom layers.

    Attributes
    ----------
    logits_source : {"outputs", "pre_activation", "probabilities", "auto"}
        Where the logits come from. A last ``Dense`` layer with a softmax or sigmoid
        activation is queried through a functional clone whose last layer computes the same
        affine map without the activation, with the same (shared) variables
        (``"pre_activation"``); a final ``Softmax`` / ``Activation`` layer is skipped; a last
        layer with a linear activation gives logits directly (``"outputs"``). Any other last
        layer with a softmax or sigmoid (e.g. a convolution) has no softmax-free path:
        ``"probabilities"``, the logits are then ``log p`` (so the logit margin is the stable
        ``log p_y - max_{y' != y} log p_y'``), and the access level ``"proba"``. A last
        operation privmeter does not recognise gives ``"auto"``: each call decides from its
        values (rows in ``[0, 1]`` summing to one are probabilities).
    note : str
        One sentence saying how the logits are obtained (for the report).

    Notes
    -----
    A single sigmoid unit is a binary classifier: probabilities ``[1 - p, p]`` and logits
    ``[0, z]``. Inputs are checked against the model's input shape and cast to its dtype
    (float64 to float32 after a range check). Multi-input and multi-output models are not
    supported.

    Examples
    --------
    >>> from privmeter.models.keras import import_keras
    >>> keras = import_keras()
    >>> net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> model = KerasModel(net)
    >>> model.n_classes, model.access, model.logits_source
    (3, 'logits', 'pre_activation')
    >>> bool(np.allclose(model.proba(np.ones((2, 4))), net.predict(np.ones((2, 4)), verbose=0),
    ...                  atol=1e-6))
    True
    """

    def __init__(
        self,
        model: Any,
        *,
        batch_size: int = 1024,
        n_classes: int | None = None,
        logits: bool | None = None,
        atol: float = 1e-4,
        custom_objects: dict[str, Any] | None = None,
    ) -> None:
        keras = import_keras()
        if isinstance(model, (str, os.PathLike)):
            self.source = Path(os.fspath(model)).name
            model = load_keras_file(model, custom_objects=custom_objects)
        else:
            self.source = str(getattr(model, "name", type(model).__name__))
        if not callable(getattr(model, "predict_on_batch", None)):
            raise TypeError(
                f"model must be a Keras model (keras.Model or tf.keras.Model) or a path to a "
                f".keras file, got {type(model).__name__}"
            )
        if logits not in (None, True, False):
            raise ValueError(f"logits must be None, True or False, got {logits!r}")
        self.model = model
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.atol = float(atol)
        inputs = getattr(model, "inputs", None)
        if inputs is not None and len(inputs) != 1:
            raise ValueError(f"{self.source}: models with {len(inputs)} inputs are not supported;"
                             " KerasModel feeds one input array")
        outputs = getattr(model, "outputs", None)
        if outputs is not None and len(outputs) != 1:
            raise ValueError(f"{self.source}: models with {len(outputs)} outputs are not "
                             "supported; build a model with the class-score output only")
        self.input_shape: tuple[int | None, ...] | None = None
        self.input_dtype: Any = np.float32
        if inputs:
            self.input_shape = (None, *(d if isinstance(d, int) else None
                                        for d in tuple(inputs[0].shape)[1:]))
            self.input_dtype = np.dtype(str(getattr(inputs[0], "dtype", "float32")))
        width = _output_width(model)
        n_classes = check_optional_int("n_classes", n_classes, minimum=2)
        static = None if width is None else (2 if width == 1 else width)
        if n_classes is not None and static is not None and n_classes != static:
            raise ValueError(
                f"the Keras model {self.source!r} has {static} classes (output width {width}), "
                f"but n_classes={n_classes}; the model and the data must have the same number "
                "of classes"
            )
        self._n_classes = n_classes if n_classes is not None else static
        self._logits_model, self.logits_source, self.note = self._logits_path(
            keras, model, logits, width
        )

    # ----------------------------------------------------------- logits path
    def _logits_path(
        self, keras: Any, model: Any, want: bool | None, width: int | None
    ) -> tuple[Any, LogitsSource, str]:
        last = _output_layer(model)
        act = _activation_name(last)
        kind = type(last).__name__ if last is not None else "unknown"
        name = getattr(last, "name", "?")
        source: LogitsSource
        head: Any = None
        op_name = kind.lower()
        if op_name in _PROBA_ACTIVATIONS and not isinstance(last, keras.layers.Layer):
            act = op_name  # keras.ops.softmax / keras.ops.sigmoid in a functional graph
        if act == "sigmoid" and width is not None and width > 1:
            raise ValueError(
                f"the Keras model {self.source!r} ends in {width} sigmoid units (a multi-label "
                "model); privmeter audits single-label classifiers (softmax, or one sigmoid)"
            )
        if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and act in _PROBA_ACTIVATIONS
        ) or (op_name in _PROBA_ACTIVATIONS and not isinstance(last, keras.layers.Layer)):
            source, head = "pre_activation", "skip"
            note = f"logits are the input of the final {kind} operation {name!r}"
        elif act in _PROBA_ACTIVATIONS and isinstance(last, keras.layers.Dense):
            source, head = "pre_activation", "dense"
            note = (f"logits are the last Dense layer {name!r} without its {act} activation "
                    "(same weights)")
        elif act == "linear":
            source, note = "outputs", f"the last layer {name!r} is linear: its outputs are logits"
        elif act in _PROBA_ACTIVATIONS:
            source = "probabilities"
            note = (f"the last layer {name!r} ({kind}) applies {act} inside the layer: no "
                    "softmax-free path, so logits are log-probabilities")
        else:
            source = "auto"
            note = (f"the last operation {name!r} ({kind}) is not recognised: each query "
                    "decides from the values whether they are probabilities")
        if want is False and source == "pre_activation":
            return None, "probabilities", "logits=False: logits are log-probabilities"
        if want is True and source in ("probabilities", "auto"):
            raise ValueError(
                f"logits=True, but the Keras model {self.source!r} has no softmax-free path: "
                f"its last layer {name!r} ({kind}) is not a Dense, Softmax or Activation layer "
                "whose softmax/sigmoid can be separated. Use logits=None to audit from the "
                "probabilities (the stable margin log p_y - max log p_other), or end the model "
                "with a Dense layer (activation='softmax') or a Softmax layer"
            )
        if head is None:
            return None, source, note
        try:
            features = last.input
            z = features if head == "skip" else _linear_head(keras, last)(features)
            inputs = model.inputs
            clone = keras.Model(inputs[0] if len(inputs) == 1 else inputs, z)
        except (AttributeError, ValueError, TypeError) as exc:
            if want is True:
                raise ValueError(
                    f"logits=True, but the softmax-free path of {self.source!r} cannot be "
                    f"built: {exc}"
                ) from None
            return None, "probabilities", (
                f"the pre-activation of {name!r} cannot be reached ({exc}): logits are "
                "log-probabilities")
        return clone, source, note

    # ---------------------------------------------------------------- protocol
    @property
    def task(self) -> Task:
        """Always ``"classification"``."""
        return "classification"

    @property
    def n_classes(self) -> int | None:
        """Given at construction or read from the model's output width (never a query)."""
        return self._n_classes

    @property
    def access(self) -> AccessLevel:
        """``"logits"`` with a softmax-free path, else ``"proba"``."""
        return "logits" if self.logits_source in ("outputs", "pre_activation") else "proba"

    def __repr__(self) -> str:
        return (f"KerasModel({self.source!r}, n_classes={self._n_classes}, "
                f"logits_source={self.logits_source!r})")

    # ----------------------------------------------------------------- queries
    def _predict(self, net: Any, x: Any) -> NDArray[np.float64]:
        arr = prepare_input(x, dtype=self.input_dtype, shape=self.input_shape,
                            source=repr(self), name="input")
        n = arr.shape[0]
        parts: list[NDArray[np.float64]] = []
        for start in range(0, n, self.batch_size):
            batch = arr[start : start + self.batch_size]
            try:
                out = net.predict_on_batch(batch)
            except ValueError as exc:
                expected = "" if self.input_shape is None else (
                    f"; expected input shape {shape_text(self.input_shape)}")
                raise ValueError(f"{self!r} cannot take inputs of shape {tuple(arr.shape)}"
                                 f"{expected}: {' '.join(str(exc).split())}") from None
            parts.append(np.asarray(out, dtype=np.float64))
        if not parts:
            return np.empty((0, self._n_classes or 0), dtype=np.float64)
        return np.concatenate(parts)

    def _scores(self, x: Any) -> tuple[NDArray[np.float64], Literal["logits", "proba"]]:
        if self._logits_model is not None:
            raw = self._predict(self._logits_model, x)
            kind: Literal["auto", "logits", "proba"] = "logits"
        else:
            raw = self._predict(self.model, x)
            kind = {"outputs": "logits", "probabilities": "proba", "auto": "auto",
                    "pre_activation": "logits"}[self.logits_source]  # type: ignore[assignment]
        return class_scores(raw, kind=kind, n_rows=raw.shape[0], n_classes=self._n_classes,
                            source=repr(self), atol=self.atol)

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Class logits ``(n, n_classes)``, float64 (``log p`` without a softmax-free path,
        see :attr:`logits_source`)."""
        scores, kind = self._scores(x)
        return scores if kind == "logits" else log_proba_as_logits(scores)

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Class probabilities ``(n, n_classes)``, float64."""
        scores, kind = self._scores(x)
        return scores if kind == "proba" else softmax(scores)

    def predict(self, x: Any) -> NDArray[np.int64]:
        """Predicted class index ``(n,)``, int64."""
        scores, _ = self._scores(x)
        return np.asarray(scores.argmax(axis=1), dtype=np.int64)

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Validate integer class labels ``0..n_classes-1``."""
        n = self._n_classes if self._n_classes is not None else int(np.iinfo(np.int64).max)
        return check_class_indices(y, n_classes=n, source=repr(self))


def _output_width(model: Any) -> int | None:
    outputs = getattr(model, "outputs", None)
    shape = tuple(outputs[0].shape) if outputs else None
    if shape is None:
        try:
            shape = tuple(model.output_shape)
        except (AttributeError, ValueError, TypeError):
            return None
    if len(shape) != 2 or not isinstance(shape[-1], int):
        return None
    return int(shape[-1])
