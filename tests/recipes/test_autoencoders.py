"""The autoencoder recipes: --model, noise flags, users' tables and images, errors."""

import json

import numpy as np
import pytest

from recipes import autoencoder, conv_autoencoder, denoising_autoencoder
from recipes.common import datasets, evaluation


def run(recipe, tmp_path, *flags):
    return recipe.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def run_one_epoch(recipe, tmp_path, *flags):
    return run(recipe, tmp_path, "--epochs", "1", *flags)


def write_table(path, *, label=True):
    rng = np.random.default_rng(0)
    rows = [
        f"{a:.3f},{2 * a + rng.normal(0, 0.1):.3f},{'red' if i % 3 else 'blue'}"
        + (f",{i % 2}" if label else "")
        for i, a in enumerate(rng.normal(size=60))
    ]
    header = "a,b,colour" + (",label" if label else "")
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_pixel_errors():
    clean = np.array([[0.0, 1.0, 0.5, 0.5]])
    errors = evaluation.pixel_errors(clean, np.array([[0.0, 1.0, 0.5, 1.0]]))
    assert errors["mse"] == pytest.approx(0.0625)
    # Predictions clipped to [1e-7, 1 - 1e-7]: exact 0 and 1 cost ~0, 0.5
    # against 0.5 costs log 2, 0.5 against 1 costs -0.5 * log(1e-7).
    assert errors["bce"] == pytest.approx((np.log(2) - 0.5 * np.log(1e-7)) / 4, rel=1e-4)
    assert evaluation.pixel_errors(clean, clean + 1, bce=False) == {"mse": 1.0}


@pytest.mark.slow
def test_autoencoder_on_a_table_without_and_with_a_target(tmp_path):
    path = write_table(tmp_path / "table.csv", label=False)
    metrics = run_one_epoch(autoencoder, tmp_path, "--csv", str(path), "--latent-dim", "2")
    assert "test_bce" not in metrics  # standardised features: MSE only
    assert metrics["test_mse"] > 0
    assert (tmp_path / "autoencoder" / "reconstructions.png").exists()
    path = write_table(tmp_path / "labelled.csv")
    metrics = run_one_epoch(autoencoder, tmp_path, "--csv", str(path), "--target", "label",
                            "--model", "denoising_autoencoder")
    assert metrics["test_mse"] > 0


@pytest.mark.slow
def test_denoising_reports_noisy_against_denoised(tmp_path):
    metrics = run_one_epoch(denoising_autoencoder, tmp_path, "--noise-type",
                            "salt_and_pepper", "--noise-level", "0.2", "--latent-dim", "4")
    # 20% of the pixels set to 0 or 1: the noisy inputs' error is far from 0.
    assert 0.05 < metrics["test_noisy_input_mse"] < 0.3
    assert 0 < metrics["test_denoised_mse"] < 1 and metrics["test_denoised_bce"] > 0
    assert (tmp_path / "denoising_autoencoder" / "denoising.png").exists()


@pytest.mark.slow
def test_conv_autoencoder_on_users_images_and_dense_model(tmp_path):
    import keras

    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            keras.utils.save_img(folder / label / f"{i}.png", rng.uniform(0, 255, (12, 12, 3)))
    metrics = run_one_epoch(conv_autoencoder, tmp_path, "--images", str(folder),
                            "--image-size", "8", "8", "--filters", "4", "8", "--latent-dim", "2")
    assert 0 < metrics["test_mse"] < 1
    metrics = run_one_epoch(conv_autoencoder, tmp_path, "--model", "autoencoder",
                            "--hidden-units", "16")
    saved = json.loads((tmp_path / "conv_autoencoder" / "metrics.json").read_text())
    assert saved == pytest.approx(metrics)


@pytest.mark.parametrize(
    "recipe, flags, message",
    [
        (autoencoder, ["--model", "conv_autoencoder"],
         "argument `model`.*one of: autoencoder, denoising_autoencoder"),
        (denoising_autoencoder, ["--model", "vae"],
         "argument `model`.*one of: denoising_autoencoder, autoencoder"),
        (conv_autoencoder, ["--model", "cnn"],
         "argument `model`.*one of: conv_autoencoder, autoencoder"),
        (denoising_autoencoder, ["--noise-type", "masking", "--noise-level", "1.5"],
         "argument `noise_level`"),
        (conv_autoencoder, ["--filters", "4", "8", "16", "32"],
         "argument `input_shape`.*divisible"),
    ],
)
def test_errors_name_the_flag(recipe, flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(recipe, tmp_path, *flags)


def test_table_errors(tmp_path):
    with pytest.raises(ValueError, match="argument `csv`.*an existing CSV file"):
        datasets.load_table(tmp_path / "missing.csv")
    path = tmp_path / "short.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has 1 rows; need 10 or more"):
        datasets.load_table(path)
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(11)) + "3,\n")
    with pytest.raises(ValueError, match="column 'b': missing value at line 13"):
        datasets.load_table(path)
