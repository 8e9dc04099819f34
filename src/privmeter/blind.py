"""The blind baseline: can the texts alone tell members from non-members?

Members and non-members collected after the fact (a model's training data against texts
published later, or from elsewhere) often differ in distribution: dates, topics, length,
formatting. A classifier that never sees the model then "detects membership" as well as the
attacks do, and an attack's AUC is no evidence of leakage (Das, Zhang & Tramèr 2024, "Blind
baselines beat membership inference attacks for foundation models"; Duan et al., COLM 2024;
Meeus et al., SaTML 2025). :func:`blind_baseline` measures that: a model-free text classifier,
cross-fitted so that every text is scored by a model fitted without it, whose AUC belongs
next to the attacks' in every text audit; :func:`blind_comparison` turns the two into a
verdict.

The classifier (numpy + scipy only, deterministic):

* features, computed per text (so no statistic crosses folds): hashed character 1- to
  4-grams of the lower-cased text and hashed word unigrams and bigrams, as ``log(1 + count)``,
  each block scaled to unit L2 norm, in ``2**hash_bits`` columns per block; plus length
  features (log characters, log words, the fraction of digits, of upper-case letters and of
  punctuation), standardised with the training folds' mean and standard deviation;
* L2-regularised logistic regression with class-balanced weights ``w_i``, minimising
  ``0.5 ||w||^2 + C sum_i w_i log(1 + exp(-y_i z_i))`` (scikit-learn's convention), fitted
  by L-BFGS (:func:`scipy.optimize.minimize`) on the sparse matrix; scikit-learn is not
  needed, and the result is the same wherever privmeter runs;
* stratified ``n_folds``-fold cross-fitting in which identical texts always share a fold, so
  no text is scored by a model that saw a copy of it.

Reference keys: ``das2024``, ``duan2024``, ``meeus2025`` (:mod:`privmeter.references`).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, sparse, stats
from scipy.special import expit

from privmeter import metrics
from privmeter._validation import as_membership, check_fraction, check_int, check_seed, is_real
from privmeter.result import AttackResult

if TYPE_CHECKING:
    from privmeter.datasets.text import TextDataset

__all__ = [
    "BLIND_MARGIN",
    "CROSS_FIT_VARIANCE_FACTOR",
    "BlindVerdict",
    "blind_baseline",
    "blind_comparison",
    "blind_features",
    "cross_fit_folds",
]

#: Factor on DeLong's variance of the pooled cross-fitted AUC (see :func:`blind_baseline`).
CROSS_FIT_VARIANCE_FACTOR = 2.0

#: How close (in AUC) the blind baseline may come to the best attack before the member and
#: non-member sets are declared not comparable.
BLIND_MARGIN = 0.05

_CHAR_NGRAMS = (1, 2, 3, 4)
_WORD = re.compile(r"\w+")
_PUNCT = re.compile(r"[^\w\s]")
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_P = np.uint64(0x100000001B3)  # FNV-style odd multiplier


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser (uint64 arithmetic wraps)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    out: NDArray[np.uint64] = h ^ (h >> np.uint64(31))
    return out


def _check_texts(texts: Any) -> list[str]:
    from privmeter.datasets.text import TextDataset

    if isinstance(texts, TextDataset):
        return texts.texts
    if isinstance(texts, (str, bytes)):
        raise ValueError("texts must be a sequence of strings, not one string")
    values = list(texts.tolist() if isinstance(texts, np.ndarray) else texts)
    for i, t in enumerate(values):
        if not isinstance(t, str):
            raise ValueError(f"texts must be str; row {i} is a {type(t).__name__}")
    return values


def _block(doc: NDArray[np.int64], col: NDArray[np.int64], n: int, width: int) -> sparse.csr_matrix:
    """log(1 + counts), rows scaled to unit L2 norm."""
    m = sparse.coo_matrix(
        (np.ones(doc.size, dtype=np.float64), (doc, col)), shape=(n, width)
    ).tocsr()
    m.sum_duplicates()
    m.data = np.log1p(m.data)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    out: sparse.csr_matrix = sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)
    return out


def _char_ngrams(texts: list[str], bits: int) -> sparse.csr_matrix:
    n = len(texts)
    lowered = [t.lower() for t in texts]
    lengths = np.array([len(t) for t in lowered], dtype=np.int64)
    joined = "\x00".join(lowered) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    is_sep = np.zeros(codes.size, dtype=bool)
    is_sep[np.cumsum(lengths + 1) - 1] = True
    doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths + 1)
    seps = np.concatenate([[0], np.cumsum(is_sep)])  # seps[i] = separators before position i
    docs: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    shift = np.uint64(64 - bits)
    with np.errstate(over="ignore"):
        for k in _CHAR_NGRAMS:
            m = codes.size - k + 1
            if m <= 0:
                continue
            start = np.arange(m)
            ok = seps[start + k] - seps[start] == 0  # no separator inside the window
            h = np.full(m, np.uint64(k) * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
            for j in range(k):
                h = h * _P + codes[j : j + m] + np.uint64(1)
            cols.append((_mix(h[ok]) >> shift).astype(np.int64))
            docs.append(doc_of[:m][ok])
    return _block(np.concatenate(docs), np.concatenate(cols), n, 1 << bits)


def _word_ngrams(texts: list[str], bits: int) -> sparse.csr_matrix:
    n = len(texts)
    docs: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    shift = np.uint64(64 - bits)
    with np.errstate(over="ignore"):
        for i, t in enumerate(texts):
            words = _WORD.findall(t.lower())
            if not words:
                continue
            h = np.array([zlib.crc32(w.encode("utf-8")) for w in words], dtype=np.uint64)
            uni = _mix(h ^ np.uint64(0xA5A5A5A5))
            bi = _mix(h[:-1] * _P + h[1:] + np.uint64(0x5BD1E995))
            allh = np.concatenate([uni, bi]) >> shift
            cols.append(allh.astype(np.int64))
            docs.append(np.full(allh.size, i, dtype=np.int64))
    if not docs:
        return sparse.csr_matrix((n, 1 << bits))
    return _block(np.concatenate(docs), np.concatenate(cols), n, 1 << bits)


def _length_features(texts: list[str]) -> NDArray[np.float64]:
    out = np.empty((len(texts), 5), dtype=np.float64)
    for i, t in enumerate(texts):
        n_chars = len(t)
        out[i, 0] = math.log1p(n_chars)
        out[i, 1] = math.log1p(len(_WORD.findall(t)))
        out[i, 2] = sum(c.isdigit() for c in t) / max(n_chars, 1)
        out[i, 3] = sum(c.isupper() for c in t) / max(n_chars, 1)
        out[i, 4] = len(_PUNCT.findall(t)) / max(n_chars, 1)
    return out


#: Names of the dense length features, in column order.
LENGTH_FEATURES = ("log_chars", "log_words", "digit_fraction", "upper_fraction",
                   "punct_fraction")


def blind_features(
    texts: Sequence[str] | TextDataset, *, hash_bits: int = 18
) -> tuple[sparse.csr_matrix, NDArray[np.float64]]:
    """The blind baseline's features: a sparse n-gram matrix and dense length features.

    Parameters
    ----------
    texts : sequence of str
    hash_bits : int
        Each n-gram block (characters, words) has ``2**hash_bits`` hashed columns.

    Returns
    -------
    ngrams : scipy.sparse.csr_matrix, shape (n, 2 * 2**hash_bits)
        Character 1-4-grams (lower-cased) then word 1-2-grams, ``log(1 + count)``, each
        block of unit L2 norm per text. The hashing is deterministic (no Python ``hash``).
    lengths : ndarray, shape (n, 5)
        :data:`LENGTH_FEATURES`, unstandardised.

    Examples
    --------
    >>> from privmeter.blind import blind_features
    >>> s, d = blind_features(["Card 1234 lost", "card 1234 lost"], hash_bits=12)
    >>> s.shape, d.shape, bool((s[0] != s[1]).nnz == 0)  # char n-grams are lower-cased
    ((2, 8192), (2, 5), True)
    """
    values = _check_texts(texts)
    bits = check_int("hash_bits", hash_bits, minimum=4, maximum=24)
    ngrams = sparse.hstack(
        [_char_ngrams(values, bits), _word_ngrams(values, bits)], format="csr"
    )
    return ngrams, _length_features(values)


def cross_fit_folds(
    texts: Sequence[str] | TextDataset, membership: ArrayLike, *, n_folds: int = 5, seed: int = 0
) -> NDArray[np.int64]:
    """Stratified fold of each text; identical texts always share a fold.

    Distinct texts are grouped; the groups of each class (members, non-members) are shuffled
    with ``seed`` and dealt to the folds in turn, so every fold gets about ``1/n_folds`` of
    each class and no text has a copy in another fold.

    Raises
    ------
    ValueError
        If a class has fewer than ``n_folds`` distinct texts.

    Examples
    --------
    >>> from privmeter.blind import cross_fit_folds
    >>> folds = cross_fit_folds(["a", "b", "a", "c", "d", "e"],
    ...                         [True, True, True, False, False, False], n_folds=2)
    >>> bool(folds[0] == folds[2]), sorted(set(folds.tolist()))
    (True, [0, 1])
    """
    values = _check_texts(texts)
    member = _check_membership(membership, len(values))
    k = check_int("n_folds", n_folds, minimum=2)
    seed = check_seed(seed)
    group_of: dict[str, int] = {}
    groups = np.empty(len(values), dtype=np.int64)
    first: list[int] = []
    for i, t in enumerate(values):
        g = group_of.setdefault(t, len(group_of))
        if g == len(first):
            first.append(i)
        groups[i] = g
    group_member = member[np.array(first, dtype=np.int64)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB11D]))
    fold_of_group = np.empty(len(first), dtype=np.int64)
    offset = 0
    for cls, what in ((True, "members"), (False, "non-members")):
        ids = np.flatnonzero(group_member == cls)
        if ids.size < k:
            raise ValueError(
                f"cross-fitting with n_folds={k} needs at least {k} distinct texts among the "
                f"{what}, got {ids.size}; lower n_folds or add texts"
            )
        ids = rng.permutation(ids)
        fold_of_group[ids] = (np.arange(ids.size) + offset) % k
        offset = (offset + ids.size) % k
    return fold_of_group[groups]


def _check_membership(membership: ArrayLike, n: int) -> NDArray[np.bool_]:
    arr = np.asarray(membership)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"membership must have shape ({n},) to match the texts, got {arr.shape}")
    member = as_membership("membership", arr)
    if member.all() or not member.any():
        which = "members" if member.all() else "non-members"
        raise ValueError(
            f"membership must hold both members and non-members; all {n} texts are {which}"
        )
    return member


def _fit_logistic(
    x: sparse.csr_matrix, y: NDArray[np.bool_], c: float
) -> tuple[NDArray[np.float64], float, int]:
    """Weights, intercept and iterations of L2 logistic regression with balanced classes.

    Minimises ``c * sum_i weight_i * log(1 + exp(-s_i (x_i . w + b))) + |w|^2 / 2``. The
    minimiser lies in the span of the rows (representer theorem), ``w = X^T alpha``, so the
    fit runs over the ``n`` coefficients ``alpha`` with the Gram matrix ``K = X X^T``: the
    same solution as over the hashed feature space, at a cost that does not grow with it.
    """
    n, _ = x.shape
    sign = np.where(y, 1.0, -1.0)
    n_pos = float(y.sum())
    weight = np.where(y, n / (2.0 * n_pos), n / (2.0 * (n - n_pos)))
    gram = np.asarray((x @ x.T).toarray(), dtype=np.float64)

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        alpha, b = theta[:n], theta[n]
        k_alpha = gram @ alpha
        margin = sign * (k_alpha + b)
        loss = float(np.sum(weight * np.logaddexp(0.0, -margin)))
        g_z = -sign * weight * expit(-margin)
        grad = np.empty(n + 1)
        grad[:n] = gram @ (c * g_z + alpha)
        grad[n] = c * float(g_z.sum())
        return c * loss + 0.5 * float(alpha @ k_alpha), grad

    res = optimize.minimize(
        objective, np.zeros(n + 1), jac=True, method="L-BFGS-B",
        options={"maxiter": 500, "gtol": 1e-6},
    )
    theta = np.asarray(res.x, dtype=np.float64)
    w = np.asarray(x.T @ theta[:n], dtype=np.float64).ravel()
    return w, float(theta[n]), int(res.nit)


def blind_baseline(
    texts: Sequence[str] | TextDataset,
    membership: ArrayLike,
    *,
    n_folds: int = 5,
    seed: int = 0,
    confidence: float = 0.95,
    delta: float = 0.0,
    C: float = 1.0,
    hash_bits: int = 18,
) -> AttackResult:
    """A cross-fitted text-only membership classifier (the blind baseline; Das et al. 2024).

    Parameters
    ----------
    texts : sequence of str or TextDataset
        The audit texts (members and non-members).
    membership : array_like of bool, shape (n,)
        True for the members.
    n_folds : int
        Cross-fitting folds (at least 2; each class needs that many distinct texts).
    seed : int
        Seed of the fold assignment (the fit itself is deterministic).
    confidence, delta : float
        Passed to :meth:`privmeter.result.AttackResult.from_scores` (intervals, epsilon).
    C : float
        Inverse L2 regularisation strength (scikit-learn's convention). Default 1.
    hash_bits : int
        ``2**hash_bits`` hashed columns per n-gram block. Default 18.

    Returns
    -------
    AttackResult
        Attack ``"blind_baseline"``, scores = the held-out decision values (higher = more
        member-like), so it has the ROC, AUC with its DeLong interval, TPR at low FPR, etc.
        ``extras`` holds ``method`` (a description), ``n_folds``, ``features``, ``fold_auc``
        (the AUC within each fold), ``fold_sizes``, ``n_distinct_texts`` and
        ``references``.

    Raises
    ------
    ValueError
        If ``membership`` is not boolean (or 0/1) of one entry per text, holds a single
        class, or a class has fewer than ``n_folds`` distinct texts; a text is not a str.

    Notes
    -----
    The scores of different folds come from different models; their pooled AUC is the usual
    cross-fitted estimate. The result's ``auc_ci`` is DeLong's, which treats the scores as
    independent; cross-fitting makes them dependent (fold ``f`` is scored by a model trained
    on fold ``g`` and ``g`` by one trained on ``f``), and under the null the pooled AUC varies
    about twice as much (measured on i.i.d. splits of 100 + 100 synthetic records: standard
    deviation 0.058-0.064 against DeLong's 0.041, so the 95% DeLong interval covers 0.5 in
    only about 80% of splits). ``extras["auc_ci_cross_fit"]`` is the DeLong interval with
    the variance multiplied by :data:`CROSS_FIT_VARIANCE_FACTOR` (2); :func:`blind_comparison`
    uses it.

    Examples
    --------
    >>> from privmeter.blind import blind_baseline
    >>> from privmeter.datasets import synthetic_records
    >>> bank = synthetic_records(60, seed=0, kinds=("bank",)).texts
    >>> notes = synthetic_records(60, seed=1, kinds=("clinical",)).texts
    >>> res = blind_baseline(bank + notes, [True] * 60 + [False] * 60, hash_bits=14)
    >>> res.attack, res.auc > 0.95, len(res.extras["fold_auc"])
    ('blind_baseline', True, 5)
    """
    values = _check_texts(texts)
    member = _check_membership(membership, len(values))
    confidence = check_fraction("confidence", confidence)
    delta = check_fraction("delta", delta, open_low=False)
    if not is_real(C) or not math.isfinite(float(C)) or float(C) <= 0:
        raise ValueError(f"C must be a positive number, got {C!r}")
    c = float(C)
    folds = cross_fit_folds(values, member, n_folds=n_folds, seed=seed)
    k = int(n_folds)
    ngrams, dense = blind_features(values, hash_bits=hash_bits)
    scores = np.empty(len(values), dtype=np.float64)
    fold_auc: list[float | None] = []
    iterations: list[int] = []
    for f in range(k):
        test = folds == f
        train = ~test
        mu = dense[train].mean(axis=0)
        sd = dense[train].std(axis=0)
        sd[sd == 0] = 1.0
        z = sparse.csr_matrix((dense - mu) / sd)
        x = sparse.hstack([ngrams, z], format="csr")
        x_train = x[train]
        # only the columns the training folds use: the others would keep weight 0 anyway
        used = np.unique(x_train.indices)
        w, b, nit = _fit_logistic(x_train[:, used], member[train], c)
        scores[test] = x[test][:, used] @ w + b
        iterations.append(nit)
        yt = member[test]
        fold_auc.append(metrics.auc(scores[test], yt) if 0 < yt.sum() < yt.size else None)
    # Under the null, the pooled cross-fitted AUC varies about twice as much as DeLong's
    # i.i.d. variance says: fold f is scored by a model trained on fold g and g by one
    # trained on f, so each pair of folds is compared twice and the fold AUCs are positively
    # correlated (measured: null sd 0.058-0.064 against DeLong's 0.041 for 100 + 100
    # texts). The interval the verdict uses doubles the variance.
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    wide = float(2.0 * stats.norm.cdf(math.sqrt(CROSS_FIT_VARIANCE_FACTOR) * z) - 1.0)
    _, ci_cross_fit = metrics.auc_delong_ci(scores, member, confidence=min(wide, 1.0 - 1e-12))
    extras = {
        "auc_ci_cross_fit": list(ci_cross_fit),
        "cross_fit_variance_factor": CROSS_FIT_VARIANCE_FACTOR,
        "method": (
            "model-free text classifier (blind baseline): L2 logistic regression on hashed "
            "character 1-4-grams, word 1-2-grams and length features, cross-fitted over "
            f"{k} stratified folds (identical texts share a fold); it never queries the model"
        ),
        "n_folds": k,
        "features": {
            "char_ngrams": list(_CHAR_NGRAMS),
            "word_ngrams": [1, 2],
            "weighting": "log(1 + count), unit L2 norm per block",
            "hash_bits": int(hash_bits),
            "length_features": list(LENGTH_FEATURES),
        },
        "classifier": {"model": "logistic regression", "penalty": "l2", "C": c,
                       "class_weight": "balanced", "solver": "scipy L-BFGS-B",
                       "iterations": iterations},
        "fold_auc": fold_auc,
        "fold_sizes": np.bincount(folds, minlength=k).tolist(),
        "n_distinct_texts": len(set(values)),
        "references": ["das2024", "duan2024", "meeus2025"],
    }
    return AttackResult.from_scores(
        "blind_baseline", scores, member,
        params={"n_folds": k, "seed": int(seed), "C": c, "hash_bits": int(hash_bits)},
        seed=int(seed), confidence=confidence, delta=delta, extras=extras,
    )


@dataclass(frozen=True)
class BlindVerdict:
    """Whether the member and non-member sets are comparable, judged by the blind baseline.

    Attributes
    ----------
    comparable : bool
        ``False`` when the blind baseline detects a distribution shift (its AUC's lower
        confidence bound exceeds 0.5) and comes close to or above the best attack (its AUC
        is at least the best attack's minus :data:`BLIND_MARGIN`): the attack's AUC is then
        no evidence of leakage.
    reason : str
        One or two sentences with the numbers.
    shift_detected : bool
        Whether the blind AUC's lower bound exceeds 0.5 (even when the attack is well above).
    blind_auc : float
    blind_auc_ci : tuple of float
    best_attack_auc : float
    best_attack_auc_lo : float or None
    margin : float
    """

    comparable: bool
    reason: str
    shift_detected: bool
    blind_auc: float
    blind_auc_ci: tuple[float, float]
    best_attack_auc: float
    best_attack_auc_lo: float | None
    margin: float = BLIND_MARGIN

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "comparable": self.comparable, "reason": self.reason,
            "shift_detected": self.shift_detected, "blind_auc": self.blind_auc,
            "blind_auc_ci": list(self.blind_auc_ci), "best_attack_auc": self.best_attack_auc,
            "best_attack_auc_lo": self.best_attack_auc_lo, "margin": self.margin,
        }


def _auc_value(name: str, value: Any) -> float:
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be an AUC in [0, 1], got {value!r}")
    return float(value)


def blind_comparison(
    blind: AttackResult, best_attack_auc: float, best_attack_auc_lo: float | None = None
) -> BlindVerdict:
    """The verdict: are the members and non-members comparable enough to trust the attack?

    Rule: the sets are **not comparable** when the blind baseline's AUC lower confidence
    bound (the cross-fitting interval ``extras["auc_ci_cross_fit"]``, else ``auc_ci``)
    exceeds 0.5 (the texts alone separate the sets) **and** its AUC is at least the
    best attack's AUC minus :data:`BLIND_MARGIN` (0.05): the attack does not do clearly
    better than a classifier that never saw the model (Das et al. 2024; Meeus et al. 2025).
    Otherwise they are comparable; a detected shift with the attack clearly above the blind
    baseline is reported in the reason (part of the attack's AUC may still be the shift).

    Parameters
    ----------
    blind : AttackResult
        From :func:`blind_baseline`.
    best_attack_auc : float
        The highest AUC among the attacks on the same texts.
    best_attack_auc_lo : float, optional
        Its lower confidence bound, quoted in the reason.

    Examples
    --------
    >>> from privmeter.blind import blind_baseline, blind_comparison
    >>> from privmeter.datasets import synthetic_records
    >>> bank = synthetic_records(40, seed=0, kinds=("bank",)).texts
    >>> notes = synthetic_records(40, seed=1, kinds=("clinical",)).texts
    >>> blind = blind_baseline(bank + notes, [True] * 40 + [False] * 40, hash_bits=14)
    >>> verdict = blind_comparison(blind, best_attack_auc=0.8)
    >>> verdict.comparable, verdict.shift_detected
    (False, True)
    """
    if not isinstance(blind, AttackResult):
        raise ValueError(f"blind must be the AttackResult of blind_baseline, got {blind!r}")
    best = _auc_value("best_attack_auc", best_attack_auc)
    lo = None if best_attack_auc_lo is None else _auc_value(
        "best_attack_auc_lo", best_attack_auc_lo
    )
    b_auc = float(blind.auc)
    ci = blind.extras.get("auc_ci_cross_fit", blind.auc_ci)
    b_lo, b_hi = (float(v) for v in ci)
    pct = f"{round(100 * blind.confidence)}%"
    attack_txt = f"the best attack's AUC {best:.3f}" + (
        f" (lower bound {lo:.3f})" if lo is not None else ""
    )
    blind_txt = f"the blind baseline's AUC {b_auc:.3f} ({pct} CI {b_lo:.3f}-{b_hi:.3f})"
    shift = b_lo > 0.5
    close = b_auc >= best - BLIND_MARGIN
    if shift and close:
        where = "above" if b_auc > best else f"within {BLIND_MARGIN} of"
        reason = (
            f"Not comparable: {blind_txt} shows that the texts alone separate members from "
            f"non-members, and it is {where} {attack_txt}. The attack's AUC is no evidence "
            "of leakage: the member and non-member sets differ in distribution (dates, "
            "topics, length...)."
        )
    elif shift:
        reason = (
            f"Comparable, with a caveat: {blind_txt} detects a distribution shift between "
            f"the sets, but {attack_txt} is {best - b_auc:.3f} above it; part of the attack's "
            "AUC may still come from the shift."
        )
    else:
        reason = (
            f"Comparable: {blind_txt} does not exceed chance, so the texts alone do not "
            f"separate the sets; {attack_txt} reflects the model."
        )
    return BlindVerdict(
        comparable=not (shift and close), reason=reason, shift_detected=shift,
        blind_auc=b_auc, blind_auc_ci=(b_lo, b_hi), best_attack_auc=best,
        best_attack_auc_lo=lo,
    )
