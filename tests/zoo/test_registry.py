"""Registry-driven tests: every registered model is covered by being registered.

Each model is built from its spec's small `example` arguments, then checked
for output shape, a finite forward pass, one short training run that lowers
the loss, a `.keras` round trip with `safe_mode=True`, and its search space.
"""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from tests.zoo.helpers import random_inputs, random_targets

MODELS = zoo.list_models()


def test_list_models_is_sorted_and_filters():
    assert MODELS == sorted(MODELS)
    assert "mlp" in MODELS
    assert zoo.list_models("ml*") == [name for name in MODELS if name.startswith("ml")]
    assert zoo.list_models("no-such-*") == []


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="Unknown model name: 'resnet9000'.*mlp"):
        zoo.build("resnet9000")


def test_build_compiles_initialisers_quickly_under_jax_only(monkeypatch):
    import dataclasses

    from zoo import _common, _registry

    jax = pytest.importorskip("jax")
    flag = "jax_disable_most_optimizations"
    seen = []
    spec = zoo.get_spec("mlp")

    def spying(**kwargs):
        seen.append(jax.config.values[flag])
        return spec.builder(**kwargs)

    monkeypatch.setitem(_registry._REGISTRY, "mlp", dataclasses.replace(spec, builder=spying))
    zoo.build("mlp", input_shape=(4,), num_outputs=2)  # a no-op on TensorFlow
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with _common.quick_initialisation():
        seen.append(jax.config.values[flag])
    on_jax = keras.config.backend() == "jax"  # this process's real backend
    assert seen == [on_jax, True] and not jax.config.values[flag]


def test_register_rejects_duplicates_and_bad_metadata():
    spec = zoo.get_spec("mlp")
    with pytest.raises(ValueError, match="already registered"):
        zoo.register("mlp", spec.builder, description="", example={},
                     input_kind="vector", task="classification")
    with pytest.raises(ValueError, match="input_kind"):
        zoo.register("x_bad_kind", spec.builder, description="", example={},
                     input_kind="video", task="classification")
    with pytest.raises(ValueError, match="task"):
        zoo.register("x_bad_task", spec.builder, description="", example={},
                     input_kind="vector", task="poetry")


@pytest.fixture(params=MODELS)
def built(request):
    spec = zoo.get_spec(request.param)
    return spec, zoo.build(spec.name, **spec.example)


def test_builds_uncompiled_named_model(built):
    spec, model = built
    assert isinstance(model, keras.Model)
    assert not model.compiled
    assert model.count_params() > 0
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))


def test_forward_pass_is_finite_with_declared_shape(built):
    _, model = built
    x = random_inputs(model)
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for tensor, output in zip(model.outputs, outputs):
        output = keras.ops.convert_to_numpy(output)
        assert output.shape[1:] == tuple(tensor.shape[1:])
        assert np.all(np.isfinite(output))


def test_training_lowers_the_loss(built):
    _, model = built
    x, y = random_inputs(model), random_targets(model)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=8, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]


def test_save_load_round_trip_in_safe_mode(built, tmp_path):
    _, model = built
    x = random_inputs(model)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    expected = model.predict(x, verbose=0)
    actual = loaded.predict(x, verbose=0)
    for want, got in zip(np.atleast_1d(expected), np.atleast_1d(actual)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [name for name in MODELS
                                  if zoo.get_spec(name).task in ("classification", "similarity")])
def test_mixed_precision_computes_in_16_bits_with_float32_outputs(name):
    spec = zoo.get_spec(name)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = zoo.build(name, **spec.example)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    assert all(weight.dtype == "float32" for weight in model.weights)
    outputs = model(random_inputs(model), training=False)
    for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        assert keras.backend.standardize_dtype(output.dtype) == "float32"


def test_search_space_builds_with_default_hyperparameters(built):
    spec, _ = built
    if spec.search_space is None:
        pytest.skip(f"{spec.name} has no search space")
    # Only the data-dependent arguments are fixed; everything else is tuned.
    fixed = {
        key: value
        for key, value in spec.example.items()
        if key in ("input_shape", "num_outputs")
    }
    model = spec.search_space(keras_tuner.HyperParameters(), **fixed)
    assert isinstance(model, keras.Model)


def _penalty(model, l1, l2):
    """The elastic-net penalty computed here from the Dense/Conv/RNN kernels."""
    kernels = [weight for weight in model.weights
               if weight.path.endswith("/kernel") and "recurrent" not in weight.path]
    assert kernels
    return sum(l1 * np.abs(keras.ops.convert_to_numpy(k)).sum()
               + l2 * np.square(keras.ops.convert_to_numpy(k)).sum() for k in kernels)


@pytest.mark.parametrize("name", MODELS)
def test_l1_l2_penalise_every_kernel_and_survive_saving(name, tmp_path):
    spec = zoo.get_spec(name)
    plain = zoo.build(name, **spec.example)
    assert not plain.losses
    model = zoo.build(name, **spec.example, l1=1e-3, l2=1e-2)
    total = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    np.testing.assert_allclose(total, _penalty(model, 1e-3, 1e-2), rtol=1e-4)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    reloaded = sum(float(keras.ops.convert_to_numpy(loss)) for loss in loaded.losses)
    np.testing.assert_allclose(reloaded, total, rtol=1e-5)


def test_regularize_rejects_negative_factors():
    model = zoo.build("mlp", input_shape=(4,), num_outputs=2)
    with pytest.raises(ValueError, match="argument `l2`: expected a float >= 0.*l2=-1"):
        zoo.regularize(model, l2=-1)
    assert zoo.regularize(model) == 0 and not model.losses
