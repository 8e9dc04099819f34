"""The shared validation layer, privmeter._validation: one check per kind of value."""

from __future__ import annotations

import numpy as np
import pytest

from privmeter._validation import (
    as_membership,
    check_bool,
    check_class_labels,
    check_fraction,
    check_indices,
    check_int,
    check_optional_int,
    check_seed,
    is_int,
    is_real,
)
from privmeter.pipeline import games
from privmeter.training import _hashing


@pytest.mark.parametrize("value", [0, 3, np.int8(3), np.uint64(3), np.int64(-2)])
def test_is_int_accepts_python_and_numpy_integers(value: object) -> None:
    assert is_int(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, "3", None, np.float64(3)])
def test_is_int_refuses_bools_floats_and_strings(value: object) -> None:
    assert not is_int(value)


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (5, {}, 5),
        (np.int32(5), {"minimum": 1}, 5),
        (np.uint8(0), {"minimum": 0}, 0),
        (-3, {"maximum": 0}, -3),
        (2, {"minimum": 2, "maximum": 2}, 2),
    ],
)
def test_check_int_accepts(value: object, kwargs: dict[str, int], expected: int) -> None:
    out = check_int("n", value, **kwargs)
    assert out == expected and type(out) is int


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (True, {}, r"^n must be an integer, got True$"),
        (np.bool_(False), {"minimum": 0}, r"^n must be a non-negative integer, got .*False"),
        (1.5, {"minimum": 1}, r"^n must be a positive integer, got 1.5$"),
        (4.0, {"minimum": 2}, r"^n must be an integer >= 2, got 4.0$"),
        ("3", {}, r"^n must be an integer, got '3'$"),
        (None, {"minimum": 1}, r"^n must be a positive integer, got None$"),
        (0, {"minimum": 1}, r"^n must be a positive integer, got 0$"),
        (np.int64(-1), {"minimum": 0}, r"^n must be a non-negative integer, got -1$"),
        (1, {"minimum": 2}, r"^n must be an integer >= 2, got 1$"),
        (5, {"maximum": 4}, r"^n must be an integer <= 4, got 5$"),
        (5, {"minimum": 0, "maximum": 4}, r"^n must be an integer in \[0, 4\], got 5$"),
    ],
)
def test_check_int_refuses(value: object, kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_int("n", value, **kwargs)


@pytest.mark.parametrize("value", [0, 7, np.int16(7), np.uint32(2**31), 2**70])
def test_check_seed_accepts_non_negative_integers(value: object) -> None:
    assert check_seed(value) == int(value)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(-1, "-1"), (1.5, "1.5"), (True, "True"), ("0", "'0'"), (None, "None"), (np.int8(-3), "-3")],
)
def test_check_seed_refuses_with_one_behaviour(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^seed must be a non-negative integer, got {shown}$"):
        check_seed(value)


@pytest.mark.parametrize("check", [_hashing.check_seed, games.check_seed])
def test_training_and_pipeline_seed_checks_agree(check: object) -> None:
    """check_seed(1.5) raised TypeError in training and ValueError in the pipeline."""
    assert check is check_seed
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got 1.5"):
        _hashing.derive_seeds(1.5, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (0.95, {}, 0.95),
        (np.float32(0.5), {}, 0.5),
        (0, {"open_low": False}, 0.0),
        (np.int64(1), {"open_high": False}, 1.0),
        (1e-12, {}, 1e-12),
    ],
)
def test_check_fraction_accepts(value: object, kwargs: dict[str, bool], expected: float) -> None:
    out = check_fraction("p", value, **kwargs)
    assert out == pytest.approx(expected) and type(out) is float


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (0.0, {}, r"^p must be a number in \(0, 1\), got 0.0$"),
        (1.0, {}, r"^p must be a number in \(0, 1\), got 1.0$"),
        (1.0, {"open_low": False}, r"^p must be a number in \[0, 1\), got 1.0$"),
        (-0.1, {"open_low": False, "open_high": False}, r"^p must be a number in \[0, 1\], got -0"),
        (0.0, {"open_high": False}, r"^p must be a number in \(0, 1\], got 0.0$"),
        (True, {"open_high": False}, r"^p must be a number in \(0, 1\], got True$"),
        (float("nan"), {"open_low": False, "open_high": False}, r"got nan$"),
        ("0.5", {}, r"got '0.5'$"),
        (None, {}, r"got None$"),
    ],
)
def test_check_fraction_refuses(value: object, kwargs: dict[str, bool], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_fraction("p", value, **kwargs)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_check_bool_accepts(value: object) -> None:
    out = check_bool("flag", value)
    assert out is bool(value)


@pytest.mark.parametrize(("value", "shown"), [(1, "1"), (0, "0"), ("yes", "'yes'"), (None, "None")])
def test_check_bool_refuses(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^flag must be True or False, got {shown}$"):
        check_bool("flag", value)


@pytest.mark.parametrize(
    "array",
    [
        [True, False, True],
        [1, 0, 1],
        np.array([1, 0, 1], dtype=np.uint8),
        np.array([1.0, 0.0, 1.0]),
    ],
)
def test_as_membership_accepts_bools_and_0_1(array: object) -> None:
    out = as_membership("m", array)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, [True, False, True])


def test_as_membership_keeps_the_shape() -> None:
    out = as_membership("keep", np.eye(2, dtype=np.int64))
    np.testing.assert_array_equal(out, [[True, False], [False, True]])


@pytest.mark.parametrize(
    ("array", "match"),
    [
        ([1, 0, 2], r"^m must be boolean \(or 0/1\), got 2 at index 2$"),
        ([0.0, 0.5], r"^m must be boolean \(or 0/1\), got 0.5 at index 1$"),
        ([1.0, float("nan")], r"got nan at index 1$"),
        ([-1, 1], r"got -1 at index 0$"),
        (np.array([[1, 0], [0, 3]]), r"got 3 at index \(1, 1\)$"),
        (["a", "b"], r"^m must be boolean \(or 0/1\), got dtype <U1 \('a' at index 0\)$"),
        ([True, None], r"^m must be boolean \(or 0/1\), got dtype object \(None at index 1\)$"),
    ],
)
def test_as_membership_refuses_other_values(array: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        as_membership("m", array)


@pytest.mark.parametrize(
    "array", [[3, 0, 4], np.array([3, 0, 4], dtype=np.uint8), np.array([3, 0, 4], dtype=np.int32)]
)
def test_check_indices_accepts_integer_dtypes(array: object) -> None:
    out = check_indices("idx", array, 5)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [3, 0, 4])


def test_check_indices_empty_only_when_allowed() -> None:
    assert check_indices("idx", [], 5, allow_empty=True).size == 0
    with pytest.raises(ValueError, match=r"^idx must be integers, got dtype float64$"):
        check_indices("idx", [], 5)
    with pytest.raises(ValueError, match=r"^idx is empty"):
        check_indices("idx", np.array([], dtype=np.int64), 5)


@pytest.mark.parametrize(
    ("array", "kwargs", "match"),
    [
        ([0, 5], {}, r"^idx must lie in \[0, 4\] \(the dataset has 5 rows\); got 5$"),
        ([-1, 2], {}, r"must lie in \[0, 4\].*got -1$"),
        ([0.0, 1.0], {}, r"^idx must be integers, got dtype float64$"),
        ([True, False], {}, r"got a boolean mask; use np.flatnonzero\(mask\)"),
        ([[0, 1]], {}, r"^idx must be one-dimensional, got shape \(1, 2\)$"),
        ([2, 1, 1, 2], {"distinct": True}, r"^idx: row index 1 is listed more than once$"),
        ([7, 1, -1], {}, r"^idx must lie in \[0, 4\] .*; got 7 \(and 1 more\)$"),
    ],
)
def test_check_indices_refuses(array: object, kwargs: dict[str, bool], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_indices("idx", array, 5, **kwargs)


def test_check_indices_repeats_allowed_unless_distinct() -> None:
    np.testing.assert_array_equal(check_indices("idx", [1, 1], 5), [1, 1])


def test_numpy_integer_options_are_stored_as_python_ints() -> None:
    """Accepted numpy integers become ``int`` (params go into fingerprints and results.json)."""
    from privmeter.attacks.shadow import ShadowParams
    from privmeter.signals.augment import GaussianNoise

    params = ShadowParams(max_train=np.int64(50), seed=np.int32(3))  # type: ignore[arg-type]
    assert type(params.max_train) is int and type(params.seed) is int
    noise = GaussianNoise(sigma=0.1, n_queries=np.int64(2))  # type: ignore[arg-type]
    assert type(noise.n_queries) is int and noise.n_queries == 2


@pytest.mark.parametrize(("value", "expected"), [(None, None), (3, 3), (np.int64(3), 3)])
def test_check_optional_int_accepts(value: object, expected: int | None) -> None:
    assert check_optional_int("k", value, minimum=1) == expected


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (True, "True"), (2.5, "2.5"), ("2", "'2'")])
def test_check_optional_int_refuses(value: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^k must be a positive integer or None, got {shown}$"):
        check_optional_int("k", value, minimum=1)


def test_flipshift_integers_are_checked_and_stored_as_int() -> None:
    from privmeter.signals.augment import FlipShift

    aug = FlipShift(shift=np.int64(1), stride=np.int32(1))  # type: ignore[arg-type]
    assert type(aug.shift) is int and type(aug.stride) is int
    with pytest.raises(ValueError, match=r"^shift must be a non-negative integer, got True$"):
        FlipShift(shift=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^stride must be a positive integer, got 0$"):
        FlipShift(stride=0)


def test_audit_n_references_message_names_the_bound_of_the_game() -> None:
    """The algorithm game needs a reference model: 0 was refused as "non-negative"."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from privmeter import Audit
    from privmeter.training import SklearnTrainer

    x, y = load_breast_cancer(return_X_y=True)
    trainer = SklearnTrainer(LogisticRegression(max_iter=50))
    with pytest.raises(ValueError, match=r"^n_references must be a positive integer, got 0$"):
        Audit((x, y), trainer, game="algorithm", n_references=0, progress=False)
    with pytest.raises(ValueError, match=r"^n_references must be a non-negative integer, got -1$"):
        Audit((x, y), trainer, n_references=-1, progress=False)


def test_flipshift_n_queries_numpy_integer_stored_as_int_and_bool_refused() -> None:
    from privmeter.signals.augment import FlipShift

    aug = FlipShift(shift=1, n_queries=np.int64(3))  # type: ignore[arg-type]
    assert type(aug.n_queries) is int and aug.n_queries == 3
    with pytest.raises(ValueError, match=r"makes 1 to \d+ queries, got n_queries=True"):
        FlipShift(shift=1, n_queries=True)  # type: ignore[arg-type]


def test_one_run_p_value_refuses_bool_counts() -> None:
    from privmeter.dp_audit import one_run_p_value

    assert 0.0 < one_run_p_value(np.int64(100), 10, 6, 0.0) <= 1.0
    with pytest.raises(ValueError, match=r"m, r and v must be integers, got m=100, r=True, v=1"):
        one_run_p_value(100, True, 1, 0.0)  # type: ignore[arg-type]


def test_loaded_result_membership_names_the_value_and_index() -> None:
    from privmeter.result import AttackResult

    res = AttackResult.from_scores("loss", [0.9, 0.1, 0.8, 0.2], [True, False, True, False])
    d = res.to_dict()
    d["membership"] = [1, 0, 0.5, 0]
    match = r"^result 'loss': membership must be boolean \(or 0/1\), got 0.5 at index 2$"
    with pytest.raises(ValueError, match=match):
        AttackResult.from_dict(d)
    d["membership"] = [True, False, "yes", False]
    with pytest.raises(ValueError, match=r"got dtype <U\d+ \('True' at index 0\)"):
        AttackResult.from_dict(d)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, True), (np.float32(0.5), True), (3, True), (np.int8(3), True), (float("nan"), True),
     (True, False), (np.bool_(False), False), ("0.5", False), (None, False), (1j, False)],
)
def test_is_real(value: object, expected: bool) -> None:
    assert is_real(value) is expected


def test_check_class_labels_is_shared_and_refuses_non_finite() -> None:
    from privmeter.signals import numerics

    assert numerics.check_class_labels is check_class_labels  # one function, re-exported
    np.testing.assert_array_equal(check_class_labels(np.array([2.0, 0.0])), [2, 0])
    for bad, shown in ((np.inf, "inf"), (-np.inf, "-inf"), (np.nan, "nan")):
        with pytest.raises(ValueError, match=rf"y must be integer class indices, got {shown} at "
                           r"index 1 \(dtype float64\)"):
            check_class_labels([0.0, bad], name="y")
    with pytest.raises(ValueError, match=r"labels have shape \(2,\), expected \(3,\)"):
        check_class_labels([0, 1], (3,))
    with pytest.raises(ValueError, match="label 3 is outside the 3 classes"):
        check_class_labels([0, 3], n_classes=3)
