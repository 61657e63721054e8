"""The LR-finder recipe: suggestions, the results table, --learning-rate, errors."""

import pandas as pd
import pytest

from recipes import lr_finder


def run(tmp_path, *flags):
    return lr_finder.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_trains_with_the_chosen_suggestion_and_saves_the_sweep(tmp_path):
    metrics = run(tmp_path, "--suggestion", "steep", "--num-steps", "30", "--end-lr", "1")
    suggestions = {k: metrics[f"suggested_lr_{k}"] for k in lr_finder.SUGGESTIONS}
    assert all(1e-6 <= rate <= 1 for rate in suggestions.values())
    assert metrics["suggestion"] == "steep"
    assert metrics["learning_rate"] == suggestions["steep"]
    results = pd.read_csv(tmp_path / "lr_finder" / "lr_finder.csv")
    assert list(results.columns) == ["step", "learning_rate", "loss", "smoothed_loss"]
    assert 2 <= len(results) <= 30
    assert results["learning_rate"].is_monotonic_increasing
    assert results["learning_rate"].iloc[0] == pytest.approx(1e-6)
    assert (tmp_path / "lr_finder" / "lr_finder.png").exists()


@pytest.mark.slow
def test_learning_rate_flag_overrides_the_suggestion(tmp_path):
    metrics = run(tmp_path, "--learning-rate", "0.002", "--num-steps", "20", "--model", "cnn")
    assert metrics["learning_rate"] == 0.002
    assert metrics["suggestion"] == "--learning-rate"
    assert metrics["suggested_lr_valley"] > 0


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*zoo classifier.*mlp.*model='vae'"):
        run(tmp_path, "--model", "vae")
    with pytest.raises(ValueError, match=r"argument `model`: --csv needs a vector.*model='cnn'"):
        run(tmp_path, "--model", "cnn", "--csv", str(tmp_path / "table.csv"), "--target", "y")
    with pytest.raises(ValueError, match=r"argument `end_lr`.*start_lr=0.1"):
        run(tmp_path, "--start-lr", "0.1", "--end-lr", "0.01")
    assert not (tmp_path / "lr_finder").exists()
