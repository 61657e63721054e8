"""callbacks.schedules against tables of expected values."""

import math

import keras
import numpy as np
import pytest

from callbacks import schedules


def _cos(fraction):
    """(1 + cos(pi * fraction)) / 2."""
    return (1.0 + math.cos(math.pi * fraction)) / 2.0


def _int_step(step):
    dtype = "int64" if keras.backend.backend() == "tensorflow" else "int32"
    return keras.ops.convert_to_tensor(step, dtype=dtype)


# Cosine annealing --------------------------------------------------------------


@pytest.mark.parametrize(
    "progress, max_lr, min_lr, expected",
    [
        (0.0, 0.1, 0.0, 0.1),
        (0.5, 0.1, 0.0, 0.05),
        (1.0, 0.1, 0.0, 0.0),
        (0.25, 1.0, 0.2, 0.2 + 0.8 * _cos(0.25)),
        (1.0, 0.3, 0.3, 0.3),
    ],
)
def test_cosine_annealing_table(progress, max_lr, min_lr, expected):
    assert schedules.cosine_annealing(
        progress, max_lr=max_lr, min_lr=min_lr
    ) == pytest.approx(expected, rel=1e-12, abs=1e-15)


# SGDR --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "epoch, cycle_epochs, cycle_mult, expected",
    [
        (0, 2, 2, (0, 0, 2)),
        (1.5, 2, 2, (0, 1.5, 2)),
        (2, 2, 2, (1, 0, 4)),  # restart: the first epoch of cycle 1
        (5.75, 2, 2, (1, 3.75, 4)),
        (6, 2, 2, (2, 0, 8)),
        (14, 2, 2, (3, 0, 16)),
        (7, 3, 1, (2, 1, 3)),
        (3, 1, 3, (1, 2, 3)),
        (4, 1, 3, (2, 0, 9)),
    ],
)
def test_sgdr_cycle_table(epoch, cycle_epochs, cycle_mult, expected):
    assert schedules.sgdr_cycle(
        epoch, cycle_epochs=cycle_epochs, cycle_mult=cycle_mult
    ) == expected


SGDR_TABLE = [
    # (epoch, kwargs, expected)
    (0.0, {}, 0.1),
    (1.0, {}, 0.05),
    (1.5, {}, 0.1 * _cos(0.75)),
    (2.0, {}, 0.1),  # restart
    (4.0, {}, 0.05),  # half way through the 4-epoch cycle
    (6.0, {}, 0.1),  # restart
    (0.75, {"min_lr": 0.01}, 0.01 + 0.09 * _cos(0.375)),
    (2.0, {"min_lr": 0.01, "max_lr_decay": 0.5}, 0.05),
    (3.0, {"min_lr": 0.01, "max_lr_decay": 0.5}, 0.01 + 0.04 * _cos(0.25)),
    (6.0, {"min_lr": 0.01, "max_lr_decay": 0.5}, 0.025),
    # the peak never falls below min_lr: constant 0.05 from cycle 1 on
    (3.0, {"min_lr": 0.05, "max_lr_decay": 0.25}, 0.05),
    (5.0, {"cycle_mult": 1}, 0.05),  # cycles of 2 epochs: epoch 5 = 1 into cycle 2
    (4.0, {"cycle_mult": 1}, 0.1),
]


@pytest.mark.parametrize("epoch, kwargs, expected", SGDR_TABLE)
def test_sgdr_learning_rate_table(epoch, kwargs, expected):
    options = {"max_lr": 0.1, "cycle_epochs": 2, "cycle_mult": 2, **kwargs}
    assert schedules.sgdr_learning_rate(epoch, **options) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )


# Per step, with 4 steps per epoch, first cycle of one epoch, cycles doubling:
# the restarts fall on steps 4 and 12.
SGDR_STEP_TABLE = [
    (0, 0.1),
    (3, 0.1 * _cos(0.75)),
    (4, 0.1),
    (5, 0.1 * _cos(1 / 8)),
    (11, 0.1 * _cos(7 / 8)),
    (12, 0.1),
    (27, 0.1 * _cos(15 / 16)),
    (28, 0.1),
]


@pytest.mark.parametrize("step, expected", SGDR_STEP_TABLE)
def test_sgdr_restart_steps_table(step, expected):
    kwargs = dict(max_lr=0.1, cycle_epochs=1, cycle_mult=2)
    assert schedules.sgdr_learning_rate(step / 4, **kwargs) == pytest.approx(expected)
    in_graph = schedules.sgdr_learning_rate_op(
        _int_step(step), steps_per_epoch=4, **kwargs
    )
    assert float(keras.ops.convert_to_numpy(in_graph)) == pytest.approx(
        expected, rel=1e-6, abs=1e-8
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(cycle_epochs=2, cycle_mult=2),
        dict(cycle_epochs=3, cycle_mult=1),
        dict(cycle_epochs=1, cycle_mult=3, max_lr_decay=0.5, min_lr=0.01),
    ],
)
def test_sgdr_op_matches_python_at_every_step(kwargs):
    steps_per_epoch = 3
    steps = np.arange(0, 200)
    in_graph = keras.ops.convert_to_numpy(
        keras.ops.vectorized_map(
            lambda s: schedules.sgdr_learning_rate_op(
                s, steps_per_epoch=steps_per_epoch, max_lr=0.1, **kwargs
            ),
            _int_step(steps),
        )
    )
    expected = [
        schedules.sgdr_learning_rate(s / steps_per_epoch, max_lr=0.1, **kwargs)
        for s in steps
    ]
    np.testing.assert_allclose(in_graph, expected, rtol=1e-6, atol=1e-8)


def test_sgdr_op_clamps_negative_steps_and_casts_floats():
    kwargs = dict(steps_per_epoch=2, max_lr=0.1, cycle_epochs=1, cycle_mult=2)
    negative = schedules.sgdr_learning_rate_op(_int_step(-3), **kwargs)
    assert float(keras.ops.convert_to_numpy(negative)) == pytest.approx(0.1)
    from_float = schedules.sgdr_learning_rate_op(1.0, **kwargs)
    assert float(keras.ops.convert_to_numpy(from_float)) == pytest.approx(0.05)


def test_sgdr_cycle_starts_lengths_and_peaks():
    starts, lengths, peaks = schedules.sgdr_cycle_table(
        steps_per_epoch=3,
        max_lr=0.1,
        min_lr=0.02,
        cycle_epochs=2,
        cycle_mult=2,
        max_lr_decay=0.5,
        max_step=100,
    )
    assert starts == [0, 6, 18, 42, 90]
    assert lengths == [6, 12, 24, 48, 96]
    assert peaks == pytest.approx([0.1, 0.05, 0.025, 0.02, 0.02])
    full = schedules.sgdr_cycle_table(
        steps_per_epoch=1000,
        max_lr=0.1,
        min_lr=0.0,
        cycle_epochs=1,
        cycle_mult=2,
        max_lr_decay=1.0,
    )
    assert full[0][-1] <= 2**31 - 1 < full[0][-1] + full[1][-1]


@pytest.mark.parametrize(
    "epochs, cycle_epochs, cycle_mult, expected",
    [
        (14, 2, 2, [2, 6, 14]),
        (13, 2, 2, [2, 6]),
        (9, 3, 1, [3, 6, 9]),
        (7, 1, 2, [1, 3, 7]),
        (1, 2, 2, []),
        (0, 1, 1, []),
    ],
)
def test_sgdr_cycle_ends_table(epochs, cycle_epochs, cycle_mult, expected):
    ends = schedules.sgdr_cycle_ends(
        epochs, cycle_epochs=cycle_epochs, cycle_mult=cycle_mult
    )
    assert ends == expected


# Snapshot ensembles -------------------------------------------------------------


@pytest.mark.parametrize(
    "total_steps, num_snapshots, expected",
    [(100, 3, 34), (12, 3, 4), (10, 4, 3), (5, 5, 1), (7, 1, 7)],
)
def test_snapshot_cycle_length_table(total_steps, num_snapshots, expected):
    assert schedules.snapshot_cycle_length(total_steps, num_snapshots) == expected


@pytest.mark.parametrize(
    "iteration, expected",
    [
        (1, 0.2),
        (2, 0.1 * (math.cos(math.pi / 4) + 1)),
        (3, 0.1),
        (4, 0.1 * (math.cos(3 * math.pi / 4) + 1)),
        (5, 0.2),  # restart
        (8, 0.1 * (math.cos(3 * math.pi / 4) + 1)),
        (9, 0.2),  # restart
        (12, 0.1 * (math.cos(3 * math.pi / 4) + 1)),
    ],
)
def test_snapshot_learning_rate_table(iteration, expected):
    kwargs = dict(max_lr=0.2, total_steps=12, num_snapshots=3)
    python = schedules.snapshot_learning_rate(iteration, **kwargs)
    assert python == pytest.approx(expected)
    in_graph = schedules.snapshot_learning_rate_op(_int_step(iteration - 1), **kwargs)
    in_graph = float(keras.ops.convert_to_numpy(in_graph))
    assert in_graph == pytest.approx(expected, rel=1e-6)


def test_snapshot_op_matches_python_with_ragged_cycles():
    kwargs = dict(max_lr=0.3, total_steps=50, num_snapshots=4)  # cycles of 13
    steps = np.arange(50)
    in_graph = keras.ops.convert_to_numpy(
        keras.ops.vectorized_map(
            lambda s: schedules.snapshot_learning_rate_op(s, **kwargs), _int_step(steps)
        )
    )
    expected = [schedules.snapshot_learning_rate(int(s) + 1, **kwargs) for s in steps]
    np.testing.assert_allclose(in_graph, expected, rtol=1e-6, atol=1e-8)
    negative = schedules.snapshot_learning_rate_op(_int_step(-2), **kwargs)
    assert float(keras.ops.convert_to_numpy(negative)) == pytest.approx(0.3)
    from_float = schedules.snapshot_learning_rate_op(13.0, **kwargs)
    assert float(keras.ops.convert_to_numpy(from_float)) == pytest.approx(0.3)


@pytest.mark.parametrize(
    "total_steps, num_snapshots, expected",
    [
        (12, 3, [4, 8, 12]),
        (10, 4, [3, 6, 9, 10]),
        (10, 1, [10]),
        (6, 6, [1, 2, 3, 4, 5, 6]),
    ],
)
def test_snapshot_cycle_ends_table(total_steps, num_snapshots, expected):
    assert schedules.snapshot_cycle_ends(total_steps, num_snapshots) == expected


def test_snapshot_cycle_ends_rejects_cycles_that_do_not_fit():
    with pytest.raises(ValueError, match="num_snapshots.*only 3 fit"):
        schedules.snapshot_cycle_ends(9, 4)


# Exponential sweep --------------------------------------------------------------


@pytest.mark.parametrize(
    "step, start_lr, end_lr, num_steps, expected",
    [
        (0, 1e-3, 1e-1, 3, 1e-3),
        (1, 1e-3, 1e-1, 3, 1e-2),
        (2, 1e-3, 1e-1, 3, 1e-1),
        (50, 1e-7, 10.0, 101, 1e-3),
        (99, 1e-7, 10.0, 100, 10.0),
        (1, 1.0, 16.0, 5, 2.0),
    ],
)
def test_exponential_sweep_table(step, start_lr, end_lr, num_steps, expected):
    assert schedules.exponential_sweep(
        step, start_lr=start_lr, end_lr=end_lr, num_steps=num_steps
    ) == pytest.approx(expected, rel=1e-12)


# Validation ---------------------------------------------------------------------


SWEEP = dict(start_lr=1, end_lr=2, num_steps=3)
PLAN = dict(total_steps=4, num_snapshots=2)
LR = dict(max_lr=0.1)
INVALID = [
    (schedules.cosine_annealing, (1.5,), dict(max_lr=0.1), "progress"),
    (schedules.cosine_annealing, (True,), dict(max_lr=0.1), "progress"),
    (schedules.cosine_annealing, (0.5,), dict(max_lr=0.0), "max_lr"),
    (schedules.cosine_annealing, (0.5,), dict(max_lr=0.1, min_lr=-1), "min_lr"),
    (schedules.cosine_annealing, (0.5,), dict(max_lr=0.1, min_lr=0.2), "min_lr"),
    (schedules.sgdr_cycle, (-1.0,), {}, "epoch"),
    (schedules.sgdr_cycle, (float("inf"),), {}, "epoch"),
    (schedules.sgdr_cycle, ("1",), {}, "epoch"),
    (schedules.sgdr_cycle, (1.0,), dict(cycle_epochs=0), "cycle_epochs"),
    (schedules.sgdr_cycle, (1.0,), dict(cycle_mult=0), "cycle_mult"),
    (schedules.sgdr_cycle, (1.0,), dict(cycle_mult=1.5), "cycle_mult"),
    (schedules.sgdr_cycle, (1.0,), dict(cycle_mult=True), "cycle_mult"),
    (schedules.sgdr_learning_rate, (1.0,), dict(max_lr=-0.1), "max_lr"),
    (schedules.sgdr_learning_rate, (1.0,), dict(max_lr=0.1, min_lr=0.5), "min_lr"),
    (schedules.sgdr_learning_rate, (1.0,), {**LR, "max_lr_decay": 0}, "max_lr_decay"),
    (schedules.sgdr_learning_rate, (1.0,), {**LR, "max_lr_decay": 1.5}, "max_lr_decay"),
    (schedules.sgdr_learning_rate, (1.0,), {**LR, "max_lr_decay": "1"}, "max_lr_decay"),
    (schedules.sgdr_cycle_ends, (-1,), {}, "epochs"),
    (schedules.sgdr_cycle_ends, (5,), dict(cycle_epochs=0), "cycle_epochs"),
    (schedules.sgdr_cycle_ends, (5,), dict(cycle_mult=0), "cycle_mult"),
    (schedules.snapshot_cycle_length, (0, 1), {}, "total_steps"),
    (schedules.snapshot_cycle_length, (10, 0), {}, "num_snapshots"),
    (schedules.snapshot_cycle_length, (3, 4), {}, "num_snapshots"),
    (schedules.snapshot_learning_rate, (0,), dict(max_lr=0.1, **PLAN), "iteration"),
    (schedules.snapshot_learning_rate, (1,), dict(max_lr=0, **PLAN), "max_lr"),
    (schedules.exponential_sweep, (0,), {**SWEEP, "start_lr": 0}, "start_lr"),
    (schedules.exponential_sweep, (0,), {**SWEEP, "end_lr": -1}, "end_lr"),
    (schedules.exponential_sweep, (0,), {**SWEEP, "end_lr": 1}, "end_lr"),
    (schedules.exponential_sweep, (0,), {**SWEEP, "num_steps": 1}, "num_steps"),
    (schedules.exponential_sweep, (0,), {**SWEEP, "num_steps": 2.0}, "num_steps"),
    (schedules.exponential_sweep, (-1,), SWEEP, "step"),
    (schedules.exponential_sweep, (3,), SWEEP, "step"),
]


@pytest.mark.parametrize("function, args, kwargs, match", INVALID)
def test_invalid_arguments_name_the_argument(function, args, kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`"):
        function(*args, **kwargs)


# Keras' CosineDecayRestarts -----------------------------------------------------
#
# Without peak decay, SGDR and Huang et al.'s schedule are Keras'
# CosineDecayRestarts (alpha = min_lr / max_lr, t_mul = cycle_mult,
# first_decay_steps = the first cycle's steps), shifted by the step offset.


def _per_step(schedule, steps):
    return keras.ops.convert_to_numpy(
        keras.ops.vectorized_map(schedule, _int_step(np.asarray(steps)))
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_lr=0.1, min_lr=0.0, cycle_epochs=1, cycle_mult=1, steps_per_epoch=5),
        dict(max_lr=0.1, min_lr=0.01, cycle_epochs=2, cycle_mult=2, steps_per_epoch=3),
        dict(max_lr=0.5, min_lr=0.05, cycle_epochs=1, cycle_mult=3, steps_per_epoch=4),
        dict(max_lr=0.3, min_lr=0.3, cycle_epochs=3, cycle_mult=1, steps_per_epoch=2),
    ],
)
def test_sgdr_schedule_equals_keras_cosine_decay_restarts(kwargs):
    from callbacks import SGDRSchedule

    offset = 7
    ours = SGDRSchedule(**kwargs, step_offset=offset)
    theirs = keras.optimizers.schedules.CosineDecayRestarts(
        kwargs["max_lr"],
        first_decay_steps=kwargs["cycle_epochs"] * kwargs["steps_per_epoch"],
        t_mul=float(kwargs["cycle_mult"]),
        alpha=kwargs["min_lr"] / kwargs["max_lr"],
    )
    steps = np.arange(300)
    # Up to float32 rounding: Keras divides the float32 step by the cycle
    # length, which costs it about 1e-6 of the peak after some cycles.
    np.testing.assert_allclose(
        _per_step(ours, steps + offset),
        _per_step(theirs, steps),
        rtol=1e-5,
        atol=1e-6 * kwargs["max_lr"],
    )


@pytest.mark.parametrize("total_steps, num_snapshots", [(12, 3), (50, 4), (7, 7)])
def test_snapshot_schedule_equals_keras_cosine_decay_restarts(total_steps, num_snapshots):
    from callbacks import SnapshotSchedule

    ours = SnapshotSchedule(
        0.2, total_steps=total_steps, num_snapshots=num_snapshots, step_offset=-3
    )
    theirs = keras.optimizers.schedules.CosineDecayRestarts(
        0.2, first_decay_steps=-(-total_steps // num_snapshots), t_mul=1.0, alpha=0.0
    )
    steps = np.arange(total_steps)
    np.testing.assert_allclose(
        _per_step(ours, steps - 3), _per_step(theirs, steps), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    "cycle_mult, steps_per_epoch, restart",
    [
        # Growing cycles: Keras' float32 logarithm puts the first two restarts
        # a step late (the third too, depending on the backend's rounding).
        (2, 1, 2**15 - 1),
        (2, 8, 8 * (2**15 - 1)),
        (3, 1, (3**12 - 1) // 2),
        # Equal cycles: Keras' float32 step / cycle drifts off after many cycles.
        (1, 3, 3 * 135),
        (1, 7, 7 * 200_000),
    ],
)
def test_sgdr_restarts_stay_exact_far_into_training(cycle_mult, steps_per_epoch, restart):
    from callbacks import SGDRSchedule

    kwargs = dict(max_lr=0.1, min_lr=0.001, cycle_epochs=1, cycle_mult=cycle_mult)
    schedule = SGDRSchedule(steps_per_epoch=steps_per_epoch, **kwargs)
    steps = [restart - 2, restart - 1, restart, restart + 1]
    expected = [schedules.sgdr_learning_rate(s / steps_per_epoch, **kwargs) for s in steps]
    np.testing.assert_allclose(_per_step(schedule, steps), expected, rtol=1e-5, atol=1e-9)
    assert expected[2] == pytest.approx(0.1)  # the restart itself


def test_snapshot_schedule_stays_exact_after_many_cycles():
    from callbacks import SnapshotSchedule

    kwargs = dict(max_lr=0.2, total_steps=3_000_000, num_snapshots=1_000_000)  # cycles of 3
    steps = [2_999_997, 2_999_998, 2_999_999]
    expected = [schedules.snapshot_learning_rate(s + 1, **kwargs) for s in steps]
    np.testing.assert_allclose(
        _per_step(SnapshotSchedule(**kwargs), steps), expected, rtol=1e-6, atol=1e-9
    )
