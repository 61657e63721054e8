"""The SGDR recipe: the schedule flags reach the callback, the plot, errors."""

import keras
import pandas as pd
import pytest

from recipes import sgdr


def run(tmp_path, *flags):
    return sgdr.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_restarts_and_peak_decay(tmp_path):
    # Two one-epoch cycles; the second peaks at half the first.
    metrics = run(tmp_path, "--model", "mlp", "--max-lr", "0.1", "--min-lr", "0.001",
                  "--cycle-epochs", "1", "--cycle-mult", "1", "--max-lr-decay", "0.5")
    assert metrics["cycles_completed"] == 2
    model = keras.saving.load_model(tmp_path / "sgdr" / "model.keras")
    assert model.input_shape == (None, 64)  # --model mlp: the digits as 64 features
    assert isinstance(model.optimizer, keras.optimizers.SGD)  # SGD with Nesterov momentum
    assert model.optimizer.nesterov and model.optimizer.momentum == pytest.approx(0.9)
    history = pd.read_csv(tmp_path / "sgdr" / "history.csv")
    # The rate of each epoch's last step: the same point of each cycle, so
    # its height above min_lr scales with the cycle's peak.
    first, second = history["learning_rate"] - 0.001
    assert 0 < first < 0.1 / 2
    assert second / first == pytest.approx((0.05 - 0.001) / (0.1 - 0.001), rel=1e-4)
    assert (tmp_path / "sgdr" / "learning_rate.png").exists()


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*zoo classifier.*model='siamese'"):
        run(tmp_path, "--model", "siamese")
    with pytest.raises(ValueError, match=r"--images an image model.*model='gru'"):
        run(tmp_path, "--model", "gru", "--images", str(tmp_path))
    with pytest.raises(ValueError, match=r"argument `min_lr`.*max_lr=0.01"):
        run(tmp_path, "--model", "mlp", "--max-lr", "0.01", "--min-lr", "0.1")
    with pytest.raises(ValueError, match=r"argument `max_lr_decay`.*in \(0, 1\]"):
        run(tmp_path, "--model", "mlp", "--max-lr-decay", "1.5")
    assert not (tmp_path / "sgdr").exists()
