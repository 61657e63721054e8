"""Autoencoders: sub-models, corruption, strides and every validation branch.

Build, fit, save/load and search-space defaults are covered for every
registered name by test_registry.py; these tests cover what is particular to
the autoencoder family.
"""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo.autoencoder import (
    Corruption,
    build_autoencoder,
    build_conv_autoencoder,
    build_denoising_autoencoder,
    conv_search_space,
    denoising_search_space,
    search_space,
)


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _uniform(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


def test_registered_names():
    for name in ("autoencoder", "denoising_autoencoder", "conv_autoencoder"):
        assert zoo.get_spec(name).task == "reconstruction"


# --------------------------------------------------------------------------
# Dense autoencoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("input_shape", [(12,), (4, 4, 1)])
def test_encoder_and_decoder_work_alone(input_shape):
    model = build_autoencoder(input_shape, latent_dim=3, hidden_units=(8, 5))
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    x = _uniform((5,) + input_shape)
    codes = _numpy(encoder(x))
    assert codes.shape == (5, 3)
    assert _numpy(decoder(codes)).shape == (5,) + input_shape
    assert model.output.shape[1:] == input_shape
    np.testing.assert_allclose(_numpy(model(x)), _numpy(decoder(codes)), atol=1e-6)
    # The decoder mirrors the encoder's widths.
    assert encoder.get_layer("encoder_block1_dense").units == 8
    assert decoder.get_layer("decoder_block1_dense").units == 5


def test_linear_autoencoder_without_hidden_layers():
    model = build_autoencoder((6,), latent_dim=2, hidden_units=())
    encoder = model.get_layer("encoder")
    dense = [
        layer.name for layer in encoder.layers if isinstance(layer, keras.layers.Dense)
    ]
    assert dense == ["latent"]


@pytest.mark.parametrize(
    "output_activation, low, high",
    [
        ("sigmoid", 0.0, 1.0),
        ("tanh", -1.0, 1.0),
        ("linear", None, None),
        (None, None, None),
    ],
)
def test_output_activation(output_activation, low, high):
    model = build_autoencoder(
        (10,), latent_dim=2, hidden_units=(6,), output_activation=output_activation
    )
    layer = model.get_layer("decoder").get_layer("reconstruction")
    expected = output_activation or "linear"
    assert layer.activation is keras.activations.get(expected)
    if low is not None:
        outputs = _numpy(model(10 * _uniform((4, 10)) - 5))
        assert outputs.min() >= low and outputs.max() <= high


@pytest.mark.parametrize("batch_norm", ["before", "after"])
def test_batch_norm_and_dropout(batch_norm):
    model = build_autoencoder(
        (10,), latent_dim=2, hidden_units=(6,), batch_norm=batch_norm, dropout_rate=0.2
    )
    encoder = model.get_layer("encoder")
    bn = encoder.get_layer("encoder_block1_bn")
    assert isinstance(bn, keras.layers.BatchNormalization)
    assert isinstance(encoder.get_layer("encoder_block1_dropout"), keras.layers.Dropout)
    assert encoder.get_layer("encoder_block1_dense").use_bias == (batch_norm == "after")


def test_selu_uses_alpha_dropout_and_lecun_init():
    model = build_autoencoder(
        (10,), latent_dim=2, hidden_units=(6,), activation="selu", dropout_rate=0.1
    )
    decoder = model.get_layer("decoder")
    dropout = decoder.get_layer("decoder_block1_dropout")
    assert isinstance(dropout, keras.layers.AlphaDropout)
    initializer = decoder.get_layer("decoder_block1_dense").kernel_initializer
    assert isinstance(initializer, keras.initializers.LecunNormal)


DENSE_BAD_ARGUMENTS = [
    ({"input_shape": (0, 3)}, "input_shape"),
    ({"input_shape": "abc"}, "input_shape"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"latent_dim": 2.5}, "latent_dim"),
    ({"hidden_units": (8, 0)}, "hidden_units"),
    ({"hidden_units": "wide"}, "hidden_units"),
    ({"activation": "tanhh"}, "activation"),
    ({"batch_norm": "middle"}, "batch_norm"),
    ({"dropout_rate": 1.0}, "dropout_rate"),
    ({"dropout_rate": -0.1}, "dropout_rate"),
    ({"output_activation": "softmax"}, "output_activation"),
]


@pytest.mark.parametrize("builder", [build_autoencoder, build_denoising_autoencoder])
@pytest.mark.parametrize("kwargs, argument", DENSE_BAD_ARGUMENTS)
def test_dense_builders_reject_bad_arguments(builder, kwargs, argument):
    kwargs = {"input_shape": (8,), **kwargs}
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        builder(**kwargs)


# --------------------------------------------------------------------------
# Corruption and the denoising autoencoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("noise_type", ["gaussian", "masking", "salt_and_pepper"])
def test_corruption_is_the_identity_at_inference(noise_type):
    layer = Corruption(noise_type, 0.3, seed=1)
    x = _uniform((20, 30))
    np.testing.assert_array_equal(_numpy(layer(x)), x)
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), x)
    assert not np.array_equal(_numpy(layer(x, training=True)), x)


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_masking_zeroes_the_stated_fraction(rate):
    x = np.ones((200, 100), dtype="float32")
    corrupted = _numpy(Corruption("masking", rate, seed=3)(x, training=True))
    assert set(np.unique(corrupted)) <= {0.0, 1.0}
    assert abs(np.mean(corrupted == 0) - rate) < 0.015


@pytest.mark.parametrize("rate, value_range", [(0.2, (0.0, 1.0)), (0.5, (-1.0, 2.0))])
def test_salt_and_pepper_hits_the_stated_fraction_half_each_way(rate, value_range):
    low, high = value_range
    x = np.full((200, 100), 0.5, dtype="float32")
    layer = Corruption("salt_and_pepper", rate, value_range=value_range, seed=4)
    corrupted = _numpy(layer(x, training=True))
    assert set(np.unique(corrupted)) <= {low, 0.5, high}
    assert abs(np.mean(corrupted != 0.5) - rate) < 0.015
    assert abs(np.mean(corrupted == low) - rate / 2) < 0.015
    assert abs(np.mean(corrupted == high) - rate / 2) < 0.015


@pytest.mark.parametrize("stddev", [0.05, 0.5, 1.0])
def test_gaussian_noise_has_the_stated_standard_deviation(stddev):
    x = _uniform((200, 100))
    noise = _numpy(Corruption("gaussian", stddev, seed=5)(x, training=True)) - x
    assert abs(noise.mean()) < 0.05 * stddev
    assert abs(noise.std() / stddev - 1) < 0.03


def test_gaussian_corruption_is_keras_gaussian_noise():
    layer = Corruption("gaussian", 0.3, seed=5)
    assert isinstance(layer.gaussian_noise, keras.layers.GaussianNoise)
    x = _uniform((20, 30))
    expected = keras.layers.GaussianNoise(0.3, seed=5)(x, training=True)
    np.testing.assert_array_equal(_numpy(layer(x, training=True)), _numpy(expected))


def test_zero_rate_corrupts_nothing_even_in_training():
    x = _uniform((10, 10))
    for noise_type in ("masking", "salt_and_pepper"):
        layer = Corruption(noise_type, 0.0)
        np.testing.assert_array_equal(_numpy(layer(x, training=True)), x)


def test_corruption_seed_is_reproducible_and_calls_differ():
    x = np.ones((10, 50), dtype="float32")
    first = Corruption("masking", 0.5, seed=7)
    second = Corruption("masking", 0.5, seed=7)
    a = _numpy(first(x, training=True))
    np.testing.assert_array_equal(a, _numpy(second(x, training=True)))
    assert not np.array_equal(a, _numpy(first(x, training=True)))


def test_corruption_config_round_trip():
    layer = Corruption(
        "salt_and_pepper", 0.3, value_range=(-1, 1), seed=2, name="noise"
    )
    clone = Corruption.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.value_range == (-1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"noise_type": "poisson"}, "noise_type"),
        ({"noise_type": "gaussian", "noise_level": 0.0}, "noise_level"),
        ({"noise_type": "gaussian", "noise_level": -1.0}, "noise_level"),
        ({"noise_type": "gaussian", "noise_level": float("inf")}, "noise_level"),
        ({"noise_type": "gaussian", "noise_level": 1.5}, "noise_level"),
        ({"noise_type": "gaussian", "noise_level": True}, "noise_level"),
        ({"noise_type": "masking", "noise_level": 1.0}, "noise_level"),
        ({"noise_type": "salt_and_pepper", "noise_level": -0.2}, "noise_level"),
        ({"noise_type": "masking", "noise_level": "high"}, "noise_level"),
        ({"value_range": (1.0, 0.0)}, "value_range"),
        ({"value_range": (0.0, 1.0, 2.0)}, "value_range"),
        ({"value_range": (0.0, float("nan"))}, "value_range"),
        ({"value_range": 1.0}, "value_range"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_corruption_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        Corruption(**kwargs)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"noise_type": "dropout"}, "noise_type"),
        ({"noise_type": "gaussian", "noise_level": 0}, "noise_level"),
        ({"noise_type": "masking", "noise_level": 1.2}, "noise_level"),
        ({"noise_type": "gaussian", "noise_level": 1.01}, "noise_level"),
        ({"seed": "seven"}, "seed"),
    ],
)
def test_denoising_builder_rejects_bad_noise_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        build_denoising_autoencoder((8,), **kwargs)


@pytest.mark.parametrize("noise_type", ["gaussian", "masking", "salt_and_pepper"])
def test_denoising_autoencoder_corrupts_only_in_training(noise_type):
    model = build_denoising_autoencoder(
        (20,), noise_type=noise_type, noise_level=0.3, latent_dim=3, hidden_units=(8,),
        seed=0,
    )
    corruption = model.get_layer("corruption")
    if noise_type == "gaussian":
        # Keras' own layer: additive noise in training only, as Corruption's.
        assert type(corruption) is keras.layers.GaussianNoise
        assert (corruption.stddev, corruption.seed) == (0.3, 0)
    else:
        assert isinstance(corruption, Corruption)
        assert corruption.noise_type == noise_type
    encoder = model.get_layer("encoder")
    noise_layers = (Corruption, keras.layers.GaussianNoise)
    assert not any(isinstance(layer, noise_layers) for layer in encoder.layers)
    x = _uniform((16, 20))
    clean = _numpy(model.get_layer("decoder")(encoder(x)))
    np.testing.assert_allclose(model.predict(x, verbose=0), clean, atol=1e-6)
    assert not np.allclose(_numpy(model(x, training=True)), clean, atol=1e-4)


def test_gaussian_noise_level_is_a_standard_deviation_up_to_one():
    # keras.layers.GaussianNoise takes a standard deviation in [0, 1].
    with pytest.raises(ValueError, match=r"`noise_level`: expected a standard deviation "
                       r"in \(0, 1\].*Received: noise_level=1.5"):
        build_denoising_autoencoder((8,), noise_type="gaussian", noise_level=1.5)
    model = build_denoising_autoencoder((8,), noise_type="gaussian", noise_level=1)
    assert model.get_layer("corruption").stddev == 1.0


@pytest.mark.parametrize("noise_type", ["gaussian", "masking", "salt_and_pepper"])
def test_denoising_autoencoder_seed_makes_the_corruption_deterministic(noise_type):
    def corruption(seed):
        model = build_denoising_autoencoder(
            (50,), noise_type=noise_type, noise_level=0.3, latent_dim=2,
            hidden_units=(4,), seed=seed,
        )
        return model.get_layer("corruption")

    x = _uniform((20, 50))
    first, second = corruption(3), corruption(3)
    a = _numpy(first(x, training=True))
    np.testing.assert_array_equal(a, _numpy(second(x, training=True)))
    assert not np.array_equal(a, _numpy(corruption(4)(x, training=True)))
    # Successive calls draw new noise.
    assert not np.array_equal(a, _numpy(first(x, training=True)))


def test_gaussian_denoising_autoencoder_round_trips_in_safe_mode(tmp_path):
    model = build_denoising_autoencoder(
        (12,), noise_type="gaussian", noise_level=0.2, latent_dim=2, hidden_units=(6,),
        seed=1,
    )
    path = tmp_path / "dae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    corruption = loaded.get_layer("corruption")
    assert type(corruption) is keras.layers.GaussianNoise
    assert (corruption.stddev, corruption.seed) == (0.2, 1)
    x = _uniform((4, 12))
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_models_with_a_gaussian_corruption_layer_still_load(tmp_path):
    # Denoising autoencoders used to hold Corruption("gaussian"); files saved
    # then keep loading, and the layer still corrupts in training only.
    inputs = keras.Input((10,))
    noise = Corruption("gaussian", 0.4, seed=2, name="corruption")
    outputs = keras.layers.Dense(3)(noise(inputs))
    path = tmp_path / "old.keras"
    keras.Model(inputs, outputs).save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    corruption = loaded.get_layer("corruption")
    assert isinstance(corruption, Corruption)
    assert corruption.get_config()["noise_level"] == 0.4
    x = _uniform((8, 10))
    np.testing.assert_array_equal(_numpy(corruption(x)), x)
    assert not np.allclose(_numpy(corruption(x, training=True)), x)


# --------------------------------------------------------------------------
# Convolutional autoencoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "input_shape, filters, strides",
    [((8, 8, 1), (4, 8), 2), ((28, 28, 1), (4, 8), 2), ((16, 8, 3), (4,), 4),
     ((7, 5, 2), (4, 4), 1)],
)
def test_conv_autoencoder_shapes(input_shape, filters, strides):
    model = build_conv_autoencoder(
        input_shape, latent_dim=3, filters=filters, strides=strides
    )
    assert model.output.shape[1:] == input_shape
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    total = strides ** len(filters)
    feature_map = encoder.get_layer(f"encoder_stage{len(filters)}_conv").output
    assert tuple(feature_map.shape[1:]) == (
        input_shape[0] // total, input_shape[1] // total, filters[-1]
    )
    x = _uniform((2,) + input_shape)
    codes = _numpy(encoder(x))
    assert codes.shape == (2, 3)
    assert _numpy(decoder(codes)).shape == (2,) + input_shape
    assert isinstance(
        decoder.get_layer("decoder_stage1_conv"),
        keras.layers.Conv2DTranspose,
    )


@pytest.mark.parametrize("batch_norm", ["before", "after"])
def test_conv_autoencoder_batch_norm_and_dropout(batch_norm):
    model = build_conv_autoencoder(
        (8, 8, 1), latent_dim=2, filters=(4,), batch_norm=batch_norm, dropout_rate=0.1
    )
    encoder = model.get_layer("encoder")
    assert encoder.get_layer("encoder_stage1_conv").use_bias == (batch_norm == "after")
    bn = encoder.get_layer("encoder_stage1_bn")
    assert isinstance(bn, keras.layers.BatchNormalization)
    assert isinstance(encoder.get_layer("encoder_stage1_dropout"), keras.layers.Dropout)
    x = _uniform((4, 8, 8, 1))
    outputs = _numpy(model(x, training=True))
    assert outputs.shape == x.shape and np.isfinite(outputs).all()


@pytest.mark.parametrize(
    "input_shape, filters, strides, total",
    [
        ((30, 30, 1), (4, 8), 2, 4),
        ((8, 8, 1), (4, 4, 4, 4), 2, 16),
        ((8, 12, 1), (4,), 3, 3),
    ],
)
def test_conv_autoencoder_names_stride_mismatch(input_shape, filters, strides, total):
    with pytest.raises(ValueError) as info:
        build_conv_autoencoder(input_shape, filters=filters, strides=strides)
    message = str(info.value)
    assert "Invalid value for argument `input_shape`" in message
    assert f"total stride {total}" in message
    assert f"strides={strides}" in message
    assert f"input_shape={input_shape}" in message


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (8, 8)}, "input_shape"),
        ({"input_shape": (8, 8, 1, 1)}, "input_shape"),
        ({"latent_dim": -2}, "latent_dim"),
        ({"filters": ()}, "filters"),
        ({"filters": (4, -4)}, "filters"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"strides": 0}, "strides"),
        ({"strides": True}, "strides"),
        ({"activation": "sigmoid"}, "activation"),
        ({"batch_norm": "always"}, "batch_norm"),
        ({"dropout_rate": 1.5}, "dropout_rate"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_conv_autoencoder_rejects_bad_arguments(kwargs, argument):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        build_conv_autoencoder(**kwargs)


# --------------------------------------------------------------------------
# Search spaces
# --------------------------------------------------------------------------


def test_search_space_tunes_only_what_is_not_fixed():
    hp = keras_tuner.HyperParameters()
    model = search_space(hp, input_shape=(16,), latent_dim=3)
    assert "latent_dim" not in hp.values
    assert {"num_layers", "units", "activation", "dropout_rate", "batch_norm"} <= set(
        hp.values
    )
    assert model.get_layer("encoder").output.shape[-1] == 3


def test_denoising_search_space_tunes_noise():
    hp = keras_tuner.HyperParameters()
    model = denoising_search_space(hp, input_shape=(16,))
    assert {"noise_type", "noise_level", "latent_dim"} <= set(hp.values)
    corruption = model.get_layer("corruption")
    if hp.values["noise_type"] == "gaussian":
        assert isinstance(corruption, keras.layers.GaussianNoise)
    else:
        assert corruption.noise_type == hp.values["noise_type"]
    hp = keras_tuner.HyperParameters()
    model = denoising_search_space(hp, input_shape=(16,), noise_type="gaussian",
                                   noise_level=0.3)
    assert "noise_type" not in hp.values and "noise_level" not in hp.values
    assert model.get_layer("corruption").stddev == 0.3


@pytest.mark.parametrize(
    "input_shape, strides, max_stages",
    [((8, 8, 1), 2, 3), ((28, 28, 1), 2, 2), ((12, 6, 3), 2, 1), ((7, 7, 1), 1, 3)],
)
def test_conv_search_space_offers_only_stages_the_sides_allow(
    input_shape, strides, max_stages
):
    hp = keras_tuner.HyperParameters()
    model = conv_search_space(hp, input_shape=input_shape)
    assert model.output.shape[1:] == input_shape
    assert model.get_layer("encoder").get_layer("encoder_stage1_conv").strides == (
        strides, strides
    )
    if max_stages > 1:
        (num_stages,) = [p for p in hp.space if p.name == "num_stages"]
        assert num_stages.max_value == max_stages
    else:
        assert "num_stages" not in hp.values


def test_conv_search_space_with_fixed_strides_that_do_not_divide():
    with pytest.raises(ValueError, match="total stride"):
        conv_search_space(
            keras_tuner.HyperParameters(), input_shape=(7, 7, 1), strides=2
        )
    with pytest.raises(ValueError, match="input_shape"):
        conv_search_space(keras_tuner.HyperParameters(), input_shape=(7, 7))
