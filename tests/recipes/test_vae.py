"""The VAE recipe: loss parts, latent size, dense variant, errors."""

import keras
import pytest

from recipes import vae
from recipes.common import evaluation
from recipes.common.data import load_dataset
from zoo.vae import ReconstructionLoss, negative_elbo, posterior_mean_reconstruction_loss


def run(tmp_path, *flags):
    return vae.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_loss_parts_and_a_projected_latent_space(tmp_path):
    # Dense, latent_dim 5 (the latent plot is a PCA projection), a beta-VAE.
    metrics = run(tmp_path, "--dense", "--hidden-units", "16", "--latent-dim", "5",
                  "--kl-weight", "2", "--epochs", "1", "--elbo-samples", "7")
    assert metrics["elbo_samples"] == 7
    assert metrics["test_kl_loss"] > 0 and metrics["test_reconstruction_loss"] > 0
    assert metrics["test_posterior_mean_reconstruction_loss"] > 0
    # The ELBO weighs the KL term by 1, whatever the training's --kl-weight.
    assert metrics["test_negative_elbo"] == pytest.approx(
        metrics["test_reconstruction_loss"] + metrics["test_kl_loss"], rel=1e-6
    )
    out = tmp_path / "vae"
    for plot in ("generated", "latent_space", "reconstructions"):
        assert (out / f"{plot}.png").exists()
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    # The flags reached the model: --dense (no convolutions), --hidden-units,
    # --latent-dim, --kl-weight.
    encoder = model.get_layer("encoder")
    assert [type(layer).__name__ for layer in encoder.layers] == [
        "InputLayer", "Flatten", "Dense", "Activation", "Dense", "Dense"]
    assert encoder.get_layer("encoder_block1_dense").units == 16
    assert encoder.get_layer("z_mean").units == 5 and encoder.get_layer("z_log_var").units == 5
    assert "Conv2DTranspose" not in {type(layer).__name__
                                     for layer in model.get_layer("decoder").layers}
    assert model.get_layer("kl_divergence").kl_weight == 2
    # The saved model gives the same figures on the same test digits (the
    # recipe's seed, 0, seeds the draws)...
    x_test = load_dataset("digits", view="image", seed=0).x_test[:100]
    # The per-pixel errors are the posterior-mean reconstruction's (predict()).
    errors = evaluation.pixel_errors(x_test, model.predict(x_test, verbose=0))
    assert metrics["test_mse_per_pixel"] == pytest.approx(errors["mse"], rel=1e-5)
    assert metrics["test_bce_per_pixel"] == pytest.approx(errors["bce"], rel=1e-5)
    elbo = negative_elbo(model, x_test, num_samples=7, seed=0)
    assert elbo["negative_elbo"].mean() == pytest.approx(metrics["test_negative_elbo"], rel=1e-5)
    assert posterior_mean_reconstruction_loss(model, x_test).mean() == pytest.approx(
        metrics["test_posterior_mean_reconstruction_loss"], rel=1e-5
    )
    # ... and Keras' own loss is a one-sample estimate of the objective
    # (kl_weight 2): the exact KL, and a reconstruction term near the mean of 7.
    model.compile(loss=ReconstructionLoss("bernoulli"))
    result = model.evaluate(x_test, x_test, batch_size=100, return_dict=True, verbose=0)
    assert result["kl_loss"] == pytest.approx(metrics["test_kl_loss"], rel=1e-4)
    assert result["loss"] == pytest.approx(
        result["reconstruction_loss"] + 2 * result["kl_loss"], rel=1e-5
    )
    assert result["reconstruction_loss"] == pytest.approx(
        metrics["test_reconstruction_loss"], rel=0.05
    )


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "autoencoder"], "argument `model`.*one of: vae"),
        (["--kl-weight", "-1"], "argument `kl_weight`"),
        # --conv-filters shapes the convolutions: refused with --dense, not ignored.
        (["--dense", "--conv-filters", "8"],
         "argument `conv_filters`.*does not apply to --dense"),
        (["--conv-filters", "4", "8", "16", "32"], "argument `input_shape`.*divisible"),
    ],
)
def test_errors_name_the_flag(flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(tmp_path, *flags)


def test_elbo_samples_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run(tmp_path, "--elbo-samples", "0")
    assert "--elbo-samples" in capsys.readouterr().err
