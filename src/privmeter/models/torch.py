"""PyTorch adapter: batched, eval-mode, device-aware queries and per-sample gradient norms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn
from torch.func import functional_call, grad, vmap

from privmeter._validation import check_int, check_optional_int
from privmeter.models.base import (
    AccessLevel,
    Task,
    check_class_indices,
    check_scores,
    describe_rows,
)

__all__ = ["TorchModel"]

#: Per-sample loss: ``loss_fn(outputs, targets) -> losses`` with ``losses.shape == (batch,)``.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _default_loss(task: Task) -> LossFn:
    if task == "classification":

        def cross_entropy(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(out, target, reduction="none")

        return cross_entropy

    def squared_error(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = out.reshape(out.shape[0], -1) - target.reshape(target.shape[0], -1)
        return (diff * diff).mean(dim=1)

    return squared_error


#: Words of torch's shape-mismatch errors (an input the module cannot take).
_SHAPE_WORDS = ("shape", "size", "dimension", "channels", "mat1")


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, then restore each one's own previous mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, was_training in modes:
            m.training = was_training


class TorchModel:
    """Query a :class:`torch.nn.Module` in batches, in eval mode, without gradients.

    Parameters
    ----------
    module : torch.nn.Module
        The model. It is put in ``eval()`` mode for each query and every submodule's previous
        mode is restored afterwards. It is never moved.
    batch_size : int
        Rows per forward pass.
    device : str or torch.device, optional
        Where inputs are sent. Default: the device of the module's parameters (CPU for a module
        without parameters). Must match the parameters' device.
    n_classes : int, optional
        Number of classes of a classifier, fixed at construction: every output must then have
        this many columns and every label must lie in ``0..n_classes-1``. When not given,
        :attr:`n_classes` stays ``None`` and nothing is learned from queries: each call takes
        the width of its own outputs as the number of classes (at least 2), so a call's result
        never depends on earlier calls. The audit pipeline always passes the data's number of
        classes.
    task : {"classification", "regression"}
    loss_fn : callable, optional
        Per-sample loss ``loss_fn(outputs, targets) -> (batch,)`` (``reduction="none"``) for
        :meth:`loss` and :meth:`per_sample_grad_norm`. Default: cross-entropy for
        classification, mean squared error over the outputs for regression.
    grad_batch_size : int, optional
        Rows per vectorised per-sample-gradient call (memory grows as rows x parameters).
        Default: ``min(batch_size, 128)``.

    Notes
    -----
    Inputs may be numpy arrays or tensors of any numeric dtype (bool included); each batch is
    converted to the dtype of the module's parameters. Outputs are float64 numpy arrays.

    Examples
    --------
    >>> import torch
    >>> from privmeter.models import TorchModel
    >>> net = torch.nn.Linear(4, 3)
    >>> model = TorchModel(net, batch_size=2)
    >>> model.logits(np.zeros((5, 4))).shape
    (5, 3)
    >>> model.n_classes, model.access  # not given: never learned from a query
    (None, 'grad')
    >>> TorchModel(net, n_classes=3).n_classes
    3
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        batch_size: int = 1024,
        device: str | torch.device | None = None,
        n_classes: int | None = None,
        task: Task = "classification",
        loss_fn: LossFn | None = None,
        grad_batch_size: int | None = None,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        batch_size = check_int("batch_size", batch_size, minimum=1)
        grad_batch_size = check_optional_int("grad_batch_size", grad_batch_size, minimum=1)
        if task == "regression" and n_classes is not None:
            raise ValueError(f"a regressor has no classes; got n_classes={n_classes!r}")
        n_classes = check_optional_int("n_classes", n_classes, minimum=2)
        params = list(module.parameters())
        param_device = params[0].device if params else torch.device("cpu")
        self._dtype = params[0].dtype if params else torch.get_default_dtype()
        if not self._dtype.is_floating_point:
            raise ValueError(f"module parameters must be floating point, got {self._dtype}")
        dev = param_device if device is None else torch.device(device)
        if params and dev != param_device and not (
            dev.type == param_device.type and dev.index is None
        ):
            raise ValueError(
                f"module parameters are on {param_device} but device={str(dev)!r}; move the "
                f"module first (module.to({str(dev)!r})) or pass device={str(param_device)!r}"
            )
        self.module = module
        self.batch_size = batch_size
        self.grad_batch_size = grad_batch_size or min(batch_size, 128)
        self.device = param_device if params else dev
        self._task: Task = task
        self._n_classes = n_classes
        self.loss_fn: LossFn = loss_fn if loss_fn is not None else _default_loss(task)

    # ---------------------------------------------------------------- protocol
    @property
    def task(self) -> Task:
        """``"classification"`` or ``"regression"``."""
        return self._task

    @property
    def n_classes(self) -> int | None:
        """Number of classes given at construction (``None`` for a regressor or when not given).

        Never changed by a query: without it, each query takes its own output width.
        """
        return self._n_classes

    @property
    def access(self) -> AccessLevel:
        """Always ``"grad"``: full white-box access."""
        return "grad"

    def __repr__(self) -> str:
        return (
            f"TorchModel({type(self.module).__name__}, task={self._task!r}, "
            f"n_classes={self._n_classes}, device={str(self.device)!r})"
        )

    # ------------------------------------------------------------------ inputs
    def _n_rows(self, x: Any) -> int:
        if isinstance(x, torch.Tensor):
            if x.ndim == 0:
                raise ValueError("x must have a leading batch dimension, got a scalar tensor")
            return int(x.shape[0])
        return int(self._as_numpy(x).shape[0])

    @staticmethod
    def _as_numpy(x: Any) -> NDArray[Any]:
        arr = np.asarray(x)
        if arr.ndim == 0:
            raise ValueError("x must have a leading batch dimension, got a scalar")
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"x must be numeric, got dtype {arr.dtype}")
        return arr

    def _batches(self, x: Any, batch_size: int) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(start, stop, tensor)`` on the module's device in its parameter dtype."""
        if isinstance(x, torch.Tensor):
            if x.is_complex() or not (x.is_floating_point() or x.dtype in _INT_DTYPES):
                raise ValueError(f"x must be a real numeric tensor, got dtype {x.dtype}")
            src: torch.Tensor | NDArray[Any] = x
        else:
            src = self._as_numpy(x)
        n = int(src.shape[0])
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            chunk = src[start:stop]
            if isinstance(chunk, np.ndarray):
                if chunk.dtype.kind == "u" and chunk.itemsize > 1:
                    chunk = chunk.astype(np.float64)
                t = torch.from_numpy(np.ascontiguousarray(chunk))
            else:
                t = chunk
            yield start, stop, t.to(device=self.device, dtype=self._dtype, non_blocking=True)

    # ----------------------------------------------------------------- queries
    def outputs(self, x: Any) -> NDArray[np.float64]:
        """Raw module outputs as float64, shape ``(n, ...)`` (no shape checks)."""
        n = self._n_rows(x)
        result: NDArray[np.float64] | None = None
        with _eval_mode(self.module), torch.inference_mode():
            for start, stop, xb in self._batches(x, self.batch_size):
                try:
                    out = self.module(xb)
                except RuntimeError as exc:
                    detail = " ".join(str(exc).split())
                    if not any(w in detail for w in _SHAPE_WORDS):
                        raise
                    raise ValueError(
                        f"{self!r} cannot take inputs of shape {tuple(xb.shape[1:])} per row "
                        f"(rows {start}..{stop - 1}): {detail}"
                    ) from None
                if not isinstance(out, torch.Tensor):
                    raise ValueError(
                        f"{self!r}: the module returned {type(out).__name__}, expected a tensor"
                    )
                if out.ndim == 0 or out.shape[0] != stop - start:
                    raise ValueError(
                        f"{self!r}: the module returned shape {tuple(out.shape)} for a batch of "
                        f"{stop - start} rows"
                    )
                if result is None:
                    result = np.empty((n, *out.shape[1:]), dtype=np.float64)
                    host = torch.from_numpy(result)
                elif tuple(out.shape[1:]) != result.shape[1:]:
                    raise ValueError(
                        f"{self!r}: the module returned rows of shape {tuple(out.shape[1:])} for "
                        f"rows {start}..{stop - 1} but {result.shape[1:]} before"
                    )
                host[start:stop].copy_(out.detach())  # to host memory and float64 in one pass
        if result is None:
            width = (self._n_classes,) if self._n_classes is not None else (0,)
            return np.empty((0, *width), dtype=np.float64)
        return result

    def logits(self, x: Any) -> NDArray[np.float64]:
        """Class logits, float64 of shape ``(n, n_classes)``.

        Raises
        ------
        ValueError
            If the output is not ``(n, n_classes)`` (expected vs got) or holds NaN/inf
            (naming the first rows), or if the model is a regressor.
        """
        if self._task != "classification":
            raise ValueError(f"{self!r} is a regressor: it has no logits; use predict()")
        out = self.outputs(x)
        z = check_scores(out, n_rows=out.shape[0], n_classes=self._n_classes, source=repr(self))
        if self._n_classes is None and z.shape[0] > 0 and z.shape[1] < 2:
            raise ValueError(
                f"{self!r}: the module returned {z.shape[1]} column(s); a classifier needs "
                "one logit per class (at least 2). For a single sigmoid output s, wrap the "
                "module to return [0, s]"
            )
        return z

    def proba(self, x: Any) -> NDArray[np.float64]:
        """Softmax probabilities, float64 of shape ``(n, n_classes)``."""
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict(self, x: Any) -> NDArray[Any]:
        """Predicted class index ``(n,)`` (int64), or the regression output (float64)."""
        if self._task == "classification":
            return np.asarray(self.logits(x).argmax(axis=1), dtype=np.int64)
        out = self.outputs(x)
        bad = ~np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)
        if bad.any():
            raise ValueError(f"{self!r} returned NaN or infinite outputs in {describe_rows(bad)}")
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def label_index(self, y: ArrayLike) -> NDArray[np.int64]:
        """Validate integer class labels (``0..n_classes-1``) and return them as int64.

        Without ``n_classes`` given at construction (it is never learned from a query), only
        whole non-negative numbers are required here; the upper bound is then checked against
        each query's own outputs (by the signals, and by :meth:`loss` and
        :meth:`per_sample_grad_norm`), so the result never depends on earlier calls.
        """
        if self._task != "classification":
            raise ValueError(f"{self!r} is a regressor: it has no class labels")
        return self._label_index(y, self._n_classes)

    def _label_index(self, y: ArrayLike, n_classes: int | None) -> NDArray[np.int64]:
        if n_classes is None:
            arr = np.asarray(y)
            if arr.dtype.kind in "if" and arr.ndim == 1 and (arr < 0).any():
                r = int(np.argmax(arr < 0))
                raise ValueError(
                    f"label {arr[r].item()!r} (at position {r}) is negative; class labels of "
                    f"{self!r} must be 0 or more"
                )
            n_classes = int(np.iinfo(np.int64).max)  # no upper bound known: see label_index
        return check_class_indices(y, n_classes=n_classes, source=repr(self))

    def _class_count(self, x: Any) -> int | None:
        """``n_classes`` if given, else the output width on the first row of ``x`` (a probe
        query, nothing stored), or ``None`` for a regressor or an empty ``x``."""
        if self._task != "classification" or self._n_classes is not None:
            return self._n_classes
        first = x[:1] if isinstance(x, torch.Tensor) else self._as_numpy(x)[:1]
        if first.shape[0] == 0:
            return None
        return int(self.logits(first).shape[1])

    # ------------------------------------------------------------- white box
    def _targets(self, y: ArrayLike, n: int, n_classes: int | None) -> torch.Tensor:
        if self._task == "classification":
            labels = self._label_index(y, n_classes)
            t = torch.from_numpy(labels)
        else:
            arr = np.asarray(y, dtype=np.float64)
            t = torch.from_numpy(np.ascontiguousarray(arr)).to(self._dtype)
        if t.shape[0] != n:
            raise ValueError(f"x has {n} rows but y has {t.shape[0]}")
        return t.to(self.device)

    def loss(self, x: Any, y: ArrayLike) -> NDArray[np.float64]:
        """Per-sample loss ``loss_fn(module(x), y)``, computed on float64 outputs, ``(n,)``."""
        n = self._n_rows(x)
        targets = self._targets(y, n, self._class_count(x))
        result = np.empty(n, dtype=np.float64)
        with _eval_mode(self.module), torch.inference_mode():
            for start, stop, xb in self._batches(x, self.batch_size):
                out = self.module(xb).to(torch.float64)
                losses = self.loss_fn(out, targets[start:stop])
                result[start:stop] = losses.reshape(-1).detach().cpu().numpy()
        return result

    def per_sample_grad_norm(self, x: Any, y: ArrayLike) -> NDArray[np.float64]:
        """L2 norm of each sample's loss gradient w.r.t. all trainable parameters, ``(n,)``.

        Vectorised with :func:`torch.func.vmap` over :func:`torch.func.grad` of a
        :func:`torch.func.functional_call`, ``grad_batch_size`` samples at a time, in eval mode
        (batch norm uses its running statistics, dropout is off).
        """
        n = self._n_rows(x)
        targets = self._targets(y, n, self._class_count(x))
        params = {k: p.detach() for k, p in self.module.named_parameters() if p.requires_grad}
        if not params:
            raise ValueError(f"{self!r} has no trainable parameters to differentiate")
        buffers = {k: b.detach() for k, b in self.module.named_buffers()}
        module = self.module
        loss_fn = self.loss_fn

        def sample_loss(
            p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor
        ) -> torch.Tensor:
            out = functional_call(module, (p, buffers), (xi.unsqueeze(0),))
            return loss_fn(out, yi.unsqueeze(0)).sum()

        per_sample_grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))
        result = np.empty(n, dtype=np.float64)
        with _eval_mode(self.module):
            for start, stop, xb in self._batches(x, self.grad_batch_size):
                grads: dict[str, torch.Tensor] = per_sample_grads(
                    params, xb, targets[start:stop]
                )
                sq = torch.zeros(stop - start, dtype=torch.float64, device=xb.device)
                for g in grads.values():
                    sq += g.reshape(stop - start, -1).to(torch.float64).pow(2).sum(dim=1)
                result[start:stop] = sq.sqrt().cpu().numpy()
        return result


_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
