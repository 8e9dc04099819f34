"""Small picklable model factories (usable in worker processes and on Ray)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

__all__ = ["MLP"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@dataclass(frozen=True)
class MLP:
    """A factory of multi-layer perceptrons: ``MLP((64, 128, 10))()`` is a new random model.

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
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """

    sizes: tuple[int, ...]
    activation: Literal["relu", "tanh", "gelu"] = "relu"

    def __post_init__(self) -> None:
        sizes = tuple(self.sizes)
        if len(sizes) < 2 or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes
        ):
            raise ValueError(f"sizes must be at least two positive integers, got {self.sizes!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of {sorted(_ACTIVATIONS)}"
            )
        object.__setattr__(self, "sizes", sizes)

    def __call__(self) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            if i:
                layers.append(_ACTIVATIONS[self.activation]())
            layers.append(nn.Linear(fan_in, fan_out))
        return nn.Sequential(*layers)
