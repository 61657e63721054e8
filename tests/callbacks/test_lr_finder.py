"""LRFinder: the sweep, batch losses, divergence, exact restore, suggestions."""

import math
import os

import keras
import numpy as np
import pytest

import zoo
from callbacks import LRFinder, lr_finder, schedules

# A least-squares problem ----------------------------------------------------------
#
# loss(w) = mean((X w - y)^2) has the Hessian H = 2/n X^T X. Plain gradient
# descent multiplies the error along H's top eigenvector by (1 - lr * lambda)
# per step, so the loss grows exactly when lr > 2 / lambda_max. The weights
# start off the solution along that eigenvector only, which makes the loss
# ratio between steps exactly (1 - lr * lambda_max)^2. The sweep starts above
# 1 / lambda_max: at that rate one step would solve the problem exactly and
# leave only round-off to diverge from.


def least_squares(copies=4):
    rng = np.random.default_rng(0)
    n, d = 32, 4
    x = rng.normal(size=(n, d)).astype("float32")
    w_star = rng.normal(size=(d, 1))
    y = (x @ w_star).astype("float32")
    hessian = 2.0 / n * x.astype("float64").T @ x.astype("float64")
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    model = keras.Sequential(
        [keras.Input((d,)), keras.layers.Dense(1, use_bias=False)]
    )
    model.set_weights([(w_star + eigenvectors[:, -1:]).astype("float32")])
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    # `copies` identical batches per epoch: the finder must recover each
    # batch's loss from Keras' running mean.
    return model, np.tile(x, (copies, 1)), np.tile(y, (copies, 1)), eigenvalues[-1]


def test_least_squares_diverges_just_past_two_over_lambda_max():
    model, x, y, lambda_max = least_squares()
    critical = 2.0 / lambda_max
    finder = LRFinder(0.6 * critical, 5.0 * critical, 40)
    finder.find(model, x, y, batch_size=32, shuffle=False)
    results = finder.results

    sweep = dict(start_lr=0.6 * critical, end_lr=5.0 * critical, num_steps=40)
    expected_lrs = [
        schedules.exponential_sweep(k, **sweep) for k in range(len(results))
    ]
    np.testing.assert_allclose(results["learning_rate"], expected_lrs, rtol=1e-12)
    lrs, losses = results["learning_rate"].to_numpy(), results["loss"].to_numpy()
    # Every batch loss follows from the previous one and the rate used.
    np.testing.assert_allclose(
        losses[1:] / losses[:-1], (1 - lrs[:-1] * lambda_max) ** 2, rtol=2e-3
    )
    # The loss is lowest right after the rate crosses 2 / lambda_max ...
    assert lrs[np.argmin(losses) - 1] < critical < lrs[np.argmin(losses)]
    # ... and the (smoothed) divergence stops the sweep soon after.
    assert finder.diverged
    assert len(results) < 40
    assert critical < lrs[-1] < 2.5 * critical


def test_non_finite_loss_stops_the_sweep():
    model, x, y, lambda_max = least_squares(copies=1)
    finder = LRFinder(1.2 / lambda_max, 1e6 / lambda_max, 100, divergence_factor=1e300)
    finder.find(model, x, y, batch_size=32)
    losses = finder.results["loss"].to_numpy()
    assert finder.diverged
    assert not math.isfinite(losses[-1])
    assert np.isfinite(losses[:-1]).all()
    assert len(losses) < 100


def test_sweep_stops_after_num_steps_inside_fit_and_restores_rate():
    model, x, y, lambda_max = least_squares()
    finder = LRFinder(1e-4, 1e-3, 6)
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0, callbacks=[finder])
    assert len(finder.results) == 6
    assert not finder.diverged
    assert len(history.history["loss"]) == 2  # 4 batches per epoch
    rate = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    assert float(rate) == pytest.approx(0.01)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    columns = ["step", "learning_rate", "loss", "smoothed_loss"]
    assert list(finder.results.columns) == columns


class _FailAtBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise RuntimeError("interrupted")


def test_an_interrupted_sweep_is_undone_by_the_next_one():
    model, x, y, _ = least_squares()
    weights = model.get_weights()[0]
    finder = LRFinder(1e-3, 1e-1, 6)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, batch_size=32, verbose=0, callbacks=[finder, _FailAtBatch()])
    assert not np.array_equal(model.get_weights()[0], weights)
    finder.find(model, x, y, batch_size=32)
    np.testing.assert_array_equal(model.get_weights()[0], weights)
    assert len(finder.results) == 6


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def test_find_accepts_a_py_dataset():
    model, x, y, lambda_max = least_squares()
    finder = LRFinder(0.01, 0.1, 10).find(model, _Batches(x, y, 32))
    lrs, losses = finder.results["learning_rate"], finder.results["loss"].to_numpy()
    assert len(losses) == 10  # over 3 epochs of 4 batches
    np.testing.assert_allclose(
        losses[1:] / losses[:-1], (1 - lrs[:-1] * lambda_max) ** 2, rtol=1e-3
    )


# Exact restore ---------------------------------------------------------------------


def _train(run_finder):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = rng.integers(0, 3, size=96)
    model = zoo.build(
        "mlp",
        input_shape=(8,),
        num_outputs=3,
        hidden_units=(16,),
        dropout_rate=0.2,
        batch_norm="after",
    )
    model.compile(
        keras.optimizers.Adam(1e-3),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # non-trivial optimizer state
    if run_finder:
        LRFinder(1e-5, 10.0, 20).find(model, x, y, batch_size=16, seed=0)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return (
        [keras.ops.convert_to_numpy(v) for v in model.variables],
        [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables],
        history.history,
    )


def test_training_after_find_equals_training_without_it_bit_for_bit():
    with_finder = _train(run_finder=True)
    without = _train(run_finder=False)
    for found, plain in zip(with_finder[0] + with_finder[1], without[0] + without[1]):
        np.testing.assert_array_equal(found, plain)
    assert with_finder[2] == without[2]


# Refusals ------------------------------------------------------------------------


def test_learning_rate_schedule_is_refused():
    model, x, y, _ = least_squares()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)
    model.compile(keras.optimizers.SGD(schedule), loss="mse")
    with pytest.raises(ValueError, match="`learning_rate`.*float"):
        LRFinder().find(model, x, y, batch_size=32)


def test_steps_per_execution_above_one_is_refused():
    model, x, y, _ = least_squares()
    model.compile(keras.optimizers.SGD(0.01), loss="mse", steps_per_execution=2)
    weights = model.get_weights()
    with pytest.raises(ValueError, match="`steps_per_execution`"):
        LRFinder().find(model, x, y, batch_size=32)
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(start_lr=0.0), "start_lr"),
        (dict(end_lr=-1.0), "end_lr"),
        (dict(start_lr=1.0, end_lr=1.0), "end_lr"),
        (dict(num_steps=1), "num_steps"),
        (dict(smoothing=1.0), "smoothing"),
        (dict(smoothing=-0.1), "smoothing"),
        (dict(divergence_factor=1.0), "divergence_factor"),
        (dict(divergence_factor="4"), "divergence_factor"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`"):
        LRFinder(**kwargs)


def test_invalid_find_arguments():
    model, x, y, _ = least_squares(copies=1)
    finder = LRFinder(num_steps=5)
    uncompiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    cases = [
        (lambda: finder.find("model", x, y), "model"),
        (lambda: finder.find(uncompiled, x, y), "model"),
        (lambda: finder.find(model, x, y, batch_size=0), "batch_size"),
        (lambda: finder.find(model, x, y, batch_size=64), "batch_size"),
        (lambda: finder.find(model, x, y, shuffle="yes"), "shuffle"),
        (lambda: finder.find(model, x, y, seed=-1), "seed"),
        (lambda: finder.find(model, x, y[:10]), "y"),
        (lambda: finder.find(model, x, list(y[:, 0])), "y"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=f"`{match}`"):
            call()


# Suggestions (fastai's definitions) ------------------------------------------

LRS = [10.0**e for e in range(-5, 0)]  # 1e-5 ... 1e-1


@pytest.mark.parametrize(
    "method, lrs, losses, expected",
    [
        ("steep", LRS, [1.0, 0.9, 0.5, 0.4, 2.0], 1e-4),
        ("minimum", LRS, [1.0, 0.9, 0.5, 0.4, 2.0], 1e-3),
        # Longest decreasing run: points 0..9; two thirds down is point 3.
        ("valley", list(range(12)), [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 5, 50], 3),
        # A dip (1) breaks the run; the longest run 3, 1, 0.5, 0.4 gives 1.
        ("valley", list(range(6)), [3, 1, 2, 0.5, 0.4, 4], 1),
        # A two-point valley: fastai's index would be -1; clamped to 0.
        ("valley", [1.0, 2.0], [2.0, 1.0], 1.0),
        # Constant slope: the window never slides; its left end, 15 from the end.
        ("slide", list(range(1, 21)), [20.0 - i for i in range(20)], 5),
        # A blow-up at the end: it slides until both ends are on the slope.
        (
            "slide",
            list(range(1, 26)),
            [20.0 - i for i in range(20)] + [0.5, 1.0, 3.0, 6.0, 11.0],
            5,
        ),
    ],
)
def test_suggestion_table(method, lrs, losses, expected):
    suggester = getattr(lr_finder, method)
    value, (marker_lr, marker_loss) = suggester(lrs, losses)
    assert value == pytest.approx(expected)
    assert marker_lr in lrs or method == "slide"


def _with_records(smoothed, num_steps):
    finder = LRFinder(1e-4, 1.0, num_steps)
    lrs = np.geomspace(1e-4, 1.0, num_steps)[: len(smoothed)]
    finder._records = [
        (k, float(lr), float(loss), float(loss))
        for k, (lr, loss) in enumerate(zip(lrs, smoothed))
    ]
    return finder, lrs


def test_suggestions_skip_the_first_tenth_and_last_five_points():
    losses = np.linspace(5.0, 1.0, 30)
    losses[1] = 0.1  # in the first tenth (3 of 30): ignored
    losses[-2] = 0.2  # in the last five: ignored
    finder, lrs = _with_records(losses, 30)
    assert finder.suggestion("minimum") == pytest.approx(lrs[24] / 10)
    assert finder.suggestion() == finder.suggestion("valley")


def test_suggestions_stop_at_the_first_nan_and_need_two_points():
    losses = np.linspace(5.0, 1.0, 30)
    losses[10:] = np.nan
    finder, lrs = _with_records(losses, 30)
    assert finder.suggestion("minimum") == pytest.approx(lrs[9] / 10)
    finder, _ = _with_records([1.0, float("nan")], 30)
    with pytest.raises(RuntimeError, match="too few"):
        finder.suggestion()
    with pytest.raises(RuntimeError, match="no results"):
        LRFinder().suggestion()
    with pytest.raises(ValueError, match="`method`"):
        finder.suggestion("fastest")


def test_plot_marks_the_suggestion_and_saves_a_png(tmp_path):
    losses = np.concatenate([np.linspace(5, 1, 25), [2, 4, 8, 16, 32]])
    finder, _ = _with_records(losses, 30)
    path = tmp_path / "plots" / "lr_find.png"
    figure = finder.plot(path)
    assert figure.axes[0].get_xscale() == "log"
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[-1].startswith("valley: ")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(path.parent) == ["lr_find.png"]
    plain = finder.plot(method=None)
    assert len(plain.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="`method`"):
        finder.plot(method="fastest")
    with pytest.raises(ValueError, match="`path`"):
        finder.plot(123)
    with pytest.raises(RuntimeError, match="no results"):
        LRFinder().plot()


def test_results_round_trip_through_csv(tmp_path):
    finder, _ = _with_records(np.linspace(5, 1, 12), 12)
    path = tmp_path / "lr_find.csv"
    finder.results.to_csv(path, index=False)
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_csv(path), finder.results)
