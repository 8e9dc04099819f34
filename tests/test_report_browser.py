"""report.html in a real headless Chromium: it loads without console errors, its script runs
under its Content-Security-Policy, and a screenshot shows the ROC plot."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from privmeter.report import AuditReport, RecordData
from privmeter.result import AttackResult

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    # CI sets PRIVMETER_REQUIRE_BROWSER=1: there a missing browser fails instead of skipping
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and os.environ.get("PRIVMETER_REQUIRE_BROWSER") != "1",
        reason=f"{CHROMIUM} is absent (CI installs it with: apt-get install -y chromium)",
    ),
]
WIDTH, HEIGHT = 1280, 2000
PLOT_HEIGHT = 460
#: matplotlib's "C0", the colour of the first attack's ROC curve.
C0 = np.array([0x1F, 0x77, 0xB4]) / 255.0


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
        f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    n = 800
    member = rng.random(n) < 0.5
    labels = rng.integers(0, 4, n)
    pid = rng.permutation(5 * n)[:n]
    results = (
        AttackResult.from_scores("lira", rng.normal(size=n) + 1.5 * member, member,
                                 point_ids=pid, labels=labels),
        AttackResult.from_scores("loss", rng.normal(size=n) + 0.4 * member, member,
                                 point_ids=pid, labels=labels),
    )
    records = RecordData(pid, features=rng.normal(size=(n, 2)),
                         feature_names=["<script>alert(1)</script>", "b"],
                         class_names=["a", "b", "c", "<img src=x onerror=alert(1)>"])
    out = tmp_path_factory.mktemp("browser") / "report"
    AuditReport(results, card={"game": "model", "<script>x</script>": "y"}, records=records,
                title="Browser check").save(out, formats=("html",))
    return out / "report.html"


def test_report_loads_without_console_errors(report_html: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--virtual-time-budget=3000", "--dump-dom", report_html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    # every console message of the page (errors, CSP violations, uncaught exceptions) is
    # logged as "CONSOLE"; the report itself logs nothing
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], "\n".join(console)
    assert "Refused to" not in proc.stderr
    dom = proc.stdout
    assert "Privacy risk:" in dom and 'id="summary-table"' in dom
    # the inline script ran (so its CSP hash is right) and made the tables sortable
    assert re.search(r'<html[^>]*data-js="ready"', dom), dom[:400]
    assert 'title="Sort by this column"' in dom
    # payloads from the data stayed text
    assert "<script>alert(1)</script>" not in dom
    assert "<img src=x" not in dom and "<img src=\"x\"" not in dom


def test_screenshot_shows_the_roc_plot(report_html: Path, tmp_path: Path) -> None:
    from matplotlib import image

    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path / "profile", f"--window-size={WIDTH},{HEIGHT}",
                     "--virtual-time-budget=3000", f"--screenshot={shot}",
                     report_html.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    px = image.imread(str(shot))[:, :, :3]
    assert px.shape[:2] == (HEIGHT, WIDTH)
    non_white = (px < 0.94).any(axis=2)
    assert non_white.mean() > 0.05  # the page rendered, it is not blank
    # The ROC overview's first curve is drawn in C0. Anti-aliased link text has a few pixels
    # of a similar blue, scattered; the curves put well over a thousand of them in one
    # plot-sized band (the figure is 460 px tall), across both panels.
    blue: NDArray[np.bool_] = np.asarray((np.abs(px - C0) < 0.08).all(axis=2))
    per_row = blue.sum(axis=1)
    window = np.convolve(per_row, np.ones(PLOT_HEIGHT, dtype=int), mode="valid")
    top = int(np.argmax(window))
    assert window[top] > 1200, f"only {int(window[top])} pixels of the ROC curve's colour"
    cols = np.flatnonzero(blue[top : top + PLOT_HEIGHT].sum(axis=0))
    assert cols.min() < WIDTH / 2 < cols.max()  # linear and log-log panels side by side


@pytest.fixture(scope="module")
def text_report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A text audit: texts with markup and tokens coloured by log-probability, the blind
    baseline (not comparable), canaries, a DP audit and a DP-SGD claim."""
    rng = np.random.default_rng(11)
    n = 200
    member = np.arange(n) < n // 2
    pid = np.arange(n)
    scores = rng.normal(size=n) + 1.2 * member
    scores[0] = 9.0
    results = (AttackResult.from_scores("min_k", scores, member, point_ids=pid),)
    texts = [f"patient {i} <script>alert({i})</script> & notes" for i in range(n)]
    tokens = [(t.split(" "), np.r_[np.nan, -rng.exponential(3.0, len(t.split(" ")) - 1)])
              for t in texts]
    extras = {
        "blind_baseline": {"auc": 0.9, "auc_ci": [0.85, 0.95], "comparable": False,
                           "reason": "members are <b>older</b>", "n_members": 100,
                           "n_non_members": 100},
        "canaries": {"template": "pin {d}{d}{d}{d}", "space_size": 10_000,
                     "canaries": [{"text": f"pin {1000 + r}", "repetitions": r,
                                   "exposure": 1.5 * r, "exposure_rank": None,
                                   "max_exposure": 13.29} for r in (1, 2, 4, 8)]},
        "dp": {"claimed_epsilon": 1.0, "delta": 1e-5, "verdict": "violated",
               "summary": "The DP claim does not hold <i>.",
               "lower_bounds": [{"method": "one run", "epsilon_lb": 2.5, "confidence": 0.95}]},
        "dp_claim": {"epsilon": 1.0, "delta": 1e-5},
    }
    out = tmp_path_factory.mktemp("browser-text") / "report"
    AuditReport(results, records=RecordData(pid, texts=texts, tokens=tokens), extras=extras,
                title="Text browser check").save(out, formats=("html",))
    return out / "report.html"


def test_text_report_loads_without_console_errors(text_report_html: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--virtual-time-budget=3000", "--dump-dom", text_report_html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], "\n".join(console)
    assert "Refused to" not in proc.stderr
    dom = proc.stdout
    assert re.search(r'<html[^>]*data-js="ready"', dom), dom[:400]
    # the data's markup stayed text, in the texts, the tokens, the extras
    assert "<script>alert(" not in dom and "<b>older</b>" not in dom and "<i>." not in dom
    assert "&lt;script&gt;alert(0)&lt;/script&gt;" in dom
    assert re.search(r'<span class="tok tok[0-7]" title="log p = -[0-9.]+ \(p = ', dom)
    assert '<span class="tok tok-na" title="not scored">patient</span>' in dom
    assert 'class="dp-box dp-violated"' in dom and "DP CLAIM VIOLATED" in dom
    assert 'id="not-comparable"' in dom and 'id="blind-baseline-row"' in dom
    assert 'id="canary-plot"' in dom and 'id="canary-table"' in dom
