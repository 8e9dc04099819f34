"""SignalTable construction, validation and signal conversions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import privmeter as pm
from privmeter.table import logit_margin_from_logits


def test_shapes_and_defaults() -> None:
    t = pm.SignalTable(np.zeros((3, 5)), np.zeros((3, 5), bool))
    assert (t.n_models, t.n_points, t.n_queries) == (3, 5, 1)
    assert t.values.shape == (3, 5, 1)
    assert t.audit_mask.all() and not t.population_mask.any()
    assert t.point_ids.tolist() == [0, 1, 2, 3, 4]
    assert t.higher_is_member is True
    with pytest.raises(ValueError, match="read-only"):
        t.values[0, 0, 0] = 1.0


def test_input_is_copied() -> None:
    v = np.zeros((2, 2))
    t = pm.SignalTable(v, np.eye(2, dtype=bool))
    v[0, 0] = 5.0
    assert t.values[0, 0, 0] == 0.0


def test_nan_reports_count_and_first_index() -> None:
    v = np.zeros((2, 4))
    v[1, 2] = np.nan
    v[1, 3] = np.inf
    with pytest.raises(ValueError, match=r"2 NaN or infinite entries; first at .*\(1, 2, 0\)"):
        pm.SignalTable(v, np.zeros((2, 4), bool))


@pytest.mark.parametrize(
    ("values", "membership", "kwargs", "match"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4), bool), {}, r"membership has shape \(2, 4\)"),
        (np.zeros(3), np.zeros(3, bool), {}, r"values must have shape"),
        (np.zeros((2, 3)), np.full((2, 3), 2), {}, "membership must be boolean"),
        (np.zeros((2, 3)), np.zeros((2, 3), bool), {"kind": "logits"}, "unknown signal kind"),
        (np.zeros((2, 3)), np.zeros((2, 3), bool), {"kind": "custom"}, "higher_is_member"),
        (
            np.full((2, 3), 1.5), np.zeros((2, 3), bool), {"kind": "probability"},
            r"probabilities must lie in \[0, 1\]; 6 values do not.*1.5",
        ),
        (np.full((2, 3), -1.0), np.zeros((2, 3), bool), {"kind": "loss"}, "losses must be non-"),
        (
            np.zeros((2, 3)), np.zeros((2, 3), bool), {"role": ["audit", "pop", "audit"]},
            "role must be 'audit', 'population' or 'reference'; got 'pop' at point 1",
        ),
        (
            np.zeros((2, 3)), np.zeros((2, 3), bool), {"role": ["population"] * 3},
            "no audit point",
        ),
        (np.zeros((2, 3)), np.zeros((2, 3), bool), {"labels": [0, 1]}, r"labels has shape"),
        (
            np.zeros((2, 3)), np.zeros((2, 3), bool), {"kind": "loss", "higher_is_member": True},
            "kind='loss' has higher_is_member=False",
        ),
        (np.zeros((0, 3)), np.zeros((0, 3), bool), {}, "must not be empty"),
        (np.array([["a", "b"]]), np.zeros((1, 2), bool), {}, "values must be numeric"),
    ],
)
def test_bad_input(values: object, membership: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pm.SignalTable(values, membership, **kwargs)  # type: ignore[arg-type]


def test_check_target_errors() -> None:
    mem = np.array([[True, False, False], [True, True, True], [False, False, False]])
    t = pm.SignalTable(np.zeros((3, 3)), mem)
    assert t.check_target(0) == 0
    with pytest.raises(ValueError, match=r"target=3 is out of range.*3 models"):
        t.check_target(3)
    with pytest.raises(ValueError, match="target=-1 is out of range"):
        t.check_target(-1)
    with pytest.raises(ValueError, match="no non-member"):
        t.check_target(1)
    with pytest.raises(ValueError, match="no member"):
        t.check_target(2)
    with pytest.raises(ValueError, match="integer model index"):
        t.check_target(1.5)  # type: ignore[arg-type]
    t2 = pm.SignalTable(
        np.zeros((1, 3)), np.array([[True, False, True]]), role=["audit", "audit", "population"]
    )
    with pytest.raises(ValueError, match="population points are members of target model 0"):
        t2.check_target(0)


def test_logit_margin_hand_computed() -> None:
    z = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    phi = logit_margin_from_logits(z, [0, 2])
    # phi = z_y - log(sum_{j != y} e^{z_j})
    assert phi[0] == pytest.approx(2.0 - np.log(np.e + 1.0))
    assert phi[1] == pytest.approx(-np.log(2.0))
    # equals log p - log(1 - p)
    p = np.exp(z[0]) / np.exp(z[0]).sum()
    assert phi[0] == pytest.approx(np.log(p[0]) - np.log(1 - p[0]))


def test_extreme_logits_do_not_tie_or_overflow() -> None:
    z = np.array([[1e4, 0.0, 0.0], [2e4, 0.0, 0.0], [40.0, 0.0, 0.0], [41.0, 0.0, 0.0]])
    phi = logit_margin_from_logits(z, [0, 0, 0, 0])
    assert np.all(np.isfinite(phi))
    assert len(set(phi.tolist())) == 4
    t = pm.SignalTable(phi[None], np.ones((1, 4), bool))
    loss = np.log1p(np.exp(-t.logit_margin()))
    assert loss[0, 2, 0] > loss[0, 3, 0] > 0.0  # float32 probabilities would tie these at 0
    lp = t.log_proba()
    assert np.all(np.isfinite(lp)) and lp[0, 2, 0] < lp[0, 3, 0] < 0.0


def test_label_errors() -> None:
    with pytest.raises(ValueError, match="label 3 is outside the 3 classes"):
        logit_margin_from_logits(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="at least 2 classes"):
        logit_margin_from_logits(np.zeros((2, 1)), [0, 0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=1, max_size=20))
def test_conversions_round_trip(phis: list[float]) -> None:
    phi = np.array(phis)
    p = 1.0 / (1.0 + np.exp(-phi))
    loss = np.logaddexp(0.0, -phi)
    from_loss = pm.SignalTable(loss[None], np.zeros((1, phi.size), bool), kind="loss")
    np.testing.assert_allclose(from_loss.logit_margin()[0, :, 0], phi, rtol=1e-6, atol=1e-6)
    ok = (p > 1e-12) & (p < 1 - 1e-12)
    from_p = pm.SignalTable(p[None], np.zeros((1, phi.size), bool), kind="probability")
    np.testing.assert_allclose(from_p.logit_margin()[0, ok, 0], phi[ok], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        from_loss.log_proba()[0, :, 0], -loss, rtol=1e-6, atol=1e-9
    )


def test_custom_kind_orientation() -> None:
    t = pm.SignalTable(np.array([[1.0, 2.0]]), np.zeros((1, 2), bool), kind="custom",
                       higher_is_member=False)
    assert t.oriented().tolist() == [[[-1.0], [-2.0]]]
    with pytest.raises(ValueError, match="needs probabilities"):
        t.log_proba()
    with pytest.raises(ValueError, match="temperature must be a positive"):
        pm.SignalTable(np.zeros((1, 2)), np.zeros((1, 2), bool)).log_proba(0.0)


def test_subset_models() -> None:
    t = pm.SignalTable(np.arange(6.0).reshape(3, 2), np.eye(3, 2, dtype=bool))
    s = t.subset_models([2, 0])
    assert s.values[:, :, 0].tolist() == [[4.0, 5.0], [0.0, 1.0]]
    assert s.membership.tolist() == [[False, False], [True, False]]


def test_reference_role() -> None:
    # reference-only points: seen through the reference models only; the target's value and
    # membership there are ignored (a target member there is allowed, unlike population)
    mem = np.array([[True, False, True, False], [False, True, True, False]])
    t = pm.SignalTable(np.zeros((2, 4)), mem, role=["audit", "audit", "reference", "population"])
    assert t.reference_mask.tolist() == [False, False, True, False]
    assert t.population_mask.tolist() == [False, False, False, True]
    assert t.check_target(0) == 0
    assert "reference=1" in repr(t)
    with pytest.raises(ValueError, match="no audit point"):
        pm.SignalTable(np.zeros((1, 2)), np.zeros((1, 2), bool), role=["reference"] * 2)


def test_conversions_are_computed_once_and_read_only() -> None:
    # the multi-target games attack every model in turn: each conversion of the whole table
    # must happen once per table, not once per target
    losses = np.abs(np.random.default_rng(0).normal(size=(3, 5, 2)))
    t = pm.SignalTable(losses, np.zeros((3, 5), bool), kind="loss")
    assert t.logit_margin() is t.logit_margin()
    assert t.log_proba(2.0) is t.log_proba(2.0)
    assert t.log_proba(2.0) is not t.log_proba(1.0)
    assert t.audit_mask is t.audit_mask
    for arr in (t.logit_margin(), t.log_proba(), t.audit_mask, t.oriented()):
        with pytest.raises(ValueError, match="read-only"):
            arr.flat[0] = 0
    np.testing.assert_allclose(t.log_proba(2.0), -np.logaddexp(0.0, -t.logit_margin() / 2.0))


def test_pickled_table_leaves_its_cache_behind() -> None:
    import pickle

    t = pm.SignalTable(np.full((2, 3), 0.5), np.zeros((2, 3), bool), kind="probability")
    phi = t.logit_margin()
    back = pickle.loads(pickle.dumps(t))
    assert back._cache == {}
    np.testing.assert_array_equal(back.logit_margin(), phi)
    np.testing.assert_array_equal(back.values, t.values)


def test_out_of_range_signal_value_is_shown_as_a_plain_number() -> None:
    mem = np.array([[True, False], [False, True]])
    with pytest.raises(ValueError, match=r"first at \(model, point, query\) = \(0, 1, 0\) "
                       r"with value 1\.5$"):
        pm.SignalTable(np.array([[0.5, 1.5], [0.2, 0.3]]), mem, kind="probability")
    with pytest.raises(ValueError, match=r"with value -2\.0$"):
        pm.SignalTable(np.array([[0.5, 1.0], [-2.0, 0.3]]), mem, kind="loss")
