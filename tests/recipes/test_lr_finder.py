"""The LR-finder recipe: suggestions, the rate trained with, the sweep's table, errors."""

import keras
import pandas as pd
import pytest

from recipes import lr_finder


def run(tmp_path, *flags):
    return lr_finder.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def layer_types(model):
    """The classes of a model's layers, those of nested models included."""
    found = set()
    for layer in model.layers:
        found.add(type(layer))
        if isinstance(layer, keras.Model):
            found |= layer_types(layer)
    return found


@pytest.mark.slow
def test_trains_with_the_chosen_suggestion_and_saves_the_sweep(tmp_path):
    metrics = run(tmp_path, "--suggestion", "steep", "--num-steps", "30", "--end-lr", "1")
    out = tmp_path / "lr_finder"
    suggestions = {k: metrics[f"suggested_lr_{k}"] for k in lr_finder.SUGGESTIONS}
    assert metrics["suggestion"] == "steep"
    assert metrics["learning_rate"] == suggestions["steep"]
    # --suggestion steep is the rate the model was trained with.
    model = keras.saving.load_model(out / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(suggestions["steep"], rel=1e-6)
    # The sweep of --num-steps 30 (fewer if it diverged) from --start-lr to --end-lr.
    results = pd.read_csv(out / "lr_finder.csv")
    assert list(results.columns) == ["step", "learning_rate", "loss", "smoothed_loss"]
    assert 2 <= len(results) <= 30
    assert results["learning_rate"].is_monotonic_increasing
    assert results["learning_rate"].iloc[0] == pytest.approx(1e-6)
    if len(results) == 30:  # ran to the end
        assert results["learning_rate"].iloc[-1] == pytest.approx(1.0)
    assert all(1e-6 <= rate <= results["learning_rate"].max() for rate in suggestions.values())
    assert (out / "lr_finder.png").exists()


@pytest.mark.slow
def test_learning_rate_flag_overrides_the_suggestion(tmp_path):
    metrics = run(tmp_path, "--learning-rate", "0.002", "--num-steps", "20", "--model", "cnn")
    assert metrics["learning_rate"] == 0.002
    assert metrics["suggestion"] == "--learning-rate"
    assert metrics["suggested_lr_valley"] != 0.002
    out = tmp_path / "lr_finder"
    assert len(pd.read_csv(out / "lr_finder.csv")) <= 20  # --num-steps
    model = keras.saving.load_model(out / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)
    assert model.input_shape == (None, 8, 8, 1)  # --model cnn: the digits as images
    assert keras.layers.Conv2D in layer_types(model)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*zoo classifier.*mlp.*model='vae'"):
        run(tmp_path, "--model", "vae")
    with pytest.raises(ValueError, match=r"argument `model`: --csv needs a vector.*model='cnn'"):
        run(tmp_path, "--model", "cnn", "--csv", str(tmp_path / "table.csv"), "--target", "y")
    with pytest.raises(ValueError, match=r"argument `end_lr`.*start_lr=0.1"):
        run(tmp_path, "--start-lr", "0.1", "--end-lr", "0.01")
    assert not (tmp_path / "lr_finder").exists()
