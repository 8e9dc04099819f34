"""The ``privmeter`` command.

Exit codes: 0 success (for ``gate``: every check passed); 1 ``gate`` found a figure above its
limit; 2 bad usage, config or input (one clear line on stderr); 3 an unexpected failure
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


class UsageError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (and the subcommand's --help named)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _limit(name: str, low: float, high: float) -> Any:
    """An argparse type: a finite number in [low, high] (``high`` may be inf)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} expects a number, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"{name} must be a number {bound}, got {text!r}")
        return value

    return parse


def _tpr_limit(text: str) -> str:
    """An argparse type for ``--max-tpr-at-fpr FPR:TPR`` (FPR and TPR in [0, 1]; FPR 0 is the
    TPR at zero false positives)."""
    parts = text.split(":")
    msg = ("--max-tpr-at-fpr expects FPR:TPR with FPR and TPR in [0, 1], e.g. "
           f"0.001:0.01; got {text!r}")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(msg)
    try:
        fpr, tpr = float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(msg) from None
    if not (math.isfinite(fpr) and 0.0 <= fpr <= 1.0):
        raise argparse.ArgumentTypeError(
            f"the FPR must be in [0, 1], got {parts[0]!r} in {text!r}"
        )
    if not (math.isfinite(tpr) and 0.0 <= tpr <= 1.0):
        raise argparse.ArgumentTypeError(
            f"the TPR must be in [0, 1], got {parts[1]!r} in {text!r}"
        )
    return text


# options whose value may begin with '-' (a negative number, or '-1:0.5'): argparse takes
# such a value for an option and answers "expected one argument"; joined as --opt=value,
# it reaches the option's validator, which names the problem
_NUMERIC_OPTIONS = ("--max-auc", "--max-epsilon", "--max-tpr-at-fpr")


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``['--max-auc', '-1']`` -> ``['--max-auc=-1']`` for the options in _NUMERIC_OPTIONS."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if (tok in _NUMERIC_OPTIONS and nxt is not None and nxt.startswith("-")
                and (nxt[1:2].isdigit() or nxt[1:2] == "."
                     or nxt[1:].split(":")[0].lower() in ("inf", "nan", "infinity"))):
            out.append(f"{tok}={nxt}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _parser() -> argparse.ArgumentParser:
    from privmeter._version import __version__

    p = _Parser(
        prog="privmeter",
        description="Audit how much a machine-learning model reveals about its training data.",
        epilog="Exit codes: 0 ok, 1 gate failed, 2 bad usage/config/input, 3 unexpected error.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"privmeter {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="audit an MLP on scikit-learn's digits (8 reference models), "
                                    "or with --task text a small language model")
    d.add_argument("--task", choices=("tabular", "text"), default="tabular",
                   help="tabular (default): an MLP on digits; text: a small GPT-2-style model "
                        "fine-tuned on synthetic personal records with canaries")
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
    r.add_argument("--allow-module", dest="allow_modules", action="append", default=[],
                   metavar="MODULE",
                   help="let model.factory import from this package or module (repeatable); "
                        "by default only a Python file beside the config is allowed")
    r.add_argument("--trust-pickles", action="store_true",
                   help="let the cache store and load pickles (they run code when loaded): only "
                        "for a cache folder nobody else can write to")

    sub.add_parser("attacks", help="list the attacks, their parameters and papers")

    rep = sub.add_parser("report", help="re-render a report from a saved results.json")
    rep.add_argument("results", help="results.json written by run or demo")
    rep.add_argument("--out", default="privmeter-report",
                     help="output folder (default privmeter-report)")
    rep.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    rep.add_argument("--no-progress", action="store_true", help="no progress bars")

    g = sub.add_parser("gate", help="exit 1 if saved results exceed the given limits (for CI)")
    g.add_argument("results", help="results.json written by run or demo")
    g.add_argument("--max-auc", type=_limit("--max-auc", 0.0, 1.0), default=None,
                   help="largest acceptable AUC")
    g.add_argument("--max-tpr-at-fpr", type=_tpr_limit, action="append", default=[],
                   metavar="FPR:TPR",
                   help="largest acceptable TPR at an FPR level, e.g. 0.001:0.01 (repeatable)")
    g.add_argument("--max-epsilon", type=_limit("--max-epsilon", 0.0, math.inf), default=None,
                   help="largest acceptable empirical epsilon lower bound")
    g.add_argument("--epsilon-side", choices=("both", "members"), default="both",
                   help="--max-epsilon checks the two-sided DP bound (both, default) or only "
                        "the side that identifies members (the side the risk verdict uses)")
    g.add_argument("--conservative", action="store_true",
                   help="compare the upper confidence bounds instead of the point estimates; "
                        "a TPR check at an FPR level the data cannot resolve then fails")
    g.add_argument("--require-attack", dest="require_attacks", action="append", default=[],
                   metavar="NAME",
                   help="fail unless this attack has a result (repeatable); attacks that the "
                        "run was asked for but could not run always fail the gate")
    g.add_argument("--allow-missing", action="store_true",
                   help="do not fail when a requested attack has no result (it is still "
                        "reported)")
    g.add_argument("--dp-consistent", action="store_true",
                   help="fail when the DP audit (game: dp) measured an epsilon lower bound "
                        "above the claimed epsilon: the DP claim is violated")
    return p


def _out_dir(path: str, overwrite: bool) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"output folder {out} already exists and is not empty; pass --overwrite")
    return out


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show each Python warning raised in the block as ``privmeter: warning: <message>``.

    One line on stderr per distinct message (not Python's ``file:line: UserWarning:`` and
    source line). Only the formatting changes: the warning filters (``-W``,
    ``PYTHONWARNINGS``) still apply, and a caller that records warnings
    (``warnings.catch_warnings(record=True)``, ``pytest.warns``) still gets them.
    """
    seen: set[str] = set()
    previous = warnings.formatwarning

    def one_line(message: Warning | str, category: type[Warning], filename: str,
                 lineno: int, line: str | None = None) -> str:
        text = " ".join(str(message).split())
        if text in seen:
            return ""
        seen.add(text)
        return f"privmeter: warning: {text}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = previous


def _run_config(cfg: Any, out: Path, *, overwrite: bool, progress: bool,
                base_dir: Path | None, allow_modules: Sequence[str] = (),
                trust_pickles: bool = False) -> int:
    with _one_line_warnings():
        return _run_audit(cfg, out, overwrite=overwrite, progress=progress,
                          base_dir=base_dir, allow_modules=allow_modules,
                          trust_pickles=trust_pickles)


def _run_audit(cfg: Any, out: Path, *, overwrite: bool, progress: bool,
               base_dir: Path | None, allow_modules: Sequence[str],
               trust_pickles: bool) -> int:
    from privmeter import _progress
    from privmeter.config import ConfigError, _config_words, build_audit

    _progress.set_enabled(progress)
    with _progress.status("loading the data"):
        audit = build_audit(cfg, progress=progress, base_dir=base_dir,
                            allow_modules=allow_modules, trust_pickles=trust_pickles)
    with warnings.catch_warnings():
        # a skipped attack is reported once below and in the verdict, not also as a warning
        warnings.filterwarnings("ignore", message=r"attack .* could not run")
        try:
            report = audit.run()
        except ValueError as exc:  # the Audit's checks of the data, in the config's words
            raise ConfigError(_config_words(str(exc))) from None
    return _finish(report, out, overwrite=overwrite, formats=cfg.report.formats)


def _text_demo(out: Path, *, overwrite: bool, progress: bool) -> int:
    """``privmeter demo --task text``: build, audit and report the small language model."""
    from privmeter import _progress
    from privmeter.demos import text_demo

    _progress.set_enabled(progress)
    t_all = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"attack .* could not run")
        warnings.filterwarnings("ignore", message=r".*longer than max_length.*")
        report, before = text_demo(progress=progress)
    return _finish(report, out, overwrite=overwrite, formats=None, before=before,
                   started=t_all)


def _finish(report: Any, out: Path, *, overwrite: bool, formats: Sequence[str] | None,
            before: dict[str, float] | None = None, started: float | None = None) -> int:
    """Warn about skipped attacks, save the report, print its summary and the time split."""
    from privmeter import _progress

    for name, why in report.not_run:
        print(f"privmeter: warning: attack {name!r} did not run: {why}", file=sys.stderr)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with _progress.status("writing the report"):
            if formats is None:
                report.save(out, overwrite=overwrite)
            else:
                report.save(out, overwrite=overwrite, formats=tuple(formats))
    t_report = time.perf_counter() - t0
    print(report.summary())
    timings = {**(before or {}), **dict(report.card.get("timings (s)", {}))}
    timings["report"] = round(t_report, 2)
    split = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")
    total = (time.perf_counter() - started if started is not None
             else float(timings.get("total", 0.0)) + t_report)
    print(f"\nTime: {split}; total {total:.1f} s")
    print(f"Report written to {out}/ (open {out / 'report.html'})")
    return EXIT_OK


def _cmd_attacks() -> int:
    import privmeter as pm

    print("Parameters go in the config file, e.g. attacks: [loss, {rmia: {gamma: 2.0}}]\n")
    for name in pm.list_attacks():
        spec = pm.attack_info(name)
        print(f"{name}: {spec.summary}")
        print(f"  paper: {spec.paper}")
        for prm in spec.parameters():
            print(f"  {prm['name']}: {_yaml_value(prm['default'])}  # {prm['help']}")
    return EXIT_OK


def _yaml_value(value: Any) -> str:
    """A parameter default as YAML writes it (``true``, ``null``, ``[0.1, 0.01]``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _load_report(path: str) -> Any:
    from privmeter.report import AuditReport

    p = Path(path)
    if not p.is_file():
        if p.exists():
            raise UsageError(f"results file {p} is not a regular file (give its results.json)")
        raise UsageError(f"results file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p} is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p} is not a text (UTF-8 JSON) file: {exc}") from None
    except RecursionError:
        raise UsageError(f"{p} is nested too deeply to be a privmeter results file") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{p} is not a privmeter results file: expected a JSON object with a 'results' "
            f"list at the top level, got a {type(data).__name__}"
        )
    if not isinstance(data.get("results"), list):
        got = "no 'results' key" if "results" not in data else (
            f"'results' is a {type(data['results']).__name__}"
        )
        raise UsageError(
            f"{p} is not a privmeter results file: expected a 'results' list, found {got}"
        )
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
    if (args.max_auc is None and not limits and args.max_epsilon is None
            and not args.dp_consistent):
        raise UsageError("gate needs at least one limit (--max-auc, --max-tpr-at-fpr, "
                         "--max-epsilon, --dp-consistent)")
    _check_required_names(report, args.require_attacks)
    failed = _gate_missing(report, args)
    if args.dp_consistent:
        failed += _gate_dp(report)
    # (status, attack, what, value, comparison, reason): printed as a table at the end
    rows: list[tuple[str, str, str, str, str, str]] = []
    for res, label in zip(report.results, report.labels, strict=True):
        # (what, value, limit, reason it fails whatever the value)
        checks: list[tuple[str, float, float, str]] = []
        if args.max_auc is not None:
            auc = res.auc_ci[1] if args.conservative else res.auc
            checks.append(("AUC", auc, args.max_auc, ""))
        for fpr, tpr_max in limits:
            t = res.tpr_at(fpr)
            val = t.tpr_ci[1] if args.conservative else t.tpr
            note, why = "", ""
            if not t.resolvable:
                note = " (not resolvable)"
                if args.conservative:
                    why = (f"not resolvable: FPR {fpr:g} needs at least "
                           f"{math.ceil(1 / fpr - 1e-9) if fpr > 0 else 'infinitely many'} "
                           f"non-members, the audit has {t.n_non_members}; --conservative "
                           "fails a check the data cannot resolve")
            checks.append((f"TPR@{fpr:g}{note}", val, tpr_max, why))
        if args.max_epsilon is not None:
            eps = res.epsilon_detail
            if args.epsilon_side == "members":
                checks.append(("epsilon LB (members side)", eps.members, args.max_epsilon, ""))
            else:
                side = f" ({eps.side})" if eps.side else ""
                checks.append((f"epsilon LB{side}", res.epsilon_lb, args.max_epsilon, ""))
        for what, value, limit, why in checks:
            ok = value <= limit and not why
            failed += not ok
            cmp = ("<=" if value <= limit else ">") + f" {limit:g}"
            rows.append(("PASS" if ok else "FAIL", label, what, f"{value:.4f}", cmp,
                         f"[{why}]" if why else ""))
    if rows:  # column widths from the content: long labels and 'inf' keep the columns aligned
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for row in rows:
            cells = [c.rjust(w) if i == 3 else c.ljust(w)
                     for i, (c, w) in enumerate(zip(row, widths, strict=False))]
            print("  ".join([*cells, row[5]]).rstrip())
    print(f"gate: {'failed' if failed else 'passed'} ({failed} check(s) failed)")
    return EXIT_GATE_FAILED if failed else EXIT_OK


def _gate_dp(report: Any) -> int:
    """``--dp-consistent``: 1 when the DP audit refutes the claimed epsilon, else 0."""
    extras = getattr(report, "extras", None) or {}
    dp = extras.get("dp")
    if not isinstance(dp, dict):
        raise UsageError(
            "--dp-consistent needs the results of a DP audit (game: dp, with training.dp), "
            "which hold the claimed epsilon; these results have none"
        )
    claimed = dp.get("claimed_epsilon")
    if claimed is None:
        raise UsageError(
            "--dp-consistent: these results hold no claimed epsilon (the model was not "
            "trained with training.dp); nothing to check the measured bound against"
        )
    bounds = [b for b in dp.get("lower_bounds") or [] if isinstance(b, dict)]
    worst = max(bounds, key=lambda b: float(b.get("epsilon_lb", 0.0)), default=None)
    violated = dp.get("verdict") == "violated"
    if worst is not None:
        cmp = "<=" if not violated else ">"
        print(f"{'FAIL' if violated else 'PASS'}  DP claim  measured epsilon >= "
              f"{float(worst['epsilon_lb']):.4f} ({worst.get('method', '?')}, "
              f"{100 * float(worst.get('confidence', 0.95)):g}% confidence) {cmp} claimed "
              f"{float(claimed):.4f} at delta {dp.get('delta')}")
    return 1 if violated else 0


def _check_required_names(report: Any, names: Sequence[str]) -> None:
    """Refuse a ``--require-attack`` name that is no attack (a typo would only ever fail)."""
    import privmeter as pm
    from privmeter._names import _closest_names

    known = [*pm.list_attacks(), *report.labels, *(r.attack for r in report.results),
             *(a for a, _ in report.not_run)]
    known = list(dict.fromkeys(known))
    for name in names:
        if name not in known:
            close = _closest_names(name, known)
            hint = f" (did you mean {close}?)" if close else ""
            raise UsageError(
                f"--require-attack: unknown attack {name!r}{hint}; known attacks: "
                f"{', '.join(pm.list_attacks())}; in these results: "
                f"{', '.join(report.labels) or 'none'}"
            )


def _gate_missing(report: Any, args: argparse.Namespace) -> int:
    """Fail (count 1 each) the attacks that were requested but have no result."""
    have = {r.attack for r in report.results} | set(report.labels)
    missing = [(a, why) for a, why in report.not_run]
    for name in args.require_attacks:
        if name not in have and name not in {a for a, _ in missing}:
            missing.append((name, "no result in this results file"))
    for name, why in missing:
        status = "MISSING (allowed)" if args.allow_missing else "FAIL"
        print(f"{status}  {name:<12} did not run: {why}")
    if missing and not args.allow_missing:
        print("gate: an attack without a result cannot pass; rerun it, or pass "
              "--allow-missing to accept the gap")
        return len(missing)
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    from privmeter.config import load_config

    if args.command == "attacks":
        return _cmd_attacks()
    if args.command == "gate":
        return _cmd_gate(args)
    if args.command == "report":
        from privmeter import _progress
        from privmeter._progress import status

        _progress.set_enabled(not args.no_progress)
        with status("loading the results"):
            report = _load_report(args.results)
        out = _out_dir(args.out, args.overwrite)
        with status("writing the report"):
            report.save(out, overwrite=args.overwrite)
        print(report.summary())
        print(f"Report written to {out}/")
        return EXIT_OK
    if args.command == "demo":
        out = _out_dir(args.out, args.overwrite)
        if args.task == "text":
            with _one_line_warnings():
                return _text_demo(out, overwrite=args.overwrite, progress=not args.no_progress)
        cfg = load_config(None)
        return _run_config(cfg, out, overwrite=args.overwrite, progress=not args.no_progress,
                           base_dir=None)
    cfg_path = Path(args.config)
    cfg = load_config(cfg_path, args.overrides)
    out = _out_dir(args.out, args.overwrite)
    return _run_config(cfg, out, overwrite=args.overwrite, progress=not args.no_progress,
                       base_dir=cfg_path.resolve().parent, allow_modules=args.allow_modules,
                       trust_pickles=args.trust_pickles)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``privmeter`` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    from privmeter.config import ConfigError

    try:
        return _dispatch(args)
    except (UsageError, ConfigError) as exc:
        if args.debug:
            raise
        print(f"privmeter: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError,
            NotADirectoryError, PermissionError) as exc:
        if args.debug:
            raise
        # one line, in the command's words (--overwrite, not the Python keyword)
        msg = " ".join(str(exc).split()).replace("pass overwrite=True", "pass --overwrite")
        print(f"privmeter: error: {msg}", file=sys.stderr)
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
