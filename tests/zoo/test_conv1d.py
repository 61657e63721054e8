"""Tests for zoo/conv1d.py beyond the registry-driven ones."""

import warnings

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo import _common
from zoo.conv1d import (
    MaskedConv1D,
    MaskedMaxPooling1D,
    build_fcn1d,
    build_inception_time,
    build_resnet1d,
    search_space,
)

# Tiny versions of each network, for speed.
TINY = {
    "fcn1d": (build_fcn1d, {"filters": (4, 8, 4)}),
    "resnet1d": (build_resnet1d, {"filters": (4, 8, 8)}),
    "inception_time": (
        build_inception_time,
        {"filters": 4, "depth": 3, "kernel_sizes": (8, 4, 2), "bottleneck_filters": 4},
    ),
}


@pytest.fixture(autouse=True)
def _quick_initialisation():
    """Builds as `zoo.build` does: under JAX, initialisers compile unoptimised."""
    with _common.quick_initialisation():
        yield


def _tiny(name, input_shape=(None, 2), num_outputs=3, **kwargs):
    builder, tiny = TINY[name]
    return builder(input_shape, num_outputs, **{**tiny, **kwargs})


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _sequences(batch_size=3, steps=10, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch_size, steps, channels)).astype("float32")


def _pad(x, steps, value=0.0):
    padding = np.full((x.shape[0], steps, x.shape[2]), value, "float32")
    return np.concatenate([x, padding], axis=1)


def _convolutions(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]


def test_fcn1d_has_wang_et_al_widths_and_kernels():
    model = build_fcn1d((None, 1), 5)
    convolutions = _convolutions(model)
    assert [tuple(c.kernel.shape) for c in convolutions] == [(8, 1, 128), (5, 128, 256),
                                                             (3, 256, 128)]
    assert all(c.padding == "same" and not c.use_bias for c in convolutions)
    names = [layer.name for layer in model.layers]
    assert names == ["sequences"] + [f"block{b}_{part}" for b in (1, 2, 3)
                                     for part in ("conv", "bn", "relu")] + [
        "global_avg_pool", "predictions"]
    # Convolution kernels, 4 batch norm weights per channel, the classifier.
    expected = 8 * 128 + 5 * 128 * 256 + 3 * 256 * 128 + 4 * (128 + 256 + 128) + 128 * 5 + 5
    assert model.count_params() == expected
    assert model.name == "fcn1d"
    # Batch norm averages its statistics over about 10 steps (few steps an epoch).
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert [layer.momentum for layer in norms] == [0.9] * 3


def test_resnet1d_has_wang_et_al_blocks_and_shortcuts():
    model = build_resnet1d((None, 1), 5)
    kernels = [tuple(c.kernel.shape) for c in _convolutions(model)
               if "projection" not in c.name]
    assert kernels == [(8, 1, 64), (5, 64, 64), (3, 64, 64),
                       (8, 64, 128), (5, 128, 128), (3, 128, 128),
                       (8, 128, 128), (5, 128, 128), (3, 128, 128)]
    # A 1x1 projection where the width changes, batch norm alone where not.
    projections = [tuple(model.get_layer(f"block{b}_projection").kernel.shape) for b in (1, 2)]
    assert projections == [(1, 1, 64), (1, 64, 128)]
    assert "block3_projection" not in [layer.name for layer in model.layers]
    assert model.get_layer("block3_shortcut_bn").input.shape == (None, None, 128)
    # The last unit of a block has no ReLU of its own: the ReLU follows the addition.
    assert "block1_unit3_relu" not in [layer.name for layer in model.layers]
    assert model.get_layer("block1_relu").input.shape == (None, None, 64)
    conv = sum(np.prod(shape) for shape in kernels) + 64 + 64 * 128
    norms = 4 * (3 * 64 + 6 * 128) + 4 * (64 + 128 + 128)
    assert model.count_params() == conv + norms + 128 * 5 + 5


def test_inception_time_has_the_papers_modules():
    model = build_inception_time((None, 3), 4)
    assert model.get_layer("module1_bottleneck").kernel.shape[-1] == 32
    assert [model.get_layer(f"module1_conv{i}").kernel.shape[0] for i in (1, 2, 3)] == [40, 20,
                                                                                        10]
    assert model.get_layer("module6_relu").output.shape == (None, None, 128)
    names = [layer.name for layer in model.layers]
    assert sum(name.endswith("_concat") for name in names) == 6
    assert "residual1_add" in names and "residual2_add" in names
    # A univariate series skips the first bottleneck, as in the paper's code.
    univariate = build_inception_time((None, 1), 2, depth=3, residual=False)
    names = [layer.name for layer in univariate.layers]
    assert "module1_bottleneck" not in names and "module2_bottleneck" in names
    assert not any(name.startswith("residual") for name in names)


@pytest.mark.parametrize("name", sorted(TINY))
def test_output_shape_for_fixed_and_variable_lengths(name):
    assert _tiny(name, input_shape=(12, 2)).output.shape == (None, 3)
    variable = _tiny(name, input_shape=(None, 2), num_outputs=1, task="regression")
    assert variable.input.shape == (None, None, 2) and variable.output.shape == (None, 1)


@pytest.mark.parametrize("name", sorted(TINY))
def test_padded_steps_do_not_change_predictions(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _tiny(name, mask_value=0.0)
        x = _sequences(steps=10)
        padded = _pad(x, 5)
        expected = model.predict_on_batch(x)
        np.testing.assert_allclose(model.predict_on_batch(padded), expected,
                                   rtol=1e-5, atol=1e-6)
        # Training mode: batch norm statistics leave the padded steps out.
        np.testing.assert_allclose(_numpy(model(padded, training=True)),
                                   _numpy(model(x, training=True)), rtol=1e-5, atol=1e-6)
    assert not [w for w in caught if "mask" in str(w.message)]  # no layer dropped the mask
    # A batch of sequences of different lengths, padded to the longest.
    lengths = (10, 7, 4)
    batch = np.stack([_pad(x[i:i + 1, :n], 10 - n)[0] for i, n in enumerate(lengths)])
    alone = np.concatenate([model.predict_on_batch(x[i:i + 1, :n])
                            for i, n in enumerate(lengths)])
    np.testing.assert_allclose(model.predict_on_batch(batch), alone,
                               rtol=1e-5, atol=1e-6)
    # Without a mask, the same weights do see the padding.
    unmasked = _tiny(name)
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict_on_batch(padded), expected, atol=1e-4)


def test_masking_uses_the_masked_layers_only_when_asked():
    masked = _tiny("inception_time", mask_value=-1.0)
    assert masked.get_layer("masking").mask_value == -1.0
    assert all(isinstance(c, MaskedConv1D) for c in _convolutions(masked))
    assert isinstance(masked.get_layer("module1_pool"), MaskedMaxPooling1D)
    plain = _tiny("inception_time")
    assert "masking" not in [layer.name for layer in plain.layers]
    assert not any(isinstance(c, MaskedConv1D) for c in _convolutions(plain))
    assert not isinstance(plain.get_layer("module1_pool"), MaskedMaxPooling1D)


def test_masked_max_pooling_ignores_padded_steps():
    x = -np.arange(1.0, 7.0, dtype="float32").reshape(1, 6, 1)  # all negative
    mask = np.array([[True] * 4 + [False] * 2])
    pooled = _numpy(MaskedMaxPooling1D(3, strides=1, padding="same")(x, mask=mask))
    plain = _numpy(keras.layers.MaxPooling1D(3, strides=1, padding="same")(x[:, :4]))
    np.testing.assert_array_equal(pooled[:, :4], plain)
    np.testing.assert_array_equal(pooled[:, 4:], 0.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MaskedConv1D(4, 3, strides=2, padding="same"),
        lambda: MaskedConv1D(4, 3),  # padding="valid" drops steps
        lambda: MaskedMaxPooling1D(2),  # strides default to the pool size
        lambda: MaskedMaxPooling1D(3, strides=1, padding="same", data_format="channels_first"),
    ],
)
def test_masked_layers_need_stride_one_and_kept_steps(make):
    with pytest.raises(ValueError, match="needs strides=1, padding 'same' or 'causal' and "
                                         "channels last. Received: strides="):
        make()


def test_a_training_step_on_padded_sequences_equals_one_on_unpadded_ones():
    # Gradients and batch norm's moving statistics both ignore the padding.
    model = _tiny("inception_time", mask_value=0.0)
    twin = _tiny("inception_time", mask_value=0.0)
    twin.set_weights(model.get_weights())
    x, y = _sequences(batch_size=4, steps=8), np.array([0, 1, 2, 0])
    for network, inputs in ((model, _pad(x, 3)), (twin, x)):
        network.compile(optimizer=keras.optimizers.SGD(0.5),
                        loss="sparse_categorical_crossentropy")
        assert np.isfinite(network.train_on_batch(inputs, y))
    for got, want in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(model.get_weights()[0], _tiny("inception_time").get_weights()[0])


def test_masked_model_reloads_in_safe_mode(tmp_path):
    model = _tiny("inception_time", mask_value=0.0)  # every masked layer type
    penalised = zoo.regularize(model, l2=1e-3)
    padded = _pad(_sequences(batch_size=4, steps=8), 3)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("masking"), keras.layers.Masking)
    assert isinstance(loaded.get_layer("module1_pool"), MaskedMaxPooling1D)
    assert len(loaded.losses) == penalised == len(_convolutions(model)) + 1
    np.testing.assert_allclose(_numpy(loaded(padded)), _numpy(model(padded)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(loaded(padded)), _numpy(loaded(padded[:, :8])),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, activation",
    [
        ({"num_outputs": 3}, "softmax"),
        ({"num_outputs": 1}, "sigmoid"),
        ({"num_outputs": 2, "task": "regression"}, "linear"),
        ({"num_outputs": 2, "task": "regression", "output_activation": "sigmoid"}, "sigmoid"),
    ],
)
def test_output_activation_follows_the_task(kwargs, activation):
    model = _tiny("fcn1d", **kwargs)
    layer = model.get_layer("predictions")
    assert layer.activation.__name__ == activation and layer.dtype_policy.name == "float32"


def test_registry_and_search_space():
    assert {"fcn1d", "resnet1d", "inception_time"} <= set(zoo.list_models())
    assert zoo.get_spec("resnet1d").input_kind == "sequence"
    hp = keras_tuner.HyperParameters()
    hp.Fixed("filter_scale", 0.25)
    hp.Fixed("kernel_sizes", "5-3-3")
    model = zoo.get_spec("resnet1d").search_space(hp, input_shape=(8, 1), num_outputs=2)
    assert "architecture" not in hp.values
    assert tuple(model.get_layer("block3_unit1_conv").kernel.shape) == (5, 32, 32)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("architecture", "inception_time")
    model = search_space(hp, input_shape=(8, 1), num_outputs=2, filters=2, kernel_sizes=(3,))
    assert model.name == "inception_time"
    assert set(hp.values) == {"architecture", "depth"}
    with pytest.raises(ValueError, match="`architecture`"):
        search_space(keras_tuner.HyperParameters(), architecture="lstm",
                     input_shape=(8, 1), num_outputs=2)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("fcn1d", {"input_shape": (8,)}, r"`input_shape`: expected a shape with 2 axes "
                                         r"\(steps, channels\)"),
        ("fcn1d", {"input_shape": (None, 0)}, r"expected \(steps, channels\)"),
        ("fcn1d", {"input_shape": (0, 2)}, "`input_shape`"),
        ("fcn1d", {"num_outputs": 0}, "`num_outputs`"),
        ("fcn1d", {"filters": ()}, "`filters`"),
        ("fcn1d", {"kernel_sizes": (8, 0, 3)}, "`kernel_sizes`"),
        ("fcn1d", {"kernel_sizes": (8, 5)}, r"one kernel size per block \(3"),
        ("fcn1d", {"mask_value": "0"}, "`mask_value`: expected None or a finite number"),
        ("fcn1d", {"mask_value": float("nan")}, "`mask_value`"),
        ("fcn1d", {"mask_value": True}, "`mask_value`"),
        ("fcn1d", {"task": "generation"}, "`task`"),
        ("fcn1d", {"output_activation": "tanh"}, "`output_activation`"),
        ("fcn1d", {"name": ""}, "`name`"),
        ("resnet1d", {"filters": (4, -1)}, "`filters`"),
        ("resnet1d", {"kernel_sizes": 2.5}, "`kernel_sizes`"),
        ("resnet1d", {"input_shape": (None, None)}, "`input_shape`"),
        ("resnet1d", {"mask_value": float("inf")}, "`mask_value`"),
        ("inception_time", {"filters": (4,)}, "`filters`: expected a positive integer"),
        ("inception_time", {"depth": 0}, "`depth`"),
        ("inception_time", {"kernel_sizes": ()}, "`kernel_sizes`"),
        ("inception_time", {"bottleneck_filters": 0}, "`bottleneck_filters`"),
        ("inception_time", {"residual": 1}, "`residual`"),
        ("inception_time", {"task": "ranking"}, "`task`"),
    ],
)
def test_invalid_arguments_raise(name, kwargs, match):
    builder, tiny = TINY[name]
    arguments = {"input_shape": (8, 2), "num_outputs": 3, **tiny, **kwargs}
    with pytest.raises(ValueError, match=match):
        builder(**arguments)
