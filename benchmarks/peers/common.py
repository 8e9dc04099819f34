"""Helpers shared by every script of the peer benchmark, in every virtual environment.

This module needs only the standard library and numpy (torch is imported lazily by
:func:`build_mlp`), so the same file runs in privmeter's venv and in the peers' venvs
(``privacy-meter==1.0.1``, IBM ART). It defines:

- where the shared artefacts live (``benchmarks/peers/.work/<task>/``) and how they are read;
- the MLP layout privmeter trains (``net.0``, ``net.2``, ... as in
  ``privmeter.training.MLP``), so a peer rebuilds exactly the same network from the saved
  weights;
- :class:`Meter`: wall time and peak resident memory of one step;
- :func:`write_result`: the per-point scores and measurements a tool hands back to the driver.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
REFERENCE_BUDGET = 8

__all__ = [
    "HERE",
    "REFERENCE_BUDGET",
    "WORK",
    "Meter",
    "build_mlp",
    "load_mlp_states",
    "load_task",
    "rss_mb",
    "write_result",
]


# ------------------------------------------------------------------ memory and time
def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    kb = _status_kb("VmRSS")
    if kb is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return kb / 1024.0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return kb / 1024.0


class Meter:
    """Wall time and peak resident memory of the code inside a ``with`` block.

    ``peak_mb`` is the process's peak RSS during the block (the kernel's VmHWM, reset at the
    start of the block), ``extra_mb`` the same minus the RSS at the start: the memory the step
    itself needed, native allocations (torch, TensorFlow, BLAS) included.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.start_mb = 0.0
        self.peak_mb = 0.0

    def __enter__(self) -> Meter:
        self.start_mb = rss_mb()
        self.exact = _reset_peak()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.peak_mb = max(_peak_mb(), rss_mb())

    @property
    def extra_mb(self) -> float:
        return max(0.0, self.peak_mb - self.start_mb)

    def as_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "peak_mb": self.peak_mb, "extra_mb": self.extra_mb}


# ------------------------------------------------------------------ shared artefacts
def task_dir(task: str) -> Path:
    return WORK / task


def load_task(task: str) -> dict[str, Any]:
    """The task bundle written by ``prepare.py``: data, splits, keep matrices, settings.

    Keys: ``x`` (float32, all rows), ``y`` (int64), ``members``, ``non_members``,
    ``population``, ``offline_pool`` (row indices), ``keep_online`` / ``keep_offline``
    (bool, reference models x rows), and ``meta`` (a dict: model kind, classes, training
    settings, seeds).
    """
    d = task_dir(task)
    with np.load(d / "data.npz", allow_pickle=False) as z:
        out: dict[str, Any] = {k: z[k] for k in z.files}
    out["meta"] = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    return out


def audit_rows(bundle: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the audited points (members first) and their true membership."""
    rows = np.r_[bundle["members"], bundle["non_members"]]
    n_in, n_out = bundle["members"].size, bundle["non_members"].size
    membership = np.r_[np.ones(n_in, dtype=bool), np.zeros(n_out, dtype=bool)]
    return rows, membership


def load_mlp_states(task: str) -> dict[str, dict[str, np.ndarray]]:
    """Saved MLP weights: ``{"target": {...}, "online0": {...}, ..., "offline7": {...}}``."""
    states: dict[str, dict[str, np.ndarray]] = {}
    with np.load(task_dir(task) / "models.npz", allow_pickle=False) as z:
        for key in z.files:
            model, _, param = key.partition("/")
            states.setdefault(model, {})[param] = z[key]
    return states


def build_mlp(in_features: int, n_classes: int, hidden: list[int], state: dict[str, Any] | None):
    """The MLP privmeter trains (``privmeter.training.MLP``): Linear/ReLU stack in ``net``.

    Rebuilt here from its layout so that a peer's environment needs no privmeter; with
    ``state`` the saved weights are loaded (strictly: every key must match).
    """
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            width = in_features
            for h in hidden:
                layers += [nn.Linear(width, int(h)), nn.ReLU()]
                width = int(h)
            layers.append(nn.Linear(width, n_classes))
            self.net = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x.flatten(1))

    model = MLP()
    if state is not None:
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    model.eval()
    return model


def write_result(path: Path, *, tool: str, attacks: dict[str, dict[str, Any]],
                 import_meter: Meter, notes: list[str], versions: dict[str, str],
                 extra: dict[str, Any] | None = None) -> None:
    """Write one tool's scores (``<attack>.npy`` inside an npz) and measurements (JSON).

    ``attacks[name]`` holds ``scores`` (per audited point, members first, higher = member),
    ``meter`` (a :class:`Meter` of the attack step) and optionally ``extra_seconds`` (work
    outside the audit step, e.g. shadow-model training) and ``note``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(a["scores"], dtype=np.float64) for name, a in attacks.items()}
    np.savez(path.with_suffix(".npz"), **arrays)
    info = {
        "tool": tool,
        "versions": versions,
        "import": import_meter.as_dict(),
        "notes": notes,
        "attacks": {
            name: {
                "meter": a["meter"].as_dict(),
                **{k: v for k, v in a.items() if k not in ("scores", "meter")},
            }
            for name, a in attacks.items()
        },
        "extra": extra or {},
        "pid": os.getpid(),
    }
    path.with_suffix(".json").write_text(json.dumps(info, indent=1), encoding="utf-8")
