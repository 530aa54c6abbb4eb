"""Workers sharing one study: which worker runs which trial, so that none is lost, doubled or repeated.

Any number of worker processes (each an ``alignlab sweep run``, on any machine that reaches the
storage) run one study. A worker claims each trial under the study's lock
(:func:`alignlab.sweep.storage.url_lock`: a lock file for SQLite, an advisory lock for PostgreSQL):

1. fail the RUNNING trials whose heartbeat is stale (their worker died): Optuna's
   RetryHeartbeatStaleTrialCallback re-creates each one WAITING with the same params, and its MLflow run
   is ended KILLED (``on_ended``);
2. stop when the finished trials (:func:`alignlab.sweep.records.counts`; never a warm-start prior,
   alignlab.sweep.warm_start) reach the budget, and wait while
   finished + running trials reach it (a running trial may still die and need its retry);
3. else ask Optuna for a trial (WAITING ones first: an enqueued default or a retry), sample its params,
   and discard a draw that repeats the params of another trial (never for the grid sampler, an
   enqueued default or a retry): the discarded trial is FAIL with ``duplicate_of``, never counted,
   left out of every reading, and the worker draws again;
4. record the trial's first heartbeat, then release the lock and train.

A trial stopped by Ctrl-C or SIGTERM is FAIL without a reason (not counted) and re-created WAITING
with the same params, so the next worker to claim runs it again. Each worker seeds its sampler from
the sweep's seed and its join number (:func:`worker_seed`): the first worker of a study uses the seed
itself, so one worker and a seed reproduce a sweep; later ones never redraw its params.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from alignlab.errors import UserInputError
from alignlab.sweep import records
from alignlab.sweep.spec import distinct_configurations
from alignlab.sweep.storage import url_lock
from alignlab.sweep.warm_start import is_prior

if TYPE_CHECKING:
    import optuna

    from alignlab.sweep.spec import SweepSpec

#: Draws in a row that may repeat earlier params before the sweep gives up on finding new ones.
MAX_DRAWS = 25


class TrialFailed(Exception):
    """A trial's run failed (OOM, NaN loss, diverged KL); recorded FAIL with its reason, and counted."""


class Discarded(Exception):
    """The sampler proposed params another trial has: the draw is recorded (``duplicate_of``) and dropped."""


#: One trial: the trial, its algorithm and sampled params -> its objective value(s), or raises
#: optuna.TrialPruned / TrialFailed.
Objective = Callable[["optuna.Trial", str, dict[str, Any]], "float | tuple[float, ...]"]
#: Sampling: the trial -> its algorithm and params (alignlab.sweep.study.sample_params).
Sample = Callable[["optuna.Trial"], tuple[str, dict[str, Any]]]
#: Told which trials are over without their worker (number -> Optuna state, reason): ends their MLflow runs.
OnEnded = Callable[[Mapping[int, tuple[str, str]]], None]


def worker_seed(seed: int, worker: int) -> int:
    """The sampler seed of a study's ``worker``-th worker: the sweep's seed for the first, a derived one after."""
    if worker == 0:
        return seed
    digest = hashlib.sha256(f"{seed}:{worker}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1)


def worker_label(worker: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}#{worker}"


class Coordinator:
    """One worker's side of a shared study: claim, run and release trials against an exact budget."""

    def __init__(
        self,
        study: optuna.Study,
        spec: SweepSpec,
        *,
        url: str,
        budget: int,
        label: str,
        sample: Sample,
        on_ended: OnEnded,
        poll_s: float,
    ) -> None:
        self.study, self.spec, self.url, self.budget, self.label = study, spec, url, budget, label
        self.sample, self.on_ended, self.poll_s = sample, on_ended, poll_s
        self._lock = contextlib.ExitStack()
        self._current: int | None = None
        self._draws = 0
        self._random_next = False

    # ---- claiming -------------------------------------------------------------------------------

    def claim(self, deadline: float | None) -> bool:
        """Wait until this worker may start a trial (True, with the study's lock held: the trial's
        sampling releases it) or the study needs none (False: the budget is reached, or the deadline passed)."""
        while deadline is None or time.monotonic() < deadline:
            self._lock.enter_context(url_lock(self.url, f"study:{self.spec.name}"))
            try:
                self._fail_stale()
                trials = self.study.get_trials(deepcopy=False)
                finished = sum(1 for t in trials if records.counts(t))
                running = sum(1 for t in trials if t.state.name == "RUNNING" and not records.is_discarded(t))
            except BaseException:
                self._lock.close()
                raise
            if finished >= self.budget:
                self._lock.close()
                return False
            if finished + running < self.budget:
                return True
            self._lock.close()
            time.sleep(self.poll_s)
        return False

    def _fail_stale(self) -> None:
        import optuna

        running = {t.number for t in self.study.get_trials(deepcopy=False) if t.state.name == "RUNNING"}
        if not running:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" since Optuna 2.9
            optuna.storages.fail_stale_trials(self.study)
        dead = {
            t.number: ("FAIL", "its worker stopped sending heartbeats; retried with the same params")
            for t in self.study.get_trials(deepcopy=False)
            if t.number in running and t.state.name == "FAIL" and not records.counts(t)
        }
        self.on_ended(dead)

    def _sampled(self, trial: optuna.Trial) -> tuple[str, dict[str, Any]]:
        """Inside the trial, with the lock held: sample, check for a repeat, record the heartbeat, release."""
        try:
            self._current = trial.number
            trials = {t.number: t for t in self.study.get_trials(deepcopy=False)}
            frozen = trials[trial.number]
            given = bool(frozen.params) or "fixed_params" in frozen.system_attrs
            algorithm, params = self.sample(trial)
            records.write_worker(trial, self.label)
            repeat = None if given or self.spec.sampler.type == "grid" else _repeat_of(trials, trial)
            if repeat is not None:
                records.write_duplicate(trial, repeat)  # before the lock is released: never counted as running
                self._enqueue_untried(trials)
            storage = self.study._storage
            if hasattr(storage, "record_heartbeat"):
                storage.record_heartbeat(frozen._trial_id)
        finally:
            self._lock.close()
        if repeat is not None:
            self._draws += 1
            self._random_next = True
            if self._draws >= MAX_DRAWS:
                raise UserInputError(
                    f"sweep {self.spec.name!r}: the sampler proposed only configurations already tried in "
                    f"{MAX_DRAWS} draws in a row; the search space is exhausted (widen it, or lower budget.n_trials)"
                )
            raise Discarded(f"repeats trial {repeat}")
        self._draws = 0
        return algorithm, params

    def _enqueue_untried(self, trials: Mapping[int, optuna.trial.FrozenTrial]) -> None:
        """After a repeat in a finite space, queue one configuration no trial has (the sampler may keep
        preferring the tried ones: TPE does, near the end of a small categorical space)."""
        import random

        from alignlab.sweep.samplers import grid

        if distinct_configurations(self.spec) is None:
            return  # infinite: the next draw is random (:meth:`run_one`) and practically never repeats
        space = grid(self.spec)
        tried = {
            tuple(sorted((other.params or other.system_attrs.get("fixed_params") or {}).items()))
            for other in trials.values()
            if records.counts(other) or other.state.name in ("RUNNING", "WAITING")
        }
        names = list(space)
        untried = [
            combo
            for combo in itertools.product(*(space[n] for n in names))
            if tuple(sorted(zip(names, combo, strict=True))) not in tried
        ]
        if untried:
            choice = random.Random(f"{self.label}:{len(trials)}").choice(untried)
            self.study.enqueue_trial(dict(zip(names, choice, strict=True)))

    # ---- running ------------------------------------------------------------------------------------

    def run_one(self, objective: Objective) -> None:
        """Run the claimed trial (:meth:`claim` returned True) through Optuna, with its heartbeat."""
        from alignlab.sweep.secrets import mask_text

        def trial_function(trial: optuna.Trial) -> float | tuple[float, ...]:
            algorithm, params = self._sampled(trial)
            return objective(trial, algorithm, params)

        self._current = None
        sampler = self.study.sampler
        if self._random_next:  # the sampler just repeated itself: one random draw breaks the loop
            import optuna

            seed = int.from_bytes(hashlib.sha256(f"{self.label}:{self._draws}".encode()).digest()[:4], "big")
            self.study.sampler = optuna.samplers.RandomSampler(seed=seed)
            self._random_next = False
        try:
            self.study.optimize(trial_function, n_trials=1, catch=(TrialFailed, Discarded))
        except KeyboardInterrupt:
            self._release_interrupted("stopped (Ctrl-C or SIGTERM); retried with the same params")
            raise
        except UserInputError:
            raise
        except Exception as exc:
            self._release_interrupted(mask_text(f"the worker crashed: {type(exc).__name__}: {exc}"), retry=False)
            raise
        finally:
            self._lock.close()
            self.study.sampler = sampler

    def _release_interrupted(self, reason: str, *, retry: bool = True) -> None:
        """The trial this worker was running ended FAIL without a reason (Optuna did that): retry it."""
        if self._current is None:
            return
        frozen = next((t for t in self.study.get_trials(deepcopy=False) if t.number == self._current), None)
        if frozen is None or frozen.state.name != "FAIL" or records.counts(frozen) or records.is_discarded(frozen):
            return
        if retry:
            callback = getattr(self.study._storage, "get_heartbeat_stale_trial_callback", lambda: None)()
            if callback is not None:
                import copy

                callback(self.study, copy.deepcopy(frozen))
        self.on_ended({frozen.number: ("FAIL", reason)})

    def finish(self) -> None:
        """End the MLflow runs of trials that are over (a worker died, or was stopped) but left RUNNING."""
        with url_lock(self.url, f"study:{self.spec.name}"):
            self._fail_stale()
        over = {
            t.number: ("FAIL", "its worker stopped before the trial ended")
            for t in self.study.get_trials(deepcopy=False)
            if t.state.name == "FAIL" and not records.counts(t) and not records.is_discarded(t)
        }
        self.on_ended(over)


def _repeat_of(trials: Mapping[int, optuna.trial.FrozenTrial], trial: optuna.Trial) -> int | None:
    """The number of another trial (finished, running or waiting) with exactly these params, if any. A
    warm-start prior is not one: measuring its params on this study's data is a trial of its own."""
    params = trial.params
    for number, other in trials.items():
        if number == trial.number or (other.state.name == "FAIL" and not records.counts(other)) or is_prior(other):
            continue
        theirs = other.params or other.system_attrs.get("fixed_params") or {}
        if theirs == params:
            return number
    return None
