"""The generic registry (privmeter._registry) and the three registries built on it (issue 10,
point 2): attacks, signals and datasets register, refuse and suggest names alike."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import privmeter as pm
from privmeter import datasets, signals
from privmeter._registry import Registry
from privmeter.attacks import _registry as attack_registry
from privmeter.datasets import Dataset
from privmeter.datasets import builtin as dataset_registry
from privmeter.signals import registry as signal_registry


def test_register_returns_the_spec_and_refuses_a_taken_name() -> None:
    reg = Registry[str]("widget")
    assert reg.register("a", "first") == "first"
    with pytest.raises(ValueError, match=r"^a widget named 'a' is already registered; pass "
                       r"overwrite=True to replace it$"):
        reg.register("a", "second")
    assert reg.get("a") == "first"
    assert reg.register("a", "second", overwrite=True) == "second"
    assert reg.get("a") == "second"
    an = Registry[int]("attack")
    an.register("x", 1)
    with pytest.raises(ValueError, match=r"^an attack named 'x'"):
        an.register("x", 2)
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match=r"widget name must be a non-empty string"):
            reg.register(bad, "x")  # type: ignore[arg-type]


def test_get_names_every_equally_close_name_and_the_known_ones() -> None:
    reg = Registry[int]("attack")
    for i, name in enumerate(["lira", "loss", "rmia"]):
        reg.register(name, i)
    with pytest.raises(ValueError, match=r"^unknown attack 'lria' \(did you mean 'lira' or "
                       r"'rmia'\?\); known attacks: lira, loss, rmia$"):
        reg.get("lria")
    with pytest.raises(ValueError, match=r"^unknown attack 'zzzz'; known attacks: lira, loss, "
                       r"rmia$"):
        reg.get("zzzz")
    with pytest.raises(ValueError, match=r"unknown attack \['x'\]"):
        reg.get(["x"])  # type: ignore[arg-type]  # unhashable: still a ValueError
    assert Registry[int]("box", plural="boxes").close_names("a") is None
    with pytest.raises(ValueError, match=r"known boxes: none$"):
        Registry[int]("box", plural="boxes").get("a")


def test_names_contains_len_iter_values() -> None:
    reg = Registry[int]("thing")
    reg.register("b", 2)
    reg.register("a", 1)
    assert reg.names() == ["a", "b"] == list(reg)
    assert reg.values() == [1, 2]
    assert "a" in reg and "c" not in reg and ["a"] not in reg
    assert len(reg) == 2


def test_unregister_temporary_and_copy_leave_no_entry_behind() -> None:
    reg = Registry[int]("thing")
    reg.register("a", 1)
    assert reg.unregister("a") == 1 and "a" not in reg
    with pytest.raises(ValueError, match=r"unknown thing 'a'"):
        reg.unregister("a")
    with reg.temporary("b", 2) as spec:
        assert spec == 2 and reg.get("b") == 2
    assert "b" not in reg
    reg.register("c", 3)
    with pytest.raises(RuntimeError, match="boom"), reg.temporary("c", 4, overwrite=True):
        assert reg.get("c") == 4
        raise RuntimeError("boom")
    assert reg.get("c") == 3  # the replaced entry is back, even after an exception
    with pytest.raises(ValueError, match="already registered"), reg.temporary("c", 5):
        pass  # pragma: no cover - the registration itself fails
    assert reg.get("c") == 3
    clone = reg.copy()
    clone.register("d", 4)
    assert "d" in clone and "d" not in reg and clone.names() == ["c", "d"]


def test_the_three_registries_are_registries() -> None:
    assert isinstance(attack_registry._REGISTRY, Registry)
    assert isinstance(signal_registry._REGISTRY, Registry)
    assert isinstance(dataset_registry._REGISTRY, Registry)
    assert pm.list_attacks() == attack_registry._REGISTRY.names()
    assert signals.list_signals() == signal_registry._REGISTRY.names()
    assert datasets.list_datasets() == dataset_registry._REGISTRY.names()


def test_the_three_registries_suggest_alike() -> None:
    # 'lria' is equally close to 'lira' and 'rmia': every registry names both
    with pytest.raises(ValueError, match=r"unknown attack 'lria' \(did you mean 'lira' or "
                       r"'rmia'\?\); known attacks: .*lira, loss"):
        pm.attack_info("lria")
    with pytest.raises(ValueError, match=r"unknown signal 'lost' \(did you mean 'loss'\?\); "
                       r"known signals: .*logit_margin"):
        signals.get_signal("lost")
    with pytest.raises(ValueError, match=r"unknown dataset 'wne'; did you mean 'wine'\? "
                       r"Known datasets: breast_cancer"):
        datasets.load_dataset("wne")
    # the same closeness rule (privmeter._names, cutoff 0.6) picks the names in all three
    reg = Registry[int]("x")
    for name in datasets.list_datasets():
        reg.register(name, 0)
    for typo in ("iriss", "digit", "syntetic_gausian", "breast"):
        expected = reg.close_names(typo)
        assert expected is not None
        with pytest.raises(ValueError, match=f"did you mean {expected}\\?"):
            datasets.load_dataset(typo)


def test_attacks_refuse_duplicates_unless_overwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attack_registry, "_REGISTRY", attack_registry._REGISTRY.copy())
    loss = pm.attack_info("loss")
    with pytest.raises(ValueError, match=r"an attack named 'loss' is already registered; pass "
                       r"overwrite=True"):
        pm.register_attack(loss)
    other = dataclasses.replace(loss, summary="replaced")
    assert pm.register_attack(other, overwrite=True) is other
    assert pm.attack_info("loss").summary == "replaced"
    with pytest.raises(TypeError, match="expected an AttackSpec, got str"):
        pm.register_attack("loss")  # type: ignore[arg-type]
    # an unknown citation is refused before anything is replaced
    bad = dataclasses.replace(loss, cites=("nope2000",))
    with pytest.raises(ValueError, match=r"attack 'loss': unknown reference key 'nope2000'"):
        pm.register_attack(bad, overwrite=True)
    assert pm.attack_info("loss") is other


def test_attack_registry_copy_does_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    before = pm.list_attacks()
    with monkeypatch.context() as mp:
        mp.setattr(attack_registry, "_REGISTRY", attack_registry._REGISTRY.copy())
        pm.register_attack(dataclasses.replace(pm.attack_info("loss"), name="loss_copy"))
        assert "loss_copy" in pm.list_attacks()
    assert pm.list_attacks() == before


def test_signals_and_datasets_return_the_spec_and_refuse_duplicates() -> None:
    sig = signals.probability_signal(temperature=3.0, name="probability_t3_test")
    with signal_registry._REGISTRY.temporary(sig.name, sig):
        assert signals.get_signal(sig.name) is sig
        with pytest.raises(ValueError, match=r"a signal named 'probability_t3_test' is already "
                           r"registered; pass overwrite=True"):
            signals.register_signal(sig)
        assert signals.register_signal(sig, overwrite=True) is sig
    assert sig.name not in signals.list_signals()

    def tiny(*, n: int = 3) -> Dataset:
        return Dataset(np.zeros((n, 2)), np.arange(n) % 2, name="tiny")

    try:
        spec = datasets.register_dataset("tiny_registry_test", tiny, description="three rows")
        assert isinstance(spec, dataset_registry.DatasetSpec)
        assert spec.name == "tiny_registry_test" and spec.loader is tiny
        assert spec.description == "three rows"
        with pytest.raises(ValueError, match=r"a dataset named 'tiny_registry_test' is already "
                           r"registered; pass overwrite=True"):
            datasets.register_dataset("tiny_registry_test", tiny)
        again = datasets.register_dataset("tiny_registry_test", tiny, overwrite=True)
        assert again.description == "" and dataset_registry._REGISTRY.get(again.name) is again
        assert len(datasets.load_dataset("tiny_registry_test")) == 3
    finally:
        dataset_registry._REGISTRY.unregister("tiny_registry_test")
    assert "tiny_registry_test" not in datasets.list_datasets()


def test_builtin_listings_are_exact() -> None:
    # doctests no longer leave entries behind, so the listings are the built-ins only
    assert datasets.list_datasets() == [
        "breast_cancer", "diabetes", "digits", "iris", "synthetic_gaussian",
        "synthetic_purchase", "wine",
    ]
    for name in ("logit_margin", "probability", "loss", "taylor_softmax", "entropy",
                 "modified_entropy", "correctness", "robustness", "squared_error",
                 "grad_norm"):
        assert name in signals.list_signals()
    assert "probability_t4" not in signals.list_signals()
