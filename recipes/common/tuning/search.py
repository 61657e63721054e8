"""The resumable searches and their fingerprint.

`ResumableRandomSearch`, `ResumableHyperband` and
`ResumableBayesianOptimization` are keras-tuner's tuners of those names on
their own oracles, resumed exactly (their state files written whole, never
half); each writes a per-trial `run.json` (who ran it, how long), clears
the Keras session between trials, and serves the chief's oracle over gRPC,
and gives a `keras.callbacks.TensorBoard` among the search's callbacks
keras-tuner's per-trial log folders and HParams on every backend. The
fingerprint refuses to resume a different search in the same folder.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import keras_tuner
from keras_tuner.engine import trial as trial_module

from recipes.common import artifacts
from recipes.common.tuning.results import RUN_FILE, write_results
from recipes.common.tuning.roles import Role, is_chief_oracle, serve

FINGERPRINT_FILE = "fingerprint.json"
SEARCHES = ("random", "hyperband", "bayesian")  # --search; random is the default
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


class _ResumableOracle:
    """Resume that trusts each trial's `trial.json` (mixed into keras-tuner's oracles).

    keras-tuner 1.4.8 re-queues every trial that `oracle.json` lists as
    ongoing. The chief saves `oracle.json` before it drops the trial that
    just ended, so its last trial stays "ongoing" there although its
    `trial.json` says COMPLETED, and a resume would run it again. Here
    finished trials leave the queue, and a trial a crash left RUNNING joins it
    even if `oracle.json` was saved before the trial started.
    """

    def save(self):
        """`oracle.json`, written whole (a temporary file renamed): keras-tuner
        writes it in place, and a kill mid-write left an empty file that
        stopped the resume."""
        artifacts.write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        """Each `trial.json`, written whole (as `save`)."""
        folder = self._get_trial_dir(trial.trial_id)
        artifacts.write_text(os.path.join(folder, "trial.json"), json.dumps(trial.get_state()))

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


class ResumableRandomSearchOracle(_ResumableOracle, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search, resumed exactly (`_ResumableOracle`)."""


class ResumableBayesianOptimizationOracle(
    _ResumableOracle, keras_tuner.oracles.BayesianOptimizationOracle
):
    """keras-tuner's Bayesian optimisation (a Gaussian process over the
    completed trials' scores), resumed exactly (`_ResumableOracle`).

    scikit-learn's warnings that the process's fit on a few trials hit a
    bound of its kernel are not shown: they are expected, and say nothing
    the user can act on.
    """

    def populate_space(self, trial_id):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().populate_space(trial_id)


class ResumableHyperbandOracle(_ResumableOracle, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's Hyperband, resumed exactly (`_ResumableOracle`).

    Its brackets and rounds live in `oracle.json`; a trial that continues an
    earlier one (`tuner/trial_id`) is re-run from that trial's checkpoint.
    A trial's `tuner/bracket` is the bracket it joined: keras-tuner 1.4.8
    writes the newest bracket there, which differs when workers fill an
    older bracket's round after a newer bracket has started.
    """

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        if values:
            for bracket in self._brackets:
                if any(info["id"] == trial_id for round_ in bracket["rounds"] for info in round_):
                    values["tuner/bracket"] = bracket["bracket_num"]
        return response

    @property
    def finished(self) -> bool:
        """Every bracket of the last iteration has all its trials, none runs."""
        if self._retry_queue or self.ongoing_trials:
            return False
        open_brackets = [
            bracket for bracket in self._brackets
            if len(bracket["rounds"][-1])
            != self._get_size(bracket["bracket_num"], len(bracket["rounds"]) - 1)
        ]
        return (
            not open_brackets
            and self._current_bracket == 0
            and self._current_iteration + 1 == self.hyperband_iterations
        )


class ResumableTuner(keras_tuner.Tuner):
    """A keras-tuner `Tuner` for one process, a chief or a worker, on any oracle.

    Adds, per trial, `trial_<id>/run.json` (tuner id, status, elapsed
    seconds: keras-tuner keeps neither), a cleared Keras session, and an
    up-to-date results table (one process; the chief writes it as trials end).
    The subclasses below pick the oracle, as keras-tuner's own tuners do.

    Args:
        hypermodel: a `keras_tuner.HyperModel`.
        oracle: a resumable oracle (above).
        role: a `Role`.
        **kwargs: `directory`, `project_name`, `executions_per_trial`.
    """

    def __init__(self, hypermodel, *, oracle, role: Role, **kwargs):
        # The recipe handles --overwrite itself: a worker must never delete a
        # directory it shares with the chief. `keras_tuner.Tuner.__init__` by
        # name: `keras_tuner.Hyperband.__init__` (next in `ResumableHyperband`'s
        # MRO) only builds its own, non-resumable oracle.
        keras_tuner.Tuner.__init__(
            self, oracle=oracle, hypermodel=hypermodel, overwrite=False, **kwargs
        )
        self.role = role
        self.trials_run: list[str] = []
        self._started: dict[str, float] = {}

    def save(self):
        """keras-tuner's `save` (the oracle's state on the chief, then this
        tuner's), each file written whole, as the oracle's are."""
        if not self._is_worker():
            self.oracle.save()
        artifacts.write_text(self._get_tuner_fname(), json.dumps(self.get_state()))

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

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        """keras-tuner's TensorBoard integration, on every backend, a re-run's logs only.

        `keras_tuner.Tuner.run_trial` calls this hook on its copies of the
        search's callbacks before each execution of a trial. keras-tuner
        1.4.8 points each `TensorBoard` at
        `<log_dir>/<trial_id>/execution<N>/` and adds the HParams plugin's
        Keras callback (`tensorboard.plugins.hparams.api.KerasCallback`),
        which writes there the trial's hyperparameters (its search space's,
        not Hyperband's `tuner/*` schedule) as an HParams session named by the
        trial id, but only with the TensorFlow backend. Done here the same way
        on every backend (both write with TensorFlow's summary writer).

        A trial that a kill interrupted runs again from its start: the
        interrupted attempt's folder is deleted first, so TensorBoard shows
        one session and one curve per trial, not two.
        """
        hyperparameters = trial.hyperparameters
        hparams = {
            hp.name: hyperparameters.values[hp.name]
            for hp in hyperparameters.space
            if hp.name in hyperparameters.values  # an inactive conditional one is not
        }
        for callback in list(callbacks):
            if not isinstance(callback, keras.callbacks.TensorBoard):
                continue
            log_dir = self._get_tensorboard_dir(callback.log_dir, trial.trial_id, execution)
            shutil.rmtree(log_dir, ignore_errors=True)
            callback.log_dir = log_dir
            from tensorboard.plugins.hparams import api as hparams_api

            callbacks.append(
                hparams_api.KerasCallback(log_dir, hparams, trial_id=trial.trial_id)
            )

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


class ResumableRandomSearch(ResumableTuner):
    """`keras_tuner.RandomSearch`: `max_trials` random draws of the space."""

    def __init__(self, hypermodel, *, objective, max_trials, seed, role: Role, **kwargs):
        oracle = ResumableRandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed
        )
        super().__init__(hypermodel, oracle=oracle, role=role, **kwargs)


class ResumableBayesianOptimization(ResumableTuner):
    """`keras_tuner.BayesianOptimization`: `num_initial_points` random trials
    (keras-tuner's default: 3 per hyperparameter), then a Gaussian process
    fitted to the scores so far proposes each next trial, up to `max_trials`."""

    def __init__(self, hypermodel, *, objective, max_trials, seed, role: Role,
                 num_initial_points=None, **kwargs):
        oracle = ResumableBayesianOptimizationOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            num_initial_points=num_initial_points,
        )
        super().__init__(hypermodel, oracle=oracle, role=role, **kwargs)


class ResumableHyperband(ResumableTuner, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband`: brackets of successive halving up to `max_epochs`.

    keras-tuner's own `Hyperband.run_trial` (a trial trains from
    `tuner/initial_epoch` to `tuner/epochs`) and `_build_hypermodel` (a trial
    with `tuner/trial_id` starts from that trial's best-epoch checkpoint) run
    the trials; the number of trials follows from `max_epochs` and `factor`.
    A continuing trial gets the optimizer's state too (keras-tuner's loads the
    weights only, warning that it skips the optimizer's).
    """

    def __init__(self, hypermodel, *, objective, max_epochs, factor, seed, role: Role,
                 **kwargs):
        oracle = ResumableHyperbandOracle(
            objective=objective, max_epochs=max_epochs, factor=factor, seed=seed
        )
        super().__init__(hypermodel, oracle=oracle, role=role, **kwargs)

    def _build_hypermodel(self, hp):
        if "tuner/trial_id" not in hp.values:
            return super()._build_hypermodel(hp)
        # keras_tuner.Hyperband._build_hypermodel, with the optimizer built
        # before the checkpoint loads, so that its moments and step count load too.
        model = keras_tuner.Tuner._build_hypermodel(self, hp)
        trial_id = hp.values["tuner/trial_id"]
        config = json.loads(Path(self._get_build_config_fname(trial_id)).read_text())
        model.build_from_config(config)
        if model.optimizer is not None:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self._get_checkpoint_fname(trial_id))
        return model
