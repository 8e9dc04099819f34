"""TextDataset, the text loaders, member splits, the synthetic corpus, text fingerprints."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from privmeter.datasets import (
    TEXT_SOURCES,
    TextDataset,
    load_csv_text,
    load_jsonl,
    load_member_split,
    load_text,
    load_text_file,
    member_split,
    synthetic_records,
)
from privmeter.training._hashing import data_fingerprint

# ------------------------------------------------------------------------------ TextDataset


def test_language_model_dataset_contract() -> None:
    ds = TextDataset(["alpha beta", "gamma"], name="toy")
    assert ds.task == "language_model" and ds.n_classes is None and ds.class_names is None
    assert ds.x.dtype == object and ds.x.ndim == 1 and ds.x.tolist() == ["alpha beta", "gamma"]
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [0, 0]
    assert ds.ids == ("0", "1") and ds.name == "toy" and len(ds) == 2
    assert ds.feature_names is None and ds.image_shape is None
    with pytest.raises(ValueError, match="read-only"):
        ds.x[0] = "changed"
    with pytest.raises(ValueError, match="read-only"):
        ds.y[0] = 3
    with pytest.raises(AttributeError, match="immutable"):
        ds.name = "other"  # type: ignore[misc]
    assert "TextDataset(name='toy', n=2" in repr(ds)


def test_classification_labels() -> None:
    ds = TextDataset(["a", "b", "c"], labels=["spam", "ham", "spam"])
    assert ds.task == "classification" and ds.n_classes == 2
    assert ds.class_names == ("ham", "spam") and ds.y.tolist() == [1, 0, 1]
    ordered = TextDataset(["a", "b"], labels=["spam", "ham"], class_names=["spam", "ham"])
    assert ordered.y.tolist() == [0, 1] and ordered.class_names == ("spam", "ham")
    codes = TextDataset(["a", "b"], labels=[2, 0])
    assert codes.n_classes == 3 and codes.y.tolist() == [2, 0]
    named = TextDataset(["a", "b"], labels=np.array([1, 0]), class_names=("no", "yes"))
    assert named.n_classes == 2 and named.class_names == ("no", "yes")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"texts": ["ok", "", " \n\t", "fine"]},
         r"2 texts are empty or whitespace-only: rows 1, 2"),
        ({"texts": ["ok", None]}, r"texts must be str; row 1 is a NoneType"),
        ({"texts": ["ok", b"bytes"]}, r"row 1 is a bytes"),
        ({"texts": "one string"}, r"not one string"),
        ({"texts": ["a", "b\ud800"]}, r"row 1 is not valid Unicode"),
        ({"texts": ["a", "b"], "ids": ["x", "x"]}, r"ids must be unique; 1 repeat .*'x'"),
        ({"texts": ["a", "b"], "ids": ["x"]}, r"got 1 ids for 2 texts"),
        ({"texts": ["a", "b"], "ids": ["x", None]}, r"id 1 is None"),
        ({"texts": ["a", "b"], "labels": [0]}, r"got 1 labels for 2 texts"),
        ({"texts": ["a", "b"], "labels": [0, -1]}, r"class codes must be >= 0"),
        ({"texts": ["a", "b"], "labels": [0.5, 1]}, r"integer class indices"),
        ({"texts": ["a", "b"], "labels": ["x", 1]}, r"labels mix text"),
        ({"texts": ["a"], "labels": ["cat"], "class_names": ["dog"]}, r"'cat' .* not one of"),
        ({"texts": ["a", "b"], "labels": [0, 2], "class_names": ["x", "y"]}, r"class code 2"),
        ({"texts": ["a"], "class_names": ["x"]}, r"class_names are for a labelled"),
    ],
)
def test_bad_text_dataset(kwargs: dict[str, object], message: str) -> None:
    texts = kwargs.pop("texts")
    with pytest.raises(ValueError, match=message):
        TextDataset(texts, **kwargs)  # type: ignore[arg-type]


def test_many_blank_texts_are_counted() -> None:
    texts = ["x"] + [""] * 12
    message = r"12 texts are empty .*rows 1, 2, 3, 4, 5 \.\.\. \(12 in all\)"
    with pytest.raises(ValueError, match=message):
        TextDataset(texts)


def test_subset_and_repeats() -> None:
    ds = TextDataset(["a", "b", "c"], labels=["p", "q", "p"], ids=["i", "j", "k"], name="n")
    sub = ds.subset([2, 0, 2])
    assert sub.texts == ["c", "a", "c"] and sub.ids == ("k", "i", "k#2")
    assert sub.y.tolist() == [0, 0, 0] and sub.class_names == ("p", "q") and sub.name == "n"
    assert sub.n_classes == 2 and sub.task == "classification"
    assert ds.subset(np.array([True, False, True])).texts == ["a", "c"]
    assert len(ds.subset([])) == 0
    with pytest.raises(IndexError, match="index 3 is out of range"):
        ds.subset([3])
    with pytest.raises(IndexError, match="out of range"):
        ds.subset([-1])
    with pytest.raises(ValueError, match="boolean mask must have shape"):
        ds.subset([True])
    with pytest.raises(ValueError, match="integers or a boolean mask"):
        ds.subset([0.5])


def test_fingerprint_and_summary() -> None:
    a = TextDataset(["héllo wörld", "b"], name="a")
    assert a.fingerprint() == TextDataset(["héllo wörld", "b"], ids=["p", "q"]).fingerprint()
    assert a.fingerprint() == data_fingerprint(a.x, a.y)
    assert a.fingerprint() != TextDataset(["héllo wörld", "c"]).fingerprint()
    assert a.fingerprint() != TextDataset(["b", "héllo wörld"]).fingerprint()
    assert a.fingerprint() != TextDataset(["héllo wörld", "b"], labels=[0, 1]).fingerprint()
    s = TextDataset(["ab", "abcd", "abcdefghi"], labels=[0, 1, 1]).summary()
    assert s["n"] == 3 and s["n_classes"] == 2 and s["task"] == "classification"
    assert s["mean_chars"] == pytest.approx(5.0) and s["median_chars"] == 4.0
    json.dumps(s)


def test_data_fingerprint_of_text_arrays() -> None:
    x1 = np.array(["ab", "c"], dtype=object)
    x2 = np.array(["a", "bc"], dtype=object)
    assert data_fingerprint(x1) != data_fingerprint(x2)  # lengths are hashed
    assert data_fingerprint(x1) == data_fingerprint(np.array(["ab", "c"], dtype=object))
    with pytest.raises(ValueError, match="element 1 is a int"):
        data_fingerprint(np.array(["a", 1], dtype=object))
    with pytest.raises(ValueError, match="1-D array of str"):
        data_fingerprint(np.array([["a"]], dtype=object))


def test_numeric_fingerprint_is_what_it_was() -> None:
    import hashlib

    arr = np.arange(5, dtype=np.int64)
    h = hashlib.sha256()
    h.update(b"#array|")
    h.update(f"{arr.dtype.str}|{list(arr.shape)}|".encode())
    h.update(arr.tobytes())
    assert data_fingerprint(arr) == h.hexdigest()


# ---------------------------------------------------------------------------------- loaders


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return p


def test_load_text_file_lines(tmp_path: Path) -> None:
    p = _write(tmp_path, "recs.txt", "\ufefffirst record\r\nsecond  \n\n   \nthird\n")
    with pytest.warns(UserWarning, match=r"skipped 2 blank lines \(lines 3, 4\).*3 records"):
        ds = load_text_file(p)
    assert ds.texts == ["first record", "second  ", "third"]
    assert ds.ids == ("1", "2", "5") and ds.name == "recs" and ds.task == "language_model"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_text_file(_write(tmp_path, "b.txt", "a\nb"))) == 2


def test_load_text_file_blank_line_mode(tmp_path: Path) -> None:
    p = _write(tmp_path, "paras.txt", "\n\npara one\nline two\n\n\n\npara two\n  \nthree")
    ds = load_text_file(p, mode="blank_line", name="paras")
    assert ds.texts == ["para one\nline two", "para two", "three"]
    assert ds.ids == ("3", "8", "10") and ds.name == "paras"


def test_load_text_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="text file not found: .*nope.txt"):
        load_text_file(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="holds no records"):
        load_text_file(_write(tmp_path, "empty.txt", "\n \n"))
    with pytest.raises(ValueError, match="must be 'line' or 'blank_line'.*did you mean 'line'"):
        load_text_file(_write(tmp_path, "x.txt", "a"), mode="lines")  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError):
        load_text_file(tmp_path)


def test_non_utf8_names_line_and_offset(tmp_path: Path) -> None:
    p = _write(tmp_path, "latin.txt", b"fine\nalso fine\ncaf\xe9 au lait\n")
    message = r"latin.txt, line 3: not UTF-8 .*byte 0xe9 at byte offset 18 .*byte 4 of the line"
    with pytest.raises(ValueError, match=message):
        load_text_file(p)
    j = _write(tmp_path, "bad.jsonl", b'{"text": "ok"}\n{"text": "\xff"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not UTF-8"):
        load_jsonl(j)
    c = _write(tmp_path, "bad.csv", b"text\nok\n\x80oops\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 3: not UTF-8"):
        load_csv_text(c, column="text")


def test_load_jsonl(tmp_path: Path) -> None:
    rows = [
        {"id": 10, "body": "refund", "team": "billing"},
        {"id": "x", "body": "crash", "team": "tech"},
        {"id": 12, "body": "late", "team": "billing"},
    ]
    p = _write(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    ds = load_jsonl(p, field="body", id_field="id", label_field="team")
    assert ds.texts == ["refund", "crash", "late"] and ds.ids == ("10", "x", "12")
    assert ds.class_names == ("billing", "tech") and ds.y.tolist() == [0, 1, 0]
    plain = load_jsonl(_write(tmp_path, "p.jsonl", '{"text": "a"}\n\n{"text": "b"}\n'))
    assert plain.texts == ["a", "b"] and plain.ids == ("1", "3")
    numeric = load_jsonl(
        _write(tmp_path, "n.jsonl", '{"text": "a", "y": 1}\n{"text": "b", "y": 0}\n'),
        label_field="y",
    )
    assert numeric.y.tolist() == [1, 0] and numeric.class_names == ("0", "1")


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ('{"text": "a"}\n{"text": "b",}\n', {}, r"line 2: not valid JSON"),
        ('{"text": "a"}\n["b"]\n', {}, r"line 2: expected a JSON object"),
        ('{"text": "a"}\n{"txt": "b", "id": 1}\n', {},
         r"line 2: no key 'text'; did you mean 'txt'\? Keys on this line: 'txt', 'id'"),
        ('{"text": 5}\n', {}, r"line 1: 'text' must be a string, got int"),
        ('{"text": "a"}\n{"text": "  "}\n', {}, r"line 2: the text in 'text' is empty"),
        ('{"text": "a", "id": 1}\n{"text": "b", "id": 1}\n', {"id_field": "id"},
         r"ids must be unique"),
        ('{"text": "a", "id": [1]}\n', {"id_field": "id"}, r"line 1: id 'id' must be"),
        ('{"text": "a", "y": null}\n', {"label_field": "y"}, r"line 1: label 'y' must be"),
        ('{"text": "a", "y": ""}\n', {"label_field": "y"}, r"line 1: empty label"),
        ("\n\n", {}, r"holds no records"),
    ],
)
def test_load_jsonl_errors(
    tmp_path: Path, content: str, options: dict[str, str], message: str
) -> None:
    p = _write(tmp_path, "d.jsonl", content)
    with pytest.raises(ValueError, match=message):
        load_jsonl(p, **options)


def test_load_csv_text(tmp_path: Path) -> None:
    p = _write(
        tmp_path, "n.csv",
        'id,note,ward\n7,"Patient reports\nmild fever",A\n\n9,"No change, stable",B\n11,Ok,A\n',
    )
    ds = load_csv_text(p, column="note", id_column="id", label_column="ward")
    assert ds.texts == ["Patient reports\nmild fever", "No change, stable", "Ok"]
    assert ds.ids == ("7", "9", "11") and ds.class_names == ("A", "B")
    plain = load_csv_text(p, column="note")
    assert plain.ids == ("2", "5", "6")  # the lines where the records start
    tsv = load_csv_text(_write(tmp_path, "t.tsv", "a\tb\nx\ty\n"), column="b", delimiter="\t")
    assert tsv.texts == ["y"]


def test_load_csv_text_errors(tmp_path: Path) -> None:
    p = _write(tmp_path, "n.csv", "id,note\n1,hello\n2,\n")
    with pytest.raises(ValueError, match=r"line 3: empty text in column 'note'"):
        load_csv_text(p, column="note")
    message = r"no text column 'note2'; did you mean 'note'\? Columns: 'id', 'note'"
    with pytest.raises(ValueError, match=message):
        load_csv_text(p, column="note2")
    with pytest.raises(ValueError, match=r"line 3: 3 fields, but the header has 2"):
        load_csv_text(_write(tmp_path, "r.csv", "id,note\n1,a\n2,b,c\n"), column="note")
    with pytest.raises(ValueError, match="the file is empty"):
        load_csv_text(_write(tmp_path, "e.csv", "\n"), column="note")
    with pytest.raises(ValueError, match="holds no records"):
        load_csv_text(_write(tmp_path, "h.csv", "note\n"), column="note")
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        load_csv_text(tmp_path / "missing.csv", column="note")
    with pytest.raises(ValueError, match="empty id"):
        load_csv_text(_write(tmp_path, "i.csv", "id,note\n,a\n"), column="note", id_column="id")


def test_load_text_dispatch(tmp_path: Path) -> None:
    assert TEXT_SOURCES == ("text", "jsonl", "csv_text")
    txt = _write(tmp_path, "a.txt", "one\ntwo\n")
    jl = _write(tmp_path, "a.jsonl", '{"text": "one"}\n{"body": "x", "text": "two"}\n')
    cs = _write(tmp_path, "a.csv", "body\none\ntwo\n")
    assert load_text("text", txt).texts == ["one", "two"]
    assert load_text("jsonl", jl).texts == ["one", "two"]
    assert load_text("csv_text", cs, field="body").texts == ["one", "two"]
    with pytest.raises(ValueError, match=r"unknown text source 'jsnl'; did you mean 'jsonl'\?"):
        load_text("jsnl", jl)
    with pytest.raises(ValueError, match="needs field"):
        load_text("csv_text", cs)
    with pytest.raises(ValueError, match="source 'text' .* has no field"):
        load_text("text", txt, field="body")
    with pytest.raises(ValueError, match="for source 'text' only"):
        load_text("jsonl", jl, mode="blank_line")


# ----------------------------------------------------------------------------- member split


def test_member_split() -> None:
    members = TextDataset(["a", "b", "a"], ids=["m1", "m2", "m3"], name="in")
    non = TextDataset(["c"], ids=["n1"], name="out")
    ds, idx = member_split(members, non)
    assert ds.texts == ["a", "b", "a", "c"] and idx.tolist() == [0, 1, 2]
    assert idx.dtype == np.int64 and ds.ids == ("m1", "m2", "m3", "n1") and ds.name == "in+out"
    ds2, _ = member_split(TextDataset(["a"]), TextDataset(["c"]))
    assert ds2.ids == ("member/0", "non_member/0")


def test_member_split_labels_matched_by_name() -> None:
    m = TextDataset(["a", "b"], labels=["pos", "neg"])
    n = TextDataset(["c"], labels=["pos"])  # its only class, 'pos', has code 0 there
    ds, _ = member_split(m, n)
    assert ds.class_names == ("neg", "pos") and ds.y.tolist() == [1, 0, 1]


def test_member_split_overlap_and_bad_input() -> None:
    m = TextDataset([f"text {i}" for i in range(10)])
    n = TextDataset([f"text {i}" for i in range(5, 15)] + ["text 5"])
    message = r"^5 texts are among both .*undefined.*'text 5'; 'text 6'; 'text 7' \.\.\."
    with pytest.raises(ValueError, match=message):
        member_split(m, n)
    with pytest.raises(ValueError, match="give labels to both or to neither"):
        member_split(TextDataset(["a"], labels=[0]), TextDataset(["b"]))
    with pytest.raises(ValueError, match="non_members is empty"):
        member_split(TextDataset(["a"]), TextDataset([]))
    with pytest.raises(ValueError, match="must be a TextDataset"):
        member_split(["a"], TextDataset(["b"]))  # type: ignore[arg-type]


def test_load_member_split(tmp_path: Path) -> None:
    a = _write(tmp_path, "in.jsonl", '{"t": "seen one"}\n{"t": "seen two"}\n')
    b = _write(tmp_path, "out.jsonl", '{"t": "never"}\n')
    ds, idx = load_member_split(a, b, source="jsonl", field="t")
    assert len(ds) == 3 and idx.tolist() == [0, 1] and ds.name == "in+out"
    c = _write(tmp_path, "out2.jsonl", '{"t": "seen two"}\n')
    with pytest.raises(ValueError, match="1 text is among both"):
        load_member_split(a, c, source="jsonl", field="t")


# ------------------------------------------------------------------------- synthetic corpus


def test_synthetic_records() -> None:
    ds = synthetic_records(600, seed=3)
    texts = ds.texts
    assert len(texts) == 600 and len(set(texts)) == 600 and ds.name == "synthetic_records"
    lengths = np.array([len(t) for t in texts])
    assert lengths.min() >= 80 and lengths.max() <= 250
    assert synthetic_records(600, seed=3).texts == texts
    assert synthetic_records(600, seed=4).texts != texts
    assert synthetic_records(10, seed=3).texts == texts[:10]
    # varied: many distinct names, digits everywhere, every kind present
    words = {w for t in texts for w in t.split()}
    assert len(words) > 1500
    assert np.mean([any(c.isdigit() for c in t) for t in texts]) > 0.95
    labelled = synthetic_records(300, seed=0, labels=True)
    assert labelled.class_names == ("bank", "clinical", "support")
    assert np.bincount(labelled.y).min() > 60
    from privmeter.datasets.synthetic_text import _SYMPTOM

    clinical = synthetic_records(50, seed=0, kinds=("clinical",))
    assert all(any(s in t.lower() for s in _SYMPTOM) for t in clinical.texts)


def test_synthetic_records_bad_input() -> None:
    with pytest.raises(ValueError, match=r"unknown record kind 'banking'; did you mean 'bank'\?"):
        synthetic_records(5, kinds=("banking",))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        synthetic_records(0)
    with pytest.raises(ValueError, match="seed must be"):
        synthetic_records(5, seed=-1)
    with pytest.raises(ValueError, match="at least one"):
        synthetic_records(5, kinds=())
