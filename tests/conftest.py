"""Shared fixtures and synthetic tables with known answers."""

from __future__ import annotations

import os

# Keras 3 on the torch backend (CI installs no TensorFlow); set before anything imports keras
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

import privmeter as pm


def balanced_membership(rng: np.random.Generator, n_models: int, n_points: int) -> np.ndarray:
    """Each point IN for exactly half of the models (n_models even)."""
    return np.argsort(rng.random((n_models, n_points)), axis=0) < n_models // 2


def gaussian_table(
    *,
    n_models: int,
    n_points: int,
    d: float,
    s: float = 1.0,
    mu_spread: float = 3.0,
    n_population: int = 0,
    n_queries: int = 1,
    seed: int = 0,
) -> pm.SignalTable:
    """Per-point means mu_i; OUT ~ N(mu_i, s^2), IN ~ N(mu_i + d, s^2) on the logit scale.

    The last ``n_population`` points are population points that the target (model 0) never
    trained on. The optimal test's AUC is Phi(d / (s sqrt 2)).
    """
    rng = np.random.default_rng(seed)
    n = n_points + n_population
    mu = rng.normal(0.0, mu_spread, size=n)
    mem = balanced_membership(rng, n_models, n)
    mem[0, n_points:] = False
    shape = (n_models, n, n_queries)
    values = mu[None, :, None] + rng.normal(0.0, s, size=shape) + d * mem[:, :, None]
    role = np.array(["audit"] * n_points + ["population"] * n_population)
    return pm.SignalTable(values, mem, role=role)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pdf_text_cells(report: pm.AuditReport, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Render ``report`` as a PDF (no figures) and return every text cell it wrote, as the
    PDF writer cleaned it (a spy on ``pdf._clean``): the PDF's text without a PDF parser."""
    from privmeter.report import pdf

    seen: list[str] = []
    real = pdf._clean

    def spy(text: object) -> str:
        out = real(text)
        seen.append(out)
        return out

    monkeypatch.setattr(pdf, "_clean", spy)
    assert pdf.render_pdf(report, figures={}).startswith(b"%PDF-")
    return seen
