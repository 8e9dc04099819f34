"""The one bibliography (privmeter.references) and the keys cited from it (issue 10, point 7)."""

from __future__ import annotations

import pytest

import privmeter as pm
from privmeter.references import REFERENCES, Reference, check_keys, cite
from privmeter.report import html


def test_reference_text_format() -> None:
    # literal oracles: the strings the report printed before the bibliography existed
    assert cite("jagielski2020").text() == (
        "M. Jagielski, J. Ullman, A. Oprea. Auditing Differentially Private Machine Learning: "
        "How Private is Private SGD? NeurIPS 2020."
    )
    assert cite("clopper1934").text() == (
        "C. J. Clopper, E. S. Pearson. The Use of Confidence or Fiducial Limits Illustrated in "
        "the Case of the Binomial. Biometrika 26(4), 1934."
    )
    assert Reference("A. B", "T", "V", 2000).text() == "A. B. T. V 2000."


def test_every_cited_key_resolves() -> None:
    cited: dict[str, tuple[str, ...]] = {
        f"attack {name}": pm.attack_info(name).cites for name in pm.list_attacks()
    }
    cited["report game"] = html.GAME_METHOD[2]
    cited.update({f"report {term}": keys for term, _, keys in html.METHODS})
    unknown = {owner: k for owner, keys in cited.items() for k in keys if k not in REFERENCES}
    assert unknown == {}
    # every built-in attack cites its paper
    assert all(pm.attack_info(n).cites for n in pm.list_attacks())


@pytest.mark.parametrize("key", [
    "yeom2018", "shokri2017", "ye2022", "carlini2022", "zarifzadeh2024", "song2021",
    "steinke2023", "kairouz2015", "jagielski2020", "delong1988", "clopper1934",
    "hoeffding1963", "obuchowski1997",
])
def test_the_papers_privmeter_relies_on_are_listed(key: str) -> None:
    ref = cite(key)
    assert ref.year == int(key[-4:]) and ref.authors and ref.title and ref.venue


def test_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"unknown reference key 'carlini2023' \(did you mean "
                       r"'carlini2022'\?\)"):
        cite("carlini2023")
    with pytest.raises(ValueError, match=r"attack 'x': unknown reference key 'nope'"):
        check_keys(["ye2022", "nope"], owner="attack 'x'")
    with pytest.raises(TypeError, match=r"cites must be a sequence of keys, got the string"):
        check_keys("ye2022", owner="attack 'x'")


def test_every_builtin_signal_cites_known_keys() -> None:
    from privmeter.signals import get_signal, list_signals

    expected = {
        "logit_margin": ("carlini2022",),
        "probability": ("zarifzadeh2024",),
        "taylor_softmax": ("zarifzadeh2024", "debrebisson2016"),
        "loss": ("yeom2018",),
        "entropy": ("salem2019", "song2021"),
        "modified_entropy": ("song2021",),
        "correctness": ("yeom2018", "choquettechoo2021"),
        "robustness": ("choquettechoo2021",),
        "squared_error": ("yeom2018",),
        "grad_norm": ("nasr2019",),
    }
    assert {n: get_signal(n).cites for n in expected} == expected
    for name in list_signals():
        sig = get_signal(name)
        assert all(k in REFERENCES for k in sig.cites), name
    # ``paper`` stays readable: the bibliography entries of the keys, literal oracle
    assert get_signal("entropy").paper == (
        "A. Salem, Y. Zhang, M. Humbert, P. Berrang, M. Fritz, M. Backes. ML-Leaks: Model and "
        "Data Independent Membership Inference Attacks and Defenses on Machine Learning Models. "
        "NDSS 2019; L. Song, P. Mittal. Systematic Evaluation of Privacy Risks of Machine "
        "Learning Models. USENIX Security 2021"
    )


def test_a_signal_with_an_unknown_citation_is_refused() -> None:
    import numpy as np

    from privmeter.signals import Signal

    def fn(m: object, x: object, y: object) -> np.ndarray:
        return np.zeros(1)

    with pytest.raises(ValueError, match=r"signal 'mine': unknown reference key 'carlini2023' "
                       r"\(did you mean 'carlini2022'\?\)"):
        Signal(name="mine", fn=fn, higher_is_member=True, kind="custom", requires="label",
               cites=("carlini2023",))
    with pytest.raises(TypeError, match=r"signal 'mine': cites must be a sequence of keys"):
        Signal(name="mine", fn=fn, higher_is_member=True, kind="custom", requires="label",
               cites="carlini2022")  # type: ignore[arg-type]
    explicit = Signal(name="mine", fn=fn, higher_is_member=True, kind="custom",
                      requires="label", cites=("yeom2018",), paper="Yeom et al. 2018")
    assert explicit.paper == "Yeom et al. 2018" and explicit.cites == ("yeom2018",)
