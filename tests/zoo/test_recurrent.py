"""Tests for zoo/recurrent.py beyond the registry-driven ones."""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo import _common
from zoo.recurrent import build_rnn, search_space

SHAPE = (8, 8)


def _sequences(batch_size=4, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch_size,) + shape).astype("float32")


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_dropout_is_applied_in_training_only(cell):
    model = build_rnn(
        SHAPE, 3, cell=cell, units=(8,), dropout=0.0, recurrent_dropout=0.5
    )
    x = _sequences()
    first, second = _numpy(model(x, training=True)), _numpy(model(x, training=True))
    assert not np.allclose(first, second)
    inference = _numpy(model(x, training=False))
    np.testing.assert_array_equal(_numpy(model(x, training=False)), inference)
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(predicted, inference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_dropout_training_calls_are_identical(cell):
    model = build_rnn(SHAPE, 3, cell=cell, units=(8,))
    x = _sequences()
    np.testing.assert_allclose(
        _numpy(model(x, training=True)), _numpy(model(x, training=True)), rtol=1e-6
    )
    np.testing.assert_allclose(
        _numpy(model(x, training=True)), _numpy(model(x, training=False)), rtol=1e-6
    )


def test_input_dropout_is_applied_in_training():
    model = build_rnn(SHAPE, 3, units=(8,), dropout=0.5)
    x = _sequences()
    first, second = _numpy(model(x, training=True)), _numpy(model(x, training=True))
    assert not np.allclose(first, second)
    layer = model.get_layer("lstm1")
    assert (layer.dropout, layer.recurrent_dropout) == (0.5, 0.0)


@pytest.mark.parametrize(
    "cell, layer_class", [("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU)]
)
def test_stacked_layers_return_sequences_except_the_last(cell, layer_class):
    model = build_rnn(SHAPE, 2, cell=cell, units=(8, 6, 4))
    names = [f"{cell}1", f"{cell}2", f"{cell}3"]
    layer_names = [layer.name for layer in model.layers]
    assert layer_names == ["sequences", *names, "predictions"]
    assert all(isinstance(model.get_layer(n), layer_class) for n in names)
    assert [model.get_layer(n).return_sequences for n in names] == [True, True, False]
    assert model.get_layer(f"{cell}3").output.shape == (None, 4)
    assert model.name == cell


def test_bidirectional_doubles_the_state():
    model = build_rnn(SHAPE, 2, units=(8, 4), bidirectional=True, name="birnn")
    assert model.name == "birnn"
    first, second = model.get_layer("bidirectional1"), model.get_layer("bidirectional2")
    assert isinstance(first, keras.layers.Bidirectional)
    assert first.output.shape == (None, 8, 16)
    assert second.output.shape == (None, 8)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_to_sequence_predicts_every_step_and_trains(bidirectional):
    model = build_rnn(
        SHAPE, 2, cell="gru", units=(6, 4), return_sequences=True,
        bidirectional=bidirectional, task="regression",
    )
    assert model.output.shape == (None, 8, 2)
    x = _sequences(batch_size=8)
    y = np.random.default_rng(1).normal(size=(8, 8, 2)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(b, a) for b, a in zip(before, model.get_weights()))


def test_variable_length_sequences():
    model = build_rnn((None, 3), 2, units=(4,), return_sequences=True)
    assert model.input.shape == (None, None, 3)
    for steps in (5, 9):
        assert _numpy(model(_sequences(shape=(steps, 3)))).shape == (4, steps, 2)


@pytest.fixture
def quick_initialisation():
    """Builds as `zoo.build` does: under JAX, initialisers compile unoptimised."""
    with _common.quick_initialisation():
        yield


def _pad(x, steps, value=0.0):
    return np.concatenate([x, np.full((x.shape[0], steps, x.shape[2]), value, "float32")], axis=1)


@pytest.mark.usefixtures("quick_initialisation")
@pytest.mark.parametrize(
    "cell, kwargs",
    [("lstm", {}), ("gru", {}), ("lstm", {"bidirectional": True, "units": (4, 3)})],
)
def test_padded_steps_do_not_change_predictions(cell, kwargs):
    model = build_rnn((None, 3), 2, cell=cell, **{"units": (4,), **kwargs}, mask_value=-1.0)
    assert isinstance(model.get_layer("masking"), keras.layers.Masking)
    x = _sequences(batch_size=3, shape=(6, 3))  # uniform in [0, 1): never -1
    expected = model.predict_on_batch(x)
    np.testing.assert_allclose(model.predict_on_batch(_pad(x, 4, -1.0)), expected,
                               rtol=1e-5, atol=1e-6)
    # Sequences of different lengths in one batch, each padded to the longest.
    lengths = (6, 4, 2)
    batch = np.stack([_pad(x[i:i + 1, :n], 6 - n, -1.0)[0] for i, n in enumerate(lengths)])
    alone = np.concatenate([model.predict_on_batch(x[i:i + 1, :n])
                            for i, n in enumerate(lengths)])
    np.testing.assert_allclose(model.predict_on_batch(batch), alone, rtol=1e-5, atol=1e-6)
    # The mask is what makes the difference: without it the padding counts.
    unmasked = build_rnn((None, 3), 2, cell=cell, **{"units": (4,), **kwargs})
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(unmasked.predict_on_batch(_pad(x, 4, -1.0)), expected, atol=1e-4)


@pytest.mark.usefixtures("quick_initialisation")
def test_the_mask_reaches_every_step_of_a_sequence_to_sequence_model():
    model = build_rnn((None, 2), 2, cell="gru", units=(4, 4), return_sequences=True,
                      mask_value=0.0)
    x = _sequences(batch_size=2, shape=(5, 2))
    outputs = model(_pad(x, 3))
    np.testing.assert_allclose(_numpy(outputs)[:, :5], _numpy(model(x)), rtol=1e-5, atol=1e-6)
    # The predictions carry the mask, so a Keras loss skips the padded steps' targets.
    y = np.random.default_rng(1).uniform(size=(2, 5, 2)).astype("float32")
    garbage = np.concatenate([y, np.full((2, 3, 2), 100.0, "float32")], axis=1)
    loss = keras.losses.MeanSquaredError()
    np.testing.assert_allclose(_numpy(loss(garbage, outputs)), _numpy(loss(y, model(x))),
                               rtol=1e-5)


@pytest.mark.usefixtures("quick_initialisation")
def test_masked_model_reloads_in_safe_mode(tmp_path):
    model = build_rnn((None, 2), 3, units=(4,), mask_value=0.0)
    x = _pad(_sequences(batch_size=2, shape=(5, 2)), 2)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert loaded.get_layer("masking").mask_value == 0.0
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(loaded(x[:, :5])), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, activation",
    [
        ({"num_outputs": 3}, "softmax"),
        ({"num_outputs": 1}, "sigmoid"),
        ({"num_outputs": 3, "task": "regression"}, "linear"),
        ({"num_outputs": 1, "task": "regression"}, "linear"),
        (
            {"num_outputs": 3, "task": "regression", "output_activation": "sigmoid"},
            "sigmoid",
        ),
        ({"num_outputs": 3, "output_activation": "linear"}, "linear"),
    ],
)
def test_output_activation_follows_the_task(kwargs, activation):
    model = build_rnn(SHAPE, units=(4,), **kwargs)
    assert model.get_layer("predictions").activation.__name__ == activation


def test_registry_presets_and_search_spaces_fix_the_cell():
    gru = zoo.build("gru", input_shape=SHAPE, num_outputs=2)
    assert isinstance(gru.get_layer("gru1"), keras.layers.GRU)
    lstm = zoo.build("lstm", input_shape=SHAPE, num_outputs=2)
    assert isinstance(lstm.get_layer("lstm1"), keras.layers.LSTM)
    hp = keras_tuner.HyperParameters()
    model = zoo.get_spec("gru").search_space(hp, input_shape=SHAPE, num_outputs=2)
    assert "cell" not in hp.values
    assert isinstance(model.get_layer("gru1"), keras.layers.GRU)


def test_search_space_tunes_what_is_not_fixed():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("cell", "gru")
    hp.Fixed("num_layers", 2)
    hp.Fixed("units", 16)
    hp.Fixed("bidirectional", True)
    hp.Fixed("recurrent_dropout", 0.2)
    model = search_space(hp, input_shape=SHAPE, num_outputs=2)
    assert model.get_layer("bidirectional2").output.shape == (None, 32)
    assert model.get_layer("bidirectional1").forward_layer.recurrent_dropout == 0.2

    hp = keras_tuner.HyperParameters()
    search_space(hp, input_shape=SHAPE, num_outputs=2, cell="lstm", units=(4,),
                 dropout=0.0, recurrent_dropout=0.0)
    assert set(hp.values) == {"bidirectional"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"input_shape": (8,)},
            r"`input_shape`: expected a shape with 2 axes \(timesteps, features\)",
        ),
        ({"input_shape": (8, 8, 1)}, r"`input_shape`: expected a shape with 2 axes"),
        ({"input_shape": (0, 8)}, "`input_shape`"),
        ({"input_shape": (None, 0)}, r"expected \(timesteps, features\)"),
        ({"input_shape": (None, None)}, "`input_shape`"),
        ({"input_shape": "seq"}, "`input_shape`"),
        ({"num_outputs": 0}, "`num_outputs`"),
        ({"cell": "rnn"}, "`cell`"),
        ({"units": ()}, "`units`"),
        ({"units": (8, 0)}, "`units`"),
        ({"units": 2.5}, "`units`"),
        ({"dropout": 1.0}, "`dropout`"),
        ({"dropout": -0.5}, "`dropout`"),
        ({"recurrent_dropout": 1.5}, "`recurrent_dropout`"),
        ({"recurrent_dropout": "0.1"}, "`recurrent_dropout`"),
        ({"bidirectional": 1.0}, "`bidirectional`"),
        ({"return_sequences": "yes"}, "`return_sequences`"),
        ({"mask_value": "0"}, "`mask_value`: expected None or a finite number"),
        ({"mask_value": float("nan")}, "`mask_value`"),
        ({"mask_value": False}, "`mask_value`"),
        ({"task": "generation"}, "`task`"),
        ({"output_activation": "tanh"}, "`output_activation`"),
        ({"name": ""}, "`name`"),
        ({"name": 3}, "`name`"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    arguments = {"input_shape": SHAPE, "num_outputs": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_rnn(**arguments)
