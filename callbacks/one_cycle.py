"""One-cycle: Smith's "disciplined approach" to the learning rate.

The rate rises from `max_lr / div_factor` to `max_lr` over the first
`pct_start` of the steps of the `fit` it is passed to, then anneals to
`max_lr / div_factor / final_div_factor` at the last step: PyTorch's
`OneCycleLR` and fastai's `fit_one_cycle`, with their argument names and
defaults. Keras has no such schedule, hence this one.

As in `SGDR`, the rate is computed inside the compiled train step from the
optimizer's step counter (a `OneCycleSchedule` installed while `fit` runs),
so it is exact at every step with any `steps_per_execution`, and a resumed
`fit` (`initial_epoch`, `BackupAndRestore`) carries on along the cycle.

Momentum is not cycled: Keras optimizers read `momentum` / `beta_1` as
Python floats fixed when the train step is traced, so changing them per
step would need a re-trace every step. The rate alone is cycled.

Reference:
    - Smith, 2018, "A disciplined approach to neural network
      hyper-parameters: Part 1 - learning rate, batch size, momentum, and
      weight decay".
    - Smith & Topin, 2017, "Super-Convergence".
"""

from __future__ import annotations

from typing import Any

import keras

from callbacks import _checks, schedules
from callbacks._optimizer import (
    fit_steps_per_epoch,
    install_schedule,
    optimizer_step,
    restore_learning_rate,
)

_ARGUMENTS = ("max_lr", "pct_start", "div_factor", "final_div_factor", "anneal")


@keras.saving.register_keras_serializable(package="callbacks")
class OneCycleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle rate as a `LearningRateSchedule` of the optimizer's step.

    The rate at optimizer step `s` is
    `schedules.one_cycle_learning_rate(s - step_offset, ...)`.

    Args:
        max_lr: the peak rate.
        total_steps: the steps of the whole cycle.
        pct_start: the share of the steps spent rising.
        div_factor: the first rate is `max_lr / div_factor`.
        final_div_factor: the last rate is `max_lr / div_factor / final_div_factor`.
        anneal: `"cos"` or `"linear"`.
        step_offset: the optimizer step at which the cycle began.

    Example:
    >>> schedule = OneCycleSchedule(1.0, total_steps=5)
    >>> [round(float(schedule(step)), 4) for step in range(5)]
    [0.04, 0.9505, 0.6113, 0.1883, 0.0]
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        step_offset: int = 0,
    ):
        (self.max_lr, self.total_steps, self.pct_start, self.div_factor,
         self.final_div_factor, self.anneal) = schedules.check_one_cycle_arguments(
            max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal)
        self.step_offset = _checks.check_int("step_offset", step_offset, None)

    def __call__(self, step):
        return schedules.one_cycle_learning_rate_op(
            step - self.step_offset, total_steps=self.total_steps,
            **{name: getattr(self, name) for name in _ARGUMENTS},
        )

    def get_config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*_ARGUMENTS, "total_steps", "step_offset")}


class OneCycle(keras.callbacks.Callback):
    """The one-cycle learning-rate policy over the steps of one `fit`.

    `total_steps` is `epochs * steps_per_epoch` of the `fit` (epochs counted
    from 0, so a `fit` resumed at `initial_epoch` carries on along the same
    cycle). Each epoch's logs get `learning_rate`, the rate of its last
    step; after `fit` the optimizer's own rate is back.

    Args:
        max_lr: the peak rate.
        pct_start: the share of the steps spent rising (torch: 0.3).
        div_factor: the first rate is `max_lr / div_factor` (torch: 25).
        final_div_factor: the last rate is `max_lr / div_factor /
            final_div_factor` (torch: 1e4).
        anneal: `"cos"` (torch's default) or `"linear"`.
        steps_per_epoch: batches per epoch; by default what `fit` reports.

    Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
    >>> history = model.fit(x, x[:, :1], batch_size=8, epochs=5, verbose=0,
    ...                     callbacks=[OneCycle(0.1)])
    >>> [round(rate, 4) for rate in history.history["learning_rate"]]
    [0.0668, 0.095, 0.0611, 0.0188, 0.0]

    Reference:
        - Smith, 2018, "A disciplined approach to neural network
          hyper-parameters: Part 1".
    """

    def __init__(
        self,
        max_lr: float,
        *,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        steps_per_epoch: int | None = None,
    ):
        super().__init__()
        (self.max_lr, _, self.pct_start, self.div_factor, self.final_div_factor,
         self.anneal) = schedules.check_one_cycle_arguments(
            max_lr, 2, pct_start, div_factor, final_div_factor, anneal)
        if steps_per_epoch is not None:
            steps_per_epoch = _checks.check_int("steps_per_epoch", steps_per_epoch)
        self.steps_per_epoch = steps_per_epoch
        self.schedule: OneCycleSchedule | None = None
        self._token = None
        self._steps = None

    def learning_rate_at(self, step: int) -> float:
        """The rate at step `step` of the cycle: `schedules.one_cycle_learning_rate`."""
        return schedules.one_cycle_learning_rate(
            step, total_steps=self.schedule.total_steps,
            **{name: getattr(self, name) for name in _ARGUMENTS},
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._token = restore_learning_rate(self._token)
        self._steps = fit_steps_per_epoch(self, self.steps_per_epoch)
        epochs = self.params.get("epochs") or 1
        self.schedule = OneCycleSchedule(
            total_steps=max(2, epochs * self._steps),
            **{name: getattr(self, name) for name in _ARGUMENTS},
        )
        # Installed before BackupAndRestore restores the optimizer (see SGDR).
        self._token = install_schedule(self.model, self.schedule)
        self._placed = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self._placed:
            return
        self._placed = True
        self.schedule.step_offset = optimizer_step(self.model) - epoch * self._steps

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None or self._token is None:
            return
        last_step = optimizer_step(self.model) - 1 - self.schedule.step_offset
        logs["learning_rate"] = self.learning_rate_at(max(last_step, 0))

    def on_train_end(self, logs: dict | None = None) -> None:
        self._token = restore_learning_rate(self._token)
