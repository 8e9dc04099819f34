"""Small picklable model factories (usable in worker processes and on Ray)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from privmeter import architectures
from privmeter._validation import is_int

__all__ = ["MLP"]


@dataclass(frozen=True)
class MLP:
    """A factory of multi-layer perceptrons: ``MLP((64, 128, 10))()`` is a new random model.

    Each call builds a :class:`privmeter.architectures.MLP` (layers in ``net``), the network
    that configs with ``architecture: mlp`` train.

    A frozen dataclass rather than a lambda or a closure, so it pickles (process-pool and Ray
    executors) and has a stable identity for cache keys.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths from input to output (at least two).
    activation : {"relu", "tanh", "gelu"}
        Between hidden layers.

    Examples
    --------
    >>> MLP((4, 8, 3))()
    MLP(
      (net): Sequential(
        (0): Linear(in_features=4, out_features=8, bias=True)
        (1): ReLU()
        (2): Linear(in_features=8, out_features=3, bias=True)
      )
    )
    """

    sizes: tuple[int, ...]
    activation: Literal["relu", "tanh", "gelu"] = "relu"

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes)
        if len(sizes) < 2 or not all(is_int(s) and s >= 1 for s in sizes):
            raise ValueError(f"sizes must be at least two positive integers, got {self.sizes!r}")
        if self.activation not in architectures.ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of "
                f"{sorted(architectures.ACTIVATIONS)}"
            )
        object.__setattr__(self, "sizes", sizes)

    def __call__(self) -> architectures.MLP:
        return architectures.MLP(
            self.sizes[0], self.sizes[-1], hidden=self.sizes[1:-1], activation=self.activation
        )
