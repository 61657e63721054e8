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
from callbacks._optimizer import InGraphScheduleCallback

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


class OneCycle(InGraphScheduleCallback):
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
        super().__init__(steps_per_epoch)
        (self.max_lr, _, self.pct_start, self.div_factor, self.final_div_factor,
         self.anneal) = schedules.check_one_cycle_arguments(
            max_lr, 2, pct_start, div_factor, final_div_factor, anneal)

    def learning_rate_at(self, step: int) -> float:
        """The rate at step `step` of the cycle: `schedules.one_cycle_learning_rate`."""
        return schedules.one_cycle_learning_rate(
            step, total_steps=self.schedule.total_steps,
            **{name: getattr(self, name) for name in _ARGUMENTS},
        )

    def make_schedule(self, steps_per_epoch: int) -> OneCycleSchedule:
        epochs = self.params.get("epochs") or 1
        return OneCycleSchedule(
            total_steps=max(2, epochs * steps_per_epoch),
            **{name: getattr(self, name) for name in _ARGUMENTS},
        )

    def rate_at_step(self, step: int) -> float:
        return self.learning_rate_at(step)
