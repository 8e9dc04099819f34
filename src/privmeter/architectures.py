"""Built-in model architectures for reference and target models (PyTorch).

Every architecture is a plain ``nn.Module`` class whose constructor takes only numbers, so
``functools.partial(Class, ...)`` is a picklable model factory for any executor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from privmeter._names import _closest_names

__all__ = [
    "ARCHITECTURES",
    "MLP",
    "LogisticRegression",
    "SmallCNN",
    "WideResNet",
    "make_factory",
]


class LogisticRegression(nn.Module):
    """Multinomial logistic regression: one linear layer on flattened inputs.

    Examples
    --------
    >>> LogisticRegression(64, 10)(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))  # type: ignore[no-any-return]


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLP(nn.Module):
    """Fully connected network (ReLU by default) on flattened inputs, layers in ``net``.

    Examples
    --------
    >>> MLP(64, 10, hidden=(128, 128))(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
            width = int(h)
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))  # type: ignore[no-any-return]


class SmallCNN(nn.Module):
    """Two 3x3 conv blocks (ReLU, 2x2 max-pool) and a linear head, for small images.

    Examples
    --------
    >>> SmallCNN(1, 10, image_size=8)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, n_classes: int, *, image_size: int = 32,
                 width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.head = nn.Linear(2 * width * side * side, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # type: ignore[no-any-return]


class _WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        # GroupNorm instead of BatchNorm: no running statistics, so models can be trained
        # stacked by the vectorized ensemble trainer.
        self.n1 = nn.GroupNorm(min(8, c_in), c_in)
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.n2 = nn.GroupNorm(min(8, c_out), c_out)
        self.c2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.short = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.n1(x))
        y = self.c1(o)
        y = self.c2(torch.relu(self.n2(y)))
        skip = x if isinstance(self.short, nn.Identity) else self.short(o)
        return y + skip  # type: ignore[no-any-return]


class WideResNet(nn.Module):
    """Wide residual network WRN-(6n+4)-k (Zagoruyko & Komodakis, BMVC 2016), GroupNorm.

    ``depth=16, widen=4`` is the WRN-16-4 of the LiRA paper's CIFAR-10 experiments.

    Examples
    --------
    >>> WideResNet(3, 10, depth=10, widen=1)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, n_classes: int, *, depth: int = 16,
                 widen: int = 4) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n + 4 (10, 16, 22, 28, ...), got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)]
        c = widths[0]
        for stage, w in enumerate(widths[1:]):
            for i in range(n):
                layers.append(_WideBlock(c, w, 2 if (i == 0 and stage > 0) else 1))
                c = w
        self.body = nn.Sequential(*layers)
        self.norm = nn.GroupNorm(min(8, c), c)
        self.head = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.body(x)))
        return self.head(h.mean(dim=(2, 3)))  # type: ignore[no-any-return]


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "logistic": LogisticRegression,
    "mlp": MLP,
    "cnn": SmallCNN,
    "wide_resnet": WideResNet,
}


def make_factory(
    name: str, *, input_shape: Sequence[int], n_classes: int, **options: Any
) -> Callable[[], nn.Module]:
    """A picklable model factory for a built-in architecture.

    ``input_shape`` is one point's shape, e.g. ``(64,)`` for tabular data or ``(1, 8, 8)``
    for images; vector architectures flatten it, image architectures need ``(C, H, W)``.

    Examples
    --------
    >>> f = make_factory("mlp", input_shape=(64,), n_classes=10, hidden=(32,))
    >>> f()(torch.zeros(1, 64)).shape
    torch.Size([1, 10])
    """
    if name not in ARCHITECTURES:
        close = _closest_names(name, ARCHITECTURES)
        hint = f" (did you mean {close}?)" if close is not None else ""
        raise ValueError(
            f"unknown architecture {name!r}{hint}; built-in: {', '.join(ARCHITECTURES)}"
        )
    cls = ARCHITECTURES[name]
    shape = tuple(int(s) for s in input_shape)
    if name in ("logistic", "mlp"):
        flat = 1
        for s in shape:
            flat *= s
        if name == "mlp":
            options["hidden"] = tuple(int(h) for h in options.get("hidden", (128, 128)))
        return functools.partial(cls, flat, n_classes, **options)
    if len(shape) != 3:
        raise ValueError(
            f"architecture {name!r} needs image inputs of shape (C, H, W), got {shape}"
        )
    if name == "cnn":
        options.setdefault("image_size", shape[1])
        options.setdefault("width", 32)
    if name == "wide_resnet":
        options.setdefault("depth", 16)
        options.setdefault("widen", 4)
    return functools.partial(cls, shape[0], n_classes, **options)
