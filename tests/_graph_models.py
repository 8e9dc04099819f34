"""Shared by the ONNX / OpenVINO / framework-config tests: a small torch MLP, a two-output
module, their ONNX export and the Gaussian-blob data they are trained on."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

N, D, C = 240, 6, 3


def make_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(D, 32), torch.nn.ReLU(), torch.nn.Linear(32, C))


class TwoHeads(torch.nn.Module):
    """Two float outputs: class scores and a hidden layer (an ambiguous graph)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(D, 8)
        self.head = torch.nn.Linear(8, C)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.head(h), h


def export(module: torch.nn.Module, path: Path, *, dynamic: bool = True,
           outputs: tuple[str, ...] = ("logits",), batch: int = 1) -> Path:
    """``torch.onnx.export`` (TorchScript exporter) with input ``x`` and a dynamic batch."""
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (torch.zeros(batch, D),), str(path), input_names=["x"],
            output_names=list(outputs), dynamo=False,
            dynamic_axes={"x": {0: "n"}, **{o: {0: "n"} for o in outputs}} if dynamic else None,
        )
    return path


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``N`` points of ``C`` Gaussian classes in ``D`` dimensions (float32 x, int64 y)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.5, size=(C, D))
    y = rng.integers(0, C, size=N)
    x = (centers[y] + rng.normal(size=(N, D))).astype(np.float32)
    return x, y.astype(np.int64)
