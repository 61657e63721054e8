"""Optimizer plumbing shared by `SGDR`, `SnapshotEnsemble` and `LRFinder`.

Installing a schedule on a compiled model's optimizer while `fit` runs:

Keras 3 optimizers hold either a float learning rate (a tracked,
non-trainable variable) or a `LearningRateSchedule` that they call with
their iteration counter inside the train step. The public `learning_rate`
setter accepts a schedule and untracks the variable, so the optimizer's
variables (what `.keras` files and the JAX train state hold) match those of
an optimizer built with a schedule: checkpoints written during training load
cleanly. It cannot switch back (it would `assign` to the schedule), so
`restore_learning_rate` puts the variable back itself, at its old position
among the optimizer's variables. The compiled train function captured the
old rate, so both directions make the model build a fresh one (traced on its
next call).

A `LossScaleOptimizer` (mixed precision) delegates to its inner optimizer,
which is the one that holds the rate and the step counter.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from callbacks import _checks

# What `install_schedule` returns and `restore_learning_rate` takes:
# (model, optimizer, previous learning rate, its index among the variables).
Token = tuple[keras.Model, keras.optimizers.Optimizer, Any, int | None]


def target_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that holds the learning rate (the inner one of a `LossScaleOptimizer`)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def optimizer_step(model: keras.Model) -> int:
    """The optimizer's raw iteration counter (batches, even with accumulation)."""
    optimizer = target_optimizer(model.optimizer)
    counter = getattr(optimizer, "_iterations", optimizer.iterations)
    return int(ops.convert_to_numpy(counter))


def _index(variables, variable) -> int:
    return next(index for index, tracked in enumerate(variables) if tracked is variable)


def install_schedule(
    model: keras.Model, schedule: keras.optimizers.schedules.LearningRateSchedule
) -> Token:
    """Makes `model`'s optimizer follow `schedule`; returns what restoring needs."""
    optimizer = target_optimizer(model.optimizer)
    previous = optimizer._learning_rate
    position = None
    if isinstance(previous, keras.Variable):
        position = _index(optimizer._variables, previous)
    optimizer.learning_rate = schedule
    model.make_train_function(force=True)
    return model, optimizer, previous, position


def restore_learning_rate(token: Token | None) -> None:
    """Undoes `install_schedule` (nothing to do for `None`); returns `None`.

    Callbacks keep the token while their schedule is installed and write
    `self._token = restore_learning_rate(self._token)`.
    """
    if token is None:
        return None
    model, optimizer, previous, position = token
    if position is None:
        optimizer.learning_rate = previous
    else:
        # Attribute assignment tracks the variable again (appending it);
        # move it back to where it was.
        optimizer._learning_rate = previous
        tracked = optimizer._variables
        tracked.insert(position, tracked.pop(_index(tracked, previous)))
    model.train_function = None
    return None


def reuse_train_function(model: keras.Model, cached: tuple | None, key: Any) -> tuple:
    """Puts back the train function a previous `fit` traced with the same schedule.

    `install_schedule` makes a new train function (the step must read the
    schedule), which `fit` traces again: for a large model, its whole trace
    per `fit` call. Call this once the schedule is final for this `fit`
    (its offset placed, before the first step): if `cached` (what the last
    call returned) was traced for the same model, compilation, execution
    size and schedule `key`, it goes back on the model and nothing is traced;
    otherwise the model's new function is kept for next time.

    Returns:
        `(full key, train function)`, to pass as `cached` next time.
    """
    full_key = (
        id(model), id(model.optimizer), id(getattr(model, "_compile_loss", None)),
        id(getattr(model, "_compile_metrics", None)),
        getattr(model, "steps_per_execution", 1), key,
    )
    if cached is not None and cached[0] == full_key:
        model.train_function = cached[1]
        return cached
    return full_key, model.train_function


def fit_steps_per_epoch(callback: keras.callbacks.Callback, steps_per_epoch: int | None) -> int:
    """`steps_per_epoch` if given, else the batches per epoch `fit` reports."""
    if steps_per_epoch is not None:
        return steps_per_epoch
    steps = (callback.params or {}).get("steps")
    if not steps:
        raise _checks.invalid(
            "steps_per_epoch",
            "a positive integer when fit() cannot tell the number of batches per "
            "epoch (data of unknown length)",
            steps_per_epoch,
        )
    return int(steps)


class InGraphScheduleCallback(keras.callbacks.Callback):
    """What `SGDR` and `OneCycle` share: a schedule installed for one `fit`.

    At train begin the subclass's `make_schedule(steps_per_epoch)` is
    installed on the optimizer (before `BackupAndRestore`, placed after it,
    restores the optimizer's variables); when the first epoch begins the
    schedule's `step_offset` places it at that epoch (`initial_epoch`, or
    the epoch a backup resumes from; no step has been traced yet), and a
    train step traced by an earlier `fit` with the same schedule and offset
    is reused instead of traced again (`reuse_train_function`). Each
    epoch's logs get `learning_rate`, `rate_at_step(step)` of its last step;
    at train end the optimizer's own rate is back.
    """

    def __init__(self, steps_per_epoch: int | None = None):
        super().__init__()
        if steps_per_epoch is not None:
            steps_per_epoch = _checks.check_int("steps_per_epoch", steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        self.schedule = None
        self._traced = None
        self._token = None
        self._steps = None
        self._placed = False

    def make_schedule(self, steps_per_epoch: int):
        raise NotImplementedError

    def rate_at_step(self, step: int) -> float:
        raise NotImplementedError

    def on_train_begin(self, logs: dict | None = None) -> None:
        # A schedule still installed: the last fit stopped on an exception.
        self._token = restore_learning_rate(self._token)
        self._steps = fit_steps_per_epoch(self, self.steps_per_epoch)
        self.schedule = self.make_schedule(self._steps)
        self._token = install_schedule(self.model, self.schedule)
        self._placed = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._placed:
            return
        self._placed = True
        self.schedule.step_offset = optimizer_step(self.model) - epoch * self._steps
        # A later fit with the same schedule reuses this fit's traced step.
        key = (type(self.schedule).__name__, repr(sorted(self.schedule.get_config().items())),
               self.schedule.step_offset)
        self._traced = reuse_train_function(self.model, self._traced, key)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or self._token is None:
            return
        # The rate of the epoch's last step, from the same formula in Python
        # (cheaper than running the schedule's ops eagerly).
        last_step = optimizer_step(self.model) - 1 - self.schedule.step_offset
        logs["learning_rate"] = self.rate_at_step(max(last_step, 0))

    def on_train_end(self, logs: dict | None = None) -> None:
        self._token = restore_learning_rate(self._token)
