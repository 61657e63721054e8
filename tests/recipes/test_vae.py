"""The VAE recipe: loss parts, latent size, dense variant, errors."""

import keras
import pytest

from recipes import vae
from recipes.common import datasets
from zoo.vae import ReconstructionLoss


def run(tmp_path, *flags):
    return vae.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_loss_parts_and_a_projected_latent_space(tmp_path):
    # Dense, latent_dim 5 (the latent plot is a PCA projection), a beta-VAE.
    metrics = run(tmp_path, "--dense", "--hidden-units", "16", "--latent-dim", "5",
                  "--kl-weight", "2", "--epochs", "1")
    assert metrics["test_kl_loss"] > 0 and metrics["test_reconstruction_loss"] > 0
    assert metrics["test_loss"] == pytest.approx(
        metrics["test_reconstruction_loss"] + 2 * metrics["test_kl_loss"], rel=1e-6
    )
    assert 0 < metrics["test_mse_per_pixel"] < 1
    out = tmp_path / "vae"
    for plot in ("generated", "latent_space", "reconstructions"):
        assert (out / f"{plot}.png").exists()
    # Keras' own loss of the saved model on the same test digits agrees (one batch).
    x_test = datasets.load_dataset("digits", view="image", seed=0).x_test[:100]
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    model.compile(loss=ReconstructionLoss("bernoulli"))
    result = model.evaluate(x_test, x_test, batch_size=100, return_dict=True, verbose=0)
    assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-4)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "autoencoder"], "argument `model`.*one of: vae"),
        (["--kl-weight", "-1"], "argument `kl_weight`"),
    ],
)
def test_errors_name_the_flag(flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        run(tmp_path, *flags)
