"""Tests for zoo/cnn.py beyond the registry-driven ones."""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo.cnn import ImageAugmentation, build_cnn, search_space

SHAPE = (8, 8, 1)


def _images(batch_size=8, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(batch_size,) + shape).astype("float32")


def _layer_names(model, class_name):
    return [layer.name for layer in model.layers if type(layer).__name__ == class_name]


def _train_one_step(model):
    x = _images()
    y = np.arange(8) % model.output.shape[-1]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy"
    )
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert np.isfinite(loss)
    assert any(not np.allclose(b, a) for b, a in zip(before, after))


@pytest.mark.parametrize("residual", [False, True])
def test_plain_and_residual_variants_train_a_step(residual):
    model = build_cnn(SHAPE, 3, filters=(4, 8), residual=residual)
    _train_one_step(model)


def test_residual_adds_skip_connections_plain_has_none():
    kwargs = {"filters": (4, 4), "blocks_per_stage": (2, 1)}
    plain = build_cnn(SHAPE, 3, residual=False, **kwargs)
    residual = build_cnn(SHAPE, 3, residual=True, **kwargs)
    plain_features = plain.get_layer("features")
    residual_features = residual.get_layer("features")
    assert _layer_names(plain_features, "Add") == []
    # One Add per block (three blocks); the same two convolutions per block.
    assert _layer_names(residual_features, "Add") == [
        "stage1_block1_unit2_add",
        "stage1_block2_unit2_add",
        "stage2_block1_unit2_add",
    ]
    convs = _layer_names(residual_features, "Conv2D")
    main_convs = [name for name in convs if "projection" not in name]
    assert main_convs == _layer_names(plain_features, "Conv2D")
    # Projection only where the channels change (1 -> 4); identity elsewhere,
    # including after pooling, which keeps the width.
    projections = [name for name in convs if "projection" in name]
    assert projections == ["stage1_block1_projection"]


def test_strided_residual_projects_where_resolution_changes():
    model = build_cnn(SHAPE, 3, filters=(4, 4), downsample="strided", residual=True)
    features = model.get_layer("features")
    assert _layer_names(features, "MaxPooling2D") == []
    assert features.get_layer("stage2_block1_unit1_conv").strides == (2, 2)
    projection = features.get_layer("stage2_block1_projection")
    assert projection.strides == (2, 2)
    assert projection.kernel_size == (1, 1)
    assert features.get_layer("stage2_block1_unit2_add").output.shape == (None, 4, 4, 4)
    _train_one_step(model)


def test_pool_downsampling_halves_the_sides():
    model = build_cnn((7, 7, 1), 3, filters=(4, 4, 4), downsample="pool")
    features = model.get_layer("features")
    assert _layer_names(features, "MaxPooling2D") == ["stage2_pool", "stage3_pool"]
    assert features.get_layer("stage2_pool").output.shape == (None, 4, 4, 4)
    assert features.get_layer("stage3_pool").output.shape == (None, 2, 2, 4)


@pytest.mark.parametrize(
    "global_pooling, layer_name, width",
    [
        ("avg", "global_avg_pool", 8),
        ("max", "global_max_pool", 8),
        ("flatten", "flatten", 4 * 4 * 8),
    ],
)
def test_global_pooling_heads(global_pooling, layer_name, width):
    model = build_cnn(SHAPE, 3, filters=(4, 8), global_pooling=global_pooling)
    features = model.get_layer("features")
    assert features.layers[-1].name == layer_name
    assert features.output.shape == (None, width)


def test_batch_norm_placements():
    def features(batch_norm):
        model = build_cnn(SHAPE, 3, filters=(4,), batch_norm=batch_norm)
        return model.get_layer("features")

    before = features("before")
    names = [layer.name for layer in before.layers]
    bn, relu = "stage1_block1_unit1_bn", "stage1_block1_unit1_relu"
    assert names.index(bn) < names.index(relu)
    assert before.get_layer("stage1_block1_unit1_conv").use_bias is False

    after = features("after")
    names = [layer.name for layer in after.layers]
    assert names.index(bn) > names.index(relu)
    assert after.get_layer("stage1_block1_unit1_conv").use_bias is True

    none = features(None)
    assert _layer_names(none, "BatchNormalization") == []
    assert none.get_layer("stage1_block1_unit1_conv").use_bias is True


def test_batch_norm_momentum_reaches_every_batch_norm_layer():
    model = build_cnn((8, 8, 1), 10, filters=(4, 8), residual=True, downsample="strided",
                      batch_norm_momentum=0.9)
    norms = [layer for layer in model.get_layer("features").layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 6  # per block: two units and a projection shortcut
    assert {layer.momentum for layer in norms} == {0.9}
    default = build_cnn((8, 8, 1), 10, filters=(4,))
    assert default.get_layer("features").get_layer("stage1_block1_unit1_bn").momentum == 0.99


def test_augmentation_is_identity_at_inference_and_random_in_training():
    augment = {"rotation": 0.2, "translation": 0.3, "zoom": 0.3, "flip": "horizontal"}
    model = build_cnn(SHAPE, 3, filters=(4,), augmentation=augment)
    layer = model.get_layer("augmentation")
    x = _images()
    for training in (False, None):
        unchanged = keras.ops.convert_to_numpy(layer(x, training=training))
        np.testing.assert_array_equal(unchanged, x)
    augmented = keras.ops.convert_to_numpy(layer(x, training=True))
    assert augmented.shape == x.shape
    assert not np.allclose(augmented, x)
    # The whole model at inference does not depend on the augmentation.
    reference = build_cnn(SHAPE, 3, filters=(4,))
    reference.set_weights(model.get_weights())
    expected = reference.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    called = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(called, expected, rtol=1e-5)
    _train_one_step(model)


def test_augmentation_names_use_default_strengths_and_round_trip(tmp_path):
    model = build_cnn(SHAPE, 3, filters=(4,), augmentation=("rotation", "zoom"))
    layer = model.get_layer("augmentation")
    assert layer.augmentation == {"rotation": 0.05, "zoom": 0.1}
    assert [t.name for t in layer.transforms] == ["rotation", "zoom"]
    config = layer.get_config()
    assert ImageAugmentation.from_config(config).augmentation == layer.augmentation
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_layer("augmentation").augmentation == layer.augmentation
    x = _images()
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5
    )


def test_features_submodel_supports_transfer_learning():
    model = build_cnn(SHAPE, 10, filters=(4, 8), dropout_rate=0.2)
    assert [layer.name for layer in model.layers] == [
        "images", "features", "dropout", "predictions"
    ]
    features = model.get_layer("features")
    features.trainable = False
    inputs = keras.Input(SHAPE)
    outputs = keras.layers.Dense(2, activation="softmax")(features(inputs))
    transfer = keras.Model(inputs, outputs)
    frozen = [keras.ops.convert_to_numpy(w).copy() for w in features.weights]
    _train_one_step(transfer)
    for want, got in zip(frozen, features.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want)


def test_four_stages_fit_an_8x8_image_and_registry_builds_cnn():
    model = build_cnn(SHAPE, 3, filters=(2, 2, 2, 2), downsample="strided")
    last = model.get_layer("features").get_layer("stage4_block1_unit2_relu")
    assert last.output.shape == (None, 1, 1, 2)
    assert zoo.build("cnn", input_shape=SHAPE, num_outputs=4).output.shape == (None, 4)


def test_a_stem_brings_larger_images_to_the_resolution_of_small_ones():
    model = build_cnn((28, 28, 1), 10, filters=(16, 32))
    features = model.get_layer("features")
    stem = features.get_layer("stem_conv")
    assert stem.strides == (2, 2) and stem.output.shape == (None, 14, 14, 16)
    assert features.get_layer("stage2_pool").output.shape == (None, 7, 7, 16)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.train_on_batch(_images(shape=(28, 28, 1)), np.arange(8))
    without = build_cnn((28, 28, 1), 10, filters=(16, 32), stem=0)
    assert "stem_conv" not in [layer.name for layer in without.get_layer("features").layers]
    # a quarter of the positions in every block (the stem's own convolution
    # replaces a cheaper first one): 9.3 against 3.2 million operations
    assert zoo.count_flops(without) / zoo.count_flops(model) == pytest.approx(2.88, abs=0.01)
    twice = build_cnn((64, 48, 3), 10, filters=(8, 16)).get_layer("features")
    assert twice.get_layer("stem_pool1").output.shape == (None, 16, 12, 8)
    assert build_cnn((64, 48, 3), 10, stem=3).get_layer("features").get_layer(
        "stem_pool2").output.shape == (None, 8, 6, 32)
    small = build_cnn(SHAPE, 3).get_layer("features")  # 8x8: no stem
    assert not [layer.name for layer in small.layers if layer.name.startswith("stem")]


def test_stem_halvings_follow_the_shorter_side():
    from zoo.cnn import stem_halvings

    assert [stem_halvings((side, 100, 3)) for side in (23, 24, 47, 48, 95, 96)] == [
        0, 1, 2, 2, 3, 3]
    assert stem_halvings((64, 64, 3), 0) == 0 and stem_halvings((64, 64, 3), 5) == 5
    for stem in (-1, 1.5, True, "big"):
        with pytest.raises(ValueError, match=f"`stem`.*Received: stem={stem!r}"):
            stem_halvings((64, 64, 3), stem)
    with pytest.raises(ValueError, match="`stem`: expected at most as many halvings"):
        stem_halvings((4, 4, 1), 3)
    with pytest.raises(ValueError, match=r"at most 2 stages for input_shape=\(4, 4, 1\) "
                                         r"and stem=1"):
        build_cnn((4, 4, 1), 3, filters=(2, 2, 2), stem=1)


def test_search_space_respects_image_size_and_fixed_arguments():
    hp = keras_tuner.HyperParameters()
    model = search_space(hp, input_shape=(1, 1, 3), num_outputs=2)
    assert hp.values["num_stages"] == 1
    assert _layer_names(model.get_layer("features"), "MaxPooling2D") == []

    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_stages", 3)
    hp.Fixed("base_filters", 16)
    hp.Fixed("residual", True)
    model = search_space(hp, input_shape=SHAPE, num_outputs=2)
    features = model.get_layer("features")
    assert features.output.shape == (None, 64)
    assert _layer_names(features, "Add")

    hp = keras_tuner.HyperParameters()
    search_space(hp, input_shape=SHAPE, num_outputs=2, filters=(4,), residual=False,
                 batch_norm=None)
    assert set(hp.values) == {"blocks_per_stage", "dropout_rate"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (8, 8)}, r"`input_shape`: expected a shape with 3 axes"),
        ({"input_shape": (8, 0, 1)}, "`input_shape`"),
        ({"num_outputs": 0}, "`num_outputs`"),
        ({"filters": ()}, "`filters`"),
        ({"filters": (8, -1)}, "`filters`"),
        (
            {"filters": (1, 2, 3, 4, 5)},
            r"`filters`: expected at most 4 stages for input_shape=\(8, 8, 1\)",
        ),
        (
            {"input_shape": (1, 8, 1), "filters": (2, 2)},
            r"at most 1 stages for input_shape=\(1, 8, 1\)",
        ),
        ({"blocks_per_stage": 0}, "`blocks_per_stage`"),
        ({"blocks_per_stage": 1.5}, "`blocks_per_stage`"),
        (
            {"blocks_per_stage": (1, 1, 1)},
            r"`blocks_per_stage`: expected .*one per stage \(2 stages",
        ),
        ({"blocks_per_stage": (1, 0)}, "`blocks_per_stage`"),
        ({"kernel_size": 0}, "`kernel_size`"),
        ({"kernel_size": (3,)}, "`kernel_size`"),
        ({"kernel_size": (3, True)}, "`kernel_size`"),
        ({"kernel_size": "3"}, "`kernel_size`"),
        ({"activation": "tanh"}, "`activation`"),
        ({"batch_norm": "middle"}, "`batch_norm`"),
        ({"residual": "yes"}, "`residual`"),
        ({"residual": 1}, r"`residual`: expected True or False"),
        ({"downsample": "avg"}, "`downsample`"),
        ({"dropout_rate": 1.0}, "`dropout_rate`"),
        ({"batch_norm_momentum": 1.0}, "`batch_norm_momentum`"),
        ({"dropout_rate": -0.1}, "`dropout_rate`"),
        ({"global_pooling": "sum"}, "`global_pooling`"),
        ({"augmentation": "flip"}, "`augmentation`"),
        ({"augmentation": 3}, "`augmentation`"),
        ({"augmentation": ("shear",)}, "`augmentation`"),
        ({"augmentation": ("zoom", "zoom")}, "`augmentation`"),
        ({"augmentation": (1,)}, "`augmentation`"),
        ({"augmentation": {"shear": 0.1}}, "`augmentation`"),
        ({"augmentation": {"flip": "diagonal"}}, r"`augmentation`: expected a flip"),
        (
            {"augmentation": {"rotation": 0}},
            r"`augmentation`: expected a factor in \(0, 1\] for 'rotation'",
        ),
        ({"augmentation": {"zoom": 1.5}}, r"a factor in \(0, 1\] for 'zoom'"),
        ({"augmentation": {"translation": True}}, r"\(0, 1\] for 'translation'"),
        ({"output_activation": "tanh"}, "`output_activation`"),
        ({"kernel_initializer": "no_such_init"}, "`kernel_initializer`"),
        ({"kernel_initializer": 3}, "`kernel_initializer`"),
        ({"name": ""}, "`name`"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    arguments = {"input_shape": SHAPE, "num_outputs": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_cnn(**arguments)


def test_invalid_augmentation_seed_and_search_space_shape_raise():
    with pytest.raises(ValueError, match="`seed`"):
        ImageAugmentation(("zoom",), seed=-1)
    with pytest.raises(ValueError, match="`input_shape`"):
        search_space(keras_tuner.HyperParameters(), input_shape=(8, 8), num_outputs=3)
