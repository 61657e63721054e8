"""Siamese networks for similarity learning, with contrastive and triplet losses.

One embedding network, shared by both branches, maps each input of a pair to a
vector; a distance layer compares the two vectors. Trained with the
contrastive loss, similar pairs end up close and dissimilar pairs at least a
margin apart, so the embedding alone (`model.get_layer("embedding")`) serves
for retrieval, clustering or few-shot classification.

Label convention, used everywhere in this module (`make_pairs`,
`contrastive_loss`, the model's distance output): **label 1 means the pair is
of the same class (a positive pair), label 0 means different classes (a
negative pair).** Hadsell et al. write the opposite (their Y=0 is "similar");
the formulas here are theirs with the label flipped.

The triplet loss (`triplet_loss()`) is FaceNet's by default: embeddings
L2-normalised onto the unit sphere, squared Euclidean distances, margin 0.2.
It trains a model whose output concatenates the embeddings of an anchor, a
positive (same class) and a negative (another class); see `triplet_loss`.

Reference:
    - Bromley et al., 1993, "Signature Verification using a 'Siamese' Time
      Delay Neural Network".
    - Hadsell, Chopra & LeCun, 2006, "Dimensionality Reduction by Learning an
      Invariant Mapping" (the contrastive loss).
    - Schroff, Kalenichenko & Philbin, 2015, "FaceNet: A Unified Embedding
      for Face Recognition and Clustering" (the triplet loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from zoo import _common
from zoo._registry import register

DISTANCES = ("euclidean", "cosine")
# Floor on squared norms: keeps a zero vector's gradient finite.
EPSILON = 1e-7
# FaceNet's margin between the squared distances of unit-norm embeddings.
FACENET_MARGIN = 0.2


def _l2_normalize(x, epsilon: float = EPSILON):
    """`x / sqrt(max(sum(x ** 2), epsilon))` along the last axis."""
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x / ops.sqrt(ops.maximum(squared, epsilon))


@keras.saving.register_keras_serializable(package="zoo")
class PairDistance(layers.Layer):
    """Distance between two batches of vectors, one value per pair.

    `"euclidean"`: `sqrt(max(sum((a - b) ** 2), epsilon))`; the floor inside
    the square root keeps the gradient finite when `a == b` (it only changes
    distances below `sqrt(epsilon)`).
    `"cosine"`: `1 - cos(a, b)`, in [0, 2]; vectors are divided by
    `sqrt(max(sum(x ** 2), epsilon))`.

    Args:
        distance: `"euclidean"` or `"cosine"`.
        epsilon: the small floor described above.

    Call arguments:
        inputs: a list `[a, b]` of tensors shaped `(batch, dim)`.

    Returns:
        A tensor shaped `(batch, 1)`.
    """

    def __init__(self, distance: str = "euclidean", epsilon: float = EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.distance = _common.check_choice("distance", distance, DISTANCES)
        self.epsilon = _common.check_positive_float("epsilon", epsilon)

    def call(self, inputs):
        a, b = inputs
        if self.distance == "euclidean":
            squared = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
            return ops.sqrt(ops.maximum(squared, self.epsilon))
        unit_a = _l2_normalize(a, self.epsilon)
        unit_b = _l2_normalize(b, self.epsilon)
        return 1.0 - ops.sum(unit_a * unit_b, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "distance": self.distance,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="zoo")
class ContrastiveLoss(keras.losses.Loss):
    """Contrastive loss of Hadsell, Chopra & LeCun (2006), label 1 = same class.

    For a pair at distance `d` with label `y`:

        loss = y * d**2 + (1 - y) * max(margin - d, 0)**2

    averaged over the batch. There is no factor 1/2 (Hadsell et al. put 1/2 on
    both terms; that only rescales the gradient). Positive pairs are pulled
    together; negative pairs are pushed apart until they are `margin` away.

    Args:
        margin: the distance beyond which negative pairs cost nothing.
        name: loss name.
        reduction: Keras reduction, `"sum_over_batch_size"` by default.

    Call arguments:
        y_true: labels (1 same, 0 different), shaped `(batch,)` or `(batch, 1)`.
        y_pred: distances shaped `(batch, 1)`, e.g. a `build_siamese` output.
    """

    def __init__(
        self,
        margin: float = 1.0,
        name: str = "contrastive_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _common.check_positive_float("margin", margin)

    def call(self, y_true, y_pred):
        y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
        positive = y_true * ops.square(y_pred)
        negative = (1.0 - y_true) * ops.square(ops.maximum(self.margin - y_pred, 0.0))
        return ops.mean(positive + negative, axis=-1)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="zoo")
class TripletLoss(keras.losses.Loss):
    """Triplet loss of Schroff et al. (2015, FaceNet) on concatenated embeddings.

    `y_pred` is `concatenate([anchor, positive, negative], axis=-1)`, each of
    width `dim` (so `y_pred` is `(batch, 3 * dim)`); `y_true` is ignored.
    With `normalize=True` (FaceNet's form, the default) each embedding is
    first divided by its L2 norm, `f(x) / |f(x)|`, so that it lies on the
    unit hypersphere; then, with squared Euclidean distances,

        loss = max(|anchor - positive|**2 - |anchor - negative|**2 + margin, 0)

    averaged over the batch (FaceNet sums over the triplets; the mean only
    rescales the gradient). On the unit sphere a squared distance lies in
    [0, 4] and the paper's `margin=0.2` is a fixed fraction of that range.
    With `normalize=False` the raw embeddings are compared; the network can
    then meet any margin by scaling all its embeddings up, so the margin
    only sets their scale.

    Args:
        margin: how much closer (in squared distance) the positive must be
            than the negative; FaceNet's 0.2 by default.
        normalize: L2-normalise the embeddings first (FaceNet), or compare
            them as they are.
        name: loss name.
        reduction: Keras reduction, `"sum_over_batch_size"` by default.

    Reference:
        - Schroff, Kalenichenko & Philbin, 2015, "FaceNet: A Unified
          Embedding for Face Recognition and Clustering", CVPR, section 3.1.
    """

    def __init__(
        self,
        margin: float = FACENET_MARGIN,
        normalize: bool = True,
        name: str = "triplet_loss",
        reduction: str | None = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = _common.check_positive_float("margin", margin)
        self.normalize = _common.check_bool("normalize", normalize)

    def call(self, y_true, y_pred):
        anchor, positive, negative = ops.split(y_pred, 3, axis=-1)
        if self.normalize:
            anchor, positive, negative = (
                _l2_normalize(anchor), _l2_normalize(positive), _l2_normalize(negative)
            )
        positive_distance = ops.sum(ops.square(anchor - positive), axis=-1)
        negative_distance = ops.sum(ops.square(anchor - negative), axis=-1)
        return ops.maximum(positive_distance - negative_distance + self.margin, 0.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "normalize": self.normalize}

    @classmethod
    def from_config(cls, config):
        # Configs saved before `normalize` existed compared raw embeddings.
        return super().from_config({"normalize": False, **config})


def contrastive_loss(margin: float = 1.0) -> ContrastiveLoss:
    """Returns the contrastive loss (label 1 = same class) for `compile()`.

    Args:
        margin: negative pairs further apart than `margin` cost nothing.

    Returns:
        A serializable `ContrastiveLoss`: a compiled model saves and loads
        with `safe_mode=True`.

    Example:

    >>> model = build_siamese((64,))
    >>> model.compile("adam", loss=contrastive_loss(margin=1.0))

    Reference:
        - Hadsell, Chopra & LeCun, 2006, "Dimensionality Reduction by
          Learning an Invariant Mapping".
    """
    return ContrastiveLoss(margin=margin)


def triplet_loss(margin: float = FACENET_MARGIN, normalize: bool = True) -> TripletLoss:
    """Returns the triplet loss for a model whose output concatenates
    `[anchor, positive, negative]` embeddings (see `TripletLoss`).

    By default FaceNet's form: unit-norm embeddings, squared Euclidean
    distances, `margin=0.2`.

    Args:
        margin: how much closer (in squared distance) the positive must be
            than the negative.
        normalize: L2-normalise the embeddings first (FaceNet), or compare
            them as they are (the margin then only sets their scale).

    Returns:
        A serializable `TripletLoss`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> from zoo.siamese import build_siamese, triplet_loss
    >>> # anchor, positive, negative: unit vectors (1, 0), (0, 1), (0.8, 0.6)
    >>> y_pred = np.array([[3.0, 0.0, 0.0, 5.0, 4.0, 3.0]], "float32")
    >>> float(triplet_loss()(np.zeros(1), y_pred))  # max(2 - 0.4 + 0.2, 0)
    1.8
    >>> # A triplet model: one shared embedding applied to three inputs.
    >>> embedding = build_siamese((64,), embedding_dim=16).get_layer("embedding")
    >>> inputs = [keras.Input((64,), name=n) for n in ("anchor", "positive", "negative")]
    >>> outputs = keras.layers.Concatenate()([embedding(x) for x in inputs])
    >>> model = keras.Model(inputs, outputs)
    >>> model.compile("adam", loss=triplet_loss())  # fit with y = zeros
    >>> model.output.shape
    (None, 48)

    Reference:
        - Schroff, Kalenichenko & Philbin, 2015, "FaceNet: A Unified
          Embedding for Face Recognition and Clustering".
    """
    return TripletLoss(margin=margin, normalize=normalize)


def make_pairs(
    x: Any,
    y: Any,
    *,
    num_pairs: int,
    seed: int | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Draws balanced positive and negative pairs from a labelled dataset.

    `ceil(num_pairs / 2)` pairs are positive (two different samples of the
    same class, label 1) and `floor(num_pairs / 2)` negative (samples of two
    different classes, label 0), in shuffled order. The first sample of each
    pair is drawn uniformly (among samples whose class has a second member
    for positives), so classes appear as often as in `x`.

    Args:
        x: samples, an array with the sample axis first.
        y: class labels (integers or strings, not one-hot), shaped `(n,)`
            or `(n, 1)`.
        num_pairs: the number of pairs to draw.
        seed: seed for NumPy's random generator (`None`: not repeatable).

    Returns:
        `((x1, x2), labels)`: two arrays shaped like `x` with `num_pairs`
        samples, and float32 labels shaped `(num_pairs,)`, 1 = same class.

    Example:

    >>> import numpy as np
    >>> from zoo.siamese import make_pairs
    >>> x = np.arange(6, dtype="float32")[:, None]  # each sample holds its index
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> (left, right), labels = make_pairs(x, y, num_pairs=10, seed=0)
    >>> left.shape, right.shape, labels.shape
    ((10, 1), (10, 1), (10,))
    >>> int(labels.sum())  # half the pairs are same-class
    5
    >>> same = y[left[:, 0].astype(int)] == y[right[:, 0].astype(int)]
    >>> bool(np.all(same == (labels == 1)))
    True
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _common.invalid("y", "class labels shaped (n,) or (n, 1)", y.shape)
    if x.ndim < 1 or len(x) != len(y):
        raise _common.invalid(
            "x", f"an array with {len(y)} samples, as many as `y`", x.shape
        )
    num_pairs = _common.check_positive_int("num_pairs", num_pairs)
    classes, counts = np.unique(y, return_counts=True)
    num_positive = (num_pairs + 1) // 2
    num_negative = num_pairs // 2
    if num_negative and len(classes) < 2:
        raise _common.invalid(
            "y", "labels of at least 2 classes (for negative pairs)", classes
        )
    if not np.any(counts >= 2):
        raise _common.invalid(
            "y",
            "a class with at least 2 samples (for positive pairs)",
            dict(zip(classes.tolist(), counts.tolist())),
        )
    rng = np.random.default_rng(seed)

    # Indices grouped by class: class c occupies order[start[c]:start[c] + count[c]].
    order = np.argsort(y, kind="stable")
    class_of = np.searchsorted(classes, y)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(y), dtype=np.int64)
    position[order] = np.arange(len(y)) - start[class_of[order]]

    # Positives: an anchor whose class has >= 2 samples, and a different member.
    eligible = np.flatnonzero(counts[class_of] >= 2)
    anchors = rng.choice(eligible, size=num_positive)
    anchor_class = class_of[anchors]
    shift = rng.integers(1, counts[anchor_class])
    partners = order[
        start[anchor_class] + (position[anchors] + shift) % counts[anchor_class]
    ]
    # Negatives: any anchor, and a uniform draw among samples of other classes.
    negative_anchors = rng.integers(0, len(y), size=num_negative)
    negative_class = class_of[negative_anchors]
    draw = rng.integers(0, len(y) - counts[negative_class])
    draw = np.where(
        draw < start[negative_class], draw, draw + counts[negative_class]
    )
    negative_partners = order[draw]

    first = np.concatenate([anchors, negative_anchors])
    second = np.concatenate([partners, negative_partners])
    labels = np.concatenate([np.ones(num_positive), np.zeros(num_negative)])
    shuffle = rng.permutation(num_pairs)
    first, second, labels = first[shuffle], second[shuffle], labels[shuffle]
    return (x[first], x[second]), labels.astype("float32")


def _default_embedding(
    input_shape: tuple[int, ...],
    embedding_dim: int,
    hidden_units: tuple[int, ...],
    filters: tuple[int, ...],
    activation: str,
) -> keras.Model:
    """A small MLP for vectors, a small 1-D or 2-D CNN for sequences or images."""
    initializer = _common.default_initializer(activation)
    inputs = keras.Input(shape=input_shape, name="embedding_input")
    x = inputs
    if len(input_shape) == 1:
        for index, units in enumerate(hidden_units):
            x = _common.dense_block(
                x,
                units,
                activation=activation,
                batch_norm=None,
                dropout_rate=0.0,
                kernel_initializer=initializer,
                name=f"embedding_block{index + 1}",
            )
    else:
        conv, pool, global_pool = (
            (layers.Conv1D, layers.MaxPooling1D, layers.GlobalAveragePooling1D)
            if len(input_shape) == 2
            else (layers.Conv2D, layers.MaxPooling2D, layers.GlobalAveragePooling2D)
        )
        for index, width in enumerate(filters):
            stage = f"embedding_stage{index + 1}"
            x = conv(
                width,
                3,
                padding="same",
                kernel_initializer=initializer,
                name=f"{stage}_conv",
            )(x)
            x = _common.activation_layer(activation, name=f"{stage}_{activation}")(x)
            if index < len(filters) - 1:
                x = pool(2, padding="same", name=f"{stage}_pool")(x)
        x = global_pool(name="embedding_pool")(x)
    # float32 even under a mixed-precision policy: distances need its range.
    outputs = layers.Dense(embedding_dim, dtype="float32", name="embedding_vector")(x)
    return keras.Model(inputs, outputs, name="embedding")


def _wrap_embedding(embedding: Any, input_shape: tuple[int, ...]) -> keras.Model:
    """Checks a user's embedding model and wraps it as the sub-model "embedding"."""
    if not isinstance(embedding, keras.Model):
        raise _common.invalid(
            "embedding", "a keras.Model mapping one input to a vector", embedding
        )
    model_inputs = getattr(embedding, "inputs", None)
    if model_inputs is not None:
        if len(model_inputs) != 1:
            raise _common.invalid(
                "embedding", "a model with a single input", embedding.name
            )
        expected = tuple(model_inputs[0].shape[1:])
        if len(expected) != len(input_shape) or any(
            want is not None and want != got for want, got in zip(expected, input_shape)
        ):
            raise ValueError(
                f"Invalid value for argument `embedding`: its input shape {expected} "
                f"does not match input_shape={input_shape}. Received: "
                f"embedding={embedding.name!r}"
            )
    inputs = keras.Input(shape=input_shape, name="embedding_input")
    outputs = embedding(inputs)
    if isinstance(outputs, (list, tuple, dict)) or len(outputs.shape) != 2:
        raise _common.invalid(
            "embedding", "a model with one output shaped (batch, dim)", embedding.name
        )
    return keras.Model(inputs, outputs, name="embedding")


def build_siamese(
    input_shape: int | Sequence[int],
    *,
    embedding: keras.Model | None = None,
    embedding_dim: int = 32,
    hidden_units: int | Sequence[int] = (64, 64),
    filters: int | Sequence[int] = (32, 64),
    activation: str = "relu",
    distance: str = "euclidean",
    name: str = "siamese",
) -> keras.Model:
    """Builds a siamese network: two inputs, one shared embedding, their distance.

    Label convention (see the module docstring): 1 = same class. A small
    distance means "same"; train with `contrastive_loss()`.

    Args:
        input_shape: shape of one input of the pair, e.g. `(64,)` or
            `(28, 28, 1)`.
        embedding: a `keras.Model` mapping one input to a vector shaped
            `(batch, dim)`, e.g. `zoo.build("mlp", ..., output_activation=None)`
            or an autoencoder's `get_layer("encoder")`. It is wrapped as the
            sub-model `"embedding"` (the model you pass is shared, not
            copied). By default: a small MLP for vectors (rank 1), a small
            CNN for sequences (rank 2, Conv1D) or images (rank 3, Conv2D).
        embedding_dim: width of the default embedding's output (ignored with
            a custom `embedding`, whose own output width is used).
        hidden_units: hidden widths of the default MLP embedding.
        filters: filters per stage of the default CNN embedding.
        activation: activation of the default embedding, one of
            `zoo._common.ACTIVATIONS`.
        distance: `"euclidean"` or `"cosine"` (1 - cosine similarity).
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` with inputs `"left"` and
        `"right"` and one output, the distance per pair, shaped `(batch, 1)`.
        `model.get_layer("embedding")` is the shared embedding.

    Example:

    >>> import numpy as np
    >>> from zoo.siamese import build_siamese, contrastive_loss, make_pairs
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 64)).astype("float32")
    >>> y = rng.integers(0, 3, size=60)
    >>> model = build_siamese((64,), embedding_dim=16)
    >>> model.compile("adam", loss=contrastive_loss(margin=1.0))
    >>> (left, right), labels = make_pairs(x, y, num_pairs=200, seed=0)
    >>> history = model.fit([left, right], labels, epochs=1, verbose=0)
    >>> model.output.shape  # one distance per pair
    (None, 1)
    >>> model.get_layer("embedding").predict(x, verbose=0).shape
    (60, 16)

    Reference:
        - Bromley et al., 1993, "Signature Verification using a 'Siamese'
          Time Delay Neural Network".
        - Hadsell, Chopra & LeCun, 2006, "Dimensionality Reduction by
          Learning an Invariant Mapping".
    """
    input_shape = _common.check_input_shape(input_shape)
    embedding_dim = _common.check_positive_int("embedding_dim", embedding_dim)
    hidden_units = _common.check_units("hidden_units", hidden_units, allow_empty=True)
    filters = _common.check_units("filters", filters)
    activation = _common.check_activation("activation", activation)
    distance = _common.check_choice("distance", distance, DISTANCES)
    if embedding is None:
        if len(input_shape) > 3:
            raise _common.invalid(
                "input_shape",
                "a shape with 1, 2 or 3 axes for the default embedding "
                "(pass your own `embedding` for other ranks)",
                input_shape,
            )
        embedding_model = _default_embedding(
            input_shape, embedding_dim, hidden_units, filters, activation
        )
    else:
        embedding_model = _wrap_embedding(embedding, input_shape)

    left = keras.Input(shape=input_shape, name="left")
    right = keras.Input(shape=input_shape, name="right")
    left_vector = embedding_model(left)
    right_vector = embedding_model(right)
    # float32 even under a mixed-precision policy: distances feed the loss.
    outputs = PairDistance(distance, dtype="float32", name="distance")([left_vector, right_vector])
    return keras.Model([left, right], outputs, name=name)


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_siamese`.

    Tunes the embedding width, the default embedding's depth and width, its
    activation and the distance; `fixed` (at least `input_shape`) passes
    through to the builder and is never tuned. With a custom `embedding`,
    only the distance is tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(), input_shape=(64,))
    """
    kwargs = dict(fixed)
    custom = kwargs.get("embedding") is not None
    if not custom:
        input_rank = len(_common.check_input_shape(kwargs.get("input_shape")))
        if "embedding_dim" not in kwargs:
            kwargs["embedding_dim"] = hp.Choice("embedding_dim", [16, 32, 64, 128])
        if input_rank == 1 and "hidden_units" not in kwargs:
            depth = hp.Int("num_layers", 1, 3)
            width = hp.Int("units", 32, 256, sampling="log")
            kwargs["hidden_units"] = (width,) * depth
        if input_rank > 1 and "filters" not in kwargs:
            depth = hp.Int("num_stages", 1, 3)
            width = hp.Choice("filters", [16, 32, 64])
            kwargs["filters"] = tuple(width * 2**stage for stage in range(depth))
        if "activation" not in kwargs:
            kwargs["activation"] = hp.Choice("activation", ["relu", "gelu", "swish"])
    if "distance" not in kwargs:
        kwargs["distance"] = hp.Choice("distance", list(DISTANCES))
    return build_siamese(**kwargs)


register(
    "siamese",
    build_siamese,
    description="Siamese network: shared embedding, pair distance, contrastive loss.",
    example={"input_shape": (12,), "embedding_dim": 8, "hidden_units": (16,)},
    input_kind="pair",
    task="similarity",
    search_space=search_space,
)
