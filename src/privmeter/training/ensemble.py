"""Train K models of one architecture at once with ``torch.func`` (one optimizer, one loop).

Reference models (LiRA, Carlini et al., S&P 2022; RMIA, Zarifzadeh et al., ICML 2024) are many
small models of one architecture trained on different halves of the data: training them is
nearly the whole cost of an audit. Small models leave a CPU or GPU idle between Python calls;
stacking K of them and running the K forward/backward passes as batched matrix products
(``vmap`` over ``functional_call``) does the same arithmetic with K times fewer Python steps.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from privmeter._progress import tick
from privmeter.training._hashing import check_indices, check_seed, derive_seeds
from privmeter.training.torch_trainer import (
    StateDict,
    TorchTrainer,
    isolated_torch_rng,
    stacked_loss,
    torch_threads,
)

__all__ = ["EnsembleTrainer"]


def _check_stackable(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            raise ValueError(
                f"the ensemble trainer cannot train {type(module).__name__} layer {name!r} with "
                "running statistics (in-place buffer updates cannot be vectorized); use "
                "track_running_stats=False, GroupNorm/LayerNorm, or the single-model trainer "
                "(vectorized=False)"
            )


@dataclass(frozen=True)
class EnsembleTrainer:
    """Vectorized training of K models: the same maths as K :meth:`TorchTrainer.fit` runs.

    Each model ``k`` is initialised exactly as ``trainer.fit(..., seed=seeds[k])`` would
    initialise it, draws its own batch order from its own generator, and trains on its own
    index set. Parameters of the K models are stacked (:func:`torch.func.stack_module_state`);
    one step evaluates all K models on their own ``(K, B, ...)`` batches with
    ``vmap(functional_call)`` and back-propagates the *sum* of the K per-model mean losses,
    which gives every model exactly its own gradient (the models share no parameter). One
    optimizer updates the stack: SGD (with momentum and L2 weight decay), Adam and AdamW are
    elementwise, so each model's update, weight decay and optimizer state are its own. Results
    agree with separate runs to float rounding (batched and unbatched matrix products may
    round differently). The rounding can also change with the number of stacked models and a
    model's place in the stack, so a model is bit-reproducible only in the same ensemble:
    :func:`~privmeter.training.train_models` always trains the same fixed groups
    (:func:`~privmeter.training.ensemble_groups`) and retrains a whole group on resume.
    Dropout masks come from one stream seeded by the whole group's seeds.

    Requirements: all index sets have the same size (a balanced
    :func:`~privmeter.training.keep_matrix` guarantees it for even ``n_points``), and no
    BatchNorm running statistics. Random layers (dropout) are supported but draw their masks
    from a different stream than the single-model trainer.

    Parameters
    ----------
    trainer : TorchTrainer
        The per-model configuration.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> def make_model():
    ...     return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> trainer = TorchTrainer(make_model, optimizer="adam", lr=1e-2, epochs=2, batch_size=8)
    >>> x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> y = np.arange(20) % 3
    >>> states = EnsembleTrainer(trainer).fit(x, y, [np.arange(10), np.arange(10, 20)],
    ...                                       seeds=[1, 2])
    >>> alone = trainer.fit(x, y, np.arange(10, 20), seed=2)
    >>> all(torch.allclose(states[1][k], alone[k], atol=1e-6) for k in alone)
    True
    """

    trainer: TorchTrainer

    def fit(
        self, x: Any, y: Any, indices: Sequence[ArrayLike], *, seeds: Sequence[int]
    ) -> list[StateDict]:
        """Train ``len(seeds)`` models; model ``k`` on ``indices[k]`` with ``seeds[k]``.

        Returns
        -------
        list of dict of str to torch.Tensor
            One CPU state dict per model, in order.

        Raises
        ------
        ValueError
            If ``indices`` and ``seeds`` differ in length, the index sets differ in size, or
            the model has BatchNorm running statistics.
        """
        cfg = self.trainer
        seed_list = [check_seed(s) for s in seeds]
        if len(indices) != len(seed_list):
            raise ValueError(
                f"got {len(indices)} index sets but {len(seed_list)} seeds; one of each per model"
            )
        if not seed_list:
            return []
        n_rows = int(x.shape[0]) if isinstance(x, torch.Tensor) else int(np.shape(x)[0])
        idx_list = [
            check_indices(i, n_rows, name=f"indices[{k}]") for k, i in enumerate(indices)
        ]
        sizes = sorted({len(i) for i in idx_list})
        if len(sizes) > 1:
            raise ValueError(
                f"ensemble training needs index sets of equal size, got sizes {sizes}; train "
                "each size group separately (train_models(..., vectorized=True) does this)"
            )
        k_models = len(seed_list)
        derived = [derive_seeds(s, 3) for s in seed_list]
        noise_seed = int(
            np.random.SeedSequence([d[2] for d in derived]).generate_state(1, dtype=np.uint64)[0]
            & np.uint64(0x7FFF_FFFF_FFFF_FFFF)
        )
        device = cfg.torch_device
        with torch_threads(cfg.num_threads), isolated_torch_rng(device, noise_seed):
            models = [cfg._instantiate(d[0]).to(device) for d in derived]
            _check_stackable(models[0])
            template = models[0]
            state_keys = list(template.state_dict(keep_vars=True).keys())
            alias = _state_aliases(template)
            trainable = {
                name for name, p in template.named_parameters() if p.requires_grad
            }
            params, buffers = stack_module_state(models)  # type: ignore[no-untyped-call]
            for name, p in params.items():
                p.requires_grad_(name in trainable)
            base = copy.deepcopy(template).to("meta")
            base.train()
            del models

            def one_model(
                p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor
            ) -> torch.Tensor:
                out: torch.Tensor = functional_call(base, (p, b), (xb,))
                return out

            batched_forward = vmap(one_model, randomness="different")
            xt, yt = cfg.tensors(x, y, template)
            opt = cfg.make_optimizer([params[n] for n in params if n in trainable])
            gens = [torch.Generator().manual_seed(d[1]) for d in derived]
            idx_t = torch.from_numpy(np.stack(idx_list))  # (K, n)
            n = idx_t.shape[1]
            bs = cfg.batch_size
            steps_per_epoch = -(-n // bs)
            step = 0
            for _ in range(cfg.epochs):
                perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
                order = torch.gather(idx_t, 1, perms).to(device)
                for start in range(0, n, bs):
                    batch = order[:, start : start + bs]  # (K, B)
                    output = batched_forward(params, buffers, xt[batch])  # (K, B, ...)
                    losses = stacked_loss(cfg.loss, output, yt[batch])  # (K,)
                    opt.zero_grad(set_to_none=True)
                    losses.sum().backward()  # type: ignore[no-untyped-call]
                    lr = cfg.lr_at(step, steps_per_epoch)
                    for group in opt.param_groups:
                        group["lr"] = lr
                    opt.step()
                    step += 1
                    tick(k_models)  # one optimizer step of each of the K models

        stacked = {**params, **buffers}
        return [
            {key: stacked[alias[key]][k].detach().to("cpu").clone() for key in state_keys}
            for k in range(k_models)
        ]


def _state_aliases(model: nn.Module) -> dict[str, str]:
    """Map each state-dict key to the name under which stack_module_state stores the tensor
    (tied parameters appear once in ``named_parameters`` but under every name in the state)."""
    canonical: dict[int, str] = {}
    for name, p in model.named_parameters():
        canonical.setdefault(id(p), name)
    for name, b in model.named_buffers():
        canonical.setdefault(id(b), name)
    out: dict[str, str] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) not in canonical:
            raise ValueError(f"state entry {key!r} is neither a parameter nor a buffer")
        out[key] = canonical[id(tensor)]
    return out
