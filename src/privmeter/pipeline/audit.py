"""The audit orchestrator: plan the game, build the signal table, attack, report.

The three games of Ye et al. (2022), "Enhanced Membership Inference Attacks against Machine
Learning Models", ACM CCS:

- ``"model"``: privacy loss of one trained model (a fixed target and its training set);
- ``"algorithm"``: average privacy loss of a training algorithm (models on random halves,
  each the target in turn, results pooled);
- ``"record"``: privacy loss of individual records (models trained with and without each
  record; the rest of the training set random (uniform) or fixed (leave-one-out)).

The flow: :mod:`privmeter.pipeline.games` plans who trains on what (pure index maths),
:mod:`privmeter.pipeline.build` trains and queries the models (:meth:`Audit.build_table`),
:mod:`privmeter.pipeline.card` describes the threat model; the attacks that follow are pure
functions of the resulting :class:`~privmeter.SignalTable`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from privmeter._validation import check_fraction, check_int
from privmeter.attacks import ScoredAttack, attack_info, run_attack, score_attack
from privmeter.pipeline import build as _build
from privmeter.pipeline import card as _cards
from privmeter.pipeline.build import as_model_access
from privmeter.pipeline.data import as_data
from privmeter.pipeline.games import GAMES, GamePlan, check_seed, plan_game, split_seeds
from privmeter.result import AttackResult
from privmeter.table import SignalTable

__all__ = [
    "DEFAULT_ATTACKS",
    "GAMES",
    "LM_DEFAULT_ATTACKS",
    "REGRESSION_DEFAULT_ATTACKS",
    "Audit",
    "BuiltTable",
    "as_model_access",
    "default_attacks",
    "default_signal",
]

DEFAULT_ATTACKS: tuple[str, ...] = ("loss", "population", "reference", "lira", "rmia", "auto")
#: Defaults for regression: RMIA's Pr(x | theta) is the probability of the true class
#: (Zarifzadeh et al. 2024), which a regressor does not give; ask for it by name to see why.
REGRESSION_DEFAULT_ATTACKS: tuple[str, ...] = (
    "loss", "population", "reference", "lira", "auto",
)
#: Defaults for causal language models: the reference-free sequence attacks (each on its own
#: signal, all from one forward pass per model) and the reference-model attacks on the
#: sequence loss. ``pretrained_reference`` joins them when a base model is given.
LM_DEFAULT_ATTACKS: tuple[str, ...] = (
    "loss", "population", "zlib", "lowercase", "min_k", "min_k_plus_plus", "reference",
    "lira", "rmia", "auto",
)


def default_attacks(task: str) -> tuple[str, ...]:
    """The attacks an audit runs when none are named: every default attack that the task
    supports (:data:`DEFAULT_ATTACKS`, :data:`REGRESSION_DEFAULT_ATTACKS` for regression,
    :data:`LM_DEFAULT_ATTACKS` for language models).

    Examples
    --------
    >>> default_attacks("regression")
    ('loss', 'population', 'reference', 'lira', 'auto')
    """
    if task == "language_model":
        return LM_DEFAULT_ATTACKS
    return DEFAULT_ATTACKS if task == "classification" else REGRESSION_DEFAULT_ATTACKS


def default_signal(task: str) -> str:
    """The membership signal of an audit that names none: the logit margin for classifiers,
    the squared error for regressors, the mean token loss for language models."""
    return {"classification": "logit_margin", "regression": "squared_error",
            "language_model": "lm_loss"}.get(task, "logit_margin")


#: Attacks that need no reference model (the language-model ones threshold a signal).
_NO_REFERENCE = ("loss", "population", "zlib", "lowercase", "min_k", "min_k_plus_plus",
                 "pretrained_reference")


def _normalise_attacks(
    attacks: Sequence[str | tuple[str, Mapping[str, Any]]] | Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, attack name, params)`` triples; labels are unique (``rmia``, ``rmia#2``...)."""
    items: list[tuple[str, dict[str, Any]]] = []
    if isinstance(attacks, Mapping):
        items = [(str(k), dict(v or {})) for k, v in attacks.items()]
    else:
        for a in attacks:
            if isinstance(a, str):
                items.append((a, {}))
            elif isinstance(a, tuple) and len(a) == 2:
                items.append((str(a[0]), dict(a[1] or {})))
            else:
                raise ValueError(
                    f"each attack must be a name or a (name, params) pair, got {a!r}"
                )
    out: list[tuple[str, str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for name, params in items:
        attack_info(name)  # unknown names fail here, listing the known ones
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}#{seen[name]}"
        out.append((label, name, params))
    if not out:
        raise ValueError("no attack to run: give at least one attack name")
    return out


@dataclass(frozen=True)
class BuiltTable:
    """The expensive half of an audit: the signal table and what produced it.

    ``card`` is a :class:`~privmeter.pipeline.card.ThreatModelCard` (a read-only mapping)
    when built by :meth:`Audit.build_table`; nothing changes it afterwards.
    """

    table: SignalTable
    targets: tuple[int, ...]
    card: Mapping[str, Any]
    timings: Mapping[str, float]
    audit_rows: NDArray[np.int64]
    #: the tables of the other signals that attacks name (``AttackSpec.signal``), by name
    tables: Mapping[str, SignalTable] = dataclasses.field(default_factory=dict)
    #: what the report shows besides the attacks (canary exposures, per-token details)
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def table_for(self, signal: str | None) -> SignalTable:
        """The table of ``signal`` (the audit's own table for ``None``)."""
        if signal is None or signal == self.table.metadata.get("signal"):
            return self.table
        if signal not in self.tables:
            raise ValueError(
                f"no {signal!r} signal in this audit's tables (built: "
                f"{', '.join([str(self.table.metadata.get('signal')), *self.tables])})"
            )
        return self.tables[signal]


@dataclass
class Audit:
    """One membership inference audit, end to end.

    Parameters
    ----------
    dataset : Dataset or (x, y)
        All the data the game may use (a :class:`privmeter.datasets.Dataset` or arrays).
    trainer : TorchTrainer or SklearnTrainer, optional
        How the target (when not given) and the reference models are trained: the attacker's
        knowledge of the training algorithm. Without it only ``loss`` and ``population`` run.
    game : {"model", "algorithm", "record"}
        The inference game (Ye et al. 2022), see the module docstring.
    attacks : sequence of names or (name, params), or mapping name -> params, or None
        None (default): :func:`default_attacks` of the task: loss, population, reference,
        lira, rmia, auto for classification; the same without rmia for regression;
        :data:`LM_DEFAULT_ATTACKS` (with pretrained_reference when ``reference_lm`` is
        given) for language models. A default attack that cannot run (no reference models,
        a target without the access its signal needs) is listed as not run.
    n_references : int
        Reference models per target (``"model"`` game); in the other games
        ``n_references + 1`` models are trained (rounded up to an even number) and each is the
        target in turn with the others as references.
    online : bool
        ``"model"`` game: reference models train on random halves of the audit points (online,
        the strongest attacker) or only on population data (offline).
    signal : str or Signal or None
        The membership signal; see :func:`privmeter.signals.list_signals`. None (default):
        :func:`default_signal` (the logit margin for classification, the squared error for
        regression, the mean token loss ``lm_loss`` for language models). Attacks that name
        their own signal (``zlib``, ``min_k``, ...) run on that signal, computed in the same
        pass over each model.
    augmentations : Augmentation, optional
        Augmented copies of each point (e.g. ``FlipShift`` for images): the model is queried
        once per augmentation, so the table's ``n_queries`` is the number of augmentations
        (``values[m, i, q]``: model ``m`` on augmentation ``q`` of point ``i``; 1 without).
    population_fraction : float or None
        Share of the data kept as population points: never trained on by the target, used by
        ``population`` and ``rmia`` (and by offline reference models). None (default): 0.3,
        or 0.6 for the offline ``"model"`` game, whose reference models train on population
        points only and need twice the target's training-set size of them, plus population
        points that no reference trained on, on which RMIA's ``a`` is tuned.
    target_model, target_indices :
        ``"model"`` game with your own trained model: the model (torch module, fitted
        scikit-learn estimator or adapter) and the row indices of its training set in
        ``dataset``. Without them a target is trained on half of the audit points.
    records : int or array of int
        ``"record"`` game: how many records to audit (random) or their row indices.
    leave_one_out : bool
        ``"record"`` game: keep the rest of the training set fixed across models (LOO) instead
        of drawing it at random for each model (uniform).
    seed : int
        Seeds every split, model and attack (children spawned with ``numpy.random.SeedSequence``);
        also passed as RMIA's ``seed`` (its ``a="auto"`` tuning) unless the attack's params set
        one.
    vectorized : bool
        Train PyTorch models with the vectorized ensemble trainer.
    store : Store or path, optional
        Content-addressed cache of trained models and signals (resumable runs).
    executor : Executor, optional
        Where training jobs run (in-process by default, local processes, or Ray).
    progress : bool
        Progress bars on training and querying.
    confidence, delta :
        Confidence level of every interval; delta of the epsilon lower bound.
    reference_lm : LanguageModelAccess, optional
        Language models: a different pretrained model (e.g. the base model before
        fine-tuning) for the ``pretrained_reference`` attack (Carlini et al. 2021), which
        then joins the default attacks.
    canaries : CanarySpec, optional
        Language models, ``"model"`` game with a target trained here: secret-sharer canaries
        (Carlini et al. 2019) inserted into the target's training texts (never the
        references'); the report shows each canary's exposure against its repetition count.
    blind_baseline : bool or None
        Text data: run the model-free blind baseline (Das et al. 2024) on the audit texts and
        say in the verdict when the member and non-member texts are not comparable. None
        (default): on for text data.
    dp_canaries, dp_canary, dp_runs :
        ``game="dp"``: audit the DP claim of the trainer (a ``TorchTrainer`` with
        ``dp=DPConfig(...)``) with ``dp_canaries`` canaries (``"mislabel"``, ``"ood"`` or
        ``"gradient"``) per training run, each included with probability 1/2, over
        ``dp_runs`` runs (:func:`privmeter.dp_game.dp_audit_game`: Steinke et al. 2023 for one
        run; Clopper-Pearson and Gaussian DP, Nasr et al. 2023, for several).
    reference_models : sequence of (model, training indices), optional
        ``"model"`` game: reference models trained elsewhere (any supported format, see
        :func:`privmeter.models.loading.load_model`), each with the row indices of its
        training set in ``dataset``, used instead of training references (bring your own
        references). Their number replaces ``n_references``; a trainer is then needed only
        when the target is not given.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from privmeter.training import SklearnTrainer
    >>> x, y = load_breast_cancer(return_X_y=True)
    >>> x = (x - x.mean(0)) / x.std(0)
    >>> audit = Audit((x, y), SklearnTrainer(LogisticRegression(max_iter=500)),
    ...               attacks=["loss", "lira"], n_references=4, progress=False)
    >>> report = audit.run()
    >>> [r.attack for r in report.results]
    ['loss', 'lira']
    """

    dataset: Any
    trainer: Any = None
    game: str = "model"
    attacks: Any = None
    n_references: int = 8
    online: bool = True
    signal: Any = None
    augmentations: Any = None
    population_fraction: float | None = None
    target_model: Any = None
    target_indices: ArrayLike | None = None
    records: int | ArrayLike = 20
    leave_one_out: bool = False
    seed: int = 0
    vectorized: bool = True
    store: Any = None
    executor: Any = None
    progress: bool = True
    confidence: float = 0.95
    delta: float = 0.0
    title: str | None = None
    reference_lm: Any = None
    reference_models: Any = None
    canaries: Any = None
    blind_baseline: bool | None = None
    dp_canaries: int = 500
    dp_canary: str = "mislabel"
    dp_runs: int = 1

    def __post_init__(self) -> None:
        games = (*GAMES, "dp")
        if self.game not in games:
            close = difflib.get_close_matches(str(self.game), games, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown game {self.game!r}{hint}; expected one of {games}")
        # validated values live in private fields; the user's arguments stay as given
        self._seed = check_seed(self.seed)
        if self.game == "dp":
            self._check_dp_game()
            return
        check_int("n_references", self.n_references, minimum=0 if self.game == "model" else 1)
        frac = self.population_fraction
        if frac is None:
            frac = 0.6 if self.game == "model" and not self.online else 0.3
        self._population_fraction = check_fraction("population_fraction", frac)
        check_fraction("confidence", self.confidence)
        check_fraction("delta", self.delta, open_low=False)
        self._data = as_data(self.dataset)
        self._no_reference: dict[str, str] = {}
        defaults = default_attacks(self._data.task)
        if self.reference_lm is not None and self._data.task == "language_model":
            defaults = (*defaults, "pretrained_reference")
        self._attacks = _normalise_attacks(defaults if self.attacks is None else self.attacks)
        self._check_attack_tasks()
        self._references = self._check_reference_models()
        self._check_attack_inputs()
        if self.trainer is None and self._references is not None and (
            self.target_model is None and self.game == "model"
        ):
            raise ValueError(
                "reference_models without target_model: give the target too (target_model "
                "and target_indices), or a trainer to train it"
            )
        if self.trainer is None and self._references is None:
            needs = [label for label, name, _ in self._attacks if name not in _NO_REFERENCE]
            if self.game != "model" or self.target_model is None:
                raise ValueError(
                    f"game {self.game!r} needs a trainer (to train the "
                    f"{'target and ' if self.game == 'model' else ''}reference models)"
                )
            if needs and self.attacks is None:
                # the defaults without reference models: the others are listed as not run,
                # so the verdict says that it may understate the risk
                self._no_reference = {
                    label: "no reference models: give a trainer (config: the model's training "
                    "settings, or model.base_path for a language model) or reference_models"
                    for label in needs
                }
                self._attacks = [a for a in self._attacks if a[0] not in self._no_reference]
            elif needs:
                raise ValueError(
                    f"attacks {needs} need reference models, so a trainer; pass trainer=... or "
                    "use only 'loss' and 'population'"
                )
        if self.target_model is not None and self.game != "model":
            raise ValueError("target_model is only used by the 'model' game")
        if (self.target_model is None) != (self.target_indices is None):
            raise ValueError(
                "target_model and target_indices go together: give the trained model and the "
                "row indices of its training set"
            )
        from privmeter.signals import Signal, get_signal

        signal = self.signal
        if signal is None:
            signal = default_signal(self._data.task)
        self._signal = get_signal(signal) if isinstance(signal, str) else signal
        if not isinstance(self._signal, Signal):
            raise TypeError(f"signal must be a name or a Signal, got {self.signal!r}")
        if self._signal.task not in ("any", self._data.task):
            raise ValueError(
                f"signal {self._signal.name!r} is for {self._signal.task} models, but the data "
                f"is a {self._data.task} task; use signal={default_signal(self._data.task)!r}"
            )
        self._signals = self._attack_signals()
        self._check_target_access()
        self._check_text_options()
        self._check_models()
        self._check_dp_training()
        self._store: Any = _open_store(self.store)

    def _check_attack_inputs(self) -> None:
        """Every attack's parameters, and the reference models it needs, before training."""
        from privmeter.attacks._registry import make_params

        for label, name, params in self._attacks:
            try:
                make_params(attack_info(name), dict(params))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"attack {label!r}: {exc}") from None
        n_refs = len(self._references) if self._references is not None else self.n_references
        if self.game == "model" and n_refs == 0:
            needs = [label for label, name, _ in self._attacks if name not in _NO_REFERENCE]
            if needs:
                raise ValueError(
                    f"attacks {needs} compare the target with reference models, but "
                    "n_references=0: use n_references >= 1 (e.g. 4), or only 'loss' and "
                    "'population'"
                )

    def _target_access(self) -> Any:
        """The user's target wrapped once in its model-access adapter."""
        if "_target" not in self.__dict__:
            self._target = as_model_access(self.target_model, n_classes=self._data.n_classes,
                                           task=self._data.task)
        return self._target

    def _target_framework(self) -> str:
        """`` (framework version)`` of the user's target, for the card (and Keras' note on
        where its logits come from)."""
        from privmeter.models.loading import framework_info

        access = self._target_access()
        info = framework_info(access)
        text = f" ({info['framework']} {info['version']})".replace(" )", ")")
        note = getattr(access, "note", None)
        if getattr(access, "logits_source", "outputs") != "outputs" and note:
            text += f"; {note}"
        return text

    def _check_target_access(self) -> None:
        """Every attack's signal must be computable on the user's target (a black-box LM has
        no next-token distribution for Min-K%++): a default attack that cannot be is listed
        as not run, a named one is refused before anything trains."""
        if self.target_model is None:
            return
        target = self._target_access()
        dropped: list[str] = []
        for label, name, _ in self._attacks:
            wanted = attack_info(name).signal
            sig = self._signals.get(wanted, self._signal) if wanted else self._signal
            try:
                sig.check_model(target)
            except (ValueError, TypeError) as exc:
                if self.attacks is not None:
                    raise ValueError(f"attack {label!r} cannot run on the target: {exc}") from None
                self._no_reference[label] = f"the target does not offer it: {exc}"
                dropped.append(label)
        if dropped:
            self._attacks = [a for a in self._attacks if a[0] not in dropped]
            self._signals = {k: v for k, v in self._signals.items()
                             if any(attack_info(n).signal == k for _, n, _ in self._attacks)}

    def _check_dp_training(self) -> None:
        """A DP trainer's settings must fit every training set the game plans (delta below
        1/n, a reachable target epsilon), before anything trains."""
        dp = getattr(self.trainer, "dp", None)
        spent = getattr(self.trainer, "privacy_spent", None)
        if dp is None or not callable(spent):
            return
        _, _, keep, _ = self._plan()
        sizes = keep.sum(axis=1)
        sizes = sizes[sizes > 0]
        for n in sorted({int(sizes.min()), int(sizes.max())} if sizes.size else set()):
            spent(n)  # raises for delta >= 1/n (largest n) or an unreachable epsilon

    def _check_dp_game(self) -> None:
        """``game="dp"``: a DP trainer (or one whose claim is known) and canary settings."""
        check_int("dp_canaries", self.dp_canaries, minimum=2)
        check_int("dp_runs", self.dp_runs, minimum=1)
        check_fraction("confidence", self.confidence)
        if self.dp_canary not in ("mislabel", "ood", "gradient"):
            raise ValueError(
                f"dp_canary must be 'mislabel', 'ood' or 'gradient', got {self.dp_canary!r}"
            )
        if self.trainer is None or getattr(self.trainer, "dp", None) is None:
            raise ValueError(
                "game 'dp' audits the epsilon that DP-SGD training claims: give a trainer "
                "trained with DP (TorchTrainer(..., dp=DPConfig(...)); config: training.dp)"
            )
        for name in ("target_model", "reference_models", "canaries"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name} is not used by the 'dp' game")
        self._data = as_data(self.dataset)
        self._store = _open_store(self.store)

    def _run_dp(self) -> Any:
        """The DP audit game: claimed against measured epsilon, as a report."""
        from privmeter.dp_game import dp_audit_game
        from privmeter.report import AuditReport

        t0 = time.perf_counter()
        res = dp_audit_game(
            self.dataset, self.trainer, n_canaries=self.dp_canaries, canary=self.dp_canary,
            runs=self.dp_runs, seed=self._seed, confidence=self.confidence, store=self._store,
            executor=self.executor, progress=self.progress,
        )
        seconds = time.perf_counter() - t0
        m = res.n_canaries
        # the membership attack on the canaries (every run's scores, canaries as records)
        attack = AttackResult.from_scores(
            "loss" if self.dp_canary != "gradient" else "gradient_canary",
            res.scores.ravel(), res.inclusion.ravel(),
            point_ids=np.tile(np.arange(m), res.runs), confidence=self.confidence,
            delta=res.delta, target=-1 if res.runs > 1 else 0,
            extras={"game": "dp", "canary": self.dp_canary, "runs": res.runs},
        )
        full = res.to_dict()
        extras = {
            "dp": {
                "claimed_epsilon": res.claimed_epsilon, "epsilon_rdp": res.claimed_epsilon_rdp,
                "epsilon_prv": res.claimed_epsilon_prv, "accountant": res.accountant or "",
                "delta": res.delta,
                "lower_bounds": [{"method": b.method, "epsilon_lb": b.epsilon,
                                  "confidence": b.confidence} for b in res.bounds],
                "verdict": res.verdict, "summary": res.summary(), "n_canaries": m,
                "runs": res.runs, "max_detectable_epsilon": res.max_detectable_epsilon,
                "audit": {k: v for k, v in full.items() if k not in ("scores", "inclusion")},
            },
            "dp_claim": {"epsilon": res.claimed_epsilon, "delta": res.delta},
        }
        from privmeter.pipeline import card as _cards

        card = {
            "game": "DP audit: canaries each included with probability 1/2 (Steinke et al. "
                    "2023; Nasr et al. 2023)",
            "canaries": f"{m} {self.dp_canary} canaries per run, {res.runs} run(s)",
            "dataset": f"{self._data.name} ({self._data.n} rows, {self._data.task})",
            "model": _cards.model_description(self.trainer, user_target=False),
            "claimed epsilon": res.claimed_epsilon, "delta": res.delta,
            "seed": self._seed, "versions": _cards.versions(),
            "timings (s)": {"dp audit": round(seconds, 2), "total": round(seconds, 2)},
        }
        title = self.title or f"DP audit: {self._data.name}"
        return AuditReport(results=(attack,), card=card, title=title, extras=extras)

    def _dp_claim(self, keep: NDArray[np.bool_], targets: Sequence[int]) -> dict[str, Any] | None:
        """The (epsilon, delta) a DP trainer claims for the (first) target's training set."""
        spent = getattr(self.trainer, "privacy_spent", None)
        if getattr(self.trainer, "dp", None) is None or not callable(spent):
            return None
        n_train = int(keep[targets[0]].sum())
        info = dict(spent(n_train))
        return {"epsilon": float(info["epsilon"]), "delta": float(info["delta"]),
                "accountant": str(info.get("accountant", "")), "n_points": n_train}

    def _check_text_options(self) -> None:
        """Canaries need a language model trained here; the blind baseline needs texts."""
        from privmeter.pipeline.text import CanarySpec

        if self.canaries is not None:
            if not isinstance(self.canaries, CanarySpec):
                raise TypeError(
                    f"canaries must be a privmeter.CanarySpec, got {type(self.canaries).__name__}"
                )
            if self._data.task != "language_model":
                raise ValueError(
                    f"canaries are inserted into a language model's training texts; the data is "
                    f"a {self._data.task} task"
                )
            if self.game != "model" or self.target_model is not None:
                raise ValueError(
                    "canaries go into the training texts of a target trained by the audit: the "
                    "'model' game without target_model (a model you trained yourself cannot get "
                    "new canaries; insert them into its training data with "
                    "privmeter.canaries.insert_canaries before training)"
                )
        if self.blind_baseline and not self._data.is_text:
            raise ValueError("blind_baseline classifies texts; this audit's data are not texts")
        self._blind = bool(self._data.is_text if self.blind_baseline is None
                           else self.blind_baseline)

    def _check_attack_tasks(self) -> None:
        """An attack made for one task (the language-model attacks) needs data of that task."""
        for label, name, _ in self._attacks:
            task = attack_info(name).task
            if task is not None and task != self._data.task:
                what = "texts and a causal language model" if task == "language_model" else task
                raise ValueError(
                    f"attack {label!r} is for {task} audits ({what}), but the data is a "
                    f"{self._data.task} task; its attacks: "
                    f"{', '.join(default_attacks(self._data.task))}"
                )

    def _attack_signals(self) -> dict[str, Any]:
        """The signal of every attack that names its own (``AttackSpec.signal``), by name."""
        from privmeter.signals import get_signal

        out: dict[str, Any] = {}
        for label, name, _ in self._attacks:
            wanted = attack_info(name).signal
            if wanted is None or wanted == self._signal.name or wanted in out:
                continue
            if wanted == "pretrained_reference":
                if self.reference_lm is None:
                    raise ValueError(
                        f"attack {label!r} compares the target with a different pretrained "
                        "model: pass reference_lm=HFCausalLM.from_pretrained(base_folder) "
                        "(config: model.reference_path)"
                    )
                from privmeter.signals.lm import pretrained_reference_signal

                out[wanted] = pretrained_reference_signal(self.reference_lm)
            else:
                out[wanted] = get_signal(wanted)
        return out

    def _check_reference_models(self) -> list[tuple[Any, NDArray[np.int64]]] | None:
        """Bring-your-own references: adapters and their training rows, checked."""
        if self.reference_models is None:
            return None
        if self.game != "model":
            raise ValueError("reference_models are only used by the 'model' game")
        from privmeter._validation import check_indices

        entries = list(self.reference_models)
        if not entries:
            raise ValueError("reference_models is empty: give at least one (model, indices)")
        out: list[tuple[Any, NDArray[np.int64]]] = []
        for i, entry in enumerate(entries):
            if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
                raise ValueError(
                    f"reference_models[{i}] must be a (model, training indices) pair, got "
                    f"{type(entry).__name__}"
                )
            model, idx = entry
            if idx is None:
                raise ValueError(
                    f"reference_models[{i}] has no training indices: membership inference needs "
                    "to know which rows each reference trained on"
                )
            rows = check_indices(f"reference_models[{i}] indices", idx, self._data.n,
                                 distinct=True)
            access = as_model_access(model, n_classes=self._data.n_classes, task=self._data.task)
            out.append((access, np.asarray(rows, dtype=np.int64)))
        return out

    def _check_models(self) -> None:
        """Before any training: the features fit the model's float type, and the target (or a
        freshly built model) takes this input width and has an output per class."""
        from privmeter.training.train import is_torch_trainer

        d = self._data
        if self.target_model is not None:
            access = as_model_access(self.target_model, n_classes=None, task=d.task)
            _build.check_feature_range(d, _build.model_dtype(getattr(access, "module", None)),
                                       "the target model")
            if d.task != "language_model":
                _build.check_outputs(access, d, "the target model")
        if is_torch_trainer(self.trainer):
            try:
                probe = self.trainer.init_model(0)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise ValueError(
                    f"the model factory cannot build a model: {' '.join(str(exc).split())}"
                ) from None
            _build.check_feature_range(d, _build.model_dtype(probe), "the trained models")
            _build.check_outputs(as_model_access(probe, n_classes=None, task=d.task), d,
                                 "the model factory's model")
        elif self.trainer is not None and d.task == "language_model":
            encode = getattr(self.trainer, "encode", None)
            if callable(encode):  # the tokenizer reads these texts (and fits the model)
                encode(list(d.x[:2]))
        elif self.trainer is not None:
            _build.check_feature_range(d, np.float64, "the trained models")

    # ---------------------------------------------------------------- splits
    def _seeds(self) -> tuple[np.random.Generator, int, int]:
        return split_seeds(self._seed)

    def _n_references(self) -> int:
        if self._references is not None:
            return len(self._references)
        return self.n_references if self.trainer is not None else 0

    def _game_plan(self) -> GamePlan:
        return plan_game(
            self._data.n, game=self.game,
            n_references=self._n_references(),
            population_fraction=self._population_fraction, seed=self._seed, online=self.online,
            target_indices=self.target_indices if self.target_model is not None else None,
            records=self.records, leave_one_out=self.leave_one_out,
        )

    def _plan(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], list[int]]:
        """Points of the table (data rows), the keep matrix over them, and the targets.

        Returns ``(audit_rows, population_rows, keep, targets)`` where ``keep`` has one row per
        trained model and one column per data row (not per table point); see
        :func:`privmeter.pipeline.games.plan_game`.
        """
        return self._game_plan().as_tuple()
    # ------------------------------------------------------------- expensive
    def build_table(self) -> BuiltTable:
        """Train every model and query it: the signal table of this audit.

        Models are queried one at a time (:func:`privmeter.pipeline.build.query_models`), so
        at most one trained model is on the device at once.
        """
        d = self._data
        audit_rows, pop_rows, keep, targets = self._plan()
        _, train_seed, _ = self._seeds()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        models: list[_build.ModelFactory] = []
        keys: list[str | None] = []
        # rows of the keep matrix: the target first, then its references (model game)
        given: list[tuple[_build.ModelFactory, str | None]] = []
        if self.target_model is not None:
            given.append((functools.partial(_identity, self._target_access()), None))
        n_given_first = len(given)
        if self._references is not None:
            keep = keep.copy()
            for j, (_, idx) in enumerate(self._references, start=1):
                keep[j] = False
                keep[j, idx] = True
        to_train = keep[n_given_first:] if self._references is None else keep[n_given_first:1]
        canaries: tuple[Any, ...] = ()
        if to_train.shape[0] > 0 and self.canaries is not None:
            from privmeter.pipeline.text import CanaryTrainer
            from privmeter.training._hashing import spawn_seeds

            canaries = self.canaries.canaries(seed=self._seed)
            seeds = spawn_seeds(train_seed, to_train.shape[0])
            with_canaries = CanaryTrainer(self.trainer, tuple(c.text for c in canaries),
                                          tuple(c.repetitions for c in canaries))
            trained, model_keys = _build.train_models_lazily(
                with_canaries, d, to_train[:1], seeds[:1], store=self._store,
                executor=self.executor, progress=self.progress, vectorized=False,
            )
            if to_train.shape[0] > 1:
                more, more_keys = _build.train_models_lazily(
                    self.trainer, d, to_train[1:], seeds[1:], store=self._store,
                    executor=self.executor, progress=self.progress, vectorized=self.vectorized,
                )
                trained, model_keys = [*trained, *more], [*model_keys, *more_keys]
        elif to_train.shape[0] > 0:
            trained, model_keys = _build.train_models_lazily(
                self.trainer, d, to_train, train_seed, store=self._store,
                executor=self.executor, progress=self.progress, vectorized=self.vectorized,
            )
        else:
            trained, model_keys = [], []
        models = [f for f, _ in given] + list(trained)
        keys = [k for _, k in given] + list(model_keys)
        if self._references is not None:
            models += [functools.partial(_identity, ref) for ref, _ in self._references]
            keys += [None] * len(self._references)
        timings["training"] = time.perf_counter() - t0

        rows = np.r_[audit_rows, pop_rows]
        signals = [self._signal, *self._signals.values()]
        extras: dict[str, Any] = {}

        def on_model(m: int, model: Any) -> None:
            # what the report shows of the (first) target, asked while it is built
            if m != targets[0] or d.task != "language_model":
                return
            from privmeter.pipeline import text as _text

            if canaries:
                assert self.canaries is not None
                extras["canaries"] = _text.canary_exposures(model, canaries, self.canaries,
                                                            seed=self._seed)
            # the texts the signals were computed on: the model's cached pass, not a new one
            tokens = _text.token_details(model, [str(t) for t in d.x[rows]])
            if tokens is not None:
                extras["tokens"] = tokens[: audit_rows.size]

        values, per_model, query_timings = _build.query_models(
            models, keys, rows, d, signals, augmentations=self.augmentations,
            store=self._store, progress=self.progress, member=keep[:, rows],
            on_model=on_model,
        )
        timings["querying"] = query_timings["querying"]

        role = np.array(["audit"] * audit_rows.size + ["population"] * pop_rows.size)
        labels = d.y[rows] if d.task == "classification" else None

        def make_table(sig: Any) -> SignalTable:
            return SignalTable(
                values[sig.name], keep[:, rows], role=role, labels=labels, kind=sig.kind,
                higher_is_member=sig.higher_is_member, point_ids=rows,
                metadata={"signal": sig.name, "dataset": d.name},
            )

        table = make_table(self._signal)
        extra_tables = {name: make_table(sig) for name, sig in self._signals.items()}
        card = self._card(table, audit_rows, pop_rows, keep, targets)
        claim = self._dp_claim(keep, targets)
        if claim is not None:
            extras["dp_claim"] = claim
            card = dataclasses.replace(card, model=card.model + (
                f"; DP-SGD claiming epsilon = {claim['epsilon']:.3g} at delta = "
                f"{claim['delta']:g} ({claim['accountant']} accountant)"))
        t0 = time.perf_counter()
        card = dataclasses.replace(card, utility=_build.summarise_utility(
            per_model, game=self.game, targets=targets,
            regression=d.task != "classification",
        ))
        timings["utility"] = query_timings["utility"] + time.perf_counter() - t0
        return BuiltTable(table=table, targets=tuple(targets), card=card, timings=timings,
                          audit_rows=audit_rows, tables=extra_tables, extras=extras)

    def _card(
        self, table: SignalTable, audit_rows: NDArray[np.int64], pop_rows: NDArray[np.int64],
        keep: NDArray[np.bool_], targets: list[int],
    ) -> _cards.ThreatModelCard:
        d = self._data
        sig = self._signal
        mem0 = keep[targets[0], audit_rows]
        user_target = self.target_model is not None
        return _cards.ThreatModelCard(
            game=self.game,
            access_level=_cards.access_level(sig.requires),
            signal=sig.name + (f" ({self.augmentations!r})" if self.augmentations else ""),
            attacker_knowledge=_cards.attacker_knowledge(
                self.game, online=self.online, leave_one_out=self.leave_one_out,
                user_target=user_target,
            ),
            reference_models_per_target=table.n_models - 1,
            targets=len(targets),
            population_size=int(pop_rows.size),
            audited_records=int(audit_rows.size),
            members=int(mem0.sum()),
            non_members=int((~mem0).sum()),
            dataset=f"{d.name} ({d.n} rows, {d.task}"
                    + (f", {d.n_classes} classes)" if d.n_classes else ")"),
            model=_cards.model_description(self.trainer, user_target=user_target) + (
                self._target_framework() if user_target else "") + (
                f"; references: user-supplied ({len(self._references)} models with their "
                "training rows)" if self._references is not None else ""),
            seed=self._seed,
            versions=_cards.versions(),
        )

    # ----------------------------------------------------------------- cheap
    def attack(self, built: BuiltTable) -> list[AttackResult]:
        """Run every attack on a built table (pooled over targets in the multi-target games).

        An attack that cannot run on this table is skipped with a warning (:meth:`run` lists
        it in the card under ``"attacks not run"``); ``built`` is left unchanged.
        """
        return self._attack(built)[0]

    def _attack(self, built: BuiltTable) -> tuple[list[AttackResult], dict[str, str]]:
        """The results, and the reason each skipped attack (by label) could not run."""
        results: list[AttackResult] = []
        skipped: dict[str, str] = dict(self._no_reference)
        for label, name, user_params in self._attacks:
            params = dict(user_params)
            fields = [p["name"] for p in attack_info(name).parameters()]
            if "online" in fields and "online" not in params:
                # the attack uses the reference models the way they were trained
                params["online"] = self.online if self.game == "model" else True
            if name in ("rmia", "auto") and "seed" not in params:
                # RMIA's a='auto' tuning and auto's selection follow the audit's seed
                params["seed"] = self._seed
            targets = self._valid_targets(built)
            try:
                table = built.table_for(attack_info(name).signal)
                if len(targets) == 1:
                    one = run_attack(name, table, target=targets[0],
                                     confidence=self.confidence, delta=self.delta, **params)
                else:
                    # metrics once, on the pooled scores (not once per target as well)
                    scored = [score_attack(name, table, target=t, **params)
                              for t in targets]
            except ValueError as exc:
                skipped[label] = str(exc)
                warnings.warn(f"attack {label!r} could not run: {exc}", stacklevel=2)
                continue
            if len(targets) == 1:
                results.append(self._pool(label, [one], built))
            else:
                results.append(self._pool_scored(label, scored))
        return results, skipped

    def _valid_targets(self, built: BuiltTable) -> list[int]:
        if len(built.targets) == 1:
            return list(built.targets)
        ok = []
        for t in built.targets:
            mem = built.table.membership[t, built.table.audit_mask]
            if mem.any() and not mem.all():
                ok.append(t)
        return ok

    def _pool(self, label: str, per_target: list[AttackResult], built: BuiltTable) -> AttackResult:
        if len(per_target) == 1:
            r = per_target[0]
            if label == r.attack:
                return r
            return AttackResult.from_scores(
                label, r.scores, r.membership, params=r.params, target=r.target,
                point_ids=r.point_ids, labels=r.labels, seed=r.seed, confidence=r.confidence,
                delta=r.delta, extras=r.extras,
            )
        scored = [
            ScoredAttack(attack=r.attack, target=r.target, scores=r.scores,
                         membership=r.membership, point_ids=r.point_ids, labels=r.labels,
                         params=r.params, seed=r.seed, extras=r.extras)
            for r in per_target
        ]
        return self._pool_scored(label, scored)

    def _pool_scored(self, label: str, per_target: Sequence[ScoredAttack]) -> AttackResult:
        """One result from the scores of several targets (the multi-target games)."""
        from privmeter import metrics

        scores = np.concatenate([r.scores for r in per_target])
        membership = np.concatenate([r.membership for r in per_target])
        ids = np.concatenate([r.point_ids for r in per_target])
        labels = None if per_target[0].labels is None else np.concatenate(
            [r.labels for r in per_target if r.labels is not None]
        )
        extras: dict[str, Any] = {
            "pooled_over_targets": [r.target for r in per_target],
            "per_target_auc": [metrics.auc(r.scores, r.membership) for r in per_target],
        }
        if self.game == "record":
            extras["per_record"] = _per_record(per_target, self.confidence)
        return AttackResult.from_scores(
            label, scores, membership, params=per_target[0].params, target=-1, point_ids=ids,
            labels=labels, confidence=self.confidence, delta=self.delta, extras=extras,
        )

    def run(self) -> Any:
        """Build the table, run the attacks and return an :class:`~privmeter.report.AuditReport`."""
        from privmeter.report import AuditReport, RecordData

        if self.game == "dp":
            return self._run_dp()
        t_all = time.perf_counter()
        built = self.build_table()
        t0 = time.perf_counter()
        results, skipped = self._attack(built)
        timings = dict(built.timings)
        timings["attacks"] = time.perf_counter() - t0
        d = self._data
        rows = built.audit_rows
        records = None
        if d.image_shape is not None:
            imgs = np.asarray(d.x[rows], dtype=np.float32).reshape(rows.size, *d.image_shape)
            if imgs.ndim == 4 and imgs.shape[1] in (1, 3):
                imgs = imgs.transpose(0, 2, 3, 1)
                if imgs.shape[-1] == 1:
                    imgs = imgs[..., 0]
            records = RecordData(point_ids=rows, images=imgs, class_names=d.class_names)
        elif d.is_text:
            tokens = built.extras.get("tokens")
            records = RecordData(
                point_ids=rows, texts=[str(t) for t in d.x[rows]], tokens=tokens,
                class_names=d.class_names,
            )
        elif np.ndim(d.x) == 2:
            records = RecordData(
                point_ids=rows, features=np.asarray(d.x[rows]), feature_names=d.feature_names,
                class_names=d.class_names,
            )
        timings["total"] = time.perf_counter() - t_all
        card = dict(built.card)
        if skipped:
            card["attacks not run"] = skipped
        card["timings (s)"] = {k: round(v, 2) for k, v in timings.items()}
        title = self.title or f"Membership inference audit: {d.name}, {self.game} game"
        not_run = tuple(dict(card.get("attacks not run") or {}).items())
        if not results:
            raise ValueError(
                "no attack could run: " + "; ".join(f"{a}: {why}" for a, why in not_run)
            )
        extras: dict[str, Any] = {}
        if "canaries" in built.extras:
            extras["canaries"] = built.extras["canaries"]
        if "dp_claim" in built.extras:
            extras["dp_claim"] = built.extras["dp_claim"]
        if self._blind:
            t0 = time.perf_counter()
            blind = self._blind_baseline(built, results)
            if isinstance(blind, str):
                card["blind baseline"] = f"not run: {blind}"
            else:
                extras["blind_baseline"] = blind
            timings["blind baseline"] = time.perf_counter() - t0
            card["timings (s)"] = {k: round(v, 2) for k, v in timings.items()}
        return AuditReport(results=tuple(results), card=card, records=records, title=title,
                           not_run=not_run, extras=extras)

    def _blind_baseline(self, built: BuiltTable, results: Sequence[AttackResult]
                        ) -> dict[str, Any] | str:
        """The model-free baseline on the first target's audit texts, against the best
        attack's AUC on that target."""
        from privmeter.pipeline.text import blind_baseline_extras

        t = built.targets[0]
        rows = built.audit_rows
        membership = built.table.membership[t, built.table.audit_mask]
        best = max(results, key=lambda r: r.auc)
        return blind_baseline_extras(
            [str(x) for x in self._data.x[rows]], membership, best_auc=best.auc,
            best_auc_lo=float(best.auc_ci[0]), seed=self._seed, confidence=self.confidence,
        )


def _open_store(store: Any) -> Any:
    """A :class:`~privmeter.training.Store` for a folder path (a given store unchanged).

    A cache folder is data: nothing in it may run code (pickles need an explicit
    ``store=Store(path, trust_pickle=True)``).
    """
    if isinstance(store, (str, bytes)) or hasattr(store, "__fspath__"):
        from privmeter.training import Store

        return Store(store)
    return store


def _identity(model: Any) -> Any:
    return model


def _per_record(per_target: Sequence[ScoredAttack], confidence: float) -> list[dict[str, Any]]:
    """For each audited record: the AUC of telling models with it from models without it.

    The interval is Hoeffding's distribution-free bound for the two-sample U-statistic
    (:func:`privmeter.metrics.auc_hoeffding_ci`): with a handful of models per record an
    asymptotic (DeLong) interval can have width zero, e.g. ``1.000 [1.000, 1.000]`` from
    5 vs 5 models. Records with fewer than 2 models on either side get no interval
    (``"too few models"``).
    """
    from privmeter import metrics

    ids = per_target[0].point_ids
    s = np.stack([r.scores for r in per_target])  # (targets, records)
    m = np.stack([r.membership for r in per_target])
    out = []
    for j, pid in enumerate(ids):
        lab = m[:, j]
        if lab.all() or not lab.any():
            out.append({"point_id": int(pid), "auc": None, "auc_ci": None,
                        "note": "no model trained with it" if not lab.any()
                        else "every model trained with it"})
            continue
        n_in, n_out = int(lab.sum()), int((~lab).sum())
        auc = metrics.auc(s[:, j], lab)
        entry: dict[str, Any] = {"point_id": int(pid), "auc": auc, "n_in": n_in, "n_out": n_out}
        if min(n_in, n_out) < 2:
            entry["auc_ci"] = None
            entry["note"] = "too few models for an interval"
        else:
            entry["auc_ci"] = list(metrics.auc_hoeffding_ci(auc, n_in, n_out,
                                                            confidence=confidence))
            entry["ci_method"] = "hoeffding"
        out.append(entry)
    return out
