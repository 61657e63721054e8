"""The RNN recipe: cell and dropout flags reach the layers, forecasting, users' series, errors."""

import json

import keras
import numpy as np
import pytest

from recipes import rnn
from recipes.common.data import load_dataset, load_series


def run(tmp_path, *flags):
    return rnn.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def load(tmp_path):
    return keras.saving.load_model(tmp_path / "rnn" / "model.keras", safe_mode=True)


@pytest.mark.slow
def test_bidirectional_gru_with_dropout(tmp_path):
    metrics = run(tmp_path, "--cell", "gru", "--bidirectional", "--units", "8",
                  "--dropout", "0.05", "--recurrent-dropout", "0.2")
    model = load(tmp_path)
    wrapper = model.get_layer("bidirectional1")
    assert isinstance(wrapper, keras.layers.Bidirectional)  # --bidirectional
    gru = wrapper.forward_layer
    assert isinstance(gru, keras.layers.GRU) and isinstance(wrapper.backward_layer,
                                                            keras.layers.GRU)  # --cell gru
    config = gru.get_config()
    assert (config["units"], config["dropout"], config["recurrent_dropout"]) == (8, 0.05, 0.2)
    assert model.output_shape == (None, 10) and model.get_layer("predictions").activation \
        is keras.activations.softmax
    # The reported accuracy is the saved model's on the (smoke) test digits.
    data = load_dataset("digits", view="sequence").subsample(train=300, evaluation=100)
    predicted = model.predict(data.x_test, verbose=0).argmax(-1)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == data.y_test))
    assert (tmp_path / "rnn" / "confusion_matrix.png").exists()


@pytest.mark.slow
def test_default_cell_is_an_unwrapped_lstm_stack_with_input_dropout(tmp_path):
    run(tmp_path, "--units", "8", "4", "--epochs", "1")
    model = load(tmp_path)
    first, second = model.get_layer("lstm1"), model.get_layer("lstm2")
    assert isinstance(first, keras.layers.LSTM) and isinstance(second, keras.layers.LSTM)
    assert not any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers)
    assert (first.units, second.units) == (8, 4)
    assert first.return_sequences and not second.return_sequences  # stacked
    assert (first.dropout, first.recurrent_dropout) == (0.1, 0.0)  # the defaults


@pytest.mark.slow
def test_forecast_sunspots_against_naive_baseline(tmp_path):
    out = tmp_path / "rnn"
    out.mkdir()
    (out / "confusion_matrix.png").write_bytes(b"an earlier classification run's")
    metrics = run(tmp_path, "--task", "forecast", "--units", "8")
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    assert sorted(p.name for p in out.glob("*.png")) == ["forecast.png", "training_curves.png"]
    model = load(tmp_path)
    assert model.input_shape == (None, 12, 1) and model.output_shape == (None, 1)
    assert model.get_layer("predictions").activation is keras.activations.linear
    # Both errors are in sunspots (not standardised), on the test years.
    data = load_series(window=12)
    mean, std = data.scale
    actual = data.y_test[:, 0] * std + mean
    naive = data.x_test[:, -1, 0] * std + mean
    assert metrics["naive_mae"] == pytest.approx(np.mean(np.abs(naive - actual)), rel=1e-5)
    forecast = model.predict(data.x_test, verbose=0)[:, 0] * std + mean
    assert metrics["test_mae"] == pytest.approx(np.mean(np.abs(forecast - actual)), rel=1e-4)
    assert metrics["test_rmse"] == pytest.approx(
        np.sqrt(np.mean((forecast - actual) ** 2)), rel=1e-4)


@pytest.mark.slow
def test_forecast_users_series(tmp_path):
    path = tmp_path / "series.csv"
    steps = np.arange(120)
    path.write_text("day,sales,other\n" + "\n".join(
        f"{i},{100 + 10 * np.sin(i / 5):.3f},{i % 3}" for i in steps) + "\n")
    metrics = run(tmp_path, "--task", "forecast", "--csv", str(path), "--column", "sales",
                  "--window", "6", "--units", "8")
    # A smooth sine: the naive forecast is off by about one step's change.
    assert metrics["naive_mae"] == pytest.approx(1.3, abs=0.4)
    assert load(tmp_path).input_shape == (None, 6, 1)  # --window
    info = json.loads((tmp_path / "rnn" / "run.json").read_text())
    assert info["class_names"] == ["sales"]  # --column


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--model", "cnn"],
         r"argument `model`.*--cell/--model.*fcn1d, gru, inception_time, lstm, resnet1d.*"
         r"model='cnn'"),
        (["--csv", "series.csv"],
         r"argument `csv`: --csv does not apply to --task classification; add --task forecast"),
        (["--column", "a", "--window", "6"],
         r"argument `column`: --column, --window do not apply to --task classification"),
        (["--task", "forecast", "--train-size", "50"],
         r"argument `train_size`: --train-size does not apply to --task forecast"),
        (["--task", "forecast", "--column", "nope"], r"'nope' not found"),
    ],
)
def test_errors(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run(tmp_path, *flags)
    assert not (tmp_path / "rnn").exists()
