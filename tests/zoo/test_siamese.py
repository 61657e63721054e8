"""Siamese network, pair distance, contrastive/triplet losses and pair sampling.

Label convention throughout: 1 = same class.
"""

import keras
import keras_tuner
import numpy as np
import pytest

import zoo
from zoo.siamese import (
    ContrastiveLoss,
    PairDistance,
    TripletLoss,
    build_siamese,
    contrastive_loss,
    make_pairs,
    search_space,
    triplet_loss,
)


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


# --- distance ---------------------------------------------------------------


def test_euclidean_distance_on_hand_computed_pairs():
    a = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 5.0]], "float32")
    b = np.array([[3.0, 4.0], [1.0, 2.0], [2.0, 5.0]], "float32")
    distance = _numpy(PairDistance("euclidean")([a, b]))
    assert distance.shape == (3, 1)
    # Identical vectors: sqrt(epsilon), the floor that keeps gradients finite.
    np.testing.assert_allclose(distance[:, 0], [5.0, 1.0, np.sqrt(1e-7)], rtol=1e-5)


def test_cosine_distance_is_one_minus_cosine_similarity():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]], "float32")
    b = np.array([[0.0, 3.0], [2.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], "float32")
    distance = _numpy(PairDistance("cosine")([a, b]))
    np.testing.assert_allclose(
        distance[:, 0], [1.0, 0.0, 2.0, 1.0 - 1.0 / np.sqrt(2.0)], atol=1e-6
    )


def test_pair_distance_rejects_unknown_distance_and_bad_epsilon():
    with pytest.raises(ValueError, match="`distance`.*manhattan"):
        PairDistance("manhattan")
    with pytest.raises(ValueError, match="`epsilon`"):
        PairDistance("euclidean", epsilon=0.0)


# --- losses -----------------------------------------------------------------


@pytest.mark.parametrize(
    "margin, expected",
    [
        # d = 0.5, 0.2, 1.5, 0.3 with y = 1, 0, 0, 1:
        # margin 1: 0.25 + 0.8**2 + 0 + 0.09 = 0.98, mean 0.245
        (1.0, 0.245),
        # margin 2: 0.25 + 1.8**2 + 0.5**2 + 0.09 = 3.83, mean 0.9575
        (2.0, 0.9575),
    ],
)
def test_contrastive_loss_matches_hand_computed_values(margin, expected):
    distances = np.array([[0.5], [0.2], [1.5], [0.3]], "float32")
    labels = np.array([1, 0, 0, 1], "float32")
    loss = contrastive_loss(margin=margin)
    assert isinstance(loss, ContrastiveLoss)
    np.testing.assert_allclose(_numpy(loss(labels, distances)), expected, rtol=1e-6)
    # Labels shaped (batch, 1) give the same value.
    np.testing.assert_allclose(
        _numpy(loss(labels[:, None], distances)), expected, rtol=1e-6
    )


def test_contrastive_loss_is_zero_for_perfect_pairs():
    distances = np.array([[0.0], [1.2], [3.0]], "float32")
    labels = np.array([1, 0, 0], "float32")
    assert float(_numpy(contrastive_loss(1.0)(labels, distances))) == 0.0


def test_triplet_loss_without_normalisation_matches_hand_computed_values():
    # Rows: anchor, positive, negative (2-d each), concatenated.
    # 1) |a-p|^2 = 1, |a-n|^2 = 4: max(1 - 4 + 1, 0) = 0
    # 2) |a-p|^2 = 4, |a-n|^2 = 1: max(4 - 1 + 1, 0) = 4
    y_pred = np.array(
        [[0, 0, 1, 0, 0, 2], [0, 0, 2, 0, 1, 0]], "float32"
    )
    loss = triplet_loss(margin=1.0, normalize=False)
    assert isinstance(loss, TripletLoss)
    np.testing.assert_allclose(_numpy(loss(np.zeros(2), y_pred)), 2.0, rtol=1e-6)


# FaceNet (Schroff et al. 2015): a, p, n divided by their norms, then
# max(|a-p|^2 - |a-n|^2 + 0.2, 0).
FACENET_TRIPLETS = np.array(
    [
        # (3, 0) -> (1, 0); (0, 5) -> (0, 1); (4, 3) -> (0.8, 0.6).
        # |a-p|^2 = 2, |a-n|^2 = 0.2**2 + 0.6**2 = 0.4: 2 - 0.4 + 0.2 = 1.8
        [3, 0, 0, 5, 4, 3],
        # (2, 0) -> (1, 0); (1, 1) -> (1, 1)/sqrt(2); (-1, 0) stays.
        # |a-p|^2 = 2 - sqrt(2), |a-n|^2 = 4: negative, so 0
        [2, 0, 1, 1, -1, 0],
        # (1, 0); (8, 6) -> (0.8, 0.6); (4, -3) -> (0.8, -0.6).
        # |a-p|^2 = |a-n|^2 = 0.4: the margin, 0.2
        [1, 0, 8, 6, 4, -3],
    ],
    "float32",
)


def test_triplet_loss_is_facenets_by_default():
    loss = triplet_loss()
    assert (loss.margin, loss.normalize) == (0.2, True)
    expected = np.mean([1.8, 0.0, 0.2])
    np.testing.assert_allclose(
        _numpy(loss(np.zeros(3), FACENET_TRIPLETS)), expected, rtol=1e-5
    )
    per_triplet = TripletLoss(reduction=None)(np.zeros(3), FACENET_TRIPLETS)
    np.testing.assert_allclose(_numpy(per_triplet), [1.8, 0.0, 0.2], rtol=1e-5, atol=1e-6)
    # On the unit sphere the scale of each embedding does not matter.
    scales = np.array([10.0, 0.1, 3.0], "float32").repeat(2)
    np.testing.assert_allclose(
        _numpy(loss(np.zeros(3), FACENET_TRIPLETS * scales)), expected, rtol=1e-5
    )


def test_triplet_loss_with_another_margin():
    # Margin 1: 2 - 0.4 + 1 = 2.6; 2 - sqrt(2) - 4 + 1 < 0; 0 + 1 = 1.
    loss = triplet_loss(margin=1.0)
    np.testing.assert_allclose(
        _numpy(loss(np.zeros(3), FACENET_TRIPLETS)), (2.6 + 1.0) / 3, rtol=1e-5
    )


def test_triplet_loss_of_a_zero_embedding_has_finite_gradients():
    y_pred = keras.Variable(np.array([[0, 0, 1, 0, 0, 1]], "float32"))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = triplet_loss()(np.zeros(1), y_pred)
        gradient = tape.gradient(value, y_pred)
    elif keras.backend.backend() == "jax":
        import jax

        gradient = jax.grad(lambda v: triplet_loss()(np.zeros(1), v))(y_pred.value)
    else:
        pytest.skip("gradient check written for TensorFlow and JAX")
    assert np.all(np.isfinite(_numpy(gradient)))


def test_triplet_loss_rejects_a_non_boolean_normalize():
    with pytest.raises(ValueError, match="`normalize`"):
        triplet_loss(normalize="yes")


def test_triplet_loss_from_a_config_saved_before_normalize_compares_raw_embeddings():
    restored = TripletLoss.from_config(
        {"name": "triplet_loss", "reduction": "sum_over_batch_size", "margin": 1.0}
    )
    assert restored.normalize is False and restored.margin == 1.0


def test_triplet_training_separates_classes_and_saves_compiled(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(3, 6))

    def samples(classes):
        return (centres[classes] + rng.normal(size=(len(classes), 6))).astype("float32")

    anchor_class = rng.integers(0, 3, size=256)
    negative_class = (anchor_class + rng.integers(1, 3, size=256)) % 3
    triplets = [samples(anchor_class), samples(anchor_class), samples(negative_class)]
    embedding = build_siamese((6,), embedding_dim=4, hidden_units=(16,)).get_layer(
        "embedding"
    )
    inputs = [keras.Input((6,), name=name) for name in ("anchor", "positive", "negative")]
    outputs = keras.layers.Concatenate(name="triplet")([embedding(x) for x in inputs])
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), loss=triplet_loss())
    targets = np.zeros(256, "float32")
    history = model.fit(triplets, targets, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    vectors = [embedding.predict(x, verbose=0) for x in triplets]
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in vectors]
    positive = np.sum((unit[0] - unit[1]) ** 2, axis=1)
    negative = np.sum((unit[0] - unit[2]) ** 2, axis=1)
    assert positive.mean() + 0.2 < negative.mean()

    path = tmp_path / "triplet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.loss, TripletLoss)
    assert (loaded.loss.margin, loaded.loss.normalize) == (0.2, True)
    np.testing.assert_allclose(
        loaded.predict(triplets, verbose=0), model.predict(triplets, verbose=0),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("factory", [contrastive_loss, triplet_loss])
@pytest.mark.parametrize("margin", [0.0, -1.0, "1"])
def test_losses_reject_bad_margin(factory, margin):
    with pytest.raises(ValueError, match="`margin`"):
        factory(margin)


def test_losses_round_trip_through_config():
    for loss in (ContrastiveLoss(margin=0.7), TripletLoss(margin=0.3),
                 TripletLoss(normalize=False)):
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()


# --- pair generator ---------------------------------------------------------


@pytest.fixture
def labelled():
    # x holds each sample's own index, so pairs can be traced back.
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    x = np.arange(len(y))[:, None].astype("float32")
    return x, y


@pytest.mark.parametrize("num_pairs", [1, 2, 101, 400])
def test_make_pairs_is_balanced_and_labels_mean_same_class(labelled, num_pairs):
    x, y = labelled
    (left, right), labels = make_pairs(x, y, num_pairs=num_pairs, seed=0)
    assert left.shape == right.shape == (num_pairs, 1)
    assert labels.shape == (num_pairs,) and labels.dtype == np.float32
    assert labels.sum() == (num_pairs + 1) // 2  # positives
    assert (labels == 0).sum() == num_pairs // 2  # negatives
    first, second = left[:, 0].astype(int), right[:, 0].astype(int)
    np.testing.assert_array_equal(labels, (y[first] == y[second]).astype("float32"))
    # A positive pair is two different samples, never a sample with itself.
    assert np.all(first != second)


def test_make_pairs_covers_classes_and_shuffles(labelled):
    x, y = labelled
    (left, right), labels = make_pairs(x, y, num_pairs=400, seed=1)
    drawn = set(y[left[:, 0].astype(int)]) | set(y[right[:, 0].astype(int)])
    assert drawn == {0, 1, 2, 3}
    # Class 3 has one sample: it can only appear in negative pairs.
    in_positive = y[left[labels == 1, 0].astype(int)]
    assert 3 not in set(in_positive)
    # Not all positives first.
    assert not np.all(labels[:200] == 1)


def test_make_pairs_is_repeatable_with_a_seed(labelled):
    x, y = labelled
    (a1, b1), l1 = make_pairs(x, y, num_pairs=50, seed=7)
    (a2, b2), l2 = make_pairs(x, y, num_pairs=50, seed=7)
    (a3, _), _ = make_pairs(x, y, num_pairs=50, seed=8)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(l1, l2)
    assert not np.array_equal(a1, a3)


def test_make_pairs_keeps_sample_shape_and_column_labels():
    x = np.random.default_rng(0).uniform(size=(12, 4, 4, 1)).astype("float32")
    y = np.repeat([0, 1, 2], 4)[:, None]
    (left, right), labels = make_pairs(x, y, num_pairs=9, seed=0)
    assert left.shape == right.shape == (9, 4, 4, 1)
    assert labels.sum() == 5


def test_make_pairs_rejects_bad_input(labelled):
    x, y = labelled
    with pytest.raises(ValueError, match="`num_pairs`"):
        make_pairs(x, y, num_pairs=0)
    with pytest.raises(ValueError, match="`x`.*10 samples"):
        make_pairs(x[:5], y, num_pairs=4)
    with pytest.raises(ValueError, match=r"`y`.*class labels shaped \(n,\)"):
        make_pairs(x, np.eye(10, dtype=int), num_pairs=4)
    with pytest.raises(ValueError, match="`y`.*at least 2 classes"):
        make_pairs(x, np.zeros(10, int), num_pairs=4)
    with pytest.raises(ValueError, match="`y`.*at least 2 samples"):
        make_pairs(x, np.arange(10), num_pairs=4)


# --- model ------------------------------------------------------------------


def test_siamese_has_two_inputs_a_shared_embedding_and_one_distance():
    model = build_siamese((12,), embedding_dim=8, hidden_units=(16,))
    assert [tensor.name for tensor in model.inputs] == ["left", "right"]
    assert tuple(model.output.shape) == (None, 1)
    embedding = model.get_layer("embedding")
    assert [layer.name for layer in model.layers].count("embedding") == 1
    assert tuple(embedding.output.shape) == (None, 8)
    x = np.random.default_rng(0).uniform(size=(5, 12)).astype("float32")
    # The embedding works alone, and the model's distance is that of its vectors.
    vectors = embedding.predict(x, verbose=0)
    distances = model.predict([x, x[::-1]], verbose=0)
    expected = np.linalg.norm(vectors - vectors[::-1], axis=1, keepdims=True)
    np.testing.assert_allclose(
        distances, np.maximum(expected, np.sqrt(1e-7)), rtol=1e-4
    )


@pytest.mark.parametrize(
    "input_shape, first_layer",
    [((12,), "embedding_block1_dense"), ((10, 3), "embedding_stage1_conv"),
     ((8, 8, 1), "embedding_stage1_conv")],
)
def test_default_embedding_suits_the_input_rank(input_shape, first_layer):
    model = build_siamese(input_shape, embedding_dim=4, hidden_units=8, filters=(4, 8))
    embedding = model.get_layer("embedding")
    assert embedding.layers[1].name == first_layer
    rng = np.random.default_rng(0)
    pair = [rng.uniform(size=(3, *input_shape)).astype("float32") for _ in range(2)]
    assert model.predict(pair, verbose=0).shape == (3, 1)


def test_cosine_distances_lie_in_zero_two():
    model = build_siamese((6,), distance="cosine", hidden_units=(8,))
    rng = np.random.default_rng(0)
    pair = [rng.normal(size=(32, 6)).astype("float32") for _ in range(2)]
    distances = model.predict(pair, verbose=0)
    assert np.all(distances >= -1e-6) and np.all(distances <= 2 + 1e-6)


def test_custom_embedding_from_the_zoo_is_shared_not_copied():
    body = zoo.build("mlp", input_shape=(12,), num_outputs=6, hidden_units=(16,),
                     output_activation=None)
    model = build_siamese((12,), embedding=body)
    embedding = model.get_layer("embedding")
    assert tuple(embedding.output.shape) == (None, 6)
    x = np.random.default_rng(0).uniform(size=(4, 12)).astype("float32")
    np.testing.assert_allclose(
        embedding.predict(x, verbose=0), body.predict(x, verbose=0), rtol=1e-6
    )
    assert {id(w) for w in model.trainable_weights} == {
        id(w) for w in body.trainable_weights
    }


def test_contrastive_training_separates_classes_and_saves_compiled(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    centres = rng.normal(scale=3.0, size=(3, 6))
    x = (centres[y] + rng.normal(size=(120, 6))).astype("float32")
    (left, right), labels = make_pairs(x, y, num_pairs=256, seed=0)
    model = build_siamese((6,), embedding_dim=4, hidden_units=(16,))
    model.compile(keras.optimizers.Adam(1e-2), loss=contrastive_loss(margin=1.0))
    history = model.fit([left, right], labels, epochs=8, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    distances = model.predict([left, right], verbose=0)[:, 0]
    assert distances[labels == 1].mean() < distances[labels == 0].mean()

    path = tmp_path / "siamese.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.loss, ContrastiveLoss) and loaded.loss.margin == 1.0
    np.testing.assert_allclose(
        loaded.predict([left, right], verbose=0)[:, 0], distances, rtol=1e-5, atol=1e-6
    )
    # Training continues from the restored loss.
    loaded.fit([left, right], labels, epochs=1, batch_size=64, verbose=0)


def test_identical_pairs_give_finite_gradients():
    x = np.random.default_rng(0).uniform(size=(8, 5)).astype("float32")
    model = build_siamese((5,), embedding_dim=4, hidden_units=(8,))
    model.compile(keras.optimizers.SGD(0.1), loss=contrastive_loss())
    model.fit([x, x], np.ones(8, "float32"), epochs=2, batch_size=8, verbose=0)
    for weight in model.weights:
        assert np.all(np.isfinite(_numpy(weight)))


def test_build_siamese_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`input_shape`"):
        build_siamese((0,))
    with pytest.raises(ValueError, match="`input_shape`.*1, 2 or 3 axes"):
        build_siamese((2, 2, 2, 2))
    with pytest.raises(ValueError, match="`embedding_dim`"):
        build_siamese((4,), embedding_dim=0)
    with pytest.raises(ValueError, match="`hidden_units`"):
        build_siamese((4,), hidden_units=(8, -1))
    with pytest.raises(ValueError, match="`filters`"):
        build_siamese((4, 4, 1), filters=())
    with pytest.raises(ValueError, match="`activation`"):
        build_siamese((4,), activation="sigmoidal")
    with pytest.raises(ValueError, match="`distance`.*manhattan"):
        build_siamese((4,), distance="manhattan")


def test_build_siamese_rejects_bad_embeddings():
    with pytest.raises(ValueError, match="`embedding`.*keras.Model"):
        build_siamese((4,), embedding=keras.layers.Dense(3))
    wrong_input = zoo.build("mlp", input_shape=(5,), num_outputs=3)
    with pytest.raises(ValueError, match=r"`embedding`.*\(5,\).*input_shape=\(4,\)"):
        build_siamese((4,), embedding=wrong_input)
    inputs = keras.Input((4,))
    two_outputs = keras.Model(
        inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(2)(inputs)]
    )
    with pytest.raises(ValueError, match="`embedding`.*one output"):
        build_siamese((4,), embedding=two_outputs)
    sequence_output = keras.Model(inputs, keras.layers.Reshape((2, 2))(inputs))
    with pytest.raises(ValueError, match="`embedding`.*one output"):
        build_siamese((4,), embedding=sequence_output)
    a, b = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="`embedding`.*single input"):
        build_siamese((4,), embedding=two_inputs)


def test_search_space_tunes_only_what_is_not_fixed():
    hp = keras_tuner.HyperParameters()
    model = search_space(hp, input_shape=(8, 8, 1), distance="cosine")
    assert model.get_layer("distance").distance == "cosine"
    assert "distance" not in hp.values
    assert "filters" in hp.values and "units" not in hp.values

    hp = keras_tuner.HyperParameters()
    body = zoo.build("mlp", input_shape=(6,), num_outputs=3, output_activation=None)
    search_space(hp, input_shape=(6,), embedding=body)
    assert set(hp.values) == {"distance"}
