"""Learning-rate schedule maths, in one place.

Plain functions of the step or epoch, tested against tables of expected
values. Each schedule comes twice: a Python version (`float` in, `float`
out) for tables, plots and logs, and a `keras.ops` version (`*_op`) that the
callbacks evaluate inside the compiled train step from the optimizer's
iteration counter, so that the rate is exact at every step on any backend
and with any `steps_per_execution`. The tests check that both agree. Where
Keras' `CosineDecayRestarts` computes the same rate exactly (equal cycles
with a constant peak), the ops delegate to it (`cosine_restarts_op`).

- `cosine_annealing`: half a cosine from `max_lr` down to `min_lr`.
- `cosine_restarts_op`: equal cycles of it, in-graph (Keras'
  `CosineDecayRestarts` with `t_mul=1`).
- `sgdr_cycle`, `sgdr_learning_rate`, `sgdr_cycle_ends`,
  `sgdr_cycle_table`: cosine annealing with warm restarts (Loshchilov &
  Hutter, 2017).
- `snapshot_cycle_length`, `snapshot_learning_rate`, `snapshot_cycle_ends`:
  the cyclic cosine schedule of snapshot ensembles (Huang et al., 2017).
- `exponential_sweep`: the learning-rate range test's sweep (Smith, 2017).

Reference:
    - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with
      Warm Restarts".
    - Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free".
    - Smith, 2017, "Cyclical Learning Rates for Training Neural Networks".
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from callbacks import _checks


def _check_cycle_mult(value: Any) -> int:
    return _checks.check_int("cycle_mult", value, 1, "an integer >= 1")


def _check_max_lr_decay(value: Any) -> float:
    return _checks.check_real("max_lr_decay", value, lambda v: 0 < v <= 1, "a float in (0, 1]")


def _check_lr_range(max_lr: Any, min_lr: Any) -> tuple[float, float]:
    max_lr = _checks.check_positive_float("max_lr", max_lr)
    min_lr = _checks.check_non_negative_float("min_lr", min_lr)
    if min_lr > max_lr:
        raise _checks.invalid("min_lr", f"a rate <= max_lr={max_lr!r}", min_lr)
    return max_lr, min_lr


def check_sgdr_arguments(
    max_lr: Any, min_lr: Any, cycle_epochs: Any, cycle_mult: Any, max_lr_decay: Any
) -> tuple[float, float, int, int, float]:
    """Validates the SGDR hyperparameters and returns them normalised."""
    max_lr, min_lr = _check_lr_range(max_lr, min_lr)
    cycle_epochs = _checks.check_int("cycle_epochs", cycle_epochs)
    cycle_mult = _check_cycle_mult(cycle_mult)
    max_lr_decay = _check_max_lr_decay(max_lr_decay)
    return max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay


# Cosine annealing ----------------------------------------------------------


def cosine_annealing(progress: float, *, max_lr: float, min_lr: float = 0.0) -> float:
    """Half a cosine from `max_lr` (progress 0) down to `min_lr` (progress 1).

    `min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2`.

    Args:
        progress: position in the cycle, in [0, 1].
        max_lr: the rate at the start of the cycle.
        min_lr: the rate at the end of the cycle.

    Returns:
        The learning rate, a float.
    """
    progress = _checks.check_real("progress", progress, lambda v: 0 <= v <= 1, "a float in [0, 1]")
    max_lr, min_lr = _check_lr_range(max_lr, min_lr)
    return min_lr + (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


# SGDR ----------------------------------------------------------------------


def sgdr_cycle(
    epoch: float, *, cycle_epochs: int = 10, cycle_mult: int = 2
) -> tuple[int, float, int]:
    """Where a (fractional) epoch falls among SGDR's cycles.

    Cycles last `cycle_epochs * cycle_mult**i` epochs (`T_i`); a restart
    happens exactly when a cycle's last epoch is complete.

    Args:
        epoch: epochs since the schedule started; fractional epochs count
            batches (`epoch + batch / steps_per_epoch`), as in the paper.
        cycle_epochs: length of the first cycle `T_0`, in epochs.
        cycle_mult: factor `T_mult` by which each cycle outgrows the last.

    Returns:
        `(cycle_index, t_cur, t_i)`: the 0-based cycle, the epochs elapsed in
        it and its length in epochs.

    Example:

    >>> sgdr_cycle(3.5, cycle_epochs=2, cycle_mult=2)
    (1, 1.5, 4)
    """
    epoch = _checks.check_non_negative_float("epoch", epoch)
    cycle_epochs = _checks.check_int("cycle_epochs", cycle_epochs)
    cycle_mult = _check_cycle_mult(cycle_mult)
    if cycle_mult == 1:
        cycle = int(epoch // cycle_epochs)
        return cycle, epoch - cycle * cycle_epochs, cycle_epochs
    cycle, start, length = 0, 0, cycle_epochs
    while epoch >= start + length:
        start += length
        length *= cycle_mult
        cycle += 1
    return cycle, epoch - start, length


def sgdr_learning_rate(
    epoch: float,
    *,
    max_lr: float,
    min_lr: float = 0.0,
    cycle_epochs: int = 10,
    cycle_mult: int = 2,
    max_lr_decay: float = 1.0,
) -> float:
    """SGDR's learning rate at a (fractional) epoch.

    `min_lr + (max_lr_i - min_lr) * (1 + cos(pi * T_cur / T_i)) / 2` with
    `max_lr_i = max(min_lr, max_lr * max_lr_decay**i)` in cycle `i`.

    Args:
        epoch: epochs since the schedule started, fractional within an epoch.
        max_lr: peak rate of the first cycle.
        min_lr: the rate each cycle anneals to (absolute, not a fraction).
        cycle_epochs: length of the first cycle `T_0`, in epochs.
        cycle_mult: `T_mult`, an integer >= 1.
        max_lr_decay: factor applied to the peak at every restart, in (0, 1].

    Returns:
        The learning rate, a float.

    Example:

    >>> sgdr_learning_rate(0.0, max_lr=0.1)
    0.1
    >>> sgdr_learning_rate(5.0, max_lr=0.1, cycle_epochs=10)
    0.05
    """
    max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay = check_sgdr_arguments(
        max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay
    )
    cycle, t_cur, t_i = sgdr_cycle(
        epoch, cycle_epochs=cycle_epochs, cycle_mult=cycle_mult
    )
    peak = max(min_lr, max_lr * max_lr_decay**cycle)
    return min_lr + (peak - min_lr) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


def sgdr_cycle_ends(
    epochs: int, *, cycle_epochs: int = 10, cycle_mult: int = 2
) -> list[int]:
    """The epochs (counted from 1) after which SGDR cycles end, up to `epochs`.

    Example:

    >>> sgdr_cycle_ends(14, cycle_epochs=2, cycle_mult=2)
    [2, 6, 14]
    """
    epochs = _checks.check_int("epochs", epochs, 0)
    cycle_epochs = _checks.check_int("cycle_epochs", cycle_epochs)
    cycle_mult = _check_cycle_mult(cycle_mult)
    ends, end, length = [], cycle_epochs, cycle_epochs
    while end <= epochs:
        ends.append(end)
        length *= cycle_mult
        end += length
    return ends


# In-graph schedules ------------------------------------------------------------
#
# Equal cycles with a constant peak are exactly what Keras'
# `CosineDecayRestarts` computes with `t_mul=1` (its `alpha` is
# `min_lr / max_lr`): the ops below hand it the step's position within its
# cycle, found in integer arithmetic: Keras divides the float32 step by the
# cycle length itself, which drifts off the position as the step grows (with
# 5-step cycles, 1e-5 relative by step 84; with 7-step cycles, 3e-2 by step
# 1.4 million). The rest is own code, for what Keras does not cover exactly:
#
# - growing cycles (`cycle_mult >= 2`): Keras finds the cycle from a float32
#   logarithm, which puts later restarts a step late (e.g. 1-step first
#   cycle, `t_mul=2`: the restart due at step 32767 comes at step 32768);
# - a decaying peak (`max_lr_decay < 1`): Keras' `m_mul` scales the cosine's
#   amplitude above the floor, SGDR scales the peak itself and clamps it at
#   `min_lr`.

# Steps beyond which the in-graph schedules stop tabulating cycles (int32).
_MAX_STEP = 2**31 - 1


def _int_step(step):
    step = ops.convert_to_tensor(step)
    if "int" not in str(step.dtype):
        step = ops.cast(step, "int32")
    return ops.maximum(step, 0)


def cosine_restarts_op(step, *, max_lr: float, min_lr: float, cycle_steps: int):
    """Equal cycles of `cycle_steps` steps from `max_lr` down to `min_lr`, as a tensor.

    Keras' `CosineDecayRestarts(max_lr, cycle_steps, t_mul=1.0, m_mul=1.0,
    alpha=min_lr / max_lr)`, evaluated at the step's position within its
    cycle (computed exactly, in integers). Negative steps count as 0.

    Args:
        step: an integer scalar tensor (or a number): steps since the
            schedule started.
        max_lr: the rate at the first step of every cycle (> 0).
        min_lr: the rate the cycles anneal to, at most `max_lr`.
        cycle_steps: steps per cycle (positive).

    Returns:
        A float32 scalar tensor.

    Example:

    >>> [round(float(cosine_restarts_op(s, max_lr=0.1, min_lr=0.0, cycle_steps=4)), 4)
    ...  for s in range(6)]
    [0.1, 0.0854, 0.05, 0.0146, 0.1, 0.0854]
    """
    keras_schedule = keras.optimizers.schedules.CosineDecayRestarts(
        max_lr, cycle_steps, t_mul=1.0, m_mul=1.0, alpha=min_lr / max_lr
    )
    return keras_schedule(_int_step(step) % cycle_steps)


def sgdr_cycle_table(
    *,
    steps_per_epoch: int,
    max_lr: float,
    min_lr: float,
    cycle_epochs: int,
    cycle_mult: int,
    max_lr_decay: float,
    max_step: int = _MAX_STEP,
) -> tuple[list[int], list[int], list[float]]:
    """First step, length in steps and peak of every SGDR cycle up to `max_step`.

    With `cycle_mult >= 2` there are at most 31 cycles below 2**31 steps,
    so the in-graph schedule looks the cycle up in these short tables.
    """
    starts, lengths, peaks = [], [], []
    start, length, peak = 0, cycle_epochs * steps_per_epoch, max_lr
    while start <= max_step:
        starts.append(start)
        lengths.append(length)
        peaks.append(max(min_lr, peak))
        start += length
        length *= cycle_mult
        peak *= max_lr_decay
        if cycle_mult == 1 and len(starts) > 1:
            break  # equal cycles: the schedule uses arithmetic instead
    return starts, lengths, peaks


def sgdr_learning_rate_op(
    step,
    *,
    steps_per_epoch: int,
    max_lr: float,
    min_lr: float = 0.0,
    cycle_epochs: int = 10,
    cycle_mult: int = 2,
    max_lr_decay: float = 1.0,
):
    """`sgdr_learning_rate` at `step / steps_per_epoch`, as a tensor.

    Built for the train step, where every op costs time at every step.
    Equal cycles with a constant peak are Keras' `CosineDecayRestarts`
    (`cosine_restarts_op`). Otherwise the cycle is found in integer
    arithmetic (equal cycles) or by counting the cycle starts already passed
    in a short constant table, so that restarts fall exactly on their step,
    in about a dozen scalar ops (see the comment above for why Keras' own
    version is not used there). Negative steps count as 0.

    Args:
        step: an integer scalar tensor: optimizer steps since the schedule
            started.
        steps_per_epoch: batches per epoch.
        max_lr, min_lr, cycle_epochs, cycle_mult, max_lr_decay: as in
            `sgdr_learning_rate` (validated by the caller).

    Returns:
        A float32 scalar tensor.

    Example:

    >>> rate = sgdr_learning_rate_op(6, steps_per_epoch=2, max_lr=0.1,
    ...                              cycle_epochs=1, cycle_mult=2)
    >>> round(float(rate), 4)  # step 6 = epoch 3: the second restart
    0.1
    """
    first_length = cycle_epochs * steps_per_epoch
    if cycle_mult == 1 and max_lr_decay == 1.0:
        return cosine_restarts_op(step, max_lr=max_lr, min_lr=min_lr, cycle_steps=first_length)
    step = _int_step(step)
    if cycle_mult == 1:
        fraction = ops.cast(step % first_length, "float32") * (1.0 / first_length)
        cycle = ops.cast(step // first_length, "float32")
        peak = ops.maximum(max_lr * ops.power(max_lr_decay, cycle), min_lr)
        amplitude = (peak - min_lr) / 2.0
    else:
        starts, lengths, peaks = sgdr_cycle_table(
            steps_per_epoch=steps_per_epoch,
            max_lr=max_lr,
            min_lr=min_lr,
            cycle_epochs=cycle_epochs,
            cycle_mult=cycle_mult,
            max_lr_decay=max_lr_decay,
        )
        int_dtype = keras.backend.standardize_dtype(step.dtype)
        later_starts = ops.convert_to_tensor(starts[1:], dtype=int_dtype)
        cycle = ops.sum(ops.cast(step >= later_starts, "int32"))
        start = ops.take(ops.convert_to_tensor(starts, dtype=int_dtype), cycle)
        inverse_length = ops.take(
            ops.convert_to_tensor([1.0 / n for n in lengths], dtype="float32"), cycle
        )
        amplitude = ops.take(
            ops.convert_to_tensor([(p - min_lr) / 2.0 for p in peaks], dtype="float32"),
            cycle,
        )
        fraction = ops.cast(step - start, "float32") * inverse_length
    return min_lr + amplitude * (1.0 + ops.cos(math.pi * fraction))


# Snapshot ensembles -----------------------------------------------------------


def _check_snapshot_plan(total_steps: Any, num_snapshots: Any) -> tuple[int, int]:
    total_steps = _checks.check_int("total_steps", total_steps)
    num_snapshots = _checks.check_int("num_snapshots", num_snapshots)
    if num_snapshots > total_steps:
        raise _checks.invalid(
            "num_snapshots", f"at most total_steps={total_steps}", num_snapshots
        )
    return total_steps, num_snapshots


def snapshot_cycle_length(total_steps: int, num_snapshots: int) -> int:
    """Steps per snapshot cycle: `ceil(T / M)`.

    Example:

    >>> snapshot_cycle_length(100, 3)
    34
    """
    total_steps, num_snapshots = _check_snapshot_plan(total_steps, num_snapshots)
    return -(-total_steps // num_snapshots)


def snapshot_learning_rate(
    iteration: int, *, max_lr: float, total_steps: int, num_snapshots: int
) -> float:
    """Huang et al.'s cyclic cosine annealing at a 1-based iteration `t`.

    `alpha(t) = max_lr / 2 * (cos(pi * mod(t - 1, ceil(T/M)) / ceil(T/M)) + 1)`.

    Args:
        iteration: `t`, the 1-based training iteration.
        max_lr: `alpha_0`, the rate at the start of every cycle.
        total_steps: `T`, the total number of training iterations.
        num_snapshots: `M`, the number of cycles (and snapshots).

    Returns:
        The learning rate, a float.

    Example:

    >>> snapshot_learning_rate(1, max_lr=0.2, total_steps=100, num_snapshots=4)
    0.2
    """
    iteration = _checks.check_int("iteration", iteration)
    max_lr = _checks.check_positive_float("max_lr", max_lr)
    length = snapshot_cycle_length(total_steps, num_snapshots)
    position = (iteration - 1) % length
    return max_lr / 2.0 * (math.cos(math.pi * position / length) + 1.0)


def snapshot_cycle_ends(total_steps: int, num_snapshots: int) -> list[int]:
    """Iterations (1-based) after which snapshots are taken.

    Cycle ends at multiples of `ceil(T / M)`, the last one at `T` (a
    shorter cycle when `M` does not divide `T`).

    Raises:
        ValueError: when `M` cycles of `ceil(T / M)` steps do not fit in `T`
            steps (e.g. `T=9, M=4`: three cycles of 3 steps fill it).

    Example:

    >>> snapshot_cycle_ends(12, 3)
    [4, 8, 12]
    """
    length = snapshot_cycle_length(total_steps, num_snapshots)
    if (num_snapshots - 1) * length >= total_steps:
        raise _checks.invalid(
            "num_snapshots",
            f"a number of cycles of ceil(T/M) steps that fits in "
            f"total_steps={total_steps} (only {-(-total_steps // length)} fit)",
            num_snapshots,
        )
    return [length * k for k in range(1, num_snapshots)] + [total_steps]


def snapshot_learning_rate_op(
    step, *, max_lr: float, total_steps: int, num_snapshots: int
):
    """`snapshot_learning_rate(step + 1, ...)` as a tensor, for a 0-based step.

    Huang et al.'s schedule is Keras' `CosineDecayRestarts` with cycles of
    `ceil(T / M)` steps, `t_mul=1` and `alpha=0` (`cosine_restarts_op`).
    """
    length = -(-total_steps // num_snapshots)
    return cosine_restarts_op(step, max_lr=max_lr, min_lr=0.0, cycle_steps=length)


# Learning-rate range test -------------------------------------------------------


def exponential_sweep(
    step: int, *, start_lr: float, end_lr: float, num_steps: int
) -> float:
    """The range test's rate at a 0-based step: `start_lr` to `end_lr`.

    `start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))`: the first
    step uses `start_lr` and the last one `end_lr` exactly.

    Example:

    >>> exponential_sweep(1, start_lr=1e-3, end_lr=1e-1, num_steps=3)
    0.01
    """
    start_lr, end_lr, num_steps = check_sweep_arguments(start_lr, end_lr, num_steps)
    step = _checks.check_int("step", step, 0)
    if step >= num_steps:
        raise _checks.invalid("step", f"an integer < num_steps={num_steps}", step)
    if step == num_steps - 1:
        return end_lr
    return start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))


def check_sweep_arguments(
    start_lr: Any, end_lr: Any, num_steps: Any
) -> tuple[float, float, int]:
    """Validates the range test's sweep and returns it normalised."""
    start_lr = _checks.check_positive_float("start_lr", start_lr)
    end_lr = _checks.check_positive_float("end_lr", end_lr)
    if end_lr <= start_lr:
        raise _checks.invalid("end_lr", f"a rate > start_lr={start_lr!r}", end_lr)
    num_steps = _checks.check_int("num_steps", num_steps, 2)
    return start_lr, end_lr, num_steps


ONE_CYCLE_ANNEALS = ("cos", "linear")


def check_one_cycle_arguments(
    max_lr: Any, total_steps: Any, pct_start: Any, div_factor: Any, final_div_factor: Any,
    anneal: Any,
) -> tuple[float, int, float, float, float, str]:
    """The one-cycle hyperparameters, validated (Keras-style `ValueError`s)."""
    return (
        _checks.check_positive_float("max_lr", max_lr),
        _checks.check_int("total_steps", total_steps, 2, "an integer >= 2"),
        _checks.check_real("pct_start", pct_start, lambda v: 0 < v < 1, "a float in (0, 1)"),
        _checks.check_positive_float("div_factor", div_factor),
        _checks.check_positive_float("final_div_factor", final_div_factor),
        _checks.check_choice("anneal", anneal, ONE_CYCLE_ANNEALS),
    )


def _one_cycle_points(max_lr, total_steps, pct_start, div_factor, final_div_factor):
    """The first and last rates, and the step at which the rate peaks (torch's phases)."""
    initial = max_lr / div_factor
    return initial, initial / final_div_factor, float(pct_start * total_steps) - 1.0


def _anneal(start, end, pct, anneal: str, cos):
    if anneal == "cos":
        return end + (start - end) / 2.0 * (cos(math.pi * pct) + 1.0)
    return (end - start) * pct + start


def one_cycle_learning_rate(
    step: int,
    *,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
) -> float:
    """Smith's one-cycle rate at optimizer step `step` (0 = the first step).

    PyTorch's `OneCycleLR` (two phases): from `max_lr / div_factor` up to
    `max_lr` at step `pct_start * total_steps - 1`, then down to
    `max_lr / div_factor / final_div_factor` at step `total_steps - 1`,
    each phase a half cosine (`anneal="cos"`) or a line. Steps past the end
    keep the last rate.

    Example:
    >>> [round(one_cycle_learning_rate(s, max_lr=1.0, total_steps=5), 4) for s in range(5)]
    [0.04, 0.9505, 0.6113, 0.1883, 0.0]
    """
    max_lr, total_steps, pct_start, div_factor, final_div_factor, anneal = (
        check_one_cycle_arguments(max_lr, total_steps, pct_start, div_factor,
                                  final_div_factor, anneal)
    )
    initial, final, peak_step = _one_cycle_points(max_lr, total_steps, pct_start, div_factor,
                                                  final_div_factor)
    step = min(max(float(step), 0.0), total_steps - 1.0)
    if step <= peak_step:
        return _anneal(initial, max_lr, step / peak_step, anneal, math.cos)
    pct = (step - peak_step) / (total_steps - 1.0 - peak_step)
    return _anneal(max_lr, final, pct, anneal, math.cos)


def one_cycle_learning_rate_op(
    step,
    *,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
):
    """`one_cycle_learning_rate` in `keras.ops`, for a step tensor (in-graph)."""
    initial, final, peak_step = _one_cycle_points(max_lr, total_steps, pct_start, div_factor,
                                                  final_div_factor)
    step = ops.cast(_int_step(step), "float32")
    step = ops.minimum(step, float(total_steps - 1))
    # peak_step may be < 0 (pct_start * total_steps < 1): all annealing then.
    rising = _anneal(initial, max_lr, step / max(peak_step, 1e-12), anneal, ops.cos)
    pct = (step - peak_step) / (total_steps - 1.0 - peak_step)
    falling = _anneal(max_lr, final, pct, anneal, ops.cos)
    return ops.cast(ops.where(step <= peak_step, rising, falling), "float32")
