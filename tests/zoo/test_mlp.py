"""build_mlp: options, initialisers, multi-label output, and every validation branch."""

import keras
import numpy as np
import pytest

from zoo.mlp import build_mlp


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize(
    "activation, initializer",
    [("relu", "HeNormal"), ("gelu", "HeNormal"), ("mish", "HeNormal"),
     ("selu", "LecunNormal")],
)
def test_initializer_suits_the_activation(activation, initializer):
    model = build_mlp((8,), 2, hidden_units=(4,), activation=activation)
    dense = model.get_layer("block1_dense")
    assert type(dense.kernel_initializer).__name__ == initializer


def test_explicit_initializer_wins():
    model = build_mlp((8,), 2, hidden_units=(4,), kernel_initializer="zeros")
    assert type(model.get_layer("block1_dense").kernel_initializer).__name__ == "Zeros"


def test_selu_gets_alpha_dropout_others_dropout():
    assert "AlphaDropout" in layer_types(build_mlp((8,), 2, activation="selu", dropout_rate=0.1))
    types = layer_types(build_mlp((8,), 2, activation="relu", dropout_rate=0.1))
    assert "Dropout" in types and "AlphaDropout" not in types
    assert "Dropout" not in layer_types(build_mlp((8,), 2, dropout_rate=0.0))


@pytest.mark.parametrize("placement", ["before", "after"])
def test_batch_norm_placement(placement):
    model = build_mlp((8,), 2, hidden_units=(4,), batch_norm=placement)
    names = [layer.name for layer in model.layers]
    bn, act = names.index("block1_bn"), names.index("block1_relu")
    assert (bn < act) == (placement == "before")
    # Batch norm before the activation replaces the dense bias.
    assert model.get_layer("block1_dense").use_bias == (placement == "after")


def test_residual_adds_skips_with_projection_where_width_changes():
    model = build_mlp((8,), 2, hidden_units=(8, 4), residual=True)
    names = [layer.name for layer in model.layers]
    assert "block1_add" in names and "block2_add" in names
    assert "block1_projection" not in names and "block2_projection" in names


def test_selu_residual_network_keeps_unit_variance():
    # Klambauer et al.: SELU with LeCun-normal weights keeps unit variance.
    # A plain skip sum doubles it per block (about 80 after 8 blocks); the
    # 1/sqrt(2) scaling of each sum keeps it near 1.
    keras.utils.set_random_seed(0)
    model = build_mlp((256,), 10, hidden_units=(256,) * 8, activation="selu",
                      residual=True)
    scale = model.get_layer("block8_scale")
    assert isinstance(scale, keras.layers.Rescaling)
    assert scale.scale == pytest.approx(1 / np.sqrt(2))
    x = np.random.default_rng(0).standard_normal((1024, 256)).astype("float32")
    hidden = keras.Model(model.inputs, model.get_layer("predictions").input)
    activations = hidden.predict(x, verbose=0)
    assert 0.5 <= activations.var() <= 2.0
    assert abs(activations.mean()) < 0.1


def test_only_selu_scales_the_residual_sum():
    names = [layer.name for layer in build_mlp((8,), 2, hidden_units=(8, 4), residual=True).layers]
    assert not any(name.endswith("_scale") for name in names)
    model = build_mlp((8,), 2, hidden_units=(8, 4), activation="selu", residual=True)
    names = [layer.name for layer in model.layers]
    assert names.index("block2_add") + 1 == names.index("block2_scale")
    assert "block1_scale" in names


@pytest.mark.parametrize("activation", ["selu", "relu"])
def test_projection_honours_the_initializer_and_the_l2_penalty(activation):
    model = build_mlp((8,), 2, hidden_units=(4,), residual=True, activation=activation,
                      kernel_initializer="orthogonal", l2=1e-3)
    projection = model.get_layer("block1_projection")
    assert isinstance(projection.kernel_initializer, keras.initializers.Orthogonal)
    assert isinstance(projection.kernel_regularizer, keras.regularizers.L2)
    assert projection.kernel_regularizer.l2 == pytest.approx(1e-3)
    assert not projection.use_bias
    # By default the projection gets the initializer that suits the activation.
    default = build_mlp((8,), 2, hidden_units=(4,), residual=True, activation=activation)
    expected = "LecunNormal" if activation == "selu" else "HeNormal"
    projection = default.get_layer("block1_projection")
    assert type(projection.kernel_initializer).__name__ == expected
    assert projection.kernel_regularizer is None


def test_selu_residual_network_round_trips_in_safe_mode(tmp_path):
    model = build_mlp((8,), 3, hidden_units=(8, 4), activation="selu", residual=True,
                      l2=1e-4)
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).standard_normal((5, 8)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_images_are_flattened():
    model = build_mlp((8, 8, 1), 10)
    assert model.get_layer("flatten") is not None
    assert model.output.shape == (None, 10)


def test_multilabel_sigmoid_with_binary_crossentropy_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 0] + x[:, 1] > 0], axis=1).astype("float32")
    model = build_mlp((6,), 3, hidden_units=(16,), output_activation="sigmoid")
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (64, 3)
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # independent labels
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": ()}, "argument `input_shape`"),
        ({"input_shape": (0,)}, "argument `input_shape`"),
        ({"input_shape": "64"}, "argument `input_shape`"),
        ({"num_outputs": 0}, "argument `num_outputs`.*Received: num_outputs=0"),
        ({"num_outputs": 2.5}, "argument `num_outputs`"),
        ({"hidden_units": (32, -1)}, "argument `hidden_units`"),
        ({"hidden_units": "wide"}, "argument `hidden_units`"),
        ({"activation": "sigmoidal"}, "argument `activation`.*'sigmoidal'"),
        ({"dropout_rate": 1.5}, r"argument `dropout_rate`: expected a float in \[0, 1\)"),
        ({"dropout_rate": -0.1}, "argument `dropout_rate`"),
        ({"batch_norm": "middle"}, "argument `batch_norm`.*'middle'"),
        ({"residual": 1.0}, "argument `residual`"),
        ({"l2": -1e-4}, "argument `l2`"),
        ({"output_activation": "tanh"}, "argument `output_activation`.*'tanh'"),
    ],
)
def test_invalid_arguments_are_named(kwargs, match):
    arguments = {"input_shape": (8,), "num_outputs": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_mlp(**arguments)
