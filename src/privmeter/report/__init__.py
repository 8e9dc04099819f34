"""The audit report: attack results + threat-model card -> HTML, JSON, CSV, PNG and PDF.

:class:`AuditReport` bundles the :class:`~privmeter.result.AttackResult` of each attack,
the threat-model card (how the audit was run) and optional per-record data (features or
images, to show the records most at risk). :meth:`AuditReport.save` writes:

- ``report.html``: one self-contained page (plots inline as base64 PNG, inline CSS, a
  Content-Security-Policy that forbids any network access);
- ``results.json``: the versioned schema of :meth:`AuditReport.to_dict`, small: figures,
  verdict, card and the most exposed records; the per-point arrays (scores, membership,
  point ids, labels, record features) go to ``scores.npz`` beside it, referenced with its
  SHA-256 and loaded without pickles (``images.npy`` beside it when the records have images);
- ``records.csv``: one row per (target, audited point) with every attack's score;
- PNG plots and ``report.pdf`` with the same content.

Rendering needs the ``report`` extra (matplotlib, jinja2, fpdf2); building, summarising and
(de)serialising a report needs only numpy.
"""

from __future__ import annotations

import hashlib
import html as _stdhtml
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter.report import tables
from privmeter.report.verdict import Verdict, assess_attack, assess_risk
from privmeter.result import AttackResult

__all__ = [
    "REPORT_FORMATS",
    "REPORT_SCHEMA_VERSION",
    "AuditReport",
    "RecordData",
    "Verdict",
    "assess_attack",
    "assess_risk",
]

#: Version of the dict layout written by :meth:`AuditReport.to_dict`. Version 2 added
#: ``not_run``, ``exposed_records`` and the ``scores.npz`` sidecar; version 1 files (arrays
#: inline) still load.
REPORT_SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS: tuple[int, ...] = (1, 2)

#: Formats :meth:`AuditReport.save` can write.
REPORT_FORMATS: tuple[str, ...] = ("html", "json", "csv", "png", "pdf")

#: File names written by :meth:`AuditReport.save` (plots are ``*.png`` beside them).
HTML_NAME, JSON_NAME, CSV_NAME, PDF_NAME, IMAGES_NAME, ARRAYS_NAME = (
    "report.html",
    "results.json",
    "records.csv",
    "report.pdf",
    "images.npy",
    "scores.npz",
)
#: Most exposed records listed in results.json (of the attack that decided the verdict).
JSON_TOP_RECORDS = 10


def _float_or_str(v: Any) -> Any:
    """Inverse of :func:`tables.jsonable` on one feature value."""
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


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
    """

    point_ids: NDArray[np.int64]
    features: NDArray[Any] | None = None
    feature_names: tuple[str, ...] | None = None
    images: NDArray[Any] | None = None
    class_names: tuple[str, ...] | None = None

    def __init__(
        self,
        point_ids: ArrayLike,
        features: ArrayLike | None = None,
        feature_names: Sequence[str] | None = None,
        images: ArrayLike | None = None,
        class_names: Sequence[str] | None = None,
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
        d: dict[str, Any] = {
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "class_names": None if self.class_names is None else list(self.class_names),
            "has_images": self.images is not None,
        }
        if arrays is None:
            d["point_ids"] = [int(p) for p in self.point_ids]
            d["features"] = None if self.features is None else tables.jsonable(self.features)
        else:
            refs = {"point_ids": arrays.add(self.point_ids)}
            if self.features is not None:
                feats = self.features
                refs["features"] = arrays.add(
                    feats if feats.dtype.kind == "f" else feats.astype(str)
                )
            d["arrays"] = refs
        if self.images is not None:
            d["images_shape"] = list(self.images.shape)
            d["images_dtype"] = str(self.images.dtype)
            if include_images:
                d["images"] = tables.jsonable(self.images)
        return d

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        *,
        images: ArrayLike | None = None,
        arrays: _ArrayStore | None = None,
    ) -> RecordData:
        """Inverse of :meth:`to_dict`; ``images`` overrides (or supplies) the images."""
        feats = d.get("features")
        features: NDArray[Any] | None = None
        refs = d.get("arrays")
        point_ids: Any = d.get("point_ids")
        if refs is not None:
            if arrays is None:
                raise ValueError("the records refer to a scores.npz sidecar that was not given")
            point_ids = arrays.get(refs["point_ids"])
            if "features" in refs:
                f = arrays.get(refs["features"])
                features = f if f.dtype.kind == "f" else f.astype(object)
        elif feats is not None:
            rows = [[_float_or_str(v) for v in row] for row in feats]
            numeric = all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for r in rows for v in r
            )
            features = (
                np.asarray(rows, dtype=np.float64)
                if numeric
                else np.asarray(rows, dtype=object).reshape(len(rows), -1)
            )
            if features.ndim == 1:  # zero rows
                features = features.reshape(0, len(d.get("feature_names") or []))
        imgs: NDArray[Any] | None = None
        if images is not None:
            imgs = np.asarray(images)
        elif d.get("images") is not None:
            imgs = np.asarray(d["images"], dtype=np.dtype(d.get("images_dtype", "float64")))
        return cls(
            point_ids=np.asarray(point_ids, dtype=np.int64),
            features=features,
            feature_names=d.get("feature_names"),
            images=imgs,
            class_names=d.get("class_names"),
        )


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

    Raises
    ------
    ValueError
        If there are no results, or two results disagree on the membership or label of
        the same (target, point).

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
        lines += [f"Utility: {u}" for u in tables.utility_lines(self.card)]
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
        best = self.best
        exposed = [
            {"rank": e.rank, "point_id": e.point_id, "label": e.label, "score": e.score,
             "n_non_members_above": e.n_non_members_above, "fpr": e.fpr}
            for e in tables.top_records(best, None, k=JSON_TOP_RECORDS)
        ]
        results: list[dict[str, Any]] = []
        for r in self.results:
            if arrays is None:
                results.append(r.to_dict())
            else:
                rd = r.to_dict(include_scores=False)
                rd["arrays"] = {k: arrays.add(v) for k, v in r.arrays().items()}
                results.append(rd)
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "title": self.title,
            "verdict": self.verdict.to_dict(),
            "not_run": [{"attack": a, "reason": why} for a, why in self.not_run],
            "card": self.card,
            "exposed_records": {"attack": self.labels[self.verdict.index], "records": exposed},
            "results": results,
            "records": None
            if self.records is None
            else self.records.to_dict(include_images=include_images, arrays=arrays),
        }

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
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object at the top level, got {type(d).__name__}")
        version = d.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(
                f"unsupported report schema_version {version!r}; this privmeter reads "
                f"versions {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}"
            )
        if "results" not in d or not isinstance(d["results"], list):
            raise ValueError("no 'results' list in the report")
        _check_report_fields(d)
        results = []
        for r in d["results"]:
            refs = r.get("arrays")
            if refs is None:
                results.append(AttackResult.from_dict(r))
                continue
            if not isinstance(refs, dict):
                raise ValueError(
                    f"result {r.get('attack')!r}: 'arrays' must be a JSON object of array "
                    f"names, got {refs!r}"
                )
            if arrays is None:
                raise ValueError(
                    f"result {r.get('attack')!r} refers to a {ARRAYS_NAME} sidecar that was "
                    "not given (load the report with AuditReport.load)"
                )
            results.append(
                AttackResult.from_dict(r, arrays={k: arrays.get(v) for k, v in refs.items()})
            )
        rec = d.get("records")
        return cls(
            results=tuple(results),
            card=dict(d.get("card") or {}),
            records=None
            if rec is None
            else RecordData.from_dict(rec, images=images, arrays=arrays),
            title=d.get("title") or "Membership inference audit",
            not_run=tuple(
                (str(x["attack"]), str(x["reason"])) for x in d.get("not_run") or ()
            ),
        )

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
        p = Path(path)
        json_path = p / JSON_NAME if p.is_dir() else p
        with open(json_path, encoding="utf-8") as f:
            d = json.load(f)
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object at the top level, got {type(d).__name__}")
        _check_report_fields(d)
        images = None
        img_path = json_path.parent / IMAGES_NAME
        rec = d.get("records") or {}
        if rec.get("has_images") and rec.get("images") is None:
            if not img_path.exists():
                raise FileNotFoundError(
                    f"{json_path} refers to record images but {img_path} is missing"
                )
            images = np.load(img_path, allow_pickle=False)
        arrays = None
        ref = d.get("arrays")
        if ref is not None:
            arrays = _ArrayStore.read(json_path.parent, ref)
        return cls.from_dict(d, images=images, arrays=arrays)

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
        fmts = tuple(dict.fromkeys(str(f).lower() for f in formats))
        unknown = [f for f in fmts if f not in REPORT_FORMATS]
        if unknown:
            raise ValueError(f"unknown report formats {unknown}; choose from {REPORT_FORMATS}")
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"output path {str(out)!r} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not overwrite:
                raise FileExistsError(
                    f"output folder {str(out)!r} exists and is not empty; pass overwrite=True "
                    "to replace the report files in it, or choose another folder"
                )
            _remove_previous(out)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if "json" in fmts:
            store = _ArrayStore()
            d = self.to_dict(include_images=False, arrays=store)
            d["arrays"] = store.write(out / ARRAYS_NAME)
            written.append(out / ARRAYS_NAME)
            written.append(tables.write_json_dict(d, out / JSON_NAME))
            if self.records is not None and self.records.images is not None:
                np.save(out / IMAGES_NAME, self.records.images, allow_pickle=False)
                written.append(out / IMAGES_NAME)
        if "csv" in fmts:
            written.append(tables.write_csv(self, out / CSV_NAME))
        if {"html", "png", "pdf"} & set(fmts):
            from privmeter.report import plots

            figures = plots.report_figures(self)
            if "png" in fmts:
                for name, data in figures.items():
                    p = out / name
                    tables._atomic_write(p, data)
                    written.append(p)
            if "html" in fmts:
                from privmeter.report.html import write_html

                written.append(write_html(self, out / HTML_NAME, figures=figures))
            if "pdf" in fmts:
                from privmeter.report.pdf import write_pdf

                written.append(write_pdf(self, out / PDF_NAME, figures=figures))
        return written


def _check_report_fields(d: dict[str, Any]) -> None:
    """Clear errors for a damaged results.json (its top level; results are checked later)."""
    for i, r in enumerate(d.get("results") or ()):
        if not isinstance(r, dict):
            raise ValueError(f"results[{i}] is a {type(r).__name__}, not a JSON object")
    for i, item in enumerate(d.get("not_run") or ()):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("attack"), str)
            and isinstance(item.get("reason"), str)
        ):
            raise ValueError(
                f"not_run[{i}] must be {{'attack': ..., 'reason': ...}} with text values, "
                f"got {item!r}"
            )
    card = d.get("card")
    if card is not None and not isinstance(card, dict):
        raise ValueError(f"'card' must be a JSON object, got a {type(card).__name__}")
    title = d.get("title")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"'title' must be a string, got {title!r}")
    rec = d.get("records")
    if rec is not None and not isinstance(rec, dict):
        raise ValueError(f"'records' must be a JSON object or null, got {rec!r}")
    if isinstance(rec, dict) and rec.get("arrays") is not None and not (
        isinstance(rec["arrays"], dict) and "point_ids" in rec["arrays"]
    ):
        raise ValueError(
            f"'records.arrays' must name the point_ids array, got {rec['arrays']!r}"
        )


def _remove_previous(out: Path) -> None:
    """Delete the files an earlier :meth:`AuditReport.save` wrote into ``out``."""
    from privmeter.report.plots import is_report_figure

    for p in out.iterdir():
        if p.is_file() and (
            p.name in (HTML_NAME, JSON_NAME, CSV_NAME, PDF_NAME, IMAGES_NAME, ARRAYS_NAME)
            or is_report_figure(p.name)
        ):
            p.unlink()


class _ArrayStore:
    """Named per-point arrays for the ``scores.npz`` sidecar, stored once per distinct content.

    Results of several attacks on the same points share their membership, point-id and label
    arrays: each distinct array is written once.
    """

    def __init__(self, arrays: dict[str, NDArray[Any]] | None = None) -> None:
        self._arrays: dict[str, NDArray[Any]] = dict(arrays or {})
        self._by_digest: dict[tuple[str, tuple[int, ...], str], str] = {}

    def add(self, arr: NDArray[Any]) -> str:
        a = np.ascontiguousarray(arr)
        key = (a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).hexdigest())
        name = self._by_digest.get(key)
        if name is None:
            name = f"a{len(self._arrays)}"
            self._arrays[name] = a
            self._by_digest[key] = name
        return name

    def get(self, name: object) -> NDArray[Any]:
        if not isinstance(name, str) or name not in self._arrays:
            raise ValueError(f"{ARRAYS_NAME} has no array named {name!r}")
        return self._arrays[name]

    def write(self, path: Path) -> dict[str, Any]:
        """Write the arrays (uncompressed ``.npz``) and return the JSON reference to them."""
        buf = io.BytesIO()
        for k, a in self._arrays.items():  # object arrays would be pickled: never written
            if a.dtype.kind not in "biufU":
                raise TypeError(f"array {k!r} has dtype {a.dtype}; only numbers and text")
        np.savez(buf, **self._arrays)  # type: ignore[arg-type]
        data = buf.getvalue()
        tables._atomic_write(path, data)
        return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data)}

    @classmethod
    def read(cls, folder: Path, ref: object) -> _ArrayStore:
        if not isinstance(ref, dict) or not isinstance(ref.get("file"), str) or not isinstance(
            ref.get("sha256"), str
        ):
            raise ValueError(f"'arrays' must be {{'file': ..., 'sha256': ...}}, got {ref!r}")
        name = ref["file"]
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"'arrays.file' must be a file name beside results.json, got {name!r}")
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"the per-point arrays {path} are missing (see results.json)")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != ref["sha256"]:
            raise ValueError(
                f"{path} does not match the SHA-256 recorded in results.json "
                f"(expected {ref['sha256']}, got {digest}): the file was changed or damaged"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except ValueError as exc:
            raise ValueError(f"{path} is not a plain .npz of arrays: {exc}") from None
        for k, a in arrays.items():
            if a.dtype.kind not in "biufU":
                raise ValueError(f"{path}: array {k!r} has unsupported dtype {a.dtype}")
        return cls(arrays)
