"""SGDR: stochastic gradient descent with warm restarts.

The learning rate follows a cosine from `max_lr` down to `min_lr` over a
cycle of `T_i` epochs, then jumps back up (a warm restart); cycles grow by
`cycle_mult` and peaks may shrink by `max_lr_decay`. `T_cur` advances every
batch, as in the paper.

The rate is computed inside the compiled train step from the optimizer's
iteration counter (an `SGDRSchedule` installed on the optimizer while `fit`
runs), so it is exact at every step, including with `steps_per_execution >
1` and when `fit` is called again to continue training. A Python assignment
per batch would see only one call per execution.

Reference:
    - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with
      Warm Restarts".
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from callbacks import schedules
from zoo import _common


@keras.saving.register_keras_serializable(package="callbacks")
class SGDRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """SGDR as a `LearningRateSchedule` of the optimizer's step counter.

    `SGDR` installs one on the optimizer while `fit` runs; it can also be
    passed to an optimizer directly. The rate at optimizer step `s` is
    `schedules.sgdr_learning_rate((s - step_offset) / steps_per_epoch, ...)`.

    Args:
        max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay: as in `SGDR`.
        steps_per_epoch: batches per epoch.
        step_offset: the optimizer step at which epoch 0 of the schedule
            began (it lets a continued `fit` resume mid-schedule).
    """

    def __init__(
        self,
        max_lr: float,
        *,
        min_lr: float = 0.0,
        cycle_epochs: int = 10,
        cycle_mult: int = 2,
        max_lr_decay: float = 1.0,
        steps_per_epoch: int = 1,
        step_offset: int = 0,
    ):
        (
            self.max_lr,
            self.min_lr,
            self.cycle_epochs,
            self.cycle_mult,
            self.max_lr_decay,
        ) = schedules.check_sgdr_arguments(
            max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay
        )
        self.steps_per_epoch = _common.check_positive_int(
            "steps_per_epoch", steps_per_epoch
        )
        if isinstance(step_offset, bool) or not isinstance(step_offset, int):
            raise _common.invalid("step_offset", "an integer", step_offset)
        self.step_offset = step_offset

    def __call__(self, step):
        return schedules.sgdr_learning_rate_op(
            step - self.step_offset,
            steps_per_epoch=self.steps_per_epoch,
            max_lr=self.max_lr,
            min_lr=self.min_lr,
            cycle_epochs=self.cycle_epochs,
            cycle_mult=self.cycle_mult,
            max_lr_decay=self.max_lr_decay,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "min_lr": self.min_lr,
            "cycle_epochs": self.cycle_epochs,
            "cycle_mult": self.cycle_mult,
            "max_lr_decay": self.max_lr_decay,
            "steps_per_epoch": self.steps_per_epoch,
            "step_offset": self.step_offset,
        }


# Installing a schedule on a compiled model's optimizer --------------------------
#
# Keras 3 optimizers hold either a float learning rate (a tracked, non-trainable
# variable) or a `LearningRateSchedule` that they call with their iteration
# counter inside the train step. The public `learning_rate` setter accepts a
# schedule and untracks the variable, so the optimizer's variables (what
# `.keras` files and the JAX train state hold) match those of an optimizer
# built with a schedule: checkpoints written during training load cleanly. It
# cannot switch back (it would `assign` to the schedule), so `restore` puts the
# variable back itself, at its old position among the optimizer's variables.
# The compiled train function captured the old rate, so both directions make
# the model build a fresh one (traced on its next call).


def _target_optimizer(optimizer):
    # A LossScaleOptimizer (mixed precision) delegates to its inner optimizer.
    return getattr(optimizer, "inner_optimizer", optimizer)


def optimizer_step(model) -> int:
    """The optimizer's raw iteration counter (batches, even with accumulation)."""
    optimizer = _target_optimizer(model.optimizer)
    counter = getattr(optimizer, "_iterations", optimizer.iterations)
    return int(ops.convert_to_numpy(counter))


def install_schedule(model, schedule):
    """Makes `model`'s optimizer follow `schedule`; returns what `restore` needs."""
    optimizer = _target_optimizer(model.optimizer)
    previous = optimizer._learning_rate
    position = None
    if isinstance(previous, keras.Variable):
        position = next(
            index
            for index, variable in enumerate(optimizer._variables)
            if variable is previous
        )
    optimizer.learning_rate = schedule
    model.make_train_function(force=True)
    return optimizer, previous, position


def restore_learning_rate(model, token) -> None:
    """Undoes `install_schedule`."""
    optimizer, previous, position = token
    if position is None:
        optimizer.learning_rate = previous
    else:
        # Attribute assignment tracks the variable again (appending it);
        # move it back to where it was.
        optimizer._learning_rate = previous
        tracked = optimizer._variables
        current = next(
            index for index, variable in enumerate(tracked) if variable is previous
        )
        tracked.insert(position, tracked.pop(current))
    model.train_function = None


class SGDR(keras.callbacks.Callback):
    """Stochastic gradient descent with warm restarts (cosine annealing).

    `lr = min_lr + (max_lr_i - min_lr) * (1 + cos(pi * T_cur / T_i)) / 2`,
    where `T_cur` counts epochs (fractional: it advances every batch) since
    the last restart, cycles last `T_i = cycle_epochs * cycle_mult**i`
    epochs and peaks are `max_lr_i = max(min_lr, max_lr * max_lr_decay**i)`.

    While `fit` runs, the optimizer holds an `SGDRSchedule` that computes the
    rate in-graph from its iteration counter: exact at every step, with any
    `steps_per_execution`, across restarts, and when `fit` is called again
    with `initial_epoch` (the schedule resumes at that epoch). Afterwards the
    optimizer's own learning rate is back. Each epoch's logs (and so
    `history.history`) get `learning_rate`: the rate the epoch's last step
    used.

    Compared with `keras.optimizers.schedules.CosineDecayRestarts`, which
    counts optimizer steps and gives the floor as a fraction of the peak,
    `SGDR` takes cycles in epochs and `min_lr` as an absolute rate, resumes
    with `initial_epoch`, logs the rate into the history, and exposes
    `cycle_ends` so that `SnapshotEnsemble` can snapshot at the minima.

    Args:
        max_lr: peak learning rate of the first cycle.
        min_lr: the rate every cycle anneals to (absolute).
        cycle_epochs: `T_0`, the first cycle's length in epochs.
        cycle_mult: `T_mult`, an integer >= 1 by which each cycle outgrows
            the last (1: equal cycles).
        max_lr_decay: factor in (0, 1] applied to the peak at each restart.
        steps_per_epoch: batches per epoch; by default the number `fit`
            reports (required when the data has no known length).

    Example:

    >>> sgdr = SGDR(0.1, min_lr=1e-4, cycle_epochs=2, cycle_mult=2)
    >>> history = model.fit(x, y, epochs=14, callbacks=[sgdr])
    >>> history.history["learning_rate"]  # the last step's rate per epoch
    >>> sgdr.cycle_ends
    [2, 6, 14]

    Reference:
        - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with
          Warm Restarts".
    """

    def __init__(
        self,
        max_lr: float,
        *,
        min_lr: float = 0.0,
        cycle_epochs: int = 10,
        cycle_mult: int = 2,
        max_lr_decay: float = 1.0,
        steps_per_epoch: int | None = None,
    ):
        super().__init__()
        (
            self.max_lr,
            self.min_lr,
            self.cycle_epochs,
            self.cycle_mult,
            self.max_lr_decay,
        ) = schedules.check_sgdr_arguments(
            max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay
        )
        if steps_per_epoch is not None:
            steps_per_epoch = _common.check_positive_int(
                "steps_per_epoch", steps_per_epoch
            )
        self.steps_per_epoch = steps_per_epoch
        self.schedule: SGDRSchedule | None = None
        self._token = None
        self._steps = None

    @property
    def cycle_ends(self) -> list[int]:
        """Epochs (counted from 1) at whose end a cycle ends, within `fit`'s epochs."""
        if not self.params or self.params.get("epochs") is None:
            raise RuntimeError(
                "SGDR.cycle_ends is known once fit() has started (it needs the "
                "number of epochs). Before that, use "
                "callbacks.schedules.sgdr_cycle_ends(epochs, ...)."
            )
        return schedules.sgdr_cycle_ends(
            self.params["epochs"],
            cycle_epochs=self.cycle_epochs,
            cycle_mult=self.cycle_mult,
        )

    @property
    def active(self) -> bool:
        """Whether the schedule is installed (between the first epoch and the end)."""
        return self._token is not None

    def learning_rate_at(self, epoch: float) -> float:
        """The rate at a (fractional) epoch: `schedules.sgdr_learning_rate`."""
        return schedules.sgdr_learning_rate(
            epoch,
            max_lr=self.max_lr,
            min_lr=self.min_lr,
            cycle_epochs=self.cycle_epochs,
            cycle_mult=self.cycle_mult,
            max_lr_decay=self.max_lr_decay,
        )

    def on_train_begin(self, logs=None):
        if self._token is not None:
            # The last fit stopped on an exception, before on_train_end.
            restore_learning_rate(self.model, self._token)
            self._token = None
        self._steps = fit_steps_per_epoch(self, self.steps_per_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if self._token is not None:
            return
        # The first epoch of this fit (`initial_epoch`): place the schedule so
        # that this epoch starts at `epoch` epochs into it.
        self.schedule = SGDRSchedule(
            self.max_lr,
            min_lr=self.min_lr,
            cycle_epochs=self.cycle_epochs,
            cycle_mult=self.cycle_mult,
            max_lr_decay=self.max_lr_decay,
            steps_per_epoch=self._steps,
            step_offset=optimizer_step(self.model) - epoch * self._steps,
        )
        self._token = install_schedule(self.model, self.schedule)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self._token is None:
            return
        # The rate of the epoch's last step, from the same formula in Python
        # (cheaper than running the schedule's ops eagerly).
        last_step = optimizer_step(self.model) - 1 - self.schedule.step_offset
        logs["learning_rate"] = self.learning_rate_at(max(last_step, 0) / self._steps)

    def on_train_end(self, logs=None):
        if self._token is not None:
            restore_learning_rate(self.model, self._token)
            self._token = None


def fit_steps_per_epoch(callback, steps_per_epoch: int | None) -> int:
    """`steps_per_epoch` if given, else the batches per epoch `fit` reports."""
    if steps_per_epoch is not None:
        return steps_per_epoch
    steps = (callback.params or {}).get("steps")
    if not steps:
        raise ValueError(
            f"Invalid value for argument `steps_per_epoch`: expected a positive "
            f"integer when fit() cannot tell the number of batches per epoch "
            f"(data of unknown length). Received: steps_per_epoch={steps_per_epoch!r}"
        )
    return int(steps)
