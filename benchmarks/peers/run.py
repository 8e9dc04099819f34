"""Benchmark privmeter against the tools users would pick instead, on the same models.

One command (``make bench-peers``, or ``.venv/bin/python benchmarks/peers/run.py``):

1. creates (once; cached in the git-ignored ``benchmarks/peers/.venvs/``) one virtual
   environment per peer, each with ``torch==2.13.0`` installed first:
   ``privacy_meter`` (ML Privacy Meter 1.0.1 and the packages it imports) and ``art`` (IBM
   Adversarial Robustness Toolbox), from ``requirements/*.txt``;
2. trains once, with privmeter, the target and reference models of every task
   (``prepare.py``; cached in ``benchmarks/peers/.work/``);
3. runs each tool in its own venv, as a fresh process per task (``run_privmeter.py``,
   ``run_privacy_meter.py``, ``run_art.py``): each loads the saved models, runs its attacks,
   and writes per-point scores with the time and memory of its import and attack steps;
4. scores every attack here, with privmeter's metrics, from its per-point scores: AUC (DeLong
   95% CI), TPR at 1% and 0.1% FPR (Clopper-Pearson 95% CIs; "n/r" when 0.1% is below the
   resolution 1/n_non_members);
5. writes ``benchmarks/peers/RESULTS.md`` and prints the ratios privmeter / peer.

Options: ``--tasks`` (default: all), ``--tools`` (default: all), ``--force-train``,
``--output`` (default ``benchmarks/peers/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import prepare  # noqa: E402
from common import REFERENCE_BUDGET, WORK, audit_rows, load_task, task_dir  # noqa: E402

VENVS = HERE / ".venvs"
LOGS = WORK / "logs"
TORCH_PIN = "torch==2.13.0"
TOOL_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Tool:
    key: str
    label: str
    script: str
    requirements: str | None  # None: privmeter's own venv
    check: str  # an import that must work in the venv


TOOLS: dict[str, Tool] = {
    "privmeter": Tool("privmeter", "privmeter", "run_privmeter.py", None, "import privmeter"),
    "privacy_meter": Tool(
        "privacy_meter", "ML Privacy Meter 1.0.1", "run_privacy_meter.py",
        "requirements/privacy_meter.txt", "import privacy_meter.model, privacy_meter.audit",
    ),
    "art": Tool(
        "art", "IBM ART", "run_art.py", "requirements/art.txt",
        "import art.attacks.inference.membership_inference",
    ),
}

#: What each attack knows / uses (shown in the tables).
KNOWLEDGE: dict[tuple[str, str], str] = {
    ("privmeter", "loss"): "target only",
    ("privmeter", "population"): "target; population points",
    ("privmeter", "reference (offline refs)"): "8 offline refs",
    ("privmeter", "lira online"): "8 online refs",
    ("privmeter", "lira offline"): "8 offline refs",
    ("privmeter", "rmia online"): "8 online refs; population",
    ("privmeter", "rmia offline"): "8 offline refs; population",
    ("privacy_meter", "population (default)"): "target; population points",
    ("privacy_meter", "population (logit rescale)"): "target; population points",
    ("privacy_meter", "reference (default)"): "8 offline refs",
    ("privacy_meter", "reference (logit rescale)"): "8 offline refs",
    ("art", "black-box (nn, default)"): "membership of half the audited points",
    ("art", "black-box (rf)"): "membership of half the audited points",
    ("art", "rule-based"): "target only (labels)",
    ("art", f"shadow models ({REFERENCE_BUDGET}) + black-box (rf)"):
        f"{REFERENCE_BUDGET} shadow models ART trains on the offline pool",
}


def log(msg: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ environments
def _sklearn_pin() -> str:
    import sklearn

    return f"scikit-learn=={sklearn.__version__}"


def venv_python(tool: Tool) -> Path:
    if tool.requirements is None:
        return Path(sys.executable)
    return VENVS / tool.key / "bin" / "python"


def ensure_venv(tool: Tool) -> tuple[Path | None, str | None, float]:
    """Create (or reuse) the tool's venv. Returns (python, error, seconds spent)."""
    if tool.requirements is None:
        return Path(sys.executable), None, 0.0
    t0 = time.perf_counter()
    req = HERE / tool.requirements
    stamp_value = hashlib.sha256(
        (req.read_text(encoding="utf-8") + TORCH_PIN + _sklearn_pin() + sys.version).encode()
    ).hexdigest()
    path = VENVS / tool.key
    stamp = path / ".bench-stamp"
    py = venv_python(tool)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == stamp_value and py.exists():
        return py, None, time.perf_counter() - t0
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"venv-{tool.key}.log"
    log(f"creating the {tool.label} venv in {path} (log: {log_path})")
    if path.exists():
        shutil.rmtree(path)
    steps = [
        [sys.executable, "-m", "venv", str(path)],
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", TORCH_PIN],
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(req),
         _sklearn_pin()],
        [str(py), "-c", tool.check],
    ]
    with log_path.open("w", encoding="utf-8") as fh:
        for cmd in steps:
            fh.write(f"$ {' '.join(cmd)}\n")
            fh.flush()
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                  env=_child_env(), check=False)
            if proc.returncode != 0:
                tail = _tail(log_path)
                return None, f"`{' '.join(cmd[-3:])}` failed (exit {proc.returncode}): {tail}", \
                    time.perf_counter() - t0
    stamp.write_text(stamp_value, encoding="utf-8")
    return py, None, time.perf_counter() - t0


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    return env


def _tail(path: Path, n: int = 6) -> str:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if ln.strip() and "Location 'file://" not in ln]
    return " | ".join(lines[-n:])


def run_tool(tool: Tool, py: Path, task: str) -> tuple[str | None, float]:
    """Run one tool on one task in a fresh process. Returns (error, wall seconds)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{task}-{tool.key}.log"
    t0 = time.perf_counter()
    for stale in (".npz", ".json"):
        (task_dir(task) / "results" / f"{tool.key}{stale}").unlink(missing_ok=True)
    try:
        with log_path.open("w", encoding="utf-8") as fh:
            proc = subprocess.run([str(py), str(HERE / tool.script), task], stdout=fh,
                                  stderr=subprocess.STDOUT, cwd=ROOT, env=_child_env(),
                                  timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {TOOL_TIMEOUT_S} s (log: {log_path})", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {_tail(log_path)}", seconds
    return None, seconds


# ------------------------------------------------------------------ scoring
@dataclass
class Row:
    tool: str
    attack: str
    knows: str
    auc: float
    auc_ci: tuple[float, float]
    tpr: dict[float, Any]  # level -> TprAtFpr
    seconds: float
    extra_mb: float
    peak_mb: float
    extra_seconds: float = 0.0
    note: str = ""
    min_fpr: float = math.nan  # lowest non-zero FPR the scores can operate at


@dataclass
class ToolRun:
    tool: Tool
    error: str | None = None
    wall_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    @property
    def audit_seconds(self) -> float:
        """Every attack step plus privmeter's shared query (no reference/shadow training)."""
        s = sum(r.seconds for r in self.rows)
        return s + float(self.info.get("extra", {}).get("query", {}).get("seconds", 0.0))

    @property
    def import_seconds(self) -> float:
        return float(self.info.get("import", {}).get("seconds", math.nan))

    @property
    def peak_mb(self) -> float:
        peaks = [r.peak_mb for r in self.rows]
        q = self.info.get("extra", {}).get("query")
        if q:
            peaks.append(float(q["peak_mb"]))
        return max(peaks) if peaks else math.nan

    def best(self, level: float = 0.01) -> Row | None:
        return max(self.rows, key=lambda r: (r.tpr[level].tpr, r.auc), default=None)


def score_tool(run: ToolRun, task: str, membership: np.ndarray) -> None:
    from privmeter import metrics
    from privmeter.result import AttackResult

    base = task_dir(task) / "results" / run.tool.key
    run.info = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:
        scores = {k: z[k] for k in z.files}
    for name, meta in run.info["attacks"].items():
        s = np.asarray(scores[name], dtype=np.float64)
        note = ""
        bad = ~np.isfinite(s)
        if bad.any():  # never happened so far; ranked last rather than dropped
            note = f"{int(bad.sum())} non-finite scores ranked last"
            s = np.where(bad, np.nanmin(np.where(bad, np.nan, s)) - 1.0, s)
        res = AttackResult.from_scores(name, s, membership)
        roc = metrics.roc_curve(s, membership)
        nonzero = roc.fp[roc.fp > 0]
        run.rows.append(Row(
            tool=run.tool.key, attack=name, knows=KNOWLEDGE.get((run.tool.key, name), ""),
            auc=res.auc, auc_ci=tuple(res.auc_ci), tpr={lv: res.tpr_at(lv) for lv in (0.01, 0.001)},
            seconds=float(meta["meter"]["seconds"]), extra_mb=float(meta["meter"]["extra_mb"]),
            peak_mb=float(meta["meter"]["peak_mb"]),
            extra_seconds=float(meta.get("extra_seconds", 0.0)), note=note,
            min_fpr=float(nonzero[0]) / roc.n_neg if nonzero.size else math.nan,
        ))


# ------------------------------------------------------------------ report
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pct_fine(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{100 * x:.2g}%" if x < 0.01 else _pct(x)


def _tpr_cell(t: Any, with_ci: bool = True) -> str:
    if not t.resolvable:
        return "n/r"
    if not with_ci:
        return _pct(t.tpr)
    return f"{_pct(t.tpr)} [{_pct(t.tpr_ci[0])}, {_pct(t.tpr_ci[1])}]"


def _secs(x: float) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _ci(r: Row) -> str:
    lo, hi = r.tpr[0.01].tpr_ci
    return f"[{_pct(lo)}, {_pct(hi)}]"


def _times(r: float) -> str:
    return "inf (the peer finds no member at 1% FPR)" if math.isinf(r) else f"{r:.2f}x"


def _ratio(a: float, b: float) -> str:
    if b == 0:
        return "inf" if a > 0 else "-"
    return f"{a / b:.2f}x"


def task_section(name: str, meta: dict, runs: dict[str, ToolRun], n_non: int) -> list[str]:
    res = 1.0 / n_non
    acc = meta["target_accuracy"]
    out = [
        f"### {name}: {meta['title']}",
        "",
        f"{meta['n_rows']:,} rows, {meta['in_features']} features, {meta['n_classes']} classes; "
        f"{len(meta['model_names']) - 1} reference models + target trained by privmeter in "
        f"{meta['reference_training_seconds']:.1f} s (shared, not counted below). Target "
        f"accuracy: train {_pct(acc['train'])}, test {_pct(acc['test'])}. Audited: "
        f"{meta['n_members']:,} members + {n_non:,} non-members; population "
        f"{meta['n_population']:,} points. **FPR resolution 1/{n_non:,} = {100 * res:.3g}%**"
        + (": TPR at 0.1% FPR is not resolvable (n/r) on this task." if res > 0.001 else "."),
        "",
        "| tool | attack | attacker knows / uses | AUC [95% CI] | TPR @ 1% FPR [95% CI] | "
        "TPR @ 0.1% FPR | lowest FPR > 0 | attack step (s) | extra memory (MB) |",
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for key, run in runs.items():
        if run.error:
            reason = run.error.replace("|", "/")
            out.append(f"| {run.tool.label} | (did not run) | | {reason} | | | | | |")
            continue
        q = run.info.get("extra", {}).get("query")
        if q:
            out.append(
                f"| {run.tool.label} | query: logit margins of all "
                f"{run.info['extra']['models_queried']} models on "
                f"{run.info['extra']['points_queried']:,} points (shared by its attacks) | | | | "
                f"| | {_secs(q['seconds'])} | {q['extra_mb']:.0f} |"
            )
        for r in run.rows:
            extra = (f" (+ {_secs(r.extra_seconds)} s shadow training)" if r.extra_seconds
                     else "")
            out.append(
                f"| {run.tool.label} | {r.attack}{' (' + r.note + ')' if r.note else ''} | "
                f"{r.knows} | {r.auc:.3f} [{r.auc_ci[0]:.3f}, {r.auc_ci[1]:.3f}] | "
                f"{_tpr_cell(r.tpr[0.01])} | {_tpr_cell(r.tpr[0.001], with_ci=False)} | "
                f"{_pct_fine(r.min_fpr)} | {_secs(r.seconds)}{extra} | {r.extra_mb:.0f} |"
            )
        del key
    out += ["", "Per tool (audit time = every attack step, query included, no reference or "
            "shadow training; import = a fresh process importing the tool):", "",
            "| tool | best attack at 1% FPR | its TPR @ 1% FPR | best AUC | audit time (s) | "
            "import (s) | import + audit (s) | peak RSS (MB) | RSS after import (MB) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in runs.values():
        if run.error or not run.rows:
            continue
        b = run.best()
        assert b is not None
        imp = run.import_seconds
        out.append(
            f"| {run.tool.label} | {b.attack} | {_pct(b.tpr[0.01].tpr)} | "
            f"{max(r.auc for r in run.rows):.3f} | {_secs(run.audit_seconds)} | {_secs(imp)} | "
            f"{_secs(imp + run.audit_seconds)} | {run.peak_mb:.0f} | "
            f"{run.info['import']['peak_mb']:.0f} |"
        )
    m = matched_times(runs)
    if m:
        out += ["", f"Same work as ML Privacy Meter's two default metrics (population, and "
                f"Attack-R with the same 8 offline references; privmeter querying only what "
                f"those two attacks need; not part of the totals above): privmeter "
                f"{_secs(m[0])} s, ML Privacy Meter {_secs(m[1])} s ({_ratio(m[0], m[1])})."]
    out.append("")
    return out


def matched_times(runs: dict[str, ToolRun]) -> tuple[float, float] | None:
    """privmeter's population + reference vs ML Privacy Meter's default metrics (seconds)."""
    pm, peer = runs.get("privmeter"), runs.get("privacy_meter")
    if not pm or not peer or pm.error or peer.error or "matched" not in pm.info.get("extra", {}):
        return None
    secs = {r.attack: r.seconds for r in peer.rows}
    try:
        theirs = secs["population (default)"] + secs["reference (default)"]
    except KeyError:
        return None
    return float(pm.info["extra"]["matched"]["seconds"]), theirs


def verdicts(runs: dict[str, ToolRun]) -> dict[str, Any]:
    pm = runs.get("privmeter")
    peers = [r for k, r in runs.items() if k != "privmeter" and not r.error and r.rows]
    if pm is None or pm.error or not pm.rows or not peers:
        return {}
    best_pm = pm.best()
    best_peer = max((r.best() for r in peers), key=lambda r: r.tpr[0.01].tpr)
    offline = [r for r in pm.rows if "online" not in r.attack]
    best_off = max(offline, key=lambda r: (r.tpr[0.01].tpr, r.auc))
    fastest = min(peers, key=lambda r: r.audit_seconds)
    fastest_total = min(peers, key=lambda r: r.audit_seconds + r.import_seconds)
    t_pm, t_peer = best_pm.tpr[0.01].tpr, best_peer.tpr[0.01].tpr
    return {
        "best_pm": best_pm, "best_peer": best_peer, "best_offline": best_off,
        "tpr_ratio": t_pm / t_peer if t_peer > 0 else math.inf,
        "tpr_ratio_offline": best_off.tpr[0.01].tpr / t_peer if t_peer > 0 else math.inf,
        "fastest": fastest, "fastest_total": fastest_total,
        "time_ok": pm.audit_seconds <= fastest.audit_seconds,
        "time_total_ok": (pm.audit_seconds + pm.import_seconds
                          <= fastest_total.audit_seconds + fastest_total.import_seconds),
        "tpr_ok": t_pm >= 2 * t_peer and t_pm > 0,
    }


def ratio_lines(task: str, runs: dict[str, ToolRun]) -> list[str]:
    pm = runs.get("privmeter")
    if pm is None or pm.error or not pm.rows:
        return []
    b = pm.best()
    assert b is not None
    out = []
    for key, run in runs.items():
        if key == "privmeter" or run.error or not run.rows:
            continue
        pb = run.best()
        assert pb is not None
        total_pm = pm.audit_seconds + pm.import_seconds
        total_peer = run.audit_seconds + run.import_seconds
        out.append(
            f"| {task} | {run.tool.label} | {_ratio(b.tpr[0.01].tpr, pb.tpr[0.01].tpr)} | "
            f"{_ratio(max(r.auc for r in pm.rows), max(r.auc for r in run.rows))} | "
            f"{_ratio(pm.audit_seconds, run.audit_seconds)} | "
            f"{_ratio(total_pm, total_peer)} | {_ratio(pm.peak_mb, run.peak_mb)} |"
        )
    return out


def write_report(path: Path, sections: list[str], ratios: list[str], checks: list[str],
                 runs_by_task: dict[str, dict[str, ToolRun]], setup: dict[str, Any],
                 started: float) -> str:
    notes: list[str] = []
    versions: dict[str, dict[str, str]] = {}
    for runs in runs_by_task.values():
        for run in runs.values():
            if run.error:
                continue
            versions.setdefault(run.tool.label, run.info.get("versions", {}))
            for n in run.info.get("notes", []):
                if n not in notes:
                    notes.append(n)
    failures = [f"- {t}: {r.tool.label}: {r.error}" for t, runs in runs_by_task.items()
                for r in runs.values() if r.error]
    wall = time.perf_counter() - started
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    lines = [
        "# privmeter against the tools users would pick instead",
        "",
        "Generated by `make bench-peers` (`benchmarks/peers/run.py`); every figure below comes "
        "from this one run. Do not edit by hand: rerun the command.",
        "",
        f"- Run: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}, {wall / 60:.1f} min in all "
        f"(venvs {setup['venv_seconds']:.0f} s, training {setup['train_seconds']:.0f} s, "
        f"tools {setup['tool_seconds']:.0f} s); {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (the machine is shared: timings carry "
        "that noise).",
        "- Versions: " + "; ".join(f"{k}: " + ", ".join(f"{p} {v}" for p, v in vs.items())
                                   for k, vs in versions.items()) + ".",
        "",
        "## Protocol",
        "",
        "- **Same models for every tool.** Per task, privmeter trains once (`prepare.py`, "
        "`train_models(..., vectorized=True)` for the MLPs) a target on the members and "
        f"{2 * REFERENCE_BUDGET} reference models, saved to `benchmarks/peers/.work/`; each tool "
        "runs in its own venv (`benchmarks/peers/.venvs/`, `torch==2.13.0` installed first) as "
        "a fresh process that loads those files and writes per-point scores.",
        f"- **Same reference budget: {REFERENCE_BUDGET} reference models per attack.** "
        f"*Offline* references ({REFERENCE_BUDGET}): each trained on a random half of an "
        "offline pool of population points (twice the target's training-set size), so each "
        "has the target's training-set size and none saw an audited point; ML Privacy Meter's "
        "`ReferenceMetric`, privmeter's Attack-R and its offline LiRA and RMIA use exactly "
        f"these {REFERENCE_BUDGET} models, and ART's `ShadowModels` gets the same pool and "
        f"count ({REFERENCE_BUDGET} shadow models, which ART trains itself: its training time "
        f"is shown but not counted). *Online* references ({REFERENCE_BUDGET}, privmeter's "
        "online LiRA and RMIA only): each trained on a random half of the audited points "
        f"(every audited point is IN for exactly {REFERENCE_BUDGET // 2}), the standard "
        "online threat model of LiRA/RMIA; the tables mark which attacks use them, and the "
        "targets are also checked with privmeter's offline attacks alone.",
        "- **Scores, not decisions.** Every figure is computed here from each attack's "
        "per-point scores with privmeter's metrics (exact ROC, ties counted as 1/2): AUC with "
        "a DeLong 95% CI; TPR at 1% and 0.1% FPR = the largest TPR whose empirical FPR is at "
        "most the level, with Clopper-Pearson 95% CIs. `n/r`: the level is below the FPR "
        "resolution 1/n_non_members. *Lowest FPR > 0*: the FPR of the attack's first ROC step "
        "(its top group of tied scores); above 1%, TPR at 1% FPR is 0 whatever the ranking. "
        "How each tool's score is read: privacy_meter, the number "
        "of FPR-tolerance levels at which the metric calls the point a member (its own ROC; "
        "see `run_privacy_meter.py`); ART, `infer(..., probabilities=True)`, or the rule's "
        "0/1 decision; privmeter, the attack's score.",
        "- **No tuning on the target's membership.** privmeter runs every attack with its "
        "defaults (`rmia` offline tunes `a` by attacking reference models with the others). "
        "ART's black-box attack is the only one that sees membership: the documented setting "
        "(the attacker knows half of the target's members and non-members), cross-fitted so "
        "each audited point is scored by an attack model that did not see it.",
        "- **Time and memory.** Attack step = what the tool does after the trained models are "
        "loaded (privacy_meter: `Audit(...).prepare()` + `.run()`, which query the models; "
        "ART: `fit` + `infer`; privmeter: the shared query of all its models + `run_attack`). "
        "Memory: peak resident set size (the kernel's VmHWM, reset at the start of the step), "
        "native allocations included; extra memory = peak minus the RSS at the start of the "
        "step.",
        "",
        "## Results",
        "",
        *sections,
        "## Ratios privmeter / peer",
        "",
        "Best privmeter attack against the tool's best attack (TPR at 1% FPR, AUC), then "
        "privmeter's whole audit against the tool's whole audit (time: lower is faster for "
        "privmeter; memory: peak RSS).",
        "",
        "| task | peer | TPR @ 1% FPR | AUC | audit time | import + audit time | peak RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *ratios,
        "",
        "## Targets",
        "",
        *checks,
        "",
        "## Workarounds and notes",
        "",
        *(f"- {n}" for n in notes),
        "- ML Privacy Meter 1.0.1 declares no dependencies but imports TensorFlow, opacus, "
        "pandas, matplotlib, seaborn, Pillow and Jinja2 at import time: its venv installs them "
        "(`requirements/privacy_meter.txt`; `tensorflow-cpu`, the CPU-only build).",
        "- ML Privacy Meter's signal cache (`logs_dirname`) is keyed on the metric's class name "
        "only, so a second audit in the same folder silently reuses the first model's "
        "signals: we run with `save_logs=False`.",
        "- IBM ART imports `packaging` without declaring it: its venv installs it.",
        "- ART's `MembershipInferenceBlackBox` with the default `nn` attack model trains it for "
        "100 epochs at learning rate 1e-4 (its defaults); the `rf` variant is the one its "
        "notebook uses for a PyTorch target and for shadow models.",
        *(["", "## Failures", "", *failures] if failures else []),
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(prepare.TASKS), choices=list(prepare.TASKS))
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    ap.add_argument("--force-train", action="store_true")
    ap.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if "privmeter" not in args.tools:
        args.tools.insert(0, "privmeter")

    setup = {"venv_seconds": 0.0, "train_seconds": 0.0, "tool_seconds": 0.0}
    pythons: dict[str, Path | None] = {}
    venv_errors: dict[str, str] = {}
    for key in args.tools:
        py, err, secs = ensure_venv(TOOLS[key])
        setup["venv_seconds"] += secs
        pythons[key] = py
        if err:
            venv_errors[key] = f"could not install: {err}"
            log(f"{TOOLS[key].label}: {venv_errors[key]}")

    t0 = time.perf_counter()
    metas = {name: prepare.prepare(name, force=args.force_train) for name in args.tasks}
    setup["train_seconds"] = time.perf_counter() - t0

    runs_by_task: dict[str, dict[str, ToolRun]] = {}
    sections: list[str] = []
    ratios: list[str] = []
    checks: list[str] = []
    for name in args.tasks:
        bundle = load_task(name)
        _, membership = audit_rows(bundle)
        runs: dict[str, ToolRun] = {}
        for key in args.tools:
            tool = TOOLS[key]
            run = ToolRun(tool)
            runs[key] = run
            py = pythons[key]
            if key in venv_errors or py is None:
                run.error = venv_errors.get(key, "no interpreter")
                continue
            log(f"{name}: running {tool.label} ...")
            run.error, run.wall_seconds = run_tool(tool, py, name)
            setup["tool_seconds"] += run.wall_seconds
            if run.error is None:
                try:
                    score_tool(run, name, membership)
                except (OSError, KeyError, ValueError) as exc:
                    run.error = f"unreadable results: {exc}"
            log(f"{name}: {tool.label} " + (f"FAILED: {run.error}" if run.error else
                                            f"done in {run.wall_seconds:.1f} s"))
        runs_by_task[name] = runs
        n_non = int(bundle["non_members"].size)
        sections += task_section(name, metas[name], runs, n_non)
        ratios += ratio_lines(name, runs)
        v = verdicts(runs)
        if v:
            pm = runs["privmeter"]
            checks.append(
                f"- **{name}**: TPR @ 1% FPR: privmeter's best ({v['best_pm'].attack}) "
                f"{_pct(v['best_pm'].tpr[0.01].tpr)} vs the best peer's "
                f"({TOOLS[v['best_peer'].tool].label}, {v['best_peer'].attack}) "
                f"{_pct(v['best_peer'].tpr[0.01].tpr)}: **{_times(v['tpr_ratio'])}** "
                f"(95% CIs {_ci(v['best_pm'])} vs {_ci(v['best_peer'])}; "
                f"{'met' if v['tpr_ok'] else 'NOT met'}: target 2x; privmeter's best offline "
                f"attack, {v['best_offline'].attack}, {_pct(v['best_offline'].tpr[0.01].tpr)}: "
                f"{_times(v['tpr_ratio_offline'])}). Audit time: privmeter "
                f"{_secs(pm.audit_seconds)} s vs the fastest peer "
                f"({v['fastest'].tool.label}) {_secs(v['fastest'].audit_seconds)} s: "
                f"**{'met' if v['time_ok'] else 'NOT met'}**; with the import: privmeter "
                f"{_secs(pm.audit_seconds + pm.import_seconds)} s vs "
                f"{_secs(v['fastest_total'].audit_seconds + v['fastest_total'].import_seconds)}"
                f" s ({v['fastest_total'].tool.label}): "
                f"**{'met' if v['time_total_ok'] else 'NOT met'}**."
                + (f" For context, the same work as ML Privacy Meter's two default metrics: "
                   f"privmeter {_secs(m[0])} s vs {_secs(m[1])} s."
                   if (m := matched_times(runs)) else "")
            )
        else:
            checks.append(f"- **{name}**: not evaluated (a tool did not run).")

    text = write_report(args.output, sections, ratios, checks, runs_by_task, setup, started)
    del text
    print()
    print("Ratios privmeter / peer (best TPR @ 1% FPR, best AUC, audit time, import + audit "
          "time, peak RSS):")
    for line in ratios:
        print("  " + line.strip("| ").replace(" | ", "  "))
    print()
    for line in checks:
        print(line)
    print(f"\nwrote {args.output} in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
