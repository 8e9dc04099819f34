"""Train one PyTorch model on a subset of a dataset, deterministically from one seed."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import nn

from privmeter._progress import tick
from privmeter._validation import check_int, check_optional_int
from privmeter.training._hashing import (
    as_numpy,
    callable_identity,
    canonical_json,
    check_indices,
    check_seed,
    derive_seeds,
)

if TYPE_CHECKING:
    from privmeter.training.dp import DPConfig

__all__ = ["LossName", "OptimizerName", "ScheduleName", "StateDict", "TorchTrainer"]

OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["none", "cosine", "step"]
LossName = Literal["cross_entropy", "mse"]
StateDict = dict[str, torch.Tensor]

_OPTIMIZERS = ("sgd", "adam", "adamw")
_SCHEDULES = ("none", "cosine", "step")
_LOSSES = ("cross_entropy", "mse")


@contextlib.contextmanager
def isolated_torch_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside the block and restore the caller's state afterwards."""
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (no change when ``n`` is None)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


def _as_tensor(arr: Any) -> torch.Tensor:
    if isinstance(arr, torch.Tensor):
        return arr
    a = as_numpy(arr)
    if not a.flags.writeable:  # e.g. zero-copy arrays from Ray's object store
        a = a.copy()
    return torch.as_tensor(a)


def per_example_loss(name: LossName, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Loss of each example ``(B,)``; its mean is :func:`compute_loss` (up to rounding)."""
    if name == "cross_entropy":
        return F.cross_entropy(output, target, reduction="none")
    if output.ndim == target.ndim + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    sq = F.mse_loss(output, target, reduction="none")
    return sq.reshape(sq.shape[0], -1).mean(dim=1) if sq.ndim > 1 else sq


def compute_loss(name: LossName, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss of one model on one batch (the same function for single and ensemble training)."""
    if name == "cross_entropy":
        return F.cross_entropy(output, target)
    if output.ndim == target.ndim + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    return F.mse_loss(output, target)


def stacked_loss(name: LossName, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-model mean losses ``(K,)`` of K models' outputs ``(K, B, ...)`` on ``(K, B, ...)``.

    Equal to ``[compute_loss(name, output[k], target[k]) for k in range(K)]`` (up to float
    rounding), computed in one call. Summing it and back-propagating gives every model the
    gradient of its own mean loss.
    """
    k = output.shape[0]
    if name == "cross_entropy":
        per_item = F.cross_entropy(
            output.flatten(0, 1), target.flatten(0, 1), reduction="none"
        )
        return per_item.reshape(k, -1).mean(dim=1)
    if output.ndim == target.ndim + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)
    return (output - target).square().reshape(k, -1).mean(dim=1)


@dataclass(frozen=True)
class TorchTrainer:
    """Configuration and training loop for one PyTorch model (one seed -> one state dict).

    The seed of :meth:`fit` is split (with :class:`numpy.random.SeedSequence`) into an
    initialisation seed, a batch-order seed (a private :class:`torch.Generator` draws a fresh
    permutation of the training points each epoch) and a seed for random layers such as dropout.
    torch's global RNG is seeded only inside :func:`torch.random.fork_rng`, so the caller's
    random state is left untouched and two runs with the same seed give the same weights.

    Parameters
    ----------
    model_factory : callable
        Returns a new, randomly initialised ``nn.Module`` (e.g. a class or a top-level function;
        it must be picklable to run in process-pool or Ray executors).
    optimizer : {"sgd", "adam", "adamw"}
    lr : float
        Base learning rate.
    momentum : float
        SGD momentum (ignored by Adam/AdamW).
    epochs : int
    batch_size : int
        The last batch of an epoch is smaller when the training set size is not a multiple.
    weight_decay : float
        L2 penalty for SGD/Adam, decoupled decay for AdamW.
    schedule : {"none", "cosine", "step"}
        ``"cosine"``: ``lr * (1 + cos(pi * t / T)) / 2`` per step ``t`` of ``T``; ``"step"``:
        ``lr * gamma ** (epoch // step_size)``.
    step_size, gamma :
        Parameters of the ``"step"`` schedule.
    betas, eps :
        Adam/AdamW parameters.
    loss : {"cross_entropy", "mse"}
        Mean cross-entropy on integer labels, or mean squared error on float targets.
    fused : bool
        Use torch's fused optimizer kernels (faster; the same kernels are used by the ensemble
        trainer, so both give the same numbers).
    num_threads : int or None
        CPU threads for torch's operators during training (restored afterwards). CPU matrix
        products round differently with different thread counts, so a fixed number (default 1)
        makes results bit-identical wherever the job runs: in-process, in worker processes or
        on Ray. ``None`` uses whatever the process has (faster for one large model on many
        cores; results then depend on the thread count). Reference models are small and
        parallelise better across models (executors, or the ensemble trainer, which uses these
        threads for its batched products: give it the machine's cores).
    device : str
        Where to train; state dicts are always returned on the CPU.
    dp : DPConfig, optional
        Train with DP-SGD (Abadi et al. 2016) through Opacus (Yousefpour et al. 2021): per-example
        clipping, Gaussian noise and (by default) Poisson-sampled batches, see
        :mod:`privmeter.training.dp`. :meth:`privacy_spent` gives the accountants' epsilon.
        The batch-order seed then drives the Poisson sampling and a fourth derived seed the
        noise, so the same seed still gives bit-identical weights on the CPU. ``None``
        (default): ordinary training, with the same weights and cache keys as before this
        option existed. The vectorized :class:`EnsembleTrainer` refuses DP trainers.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> def make_model():
    ...     return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> trainer = TorchTrainer(make_model, optimizer="adam", lr=1e-2, epochs=2, batch_size=8)
    >>> x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> y = np.arange(20) % 3
    >>> state = trainer.fit(x, y, np.arange(10), seed=1)
    >>> again = trainer.fit(x, y, np.arange(10), seed=1)
    >>> all(torch.equal(state[k], again[k]) for k in state)
    True
    >>> model = trainer.build(state)
    """

    model_factory: Callable[[], nn.Module]
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    epochs: int = 10
    batch_size: int = 64
    weight_decay: float = 0.0
    schedule: ScheduleName = "none"
    step_size: int = 10
    gamma: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    loss: LossName = "cross_entropy"
    fused: bool = True
    num_threads: int | None = 1
    device: str = "cpu"
    dp: DPConfig | None = None

    #: What :meth:`fit` returns, for the store: a ``dict[str, Tensor]``.
    result_kind: ClassVar[str] = "state_dict"

    def __post_init__(self) -> None:
        if not callable(self.model_factory):
            raise TypeError(f"model_factory must be callable, got {self.model_factory!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {_OPTIMIZERS}")
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {_SCHEDULES}")
        if self.loss not in _LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {_LOSSES}")
        for name in ("epochs", "batch_size", "step_size"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("lr", "momentum", "weight_decay", "gamma", "eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
        check_optional_int("num_threads", self.num_threads, minimum=1)
        if self.lr == 0:
            raise ValueError("lr must be positive, got 0")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        torch.device(self.device)  # raises on a malformed device string
        if self.dp is not None:
            from privmeter.training.dp import DPConfig

            if not isinstance(self.dp, DPConfig):
                raise TypeError(
                    f"dp must be a privmeter.training.DPConfig or None, got {self.dp!r}"
                )

    # ----------------------------------------------------------------- identity
    @functools.cached_property
    def _fingerprint(self) -> str:
        config = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model_factory"}
        if self.dp is None:
            del config["dp"]  # keys of non-private trainers are those from before the option
        model = self._new_model(0)
        arch = hashlib.sha256(repr(model).encode())
        for name, tensor in model.state_dict().items():
            t = tensor.detach().cpu().contiguous()
            arch.update(f"|{name}|{t.dtype}|{list(t.shape)}|".encode())
            arch.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        model_cls = type(model)
        identity: dict[str, Any] = {
            "factory": callable_identity(self.model_factory),
            "architecture_sha256": arch.hexdigest(),
        }
        if not model_cls.__module__.startswith("torch."):
            identity["module_class"] = callable_identity(model_cls)
        return canonical_json(
            {
                "trainer": f"{type(self).__module__}.{type(self).__qualname__}",
                "config": config,
                "model": identity,
                "torch": torch.__version__.split("+")[0],
            }
        )

    def fingerprint(self) -> str:
        """Canonical JSON identifying this configuration (part of every cache key).

        Covers every option, the model factory (name, arguments and source code), the
        architecture and initialisation scheme (the repr and the seed-0 initial weights of one
        model built by the factory) and torch's version.
        """
        return self._fingerprint

    # ------------------------------------------------------------------ pieces
    @property
    def torch_device(self) -> torch.device:
        """The training device as a :class:`torch.device`."""
        return torch.device(self.device)

    def _instantiate(self, init_seed: int) -> nn.Module:
        # The vectorized EnsembleTrainer builds its models through this method; it has no
        # per-example clipping or noise, so a DP trainer must not reach it.
        if self.dp is not None:
            raise ValueError(
                "the vectorized ensemble trainer does not implement DP-SGD (per-example "
                "clipping and noise); train DP models with vectorized=False (one model per "
                "job; use a ProcessExecutor to train several at once)"
            )
        return self._new_model(init_seed)

    def _new_model(self, init_seed: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            model = self.model_factory()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model_factory must return a torch.nn.Module, got {type(model)!r}")
        return model

    def init_model(self, seed: int) -> nn.Module:
        """The freshly initialised model that :meth:`fit` starts from for this seed."""
        init_seed = derive_seeds(check_seed(seed), 3)[0]
        return self._new_model(init_seed).to(self.torch_device)

    def build(self, state_dict: StateDict) -> nn.Module:
        """A model from the factory with the given weights loaded, in eval mode."""
        with torch.random.fork_rng(devices=[]):
            model = self.model_factory()
        model.load_state_dict(state_dict)
        return model.to(self.torch_device).eval()

    def make_optimizer(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        """The configured optimizer over ``params`` (elementwise, so stacking models is exact)."""
        fused = self.fused and all(
            p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
        )
        kwargs: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            cls: Any = torch.optim.SGD
            kwargs["momentum"] = self.momentum
        else:
            cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
            kwargs.update(betas=self.betas, eps=self.eps)
        if fused:
            try:
                opt: torch.optim.Optimizer = cls(params, fused=True, **kwargs)
                return opt
            except (RuntimeError, ValueError, TypeError):
                pass  # no fused kernel for this device in this torch version (CPU: torch < 2.4)
        opt = cls(params, **kwargs)
        return opt

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of optimisation step ``step`` (0-based)."""
        if self.schedule == "cosine":
            total = self.epochs * steps_per_epoch
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
        if self.schedule == "step":
            return self.lr * self.gamma ** ((step // steps_per_epoch) // self.step_size)
        return self.lr

    def tensors(self, x: Any, y: Any, like: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` and ``y`` as tensors on the device (floats in the model's dtype)."""
        device = self.torch_device
        dtype = next((p.dtype for p in like.parameters() if p.is_floating_point()), torch.float32)
        xt, yt = _as_tensor(x), _as_tensor(y)
        if xt.shape[0] != yt.shape[0]:
            raise ValueError(f"x has {xt.shape[0]} rows but y has {yt.shape[0]}")
        if xt.is_floating_point():
            xt = xt.to(dtype)
        yt = yt.to(torch.long) if self.loss == "cross_entropy" else yt.to(dtype)
        return xt.to(device), yt.to(device)

    # ------------------------------------------------------------------- train
    def fit(self, x: Any, y: Any, indices: ArrayLike, *, seed: int) -> StateDict:
        """Train one model on ``x[indices], y[indices]`` and return its CPU state dict.

        Parameters
        ----------
        x, y : array_like or torch.Tensor
            The whole dataset (rows are points); ``indices`` selects the training set.
        indices : array_like of int
            Row indices of the training points.
        seed : int
            Non-negative seed; the same seed gives bit-identical weights.

        Returns
        -------
        dict of str to torch.Tensor
            ``model.state_dict()``, detached, on the CPU.

        Notes
        -----
        Each optimizer step reports one unit of progress (:func:`privmeter._progress.tick`),
        which :func:`~privmeter.training.train_models` shows as a progress bar.
        """
        seed = check_seed(seed)
        n_rows = int(np.shape(x)[0]) if not isinstance(x, torch.Tensor) else int(x.shape[0])
        idx = check_indices(indices, n_rows)
        if self.dp is not None:
            return self._fit_dp(x, y, idx, seed)
        init_seed, order_seed, noise_seed = derive_seeds(seed, 3)
        device = self.torch_device
        with torch_threads(self.num_threads), isolated_torch_rng(device, noise_seed):
            model = self._new_model(init_seed).to(device)
            model.train()
            xt, yt = self.tensors(x, y, model)
            params = [p for p in model.parameters() if p.requires_grad]
            opt = self.make_optimizer(params)
            gen = torch.Generator().manual_seed(order_seed)
            idx_t = torch.from_numpy(idx.copy())
            n = idx_t.numel()
            bs = self.batch_size
            steps_per_epoch = -(-n // bs)
            step = 0
            for _ in range(self.epochs):
                order = idx_t[torch.randperm(n, generator=gen)].to(device)
                for start in range(0, n, bs):
                    batch = order[start : start + bs]
                    loss = compute_loss(self.loss, model(xt[batch]), yt[batch])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    lr = self.lr_at(step, steps_per_epoch)
                    for group in opt.param_groups:
                        group["lr"] = lr
                    opt.step()
                    step += 1
                    tick(1)
        return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}

    def steps(self, n_points: int) -> int:
        """Optimizer steps of one :meth:`fit` on ``n_points`` points (the progress units)."""
        return self.epochs * -(-int(n_points) // self.batch_size)

    # ---------------------------------------------------------------------- DP
    def privacy_spent(self, n_points: int) -> dict[str, Any]:
        """The accountants' (epsilon, delta) of one :meth:`fit` on ``n_points`` points.

        Deterministic from the configuration and ``n_points`` (nothing is stored with the
        model): see :func:`privmeter.training.dp.privacy_spent` for the keys (``epsilon``,
        the claimed one, ``epsilon_rdp``, ``epsilon_prv``, ``delta``, ``noise_multiplier``,
        ``sample_rate``, ``steps``, ``max_grad_norm``, ...).

        Raises
        ------
        ValueError
            Without ``dp``, or when ``delta >= 1 / n_points`` or the target epsilon is out
            of reach.

        Examples
        --------
        >>> from torch import nn
        >>> from privmeter.training import DPConfig
        >>> t = TorchTrainer(nn.Flatten, epochs=5, batch_size=50,
        ...                  dp=DPConfig(noise_multiplier=1.0, delta=1e-4))
        >>> spent = t.privacy_spent(1000)
        >>> spent["steps"], spent["sample_rate"], spent["epsilon"] == spent["epsilon_rdp"]
        (100, 0.05, True)
        """
        if self.dp is None:
            raise ValueError(
                "this trainer is not differentially private (dp=None): it has no epsilon; "
                "pass dp=DPConfig(...) to train with DP-SGD"
            )
        from privmeter.training.dp import privacy_spent

        n = check_int("n_points", n_points, minimum=1)
        return privacy_spent(self.dp, n_points=n, batch_size=self.batch_size, epochs=self.epochs)

    def _dp_noise_multiplier(self, accounted: float) -> float:
        """The noise multiplier the optimizer adds (the accounted one; tests override it)."""
        return accounted

    def _fit_dp(self, x: Any, y: Any, idx: np.ndarray[Any, Any], seed: int) -> StateDict:
        from privmeter.training.dp import (
            check_dp_model,
            dp_sample_rate,
            make_dp_step,
            resolve_noise_multiplier,
        )

        dp = self.dp
        assert dp is not None
        n = int(idx.size)
        dp.check_delta(n)
        sigma = resolve_noise_multiplier(  # the configured one, or the target epsilon's
            dp, n_points=n, batch_size=self.batch_size, epochs=self.epochs
        )
        init_seed, order_seed, layer_seed, dp_noise_seed = derive_seeds(seed, 4)
        device = self.torch_device
        q = dp_sample_rate(n, self.batch_size)
        bs = self.batch_size
        steps_per_epoch = -(-n // bs)
        with torch_threads(self.num_threads), isolated_torch_rng(device, layer_seed), \
                warnings.catch_warnings():
            # Opacus' hooks fire on modules whose inputs need no grad: harmless here
            warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
            model = self._new_model(init_seed).to(device)
            check_dp_model(model)
            model.train()
            xt, yt = self.tensors(x, y, model)
            params = [p for p in model.parameters() if p.requires_grad]
            base_opt = self.make_optimizer(params)
            gsm, opt = make_dp_step(
                model, base_opt,
                noise_multiplier=self._dp_noise_multiplier(sigma),
                max_grad_norm=dp.max_grad_norm,
                expected_batch_size=(q * n) if dp.poisson_sampling else float(bs),
                noise_seed=dp_noise_seed,
            )
            gen = torch.Generator().manual_seed(order_seed)
            idx_t = torch.from_numpy(idx.copy())
            step = 0
            for _ in range(self.epochs):
                if not dp.poisson_sampling:
                    order = idx_t[torch.randperm(n, generator=gen)].to(device)
                for start in range(0, steps_per_epoch * bs, bs):
                    if dp.poisson_sampling:
                        chosen = torch.rand(n, generator=gen) < q
                        batch = idx_t[chosen].to(device)
                    else:
                        batch = order[start : start + bs]
                    out = gsm(xt[batch])
                    loss = per_example_loss(self.loss, out, yt[batch]).sum()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    lr = self.lr_at(step, steps_per_epoch)
                    for group in opt.param_groups:
                        group["lr"] = lr
                    opt.step()
                    step += 1
                    tick(1)
            gsm.to_standard_module()  # remove Opacus' hooks and per-example gradients
        return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
