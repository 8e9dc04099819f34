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
>>> cite("carlini2020")
Traceback (most recent call last):
...
ValueError: unknown reference key 'carlini2020' (did you mean 'carlini2022'?); ...
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
    "carlini2019": Reference(
        "N. Carlini, C. Liu, Ú. Erlingsson, J. Kos, D. Song",
        "The Secret Sharer: Evaluating and Testing Unintended Memorization in Neural Networks",
        "USENIX Security", 2019, url="https://arxiv.org/abs/1802.08232"),
    "carlini2021extraction": Reference(
        "N. Carlini, F. Tramèr, E. Wallace, M. Jagielski, A. Herbert-Voss, K. Lee, A. Roberts, "
        "T. Brown, D. Song, Ú. Erlingsson, A. Oprea, C. Raffel",
        "Extracting Training Data from Large Language Models", "USENIX Security", 2021,
        url="https://arxiv.org/abs/2012.07805"),
    "shi2024": Reference(
        "W. Shi, A. Ajith, M. Xia, Y. Huang, D. Liu, T. Blevins, D. Chen, L. Zettlemoyer",
        "Detecting Pretraining Data from Large Language Models", "ICLR", 2024,
        url="https://arxiv.org/abs/2310.16789"),
    "zhang2025": Reference(
        "J. Zhang, J. Sun, E. Yeats, Y. Ouyang, M. Kuo, J. Zhang, H. F. Yang, H. Li",
        "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large Language "
        "Models", "ICLR", 2025, url="https://arxiv.org/abs/2404.02936"),
    "mireshghallah2022": Reference(
        "F. Mireshghallah, K. Goyal, A. Uniyal, T. Berg-Kirkpatrick, R. Shokri",
        "Quantifying Privacy Risks of Masked Language Models Using Membership Inference "
        "Attacks", "EMNLP", 2022, url="https://arxiv.org/abs/2203.03929"),
    "das2024": Reference(
        "D. Das, J. Zhang, F. Tramèr",
        "Blind Baselines Beat Membership Inference Attacks for Foundation Models", "arXiv",
        2024, volume="2406.16201", url="https://arxiv.org/abs/2406.16201"),
    "duan2024": Reference(
        "M. Duan, A. Suri, N. Mireshghallah, S. Min, W. Shi, L. Zettlemoyer, Y. Tsvetkov, "
        "Y. Choi, D. Evans, H. Hajishirzi",
        "Do Membership Inference Attacks Work on Large Language Models?", "COLM", 2024,
        url="https://arxiv.org/abs/2402.07841"),
    "meeus2025": Reference(
        "M. Meeus, I. Shilov, S. Jain, M. Faysse, M. Rei, Y.-A. de Montjoye",
        "SoK: Membership Inference Attacks on LLMs are Rushing Nowhere (and How to Fix It)",
        "IEEE SaTML", 2025, url="https://arxiv.org/abs/2406.17975"),
    "hu2022": Reference(
        "E. J. Hu, Y. Shen, P. Wallis, Z. Allen-Zhu, Y. Li, S. Wang, L. Wang, W. Chen",
        "LoRA: Low-Rank Adaptation of Large Language Models", "ICLR", 2022,
        url="https://arxiv.org/abs/2106.09685"),
    "radford2019": Reference(
        "A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever",
        "Language Models are Unsupervised Multitask Learners", "OpenAI technical report", 2019),
    "abadi2016": Reference(
        "M. Abadi, A. Chu, I. Goodfellow, H. B. McMahan, I. Mironov, K. Talwar, L. Zhang",
        "Deep Learning with Differential Privacy", "ACM CCS", 2016,
        url="https://arxiv.org/abs/1607.00133"),
    "mironov2017": Reference(
        "I. Mironov", "Rényi Differential Privacy", "IEEE CSF", 2017,
        url="https://arxiv.org/abs/1702.07476"),
    "gopi2021": Reference(
        "S. Gopi, Y. T. Lee, L. Wutschitz", "Numerical Composition of Differential Privacy",
        "NeurIPS", 2021, url="https://arxiv.org/abs/2106.02848"),
    "dong2022": Reference(
        "J. Dong, A. Roth, W. J. Su", "Gaussian Differential Privacy",
        "Journal of the Royal Statistical Society Series B", 2022, volume="84(1)",
        url="https://arxiv.org/abs/1905.02383"),
    "nasr2023": Reference(
        "M. Nasr, J. Hayes, T. Steinke, B. Balle, F. Tramèr, M. Jagielski, N. Carlini, "
        "A. Terzis", "Tight Auditing of Differentially Private Machine Learning",
        "USENIX Security", 2023, url="https://arxiv.org/abs/2302.07956"),
    "yousefpour2021": Reference(
        "A. Yousefpour, I. Shilov, A. Sablayrolles, D. Testuggine, K. Prasad, M. Malek, "
        "J. Nguyen, S. Ghosh, A. Bharadwaj, J. Zhao, G. Cormode, I. Mironov",
        "Opacus: User-Friendly Differential Privacy Library in PyTorch", "arXiv", 2021,
        volume="2109.12298", url="https://arxiv.org/abs/2109.12298"),
    "holm1979": Reference(
        "S. Holm", "A Simple Sequentially Rejective Multiple Test Procedure",
        "Scandinavian Journal of Statistics", 1979, volume="6(2)"),
    "efron1975": Reference(
        "B. Efron, C. Morris", "Data Analysis Using Stein's Estimator and its Generalizations",
        "Journal of the American Statistical Association", 1975, volume="70(350)"),
    "hayes2025": Reference(
        "J. Hayes, I. Shumailov, C. A. Choquette-Choo, M. Jagielski, G. Kaissis, K. Lee, "
        "M. Nasr, S. Ghalebikesabi, N. Mireshghallah, M. S. M. S. Annamalai, I. Shilov, "
        "M. Meeus, Y.-A. de Montjoye, F. Boenisch, A. Dziedzic, A. F. Cooper",
        "Strong Membership Inference Attacks on Massive Datasets and (Moderately) Large "
        "Language Models", "arXiv", 2025, volume="2505.18773",
        url="https://arxiv.org/abs/2505.18773"),
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
