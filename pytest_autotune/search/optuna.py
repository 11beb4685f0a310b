"""The ``optuna`` search strategy: TPE proposes each trial slot's configuration.

Each slot asks the case's Optuna study for a configuration when it is set up (``study.ask()``
with a distribution per parameter: categorical for lists, int or float, stepped or log, for
ranges) and tells the study the trial's score when the trial completes; a configuration that
could not run, or has no score, is told as failed (``TrialState.FAIL``). The study lives in
Optuna's journal file ``study.log`` in the run's directory, so pytest-xdist workers share it
(the sampler's constant liar keeps them from proposing what another worker is measuring), or
in the storage ``--autotune-study`` names, where a later run resumes it.

One configuration is measured once: a proposal equal to one the study already measured is told
that trial's result again (it is not deployed again), and the slot asks anew; a proposal equal
to one still being measured is told as failed and the slot asks anew. Every such trial carries
the user attribute ``duplicate_of``. A proposal that breaks one of the case's constraints is
told as failed with the user attribute ``constraint`` (the expression it breaks), without being
deployed, and the slot asks anew. Optuna is imported only when a slot first asks (plugin import
cost), and its log lines and warnings go to Python logging instead of the terminal.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..results.layout import RunLayout
from .base import (
    SearchContext,
    SearchExhausted,
    admission,
    admitted_indices,
    check_satisfiable,
    run_gpus,
    sampling_budget,
    slot_name,
)

if TYPE_CHECKING:
    from optuna import Study
    from optuna import Trial as OptunaTrial
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from ..cases.case import Case
    from ..cases.space import Admit, Axis
    from ..results.records import Trial
    from ..values import Configuration

LOG = logging.getLogger("pytest_autotune.optuna")
INSTALL = "pip install 'pytest-autotune[search]'"
#: asks per slot before it looks for an unmeasured configuration itself
MAX_ASKS = 10
#: the most configurations the fallback enumerates (larger spaces are drawn from)
MAX_ENUMERATED = 10_000
#: proposals per slot that break a constraint before it looks for one that does not itself
MAX_REJECTED = 100


def optuna_missing() -> bool:
    return importlib.util.find_spec("optuna") is None


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """Optuna's warnings (ExperimentalWarning, ...) become log records, so a suite that runs
    with ``filterwarnings = error`` is not stopped by them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        experimental = w.category.__name__ == "ExperimentalWarning"
        LOG.log(logging.DEBUG if experimental else logging.WARNING, "%s: %s",
                w.category.__name__, w.message)


_LOGGING_ROUTED = False


def _route_logging() -> None:
    """Optuna's INFO lines (study created, trial finished) go through Python logging, where
    pytest captures them, instead of straight to stderr."""
    global _LOGGING_ROUTED
    if not _LOGGING_ROUTED:
        import optuna

        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()
        _LOGGING_ROUTED = True


def derive_seed(seed: int, k: int) -> int:
    """The sampler seed of the ``k``-th slot: independent streams from one case seed."""
    return random.Random(f"{seed}:{k}").getrandbits(32)


def make_storage(context: SearchContext) -> BaseStorage:
    """``--autotune-study`` (an Optuna storage URL, or a journal file's path), else the run's
    own journal file ``study.log``; made once per process and strategy."""
    from optuna.storages import JournalStorage, get_storage
    from optuna.storages.journal import JournalFileBackend

    if context.study and "://" in context.study:
        return get_storage(context.study)
    path = Path(context.study) if context.study else RunLayout(context.run_dir).study
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def distribution(axis: Axis) -> BaseDistribution:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from ..cases.space import Choice

    if isinstance(axis, Choice):
        return CategoricalDistribution(list(axis.values))
    if axis.step is not None:
        top = axis.values[-1]
        if axis.kind is int:
            return IntDistribution(int(axis.low), int(top), step=int(axis.step))
        return FloatDistribution(float(axis.low), float(top), step=float(axis.step))
    if axis.kind is int:
        return IntDistribution(int(axis.low), int(axis.high), log=axis.log)
    return FloatDistribution(float(axis.low), float(axis.high), log=axis.log)


@dataclass
class OptunaStrategy:
    """TPE over the case's space, ``search.trials`` trial slots, seeded by ``search.seed``."""

    case: Case
    context: SearchContext = field(default_factory=SearchContext)
    name: str = "optuna"
    #: configuration key → the study's trial that measures it (asked, not told yet)
    asked: dict[str, OptunaTrial] = field(default_factory=dict)
    _storage: BaseStorage | None = field(default=None, repr=False)
    _offset: int | None = field(default=None, repr=False)
    _admit: Admit | None = field(default=None, repr=False)
    #: how many configurations the constraints admit (None: no constraints, or uncountable)
    _admitted: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if optuna_missing():
            raise ConfigError(f"the optuna search strategy needs Optuna: {INSTALL}",
                              source=self.case.source, field="search.strategy",
                              line=self.case.search.line)
        self._admit = admission(self.case, self.context)
        admitted = admitted_indices(self.case, self._admit)
        check_satisfiable(self.case, self._admit, self.context, admitted)
        self._admitted = len(admitted) if admitted is not None else None

    # -- Strategy -----------------------------------------------------------------------------
    def fixed_plan(self) -> Sequence[Configuration] | None:
        return None

    def budget(self) -> int:
        return sampling_budget(self.case, self._admitted)

    @property
    def size(self) -> int | None:
        """How many configurations the study may measure (None: not countable)."""
        if self._admit is None:
            return self.case.space.size
        return self._admitted

    @property
    def direction(self) -> str:
        from ..decide.scoring import OBJECTIVES

        objective = OBJECTIVES.get(self.case.objective)
        return objective.direction if objective is not None else "maximize"

    @property
    def startup_trials(self) -> int:
        """Trials TPE samples at random before it models the results."""
        given = self.case.search.startup_trials
        return given if given is not None else min(10, max(2, self.budget() // 3))

    def propose(self, slot: int) -> Configuration:
        """Ask the study until it proposes a configuration nobody measured that satisfies the
        constraints; fall back to such a configuration of a finite space; SearchExhausted when
        none is left."""
        study = self.study(slot)
        distributions = {axis.name: distribution(axis) for axis in self.case.space.axes}
        size = self.size
        attempt = rejected = 0
        while attempt < MAX_ASKS + 3 and rejected < MAX_REJECTED + 3:
            if size is not None and len(self._seen(study)) >= size:
                break  # asking again would only repeat what the study has
            if attempt >= MAX_ASKS or rejected >= MAX_REJECTED:  # TPE keeps repeating itself
                fresh = self._unmeasured(study, slot)
                if fresh is None:
                    break
                with routed():
                    study.enqueue_trial(dict(fresh.params))
            with routed():
                trial = study.ask(distributions)
                trial.set_user_attr("run", self.context.run_id)
                trial.set_user_attr("slot", slot_name(slot, self.budget()))
                trial.set_user_attr("process", os.environ.get("PYTEST_XDIST_WORKER", "main"))
            config = self.configuration(trial.params, slot)
            if self._reject(study, trial, config):
                rejected += 1
                continue
            attempt += 1
            earlier = self._earlier_same(study, trial.number, config)
            if earlier is None:
                with routed():
                    trial.set_user_attr("configuration", config.id)
                self.asked[config.key] = trial
                return config
            self._reuse(study, trial, earlier)
        raise SearchExhausted(f"{slot_name(slot, self.budget())}: every configuration of "
                              f"{self.case.name} that satisfies its constraints has been "
                              f"measured in this study" if self._admit is not None else
                              f"{slot_name(slot, self.budget())}: every configuration of "
                              f"{self.case.name} has been measured in this study")

    def _reject(self, study: Study, trial: OptunaTrial, config: Configuration) -> bool:
        """Whether the proposal breaks a constraint: then it is told as failed, with the
        constraint it breaks as the user attribute ``constraint``, and never deployed."""
        params = dict(config.params)
        if self._admit is None or self._admit(params):
            return False
        from optuna.trial import TrialState

        broken = self.case.constraints.broken(params, run_gpus(self.case, self.context))
        assert broken is not None
        with routed():
            trial.set_user_attr("configuration", config.id)
            trial.set_user_attr("constraint", broken.text)
            trial.set_user_attr("status", "excluded")
            study.tell(trial, state=TrialState.FAIL)
        return True

    def observe(self, trial: Trial) -> None:
        """Tell the study the trial's score (failed: infeasible, errored or no score)."""
        asked = self.asked.pop(trial.config_key, None)
        if asked is None:
            return
        from optuna.trial import TrialState

        study = self.study(None)
        score = trial.score
        with routed():
            asked.set_user_attr("status", trial.status)
            if score is None or not math.isfinite(score):
                reason = (trial.reason or "").splitlines()[:1] or ["no score: no workload point "
                                                                   "met every SLO"]
                asked.set_user_attr("reason", reason[0])
                study.tell(asked, state=TrialState.FAIL)
            else:
                study.tell(asked, score)

    def close(self) -> None:
        """Trials asked but never scored (an interrupted run) are told as failed, so a resumed
        study does not wait on them."""
        if not self.asked:
            return
        from optuna.trial import TrialState

        try:
            study = self.study(None)
            with routed():
                for asked in self.asked.values():
                    asked.set_user_attr("status", "interrupted")
                    study.tell(asked, state=TrialState.FAIL, skip_if_finished=True)
        except Exception as exc:  # the run is ending: say what went wrong, do not raise
            LOG.warning("could not close the Optuna study of %s: %s", self.case.name, exc)
        self.asked.clear()

    # -- the study ----------------------------------------------------------------------------
    @property
    def storage(self) -> BaseStorage:
        if self._storage is None:
            self._storage = make_storage(self.context)
        return self._storage

    def study(self, slot: int | None) -> Study:
        """The case's study (created, or loaded when it exists), with a TPE sampler seeded for
        ``slot``: a slot's proposal does not depend on which worker asks it."""
        import optuna
        from optuna.samplers import TPESampler
        from optuna.study import StudyDirection

        _route_logging()
        seed = self.case.search.seed
        with routed():
            if slot is not None and self._offset is None:
                self._offset = self._earlier_runs()
            k = (slot or 0) + (self._offset or 0)
            sampler = TPESampler(seed=derive_seed(seed, k), n_startup_trials=self.startup_trials,
                                 constant_liar=True)
            direction = (StudyDirection.MINIMIZE if self.direction == "minimize"
                         else StudyDirection.MAXIMIZE)
            return optuna.create_study(storage=self.storage, study_name=self.case.name,
                                       sampler=sampler, direction=direction,
                                       load_if_exists=True)

    def _earlier_runs(self) -> int:
        """Trials earlier runs left in the study (a resumed search draws new seeds)."""
        import optuna

        try:
            summary = optuna.load_study(study_name=self.case.name, storage=self.storage)
        except KeyError:  # no such study yet
            return 0
        run = self.context.run_id
        return sum(1 for t in summary.get_trials(deepcopy=False)
                   if t.user_attrs.get("run", run) != run)

    def configuration(self, params: Mapping[str, Any], slot: int) -> Configuration:
        """The configuration of a trial's parameters (each snapped to its axis, then checked
        by the SGLang flag catalogue)."""
        from ..cases.space import Range

        values = []
        for axis in self.case.space.axes:
            value = params[axis.name]
            values.append(axis.snap(float(value)) if isinstance(axis, Range) else value)
        return self.case.space.configuration(self.case.name, values, slot)

    def _key(self, trial: FrozenTrial) -> str | None:
        """The configuration a trial measures (a waiting, enqueued trial: the one it will)."""
        params = trial.params or trial.system_attrs.get("fixed_params") or {}
        try:
            return self.configuration(params, 0).key
        except (KeyError, ValueError, TypeError):  # another space (an edited case), or unset
            return None

    def _originals(self, study: Study) -> Iterator[FrozenTrial]:
        """The study's trials that measure (or measured) a configuration: not the repeats, nor
        proposals a constraint excluded, nor trials a run could not finish (interrupted, or
        left running when it was killed), whose configurations may be measured again."""
        from optuna.trial import TrialState

        run = self.context.run_id
        for other in study.get_trials(deepcopy=False):
            attrs = other.user_attrs
            if "duplicate_of" in attrs or "constraint" in attrs or \
                    attrs.get("status") == "interrupted":
                continue
            running = other.state in (TrialState.RUNNING, TrialState.WAITING)
            if running and other.user_attrs.get("run", run) != run:
                continue
            yield other

    def _seen(self, study: Study) -> set[str | None]:
        return {self._key(t) for t in self._originals(study)} - {None}

    def _earlier_same(self, study: Study, number: int, config: Configuration) -> \
            FrozenTrial | None:
        """The earliest trial before ``number`` that measures (or measured) ``config``."""
        from optuna.trial import TrialState

        for other in self._originals(study):
            if other.number >= number:
                continue
            running = other.state in (TrialState.RUNNING, TrialState.WAITING)
            key = self._key(other)
            if key == config.key or (running and key is None):  # still being asked: be safe
                return other
        return None

    def _reuse(self, study: Study, trial: OptunaTrial, earlier: FrozenTrial) -> None:
        """A repeated proposal: told the earlier trial's result (failed while it runs)."""
        from optuna.trial import TrialState

        with routed():
            trial.set_user_attr("duplicate_of", earlier.number)
            if earlier.state == TrialState.COMPLETE and earlier.value is not None:
                study.tell(trial, earlier.value)
            else:
                study.tell(trial, state=TrialState.FAIL)

    def _unmeasured(self, study: Study, slot: int) -> Configuration | None:
        """A configuration the study has not seen (and the constraints admit), when TPE keeps
        repeating itself or proposing what the constraints exclude."""
        space = self.case.space
        known = self._seen(study)
        rng = random.Random(derive_seed(self.case.search.seed, -1 - slot))
        size = space.size
        if size is not None and space.uniform and size <= MAX_ENUMERATED:
            candidates = (space.at(self.case.name, i, slot=slot)
                          for i in rng.sample(range(size), size))
        else:
            candidates = (space.draw(self.case.name, rng, slot=slot) for _ in range(1000))
        admit = self._admit
        return next((c for c in candidates if c.key not in known
                     and (admit is None or admit(dict(c.params)))), None)
