"""Train Keras reference models: a fresh clone of the target's architecture per seed.

As ML Privacy Meter did for TensorFlow, a Keras user gets reference models trained in their
own framework: :class:`KerasTrainer` clones the architecture (``keras.models.clone_model``:
same layers, new weights), initialises it from the job's seed, compiles it with the
target's optimizer and loss (copied from the compiled template, or given) and fits it on
the selected rows. Weights are returned as a state dict of CPU tensors keyed by variable
path, stored with safetensors like a PyTorch model's (never pickled).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from privmeter._validation import check_int, check_optional_int
from privmeter.training._hashing import as_numpy, canonical_json, check_indices, check_seed
from privmeter.training.sklearn_trainer import sklearn_random_state

__all__ = ["KerasTrainer"]


@contextlib.contextmanager
def _isolated_rng(keras: Any, seed: int, num_threads: int | None) -> Iterator[None]:
    """``keras.utils.set_random_seed(seed)`` inside the block; the caller's Python, numpy
    and torch random states (and torch's thread count) are restored afterwards."""
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - Keras seeds the legacy global RNG
    with contextlib.ExitStack() as stack:
        if keras.backend.backend() == "torch":
            import torch

            from privmeter.training.torch_trainer import torch_threads

            stack.enter_context(torch.random.fork_rng(devices=[]))
            stack.enter_context(torch_threads(num_threads))
        try:
            keras.utils.set_random_seed(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _serialise(kind: str, value: Any, keras: Any) -> Any:
    """An optimizer / loss as a JSON-able Keras config (strings stay strings)."""
    if value is None or isinstance(value, (str, dict)):
        return value
    module = keras.optimizers if kind == "optimizer" else keras.losses
    try:
        return module.serialize(value)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"cannot serialise the {kind} {value!r}: {exc}") from None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer, int, bool, str)) or obj is None:
        return obj.item() if isinstance(obj, np.generic) else obj
    return repr(obj)


@dataclass(frozen=True, eq=False)
class KerasTrainer:
    """Train clones of a Keras model (one seed -> one state dict of its weights).

    Parameters
    ----------
    model : keras.Model or path
        The template: the target model (trained or not) or a ``.keras`` file (loaded with
        ``safe_mode=True``). Only its architecture is used, never its weights.
    optimizer, loss :
        Keras identifiers, configs or objects. Default: the template's compiled optimizer
        and loss (a fresh optimizer with the same configuration for each model);
        ``"adam"`` and ``"sparse_categorical_crossentropy"`` for an uncompiled template.
    learning_rate : float, optional
        Overrides the optimizer's learning rate.
    epochs, batch_size : int
        ``model.fit`` settings (shuffled each epoch from the job's seed).
    num_threads : int or None
        Torch backend: CPU threads while training (default 1, so that results are
        bit-identical wherever the job runs; see :class:`~privmeter.training.TorchTrainer`).

    Notes
    -----
    Each :meth:`fit` clones the template (``keras.models.clone_model``), sets
    ``keras.utils.set_random_seed`` from the job's seed (initial weights, dropout and the
    batch order follow from it), compiles and fits. The Python, numpy and torch global random
    states are restored afterwards. On the torch backend two fits with the same seed give
    bit-identical weights; other backends may add their own nondeterminism (GPU kernels).
    :meth:`build` loads a state dict into a fresh clone and returns a
    :class:`~privmeter.models.KerasModel`.

    Examples
    --------
    >>> import numpy as np
    >>> from privmeter.models.keras import import_keras
    >>> keras = import_keras()
    >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    >>> net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> trainer = KerasTrainer(net, epochs=2, batch_size=8)
    >>> x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)
    >>> state = trainer.fit(x, y, np.arange(10), seed=1)
    >>> again = trainer.fit(x, y, np.arange(10), seed=1)
    >>> all(bool((state[k] == again[k]).all()) for k in state)
    True
    >>> trainer.build(state).n_classes
    2
    """

    model: Any
    optimizer: Any = None
    loss: Any = None
    learning_rate: float | None = None
    epochs: int = 10
    batch_size: int = 32
    num_threads: int | None = 1

    #: What :meth:`fit` returns, for the store: a ``dict[str, Tensor]`` (safetensors).
    result_kind: ClassVar[str] = "state_dict"

    def __post_init__(self) -> None:
        from privmeter.models.keras import import_keras, load_keras_file

        keras = import_keras()
        template = self.model
        if not hasattr(template, "get_config"):
            template = load_keras_file(template, compile=True)
            object.__setattr__(self, "model", template)
        if not isinstance(template, keras.Model):
            raise TypeError(f"model must be a Keras model or a .keras path, got "
                            f"{type(self.model).__name__}")
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_optional_int("num_threads", self.num_threads, minimum=1)
        lr = self.learning_rate
        if lr is not None and (not isinstance(lr, (int, float)) or not math.isfinite(lr)
                               or lr <= 0):
            raise ValueError(f"learning_rate must be a positive finite number, got {lr!r}")
        compiled_opt = getattr(template, "optimizer", None) if self.optimizer is None else None
        opt = _serialise("optimizer", self.optimizer if self.optimizer is not None
                         else compiled_opt, keras) or "adam"
        if lr is not None:
            opt = keras.optimizers.serialize(keras.optimizers.get(opt))
            opt["config"]["learning_rate"] = float(lr)
        compiled_loss = getattr(template, "loss", None) if self.loss is None else self.loss
        loss = _serialise("loss", compiled_loss, keras) or "sparse_categorical_crossentropy"
        # kept as JSON: Keras's deserialisation edits the dicts it is given
        object.__setattr__(self, "_settings_json", json.dumps(
            {"optimizer": _jsonable(opt), "loss": _jsonable(loss)}, sort_keys=True))

    @property
    def _optimizer_config(self) -> Any:
        return json.loads(self._settings_json)["optimizer"]  # type: ignore[attr-defined]

    @property
    def _loss_config(self) -> Any:
        return json.loads(self._settings_json)["loss"]  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- identity
    @functools.cached_property
    def _fingerprint(self) -> str:
        from privmeter.models.keras import import_keras

        keras = import_keras()
        return canonical_json({
            "trainer": f"{type(self).__module__}.{type(self).__qualname__}",
            "architecture": self.model.to_json(),
            "settings": _jsonable({
                "optimizer": self._optimizer_config, "loss": self._loss_config,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "num_threads": self.num_threads,
            }),
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
        })

    def describe(self) -> str:
        """One line for the threat-model card: the architecture and the fit settings."""
        opt = self._optimizer_config
        name = opt.get("class_name", opt) if isinstance(opt, dict) else opt
        lr = opt.get("config", {}).get("learning_rate") if isinstance(opt, dict) else None
        loss = self._loss_config
        loss_name = loss.get("class_name", loss) if isinstance(loss, dict) else loss
        return (
            f"Keras {type(self.model).__name__} {self.model.name!r} "
            f"({self.model.count_params()} parameters); {name}"
            + (f", lr={float(lr):.4g}" if isinstance(lr, (int, float)) else "")
            + f", loss {loss_name}, epochs={self.epochs}, batch size {self.batch_size}"
        )

    def fingerprint(self) -> str:
        """Canonical JSON of the architecture (``model.to_json()``: layers, initialisers),
        the optimizer and loss configurations, the fit settings, Keras's version and
        backend (part of every cache key)."""
        return self._fingerprint

    def steps(self, n_points: int) -> int:
        """Optimizer steps of one :meth:`fit` on ``n_points`` points."""
        return self.epochs * -(-int(n_points) // self.batch_size)

    # ------------------------------------------------------------------ pieces
    def _clone(self, keras: Any) -> Any:
        clone = keras.models.clone_model(self.model)
        if not clone.built:
            clone.build(self.model.inputs[0].shape)
        return clone

    def init_model(self, seed: int) -> Any:
        """The freshly initialised clone that :meth:`fit` starts from for this seed."""
        from privmeter.models.keras import import_keras

        keras = import_keras()
        init_seed = sklearn_random_state(check_seed(seed))
        with _isolated_rng(keras, init_seed, self.num_threads):
            return self._clone(keras)

    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> dict[str, Any]:
        """Train one clone on ``x[indices], y[indices]``; return its weights.

        Returns
        -------
        dict of str to torch.Tensor
            Every variable of the model (trainable or not, e.g. batch-norm statistics) by
            its path, as a CPU tensor.
        """
        import torch

        from privmeter.models.keras import import_keras

        keras = import_keras()
        seed = check_seed(seed)
        xa, ya = as_numpy(x), as_numpy(y)
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(f"x has {xa.shape[0]} rows but y has {ya.shape[0]}")
        idx = check_indices(indices, int(xa.shape[0]))
        init_seed = sklearn_random_state(seed)
        with _isolated_rng(keras, init_seed, self.num_threads):
            clone = self._clone(keras)
            clone.compile(
                optimizer=keras.optimizers.get(self._optimizer_config),
                loss=keras.losses.get(self._loss_config),
            )
            clone.fit(xa[idx], ya[idx], epochs=self.epochs, batch_size=self.batch_size,
                      shuffle=True, verbose=0)
            weights = clone.weights
            state = {
                _key(v, i): torch.from_numpy(np.array(keras.ops.convert_to_numpy(v), copy=True))
                for i, v in enumerate(weights)
            }
        if len(state) != len(weights):
            raise ValueError("the model's variables do not have distinct paths")
        return state

    def build(self, state: Mapping[str, Any]) -> Any:
        """A :class:`~privmeter.models.KerasModel` of a fresh clone with these weights.

        Raises
        ------
        ValueError
            If the state's names or shapes do not match the architecture.
        """
        from privmeter.models import KerasModel
        from privmeter.models.keras import import_keras

        keras = import_keras()
        with _isolated_rng(keras, 0, self.num_threads):
            clone = self._clone(keras)
        weights = clone.weights
        keys = [_key(v, i) for i, v in enumerate(weights)]
        if sorted(keys) != sorted(state):
            missing = sorted(set(keys) - set(state))[:3]
            extra = sorted(set(state) - set(keys))[:3]
            raise ValueError(f"the state dict does not match the architecture: missing "
                             f"{missing}, unexpected {extra}")
        for key, var in zip(keys, weights, strict=True):
            value = np.asarray(state[key].numpy() if hasattr(state[key], "numpy")
                               else state[key])
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(f"variable {key!r} has shape {tuple(var.shape)} in the "
                                 f"architecture but {tuple(value.shape)} in the state dict")
            var.assign(value)
        return KerasModel(clone)


def _key(variable: Any, index: int) -> str:
    return str(getattr(variable, "path", None) or f"{index}:{variable.name}")
