"""OpenVINO adapter: an IR (``.xml`` + ``.bin``) or ONNX file compiled on the CPU.

Same conventions as :class:`~privmeter.models.OnnxModel` (automatic input/output choice,
shape and dtype checks, logits told from probabilities). openvino is imported when an
:class:`OpenVINOModel` is built, never at ``import privmeter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privmeter.models.onnx import (
    GraphModel,
    OutputKind,
    _path,
    _static_classes,
    check_output_kind,
    choose,
    kind_from_graph,
)

__all__ = ["OpenVINOModel"]

_FLOAT_TYPES = ("f32", "f64", "f16", "bf16")


def _dims(partial_shape: Any) -> list[int | None]:
    return [int(d.get_length()) if d.is_static else None for d in partial_shape]


def _dims_text(dims: list[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _op_chain(port: Any, depth: int = 8) -> list[str]:
    """Op types producing a model output (its Result node's inputs, last op first)."""
    chain: list[str] = []
    node = port.get_node()
    for _ in range(depth):
        if node.get_input_size() == 0:
            break
        node = node.input_value(0).get_node()
        chain.append(str(node.get_type_name()))
    return chain


class OpenVINOModel(GraphModel):
    """Query a model compiled with OpenVINO (``openvino.Core().compile_model``) in batches.

    Parameters
    ----------
    model : str, path, openvino.Model or openvino.CompiledModel
        An OpenVINO IR (the ``.xml`` file; its ``.bin`` weights must sit next to it), an
        ``.onnx`` file (read by OpenVINO's ONNX front end), or a model object.
    input_name, output_name : str, optional
        Chosen automatically when unambiguous (one input, one float output); several
        candidates raise an error listing them.
    outputs : {"auto", "logits", "proba"}
        What the output holds; ``"auto"`` reads it from the graph (the op producing the
        output: ``Softmax`` / ``Sigmoid`` mean probabilities, ``MatMul`` / ``Add`` logits),
        else from the output name, else per call from the values (access ``"proba"`` then).
    n_classes : int, optional
        Number of classes; must match the output's static width when it has one.
    batch_size : int
        Rows per inference request (a graph with a fixed batch size runs in batches of it).
    atol : float
        Tolerance on probability rows summing to one.
    device : str
        OpenVINO device (default ``"CPU"``).
    config : mapping, optional
        Compile options. The default ``{"INFERENCE_PRECISION_HINT": "f32"}`` keeps float32
        arithmetic: without it, CPUs with bfloat16 units run float32 models in bfloat16, whose
        outputs differ from the original model's by about 1e-2.

    Notes
    -----
    OpenVINO's ONNX front end does not read the ``ai.onnx.ml`` operators of scikit-learn
    converters (skl2onnx): query those with :class:`~privmeter.models.OnnxModel`.

    Examples
    --------
    >>> import numpy as np, torch, tempfile, os
    >>> from privmeter.models import OpenVINOModel
    >>> net = torch.nn.Linear(4, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> torch.onnx.export(net, (torch.zeros(1, 4),), path, input_names=["x"],
    ...                   output_names=["logits"], dynamic_axes={"x": {0: "n"}}, dynamo=False)
    >>> model = OpenVINOModel(path)
    >>> model.n_classes, model.access, model.proba(np.zeros((5, 4))).shape
    (3, 'logits', (5, 3))
    """

    _framework = "OpenVINO"

    def __init__(
        self,
        model: Any,
        *,
        input_name: str | None = None,
        output_name: str | None = None,
        outputs: OutputKind = "auto",
        n_classes: int | None = None,
        batch_size: int = 1024,
        atol: float = 1e-4,
        device: str = "CPU",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        import openvino as ov

        outputs = check_output_kind(outputs)
        core = ov.Core()
        path = _path(model)
        options = dict({"INFERENCE_PRECISION_HINT": "f32"} if config is None else config)
        if path is not None:
            ov_model = _read(core, path)
            self.source = path.name
        elif isinstance(model, ov.Model):
            ov_model = model
            self.source = f"openvino.Model({model.get_friendly_name()!r})"
        elif isinstance(model, ov.CompiledModel):
            ov_model = None
            self.source = "openvino.CompiledModel"
        else:
            raise TypeError(
                f"model must be a path to an OpenVINO IR (.xml) or .onnx file, an openvino.Model"
                f" or an openvino.CompiledModel, got {type(model).__name__}"
            )
        compiled = model if ov_model is None else core.compile_model(ov_model, device, options)
        self.compiled = compiled
        self.device = device
        ins = list(compiled.inputs)
        in_names = [p.get_any_name() for p in ins]
        in_dims = {n: _dims(p.get_partial_shape()) for n, p in zip(in_names, ins, strict=True)}
        in_desc = {n: f"{p.get_element_type().get_type_name()}, shape {_dims_text(in_dims[n])}"
                   for n, p in zip(in_names, ins, strict=True)}
        name_in = choose("input", in_names, input_name, in_names, in_desc, self.source,
                         "input_name")
        in_port = ins[in_names.index(name_in)]
        outs = list(compiled.outputs)
        out_names = [p.get_any_name() if p.get_names() else f"output {i}"
                     for i, p in enumerate(outs)]
        out_dims = {n: _dims(p.get_partial_shape()) for n, p in zip(out_names, outs, strict=True)}
        out_desc = {n: f"{p.get_element_type().get_type_name()}, shape "
                       f"{_dims_text(out_dims[n])}" for n, p in zip(out_names, outs, strict=True)}
        candidates = [n for n, p in zip(out_names, outs, strict=True)
                      if p.get_element_type().get_type_name() in _FLOAT_TYPES]
        name_out = choose("output", out_names, output_name, candidates, out_desc, self.source,
                          "output_name")
        out_port = outs[out_names.index(name_out)]
        if outputs == "auto":
            chain = _op_chain(ov_model.outputs[out_names.index(name_out)]) if ov_model else []
            outputs = kind_from_graph(chain, name_out)
        self._setup(
            input_name=name_in, input_dtype=in_port.get_element_type().to_dtype(),
            input_shape=in_dims[name_in], output_name=name_out, output_kind=outputs,
            static_classes=_static_classes(out_dims[name_out]), n_classes=n_classes,
            batch_size=batch_size, atol=atol, output_shape=_dims_text(out_dims[name_out]),
        )
        self._request = compiled.create_infer_request()
        self._in_index = ins.index(in_port)
        self._out_port = out_port

    def _run(self, batch: NDArray[Any]) -> Any:
        self._request.infer({self._in_index: batch})
        return np.array(self._request.get_tensor(self._out_port).data, copy=True)


def _read(core: Any, path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".xml", ".onnx"):
        raise ValueError(
            f"OpenVINOModel reads an OpenVINO IR (.xml + .bin) or an .onnx file, got "
            f"{str(path)!r}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no OpenVINO model file at {str(path)!r}")
    if suffix == ".xml" and not path.with_suffix(".bin").is_file():
        raise FileNotFoundError(
            f"the OpenVINO IR {str(path)!r} needs its weights file "
            f"{str(path.with_suffix('.bin'))!r} next to it"
        )
    try:
        return core.read_model(str(path))
    except Exception as exc:  # openvino raises RuntimeError or its own types
        detail = " ".join(str(exc).split())
        hint = ""
        if suffix == ".onnx":
            hint = (" (OpenVINO's ONNX front end does not read the ai.onnx.ml operators of "
                    "scikit-learn converters: use privmeter.models.OnnxModel for those)")
        raise ValueError(f"OpenVINO cannot read {str(path)!r}{hint}: {detail[:400]}") from None
