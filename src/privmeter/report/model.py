"""The report data: every attack's result, the threat-model card, the records (no I/O).

:class:`AuditReport` bundles the :class:`~privmeter.result.AttackResult` of each attack,
the threat-model card (how the audit was run), the attacks that did not run and optional
per-record data (:class:`RecordData`: features, images or texts with their token
log-probabilities, to show the records most at risk) and optional ``extras`` (the blind
baseline of a text audit, canary exposures, a differential-privacy audit or claim). It
answers the questions a reader asks (the verdict, the key figures as text or HTML);
:mod:`privmeter.report.io` turns it into files and back, and its ``to_dict``,
``from_dict``, ``load`` and ``save`` methods hand over to that module.
"""

from __future__ import annotations

import html as _stdhtml
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter.report import io as _io
from privmeter.report import tables
from privmeter.report.io import REPORT_FORMATS, _ArrayStore
from privmeter.report.verdict import Verdict, assess_attack, assess_risk
from privmeter.result import AttackResult

__all__ = ["AuditReport", "RecordData", "check_extras"]


#: Token strings and log-probabilities of one record (see :class:`RecordData`).
TokenScores = tuple[tuple[str, ...], NDArray[np.float64]]

#: Largest log-probability accepted as ``<= 0`` (float32 log-softmax can round above 0).
LOGPROB_TOLERANCE = 1e-6


def _check_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {type(value).__name__} {value!r:.60}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{what} is not valid Unicode (it holds {value[e.start:e.end]!r}, a lone "
            "surrogate, which UTF-8 files cannot store)"
        ) from None
    return str(value)


def _check_texts(texts: Any, n: int) -> tuple[str, ...]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of str (one per record), got one str")
    out = tuple(_check_str(t, f"texts[{i}]") for i, t in enumerate(texts))
    if len(out) != n:
        raise ValueError(f"got {len(out)} texts for {n} records (point_ids)")
    return out


def _check_tokens(tokens: Any, n: int) -> tuple[TokenScores | None, ...]:
    out: list[TokenScores | None] = []
    for i, item in enumerate(tokens):
        if item is None:
            out.append(None)
            continue
        try:
            pieces_in, lp_in = item
        except (TypeError, ValueError):
            raise ValueError(
                f"tokens[{i}] must be a (pieces, logprobs) pair or None, got {item!r:.80}"
            ) from None
        if isinstance(pieces_in, str):
            raise ValueError(f"tokens[{i}]: pieces must be a sequence of str, got one str")
        pieces = tuple(_check_str(p, f"tokens[{i}] piece {j}") for j, p in enumerate(pieces_in))
        try:
            lp = np.array(lp_in, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"tokens[{i}]: logprobs must be numbers, got {lp_in!r:.80}") from None
        if lp.ndim != 1:
            if lp.size:
                raise ValueError(
                    f"tokens[{i}]: logprobs must be one-dimensional, got shape {lp.shape}"
                )
            lp = lp.reshape(0)
        if lp.size != len(pieces):
            raise ValueError(
                f"tokens[{i}] has {len(pieces)} pieces but {lp.size} log-probabilities"
            )
        bad = np.isinf(lp) | (lp > LOGPROB_TOLERANCE)
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(
                f"tokens[{i}]: the log-probability of piece {j} ({pieces[j]!r}) is "
                f"{float(lp[j])!r}; log-probabilities must be finite and <= 0 (NaN marks a token "
                "not scored)"
            )
        lp.setflags(write=False)
        out.append((pieces, lp))
    if len(out) != n:
        raise ValueError(f"got {len(out)} token lists for {n} records (point_ids)")
    return tuple(out)


@dataclass(frozen=True, eq=False)
class RecordData:
    """What the report may show about each audited record.

    Parameters
    ----------
    point_ids : array_like of int, shape (n,)
        Dataset indices, unique; matched with :attr:`AttackResult.point_ids`.
    features : array_like, shape (n, d), optional
        Tabular feature values (numbers, or text for categorical columns).
    feature_names : sequence of str, optional
        Column names of ``features`` (default ``x0 ... x{d-1}``).
    images : array_like, shape (n, H, W) or (n, H, W, C) with C in {1, 3, 4}, optional
        Images for thumbnails: uint8 in ``[0, 255]`` or floats (shown as is when in
        ``[0, 1]``, else min-max scaled per image).
    class_names : sequence of str, optional
        ``class_names[label]`` is the name of class ``label``.
    texts : sequence of str, optional
        The text of each record (a text audit), shown (escaped) in the most-exposed-records
        table and written to the ``text`` column of ``records.csv``.
    tokens : sequence of (pieces, logprobs) or None, optional
        Per record, the token strings of its text and the target model's log-probability of
        each token (``log p(t_i | t_<i)``, ``<= 0``; NaN for a token that is not scored,
        e.g. the first token without a BOS token), of equal lengths; None for a record
        without token scores. The report colours each token by its log-probability.

    Raises
    ------
    ValueError
        On repeated point ids, or arrays whose lengths or values do not fit (the message
        names the record).

    Examples
    --------
    >>> rec = RecordData([3, 7], texts=["my pin is 1234", "hello"],
    ...                  tokens=[(["my", " pin", " is", " 1234"], [float("nan"), -5.2, -0.3, -9.1]),
    ...                          None])
    >>> rec.texts[0], rec.tokens[0][0][1], rec.tokens[1]
    ('my pin is 1234', ' pin', None)
    """

    point_ids: NDArray[np.int64]
    features: NDArray[Any] | None = None
    feature_names: tuple[str, ...] | None = None
    images: NDArray[Any] | None = None
    class_names: tuple[str, ...] | None = None
    texts: tuple[str, ...] | None = None
    tokens: tuple[TokenScores | None, ...] | None = None

    def __init__(
        self,
        point_ids: ArrayLike,
        features: ArrayLike | None = None,
        feature_names: Sequence[str] | None = None,
        images: ArrayLike | None = None,
        class_names: Sequence[str] | None = None,
        texts: Sequence[str] | None = None,
        tokens: Sequence[tuple[Sequence[str], ArrayLike] | None] | None = None,
    ) -> None:
        ids = np.asarray(point_ids)
        if ids.ndim != 1:
            raise ValueError(f"point_ids must be one-dimensional, got shape {ids.shape}")
        if ids.size and ids.dtype.kind not in "iu":
            raise ValueError(f"point_ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise ValueError(
                f"point_ids must be unique; {int(uniq[np.argmax(counts > 1)])} appears "
                f"{int(counts.max())} times"
            )
        n = ids.size
        feats: NDArray[Any] | None = None
        names: tuple[str, ...] | None = None
        if features is not None:
            feats = np.asarray(features)
            if feats.ndim != 2 or feats.shape[0] != n:
                raise ValueError(f"features must have shape ({n}, d), got {feats.shape}")
            feats = (
                feats.astype(np.float64)
                if feats.dtype.kind in "biuf"
                else feats.astype(str).astype(object)
            )
            d = feats.shape[1]
            names = (
                tuple(f"x{j}" for j in range(d))
                if feature_names is None
                else tuple(str(s) for s in feature_names)
            )
            if len(names) != d:
                raise ValueError(f"got {len(names)} feature_names for {d} feature columns")
        elif feature_names is not None:
            raise ValueError("feature_names given without features")
        imgs: NDArray[Any] | None = None
        if images is not None:
            imgs = np.asarray(images)
            ok_shape = imgs.ndim == 3 or (imgs.ndim == 4 and imgs.shape[3] in (1, 3, 4))
            if not ok_shape or imgs.shape[0] != n:
                raise ValueError(
                    f"images must have shape ({n}, H, W) or ({n}, H, W, C) with C in "
                    f"{{1, 3, 4}}, got {imgs.shape}"
                )
            if imgs.dtype.kind not in "biuf":
                raise ValueError(f"images must be numeric, got dtype {imgs.dtype}")
        cnames = None if class_names is None else tuple(str(c) for c in class_names)
        txts = None if texts is None else _check_texts(texts, n)
        toks = None if tokens is None else _check_tokens(tokens, n)
        object.__setattr__(self, "texts", txts)
        object.__setattr__(self, "tokens", toks)
        object.__setattr__(self, "point_ids", ids)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "images", None if imgs is None else np.array(imgs))
        object.__setattr__(self, "class_names", cnames)
        object.__setattr__(self, "_index", {int(p): i for i, p in enumerate(ids)})
        for arr in (self.point_ids, self.features, self.images):
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return int(self.point_ids.size)

    def index_of(self, point_id: int) -> int | None:
        """Row of ``point_id`` in these records, or None when it is not there."""
        idx: dict[int, int] = self.__dict__["_index"]
        return idx.get(int(point_id))

    def to_dict(
        self, *, include_images: bool = True, arrays: _ArrayStore | None = None
    ) -> dict[str, Any]:
        """JSON-serialisable dict (non-finite feature values as strings).

        With ``arrays`` the point ids and features are put there (the ``scores.npz``
        sidecar) and the dict refers to them by name.
        """
        return _io.records_to_dict(self, include_images=include_images, arrays=arrays)

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        images: ArrayLike | None = None,
        arrays: _ArrayStore | None = None,
    ) -> RecordData:
        """Inverse of :meth:`to_dict`; ``images`` overrides (or supplies) the images."""
        return _io.records_from_dict(cls, d, images=images, arrays=arrays)


@dataclass(frozen=True, eq=False)
class AuditReport:
    """The outcome of an audit: every attack's result, how the audit was run, and the records.

    Parameters
    ----------
    results : sequence of AttackResult
        One per attack (and per target); at least one.
    card : dict, optional
        The threat-model card: inference game, access level, attacker knowledge, number of
        reference models, population size, dataset, model, seeds, library versions,
        timings... Free-form; every key is rendered. Stored as plain JSON values.
    records : RecordData, optional
        Features or images of the audited records, for the most-exposed-records table.
    title : str, optional
        Title of the report.
    not_run : sequence of (attack, reason) or of {"attack", "reason"} dicts, optional
        Attacks that were requested but did not run. They are named in the verdict, the
        summary and the reports, and make ``privmeter gate`` fail unless
        ``--allow-missing``.
    extras : dict, optional
        Findings beside the attacks, each optional, validated and stored in results.json
        under ``"extras"`` (other keys are kept as plain JSON values, not rendered):

        ``"blind_baseline"``
            A model-free, text-only classifier of membership (Das et al. 2024; Duan et al.
            2024): ``{"auc": float, "auc_ci": [lo, hi], "tpr_at_1pct": float or None,
            "n_members": int, "n_non_members": int, "comparable": bool, "reason": str,
            "method": str, "cites": [reference keys]}``. Shown as a separate row of the
            key figures, never part of the verdict; with ``comparable`` False the verdict
            warns that the attacks' AUC is not evidence of leakage.
        ``"canaries"``
            Secret-sharer canaries (Carlini et al. 2019): ``{"template": str,
            "space_size": int, "n_candidates": int, "method": str, "canaries": [{"text":
            str, "repetitions": int, "exposure": float, "exposure_rank": float or None,
            "max_exposure": float}]}``. A section with a table and the exposure plot.
        ``"dp"``
            An audit of a differential-privacy claim: ``{"claimed_epsilon": float or None,
            "epsilon_rdp": float or None, "epsilon_prv": float or None, "accountant": str,
            "delta": float, "lower_bounds": [{"method": str, "epsilon_lb": float,
            "confidence": float}], "verdict": "consistent" or "violated", "summary": str,
            "n_canaries": int, "runs": int}``. A box at the top of the report.
        ``"dp_claim"``
            ``{"epsilon": float, "delta": float}``: the model was trained with DP-SGD
            claiming (ε, δ). Every ROC plot draws the bound this implies, and the verdict
            compares the claim with the deciding attack's empirical ε lower bound.

        Each entry may add ``"cites"`` (reference keys) for the methods section.

    Examples
    --------
    >>> from privmeter.result import AttackResult
    >>> res = AttackResult.from_scores("loss", [0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    >>> rep = AuditReport([res], card={"game": "privacy loss of a model"})
    >>> rep.verdict.level
    'low'
    >>> AuditReport.from_dict(rep.to_dict()).to_dict() == rep.to_dict()
    True
    """

    results: tuple[AttackResult, ...]
    card: dict[str, Any] = field(default_factory=dict)
    records: RecordData | None = None
    title: str = "Membership inference audit"
    not_run: tuple[tuple[str, str], ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        results = tuple(self.results)
        if not results:
            raise ValueError("an AuditReport needs at least one AttackResult, got none")
        for i, r in enumerate(results):
            if not isinstance(r, AttackResult):
                raise TypeError(f"results[{i}] is a {type(r).__name__}, not an AttackResult")
        if not isinstance(self.card, dict):
            raise TypeError(f"card must be a dict, got {type(self.card).__name__}")
        if self.records is not None and not isinstance(self.records, RecordData):
            raise TypeError(f"records must be RecordData, got {type(self.records).__name__}")
        object.__setattr__(self, "results", results)
        object.__setattr__(self, "card", tables.jsonable(dict(self.card)))
        object.__setattr__(self, "title", str(self.title))
        missing: list[tuple[str, str]] = []
        for item in self.not_run:
            if isinstance(item, dict):
                missing.append((str(item["attack"]), str(item["reason"])))
            else:
                a, why = item
                missing.append((str(a), str(why)))
        object.__setattr__(self, "not_run", tuple(missing))
        object.__setattr__(self, "extras", check_extras(self.extras))
        tables.records_table(results)  # validates membership / label consistency

    # ----------------------------------------------------------------- queries
    @property
    def verdict(self) -> Verdict:
        """The risk verdict (see :mod:`privmeter.report.verdict` for the rule)."""
        return assess_risk(self.results, not_run=self.not_run)

    @property
    def labels(self) -> list[str]:
        """Display name of each result (unique)."""
        return tables.attack_labels(self.results)

    @property
    def best(self) -> AttackResult:
        """The result that decided the verdict."""
        return self.results[self.verdict.index]

    def summary(self) -> str:
        """The key figures as a plain-text table, with the verdict on top.

        Columns: attack, target, AUC [CI], TPR at 1% and 0.1% FPR [Clopper–Pearson CI]
        ("n/r": not resolvable, the FPR level is below 1 / n_non_members), membership
        advantage, empirical epsilon lower bound, risk level.
        """
        v = self.verdict
        levels = [assess_attack(r, index=i).level for i, r in enumerate(self.results)]
        conf = f"{100 * self.results[0].confidence:g}%"
        header = [
            "attack",
            "target",
            f"AUC [{conf} CI]",
            "TPR@1% [CI]",
            "TPR@0.1% [CI]",
            "advantage",
            "eps LB",
            "risk",
        ]
        rows = [
            [row.label, row.target, row.auc, *row.tpr, row.advantage, row.epsilon_lb,
             row.level]
            for row in tables.summary_rows(self.results, levels)
        ]
        lines = [
            self.title,
            f"Risk: {v.level.upper()} ({v.attack}, target {tables.fmt_target(v.target)}): "
            f"{v.reason}.",
        ]
        if v.epsilon_note:
            lines.append(f"  {v.epsilon_note}.")
        if v.not_run:
            lines.append(f"WARNING: {v.missing_text}.")
        blind = self.extras.get("blind_baseline")
        warning = tables.blind_warning(blind, self.best, self.labels[v.index])
        if warning:
            lines.append(f"WARNING: {warning}.")
        claim = tables.dp_claim_line(self)
        if claim:
            lines.append(f"{claim}.")
        lines += [f"Utility: {u}" for u in tables.utility_lines(self.card)]
        dp = self.extras.get("dp")
        if dp:
            f = tables.dp_figures(dp)
            lines.insert(1, f"Differential privacy: {f['headline']}. {f['summary']}".rstrip())
            lines.insert(2, f"  {f['claim']}; measured: {'; '.join(f['bounds']) or 'no bound'}"
                         + (f" ({f['setup']})" if f["setup"] else "") + ".")
        if blind:
            b = tables.blind_row(blind)
            rows.append([b.label, b.target, b.auc, *b.tpr, b.advantage, b.epsilon_lb,
                         b.level])
        lines += ["", tables.text_table(header, rows)]
        if any("n/r" in row for row in rows):
            lines.append(
                "n/r: not resolvable, the FPR level is below 1 / n_non_members of that attack."
            )
        if any("(non-members)" in row[6] for row in rows):
            lines.append(tables.NON_MEMBERS_NOTE)
        for names in tables.identical_groups(self.results, self.labels):
            lines.append(
                f"{' and '.join(names)} give identical ROC curves (the same ranking of the "
                "audit points)."
            )
        if blind:
            lines.append(
                f"{tables.BLIND_LABEL}: a classifier on the texts alone, without the model; "
                "it is not part of the verdict."
            )
        for r, lab in zip(self.results, self.labels, strict=True):
            auto = tables.auto_summary(r.extras) if r.attack == "auto" else None
            if auto:
                lines.append(f"{lab} {auto['short']}.")
        canaries = self.extras.get("canaries")
        if canaries and canaries["canaries"]:
            lines.append(f"{tables.canary_line(canaries)}.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The key figures as an HTML table (Jupyter's rich display)."""
        esc = _stdhtml.escape
        v = self.verdict
        levels = [assess_attack(r, index=i).level for i, r in enumerate(self.results)]
        conf = f"{100 * self.results[0].confidence:g}%"
        head = (
            "<tr><th>attack</th><th>target</th><th>members / non-members</th>"
            f"<th>AUC [{conf} CI]</th><th>TPR@1% FPR [CI]</th><th>TPR@0.1% FPR [CI]</th>"
            "<th>advantage</th><th>ε lower bound</th><th>risk</th></tr>"
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{esc(str(c))}</td>"
                for c in (
                    row.label,
                    row.target,
                    f"{row.n_members} / {row.n_non_members}",
                    row.auc,
                    *(("not resolvable" if t == "n/r" else t) for t in row.tpr),
                    row.advantage,
                    row.epsilon_lb,
                    row.level,
                )
            )
            + "</tr>"
            for row in tables.summary_rows(self.results, levels)
        )
        return (
            f"<div class='privmeter-report'><strong>{esc(self.title)}</strong>"
            f"<p>Risk: <strong>{esc(v.level.upper())}</strong> ({esc(v.attack)}, target "
            f"{esc(tables.fmt_target(v.target))}): {esc(v.reason)}.</p>"
            + (f"<p><strong>Warning:</strong> {esc(v.missing_text)}.</p>" if v.not_run else "")
            + "".join(f"<p><strong>Warning:</strong> {esc(w)}.</p>" for w in [
                tables.blind_warning(self.extras.get("blind_baseline"), self.best,
                                     self.labels[v.index])] if w)
            + "".join(f"<p>{esc(c)}.</p>" for c in [tables.dp_claim_line(self)] if c)
            + f"<table><thead>{head}</thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        return (
            f"AuditReport(title={self.title!r}, attacks={self.labels!r}, "
            f"verdict={self.verdict.level!r})"
        )

    # ----------------------------------------------------------- (de)serialise
    def to_dict(
        self, *, include_images: bool = True, arrays: _ArrayStore | None = None
    ) -> dict[str, Any]:
        """A JSON-serialisable dict (``"schema_version": 2``); see :meth:`from_dict`.

        ``verdict`` and ``exposed_records`` are included for readers of the file;
        :meth:`from_dict` recomputes them. Without ``arrays`` the per-point arrays are inline
        (large for big audits); with it they are added to that store (the ``scores.npz``
        sidecar that :meth:`save` writes) and referred to by name.
        """
        return _io.report_to_dict(self, include_images=include_images, arrays=arrays)

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (no NaN or Infinity literals)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        images: ArrayLike | None = None,
        arrays: _ArrayStore | None = None,
    ) -> AuditReport:
        """Rebuild a report from :meth:`to_dict` output.

        Parameters
        ----------
        d : dict
            The dict (e.g. ``json.load`` of ``results.json``).
        images : array_like, optional
            The records' images when the dict was written without them.
        arrays : mapping, optional
            The per-point arrays the dict refers to (read from ``scores.npz``).

        Raises
        ------
        ValueError
            If the schema version is not one this privmeter reads, or the dict refers to
            arrays that were not given.
        """
        return _io.report_from_dict(cls, d, images=images, arrays=arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AuditReport:
        """Read a report written by :meth:`save` (its folder or its ``results.json``).

        The ``scores.npz`` sidecar is checked against the SHA-256 recorded in the JSON and
        read with ``allow_pickle=False``; a results.json with inline arrays (schema 1) loads
        too.

        Raises
        ------
        ValueError
            If the sidecar is missing, does not match its checksum, or is not a plain
            ``.npz`` of numeric or text arrays.
        """
        return _io.load_report(cls, path)

    # ------------------------------------------------------------------- save
    def save(
        self,
        out_dir: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        formats: Sequence[str] = REPORT_FORMATS,
    ) -> list[Path]:
        """Write the report files into ``out_dir`` and return their paths.

        Parameters
        ----------
        out_dir : path
            Folder to write into; created when missing.
        overwrite : bool, default False
            Allow a folder that is not empty. Files of an earlier report there (report.html,
            results.json, records.csv, report.pdf, images.npy and the report's plots) are
            replaced or removed; other files are left alone.
        formats : sequence of str
            Any of ``"html"``, ``"json"`` (``results.json`` and its ``scores.npz`` sidecar,
            plus ``images.npy`` when the records have images), ``"csv"`` (``records.csv``),
            ``"png"`` (the plots), ``"pdf"``.

        Raises
        ------
        FileExistsError
            If ``out_dir`` exists, is not empty and ``overwrite`` is False.
        ValueError
            On an unknown format.
        """
        return _io.save_report(self, out_dir, overwrite=overwrite, formats=formats)


# --------------------------------------------------------------------------- extras
_MISSING = object()


def _field(d: dict[str, Any], key: str, what: str, default: Any = _MISSING) -> Any:
    if key in d and d[key] is not None:
        return d[key]
    if default is _MISSING:
        raise ValueError(f"extras {what} needs a {key!r} field; it has {sorted(d)}")
    return default


def _real(v: Any, what: str, *, lo: float | None = None, hi: float | None = None,
          none: bool = False) -> float | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"extras {what} must be a number, got {v!r:.80}")
    x = float(v)
    if not np.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        rng = f" in [{lo:g}, {hi:g}]" if lo is not None and hi is not None else (
            f" >= {lo:g}" if lo is not None else "")
        raise ValueError(f"extras {what} must be a finite number{rng}, got {v!r}")
    return x


def _int(v: Any, what: str, *, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < lo:
        raise ValueError(f"extras {what} must be an integer >= {lo}, got {v!r:.80}")
    return int(v)


def _text(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"extras {what} must be a string, got {v!r:.80}")
    return _check_str(v, f"extras {what}")


def _cites(d: dict[str, Any], what: str) -> list[str] | None:
    c = d.get("cites")
    if c is None:
        return None
    if isinstance(c, str) or not isinstance(c, (list, tuple)):
        raise ValueError(f"extras {what}.cites must be a list of reference keys, got {c!r:.80}")
    return [_text(k, f"{what}.cites[{i}]") for i, k in enumerate(c)]


def _object(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"extras {what} must be a JSON object (dict), got {v!r:.80}")
    return v


def _check_blind(d: dict[str, Any]) -> dict[str, Any]:
    w = "blind_baseline"
    out = dict(d)
    out["auc"] = _real(_field(d, "auc", w), f"{w}.auc", lo=0.0, hi=1.0)
    ci = d.get("auc_ci")
    if ci is not None:
        if isinstance(ci, (str, bytes)) or len(ci) != 2:
            raise ValueError(f"extras {w}.auc_ci must be [lo, hi], got {ci!r:.80}")
        lo = _real(ci[0], f"{w}.auc_ci[0]", lo=0.0, hi=1.0)
        hi = _real(ci[1], f"{w}.auc_ci[1]", lo=0.0, hi=1.0)
        assert lo is not None and hi is not None
        if lo > hi:
            raise ValueError(f"extras {w}.auc_ci must have lo <= hi, got {ci!r}")
        out["auc_ci"] = [lo, hi]
    out["tpr_at_1pct"] = _real(d.get("tpr_at_1pct"), f"{w}.tpr_at_1pct", lo=0.0, hi=1.0,
                               none=True)
    for k in ("n_members", "n_non_members"):
        if d.get(k) is not None:
            out[k] = _int(d[k], f"{w}.{k}")
    comparable = _field(d, "comparable", w)
    if not isinstance(comparable, (bool, np.bool_)):
        raise ValueError(f"extras {w}.comparable must be true or false, got {comparable!r}")
    out["comparable"] = bool(comparable)
    out["reason"] = _text(d.get("reason", "") or "", f"{w}.reason")
    out["method"] = _text(d.get("method", "") or "", f"{w}.method")
    out["cites"] = _cites(d, w)
    return out


def _check_canaries(d: dict[str, Any]) -> dict[str, Any]:
    w = "canaries"
    out = dict(d)
    out["template"] = _text(_field(d, "template", w), f"{w}.template")
    out["space_size"] = _int(_field(d, "space_size", w), f"{w}.space_size", lo=1)
    if d.get("n_candidates") is not None:
        out["n_candidates"] = _int(d["n_candidates"], f"{w}.n_candidates")
    out["method"] = _text(d.get("method", "") or "", f"{w}.method")
    rows = []
    for k, kw in _objects(d, "canaries", w):
        row = dict(k)
        row["text"] = _text(_field(k, "text", kw), f"{kw}.text")
        row["repetitions"] = _int(_field(k, "repetitions", kw), f"{kw}.repetitions")
        row["exposure"] = _real(_field(k, "exposure", kw), f"{kw}.exposure", lo=0.0)
        row["exposure_rank"] = _real(k.get("exposure_rank"), f"{kw}.exposure_rank", lo=0.0,
                                     none=True)
        row["max_exposure"] = _real(_field(k, "max_exposure", kw), f"{kw}.max_exposure",
                                    lo=0.0)
        rows.append(row)
    out["canaries"] = rows
    out["cites"] = _cites(d, w)
    return out


def _objects(d: dict[str, Any], key: str, w: str) -> list[tuple[dict[str, Any], str]]:
    """The JSON objects of the list ``d[key]``, each with its name for error messages."""
    items = _field(d, key, w)
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"extras {w}.{key} must be a list, got {items!r:.80}")
    return [(_object(item, f"{w}.{key}[{i}]"), f"{w}.{key}[{i}]")
            for i, item in enumerate(items)]


DP_VERDICTS: tuple[str, ...] = ("consistent", "violated")


def _check_dp(d: dict[str, Any]) -> dict[str, Any]:
    w = "dp"
    out = dict(d)
    for k in ("claimed_epsilon", "epsilon_rdp", "epsilon_prv"):
        out[k] = _real(d.get(k), f"{w}.{k}", lo=0.0, none=True)
    out["accountant"] = _text(d.get("accountant", "") or "", f"{w}.accountant")
    out["delta"] = _real(_field(d, "delta", w), f"{w}.delta", lo=0.0, hi=1.0)
    rows = []
    for b, bw in _objects(d, "lower_bounds", w):
        row = dict(b)
        row["method"] = _text(_field(b, "method", bw), f"{bw}.method")
        row["epsilon_lb"] = _real(_field(b, "epsilon_lb", bw), f"{bw}.epsilon_lb", lo=0.0)
        row["confidence"] = _real(_field(b, "confidence", bw), f"{bw}.confidence", lo=0.0,
                                  hi=1.0)
        rows.append(row)
    out["lower_bounds"] = rows
    verdict = _field(d, "verdict", w)
    if verdict not in DP_VERDICTS:
        raise ValueError(f"extras {w}.verdict must be one of {DP_VERDICTS}, got {verdict!r}")
    out["summary"] = _text(d.get("summary", "") or "", f"{w}.summary")
    for k in ("n_canaries", "runs"):
        if d.get(k) is not None:
            out[k] = _int(d[k], f"{w}.{k}")
    out["cites"] = _cites(d, w)
    return out


def _check_dp_claim(d: dict[str, Any]) -> dict[str, Any]:
    w = "dp_claim"
    out = dict(d)
    out["epsilon"] = _real(_field(d, "epsilon", w), f"{w}.epsilon", lo=0.0)
    out["delta"] = _real(_field(d, "delta", w), f"{w}.delta", lo=0.0, hi=1.0)
    out["cites"] = _cites(d, w)
    return out


_EXTRA_CHECKS = {
    "blind_baseline": _check_blind,
    "canaries": _check_canaries,
    "dp": _check_dp,
    "dp_claim": _check_dp_claim,
}


def check_extras(extras: Any) -> dict[str, Any]:
    """Validate an :class:`AuditReport`'s ``extras`` and return them as plain JSON values.

    The known entries (``blind_baseline``, ``canaries``, ``dp``, ``dp_claim``; formats in
    :class:`AuditReport`) are checked field by field; None entries are dropped; other keys
    are kept as JSON values.

    Raises
    ------
    ValueError
        On a known entry that does not have its format (the message names the field).

    Examples
    --------
    >>> check_extras({"dp_claim": {"epsilon": 8, "delta": 1e-5}})
    {'dp_claim': {'epsilon': 8.0, 'delta': 1e-05, 'cites': None}}
    >>> check_extras({"dp_claim": {"epsilon": -1, "delta": 1e-5}})
    Traceback (most recent call last):
    ...
    ValueError: extras dp_claim.epsilon must be a finite number >= 0, got -1
    """
    if extras is None:
        return {}
    if not isinstance(extras, dict):
        raise TypeError(f"extras must be a dict, got {type(extras).__name__}")
    out: dict[str, Any] = {}
    for key, value in extras.items():
        if value is None:
            continue
        check = _EXTRA_CHECKS.get(str(key))
        if check is not None:
            value = check(_object(value, str(key)))
        out[str(key)] = value
    converted: dict[str, Any] = tables.jsonable(out)
    return converted
