"""The report data: every attack's result, the threat-model card, the records (no I/O).

:class:`AuditReport` bundles the :class:`~privmeter.result.AttackResult` of each attack,
the threat-model card (how the audit was run), the attacks that did not run and optional
per-record data (:class:`RecordData`: features or images, to show the records most at
risk). It answers the questions a reader asks (the verdict, the key figures as text or
HTML); :mod:`privmeter.report.io` turns it into files and back, and its ``to_dict``,
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

__all__ = ["AuditReport", "RecordData"]


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
