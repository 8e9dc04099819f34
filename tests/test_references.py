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
