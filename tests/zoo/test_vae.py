"""Variational autoencoder: the KL term, sampling, metrics, generation.

Build, a short fit, save/load and search-space defaults are covered for the
registered `vae` by test_registry.py. These tests run under whichever
backend is active (TensorFlow by default; CI runs them again with
`KERAS_BACKEND=jax`).
"""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo.vae import (
    VAE,
    KLDivergence,
    ReconstructionLoss,
    Sampling,
    build_vae,
    kl_divergence,
    search_space,
)


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _closed_form_kl(z_mean, z_log_var):
    """Mean over the batch of KL(N(mean, exp(log_var)) || N(0, I)), numpy."""
    per_sample = -0.5 * np.sum(
        1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=-1, dtype="float64"
    )
    return per_sample.mean()


def _structured_data(n=64, features=16, seed=0):
    """Data on a 2-d manifold in [0, 1]: what a 2-d VAE can learn."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    weights = rng.normal(size=(2, features)) * 2
    return (1 / (1 + np.exp(-(z @ weights)))).astype("float32")


def _randomise_log_var_head(model, seed=0):
    """The z_log_var head starts at zero; give it weights for a real test."""
    layer = model.get_layer("encoder").get_layer("z_log_var")
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.normal(size=w.shape) for w in layer.get_weights()])


def test_registered():
    assert "vae" in zoo.list_models()
    assert zoo.get_spec("vae").builder is build_vae


def test_structure_and_submodels():
    model = build_vae((16,), latent_dim=3, hidden_units=(8,))
    assert isinstance(model, VAE) and isinstance(model, keras.Model)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    assert [tuple(t.shape[1:]) for t in encoder.outputs] == [(3,), (3,)]
    assert tuple(decoder.input.shape[1:]) == (3,)
    assert isinstance(model.get_layer("kl_divergence"), KLDivergence)
    assert isinstance(model.get_layer("sampling"), Sampling)
    assert model.output.shape[1:] == (16,)


def test_kl_added_by_the_model_equals_the_closed_form():
    model = build_vae((16,), latent_dim=3, hidden_units=(8,), kl_weight=0.5, seed=0)
    _randomise_log_var_head(model)
    x = _structured_data(n=10)
    z_mean, z_log_var = (_numpy(t) for t in model.get_layer("encoder")(x))
    assert np.std(z_log_var) > 0.1  # not the trivial unit-variance case
    expected = _closed_form_kl(z_mean, z_log_var)

    model(x, training=False)
    (added,) = model.losses
    np.testing.assert_allclose(_numpy(added), 0.5 * expected, rtol=1e-5)
    np.testing.assert_allclose(
        np.mean(_numpy(kl_divergence(z_mean, z_log_var))), expected, rtol=1e-5
    )

    # evaluate() reports the unweighted KL, the reconstruction term and
    # their weighted sum.
    model.compile(loss=ReconstructionLoss("bernoulli"))
    logs = model.evaluate(x, x, batch_size=10, verbose=0, return_dict=True)
    y_pred = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    reconstruction = -np.sum(x * np.log(y_pred) + (1 - x) * np.log(1 - y_pred), axis=-1)
    np.testing.assert_allclose(logs["kl_loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        logs["reconstruction_loss"], reconstruction.mean(), rtol=1e-4
    )
    np.testing.assert_allclose(
        logs["loss"], reconstruction.mean() + 0.5 * expected, rtol=1e-4
    )


def test_fit_trains_the_negative_elbo_and_reports_both_parts():
    x = _structured_data(n=64)
    model = build_vae((16,), latent_dim=2, hidden_units=(32,), seed=1)
    model.compile(keras.optimizers.Adam(1e-2), loss=ReconstructionLoss("bernoulli"))
    history = model.fit(
        x, x, epochs=12, batch_size=16, shuffle=False, verbose=0
    ).history
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(history)
    loss = np.array(history["loss"])
    assert np.isfinite(loss).all()
    assert loss[-3:].mean() < 0.9 * loss[:3].mean()
    # Equal batches: the epoch means add up exactly like the batch losses.
    np.testing.assert_allclose(
        loss, np.add(history["reconstruction_loss"], history["kl_loss"]), rtol=1e-4
    )
    assert min(history["kl_loss"]) > 0


def test_sampling_returns_the_mean_at_inference_and_samples_in_training():
    layer = Sampling(seed=3)
    z_mean = np.full((4000, 2), 1.5, dtype="float32")
    z_log_var = np.full((4000, 2), np.log(4.0), dtype="float32")
    np.testing.assert_array_equal(_numpy(layer([z_mean, z_log_var])), z_mean)
    samples = _numpy(layer([z_mean, z_log_var], training=True))
    assert abs(samples.mean() - 1.5) < 0.1
    assert abs(samples.std() - 2.0) < 0.1
    again = _numpy(Sampling(seed=3)([z_mean, z_log_var], training=True))
    np.testing.assert_array_equal(samples, again)
    next_samples = _numpy(layer([z_mean, z_log_var], training=True))
    assert not np.array_equal(samples, next_samples)


def test_predict_is_deterministic_training_calls_are_not():
    model = build_vae((16,), latent_dim=2, hidden_units=(8,), seed=0)
    x = _structured_data(n=8)
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    first, second = _numpy(model(x, training=True)), _numpy(model(x, training=True))
    assert not np.allclose(first, second)


def test_convolutional_vae_trains_generates_and_round_trips(tmp_path):
    model = build_vae(
        (8, 8, 1), latent_dim=2, hidden_units=(8,), conv_filters=(4, 8), seed=0
    )
    encoder = model.get_layer("encoder")
    assert isinstance(encoder.get_layer("encoder_stage2_conv"), keras.layers.Conv2D)
    decoder = model.get_layer("decoder")
    conv = decoder.get_layer("decoder_stage1_conv")
    assert isinstance(conv, keras.layers.Conv2DTranspose)
    x = _structured_data(n=32, features=64).reshape(32, 8, 8, 1)
    model.compile(keras.optimizers.Adam(1e-2), loss=ReconstructionLoss())
    history = model.fit(x, x, epochs=6, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]

    prior = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    samples = decoder.predict(prior, verbose=0)
    assert samples.shape == (5, 8, 8, 1)
    assert samples.min() >= 0 and samples.max() <= 1

    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, VAE)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.get_layer("decoder").predict(prior, verbose=0), samples, atol=1e-6
    )
    logs = loaded.evaluate(x, x, verbose=0, return_dict=True)
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(logs)


def test_dense_vae_flattens_images_and_linear_output():
    model = build_vae(
        (4, 4, 2), latent_dim=2, hidden_units=(), output_activation="linear"
    )
    assert model.output.shape[1:] == (4, 4, 2)
    decoder = model.get_layer("decoder")
    assert decoder.get_layer("reconstruction").activation is keras.activations.linear


@pytest.mark.parametrize("batch_norm", ["before", "after"])
def test_batch_norm_and_dropout_variants(batch_norm):
    model = build_vae(
        (8, 8, 1), latent_dim=2, hidden_units=(8,), conv_filters=(4,),
        batch_norm=batch_norm, dropout_rate=0.2, activation="gelu",
    )
    encoder = model.get_layer("encoder")
    bn = encoder.get_layer("encoder_stage1_bn")
    assert isinstance(bn, keras.layers.BatchNormalization)
    assert isinstance(encoder.get_layer("encoder_block1_dropout"), keras.layers.Dropout)


def test_reconstruction_loss_sums_over_features():
    rng = np.random.default_rng(0)
    y_true = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    y_pred = rng.uniform(0.05, 0.95, size=(3, 4, 4, 1)).astype("float32")
    bce = -(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    np.testing.assert_allclose(
        _numpy(ReconstructionLoss("bernoulli")(y_true, y_pred)),
        bce.reshape(3, -1).sum(axis=1).mean(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        _numpy(ReconstructionLoss("gaussian")(y_true, y_pred)),
        (0.5 * (y_true - y_pred) ** 2).reshape(3, -1).sum(axis=1).mean(),
        rtol=1e-5,
    )
    loss = ReconstructionLoss("gaussian", name="nll")
    clone = ReconstructionLoss.from_config(loss.get_config())
    assert clone.distribution == "gaussian" and clone.name == "nll"
    with pytest.raises(ValueError, match="Invalid value for argument `distribution`"):
        ReconstructionLoss("poisson")


def test_kl_layer_passes_inputs_through_and_round_trips_config():
    layer = KLDivergence(kl_weight=2.0, name="kl")
    z_mean = np.zeros((2, 3), dtype="float32")
    z_log_var = np.zeros((2, 3), dtype="float32")
    outputs = layer([z_mean, z_log_var])
    np.testing.assert_array_equal(_numpy(outputs[0]), z_mean)
    np.testing.assert_array_equal(_numpy(outputs[1]), z_log_var)
    assert float(_numpy(layer.losses[0])) == 0.0  # the prior has zero KL
    assert KLDivergence.from_config(layer.get_config()).kl_weight == 2.0
    assert Sampling.from_config(Sampling(seed=4).get_config()).seed == 4


@pytest.mark.parametrize("kl_weight", [-1.0, float("inf"), "one", True])
def test_kl_layer_rejects_bad_weight(kl_weight):
    with pytest.raises(ValueError, match="Invalid value for argument `kl_weight`"):
        KLDivergence(kl_weight)


def test_sampling_rejects_bad_seed():
    with pytest.raises(ValueError, match="Invalid value for argument `seed`"):
        Sampling(seed=-3)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (0,)}, "input_shape"),
        ({"input_shape": (64,), "conv_filters": (4,)}, "input_shape"),
        ({"conv_filters": ()}, "conv_filters"),
        ({"conv_filters": (4, 0)}, "conv_filters"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"hidden_units": (8, -1)}, "hidden_units"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"strides": -2}, "strides"),
        ({"activation": "softplus"}, "activation"),
        ({"batch_norm": "both"}, "batch_norm"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
        ({"output_activation": "softmax"}, "output_activation"),
        ({"kl_weight": -0.5}, "kl_weight"),
        ({"seed": 2.5}, "seed"),
    ],
)
def test_build_vae_rejects_bad_arguments(kwargs, argument):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        build_vae(**kwargs)


def test_build_vae_names_stride_mismatch():
    pattern = r"total stride 8.*conv_filters.*\(12, 12, 1\)"
    with pytest.raises(ValueError, match=pattern):
        build_vae((12, 12, 1), conv_filters=(4, 4, 4))


def test_search_space_keeps_fixed_conv_filters():
    hp = keras_tuner.HyperParameters()
    model = search_space(hp, input_shape=(8, 8, 1), conv_filters=(4, 8), latent_dim=3)
    assert "latent_dim" not in hp.values
    assert {"num_layers", "units", "activation", "dropout_rate"} <= set(hp.values)
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("encoder_stage2_conv").filters == 8
    assert encoder.get_layer("z_mean").units == 3


def test_reported_parts_add_up_to_the_loss_with_a_short_last_batch():
    import zoo
    from zoo.vae import ReconstructionLoss

    model = zoo.build("vae", input_shape=(16,), latent_dim=2, hidden_units=(8,))
    model.compile("adam", ReconstructionLoss("bernoulli"))
    x = np.random.default_rng(0).uniform(size=(37, 16)).astype("float32")
    result = model.evaluate(x, x, batch_size=16, return_dict=True, verbose=0)
    assert result["loss"] == pytest.approx(
        result["reconstruction_loss"] + result["kl_loss"], rel=1e-5
    )
