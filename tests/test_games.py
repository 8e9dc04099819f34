"""The games' planning on arrays alone (privmeter.pipeline.games): no model is trained."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from privmeter.pipeline.games import (
    GAMES,
    add_reference_keep,
    check_records,
    check_seed,
    plan_game,
    split_seeds,
)

SIZES = [9, 10, 11, 57, 101, 178]


def _plan(n: int, game: str, **kw: Any) -> Any:
    base: dict[str, Any] = {"n_references": 4, "population_fraction": 0.3, "seed": 0}
    if game == "record":
        base["records"] = 2
    base.update(kw)
    return plan_game(n, game=game, **base)


def _in_out_counts(keep: np.ndarray, rows: np.ndarray, target: int) -> tuple[Any, Any]:
    refs = [m for m in range(keep.shape[0]) if m != target]
    sub = keep[refs][:, rows]
    return sub.sum(axis=0), (~sub).sum(axis=0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("n_refs", [2, 3, 5])
def test_every_audited_point_has_in_and_out_references(n: int, game: str, n_refs: int) -> None:
    p = _plan(n, game, n_references=n_refs)
    for t in p.targets:
        inn, out = _in_out_counts(p.keep, p.audit_rows, t)
        assert inn.min() >= 1 and out.min() >= 1, (n, game, t)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("game", GAMES)
def test_population_is_disjoint_from_every_targets_training_set(n: int, game: str) -> None:
    p = _plan(n, game)
    assert np.intersect1d(p.audit_rows, p.population_rows).size == 0
    assert not p.keep[np.asarray(p.targets)][:, p.population_rows].any()
    assert p.keep.shape[1] == n


def test_population_is_disjoint_from_a_user_targets_training_set() -> None:
    members = np.array([0, 3, 4, 10, 11, 12, 20])
    p = plan_game(40, game="model", n_references=3, population_fraction=0.3, seed=1,
                  target_indices=members[::-1])
    np.testing.assert_array_equal(np.flatnonzero(p.keep[0]), members)
    assert np.intersect1d(p.population_rows, members).size == 0
    # the audit: every member, then as many non-members
    np.testing.assert_array_equal(p.audit_rows[: members.size], members)
    assert p.audit_rows.size == 2 * members.size
    assert p.audit_rows.size + p.population_rows.size == 40


@pytest.mark.parametrize("n", [9, 11, 57, 101, 443])
def test_model_game_odd_sizes_drop_nothing(n: int) -> None:
    p = _plan(n, "model", n_references=3)
    assert p.population_rows.size == round(0.3 * n)
    assert p.audit_rows.size + p.population_rows.size == n
    assert np.union1d(p.audit_rows, p.population_rows).size == n
    assert p.keep[0, p.audit_rows].sum() == p.audit_rows.size // 2  # odd: one fewer member
    assert p.keep.shape == (4, n) and p.targets == [0]


@pytest.mark.parametrize("game", GAMES)
def test_the_plan_is_a_function_of_the_seed(game: str) -> None:
    a, b, c = _plan(101, game, seed=7), _plan(101, game, seed=7), _plan(101, game, seed=8)
    np.testing.assert_array_equal(a.audit_rows, b.audit_rows)
    np.testing.assert_array_equal(a.population_rows, b.population_rows)
    np.testing.assert_array_equal(a.keep, b.keep)
    assert not np.array_equal(a.keep, c.keep)
    # the global numpy RNG plays no part
    np.random.seed(123)  # noqa: NPY002
    np.testing.assert_array_equal(_plan(101, game, seed=7).keep, a.keep)


def test_multi_target_games_train_an_even_number_of_models() -> None:
    for n_refs, models in ((1, 2), (2, 4), (3, 4), (4, 6)):
        p = _plan(60, "algorithm", n_references=n_refs)
        assert p.keep.shape[0] == models and p.targets == list(range(models))
        # each audit point is IN for exactly half of the models
        assert (p.keep[:, p.audit_rows].sum(axis=0) == models // 2).all()


def test_offline_references_train_on_population_points_only() -> None:
    p = _plan(101, "model", n_references=3, online=False, population_fraction=0.6)
    assert not p.keep[1:, p.audit_rows].any()
    assert p.keep[1:, p.population_rows].any(axis=1).all()
    size = int(p.keep[0].sum())
    assert (p.keep[1:].sum(axis=1) == size).all()  # the target's training-set size
    with pytest.raises(ValueError, match=r"need at least 70 population points .* there are 30"):
        _plan(101, "model", n_references=3, online=False, population_fraction=0.3)


def test_record_game_uniform_and_leave_one_out() -> None:
    recs = [3, 8, 40]
    uni = _plan(60, "record", records=recs, n_references=5)
    loo = _plan(60, "record", records=recs, n_references=5, leave_one_out=True)
    for p in (uni, loo):
        np.testing.assert_array_equal(p.audit_rows, recs)
        assert np.intersect1d(p.population_rows, recs).size == 0
        assert (p.keep[:, recs].sum(axis=0) == p.keep.shape[0] // 2).all()
    rest = np.setdiff1d(np.arange(60), np.r_[recs, loo.population_rows])
    # leave-one-out: the rest of the training set is the same for every model
    assert (loo.keep[:, rest] == loo.keep[0, rest]).all()
    assert not (uni.keep[:, rest] == uni.keep[0, rest]).all()


def test_too_little_data_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"fewer points than the 'record' game needs: 7 rows"):
        _plan(7, "record")
    with pytest.raises(ValueError, match="records must be between 2 and 8 for this data, got 9"):
        _plan(14, "record", records=9)
    with pytest.raises(ValueError, match="target_indices contain duplicates"):
        plan_game(20, game="model", n_references=1, population_fraction=0.3, seed=0,
                  target_indices=[1, 1, 2])
    with pytest.raises(ValueError, match=r"target_indices must be row indices in \[0, 19\]"):
        plan_game(20, game="model", n_references=1, population_fraction=0.3, seed=0,
                  target_indices=[1, 20])


def test_check_records_names_the_offending_value() -> None:
    np.testing.assert_array_equal(check_records([5, 1, 3], 10), [1, 3, 5])
    with pytest.raises(ValueError, match=r"records must lie in \[0, 9\] .*; got 12 \(and 1 more\)"):
        check_records([12, 1, -1], 10)
    with pytest.raises(ValueError, match="row index 3 is listed more than once"):
        check_records([3, 1, 3], 10)
    with pytest.raises(ValueError, match="list of row indices"):
        check_records([1.5, 2.0], 10)
    with pytest.raises(ValueError, match="at least 2 row indices, got 1"):
        check_records([4], 10)


def test_check_seed() -> None:
    assert check_seed(np.int64(3)) == 3 and type(check_seed(np.int64(3))) is int
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match=f"seed must be a non-negative integer, got {bad!r}"):
            check_seed(bad)


def test_split_seeds_are_independent_streams() -> None:
    rng, train, query = split_seeds(0)
    assert train != query and 0 <= train < 2**63 and 0 <= query < 2**63
    assert split_seeds(1)[1:] != (train, query)
    again = split_seeds(0)[0]
    np.testing.assert_array_equal(rng.integers(100, size=5), again.integers(100, size=5))


def test_add_reference_keep_odd_pool_gives_every_point_in_and_out() -> None:
    keep = np.zeros((4, 11), dtype=bool)  # 3 references, pool of 11 points (odd)
    pool = np.arange(11)
    add_reference_keep(keep, pool, np.arange(0), 5, seed=0, online=True)
    inn = keep[1:].sum(axis=0)
    assert inn.min() >= 1 and (3 - inn).min() >= 1
    assert not keep[0].any()  # the target's row is left alone
