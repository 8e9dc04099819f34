"""Secret-sharer canaries: formats, insertion, and the exposure estimators (Carlini et al. 2019)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from privmeter.canaries import (
    Canary,
    CanaryFormat,
    ExposureResult,
    exposure,
    exposures,
    insert_canaries,
    make_canaries,
)
from privmeter.datasets import TextDataset

# ---------------------------------------------------------------------------------- formats


def test_format_parsing_and_space() -> None:
    fmt = CanaryFormat("my account number is {d}{d}{d}{d}{d}{d}")
    assert fmt.space_size == 10**6 and fmt.slots == ("d",) * 6
    assert fmt.fill("281265") == "my account number is 281265"
    mixed = CanaryFormat("{{user}} {a}{a}-{d}}}")
    assert mixed.space_size == 26 * 26 * 10
    assert mixed.fill("qz7") == "{user} qz-7}"
    assert CanaryFormat("{d}" * 20).space_size == 10**20  # exact beyond int64
    for i in (0, 1, 259, 4321, 6759):
        assert mixed.index_of(mixed.secret_at(i)) == i
    secrets = list(CanaryFormat("{a}{d}"))
    assert len(secrets) == 260 == len(set(secrets)) and secrets[:2] == ["a0", "a1"]
    assert CanaryFormat("x{d}") == CanaryFormat("x{d}") != CanaryFormat("y{d}")
    assert repr(fmt).endswith("space_size=1000000)")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("pin {x}{d}", r"unknown slot '\{x\}' at position 4"),
        ("pin {D}", r"unknown slot '\{D\}'"),
        ("pin {d", r"unmatched '\{' at position 4"),
        ("pin d}", r"unmatched '\}' at position 5"),
        ("no slot {{d}}", r"has no random slot"),
        ("", r"has no random slot"),
    ],
)
def test_bad_formats(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CanaryFormat(template)


def test_bad_secrets_and_enumeration() -> None:
    fmt = CanaryFormat("{d}{a}")
    with pytest.raises(ValueError, match="string of 2 characters"):
        fmt.fill("1")
    with pytest.raises(ValueError, match="character 1 of the secret '12' must be a lowercase"):
        fmt.fill("12")
    with pytest.raises(ValueError, match=r"index must be an integer in \[0, 260\)"):
        fmt.secret_at(260)
    with pytest.raises(ValueError, match="more than limit=100"):
        fmt.enumerate(limit=100)
    with pytest.raises(ValueError, match="cannot draw 260 distinct secrets"):
        fmt.sample(260, 0, exclude=["1a"])


def test_sample_is_uniform_distinct_and_seeded() -> None:
    fmt = CanaryFormat("{d}{d}{d}")
    s = fmt.sample(500, np.random.default_rng(3))
    assert len(set(s)) == 500 and s == fmt.sample(500, 3)
    dense = fmt.sample(999, 1, exclude=["000"])  # dense path: a permutation
    assert len(set(dense)) == 999 and "000" not in dense
    big = CanaryFormat("{d}" * 12).sample(2000, 0)  # sparse path
    assert len(set(big)) == 2000
    first = Counter(x[0] for x in big)
    assert stats.chisquare(list(first.values())).pvalue > 1e-3


def test_make_canaries() -> None:
    cs = make_canaries("acct {d}{d}{d}{d}{d}", repetitions=(0, 1, 2, 8), per_repetition=3, seed=5)
    assert [c.repetitions for c in cs] == [0] * 3 + [1] * 3 + [2] * 3 + [8] * 3
    assert len({c.secret for c in cs}) == 12
    assert all(c.text == f"acct {c.secret}" and c.template == "acct {d}{d}{d}{d}{d}" for c in cs)
    assert cs == make_canaries("acct {d}{d}{d}{d}{d}", repetitions=(0, 1, 2, 8),
                               per_repetition=3, seed=5)
    assert cs[0].to_dict()["repetitions"] == 0
    with pytest.raises(ValueError, match="repetitions must be a non-negative integer"):
        make_canaries("{d}{d}", repetitions=(1, -1))
    with pytest.raises(ValueError, match="cannot draw 12 distinct secrets"):
        make_canaries("{d}", repetitions=(1, 2, 3, 4), per_repetition=3)
    with pytest.raises(ValueError, match="per_repetition must be a positive integer"):
        make_canaries("{d}{d}", per_repetition=0)


def test_insert_canaries() -> None:
    texts = [f"record number {i}" for i in range(50)]
    cs = make_canaries("my pin is {d}{d}{d}{d}", repetitions=(0, 1, 3, 7), per_repetition=2)
    out, rows = insert_canaries(texts, cs, seed=1)
    assert len(out) == 50 + 2 * (0 + 1 + 3 + 7) and rows.dtype == np.int64
    assert [t for t in out if not t.startswith("my pin")] == texts  # order kept
    counts = Counter(out)
    offset = 0
    for c in cs:
        assert counts.get(c.text, 0) == c.repetitions
        mine = rows[offset : offset + c.repetitions]
        assert all(out[r] == c.text for r in mine) and np.all(np.diff(mine) > 0)
        offset += c.repetitions
    assert offset == rows.size and len(set(rows.tolist())) == rows.size
    again, rows2 = insert_canaries(texts, cs, seed=1)
    assert again == out and np.array_equal(rows, rows2)
    other, _ = insert_canaries(texts, cs, seed=2)
    assert other != out
    # positions are spread over the data, not appended
    assert rows.min() < 20 and rows.max() > 45


def test_insert_canaries_into_text_dataset() -> None:
    ds = TextDataset([f"note {i}" for i in range(10)], ids=[f"n{i}" for i in range(10)],
                     name="notes")
    cs = make_canaries("code {a}{a}{a}", repetitions=(2,), per_repetition=1)
    out, rows = insert_canaries(ds, cs, seed=0)
    assert isinstance(out, TextDataset) and len(out) == 12 and out.name == "notes"
    assert sorted(out.ids[r] for r in rows) == ["canary-0-1", "canary-0-2"]
    assert [i for i in out.ids if i.startswith("n")] == list(ds.ids)
    with pytest.raises(ValueError, match="already among the texts"):
        insert_canaries(["x", cs[0].text], cs)
    dup = (cs[0], Canary(cs[0].text, cs[0].secret, 1))
    with pytest.raises(ValueError, match="repeats an earlier canary"):
        insert_canaries(["x"], dup)
    with pytest.raises(ValueError, match="must be a Canary"):
        insert_canaries(["x"], ["plain text"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="language-model dataset"):
        insert_canaries(TextDataset(["a"], labels=[0]), cs)


# ---------------------------------------------------------------------------------- exposure


def test_exposure_known_answers_exact_rank() -> None:
    size = 1024
    others = np.arange(1, size, dtype=float)  # 1023 other candidates, NLL 1..1023
    best = exposure(0.0, others, space_size=size)
    assert best.method == "rank" and best.rank == 1 and best.exposure == pytest.approx(10.0)
    worst = exposure(5000.0, others, space_size=size)
    assert worst.rank == size and worst.exposure == pytest.approx(0.0)
    median = exposure(511.5, others, space_size=size)
    assert median.rank == 512 and median.exposure == pytest.approx(1.0)
    tie = exposure(3.0, others, space_size=size)  # tied with one candidate: half a rank
    assert tie.rank == pytest.approx(3.5)
    assert best.log2_space == 10.0 and best.n_candidates == 1023 and best.n_excluded == 0
    assert best.sampled_exposure == pytest.approx(10.0) and best.at_sampling_limit
    assert isinstance(best, ExposureResult) and best.to_dict()["method"] == "rank"


def test_exposure_excludes_the_canary_among_candidates() -> None:
    fmt = CanaryFormat("{d}{d}")
    texts = [fmt.fill(s) for s in fmt.enumerate()]  # all 100, the canary included
    nll = np.linspace(10.0, 20.0, 100)
    canary = texts[0]
    message = "needs the NLL of every other candidate.*pass canary_texts"
    with pytest.raises(ValueError, match=message):
        exposure(nll[0], nll, space_size=100, method="rank")
    res = exposure(nll[0], nll, space_size=100, canary_text=canary, candidate_texts=texts)
    assert res.method == "rank" and res.n_excluded == 1 and res.n_candidates == 99
    assert res.exposure == pytest.approx(math.log2(100))
    with pytest.raises(ValueError, match="together"):
        exposure(nll[0], nll, space_size=100, canary_text=canary)
    with pytest.raises(ValueError, match="got 3 candidate_texts for 100"):
        exposure(nll[0], nll, space_size=100, canary_text=canary, candidate_texts=texts[:3])


def test_extrapolation_agrees_with_exact_rank_on_an_enumerable_space() -> None:
    # every secret of a 10^5 space gets a skew-normal log-perplexity (the paper's model);
    # the exact rank over all of R is compared with the fit to 2,000 sampled candidates
    fmt = CanaryFormat("{d}{d}{d}{d}{d}")
    for a, seed in ((4.0, 1), (-3.0, 2), (0.0, 3)):
        rng = np.random.default_rng(seed)
        nll = stats.skewnorm.rvs(a, loc=60.0, scale=8.0, size=fmt.space_size, random_state=rng)
        order = np.sort(nll)
        sample = nll[rng.choice(fmt.space_size, 2000, replace=False)]
        ranks = [50, 200, 1000, 5000, 30000, 90000]
        canaries = order[np.array(ranks) - 1]
        exact = [exposure(c, nll[nll != c], space_size=fmt.space_size) for c in canaries]
        fitted = exposures(canaries, sample, space_size=fmt.space_size, method="extrapolate")
        for r, e, f in zip(ranks, exact, fitted, strict=True):
            assert e.method == "rank" and f.method == "extrapolate"
            assert e.exposure == pytest.approx(math.log2(fmt.space_size / r), abs=1e-9)
            tolerance = 0.5 if r >= 1000 else 1.25
            assert abs(f.exposure - e.exposure) < tolerance, (a, r, e.exposure, f.exposure)
            assert f.fit_ks is not None and f.fit_ks < 0.05
            assert f.skewnorm is not None and f.n_candidates == 2000


def test_extrapolation_is_unit_free_and_monotone() -> None:
    rng = np.random.default_rng(0)
    cands = stats.skewnorm.rvs(2.0, loc=80.0, scale=10.0, size=3000, random_state=rng)
    canary = np.linspace(40.0, 140.0, 21)
    nats = exposures(canary, cands, space_size=10**12)
    bits = exposures(canary / math.log(2), cands / math.log(2), space_size=10**12)
    for a, b in zip(nats, bits, strict=True):
        assert a.exposure == pytest.approx(b.exposure, abs=0.02)
    values = [r.exposure for r in nats]
    assert np.all(np.diff(values) <= 0)  # lower NLL: higher exposure
    assert values[0] > 10 and values[-1] < 0.01
    sampled = [r.sampled_exposure for r in nats]
    assert np.all(np.diff(sampled) <= 0)
    assert nats[0].sampled_exposure_limit == pytest.approx(math.log2(3001))
    assert nats[0].at_sampling_limit and not nats[-1].at_sampling_limit
    # far beyond every candidate: clipped to log2 |R|
    far = exposure(-1e6, cands, space_size=1000)
    assert far.exposure == pytest.approx(math.log2(1000)) and far.clipped
    # exact ranks are monotone too
    others = np.arange(1.0, 100.0)
    exact = [exposure(c, others, space_size=100).exposure for c in np.linspace(0, 101, 30)]
    assert np.all(np.diff(exact) <= 0)


def test_exposure_grows_with_memorisation() -> None:
    # a canary with NLL lowered by k nats per repetition: exposure rises with repetitions
    rng = np.random.default_rng(4)
    cands = rng.normal(100.0, 6.0, size=4000)
    res = exposures([100.0 - 4.0 * r for r in (0, 1, 2, 4, 8)], cands, space_size=10**9)
    values = [r.exposure for r in res]
    assert values == sorted(values) and values[0] < 2.0 < values[2] and values[-1] > 15


def test_exposure_bad_input() -> None:
    cands = np.random.default_rng(0).normal(size=500)
    with pytest.raises(ValueError, match="needs at least 100 sampled candidates, got 50"):
        exposure(0.0, cands[:50], space_size=10**6)
    with pytest.raises(ValueError, match="needs at least 1000 sampled candidates, got 500"):
        exposure(0.0, cands, space_size=10**6, min_candidates=1000)
    with pytest.raises(ValueError, match="space_size must be an integer >= 2"):
        exposure(0.0, cands, space_size=1)
    with pytest.raises(ValueError, match="space_size must be an integer >= 2"):
        exposure(0.0, cands, space_size=1e6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="candidate_nll must be finite; 1 values"):
        exposure(0.0, np.r_[cands, np.nan], space_size=10**6)
    with pytest.raises(ValueError, match="canary_nll must be one number"):
        exposure([0.0, 1.0], cands, space_size=10**6)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="canary_nll must be finite"):
        exposure(math.inf, cands, space_size=10**6)
    with pytest.raises(ValueError, match="method must be"):
        exposure(0.0, cands, space_size=10**6, method="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every other candidate of R: 9 of them, got 500"):
        exposure(0.0, cands, space_size=10, method="rank")
    with pytest.raises(ValueError, match="same log-perplexity"):
        exposure(0.0, np.ones(200), space_size=10**6)
    with pytest.raises(ValueError, match="must be numbers"):
        exposure(0.0, ["a"] * 200, space_size=10**6)
