"""One bibliography: every paper privmeter cites, keyed by id.

Attack specs (:attr:`privmeter.AttackSpec.cites`), signals and the report cite papers by key
(``"carlini2022"``); :func:`cite` resolves a key and names the known ones when it does not
exist. The report's "Methods & citations" section numbers what its methods cite and renders
the entries with :meth:`Reference.text`.

Examples
--------
>>> from privmeter.references import cite
>>> print(cite("carlini2022").text())
N. Carlini, S. Chien, M. Nasr, S. Song, A. Terzis, F. Tramèr. Membership Inference Attacks From First Principles. IEEE S&P 2022.
>>> cite("carlini2021")
Traceback (most recent call last):
...
ValueError: unknown reference key 'carlini2021' (did you mean 'carlini2022'?); ...
"""  # noqa: E501

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["REFERENCES", "Reference", "check_keys", "cite"]


@dataclass(frozen=True)
class Reference:
    """One bibliography entry.

    Attributes
    ----------
    authors : str
        Initials and surnames, comma separated (``"R. Shokri, M. Stronati"``).
    title : str
    venue : str
        Conference or journal (``"IEEE S&P"``, ``"Biometrika"``).
    year : int
    volume : str, optional
        Journal volume and issue (``"26(4)"``).
    url : str, optional
    """

    authors: str
    title: str
    venue: str
    year: int
    volume: str = ""
    url: str = ""

    def text(self) -> str:
        """``Authors. Title. Venue [volume,] year.`` (no period doubled after ``?``)."""
        sep = " " if self.title.endswith(("?", "!", ".")) else ". "
        where = f"{self.venue} {self.volume}, {self.year}" if self.volume else (
            f"{self.venue} {self.year}")
        return f"{self.authors}. {self.title}{sep}{where}."


#: Every paper cited in privmeter (docstrings, attack and signal specs, the report).
REFERENCES: dict[str, Reference] = {
    "yeom2018": Reference(
        "S. Yeom, I. Giacomelli, M. Fredrikson, S. Jha",
        "Privacy Risk in Machine Learning: Analyzing the Connection to Overfitting",
        "IEEE CSF", 2018, url="https://arxiv.org/abs/1709.01604"),
    "shokri2017": Reference(
        "R. Shokri, M. Stronati, C. Song, V. Shmatikov",
        "Membership Inference Attacks Against Machine Learning Models", "IEEE S&P", 2017,
        url="https://arxiv.org/abs/1610.05820"),
    "ye2022": Reference(
        "J. Ye, A. Maddi, S. K. Murakonda, V. Bindschaedler, R. Shokri",
        "Enhanced Membership Inference Attacks against Machine Learning Models", "ACM CCS",
        2022, url="https://arxiv.org/abs/2111.09679"),
    "carlini2022": Reference(
        "N. Carlini, S. Chien, M. Nasr, S. Song, A. Terzis, F. Tramèr",
        "Membership Inference Attacks From First Principles", "IEEE S&P", 2022,
        url="https://arxiv.org/abs/2112.03570"),
    "zarifzadeh2024": Reference(
        "S. Zarifzadeh, P. Liu, R. Shokri", "Low-Cost High-Power Membership Inference Attacks",
        "ICML", 2024, url="https://arxiv.org/abs/2312.03262"),
    "song2021": Reference(
        "L. Song, P. Mittal", "Systematic Evaluation of Privacy Risks of Machine Learning Models",
        "USENIX Security", 2021, url="https://arxiv.org/abs/2003.10595"),
    "choquettechoo2021": Reference(
        "C. A. Choquette-Choo, F. Tramèr, N. Carlini, N. Papernot",
        "Label-Only Membership Inference Attacks", "ICML", 2021,
        url="https://arxiv.org/abs/2007.14321"),
    "salem2019": Reference(
        "A. Salem, Y. Zhang, M. Humbert, P. Berrang, M. Fritz, M. Backes",
        "ML-Leaks: Model and Data Independent Membership Inference Attacks and Defenses on "
        "Machine Learning Models", "NDSS", 2019, url="https://arxiv.org/abs/1806.01246"),
    "nasr2019": Reference(
        "M. Nasr, R. Shokri, A. Houmansadr",
        "Comprehensive Privacy Analysis of Deep Learning: Passive and Active White-box "
        "Inference Attacks against Centralized and Federated Learning", "IEEE S&P", 2019,
        url="https://arxiv.org/abs/1812.00910"),
    "debrebisson2016": Reference(
        "A. de Brébisson, P. Vincent",
        "An Exploration of Softmax Alternatives Belonging to the Spherical Loss Family",
        "ICLR", 2016, url="https://arxiv.org/abs/1511.05042"),
    "steinke2023": Reference(
        "T. Steinke, M. Nasr, M. Jagielski", "Privacy Auditing with One (1) Training Run",
        "NeurIPS", 2023, url="https://arxiv.org/abs/2305.08846"),
    "kairouz2015": Reference(
        "P. Kairouz, S. Oh, P. Viswanath", "The Composition Theorem for Differential Privacy",
        "ICML", 2015, url="https://arxiv.org/abs/1311.0776"),
    "jagielski2020": Reference(
        "M. Jagielski, J. Ullman, A. Oprea",
        "Auditing Differentially Private Machine Learning: How Private is Private SGD?",
        "NeurIPS", 2020, url="https://arxiv.org/abs/2006.07709"),
    "delong1988": Reference(
        "E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson",
        "Comparing the Areas under Two or More Correlated Receiver Operating Characteristic "
        "Curves: a Nonparametric Approach", "Biometrics", 1988, volume="44(3)"),
    "sun2014": Reference(
        "X. Sun, W. Xu",
        "Fast Implementation of DeLong's Algorithm for Comparing the Areas Under Correlated "
        "Receiver Operating Characteristic Curves", "IEEE Signal Processing Letters", 2014,
        volume="21(11)"),
    "obuchowski1997": Reference(
        "N. A. Obuchowski",
        "Nonparametric Analysis of Clustered ROC Curve Data", "Biometrics", 1997,
        volume="53(2)"),
    "clopper1934": Reference(
        "C. J. Clopper, E. S. Pearson",
        "The Use of Confidence or Fiducial Limits Illustrated in the Case of the Binomial",
        "Biometrika", 1934, volume="26(4)"),
    "hoeffding1963": Reference(
        "W. Hoeffding", "Probability Inequalities for Sums of Bounded Random Variables",
        "Journal of the American Statistical Association", 1963, volume="58(301)"),
    "zagoruyko2016": Reference(
        "S. Zagoruyko, N. Komodakis", "Wide Residual Networks", "BMVC", 2016,
        url="https://arxiv.org/abs/1605.07146"),
}


def cite(key: str) -> Reference:
    """The bibliography entry of ``key``; a ``ValueError`` names the closest known key."""
    try:
        return REFERENCES[key]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(key), list(REFERENCES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown reference key {key!r}{hint}; known keys: {', '.join(sorted(REFERENCES))}"
        ) from None


def check_keys(keys: Iterable[str], *, owner: str) -> tuple[str, ...]:
    """``keys`` as a tuple, each checked with :func:`cite`; errors name ``owner``.

    >>> check_keys(["ye2022"], owner="attack 'population'")
    ('ye2022',)
    """
    if isinstance(keys, str):
        raise TypeError(f"{owner}: cites must be a sequence of keys, got the string {keys!r}")
    out = tuple(keys)
    for key in out:
        try:
            cite(key)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
    return out
