"""The autoencoder recipes: --model, noise flags, users' tables and images, errors."""

import json

import numpy as np
import pytest

from recipes import autoencoder, conv_autoencoder, denoising_autoencoder
from recipes.common import evaluation
from recipes.common.data import load_dataset, load_table


def run(recipe, tmp_path, *flags):
    return recipe.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def run_one_epoch(recipe, tmp_path, *flags):
    return run(recipe, tmp_path, "--epochs", "1", *flags)


def load_model(folder):
    import keras

    import zoo  # noqa: F401  (registers the zoo's layers)

    return keras.saving.load_model(folder / "model.keras", safe_mode=True)


def shaping_layers(model):
    """(type, width, activation) of the weighted layers and activations of a sub-model."""
    rows = []
    for layer in model.layers:
        width = getattr(layer, "units", None) or getattr(layer, "filters", None)
        if width is not None or type(layer).__name__ == "Activation":
            rows.append((type(layer).__name__, width, layer.activation.__name__))
    return rows


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
    metrics = run_one_epoch(autoencoder, tmp_path, "--csv", str(path), "--latent-dim", "2",
                            "--hidden-units", "16", "--activation", "elu")
    assert "test_bce" not in metrics  # standardised features: MSE only
    out = tmp_path / "autoencoder"
    assert (out / "reconstructions.png").exists()
    # The flags reached the model: 16 elu units, a 2-number code, and a
    # linear output (standardised features) as wide as the encoded table.
    model = load_model(out)
    assert shaping_layers(model.get_layer("encoder")) == [
        ("Dense", 16, "linear"), ("Activation", None, "elu"), ("Dense", 2, "linear")]
    assert shaping_layers(model.get_layer("decoder"))[-1] == (
        "Dense", model.input_shape[-1], "linear")
    info = json.loads((out / "run.json").read_text())
    assert info["task"] == "reconstruction"
    assert [c["name"] for c in info["feature_schema"]["columns"]] == ["a", "b", "colour"]
    assert (out / "preprocessing.keras").exists()  # for recipes.predict

    path = write_table(tmp_path / "labelled.csv")
    run_one_epoch(autoencoder, tmp_path, "--csv", str(path), "--target", "label",
                  "--model", "denoising_autoencoder")
    info = json.loads((out / "run.json").read_text())
    # --target leaves its column out of the features; --model adds the
    # corruption layer (the zoo's default noise, seeded by --seed).
    assert [c["name"] for c in info["feature_schema"]["columns"]] == ["a", "b", "colour"]
    corruption = load_model(out).get_layer("corruption")
    assert corruption.get_config()["seed"] == 0


@pytest.mark.slow
def test_denoising_reports_noisy_against_denoised(tmp_path):
    metrics = run_one_epoch(denoising_autoencoder, tmp_path, "--noise-type",
                            "salt_and_pepper", "--noise-level", "0.2", "--latent-dim", "4")
    out = tmp_path / "denoising_autoencoder"
    assert (out / "denoising.png").exists()
    assert metrics["test_denoised_bce"] > 0  # pixels: both errors reported
    # The noise flags reached the model's training corruption...
    config = load_model(out).get_layer("corruption").get_config()
    assert (config["noise_type"], config["noise_level"]) == ("salt_and_pepper", 0.2)
    # ... and the test inputs': 20% of the pixels set to 0 or 1 by a coin
    # flip, so the noisy inputs' error is near 0.2 * mean((x^2 + (1 - x)^2) / 2).
    data = load_dataset("digits", view="image", seed=0)  # --smoke: 100 of each split
    x_val, x_test = data.x_val[:100], data.x_test[:100]
    expected = 0.2 * np.mean((x_test**2 + (1 - x_test) ** 2) / 2)
    assert metrics["test_noisy_input_mse"] == pytest.approx(expected, rel=0.1)
    # The same draw as the recipe's (validation first), and the saved model's
    # error on those noisy inputs is the denoised error.
    import keras

    from zoo.autoencoder import Corruption

    corruption = Corruption("salt_and_pepper", 0.2, seed=denoising_autoencoder.NOISE_SEED)
    corruption(x_val, training=True)
    noisy_test = keras.ops.convert_to_numpy(corruption(x_test, training=True))
    assert metrics["test_noisy_input_mse"] == pytest.approx(
        evaluation.pixel_errors(x_test, noisy_test, bce=False)["mse"], rel=1e-6)
    denoised = load_model(out).predict(noisy_test, verbose=0)
    assert metrics["test_denoised_mse"] == pytest.approx(
        evaluation.pixel_errors(x_test, denoised)["mse"], rel=1e-5)


@pytest.mark.slow
def test_conv_autoencoder_on_users_images_and_dense_model(tmp_path):
    import keras

    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            keras.utils.save_img(folder / label / f"{i}.png", rng.uniform(0, 255, (12, 12, 3)))
    run_one_epoch(conv_autoencoder, tmp_path, "--images", str(folder),
                  "--image-size", "8", "8", "--filters", "4", "8", "--latent-dim", "2")
    out = tmp_path / "conv_autoencoder"
    model = load_model(out)
    # --image-size and the folder's RGB images, --filters, --latent-dim:
    assert model.input_shape == (None, 8, 8, 3)
    assert shaping_layers(model.get_layer("encoder")) == [
        ("Conv2D", 4, "linear"), ("Activation", None, "relu"),
        ("Conv2D", 8, "linear"), ("Activation", None, "relu"), ("Dense", 2, "linear")]
    assert shaping_layers(model.get_layer("decoder"))[-1] == ("Conv2D", 3, "sigmoid")

    metrics = run_one_epoch(conv_autoencoder, tmp_path, "--model", "autoencoder",
                            "--hidden-units", "16", "--batch-norm", "after")
    model = load_model(out)
    encoder_types = [type(layer).__name__ for layer in model.get_layer("encoder").layers]
    assert "Conv2D" not in encoder_types  # dense, on the same 8x8 digits
    assert encoder_types == ["InputLayer", "Flatten", "Dense", "Activation",
                             "BatchNormalization", "Dense"]  # --batch-norm after
    assert model.get_layer("encoder").get_layer("latent").units == 8  # --latent-dim default
    saved = json.loads((out / "metrics.json").read_text())
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
        # A flag of the other model is refused, not ignored.
        (conv_autoencoder, ["--hidden-units", "16"],
         "argument `hidden_units`.*does not apply to --model conv_autoencoder"),
        (conv_autoencoder, ["--model", "autoencoder", "--filters", "8"],
         "argument `filters`.*does not apply to --model autoencoder"),
    ],
)
def test_errors_name_the_flag(recipe, flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(recipe, tmp_path, *flags)


def test_table_errors(tmp_path):
    with pytest.raises(ValueError, match="argument `csv`.*an existing CSV file"):
        load_table(tmp_path / "missing.csv")
    path = tmp_path / "short.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has 1 rows; need 10 or more"):
        load_table(path)
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(11)) + "3,\n")
    with pytest.raises(ValueError, match="column 'b': missing value at line 13"):
        load_table(path)
