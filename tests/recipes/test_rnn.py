"""The RNN recipe: cells and dropout flags, forecasting mode, users' series, errors."""

import json

import keras
import numpy as np
import pytest

from recipes import rnn


def run(tmp_path, *flags):
    return rnn.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def load(tmp_path):
    return keras.saving.load_model(tmp_path / "rnn" / "model.keras", safe_mode=True)


@pytest.mark.slow
def test_bidirectional_gru_with_dropout(tmp_path):
    metrics = run(tmp_path, "--cell", "gru", "--bidirectional", "--units", "8",
                  "--dropout", "0.1", "--recurrent-dropout", "0.2")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    gru = load(tmp_path).get_layer("bidirectional1").forward_layer
    assert isinstance(gru, keras.layers.GRU)
    assert (gru.units, gru.dropout, gru.recurrent_dropout) == (8, 0.1, 0.2)


@pytest.mark.slow
def test_forecast_sunspots_against_naive_baseline(tmp_path):
    out = tmp_path / "rnn"
    out.mkdir()
    (out / "confusion_matrix.png").write_bytes(b"an earlier classification run's")
    metrics = run(tmp_path, "--task", "forecast", "--units", "8")
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    # The naive forecast of the bundled test years, in sunspots (not standardised).
    assert 15 < metrics["naive_mae"] < metrics["naive_rmse"] < 60
    assert metrics["test_mae"] > 0 and metrics["test_rmse"] >= metrics["test_mae"]
    assert sorted(p.name for p in out.glob("*.png")) == ["forecast.png", "training_curves.png"]
    model = load(tmp_path)
    assert model.input_shape == (None, 12, 1) and model.output_shape == (None, 1)


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
    assert load(tmp_path).input_shape == (None, 6, 1)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--model", "cnn"], r"argument `model`.*--cell/--model.*gru, lstm.*model='cnn'"),
        (["--csv", "series.csv"], r"argument `task`.*'forecast' with --csv"),
        (["--task", "forecast", "--column", "nope"], r"'nope' not found"),
    ],
)
def test_errors(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run(tmp_path, *flags)
    assert not (tmp_path / "rnn").exists()
