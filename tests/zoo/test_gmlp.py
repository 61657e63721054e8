"""gMLP: spatial gating unit, stochastic depth, input kinds, presets, validation."""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo.gmlp import (
    PAPER_PARAMETERS,
    SpatialGatingUnit,
    StochasticDepth,
    build_gmlp,
    search_space,
)

TINY = {"d_model": 8, "d_ffn": 16, "num_blocks": 2}


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


# --- spatial gating unit ----------------------------------------------------


def test_fresh_spatial_gating_unit_passes_the_value_half():
    x = np.random.default_rng(0).normal(size=(2, 16, 8)).astype("float32")
    unit = SpatialGatingUnit()
    y = _numpy(unit(x))
    assert y.shape == (2, 16, 4)
    kernel, bias = _numpy(unit.spatial_kernel), _numpy(unit.spatial_bias)
    assert kernel.shape == (16, 16) and np.abs(kernel).max() <= 1e-3 / 16
    np.testing.assert_array_equal(bias, np.ones(16))
    # gate = W @ LayerNorm(v) + 1 with |W| tiny: about 1, so the output is about u.
    np.testing.assert_allclose(y, x[..., :4], rtol=2e-3, atol=1e-4)


def test_spatial_projection_mixes_tokens_not_channels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 6)).astype("float32")
    unit = SpatialGatingUnit(epsilon=1e-6)
    unit.build(x.shape)
    shift = np.roll(np.eye(4, dtype="float32"), 1, axis=1)  # token m reads m+1
    unit.spatial_kernel.assign(shift)
    unit.spatial_bias.assign(np.zeros(4, "float32"))
    u, v = x[..., :3], x[..., 3:]
    v = (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-6)
    expected = u * np.roll(v, -1, axis=1)
    np.testing.assert_allclose(_numpy(unit(x)), expected, rtol=1e-4, atol=1e-5)


def test_spatial_gating_unit_rejects_odd_channels_and_bad_epsilons():
    with pytest.raises(ValueError, match="even number of channels"):
        SpatialGatingUnit()(np.zeros((1, 4, 5), "float32"))
    with pytest.raises(ValueError, match="`init_epsilon`"):
        SpatialGatingUnit(init_epsilon=0.0)
    with pytest.raises(ValueError, match="`epsilon`"):
        SpatialGatingUnit(epsilon=-1.0)


# --- stochastic depth -------------------------------------------------------


def test_stochastic_depth_drops_whole_samples_in_training_only():
    x = np.ones((400, 3, 2), "float32")
    layer = StochasticDepth(0.25, seed=0)
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), x)
    y = _numpy(layer(x, training=True))
    per_sample = y.reshape(400, -1)
    # Each sample is either dropped whole or kept and scaled by 1 / (1 - rate).
    kept = np.all(np.isclose(per_sample, 1 / 0.75), axis=1)
    dropped = np.all(per_sample == 0, axis=1)
    assert np.all(kept | dropped)
    assert 0.15 < dropped.mean() < 0.35


def test_stochastic_depth_rejects_bad_rate():
    with pytest.raises(ValueError, match="`rate`"):
        StochasticDepth(1.0)


def test_drop_path_rises_linearly_and_is_off_at_inference():
    model = build_gmlp((8, 8, 1), 3, patch_size=4, d_model=8, d_ffn=16,
                       num_blocks=3, drop_path_rate=0.5)
    names = [layer.name for layer in model.layers]
    assert "block1_drop_path" not in names  # rate 0 at the first block
    assert model.get_layer("block2_drop_path").rate == pytest.approx(0.25)
    assert model.get_layer("block3_drop_path").rate == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    head = model.get_layer("predictions")  # starts at zero: give it weights
    head.kernel.assign(rng.normal(size=head.kernel.shape).astype("float32"))
    x = rng.uniform(size=(16, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(
        _numpy(model(x, training=False)), _numpy(model(x, training=False))
    )
    first, second = model(x, training=True), model(x, training=True)
    assert not np.allclose(_numpy(first), _numpy(second))


# --- input kinds ------------------------------------------------------------


def test_image_input_becomes_patch_tokens():
    model = build_gmlp((16, 8, 3), 5, patch_size=4, **TINY)
    assert tuple(model.get_layer("patch_tokens").output.shape) == (None, 8, 8)
    assert tuple(model.get_layer("block1_sgu").spatial_kernel.shape) == (8, 8)
    assert tuple(model.output.shape) == (None, 5)
    x = np.random.default_rng(0).uniform(size=(3, 16, 8, 3)).astype("float32")
    # The head starts at zero: a fresh model predicts uniform probabilities.
    np.testing.assert_allclose(model.predict(x, verbose=0), 0.2, rtol=1e-5)


def test_token_input_variant_trains_and_round_trips(tmp_path):
    model = build_gmlp((10,), 2, vocab_size=50, drop_path_rate=0.1, dropout_rate=0.1,
                       **TINY)
    assert model.inputs[0].dtype == "int32"
    assert tuple(model.get_layer("token_embedding").output.shape) == (None, 10, 8)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(16, 10)).astype("int32")
    labels = rng.integers(0, 2, size=16)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(tokens, labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "gmlp_tokens.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(tokens, verbose=0), model.predict(tokens, verbose=0),
        rtol=1e-5, atol=1e-6,
    )


def test_feature_sequence_input_is_projected_per_step():
    model = build_gmlp((6, 3), 4, **TINY)
    assert tuple(model.get_layer("token_embedding").output.shape) == (None, 6, 8)
    x = np.random.default_rng(0).uniform(size=(2, 6, 3)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 4)


@pytest.mark.parametrize("patch_size", [2, 4])
def test_learns_8x8_digits(patch_size):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:128, :, :, None] / 16.0).astype("float32")
    y = digits.target[:128]
    model = build_gmlp((8, 8, 1), 10, patch_size=patch_size, d_model=32, d_ffn=64,
                       num_blocks=2)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0]


# --- presets ----------------------------------------------------------------


@pytest.mark.parametrize("preset", ["gmlp_tiny", "gmlp_small", "gmlp_base"])
def test_presets_match_the_papers_parameter_counts(preset):
    # Table 1 of Liu et al. 2021: 6M, 20M and 73M (we get 5.87M, 19.42M, 73.08M).
    model = zoo.build(preset)
    assert model.name == preset
    assert tuple(model.input.shape) == (None, 224, 224, 3)
    assert tuple(model.output.shape) == (None, 1000)
    assert model.get_layer("patch_embedding").kernel_size == (16, 16)
    assert sum(name.endswith("_sgu") for name in (layer.name for layer in model.layers)) == 30
    assert model.count_params() == pytest.approx(PAPER_PARAMETERS[preset], rel=0.05)


def test_preset_keeps_its_widths_when_overridden():
    model = zoo.build("gmlp_small", input_shape=(32, 32, 3), num_outputs=10,
                      num_blocks=1)
    assert model.get_layer("block1_channel_proj1").units == 1536
    assert model.get_layer("block1_channel_proj2").units == 256


# --- validation and search space --------------------------------------------


def test_indivisible_image_sides_name_patch_size_and_input_shape():
    with pytest.raises(
        ValueError, match=r"`patch_size`.*patch_size=3, input_shape=\(8, 9, 1\)"
    ):
        build_gmlp((8, 9, 1), 10, patch_size=3, **TINY)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"d_ffn": 15}, "d_ffn"),
        ({"d_ffn": 0}, "d_ffn"),
        ({"d_model": 0}, "d_model"),
        ({"num_blocks": 0}, "num_blocks"),
        ({"patch_size": 0}, "patch_size"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
        ({"drop_path_rate": -0.1}, "drop_path_rate"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"input_shape": (8,)}, "input_shape"),  # token ids need vocab_size
        ({"input_shape": (2, 2, 2, 2)}, "input_shape"),
        ({"input_shape": (8, 8, 1), "vocab_size": 10}, "input_shape"),
    ],
)
def test_build_gmlp_rejects_bad_arguments(kwargs, argument):
    arguments = {"input_shape": (8, 8, 1), "num_outputs": 3, "patch_size": 4,
                 **TINY, **kwargs}
    with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
        build_gmlp(**arguments)


def test_odd_d_ffn_error_explains_the_split():
    with pytest.raises(ValueError, match="even.*d_ffn=15"):
        build_gmlp((8, 8, 1), 3, patch_size=4, d_model=8, d_ffn=15)


def test_search_space_picks_patch_sizes_that_divide_the_image():
    hp = keras_tuner.HyperParameters()
    model = search_space(hp, input_shape=(28, 28, 1), num_outputs=10, num_blocks=2)
    (patch,) = [param for param in hp.space if param.name == "patch_size"]
    assert list(patch.values) == [1, 2, 4]
    assert hp.values["patch_size"] == 2
    assert "num_blocks" not in hp.values
    assert isinstance(model, keras.Model)

    hp = keras_tuner.HyperParameters()
    search_space(hp, input_shape=(12,), num_outputs=2, vocab_size=30)
    assert "patch_size" not in hp.values
