"""Helpers shared by the DP-SGD tests: a 4-class task, its MLP and a broken DP trainer."""

from __future__ import annotations

import numpy as np
from torch import nn

from privmeter.training import TorchTrainer


def make_mlp(d: int, hidden: int) -> nn.Module:
    """A ``d``-input, 4-class MLP with one hidden layer (use with functools.partial)."""
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 4))


class NoNoiseTrainer(TorchTrainer):
    """Broken DP-SGD: the accountant is told sigma, the optimizer adds no noise."""

    def _dp_noise_multiplier(self, accounted: float) -> float:
        return 0.0


def four_class_task(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Gaussian points in ``d`` dimensions; the class is the signs of features 0 and 1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x, ((x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0).astype(np.int64))
