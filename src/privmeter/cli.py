"""The ``privmeter`` command.

Exit codes: 0 success (for ``gate``: every check passed); 1 ``gate`` found a figure above its
limit; 2 bad usage, config or input (one clear line on stderr); 3 an unexpected failure
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


class UsageError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="privmeter",
        description="Audit how much a machine-learning model reveals about its training data.",
        epilog="Exit codes: 0 ok, 1 gate failed, 2 bad usage/config/input, 3 unexpected error.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="audit an MLP on scikit-learn's digits (8 reference models)")
    d.add_argument("--out", default="privmeter-out", help="output folder (default privmeter-out)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")

    r = sub.add_parser("run", help="run an audit described by a YAML config")
    r.add_argument("config", help="YAML config file")
    r.add_argument("--out", default="privmeter-out", help="output folder (default privmeter-out)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set references.count=16 (repeatable)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")

    sub.add_parser("attacks", help="list the attacks, their parameters and papers")

    rep = sub.add_parser("report", help="re-render a report from a saved results.json")
    rep.add_argument("results", help="results.json written by run or demo")
    rep.add_argument("--out", default="privmeter-report", help="output folder")
    rep.add_argument("--overwrite", action="store_true", help="replace an existing output folder")

    g = sub.add_parser("gate", help="exit 1 if saved results exceed the given limits (for CI)")
    g.add_argument("results", help="results.json written by run or demo")
    g.add_argument("--max-auc", type=float, default=None, help="largest acceptable AUC")
    g.add_argument("--max-tpr-at-fpr", action="append", default=[], metavar="FPR:TPR",
                   help="largest acceptable TPR at an FPR level, e.g. 0.001:0.01 (repeatable)")
    g.add_argument("--max-epsilon", type=float, default=None,
                   help="largest acceptable empirical epsilon lower bound")
    g.add_argument("--conservative", action="store_true",
                   help="compare the upper confidence bounds instead of the point estimates")
    return p


def _out_dir(path: str, overwrite: bool) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"output folder {out} already exists and is not empty; pass --overwrite")
    return out


def _run_config(cfg: Any, out: Path, *, overwrite: bool, progress: bool,
                base_dir: Path | None) -> int:
    from privmeter.config import build_audit

    audit = build_audit(cfg, progress=progress, base_dir=base_dir)
    report = audit.run()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report.save(out, overwrite=overwrite, formats=tuple(cfg.report.formats))
    t_report = time.perf_counter() - t0
    print(report.summary())
    timings = dict(report.card.get("timings (s)", {}))
    timings["report"] = round(t_report, 2)
    split = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")
    total = float(timings.get("total", 0.0)) + t_report
    print(f"\nTime: {split}; total {total:.1f} s")
    print(f"Report written to {out}/ (open {out / 'report.html'})")
    for k, v in report.card.get("attacks not run", {}).items():
        print(f"note: attack {k!r} did not run: {v}", file=sys.stderr)
    return EXIT_OK


def _cmd_attacks() -> int:
    import privmeter as pm

    for name in pm.list_attacks():
        spec = pm.attack_info(name)
        print(f"{name}: {spec.summary}")
        print(f"  paper: {spec.paper}")
        for prm in spec.parameters():
            print(f"  --{prm['name']} (default {prm['default']!r}): {prm['help']}")
    return EXIT_OK


def _load_report(path: str) -> Any:
    from privmeter.report import AuditReport

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"results file not found: {p}")
    try:
        json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p} is not valid JSON: {exc}") from None
    try:
        return AuditReport.load(p)  # restores image thumbnails saved beside the JSON
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{p} is not a privmeter results file: {exc}") from None


def _cmd_gate(args: argparse.Namespace) -> int:
    report = _load_report(args.results)
    limits: list[tuple[float, float]] = []
    for item in args.max_tpr_at_fpr:
        try:
            fpr_s, tpr_s = item.split(":")
            limits.append((float(fpr_s), float(tpr_s)))
        except ValueError:
            raise UsageError(
                f"--max-tpr-at-fpr expects FPR:TPR, e.g. 0.001:0.01; got {item!r}"
            ) from None
    if args.max_auc is None and not limits and args.max_epsilon is None:
        raise UsageError("gate needs at least one limit (--max-auc, --max-tpr-at-fpr, "
                         "--max-epsilon)")
    failed = 0
    for res in report.results:
        checks: list[tuple[str, float, float]] = []
        if args.max_auc is not None:
            auc = res.auc_ci[1] if args.conservative else res.auc
            checks.append(("AUC", auc, args.max_auc))
        for fpr, tpr_max in limits:
            t = res.tpr_at(fpr)
            val = t.tpr_ci[1] if args.conservative else t.tpr
            note = "" if t.resolvable else " (not resolvable)"
            checks.append((f"TPR@{fpr:g}{note}", val, tpr_max))
        if args.max_epsilon is not None:
            checks.append(("epsilon LB", res.epsilon_lb, args.max_epsilon))
        for what, value, limit in checks:
            ok = value <= limit
            failed += not ok
            print(f"{'PASS' if ok else 'FAIL'}  {res.attack:<12} {what:<28} {value:.4f} "
                  f"{'<=' if ok else '>'} {limit:g}")
    print(f"gate: {'failed' if failed else 'passed'} ({failed} check(s) above the limit)")
    return EXIT_GATE_FAILED if failed else EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    from privmeter.config import load_config

    if args.command == "attacks":
        return _cmd_attacks()
    if args.command == "gate":
        return _cmd_gate(args)
    if args.command == "report":
        report = _load_report(args.results)
        out = _out_dir(args.out, args.overwrite)
        report.save(out, overwrite=args.overwrite)
        print(report.summary())
        print(f"Report written to {out}/")
        return EXIT_OK
    if args.command == "demo":
        out = _out_dir(args.out, args.overwrite)
        cfg = load_config(None)
        return _run_config(cfg, out, overwrite=args.overwrite, progress=not args.no_progress,
                           base_dir=None)
    cfg_path = Path(args.config)
    cfg = load_config(cfg_path, args.overrides)
    out = _out_dir(args.out, args.overwrite)
    return _run_config(cfg, out, overwrite=args.overwrite, progress=not args.no_progress,
                       base_dir=cfg_path.resolve().parent)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``privmeter`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    from privmeter.config import ConfigError

    try:
        return _dispatch(args)
    except (UsageError, ConfigError) as exc:
        if args.debug:
            raise
        print(f"privmeter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, FileNotFoundError, TypeError) as exc:
        if args.debug:
            raise
        print(f"privmeter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("privmeter: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"privmeter: unexpected error ({type(exc).__name__}): {exc}; rerun with --debug "
              "for the traceback", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
