"""OneCycle against PyTorch's OneCycleLR formula, in-graph and across steps_per_execution."""

import math

import keras
import numpy as np
import pytest

import callbacks
from callbacks import schedules


def torch_one_cycle(total_steps, max_lr, pct_start=0.3, div_factor=25.0,
                    final_div_factor=1e4, anneal="cos"):
    """torch.optim.lr_scheduler.OneCycleLR's rates (three_phase=False), as its
    `get_lr` computes them: phases ending at `pct_start * total_steps - 1`
    and `total_steps - 1`, annealed between their start and end rates."""
    initial = max_lr / div_factor
    minimum = initial / final_div_factor
    phases = [
        {"end_step": float(pct_start * total_steps) - 1, "start": initial, "end": max_lr},
        {"end_step": total_steps - 1, "start": max_lr, "end": minimum},
    ]

    def cos(start, end, pct):
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    def linear(start, end, pct):
        return (end - start) * pct + start

    function = cos if anneal == "cos" else linear
    rates = []
    for step_num in range(total_steps):
        start_step = 0
        for i, phase in enumerate(phases):
            end_step = phase["end_step"]
            if step_num <= end_step or i == len(phases) - 1:
                pct = (step_num - start_step) / (end_step - start_step)
                rates.append(function(phase["start"], phase["end"], pct))
                break
            start_step = phase["end_step"]
    return rates


CASES = [
    dict(total_steps=100, max_lr=0.1),
    dict(total_steps=37, max_lr=3e-3, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
    dict(total_steps=20, max_lr=1.0, anneal="linear"),
    dict(total_steps=5, max_lr=1.0),
]


@pytest.mark.parametrize("case", CASES)
def test_every_step_equals_torch(case):
    expected = torch_one_cycle(**case)
    python = [schedules.one_cycle_learning_rate(s, **case) for s in range(case["total_steps"])]
    np.testing.assert_allclose(python, expected, rtol=1e-12)
    total_steps = case.pop("total_steps")
    max_lr = case.pop("max_lr")
    schedule = callbacks.OneCycleSchedule(max_lr, total_steps, **case)
    graph = [float(schedule(s)) for s in range(total_steps)]
    # float32 in-graph: exact to float32 rounding of rates of order max_lr.
    np.testing.assert_allclose(graph, expected, rtol=1e-5, atol=1e-6 * max_lr)


def _train(steps_per_execution, epochs=6):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.5), loss="mse",
                  steps_per_execution=steps_per_execution)
    one_cycle = callbacks.OneCycle(0.1)
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                        callbacks=[one_cycle])
    return model, history, one_cycle


def test_training_is_the_same_with_any_steps_per_execution():
    model, history, one_cycle = _train(1)
    assert one_cycle.schedule.total_steps == 30
    expected = torch_one_cycle(30, 0.1)
    np.testing.assert_allclose(history.history["learning_rate"], expected[4::5], rtol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)  # its own rate is back
    for steps_per_execution in (3, 5):
        other, _, _ = _train(steps_per_execution)
        for a, b in zip(model.get_weights(), other.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sgd_steps_follow_the_cycle():
    """One weight, gradient 1 every step: the weight falls by each step's rate."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                    kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(1.0), loss=lambda y, p: keras.ops.sum(p, axis=-1),
                  steps_per_execution=4)
    x = np.ones((12, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0,
              callbacks=[callbacks.OneCycle(0.2, pct_start=0.5)])
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(
        -sum(torch_one_cycle(12, 0.2, pct_start=0.5)), rel=1e-5)


@pytest.mark.parametrize("argument, value, match", [
    ("max_lr", 0.0, "max_lr"),
    ("pct_start", 1.0, "pct_start"),
    ("div_factor", -1.0, "div_factor"),
    ("anneal", "cosine", "anneal"),
])
def test_bad_arguments_are_named(argument, value, match):
    kwargs = {"max_lr": 0.1, argument: value}
    with pytest.raises(ValueError, match=match):
        callbacks.OneCycle(**kwargs)
