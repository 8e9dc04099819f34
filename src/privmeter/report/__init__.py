"""The audit report: attack results + threat-model card -> HTML, JSON, CSV, PNG and PDF.

:class:`AuditReport` bundles the :class:`~privmeter.result.AttackResult` of each attack,
the threat-model card (how the audit was run) and optional per-record data (features or
images, to show the records most at risk). :meth:`AuditReport.save` writes:

- ``report.html``: one self-contained page (plots inline as base64 PNG, inline CSS, a
  Content-Security-Policy that forbids any network access);
- ``results.json``: the versioned schema of :meth:`AuditReport.to_dict`
  (``images.npy`` beside it when the records have images);
- ``records.csv``: one row per (target, audited point) with every attack's score;
- PNG plots and ``report.pdf`` with the same content.

Rendering needs the ``report`` extra (matplotlib, jinja2, fpdf2); building, summarising and
(de)serialising a report needs only numpy.
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

#: Version of the dict layout written by :meth:`AuditReport.to_dict`.
REPORT_SCHEMA_VERSION = 1

#: Formats :meth:`AuditReport.save` can write.
REPORT_FORMATS: tuple[str, ...] = ("html", "json", "csv", "png", "pdf")

#: File names written by :meth:`AuditReport.save` (plots are ``*.png`` beside them).
HTML_NAME, JSON_NAME, CSV_NAME, PDF_NAME, IMAGES_NAME = (
    "report.html",
    "results.json",
    "records.csv",
    "report.pdf",
    "images.npy",
)


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

    def to_dict(self, *, include_images: bool = True) -> dict[str, Any]:
        """JSON-serialisable dict (non-finite feature values as strings)."""
        d: dict[str, Any] = {
            "point_ids": [int(p) for p in self.point_ids],
            "feature_names": None if self.feature_names is None else list(self.feature_names),
            "features": None if self.features is None else tables.jsonable(self.features),
            "class_names": None if self.class_names is None else list(self.class_names),
            "has_images": self.images is not None,
        }
        if self.images is not None:
            d["images_shape"] = list(self.images.shape)
            d["images_dtype"] = str(self.images.dtype)
            if include_images:
                d["images"] = tables.jsonable(self.images)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, images: ArrayLike | None = None) -> RecordData:
        """Inverse of :meth:`to_dict`; ``images`` overrides (or supplies) the images."""
        feats = d.get("features")
        features: NDArray[Any] | None = None
        if feats is not None:
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
            point_ids=np.asarray(d["point_ids"], dtype=np.int64),
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
        tables.records_table(results)  # validates membership / label consistency

    # ----------------------------------------------------------------- queries
    @property
    def verdict(self) -> Verdict:
        """The risk verdict (see :mod:`privmeter.report.verdict` for the rule)."""
        return assess_risk(self.results)

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
            "",
            tables.text_table(header, rows),
        ]
        if any("n/r" in row for row in rows):
            lines.append(
                "n/r: not resolvable, the FPR level is below 1 / n_non_members of that attack."
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
            f"<table><thead>{head}</thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        return (
            f"AuditReport(title={self.title!r}, attacks={self.labels!r}, "
            f"verdict={self.verdict.level!r})"
        )

    # ----------------------------------------------------------- (de)serialise
    def to_dict(self, *, include_images: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict (``"schema_version": 1``); see :meth:`from_dict`.

        ``verdict`` is included for readers of the file; :meth:`from_dict` recomputes it.
        """
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "title": self.title,
            "verdict": self.verdict.to_dict(),
            "card": self.card,
            "results": [r.to_dict() for r in self.results],
            "records": None
            if self.records is None
            else self.records.to_dict(include_images=include_images),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (no NaN or Infinity literals)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, images: ArrayLike | None = None) -> AuditReport:
        """Rebuild a report from :meth:`to_dict` output.

        Parameters
        ----------
        d : dict
            The dict (e.g. ``json.load`` of ``results.json``).
        images : array_like, optional
            The records' images when the dict was written without them.

        Raises
        ------
        ValueError
            If the schema version is not one this privmeter reads.
        """
        version = d.get("schema_version")
        if version != REPORT_SCHEMA_VERSION:
            raise ValueError(
                f"unsupported report schema_version {version!r}; this privmeter reads "
                f"version {REPORT_SCHEMA_VERSION}"
            )
        rec = d.get("records")
        return cls(
            results=tuple(AttackResult.from_dict(r) for r in d["results"]),
            card=dict(d.get("card") or {}),
            records=None if rec is None else RecordData.from_dict(rec, images=images),
            title=d.get("title", "Membership inference audit"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AuditReport:
        """Read a report written by :meth:`save` (its folder or its ``results.json``)."""
        p = Path(path)
        json_path = p / JSON_NAME if p.is_dir() else p
        with open(json_path, encoding="utf-8") as f:
            d = json.load(f)
        images = None
        img_path = json_path.parent / IMAGES_NAME
        rec = d.get("records") or {}
        if rec.get("has_images") and rec.get("images") is None:
            if not img_path.exists():
                raise FileNotFoundError(
                    f"{json_path} refers to record images but {img_path} is missing"
                )
            images = np.load(img_path, allow_pickle=False)
        return cls.from_dict(d, images=images)

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
            Any of ``"html"``, ``"json"`` (``results.json``, plus ``images.npy`` when the
            records have images), ``"csv"`` (``records.csv``), ``"png"`` (the plots),
            ``"pdf"``.

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
            written.append(tables.write_json(self, out / JSON_NAME, include_images=False))
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


def _remove_previous(out: Path) -> None:
    """Delete the files an earlier :meth:`AuditReport.save` wrote into ``out``."""
    from privmeter.report.plots import is_report_figure

    for p in out.iterdir():
        if p.is_file() and (
            p.name in (HTML_NAME, JSON_NAME, CSV_NAME, PDF_NAME, IMAGES_NAME)
            or is_report_figure(p.name)
        ):
            p.unlink()
