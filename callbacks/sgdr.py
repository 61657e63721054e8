"""SGDR: stochastic gradient descent with warm restarts.

The learning rate follows a cosine from `max_lr` down to `min_lr` over a
cycle of `T_i` epochs, then jumps back up (a warm restart); cycles grow by
`cycle_mult` and peaks may shrink by `max_lr_decay`. `T_cur` advances every
batch, as in the paper.

The rate is computed inside the compiled train step from the optimizer's
iteration counter (an `SGDRSchedule` installed on the optimizer while `fit`
runs), so it is exact at every step, including with `steps_per_execution >
1` and when `fit` is called again to continue training. A Python assignment
per batch would see only one call per execution. Without peak decay the
schedule is Keras' `CosineDecayRestarts` in epochs (see `SGDRSchedule` for
where own code remains, and why).

Reference:
    - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with
      Warm Restarts".
"""

from __future__ import annotations

from typing import Any

import keras

from callbacks import _checks, schedules
from callbacks._optimizer import InGraphScheduleCallback

_SGDR_ARGUMENTS = ("max_lr", "min_lr", "cycle_epochs", "cycle_mult", "max_lr_decay")


def _sgdr_arguments(owner: SGDRSchedule | SGDR) -> dict[str, Any]:
    """The five SGDR hyperparameters of an `SGDR` or an `SGDRSchedule`, by name."""
    return {name: getattr(owner, name) for name in _SGDR_ARGUMENTS}


@keras.saving.register_keras_serializable(package="callbacks")
class SGDRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """SGDR as a `LearningRateSchedule` of the optimizer's step counter.

    `SGDR` installs one on the optimizer while `fit` runs; it can also be
    passed to an optimizer directly. The rate at optimizer step `s` is
    `schedules.sgdr_learning_rate((s - step_offset) / steps_per_epoch, ...)`
    (steps before `step_offset` get the first step's rate).

    Without peak decay (`max_lr_decay=1`) this is Keras'
    `keras.optimizers.schedules.CosineDecayRestarts(max_lr,
    first_decay_steps=cycle_epochs * steps_per_epoch, t_mul=cycle_mult,
    alpha=min_lr / max_lr)` shifted by `step_offset`, and for equal cycles
    (`cycle_mult=1`) the rate is computed by it. Growing cycles and a
    decaying peak use own code (`schedules.sgdr_learning_rate_op`): Keras
    finds the cycle from a float32 logarithm, which puts later restarts a
    step late, and its `m_mul` shrinks the amplitude above the floor where
    SGDR shrinks the peak and clamps it at `min_lr`.

    Args:
        max_lr: peak learning rate of the first cycle.
        min_lr: the rate every cycle anneals to (absolute).
        cycle_epochs: the first cycle's length in epochs.
        cycle_mult: an integer >= 1 by which each cycle outgrows the last.
        max_lr_decay: factor in (0, 1] applied to the peak at each restart.
        steps_per_epoch: batches per epoch.
        step_offset: the optimizer step at which epoch 0 of the schedule
            began (it lets a continued `fit` resume mid-schedule).

    Example:

    >>> schedule = SGDRSchedule(0.1, cycle_epochs=1, cycle_mult=2, steps_per_epoch=2)
    >>> [round(float(schedule(step)), 4) for step in range(7)]  # restarts at 2 and 6
    [0.1, 0.05, 0.1, 0.0854, 0.05, 0.0146, 0.1]
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule)
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
        self.max_lr, self.min_lr, self.cycle_epochs, self.cycle_mult, self.max_lr_decay = (
            schedules.check_sgdr_arguments(max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay)
        )
        self.steps_per_epoch = _checks.check_int("steps_per_epoch", steps_per_epoch)
        self.step_offset = _checks.check_int("step_offset", step_offset, None)

    def __call__(self, step):
        return schedules.sgdr_learning_rate_op(
            step - self.step_offset,
            steps_per_epoch=self.steps_per_epoch,
            **_sgdr_arguments(self),
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **_sgdr_arguments(self),
            "steps_per_epoch": self.steps_per_epoch,
            "step_offset": self.step_offset,
        }


class SGDR(InGraphScheduleCallback):
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

    Compared with `keras.optimizers.schedules.CosineDecayRestarts` (on
    which `SGDRSchedule` builds), which counts optimizer steps and gives the
    floor as a fraction of the peak, `SGDR` takes cycles in epochs and
    `min_lr` as an absolute rate, decays the peak itself (never below
    `min_lr`), resumes with `initial_epoch`, logs the rate into the history,
    and exposes `cycle_ends` so that `SnapshotEnsemble` can snapshot at the
    minima.

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

    >>> import keras
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
    >>> sgdr = SGDR(0.1, min_lr=1e-3, cycle_epochs=1, cycle_mult=2)
    >>> history = model.fit(x, y, batch_size=8, epochs=7, callbacks=[sgdr],
    ...                     verbose=0)
    >>> sgdr.cycle_ends  # cycles of 1, 2 and 4 epochs
    [1, 3, 7]
    >>> [round(rate, 4) for rate in history.history["learning_rate"]]
    [0.0155, 0.0694, 0.0048, 0.0917, 0.0602, 0.023, 0.002]
    >>> sgdr.learning_rate_at(0.5)  # half way through the first cycle
    0.0505
    >>> float(model.optimizer.learning_rate)  # the optimizer's own rate is back
    0.01

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
        super().__init__(steps_per_epoch)
        self.max_lr, self.min_lr, self.cycle_epochs, self.cycle_mult, self.max_lr_decay = (
            schedules.check_sgdr_arguments(max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay)
        )

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
        return schedules.sgdr_learning_rate(epoch, **_sgdr_arguments(self))

    def make_schedule(self, steps_per_epoch: int) -> SGDRSchedule:
        return SGDRSchedule(**_sgdr_arguments(self), steps_per_epoch=steps_per_epoch)

    def rate_at_step(self, step: int) -> float:
        return self.learning_rate_at(step / self._steps)
