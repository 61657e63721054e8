"""The resumable random search and its fingerprint.

`ResumableRandomSearch` is keras-tuner's random search that resumes exactly,
writes a per-trial `run.json` (who ran it, how long), clears the Keras
session between trials, and serves the chief's oracle over gRPC. The
fingerprint refuses to resume a different search in the same folder.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import keras
import keras_tuner
from keras_tuner.engine import trial as trial_module

from recipes.common import artifacts
from recipes.common.tuning.results import RUN_FILE, write_results
from recipes.common.tuning.roles import Role, is_chief_oracle, serve

FINGERPRINT_FILE = "fingerprint.json"
FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def fingerprint(description: dict[str, Any]) -> str:
    text = json.dumps(_plain(description), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_fingerprint(project_dir: Path, description: dict[str, Any]) -> None:
    """Raises `ValueError` if `project_dir` holds a different search.

    A project without a fingerprint but with keras-tuner state was not made
    by this recipe (or by an older version of it): refused too.
    """
    path = project_dir / FINGERPRINT_FILE
    advice = (
        "Re-run with --overwrite to start over, or choose another --project-name."
    )
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("fingerprint") != fingerprint(description):
            before, after = stored.get("search", {}), _plain(description)
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            raise ValueError(
                f"Project {str(project_dir)!r} holds a different search "
                f"(changed: {', '.join(changed) or 'fingerprint'}); it cannot be "
                f"resumed with these flags. {advice}"
            )
    elif (project_dir / "oracle.json").exists():
        raise ValueError(
            f"Project {str(project_dir)!r} holds a keras-tuner search without a "
            f"{FINGERPRINT_FILE}, so it cannot be checked. {advice}"
        )


def write_fingerprint(project_dir: Path, description: dict[str, Any]) -> None:
    artifacts.write_json(
        project_dir / FINGERPRINT_FILE,
        {"fingerprint": fingerprint(description), "search": _plain(description)},
    )


class ResumableRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose resume trusts each trial's `trial.json`.

    keras-tuner 1.4.8 re-queues every trial that `oracle.json` lists as
    ongoing. The chief saves `oracle.json` before it drops the trial that
    just ended, so its last trial stays "ongoing" there although its
    `trial.json` says COMPLETED, and a resume would run it again. Here
    finished trials leave the queue, and a trial a crash left RUNNING joins it
    even if `oracle.json` was saved before the trial started.
    """

    def reload(self):
        super().reload()
        queue = [
            trial_id
            for trial_id in self._retry_queue
            if self.trials[trial_id].status not in FINISHED
        ]
        for trial_id, trial in sorted(self.trials.items()):
            if trial.status == trial_module.TrialStatus.RUNNING and trial_id not in queue:
                queue.append(trial_id)
        self._retry_queue = queue

    @property
    def finished(self) -> bool:
        """No trial left to start or to re-run."""
        return (
            self.max_trials is not None
            and len(self.trials) >= self.max_trials
            and not self._retry_queue
            and not self.ongoing_trials
        )


class ResumableRandomSearch(keras_tuner.Tuner):
    """`keras_tuner.RandomSearch` for one process, a chief or a worker.

    Adds, per trial, `trial_<id>/run.json` (tuner id, status, elapsed
    seconds: keras-tuner keeps neither), a cleared Keras session, and an
    up-to-date results table (one process; the chief writes it as trials end).

    Args:
        hypermodel: a `keras_tuner.HyperModel`.
        objective: a `keras_tuner.Objective`.
        max_trials: trials in the whole search, resumed runs included.
        seed: the oracle's seed.
        role: a `Role`.
        **kwargs: `directory`, `project_name`, `executions_per_trial`.
    """

    def __init__(self, hypermodel, *, objective, max_trials, seed, role: Role, **kwargs):
        oracle = ResumableRandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed
        )
        # The recipe handles --overwrite itself: a worker must never delete a
        # directory it shares with the chief.
        super().__init__(oracle=oracle, hypermodel=hypermodel, overwrite=False, **kwargs)
        self.role = role
        self.trials_run: list[str] = []
        self._started: dict[str, float] = {}

    def search(self, *fit_args, **fit_kwargs):
        if not is_chief_oracle():
            return super().search(*fit_args, **fit_kwargs)
        self.oracle.verbose = fit_kwargs.get("verbose", 1)
        self.save()
        if self.oracle.finished:
            print("The search is complete: no trial left to run.")
            return None
        serve(self.oracle, self.role, on_progress=lambda: write_results(self, plot=False))
        # keras-tuner saved oracle.json before dropping the last ongoing trial.
        self.oracle.save()
        return None

    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        started = self._started.pop(trial.trial_id, None)
        elapsed = None if started is None else round(time.perf_counter() - started, 3)
        # Written before the chief hears of the end, so its table finds it.
        artifacts.write_json(
            Path(self.get_trial_dir(trial.trial_id)) / RUN_FILE,
            {
                "trial_id": trial.trial_id,
                "tuner_id": self.tuner_id,
                "status": trial.status,
                "elapsed_seconds": elapsed,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        self.trials_run.append(trial.trial_id)
        # Free this trial's graphs and models before the next one is built.
        keras.backend.clear_session()
        if keras.backend.backend() == "jax":
            import jax

            jax.clear_caches()  # compiled steps of models that no longer exist
        gc.collect()
        super().on_trial_end(trial)
        if self.role.kind == "single":
            write_results(self, plot=False)
