"""Variational autoencoder: the KL term, sampling, metrics, the negative ELBO.

Build, a short fit, save/load and search-space defaults are covered for the
registered `vae` by test_registry.py. These tests run under whichever
backend is active (TensorFlow by default; CI runs them again with
`KERAS_BACKEND=jax`).
"""

import re

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
    negative_elbo,
    posterior_mean_reconstruction_loss,
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


def _zero_variance(model, log_var=-60.0):
    """A posterior of (numerically) zero variance: every draw is the mean."""
    layer = model.get_layer("encoder").get_layer("z_log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, log_var)])


def _bernoulli_nll(x, p):
    """-log p(x | decoder output p), summed over the features of each example."""
    x = x.reshape(len(x), -1).astype("float64")
    p = np.clip(p.reshape(len(p), -1).astype("float64"), 1e-7, 1 - 1e-7)
    return -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=-1)


def _per_example_kl(z_mean, z_log_var):
    z_mean, z_log_var = z_mean.astype("float64"), z_log_var.astype("float64")
    return -0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=-1)


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

    # evaluate() reports the unweighted KL (closed form: no sampling), the
    # (sampled) reconstruction term and their weighted sum.
    model.compile(loss=ReconstructionLoss("bernoulli"))
    logs = model.evaluate(x, x, batch_size=10, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["kl_loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        logs["loss"], logs["reconstruction_loss"] + 0.5 * expected, rtol=1e-5
    )


def test_evaluate_samples_z_and_predict_decodes_the_mean():
    model = build_vae((16,), latent_dim=2, hidden_units=(8,), seed=0)
    model.compile(loss=ReconstructionLoss("bernoulli"))
    x = _structured_data(n=32)
    # Unit posterior variance (the initial state): one draw per evaluate().
    losses = [model.evaluate(x, x, batch_size=32, verbose=0) for _ in range(3)]
    assert len({round(loss[0], 6) for loss in losses}) == 3
    mean_reconstruction = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), mean_reconstruction)
    # With zero posterior variance the draw is the mean: evaluate() is then
    # exactly the loss of the posterior-mean reconstruction, plus the KL.
    _zero_variance(model)
    z_mean, z_log_var = (_numpy(t) for t in model.get_layer("encoder")(x))
    logs = model.evaluate(x, x, batch_size=32, verbose=0, return_dict=True)
    reconstruction = _bernoulli_nll(x, model.predict(x, verbose=0)).mean()
    np.testing.assert_allclose(logs["reconstruction_loss"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(
        logs["kl_loss"], _per_example_kl(z_mean, z_log_var).mean(), rtol=1e-5
    )
    # The test step leaves no trace: predict() and direct calls keep the mean.
    assert not model.get_layer("sampling")._in_evaluation


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


def test_sampling_at_inference_when_asked():
    layer = Sampling(seed=3, sample_at_inference=True)
    z_mean = np.full((4000, 2), 1.5, dtype="float32")
    z_log_var = np.full((4000, 2), np.log(4.0), dtype="float32")
    samples = _numpy(layer([z_mean, z_log_var]))
    assert abs(samples.std() - 2.0) < 0.1
    np.testing.assert_array_equal(
        samples, _numpy(Sampling(seed=3)([z_mean, z_log_var], training=True))
    )
    clone = Sampling.from_config(layer.get_config())
    assert clone.sample_at_inference is True and clone.seed == 3


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
    for key, value in negative_elbo(loaded, x, num_samples=3, seed=5).items():
        expected = negative_elbo(model, x, num_samples=3, seed=5)[key]
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)


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


# --------------------------------------------------------------------------
# negative_elbo and posterior_mean_reconstruction_loss
# --------------------------------------------------------------------------


def test_negative_elbo_equals_a_hand_computation_with_the_same_draws():
    model = build_vae((16,), latent_dim=3, hidden_units=(8,), seed=0)
    _randomise_log_var_head(model)
    x = _structured_data(n=12)
    result = negative_elbo(model, x, num_samples=4, seed=7, batch_size=5)
    assert set(result) == {"negative_elbo", "reconstruction_loss", "kl_loss"}
    assert all(value.shape == (12,) for value in result.values())

    # The documented draws: eps = keras.random.normal((num_samples, n, d), seed).
    z_mean, z_log_var = model.get_layer("encoder").predict(x, verbose=0)
    eps = _numpy(keras.random.normal((4, 12, 3), seed=7))
    decoder = model.get_layer("decoder")
    reconstruction = np.mean(
        [
            _bernoulli_nll(x, decoder.predict(z_mean + np.exp(0.5 * z_log_var) * e, verbose=0))
            for e in eps
        ],
        axis=0,
    )
    kl = _per_example_kl(z_mean, z_log_var)
    np.testing.assert_allclose(result["reconstruction_loss"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(result["kl_loss"], kl, rtol=1e-5)
    np.testing.assert_allclose(result["negative_elbo"], reconstruction + kl, rtol=1e-5)
    # A seed gives the same estimate every time; another seed, another one.
    again = negative_elbo(model, x, num_samples=4, seed=7, batch_size=5)
    np.testing.assert_array_equal(again["negative_elbo"], result["negative_elbo"])
    other = negative_elbo(model, x, num_samples=4, seed=8)
    assert not np.allclose(other["negative_elbo"], result["negative_elbo"])


def test_negative_elbo_is_exact_for_a_zero_variance_posterior():
    model = build_vae((16,), latent_dim=2, hidden_units=(8,), seed=0)
    _zero_variance(model)
    x = _structured_data(n=10)
    z_mean, z_log_var = model.get_layer("encoder").predict(x, verbose=0)
    posterior_mean = _bernoulli_nll(x, model.predict(x, verbose=0))
    np.testing.assert_allclose(
        posterior_mean_reconstruction_loss(model, x), posterior_mean, rtol=1e-5
    )
    expected = posterior_mean + _per_example_kl(z_mean, z_log_var)
    for num_samples, seed in [(1, 0), (7, 3)]:
        result = negative_elbo(model, x, num_samples=num_samples, seed=seed)
        np.testing.assert_allclose(result["negative_elbo"], expected, rtol=1e-5)


def test_negative_elbo_samples_change_the_variance_not_the_mean():
    # A linear decoder with a unit-variance Gaussian likelihood has a closed
    # form: E_q[0.5 * |x - zW - b|^2] = 0.5 * |x - mW - b|^2
    #   + 0.5 * sum_j var_j * |W_j|^2.
    model = build_vae(
        (6,), latent_dim=2, hidden_units=(), output_activation="linear", seed=0
    )
    _randomise_log_var_head(model, seed=1)
    x = _structured_data(n=20, features=6)
    z_mean, z_log_var = model.get_layer("encoder").predict(x, verbose=0)
    kernel, bias = model.get_layer("decoder").get_layer("reconstruction").get_weights()
    expected = 0.5 * np.sum((x - z_mean @ kernel - bias) ** 2, axis=-1) + 0.5 * np.exp(
        z_log_var
    ) @ np.sum(kernel**2, axis=-1)

    def estimates(num_samples):
        return np.stack([
            negative_elbo(model, x, num_samples=num_samples, distribution="gaussian",
                          seed=seed)["reconstruction_loss"]
            for seed in range(16)
        ])

    one, many = estimates(1), estimates(8)
    var_one, var_many = one.var(axis=0).mean(), many.var(axis=0).mean()
    assert var_one > 0
    assert 2 < var_one / var_many < 32  # about 8
    # Both unbiased: within a few standard errors of the closed form.
    for draws, variance in [(one, var_one), (many, var_many)]:
        error = draws.mean() - expected.mean()
        assert abs(error) < 4 * np.sqrt(variance / draws.size) + 1e-4


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_samples": 0}, "num_samples"),
        ({"num_samples": 2.5}, "num_samples"),
        ({"num_samples": True}, "num_samples"),
        ({"distribution": "poisson"}, "distribution"),
        ({"seed": -1}, "seed"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_negative_elbo_rejects_bad_arguments(kwargs, argument):
    model = build_vae((4,), latent_dim=2, hidden_units=())
    x = np.zeros((2, 4), dtype="float32")
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        negative_elbo(model, x, **kwargs)


def test_negative_elbo_rejects_zero_samples_in_keras_wording():
    model = build_vae((4,), latent_dim=2, hidden_units=())
    message = (
        "Invalid value for argument `num_samples`: expected a positive integer. "
        "Received: num_samples=0"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        negative_elbo(model, np.zeros((2, 4), dtype="float32"), num_samples=0)


def test_elbo_functions_reject_a_model_without_encoder_and_decoder():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    x = np.zeros((2, 4), dtype="float32")
    with pytest.raises(ValueError, match="Invalid value for argument `vae`"):
        negative_elbo(model, x)
    with pytest.raises(ValueError, match="Invalid value for argument `vae`"):
        posterior_mean_reconstruction_loss(model, x)
    with pytest.raises(ValueError, match="Invalid value for argument `distribution`"):
        posterior_mean_reconstruction_loss(model, x, distribution="laplace")
