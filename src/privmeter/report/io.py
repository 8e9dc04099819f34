"""Reading and writing an audit report: ``results.json``, its ``scores.npz`` sidecar, the rest.

The report data (:mod:`privmeter.report.model`) knows nothing of files; this module turns it
into the versioned dict of ``results.json`` and back (with the schema checks that give a
damaged file a clear error), keeps the per-point arrays in the ``scores.npz`` sidecar
(each distinct array once, referenced by name and checked against its SHA-256, read without
pickles) and writes every report format into a folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._io import atomic_write
from privmeter.report import tables
from privmeter.result import AttackResult, jsonable

if TYPE_CHECKING:
    from privmeter.report.model import AuditReport, RecordData

__all__ = [
    "ARRAYS_NAME",
    "CSV_NAME",
    "HTML_NAME",
    "IMAGES_NAME",
    "JSON_NAME",
    "JSON_TOP_RECORDS",
    "PDF_NAME",
    "READABLE_SCHEMA_VERSIONS",
    "REPORT_FORMATS",
    "REPORT_SCHEMA_VERSION",
    "load_report",
    "records_from_dict",
    "records_to_dict",
    "report_from_dict",
    "report_to_dict",
    "save_report",
]

#: Version of the dict layout written by :meth:`AuditReport.to_dict`. Version 2 added
#: ``not_run``, ``exposed_records`` and the ``scores.npz`` sidecar; version 1 files (arrays
#: inline) still load. Within version 2, ``extras`` and the records' ``texts`` and
#: ``tokens`` were added as optional keys: files without them load, and a reader that does
#: not know them still reads the rest.
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


def records_to_dict(
    records: RecordData, *, include_images: bool = True, arrays: _ArrayStore | None = None
) -> dict[str, Any]:
    """A JSON-serialisable dict of ``records`` (non-finite feature values as strings).

    With ``arrays`` the point ids and features are put there (the ``scores.npz``
    sidecar) and the dict refers to them by name.
    """
    d: dict[str, Any] = {
        "feature_names": None if records.feature_names is None else list(records.feature_names),
        "class_names": None if records.class_names is None else list(records.class_names),
        "has_images": records.images is not None,
    }
    if arrays is None:
        d["point_ids"] = [int(p) for p in records.point_ids]
        d["features"] = None if records.features is None else tables.jsonable(records.features)
    else:
        refs = {"point_ids": arrays.add(records.point_ids)}
        if records.features is not None:
            feats = records.features
            refs["features"] = arrays.add(
                feats if feats.dtype.kind == "f" else feats.astype(str)
            )
        d["arrays"] = refs
    if records.texts is not None or records.tokens is not None:
        _texts_to_dict(records, d, arrays)
    if records.images is not None:
        d["images_shape"] = list(records.images.shape)
        d["images_dtype"] = str(records.images.dtype)
        if include_images:
            d["images"] = tables.jsonable(records.images)
    return d


def records_from_dict(
    cls: type[RecordData],
    d: dict[str, Any],
    *,
    images: ArrayLike | None = None,
    arrays: _ArrayStore | None = None,
) -> RecordData:
    """Inverse of :func:`records_to_dict`; ``images`` overrides (or supplies) the images."""
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
    texts, tokens = _texts_from_dict(d, arrays)
    return cls(
        point_ids=np.asarray(point_ids, dtype=np.int64),
        features=features,
        feature_names=d.get("feature_names"),
        images=imgs,
        class_names=d.get("class_names"),
        texts=texts,
        tokens=tokens,
    )


def _utf8_join(strings: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Strings as their concatenated UTF-8 bytes and the ``len + 1`` byte offsets.

    Unlike a numpy text array this keeps trailing NUL characters and does not pad every
    string to the longest one.
    """
    encoded = [t.encode("utf-8") for t in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def _offsets(arr: Any, n: int, total: int, what: str) -> list[int]:
    a = np.asarray(arr)
    if a.dtype.kind not in "iu" or a.shape != (n + 1,):
        raise ValueError(f"records {what} offsets must be {n + 1} integers, got "
                         f"{a.dtype} shape {a.shape}")
    if (a[0] != 0 or a[-1] != total or (np.diff(a) < 0).any()):
        raise ValueError(f"records {what} offsets must rise from 0 to {total}; the file is "
                         "damaged")
    return [int(v) for v in a]


def _utf8_split(data: Any, offsets: Any, n: int, what: str) -> list[str]:
    raw = np.asarray(data)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"records {what} must be UTF-8 bytes (uint8), got {raw.dtype}")
    off = _offsets(offsets, n, raw.size, what)
    buf = raw.tobytes()
    try:
        return [buf[off[i]:off[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError as e:
        raise ValueError(f"records {what} are not valid UTF-8 ({e}); the file is damaged") \
            from None


def _texts_to_dict(records: RecordData, d: dict[str, Any], arrays: _ArrayStore | None) -> None:
    """Add the records' texts and tokens to ``d``: inline lists, or the ``scores.npz``
    arrays ``texts_utf8`` / ``texts_offsets`` (UTF-8 bytes and their offsets) and
    ``tokens_present``, ``tokens_counts`` (pieces per record), ``tokens_utf8``,
    ``tokens_offsets`` (every piece's bytes) and ``tokens_logprobs`` (float64, NaN kept)."""
    toks = records.tokens
    if arrays is None:
        if records.texts is not None:
            d["texts"] = list(records.texts)
        if toks is not None:
            d["tokens"] = [
                None if t is None else {"pieces": list(t[0]), "logprobs": jsonable(t[1])}
                for t in toks
            ]
        return
    refs: dict[str, str] = d["arrays"]
    if records.texts is not None:
        data, off = _utf8_join(records.texts)
        refs["texts_utf8"], refs["texts_offsets"] = arrays.add(data), arrays.add(off)
    if toks is not None:
        present = np.array([t is not None for t in toks], dtype=bool)
        counts = np.array([0 if t is None else len(t[0]) for t in toks], dtype=np.int64)
        pieces = [p for t in toks if t is not None for p in t[0]]
        lps = [t[1] for t in toks if t is not None]
        data, off = _utf8_join(pieces)
        refs["tokens_present"] = arrays.add(present)
        refs["tokens_counts"] = arrays.add(counts)
        refs["tokens_utf8"] = arrays.add(data)
        refs["tokens_offsets"] = arrays.add(off)
        refs["tokens_logprobs"] = arrays.add(
            np.concatenate(lps) if lps else np.zeros(0, dtype=np.float64))


def _texts_from_dict(
    d: dict[str, Any], arrays: _ArrayStore | None
) -> tuple[list[str] | None, list[tuple[list[str], NDArray[np.float64]] | None] | None]:
    """Inverse of :func:`_texts_to_dict` (the records' texts and tokens, or None)."""
    refs = d.get("arrays")
    if refs is None:
        texts = d.get("texts")
        if texts is not None and not isinstance(texts, list):
            raise ValueError(f"records 'texts' must be a list of strings, got {texts!r:.80}")
        raw = d.get("tokens")
        if raw is None:
            return texts, None
        if not isinstance(raw, list):
            raise ValueError(f"records 'tokens' must be a list, got {raw!r:.80}")
        tokens: list[tuple[list[str], NDArray[np.float64]] | None] = []
        for i, t in enumerate(raw):
            if t is None:
                tokens.append(None)
                continue
            if not isinstance(t, dict) or not isinstance(t.get("pieces"), list) or \
                    not isinstance(t.get("logprobs"), list):
                raise ValueError(
                    f"records tokens[{i}] must be {{'pieces': [...], 'logprobs': [...]}} or "
                    f"null, got {t!r:.80}"
                )
            tokens.append((t["pieces"], np.asarray([_float_or_str(v) for v in t["logprobs"]],
                                                   dtype=np.float64)))
        return texts, tokens
    if arrays is None:
        raise ValueError("the records refer to a scores.npz sidecar that was not given")
    n = int(np.asarray(arrays.get(refs["point_ids"])).size)
    texts = None
    if "texts_utf8" in refs:
        texts = _utf8_split(arrays.get(refs["texts_utf8"]), arrays.get(refs.get("texts_offsets")),
                            n, "texts")
    if "tokens_present" not in refs:
        return texts, None
    present = np.asarray(arrays.get(refs["tokens_present"]))
    counts = np.asarray(arrays.get(refs.get("tokens_counts")))
    if present.dtype != bool or present.shape != (n,) or counts.shape != (n,) or \
            counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"records token arrays must have one entry per record ({n}); the "
                         "file is damaged")
    total = int(counts.sum())
    pieces = _utf8_split(arrays.get(refs.get("tokens_utf8")),
                         arrays.get(refs.get("tokens_offsets")), total, "token pieces")
    lps = np.asarray(arrays.get(refs.get("tokens_logprobs")))
    if lps.dtype.kind != "f" or lps.shape != (total,):
        raise ValueError(f"records token log-probabilities must be {total} floats, got "
                         f"{lps.dtype} shape {lps.shape}")
    tokens = []
    start = 0
    for has, c in zip(present.tolist(), counts.tolist(), strict=True):
        if has:
            tokens.append((pieces[start:start + c], lps[start:start + c].astype(np.float64)))
        else:
            tokens.append(None)
        start += c
    return texts, tokens


def report_to_dict(
    report: AuditReport, *, include_images: bool = True, arrays: _ArrayStore | None = None
) -> dict[str, Any]:
    """A JSON-serialisable dict (``"schema_version": 2``); see :func:`report_from_dict`.

    ``verdict`` and ``exposed_records`` are included for readers of the file;
    :func:`report_from_dict` recomputes them. Without ``arrays`` the per-point arrays are
    inline (large for big audits); with it they are added to that store (the ``scores.npz``
    sidecar that :func:`save_report` writes) and referred to by name.
    """
    best = report.best
    rec = report.records
    texts = None if rec is None else rec.texts
    exposed = []
    for e in tables.top_records(best, rec if texts is not None else None, k=JSON_TOP_RECORDS):
        entry: dict[str, Any] = {
            "rank": e.rank, "point_id": e.point_id, "label": e.label, "score": e.score,
            "n_non_members_above": e.n_non_members_above, "fpr": e.fpr}
        if texts is not None:
            entry["text"] = None if e.record_index is None else texts[e.record_index]
        exposed.append(entry)
    results: list[dict[str, Any]] = []
    for r in report.results:
        if arrays is None:
            results.append(r.to_dict())
        else:
            rd = r.to_dict(include_scores=False)
            rd["arrays"] = {k: arrays.add(v) for k, v in r.arrays().items()}
            results.append(rd)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": report.title,
        "verdict": report.verdict.to_dict(),
        "not_run": [{"attack": a, "reason": why} for a, why in report.not_run],
        "card": report.card,
        "exposed_records": {"attack": report.labels[report.verdict.index], "records": exposed},
        "results": results,
        "records": None
        if report.records is None
        else records_to_dict(report.records, include_images=include_images, arrays=arrays),
        "extras": report.extras,
    }


def report_from_dict(
    cls: type[AuditReport],
    d: dict[str, Any],
    *,
    images: ArrayLike | None = None,
    arrays: _ArrayStore | None = None,
) -> AuditReport:
    """Rebuild a report from :func:`report_to_dict` output: :meth:`AuditReport.from_dict`,
    which documents the parameters and the errors."""
    from privmeter.report.model import RecordData

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
        else records_from_dict(RecordData, rec, images=images, arrays=arrays),
        title=d.get("title") or "Membership inference audit",
        not_run=tuple(
            (str(x["attack"]), str(x["reason"])) for x in d.get("not_run") or ()
        ),
        extras=dict(d.get("extras") or {}),
    )


def load_report(cls: type[AuditReport], path: str | os.PathLike[str]) -> AuditReport:
    """Read a report written by :func:`save_report` (its folder or its ``results.json``).

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
    return report_from_dict(cls, d, images=images, arrays=arrays)


def save_report(
    report: AuditReport,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    formats: Sequence[str] = REPORT_FORMATS,
) -> list[Path]:
    """Write the report files into ``out_dir``: :meth:`AuditReport.save`, which documents
    the parameters, the formats and the errors."""
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
        d = report_to_dict(report, include_images=False, arrays=store)
        d["arrays"] = store.write(out / ARRAYS_NAME)
        written.append(out / ARRAYS_NAME)
        written.append(tables.write_json_dict(d, out / JSON_NAME))
        if report.records is not None and report.records.images is not None:
            np.save(out / IMAGES_NAME, report.records.images, allow_pickle=False)
            written.append(out / IMAGES_NAME)
    if "csv" in fmts:
        written.append(tables.write_csv(report, out / CSV_NAME))
    if {"html", "png", "pdf"} & set(fmts):
        from privmeter.report import plots

        figures = plots.report_figures(report)
        if "png" in fmts:
            for name, data in figures.items():
                p = out / name
                atomic_write(p, data)
                written.append(p)
        if "html" in fmts:
            from privmeter.report.html import write_html

            written.append(write_html(report, out / HTML_NAME, figures=figures))
        if "pdf" in fmts:
            from privmeter.report.pdf import write_pdf

            written.append(write_pdf(report, out / PDF_NAME, figures=figures))
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
    extras = d.get("extras")
    if extras is not None and not isinstance(extras, dict):
        raise ValueError(f"'extras' must be a JSON object or null, got {extras!r:.80}")
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
    """Delete the files an earlier :func:`save_report` wrote into ``out``."""
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
        atomic_write(path, data)
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
