"""The MLP recipe: flags, user data, errors on the command line, repeatability."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recipes import mlp

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path, *flags):
    return mlp.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_same_seed_same_history(tmp_path):
    run(tmp_path / "a", "--seed", "7")
    run(tmp_path / "b", "--seed", "7")
    first = pd.read_csv(tmp_path / "a" / "mlp" / "history.csv")
    second = pd.read_csv(tmp_path / "b" / "mlp" / "history.csv")
    pd.testing.assert_frame_equal(first, second, check_exact=True)


def layer_kinds(model) -> list[str]:
    """`block1_dense:Dense`, ... : the model's layers by name and type, in order."""
    return [f"{layer.name}:{type(layer).__name__}" for layer in model.layers[1:]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, kinds",
    [
        (["--dataset", "wine", "--activation", "selu", "--dropout-rate", "0.1"],
         ["block1_dense:Dense", "block1_selu:Activation", "block1_dropout:AlphaDropout",
          "block2_dense:Dense", "block2_selu:Activation", "block2_dropout:AlphaDropout",
          "predictions:Dense"]),
        (["--dataset", "breast_cancer", "--batch-norm", "before", "--residual",
          "--dropout-rate", "0"],
         ["block1_dense:Dense", "block1_bn:BatchNormalization", "block1_projection:Dense",
          "block1_relu:Activation", "block1_add:Add", "block2_dense:Dense",
          "block2_bn:BatchNormalization", "block2_projection:Dense", "block2_relu:Activation",
          "block2_add:Add", "predictions:Dense"]),
        (["--activation", "mish", "--batch-norm", "after", "--hidden-units", "32",
          "--dropout-rate", "0"],
         ["block1_dense:Dense", "block1_mish:Activation", "block1_bn:BatchNormalization",
          "predictions:Dense"]),
    ],
)
def test_options_reach_the_model(tmp_path, flags, kinds):
    import keras

    run(tmp_path, *flags)
    model = keras.saving.load_model(tmp_path / "mlp" / "model.keras")
    assert layer_kinds(model) == kinds
    assert model.get_layer("block1_dense").units == (32 if "32" in flags else 512)
    classes = {"wine": 3, "breast_cancer": 2}.get(flags[1], 10)
    assert model.output_shape == (None, classes)


# one_cycle: test_recipes.py's technique test; sgdr: test_sgdr.py.
@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_schedules_set_the_learning_rate(tmp_path, schedule):
    run(tmp_path, "--epochs", "2", "--schedule", schedule, "--learning-rate", "0.01")
    history = pd.read_csv(tmp_path / "mlp" / "history.csv")
    rates = history["learning_rate"].tolist()
    assert len(rates) == 2 and max(rates) <= 0.01 + 1e-6
    if schedule in ("cosine", "one_cycle", "sgdr"):  # annealed towards 0 by the last step
        assert rates[-1] < rates[0] / 10


def test_ema_is_the_exponential_average_of_the_optimizer_steps():
    """--ema's optimizer (Keras' use_ema): after fit the model holds the EMA
    of the weights after each step, computed here independently."""
    import argparse

    import keras
    import numpy as np

    from recipes.common import training

    args = argparse.Namespace(ema=0.9)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(training.optimizer(args, 0.1, keras.optimizers.SGD), loss="mse")
    steps = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(self.model.get_weights())

    model.fit(x, x.sum(1, keepdims=True), batch_size=2, epochs=2, shuffle=False, verbose=0,
              callbacks=[Record()])
    average = steps[0]
    for weights in steps[1:]:
        average = [0.9 * a + 0.1 * w for a, w in zip(average, weights)]
    for got, expected, last in zip(model.get_weights(), average, steps[-1]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(got, last)  # the average, not the last step


@pytest.mark.slow
def test_ema_run_validates_and_saves_the_averaged_model(tmp_path):
    import keras

    from recipes.common import data as datasets

    run(tmp_path, "--epochs", "2", "--ema", "0.9")
    model = keras.saving.load_model(tmp_path / "mlp" / "model.keras")
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(0.9)
    # The saved weights are the ones validated best: the averages, not the raw
    # weights early stopping would otherwise restore.
    data = datasets.load_dataset("digits", seed=0).subsample(300, 100)
    saved = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)["loss"]
    history = pd.read_csv(tmp_path / "mlp" / "history.csv")
    assert saved == pytest.approx(history["val_loss"].min(), rel=1e-4)


@pytest.mark.slow
def test_csv_regression_and_multilabel(tmp_path):
    rows = [f"{i % 7},{'a' if i % 2 else 'b'},{i * 0.3 + (i % 7)},{i % 2},{(i // 3) % 2}"
            for i in range(120)]
    path = tmp_path / "table.csv"
    path.write_text("x,kind,price,p,q\n" + "\n".join(rows) + "\n")
    metrics = run(tmp_path, "--csv", str(path), "--target", "price")
    assert "test_mean_absolute_error" in metrics
    metrics = run(tmp_path, "--csv", str(path), "--target", "p,q")
    assert "test_binary_accuracy" in metrics


def test_target_needs_csv_and_csv_needs_target(tmp_path):
    with pytest.raises(ValueError, match="argument `target`.*needs --csv"):
        run(tmp_path, "--target", "label")
    with pytest.raises(ValueError, match="argument `target`.*Received: target=None"):
        run(tmp_path, "--csv", str(tmp_path / "x.csv"))


@pytest.mark.subprocess
def test_bad_csv_on_the_command_line_is_one_line_and_status_2(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("size,label\n1,a\nhuge,b\n3,a\n")
    result = subprocess.run(
        [sys.executable, "-m", "recipes.mlp", "--csv", str(path), "--target", "label",
         "--output-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("recipes.mlp")]
    assert lines == [
        f"recipes.mlp: error: CSV file '{path}', column 'size': non-numeric value "
        "'huge' at line 3 in a numeric column."
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlp").exists()


def test_missing_error_keeps_todays_refusal(tmp_path):
    rows = [f"{'' if i % 5 == 0 else i},{'' if i % 7 == 0 else 'ab'[i % 2]},{i % 2}"
            for i in range(40)]
    path = tmp_path / "gaps.csv"
    path.write_text("x,kind,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"gaps.csv', column 'x': missing value at line 2 "
                                         r"\(8 missing in all\)"):
        run(tmp_path, "--csv", str(path), "--target", "label", "--missing", "error")
    assert not (tmp_path / "mlp").exists()


@pytest.mark.parametrize("flags, message", [
    (["--ema", "1.5"], "expected a momentum in (0, 1), got 1.5"),
    (["--schedule", "linear"], "invalid choice: 'linear'"),
])
def test_bad_technique_flags_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        mlp.main(flags)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_ensemble_averages_independent_members_and_reuses_finished_ones(tmp_path, capsys):
    import keras
    import numpy as np

    from recipes.common import data as datasets

    metrics = run(tmp_path, "--ensemble", "2", "--epochs", "1")
    out = tmp_path / "mlp"
    members = pd.read_csv(out / "members.csv")
    assert members["seed"].tolist() == [0, 1] and metrics["ensemble_size"] == 2
    assert metrics["members_mean_test_accuracy"] == pytest.approx(members["test_accuracy"].mean())
    paths = [out / "members" / f"seed_{seed}" / "mlp" / "model.keras" for seed in (0, 1)]
    models = [keras.saving.load_model(path) for path in paths]
    # Different seeds, different weights; one split (the ensemble's --seed).
    assert not np.allclose(models[0].get_weights()[0], models[1].get_weights()[0])
    x = datasets.load_dataset("digits", seed=0).subsample(300, 100).x_test
    ensemble = keras.saving.load_model(out / "model.keras", safe_mode=True)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0),
                               np.mean([m.predict(x, verbose=0) for m in models], axis=0),
                               rtol=1e-5, atol=1e-6)
    stamps = [path.stat().st_mtime_ns for path in paths]
    capsys.readouterr()
    run(tmp_path, "--ensemble", "2", "--epochs", "1")
    assert "already trained" in capsys.readouterr().out
    assert [path.stat().st_mtime_ns for path in paths] == stamps
