"""Tests for privmeter.datasets: built-ins, synthetic tasks, file loaders, safe unpickling."""

from __future__ import annotations

import hashlib
import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privmeter import datasets
from privmeter.datasets import (
    Dataset,
    RestrictedUnpickler,
    list_datasets,
    load_cifar,
    load_csv,
    load_dataset,
    load_npz,
    load_purchase,
    load_texas,
    register_dataset,
    split_indices,
)

BUILTINS = (
    "breast_cancer",
    "diabetes",
    "digits",
    "iris",
    "synthetic_gaussian",
    "synthetic_purchase",
    "wine",
)


# ------------------------------------------------------------------------------------------
# Built-in datasets
# ------------------------------------------------------------------------------------------


def test_list_datasets_has_every_builtin() -> None:
    names = list_datasets()
    assert set(BUILTINS) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize(
    ("name", "options", "x_shape", "n_classes", "class_names"),
    [
        ("digits", {}, (1797, 1, 8, 8), 10, tuple(str(i) for i in range(10))),
        ("digits", {"flat": True}, (1797, 64), 10, tuple(str(i) for i in range(10))),
        ("breast_cancer", {}, (569, 30), 2, ("malignant", "benign")),
        ("wine", {}, (178, 13), 3, ("class_0", "class_1", "class_2")),
        ("iris", {}, (150, 4), 3, ("setosa", "versicolor", "virginica")),
    ],
)
def test_builtin_classification(
    name: str,
    options: dict[str, Any],
    x_shape: tuple[int, ...],
    n_classes: int,
    class_names: tuple[str, ...],
) -> None:
    ds = load_dataset(name, **options)
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.task == "classification"
    assert ds.x.shape == x_shape
    assert ds.x.dtype == np.float32
    assert ds.x.flags.c_contiguous
    assert ds.y.dtype == np.int64
    assert ds.y.shape == (x_shape[0],)
    assert ds.n_classes == n_classes
    assert sorted(np.unique(ds.y).tolist()) == list(range(n_classes))
    assert ds.class_names == class_names
    assert ds.feature_names is not None and len(ds.feature_names) == ds.n_features
    assert len(ds) == x_shape[0]


def test_digits_images_scaled_to_unit_interval_with_image_shape() -> None:
    images = load_dataset("digits")
    flat = load_dataset("digits", flat=True)
    assert images.image_shape == (1, 8, 8)
    assert flat.image_shape == (1, 8, 8)
    assert images.x.min() == 0.0
    assert images.x.max() == 1.0
    np.testing.assert_array_equal(images.x.reshape(len(images), 64), flat.x)
    np.testing.assert_array_equal(images.y, flat.y)
    # sklearn's raw pixels are 0..16: the scaling is exactly /16
    from sklearn.datasets import load_digits

    np.testing.assert_allclose(flat.x * 16, load_digits().data, atol=1e-5)


def test_breast_cancer_and_wine_standardised_iris_raw() -> None:
    for name in ("breast_cancer", "wine"):
        x = load_dataset(name).x.astype(np.float64)
        np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-4)
    raw = load_dataset("breast_cancer", standardize=False).x
    assert raw.max() > 100  # areas in the thousands
    iris = load_dataset("iris")
    assert iris.x.min() > 0 and iris.x.max() == pytest.approx(7.9)


def test_diabetes_is_regression() -> None:
    ds = load_dataset("diabetes")
    assert ds.task == "regression"
    assert ds.x.shape == (442, 10)
    assert ds.y.shape == (442,)
    assert ds.y.dtype == np.float32
    assert ds.n_classes is None and ds.class_names is None
    assert ds.y.min() == 25.0 and ds.y.max() == 346.0


def test_load_dataset_accepts_dashes_and_case() -> None:
    assert load_dataset("Breast-Cancer").name == "breast_cancer"


def test_unknown_dataset_suggests_closest_and_lists_known() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'digit'; did you mean 'digits'\?"):
        load_dataset("digit")
    with pytest.raises(ValueError, match=r"Known datasets: .*breast_cancer.*wine"):
        load_dataset("mnist")


def test_unknown_option_lists_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"no option 'flatten'; did you mean 'flat'\? .*flat"):
        load_dataset("digits", flatten=True)


def test_register_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.builtin, "_REGISTRY", datasets.builtin._REGISTRY.copy())

    def tiny(*, n: int = 3) -> Dataset:
        return Dataset(np.zeros((n, 2)), np.arange(n) % 2, name="tiny")

    register_dataset("tiny", tiny, description="tiny")
    assert "tiny" in list_datasets()
    assert len(load_dataset("tiny", n=5)) == 5
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("tiny", tiny)
    register_dataset("tiny", tiny, overwrite=True)
    with pytest.raises(TypeError, match="must be callable"):
        register_dataset("bad", 3)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Synthetic datasets
# ------------------------------------------------------------------------------------------


def test_synthetic_purchase_shape_and_determinism() -> None:
    a = load_dataset("synthetic_purchase", n=2000, seed=3)
    b = load_dataset("synthetic_purchase", n=2000, seed=3)
    c = load_dataset("synthetic_purchase", n=2000, seed=4)
    assert a.x.shape == (2000, 600)
    assert a.n_classes == 100
    assert set(np.unique(a.x).tolist()) == {0.0, 1.0}
    counts = np.bincount(a.y, minlength=100)
    assert counts.min() == counts.max() == 20
    assert a.fingerprint() == b.fingerprint()
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fingerprint() != c.fingerprint()
    assert load_dataset("synthetic_purchase").x.shape == (10_000, 600)


def test_synthetic_purchase_flip_rate_is_respected() -> None:
    ds = load_dataset("synthetic_purchase", n=1000, n_classes=10, flip_rate=0.1, seed=0)
    # points of one class agree with their (majority-vote) prototype on ~90% of bits
    for k in range(10):
        pts = ds.x[ds.y == k]
        proto = pts.mean(axis=0) > 0.5
        agreement = (pts == proto).mean()
        assert 0.87 < agreement < 0.93


def test_synthetic_purchase_is_learnable_and_overfittable() -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    ds = load_dataset("synthetic_purchase", n=3000, seed=0)
    train, test = split_indices(len(ds), [0.5, 0.5], seed=0)
    with threadpool_limits(limits=1):  # BLAS threads oversubscribe small busy machines
        model = LogisticRegression(max_iter=300).fit(ds.x[train], ds.y[train])
    train_acc = model.score(ds.x[train], ds.y[train])
    test_acc = model.score(ds.x[test], ds.y[test])
    assert test_acc > 0.3  # chance is 0.01
    assert train_acc - test_acc > 0.2  # a generalisation gap for membership inference


def test_synthetic_purchase_option_errors() -> None:
    with pytest.raises(ValueError, match=r"flip_rate must lie in \[0.0, 0.5\], got 0.7"):
        load_dataset("synthetic_purchase", flip_rate=0.7)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        load_dataset("synthetic_purchase", n=0)
    with pytest.raises(ValueError, match="n_classes must be an integer"):
        load_dataset("synthetic_purchase", n_classes=2.5)


def test_synthetic_gaussian() -> None:
    ds = load_dataset("synthetic_gaussian", n=300, d=5, n_classes=3, seed=7)
    assert ds.x.shape == (300, 5)
    assert ds.n_classes == 3
    assert np.bincount(ds.y).tolist() == [100, 100, 100]
    same = load_dataset("synthetic_gaussian", n=300, d=5, n_classes=3, seed=7)
    assert ds.fingerprint() == same.fingerprint()
    assert (
        ds.fingerprint()
        != load_dataset("synthetic_gaussian", n=300, d=5, n_classes=3).fingerprint()
    )
    # well separated classes: nearest class mean classifies far above chance
    far = load_dataset("synthetic_gaussian", n=600, d=10, n_classes=3, class_sep=3.0, seed=1)
    means = np.stack([far.x[far.y == k].mean(axis=0) for k in range(3)])
    pred = np.argmin(((far.x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == far.y).mean() > 0.9
    with pytest.raises(ValueError, match="class_sep must be a non-negative number"):
        load_dataset("synthetic_gaussian", class_sep=-1.0)


# ------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------


def test_dataset_coerces_dtypes() -> None:
    ds = Dataset(np.arange(6, dtype=np.int32).reshape(3, 2), np.array([0.0, 2.0, 1.0]))
    assert ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64
    assert ds.y.tolist() == [0, 2, 1]
    assert ds.n_classes == 3
    assert "n=3" in repr(ds)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.zeros(3), "y": np.zeros(3, int)}, ValueError, r"x must have shape"),
        ({"x": np.array([["a"]]), "y": np.zeros(1, int)}, ValueError, "x must be numeric"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(2, int)}, ValueError, r"y must have shape \(3,\)"),
        ({"task": "ranking"}, ValueError, "unknown task 'ranking'"),
        ({"y": np.array([0.0, 0.5, 1.0, 0.0])}, ValueError, r"got 0\.5 at index 1"),
        ({"y": np.array([0, 1, 5, 0]), "n_classes": 3}, ValueError, r"row 2 has label 5"),
        ({"y": np.array([0, -1, 1, 0])}, ValueError, r"row 1 has label -1"),
        ({"y": np.array(["a", "b", "a", "b"])}, ValueError,
         r"class labels must be integer class indices, got dtype <U1 \(string labels: encode"),
        ({"y": np.array([0, 1, 0.5, 1])}, ValueError,
         r"class labels must be integer class indices, got 0.5 at index 2 \(dtype float64\) "
         r"\(for real-valued targets use task='regression'\)"),
        ({"y": np.array([0, 1, np.inf, 1])}, ValueError, r"got inf at index 2"),
        ({"feature_names": ("a",)}, ValueError, "got 1 feature_names for 2 features"),
        ({"class_names": ("a", "b", "c")}, ValueError, "got 3 class_names for 2 classes"),
        ({"image_shape": (1, 3, 3)}, ValueError, r"image_shape \(1, 3, 3\) does not match"),
        ({"task": "regression", "n_classes": 2}, ValueError, "classification only"),
        ({"n_classes": 0}, ValueError, "n_classes must be a positive integer, got 0"),
        ({"n_classes": True}, ValueError, "n_classes must be a positive integer, got True"),
        ({"n_classes": 2.0}, ValueError, "n_classes must be a positive integer, got 2.0"),
    ],
)
def test_dataset_validation_errors(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    base: dict[str, Any] = {"x": np.zeros((4, 2)), "y": np.array([0, 1, 1, 0])}
    base.update(kwargs)
    with pytest.raises(error, match=match):
        Dataset(**base)


def test_dataset_nan_rows_are_named() -> None:
    x = np.zeros((6, 2))
    x[1, 0] = np.nan
    x[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinite values in 2 rows; first rows: 1, 4"):
        Dataset(x, np.zeros(6, int))
    with pytest.raises(ValueError, match=r"NaN or infinite targets in 1 rows; first rows: 3"):
        Dataset(np.zeros((4, 1)), np.array([0.0, 1.0, 2.0, np.nan]), task="regression")


def test_fingerprint_is_content_hash() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, 4))
    y = rng.integers(0, 3, 10)
    a = Dataset(x, y, name="a")
    # the documented recipe, recomputed independently
    h = hashlib.sha256()
    x32, y64 = x.astype(np.float32), y.astype(np.int64)
    for label, arr in (("x", x32), ("y", y64)):
        h.update(f"{label}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    assert a.fingerprint() == h.hexdigest()
    assert Dataset(x, y, name="other", class_names=("p", "q", "r")).fingerprint() == a.fingerprint()
    x2 = x.copy()
    x2[3, 2] += 1e-3
    assert Dataset(x2, y).fingerprint() != a.fingerprint()
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 3
    assert Dataset(x, y2).fingerprint() != a.fingerprint()
    # same bytes, different shape
    assert Dataset(x.reshape(10, 2, 2), y).fingerprint() != a.fingerprint()


def test_subset() -> None:
    ds = load_dataset("iris")
    sub = ds.subset([0, 50, 100, 100])
    assert sub.y.tolist() == [0, 1, 2, 2]
    np.testing.assert_array_equal(sub.x[0], ds.x[0])
    assert sub.class_names == ds.class_names
    assert sub.feature_names == ds.feature_names
    assert sub.n_classes == 3
    mask = ds.y == 2
    assert len(ds.subset(mask)) == 50
    assert len(ds.subset([])) == 0
    img = load_dataset("digits").subset(np.arange(5))
    assert img.x.shape == (5, 1, 8, 8) and img.image_shape == (1, 8, 8)
    with pytest.raises(IndexError, match="index 150 is out of range for a dataset of 150 rows"):
        ds.subset([1, 150])
    with pytest.raises(IndexError, match="index -1 is out of range"):
        ds.subset([-1])
    with pytest.raises(ValueError, match=r"boolean mask must have shape \(150,\)"):
        ds.subset(np.ones(3, bool))
    with pytest.raises(ValueError, match="indices must be integers"):
        ds.subset([0.5])


def test_summary_is_json_able() -> None:
    import json

    s = load_dataset("digits").summary()
    assert json.loads(json.dumps(s))["image_shape"] == [1, 8, 8]
    assert s["n"] == 1797 and len(s["fingerprint"]) == 64


# ------------------------------------------------------------------------------------------
# split_indices
# ------------------------------------------------------------------------------------------


def test_split_indices_sizes() -> None:
    a, b, c = split_indices(100, [50, 30, 10], seed=0)
    assert (len(a), len(b), len(c)) == (50, 30, 10)
    joined = np.concatenate([a, b, c])
    assert len(np.unique(joined)) == 90
    assert joined.min() >= 0 and joined.max() < 100
    for part in (a, b, c):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)
    again = split_indices(100, [50, 30, 10], seed=0)
    for p, q in zip((a, b, c), again, strict=True):
        np.testing.assert_array_equal(p, q)
    other = split_indices(100, [50, 30, 10], seed=1)
    assert not np.array_equal(a, other[0])


def test_split_indices_fractions() -> None:
    parts = split_indices(11, [0.5, 0.5], seed=0)
    assert [len(p) for p in parts] == [6, 5]
    assert sorted(np.concatenate(parts).tolist()) == list(range(11))
    parts = split_indices(100, [0.29, 0.71], seed=0)  # 0.29 * 100 = 28.999...
    assert [len(p) for p in parts] == [29, 71]
    parts = split_indices(10, [0.3, 0.3], seed=0)  # not all rows used
    assert [len(p) for p in parts] == [3, 3]
    parts = split_indices(10, [0, 0.5], seed=0)  # an int zero among fractions
    assert [len(p) for p in parts] == [0, 5]
    rng_parts = split_indices(10, [5, 5], seed=np.random.default_rng(0))
    assert sum(len(p) for p in rng_parts) == 10


@pytest.mark.parametrize(
    ("n", "sizes", "match"),
    [
        (100, [100, 20], r"sizes \[100, 20\] sum to 120, more than the n=100 rows"),
        (100, [0.7, 0.5], r"fractions \[0.7, 0.5\] sum to 1.2, more than 1 \(of n=100"),
        (100, [-1, 5], "non-negative"),
        (100, [], "must not be empty"),
        (100, [True, 3], "sizes must be numbers"),
        (-1, [1], "n must be a non-negative integer, got -1"),
        (True, [1], "n must be a non-negative integer, got True"),
        (10, [np.bool_(True)], "sizes must be numbers, got np.True_"),
        (10, ["3"], "sizes must be numbers, got '3'"),
        (10, "ab", "sequence of sizes or fractions"),
    ],
)
def test_split_indices_errors(n: int, sizes: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_indices(n, sizes, seed=0)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(0, 200),
    fracs=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_indices_property(n: int, fracs: list[float], seed: int) -> None:
    total = sum(fracs)
    if total > 1:
        fracs = [f / total for f in fracs]
    parts = split_indices(n, fracs, seed=seed)
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined)  # disjoint
    assert all(0 <= i < n for i in joined)
    for f, p in zip(fracs, parts, strict=True):
        assert abs(len(p) - f * n) < len(fracs) + 1e-6
    sizes = [len(p) for p in parts]
    again = split_indices(n, sizes, seed=seed)
    assert [len(p) for p in again] == sizes


# ------------------------------------------------------------------------------------------
# npz
# ------------------------------------------------------------------------------------------


class _Evil:
    """Pickles as a call to ``os.system`` (touch a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _EvilExec:
    """Pickles as a call to ``exec`` that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_load_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((20, 3))
    y = rng.integers(0, 4, 20)
    y[:4] = [0, 1, 2, 3]
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y, feature_names=np.array(["a", "<b>", "c"]))
    ds = load_npz(path)
    assert ds.name == "mine"
    np.testing.assert_allclose(ds.x, x.astype(np.float32))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.n_classes == 4
    assert ds.feature_names == ("a", "<b>", "c")


def test_load_npz_images_text_labels_and_regression(tmp_path: Path) -> None:
    path = tmp_path / "img.npz"
    np.savez_compressed(
        path,
        images=np.ones((4, 3, 2, 2), np.uint8),
        target=np.array(["dog", "cat", "dog", "emu"]),
    )
    ds = load_npz(path, x_key="images", y_key="target", name="pets")
    assert ds.image_shape == (3, 2, 2)
    assert ds.class_names == ("cat", "dog", "emu")
    assert ds.y.tolist() == [1, 0, 1, 2]
    assert ds.name == "pets"
    reg = tmp_path / "reg.npz"
    np.savez(reg, x=np.zeros((3, 1)), y=np.array([0.5, 1.0, 2.0]))
    assert load_npz(reg).task == "regression"
    cls = tmp_path / "cls.npz"
    np.savez(cls, x=np.zeros((3, 1)), y=np.array([0.0, 2.0, 1.0]))
    assert load_npz(cls, task="classification").y.tolist() == [0, 2, 1]
    neg = tmp_path / "neg.npz"
    np.savez(neg, x=np.zeros((3, 1)), y=np.array([-1, 1, -1]))
    ds = load_npz(neg)
    assert ds.y.tolist() == [0, 1, 0] and ds.class_names == ("-1", "1")


def test_load_npz_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, features=np.zeros((3, 2)), y=np.zeros(3, int))
    with pytest.raises(ValueError, match=r"no array named 'x'.*Arrays in the file: 'features'"):
        load_npz(path)
    with pytest.raises(ValueError, match=r"no array named 'feature'; did you mean 'features'\?"):
        load_npz(path, x_key="feature")
    with pytest.raises(FileNotFoundError, match=r"npz file not found: .*nothere\.npz"):
        load_npz(tmp_path / "nothere.npz")
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="found a single .npy array"):
        load_npz(npy)
    txt = tmp_path / "junk.npz"
    txt.write_text("not an archive")
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        load_npz(txt)
    mismatch = tmp_path / "m.npz"
    np.savez(mismatch, x=np.zeros((3, 2)), y=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"got \(3, 2\) and \(4,\)"):
        load_npz(mismatch)
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=np.array([[0.0], [np.nan]]), y=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"nan\.npz: x has NaN .* first rows: 1"):
        load_npz(nan)


def test_load_npz_refuses_object_arrays_without_executing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([_Evil(marker)], dtype=object), y=np.zeros(1, int))
    with pytest.raises(ValueError, match="holds Python objects .* refusing to unpickle"):
        load_npz(path)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------
# csv
# ------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_csv_keeps_header_verbatim_and_maps_labels(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "people.csv",
        'age,<script>alert(1)</script>,"income, net",label\n'
        "31,1,2.5,10\n"
        "45,0,1.0,2\n"
        "\n"
        "27,1,3.5,10\n"
        "50,0,-1e3,1\n",
    )
    ds = load_csv(path)
    assert ds.feature_names == ("age", "<script>alert(1)</script>", "income, net")
    assert ds.x.shape == (4, 3)
    np.testing.assert_array_equal(ds.x[3], [50, 0, -1000])
    # numeric labels in numeric order (not "10" < "2")
    assert ds.class_names == ("1", "2", "10")
    assert ds.y.tolist() == [2, 1, 2, 0]
    assert ds.n_classes == 3
    assert ds.name == "people"


def test_load_csv_text_labels_columns_and_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "b\ta\ty\tc\n1\t2\tyes\t3\n4\t5\tno\t6\n")
    ds = load_csv(path, label_column="y", feature_columns=["c", "a"], delimiter="\t")
    assert ds.feature_names == ("c", "a")
    assert ds.x.tolist() == [[3.0, 2.0], [6.0, 5.0]]
    assert ds.class_names == ("no", "yes")
    assert ds.y.tolist() == [1, 0]
    reg = _write(tmp_path / "r.csv", "f,target\n1,0.5\n2,1.5\n")
    r = load_csv(reg, label_column="target", task="regression")
    assert r.task == "regression" and r.y.tolist() == [0.5, 1.5]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufefflabel,f\n0,1\n1,2\n".encode())
    assert load_csv(bom).feature_names == ("f",)


def test_load_csv_missing_label_column_suggests(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "height,Label,weight\n1,a,2\n")
    with pytest.raises(
        ValueError,
        match=r"d\.csv: no label column 'label'; did you mean 'Label'\? "
        r"Available columns: 'height', 'Label', 'weight'",
    ):
        load_csv(path)
    with pytest.raises(ValueError, match=r"no feature column 'hieght'; did you mean 'height'"):
        load_csv(path, label_column="Label", feature_columns=["hieght"])
    with pytest.raises(ValueError, match="also in feature_columns"):
        load_csv(path, label_column="Label", feature_columns=["height", "Label"])


def test_load_csv_nan_rows_are_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "n.csv",
        "a,b,label\n1,2,0\n3,nan,1\n5,6,0\n,8,1\n9,NA,0\n",
    )
    with pytest.raises(
        ValueError,
        match=r"n\.csv: NaN, infinite or missing feature values in 3 rows \(lines 3, 5, 6\); "
        r"first at line 3, column 'b'",
    ):
        load_csv(path)


def test_load_csv_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "v.csv", "a,b,label\n1,2,0\n3,4,1\n5,six,0\n")
    with pytest.raises(ValueError, match=r"v\.csv, line 4, column 'b': 'six' is not a number"):
        load_csv(path)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("", ValueError, "the file is empty"),
        ("a,label\n", ValueError, "no data rows after the header"),
        ("a,label\n1,0\n2\n", ValueError, r"line 3: 1 fields, but the header has 2"),
        ("a,label\n1,0\n2,\n", ValueError, r"line 3: empty label in column 'label'"),
        ("label\n0\n", ValueError, "no feature columns"),
        ("a,label,label\n1,0,0\n", ValueError, "2 columns named 'label'"),
        ("a,label\n1e39,0\n", ValueError,
         r"line 2, column .a.: value 1e\+39 does not fit in float32"),
    ],
)
def test_load_csv_errors(tmp_path: Path, text: str, error: type[Exception], match: str) -> None:
    path = _write(tmp_path / "e.csv", text)
    with pytest.raises(error, match=match):
        load_csv(path)


def test_load_csv_missing_file_and_bad_regression_target(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"CSV file not found: .*absent\.csv"):
        load_csv(tmp_path / "absent.csv")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_csv(tmp_path)
    path = _write(tmp_path / "r.csv", "a,y\n1,2.0\n2,big\n")
    with pytest.raises(ValueError, match=r"line 3, column 'y': target 'big' is not a number"):
        load_csv(path, label_column="y", task="regression")


# ------------------------------------------------------------------------------------------
# CIFAR
# ------------------------------------------------------------------------------------------


def _cifar_batch(
    rng: np.random.Generator, n: int, n_classes: int, label_key: bytes
) -> dict[bytes, Any]:
    return {
        b"batch_label": b"training batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: rng.integers(0, n_classes, n).tolist(),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def _dump(obj: Any, path: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    with path.open("wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


CIFAR10_NAMES = [
    b"airplane", b"automobile", b"bird", b"cat", b"deer",
    b"dog", b"frog", b"horse", b"ship", b"truck",
]  # fmt: skip


def _write_cifar10(folder: Path, protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = _cifar_batch(rng, 3, 10, b"labels")
        _dump(batches[name], folder / name, protocol)
    _dump({b"label_names": CIFAR10_NAMES, b"num_vis": 3072}, folder / "batches.meta", protocol)
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_load_cifar10(tmp_path: Path, protocol: int) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    batches = _write_cifar10(folder, protocol)
    train = load_cifar(folder)
    assert train.x.shape == (15, 3, 32, 32)
    assert train.x.dtype == np.float32
    assert train.image_shape == (3, 32, 32)
    assert train.name == "cifar10-train"
    assert train.x.min() >= 0.0 and train.x.max() <= 1.0
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = [lab for i in range(1, 6) for lab in batches[f"data_batch_{i}"][b"labels"]]
    np.testing.assert_allclose(train.x.reshape(15, -1), data / 255.0, rtol=1e-6)
    # channel-first layout: the first 1024 bytes are the red plane, row-major
    assert train.x[4, 0, 1, 2] == pytest.approx(data[4, 32 + 2] / 255.0)
    assert train.x[4, 2, 31, 31] == pytest.approx(data[4, 3071] / 255.0)
    assert train.y.tolist() == labels
    assert train.class_names is not None and train.class_names[0] == "airplane"
    assert len(train.class_names) == 10
    test = load_cifar(tmp_path, split="test")  # the parent folder works too
    assert test.x.shape == (3, 3, 32, 32)
    assert test.y.tolist() == batches["test_batch"][b"labels"]


def test_load_cifar10_legacy_numpy_core_names(tmp_path: Path) -> None:
    """The official files reference ``numpy.core.multiarray._reconstruct``."""
    folder = tmp_path / "c10"
    batches = _write_cifar10(folder, protocol=2)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        blob = (folder / name).read_bytes()
        assert b"numpy._core.multiarray" in blob
        (folder / name).write_bytes(
            blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        )
    ds = load_cifar(folder)
    np.testing.assert_array_equal(
        (ds.x[:3].reshape(3, -1) * 255).round().astype(np.uint8), batches["data_batch_1"][b"data"]
    )


@pytest.mark.parametrize("label_type", ["fine", "coarse"])
def test_load_cifar100(tmp_path: Path, label_type: str) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batch = _cifar_batch(rng, 6, 100, b"fine_labels")
    batch[b"coarse_labels"] = rng.integers(0, 20, 6).tolist()
    _dump(batch, folder / "train")
    test_batch = _cifar_batch(rng, 2, 100, b"fine_labels")
    test_batch[b"coarse_labels"] = [0, 19]
    _dump(test_batch, folder / "test")
    fine_names = [f"fine{i}".encode() for i in range(100)]
    coarse_names = [f"coarse{i}".encode() for i in range(20)]
    _dump({b"fine_label_names": fine_names, b"coarse_label_names": coarse_names}, folder / "meta")
    ds = load_cifar(folder, variant="cifar100", label_type=label_type)  # type: ignore[arg-type]
    assert ds.x.shape == (6, 3, 32, 32)
    assert ds.name == "cifar100-train"
    key = b"fine_labels" if label_type == "fine" else b"coarse_labels"
    assert ds.y.tolist() == batch[key]
    assert ds.n_classes == (100 if label_type == "fine" else 20)
    assert ds.class_names is not None and ds.class_names[5] == f"{label_type}5"
    np.testing.assert_allclose(ds.x.reshape(6, -1), batch[b"data"] / 255.0, rtol=1e-6)
    test = load_cifar(tmp_path, variant="cifar100", split="test", label_type=label_type)  # type: ignore[arg-type]
    assert test.y.tolist() == test_batch[key]


def test_load_cifar_str_keys_and_no_meta(tmp_path: Path) -> None:
    folder = tmp_path / "c100"
    folder.mkdir()
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
    _dump({"data": data, "fine_labels": [3, 99]}, folder / "test")
    ds = load_cifar(folder, variant="cifar100", split="test")
    assert ds.y.tolist() == [3, 99]
    assert ds.class_names is None


@pytest.mark.parametrize("payload", [_Evil, _EvilExec])
def test_load_cifar_refuses_malicious_pickle(tmp_path: Path, payload: type) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    marker = tmp_path / "pwned"
    evil_batch = {b"data": payload(marker), b"labels": [0]}
    _dump(evil_batch, folder / "data_batch_3")
    with pytest.raises(
        pickle.UnpicklingError,
        match=r"data_batch_3: forbidden global '(posix|os|builtins)\.(system|exec)'",
    ):
        load_cifar(folder)
    assert not marker.exists()


def test_malicious_payload_is_live() -> None:
    """The exec payload really runs under a plain pickle.load (so the test above can fail)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        marker = Path(d) / "ran"
        pickle.loads(pickle.dumps(_EvilExec(marker)))  # deliberate: proves the payload is live
        assert marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("builtins", "getattr"),
        ("subprocess", "Popen"),
        ("numpy.core.multiarray", "scalar"),
        ("copyreg", "_reconstructor"),
    ],
)
def test_restricted_unpickler_allows_only_numpy_arrays(module: str, name: str) -> None:
    blob = f"c{module}\n{name}\n.".encode()  # protocol 0 GLOBAL opcode
    import io

    with pytest.raises(pickle.UnpicklingError, match=rf"forbidden global '{module}\.{name}'"):
        RestrictedUnpickler(io.BytesIO(blob)).load()


def test_restricted_unpickler_codecs_only_text() -> None:
    import io

    ok = pickle.dumps({b"k": b"\x00\xff"}, protocol=2)
    assert b"_codecs" in ok
    assert RestrictedUnpickler(io.BytesIO(ok)).load() == {b"k": b"\x00\xff"}
    # _codecs.encode("x", "zlib_codec") -- a non-text codec is refused
    bad = b"c_codecs\nencode\n(Vx\nVzlib_codec\ntR."
    with pytest.raises(pickle.UnpicklingError, match="forbidden _codecs.encode call"):
        RestrictedUnpickler(io.BytesIO(bad)).load()


def test_load_cifar_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cifar10 folder not found: .*nowhere"):
        load_cifar(tmp_path / "nowhere")
    folder = tmp_path / "c10"
    _write_cifar10(folder)
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing cifar10 train batch files data_batch_4"):
        load_cifar(folder)
    assert len(load_cifar(folder, split="test")) == 3
    with pytest.raises(NotADirectoryError, match="pass the folder"):
        load_cifar(folder / "test_batch")
    with pytest.raises(ValueError, match="variant must be 'cifar10' or 'cifar100'"):
        load_cifar(folder, variant="cifar1000")  # type: ignore[arg-type]
    _dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, folder / "test_batch")
    with pytest.raises(
        ValueError, match=r"test_batch: 'data' must be a uint8 array of shape \(n, 3072\)"
    ):
        load_cifar(folder, split="test")
    _dump({b"data": np.zeros((2, 3072), np.uint8), b"lbls": [0, 1]}, folder / "test_batch")
    with pytest.raises(ValueError, match=r"needs keys 'data' and 'labels'; found 'data', 'lbls'"):
        load_cifar(folder, split="test")
    _dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, folder / "test_batch")
    with pytest.raises(ValueError, match=r"label 10 at row 1 is outside \[0, 9\]"):
        load_cifar(folder, split="test")
    _dump([1, 2], folder / "test_batch")
    with pytest.raises(ValueError, match="expected a dict batch, found list"):
        load_cifar(folder, split="test")
    (folder / "test_batch").write_bytes(b"\x80\x04garbage")
    with pytest.raises((ValueError, pickle.UnpicklingError), match="test_batch"):
        load_cifar(folder, split="test")


# ------------------------------------------------------------------------------------------
# Purchase-100 and Texas-100
# ------------------------------------------------------------------------------------------


def _binary_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return rng.integers(0, 2, size=(n, d))


def test_load_purchase(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    feats = _binary_rows(rng, 5, 600)
    labels = np.array([1, 100, 37, 1, 2])
    lines = [",".join(map(str, [lab, *row])) for lab, row in zip(labels, feats, strict=True)]
    path = _write(tmp_path / "dataset_purchase", "\n".join(lines) + "\n")
    ds = load_purchase(path)
    assert ds.x.shape == (5, 600) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, feats)
    assert ds.y.tolist() == [0, 99, 36, 0, 1]
    assert ds.n_classes == 100
    assert ds.name == "purchase100"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "0,1,0\n1,0,1\n",
            r"row 1 has label 0, outside 1\.\.100 \(labels are 1-based here; pass label_base=0",
        ),
        ("101,1,0\n", r"row 1 has label 101, outside 1\.\.100"),
        ("1.5,1,0\n", r"row 1 has label 1\.5, not an integer"),
        ("1,1,0\n2,1\n", r"line 2 has 2 fields, but line 1 has 3"),
        ("1,1,0\n2,1,x\n", r"line 2, field 3: 'x' is not a number"),
        ("", "the file holds no data"),
        ("1\n2\n", "one field per line"),
        ("1,nan,0\n", r"NaN or infinite values in 1 rows; first rows \(1-based\): 1"),
    ],
)
def test_load_purchase_errors(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path / "p.txt", text)
    with pytest.raises(ValueError, match=r"p\.txt.*" + match):
        load_purchase(path)


def test_load_purchase_zero_based_and_missing(tmp_path: Path) -> None:
    path = _write(tmp_path / "p0", "0,1,0\n99,0,1\n")
    assert load_purchase(path, label_base=0).y.tolist() == [0, 99]
    with pytest.raises(FileNotFoundError, match=r"Purchase file not found: .*nope"):
        load_purchase(tmp_path / "nope")


def test_load_texas(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    feats = _binary_rows(rng, 4, 30)
    fpath = _write(tmp_path / "feats", "\n".join(",".join(map(str, r)) for r in feats) + "\n")
    lpath = _write(tmp_path / "labels", "1\n100\n5\n5\n")
    ds = load_texas(fpath, lpath)
    assert ds.x.shape == (4, 30)
    np.testing.assert_array_equal(ds.x, feats)
    assert ds.y.tolist() == [0, 99, 4, 4]
    assert ds.n_classes == 100 and ds.name == "texas100"
    short = _write(tmp_path / "short", "1\n2\n")
    with pytest.raises(ValueError, match=r"feats has 4 rows but .*short has 2 labels"):
        load_texas(fpath, short)
    wide = _write(tmp_path / "wide", "1,2\n3,4\n5,6\n7,8\n")
    with pytest.raises(ValueError, match=r"wide: expected one label per line, found 2 fields"):
        load_texas(fpath, wide)
    zero = _write(tmp_path / "zero", "1\n0\n1\n1\n")
    with pytest.raises(ValueError, match=r"zero: row 2 has label 0"):
        load_texas(fpath, zero)
    with pytest.raises(FileNotFoundError, match=r"Texas labels file not found: .*gone"):
        load_texas(fpath, tmp_path / "gone")


def test_numpy_scalars_pass_the_shared_checks() -> None:
    """n, sizes and n_classes accept numpy integers and floats (one check per kind of value)."""
    parts = split_indices(np.int64(10), [np.int32(4), np.int64(6)], seed=0)
    assert [len(p) for p in parts] == [4, 6]
    assert [len(p) for p in split_indices(10, [np.float32(0.5), 0.5], seed=0)] == [5, 5]
    ds = Dataset(np.zeros((3, 2)), np.array([0, 1, 0]), n_classes=np.int64(4))
    assert ds.n_classes == 4 and type(ds.n_classes) is int
    ds = load_dataset("synthetic_purchase", n=np.int64(50), n_classes=np.int64(3), seed=0)
    assert len(ds) == 50 and ds.n_classes == 3
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got 1"):
        load_dataset("synthetic_purchase", n_classes=1)
    with pytest.raises(ValueError, match="flip_rate must be a number, got True"):
        load_dataset("synthetic_purchase", flip_rate=True)
