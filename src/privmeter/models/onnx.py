"""ONNX Runtime adapter, and what the exported-graph adapters (ONNX, OpenVINO) share.

An exported model is a graph with named inputs and outputs, a declared element type per input
(``float32`` almost always) and a static or partly dynamic shape. The adapters here pick the
input and the class-score output automatically when that is unambiguous, check the data's
shape and dtype against the graph's declaration before running anything, and tell logits
from probabilities (from the graph, else from the values).

onnxruntime is imported when an :class:`OnnxModel` is built, never at ``import privmeter``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_class_indices,
    check_proba,
    check_scores,
    log_proba_as_logits,
)

__all__ = ["OnnxModel", "OutputKind"]

#: What a model's output holds: ``"logits"``, ``"proba"`` (probabilities) or ``"auto"``.
OutputKind = Literal["auto", "logits", "proba"]
_KINDS = ("auto", "logits", "proba")

#: Graph operations that turn scores into probabilities, or that only pass values through.
_PROBA_OPS = frozenset({"Softmax", "Sigmoid", "ZipMap", "Normalizer"})
_LOGIT_OPS = frozenset({"Gemm", "MatMul", "Add", "LogSoftmax", "FullyConnected", "Einsum"})
_PASS_OPS = frozenset({"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast",
                       "Convert", "Result", "Transpose"})

_ONNX_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


# ----------------------------------------------------------------- shared helpers
def check_output_kind(outputs: str) -> OutputKind:
    """``outputs`` must be ``"auto"``, ``"logits"`` or ``"proba"``."""
    if outputs not in _KINDS:
        raise ValueError(f"outputs must be one of {_KINDS}, got {outputs!r}")
    return outputs  # type: ignore[return-value]


def looks_like_proba(raw: NDArray[Any], atol: float) -> bool:
    """Whether every value lies in ``[0, 1]`` and (two or more columns) rows sum to one."""
    arr = np.asarray(raw, dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        return False
    if arr.ndim == 2 and arr.shape[1] >= 2:
        return bool(np.all(np.abs(arr.sum(axis=1) - 1.0) <= atol))
    return True


def _two_columns(raw: NDArray[Any], kind: str) -> NDArray[np.float64]:
    """A single output column (or a 1-D output): a sigmoid's probability of class 1 becomes
    ``[1 - p, p]``, a single logit ``z`` becomes ``[0, z]`` (its softmax is the sigmoid)."""
    col = np.asarray(raw, dtype=np.float64).reshape(-1)
    if kind == "proba":
        return np.stack([1.0 - col, col], axis=1)
    return np.stack([np.zeros_like(col), col], axis=1)


def class_scores(
    raw: Any, *, kind: OutputKind, n_rows: int, n_classes: int | None, source: str,
    atol: float,
) -> tuple[NDArray[np.float64], Literal["logits", "proba"]]:
    """A model's raw class output as a validated ``(n, n_classes)`` matrix and its kind.

    ``kind="auto"`` decides from this call's values alone (never from earlier calls): rows in
    ``[0, 1]`` summing to one (``atol``) are probabilities, anything else logits. One column
    (or a 1-D output) is a binary model's sigmoid probability or logit of class 1.
    """
    arr = np.asarray(raw)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{source} returned class scores of non-numeric dtype {arr.dtype}")
    resolved: Literal["logits", "proba"] = kind if kind != "auto" else (
        "proba" if looks_like_proba(arr, atol) else "logits")
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        if arr.shape[0] != n_rows:
            raise ValueError(f"{source} returned {arr.shape[0]} rows for {n_rows} inputs")
        arr = _two_columns(arr, resolved)
    if resolved == "proba":
        return check_proba(arr, n_rows=n_rows, n_classes=n_classes, source=source,
                           atol=atol), "proba"
    return check_scores(arr, n_rows=n_rows, n_classes=n_classes, source=source), "logits"


def softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise softmax in float64 (max subtracted first)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def shape_text(shape: Sequence[int | None]) -> str:
    """``(n, 10)`` for a declared shape ``[None, 10]`` (a dynamic dimension after the first
    is ``?``)."""
    dims = ["n" if i == 0 and d is None else ("?" if d is None else str(d))
            for i, d in enumerate(shape)]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def prepare_input(
    x: Any, *, dtype: Any, shape: Sequence[int | None] | None, source: str, name: str,
) -> NDArray[Any]:
    """``x`` as a numpy array of the graph input's dtype, after checking its shape.

    A float64 array fed to a float32 input is cast after checking that every value is finite
    and within float32's range; floats fed to an integer input must be whole numbers within
    its range.

    Raises
    ------
    ValueError
        Naming the expected and the given shape, or the dtype and the first offending value.
    """
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise ValueError(f"x must have a leading batch dimension, got a scalar for {source}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(
            f"{source} takes a numeric array for input {name!r}, got dtype {arr.dtype}"
        )
    if shape is not None:
        ok = arr.ndim == len(shape) and all(
            d is None or d == s for d, s in zip(shape[1:], arr.shape[1:], strict=True)
        )
        if not ok:
            raise ValueError(
                f"{source} expects input {name!r} of shape {shape_text(shape)}, got x of shape "
                f"{tuple(arr.shape)}"
            )
    target = np.dtype(dtype)
    if arr.dtype == target:
        return arr
    if target.kind == "f":
        src = np.asarray(arr, dtype=np.float64) if arr.dtype.kind != "f" else arr
        if src.size and src.dtype.itemsize > target.itemsize:
            limit = float(np.finfo(target).max)
            flat = src.reshape(src.shape[0], -1)
            bad = ~np.isfinite(flat) | (np.abs(flat) > limit)
            if bad.any():
                r, c = (int(v) for v in np.argwhere(bad)[0])
                raise ValueError(
                    f"{source} takes {target.name} input {name!r}; x ({arr.dtype}) cannot be "
                    f"cast: value {float(flat[r, c])!r} at row {r}, column {c} is not finite or "
                    f"outside the {target.name} range (|x| <= {limit:.4g})"
                )
        return np.asarray(src, dtype=target)
    if target.kind in "iub":
        if arr.dtype.kind == "f":
            flat = arr.reshape(arr.shape[0], -1)
            bad = ~np.isfinite(flat) | (flat != np.round(flat))
            if bad.any():
                r, c = (int(v) for v in np.argwhere(bad)[0])
                raise ValueError(
                    f"{source} takes {target.name} input {name!r}; x ({arr.dtype}) has the "
                    f"non-integer value {float(flat[r, c])!r} at row {r}, column {c}"
                )
        if target.kind != "b" and arr.size:
            info = np.iinfo(target)
            lo, hi = float(np.min(arr)), float(np.max(arr))
            if lo < info.min or hi > info.max:
                raise ValueError(
                    f"{source} takes {target.name} input {name!r}; x has values in "
                    f"[{lo:g}, {hi:g}], outside [{info.min}, {info.max}]"
                )
        return np.asarray(arr, dtype=target)
    raise ValueError(f"{source}: input {name!r} has unsupported dtype {target}")


class GraphModel:
    """The shared half of :class:`OnnxModel` and :class:`OpenVINOModel` (not public).

    Subclasses set the input/output description in ``__init__`` (through :meth:`_setup`) and
    implement :meth:`_run` (one batch in, the raw chosen output back).
    """

    _framework = "graph"

    def _setup(
        self, *, input_name: str, input_dtype: Any, input_shape: Sequence[int | None] | None,
        output_name: str, output_kind: OutputKind, static_classes: int | None,
        n_classes: int | None, batch_size: int, atol: float, output_shape: Any,
    ) -> None:
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        n_classes = check_optional_int("n_classes", n_classes, minimum=2)
        if n_classes is not None and static_classes is not None and n_classes != static_classes:
            raise ValueError(
                f"the {self._framework} model's output {output_name!r} (shape {output_shape}) "
                f"has {static_classes} classes, but n_classes={n_classes}; the model and the "
                "data must have the same number of classes"
            )
        self.input_name = input_name
        self.output_name = output_name
        self.input_dtype = np.dtype(input_dtype)
        self.input_shape: tuple[int | None, ...] | None = (
            None if input_shape is None else tuple(input_shape)
        )
        self.outputs: OutputKind = output_kind
        self.atol = float(atol)
        self._n_classes = n_classes if n_classes is not None else static_classes
        fixed = self.input_shape[0] if self.input_shape else None
        #: a graph exported with a fixed batch size runs in batches of exactly that size
        self._fixed_batch = fixed

    # ---------------------------------------------------------------- protocol
    @property
    def task(self) -> Task:
        """Always ``"classification"``."""
        return "classification"

    @property
    def n_classes(self) -> int | None:
        """Given at construction or read from the graph's output shape (never from a query)."""
        return self._n_classes

    @property
    def access(self) -> AccessLevel:
        """``"logits"`` when the output holds logits (declared or read from the graph),
        ``"proba"`` otherwise."""
        return "logits" if self.outputs == "logits" else "proba"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.source!r}, input={self.input_name!r}, "
                f"output={self.output_name!r}, outputs={self.outputs!r}, "
                f"n_classes={self._n_classes})")

    source: str = "<graph>"

    # ----------------------------------------------------------------- queries
    def _run(self, batch: NDArray[Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _batches(self, arr: NDArray[Any]) -> Iterator[tuple[int, int, NDArray[Any]]]:
        n = arr.shape[0]
        step = self._fixed_batch or self.batch_size
        for start in range(0, n, step):
            stop = min(start + step, n)
            chunk = arr[start:stop]
            if self._fixed_batch and chunk.shape[0] < step:  # pad to the graph's batch size
                pad = np.zeros((step - chunk.shape[0], *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            yield start, stop, np.ascontiguousarray(chunk)

    def raw_outputs(self, x: Any) -> NDArray[np.float64]:
        """The chosen output, float64, one row per input row (no kind conversion)."""
        arr = prepare_input(x, dtype=self.input_dtype, shape=self.input_shape,
                            source=repr(self), name=self.input_name)
        parts: list[NDArray[Any]] = []
        for start, stop, batch in self._batches(arr):
            out = self._run(batch)
            out = _zipmap_rows(out) if isinstance(out, list) else np.asarray(out)
            if out.ndim == 0 or out.shape[0] < stop - start:
                raise ValueError(
                    f"{self!r} returned output of shape {tuple(out.shape)} for a batch of "
                    f"{stop - start} rows"
                )
            parts.append(out[: stop - start])
        if not parts:
            width = self._n_classes if self._n_classes is not None else 0
            return np.empty((0, width), dtype=np.float64)
        return np.asarray(np.concatenate(parts), dtype=np.float64)

    def _scores(self, x: Any) -> tuple[NDArray[np.float64], Literal["logits", "proba"]]:
        raw = self.raw_outputs(x)
        return class_scores(raw, kind=self.outputs, n_rows=raw.shape[0],
                            n_classes=self._n_classes, source=repr(self), atol=self.atol)

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Class logits ``(n, n_classes)``, float64; for a model that outputs probabilities,
        ``log p`` (zeros mapped to ``-745``), whose softmax is the model's probabilities."""
        scores, kind = self._scores(x)
        return scores if kind == "logits" else log_proba_as_logits(scores)

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Class probabilities ``(n, n_classes)``, float64 (softmax of logits, or the model's
        own probabilities, validated)."""
        scores, kind = self._scores(x)
        return scores if kind == "proba" else softmax(scores)

    def predict(self, x: Any) -> NDArray[np.int64]:
        """Predicted class index ``(n,)``, int64."""
        scores, _ = self._scores(x)
        return np.asarray(scores.argmax(axis=1), dtype=np.int64)

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Validate integer class labels ``0..n_classes-1`` (the output's column order)."""
        n = self._n_classes if self._n_classes is not None else int(np.iinfo(np.int64).max)
        return check_class_indices(y, n_classes=n, source=repr(self))


def _zipmap_rows(out: list[Any]) -> NDArray[np.float64]:
    """skl2onnx's ZipMap output (one ``{class: probability}`` dict per row) as a matrix, in
    the dicts' class order."""
    if not out:
        return np.empty((0, 0), dtype=np.float64)
    if not isinstance(out[0], dict):
        return np.asarray(out, dtype=np.float64)
    keys = list(out[0])
    try:
        return np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
    except KeyError as exc:
        raise ValueError(f"ZipMap output rows have different classes (missing {exc})") from None


def choose(
    what: str, names: Sequence[str], wanted: str | None, candidates: Sequence[str],
    describe: dict[str, str], source: str, option: str,
) -> str:
    """The input/output to use: ``wanted`` (checked), else the only candidate."""
    if wanted is not None:
        if wanted not in names:
            raise ValueError(
                f"{source} has no {what} named {wanted!r}; its {what}s: "
                + ", ".join(f"{n!r} ({describe[n]})" for n in names)
            )
        if wanted not in candidates:
            raise ValueError(
                f"{source}: {what} {wanted!r} ({describe[wanted]}) does not hold class scores; "
                "candidates: " + (", ".join(repr(c) for c in candidates) or "none")
            )
        return wanted
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ValueError(
            f"{source} has no {what} that can hold class scores (a float tensor): "
            + ", ".join(f"{n!r} ({describe[n]})" for n in names)
        )
    raise ValueError(
        f"{source} has several candidate {what}s: "
        + ", ".join(f"{c!r} ({describe[c]})" for c in candidates)
        + f"; choose one with {option}=..."
    )


def kind_from_graph(op_chain: Sequence[str], name: str) -> OutputKind:
    """Logits or probabilities from the ops producing an output (last first), else from
    its name; ``"auto"`` when neither tells."""
    for op in op_chain:
        if op in _PASS_OPS:
            continue
        if op in _PROBA_OPS:
            return "proba"
        if op in _LOGIT_OPS:
            return "logits"
        break
    lowered = name.lower()
    if "prob" in lowered:
        return "proba"
    if "logit" in lowered:
        return "logits"
    return "auto"


def _path(model: Any) -> Path | None:
    if isinstance(model, (str, os.PathLike)):
        return Path(os.fspath(model))
    return None


# --------------------------------------------------------------------- adapter
class OnnxModel(GraphModel):
    """Query an ONNX model with ONNX Runtime, in batches (CPU by default).

    Parameters
    ----------
    model : str, path or onnxruntime.InferenceSession
        A ``.onnx`` file (opened with ``CPUExecutionProvider`` unless ``providers`` says
        otherwise) or an open session.
    input_name, output_name : str, optional
        The graph input fed with ``x`` and the output holding class scores. Chosen
        automatically when there is one input and one float output (skl2onnx's integer
        ``output_label`` is never a candidate); several candidates raise an error listing them.
    outputs : {"auto", "logits", "proba"}
        What the output holds. ``"auto"`` reads it from the graph (an output produced by
        ``Softmax`` / ``Sigmoid`` / ``ZipMap`` is probabilities, one produced by ``Gemm`` /
        ``MatMul`` / ``Add`` is logits), else from the output's name (``prob`` / ``logit``),
        else decides per call from the values (rows in ``[0, 1]`` summing to one are
        probabilities); the access level is then ``"proba"``.
    n_classes : int, optional
        Number of classes; must match the output's declared width when the graph has one
        (read from it otherwise).
    batch_size : int
        Rows per ``session.run``. A graph exported with a fixed batch size runs in batches
        of that size (the last one padded).
    atol : float
        Tolerance on probability rows summing to one.
    providers : sequence of str, optional
        ONNX Runtime execution providers for a path (default ``["CPUExecutionProvider"]``).

    Notes
    -----
    Inputs are cast to the graph's declared dtype (float64 data to a float32 input: after
    checking every value is finite and in float32's range). skl2onnx classifiers output a
    ``ZipMap`` (a list of ``{class: probability}`` dicts) by default: it is handled, in the
    dicts' class order, but converting with ``options={id(clf): {"zipmap": False}}`` gives a
    plain tensor and is much faster to query.

    Examples
    --------
    >>> import numpy as np, torch, tempfile, os
    >>> from privmeter.models import OnnxModel
    >>> net = torch.nn.Linear(4, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> torch.onnx.export(net, (torch.zeros(1, 4),), path, input_names=["x"],
    ...                   output_names=["logits"], dynamic_axes={"x": {0: "n"}}, dynamo=False)
    >>> model = OnnxModel(path)
    >>> model.n_classes, model.access, model.logits(np.zeros((5, 4))).shape
    (3, 'logits', (5, 3))
    """

    _framework = "ONNX"

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
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        outputs = check_output_kind(outputs)
        path = _path(model)
        proto: Any = None
        if path is not None:
            if not path.is_file():
                raise FileNotFoundError(f"no ONNX file at {str(path)!r}")
            proto = _load_proto(path)
            try:
                session = ort.InferenceSession(
                    str(path), providers=list(providers or ["CPUExecutionProvider"])
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ValueError(
                    f"onnxruntime cannot load {str(path)!r}: {' '.join(str(exc).split())}"
                ) from None
            self.source = path.name
        elif isinstance(model, ort.InferenceSession):
            session = model
            self.source = "InferenceSession"
        else:
            raise TypeError(
                f"model must be a path to a .onnx file or an onnxruntime.InferenceSession, got "
                f"{type(model).__name__}"
            )
        self.session = session
        ins = session.get_inputs()
        in_desc = {i.name: f"{i.type}, shape {_dims(i.shape)}" for i in ins}
        in_names = [i.name for i in ins]
        name_in = choose("input", in_names, input_name, in_names, in_desc, self.source,
                         "input_name")
        inp = next(i for i in ins if i.name == name_in)
        if inp.type not in _ONNX_TYPES:
            raise ValueError(f"{self.source}: input {name_in!r} has unsupported type {inp.type}")
        outs = session.get_outputs()
        out_desc = {o.name: f"{o.type}, shape {_dims(o.shape)}" for o in outs}
        candidates = [o.name for o in outs if _holds_scores(o.type)]
        name_out = choose("output", [o.name for o in outs], output_name, candidates, out_desc,
                          self.source, "output_name")
        out = next(o for o in outs if o.name == name_out)
        if outputs == "auto":
            outputs = "proba" if out.type.startswith("seq(map") else kind_from_graph(
                _producers(proto, name_out), name_out)
        static = _static_classes(out.shape) if out.type.startswith("tensor") else (
            _zipmap_classes(proto, name_out))
        self._setup(
            input_name=name_in, input_dtype=_ONNX_TYPES[inp.type],
            input_shape=[d if isinstance(d, int) else None for d in inp.shape],
            output_name=name_out, output_kind=outputs, static_classes=static,
            n_classes=n_classes, batch_size=batch_size, atol=atol,
            output_shape=_dims(out.shape),
        )
        self._outputs_arg = [name_out]

    def _run(self, batch: NDArray[Any]) -> Any:
        return self.session.run(self._outputs_arg, {self.input_name: batch})[0]


def _dims(shape: Any) -> str:
    return "[" + ", ".join(str(d) if d is not None else "?" for d in (shape or [])) + "]"


def _holds_scores(type_name: str) -> bool:
    return type_name in ("tensor(float)", "tensor(double)", "tensor(float16)") or (
        type_name.startswith("seq(map(") and "float" in type_name
    )


def _static_classes(shape: Any) -> int | None:
    if shape is None or len(shape) != 2 or not isinstance(shape[1], int):
        return None
    width = int(shape[1])
    return 2 if width == 1 else (width if width >= 2 else None)


def _load_proto(path: Path) -> Any:
    """The graph (without external weights) to read the ops behind each output; None when
    the onnx package is not installed."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx ships with the extra
        return None
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable ONNX model: {' '.join(str(exc).split())}"
        ) from None


def _producers(proto: Any, name: str, depth: int = 8) -> list[str]:
    """Op types producing ``name``, walking back through first inputs (last op first)."""
    if proto is None:
        return []
    by_output = {o: node for node in proto.graph.node for o in node.output}
    chain: list[str] = []
    current = name
    for _ in range(depth):
        node = by_output.get(current)
        if node is None:
            break
        chain.append(str(node.op_type))
        if node.op_type not in _PASS_OPS or not node.input:
            if node.op_type in ("LinearClassifier", "SVMClassifier", "TreeEnsembleClassifier"):
                chain[-1] = "Softmax" if list(node.output).index(current) == 1 else "ArgMax"
            break
        current = node.input[0]
    return chain


def _zipmap_classes(proto: Any, name: str) -> int | None:
    if proto is None:
        return None
    for node in proto.graph.node:
        if node.op_type == "ZipMap" and name in node.output:
            for attr in node.attribute:
                if attr.name in ("classlabels_int64s", "classlabels_strings"):
                    n = len(attr.ints) or len(attr.strings)
                    return n if n >= 2 else None
    return None

