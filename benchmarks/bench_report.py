"""Output size and ``privmeter report`` time for an audit of 200,000 points, before vs after.

Before: every per-point array inline in ``results.json`` (schema 1, as privmeter wrote it up
to 0.x). After: ``results.json`` with figures, card and the most exposed records, and the
per-point arrays in a checksummed ``scores.npz`` sidecar (schema 2). Both are measured in
the same run, on the same report (5 attacks on one target, 8 feature columns per record);
``report`` runs in a fresh subprocess each time, so its peak memory is its own.

Usage: ``python benchmarks/bench_report.py [--points 200000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from privmeter.report import AuditReport, RecordData, tables
from privmeter.result import AttackResult

# Peak RSS from /proc/self/status VmHWM: getrusage's ru_maxrss of a child also counts the
# parent's memory that the fork copied before exec.
_CHILD = """
import re, sys, time
from privmeter.cli import main
t0 = time.perf_counter()
rc = main(["report", sys.argv[1], "--out", sys.argv[2], "--overwrite"])
dt = time.perf_counter() - t0
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(f"BENCH {rc} {dt:.3f} {hwm}")
"""


def build(n: int, seed: int = 0) -> AuditReport:
    rng = np.random.default_rng(seed)
    member = rng.random(n) < 0.5
    ids = rng.permutation(n).astype(np.int64)
    labels = rng.integers(0, 10, n)
    results = tuple(
        AttackResult.from_scores(name, rng.normal(size=n) + shift * member, member,
                                 point_ids=ids, labels=labels)
        for name, shift in (("loss", 0.2), ("population", 0.2), ("reference", 0.5),
                            ("lira", 0.8), ("rmia", 0.9))
    )
    records = RecordData(ids, features=rng.normal(size=(n, 8)).round(4),
                         class_names=[f"c{i}" for i in range(10)])
    card = {"game": "model", "dataset": f"synthetic ({n} rows)", "reference models per target": 4}
    return AuditReport(results, card=card, records=records, title="bench_report")


_LOAD = """
import sys, time, tracemalloc
import privmeter.report as r
t0 = time.perf_counter()
r.AuditReport.load(sys.argv[1])
dt = time.perf_counter() - t0
tracemalloc.start()
r.AuditReport.load(sys.argv[1])
peak = tracemalloc.get_traced_memory()[1]
print(f"BENCH 0 {dt:.3f} {peak // 1024}")
"""


def run_load(results_json: Path) -> tuple[float, float]:
    """Time and peak traced memory (MB) of AuditReport.load, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", _LOAD, str(results_json)],
                          capture_output=True, text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"load failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    _, _, dt, rss_kb = line[-1].split()
    return float(dt), int(rss_kb) / 1024.0


def run_report(results_json: Path, out: Path) -> tuple[float, float]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(results_json), str(out)],
                          capture_output=True, text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"report failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    _, rc, dt, rss_kb = line[-1].split()
    if rc != "0":
        raise RuntimeError(f"report exited {rc}: {proc.stderr[-2000:]}")
    return float(dt), int(rss_kb) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000)
    args = ap.parse_args()
    rep = build(args.points)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        before = root / "before"
        before.mkdir()
        t0 = time.perf_counter()
        d = rep.to_dict()  # arrays inline
        d["schema_version"] = 1
        for k in ("not_run", "exposed_records"):
            d.pop(k)
        tables.write_json_dict(d, before / "results.json")
        t_write_before = time.perf_counter() - t0
        after = root / "after"
        t0 = time.perf_counter()
        rep.save(after, formats=("json",))
        t_write_after = time.perf_counter() - t0

        size_before = (before / "results.json").stat().st_size
        json_after = (after / "results.json").stat().st_size
        npz_after = (after / "scores.npz").stat().st_size
        size_after = json_after + npz_after
        t_before, rss_before = run_report(before / "results.json", root / "re_before")
        t_after, rss_after = run_report(after / "results.json", root / "re_after")
        l_before, lm_before = run_load(before / "results.json")
        l_after, lm_after = run_load(after / "results.json")
        check = json.loads((after / "results.json").read_text())
        assert "scores" not in check["results"][0]

    mb = 1024.0 * 1024.0
    print(f"bench_report: {args.points:,} points, 5 attacks, 8 feature columns")
    print(f"  results.json inline (before): {size_before / mb:8.1f} MB, written in "
          f"{t_write_before:.2f} s")
    print(f"  results.json + scores.npz   : {json_after / mb:8.3f} MB + {npz_after / mb:.1f} MB "
          f"= {size_after / mb:.1f} MB, written in {t_write_after:.2f} s")
    print(f"  results.json alone          : {size_before / json_after:8.0f}x smaller")
    print(f"  output total                : {size_before / size_after:8.1f}x smaller")
    print(f"  `privmeter report` time     : {t_before:.2f} s -> {t_after:.2f} s "
          f"({t_before / t_after:.2f}x faster)")
    print(f"  `privmeter report` peak RSS : {rss_before:.0f} MB -> {rss_after:.0f} MB "
          f"({rss_before / rss_after:.2f}x less; VmHWM, includes imports and rendering)")
    print(f"  AuditReport.load time       : {l_before:.2f} s -> {l_after:.2f} s "
          f"({l_before / l_after:.1f}x faster)")
    print(f"  AuditReport.load peak memory: {lm_before:.0f} MB -> {lm_after:.0f} MB "
          f"({lm_before / max(lm_after, 1.0):.1f}x less; tracemalloc)")


if __name__ == "__main__":
    main()
