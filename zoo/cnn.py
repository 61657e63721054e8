"""Convolutional network (CNN) for image classification, plain or residual.

Stages of convolutional blocks at a constant width, separated by a 2x
downsampling (max pooling or a strided convolution), then a global pooling
head, dropout and a dense classifier. Each block holds two convolutions, as
in ResNet's basic block; with `residual=True` a skip connection is added
around it (identity where the shapes match, a 1x1 projection convolution
where the width or the resolution changes). With `residual=False` the same
network without shortcuts is the "plain" baseline of He et al. (2016).

Everything from the input image up to and including the global pooling is a
nested functional model named `"features"`, so it can be reused on its own:

    features = model.get_layer("features")   # image -> pooled feature vector
    features.trainable = False                 # freeze for transfer learning
    outputs = keras.layers.Dense(5, activation="softmax")(features(inputs))

Optional augmentation layers (random flip, rotation, translation, zoom) sit
in front of `"features"`; they transform images only in training and are
the identity at inference.

Reference:
    - LeCun et al., 1998, "Gradient-Based Learning Applied to Document
      Recognition".
    - Simonyan & Zisserman, 2015, "Very Deep Convolutional Networks for
      Large-Scale Image Recognition".
    - He et al., 2016, "Deep Residual Learning for Image Recognition".
    - Ioffe & Szegedy, 2015, "Batch Normalization".
    - Lin et al., 2014, "Network In Network" (global average pooling).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import layers

from zoo import _common
from zoo._common import StochasticDepth
from zoo._registry import register

OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", None)
DOWNSAMPLING = ("pool", "strided")
GLOBAL_POOLING = ("avg", "max", "flatten")
AUGMENTATIONS = ("flip", "rotation", "translation", "zoom")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
# Used when `augmentation` names a transformation without a factor.
DEFAULT_AUGMENTATION_FACTORS = {
    "flip": "horizontal",  # mode of `RandomFlip`
    "rotation": 0.05,  # fraction of a full turn: +-18 degrees
    "translation": 0.1,  # fraction of height and width
    "zoom": 0.1,  # fraction of the size, in and out
}


def _is_positive_int(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return value >= 1


def _check_kernel_size(value: Any) -> tuple[int, int]:
    if _is_positive_int(value):
        return (int(value), int(value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        if all(_is_positive_int(v) for v in value):
            return (int(value[0]), int(value[1]))
    raise _common.invalid(
        "kernel_size", "a positive integer or a pair of them", value
    )


def _check_augmentation(value: Any) -> dict[str, Any]:
    """`None`, a sequence of names, or a mapping of names to factors."""
    expected = (
        f"None, a sequence of names from {AUGMENTATIONS}, or a mapping of "
        f"those names to factors"
    )
    if value is None:
        return {}
    if isinstance(value, str):
        raise _common.invalid("augmentation", expected, value)
    if isinstance(value, Mapping):
        items = dict(value)
    elif isinstance(value, (list, tuple)):
        items = {}
        for entry in value:
            if not isinstance(entry, str) or entry in items:
                raise _common.invalid("augmentation", expected, value)
            items[entry] = DEFAULT_AUGMENTATION_FACTORS.get(entry)
    else:
        raise _common.invalid("augmentation", expected, value)
    for key, factor in items.items():
        if key not in AUGMENTATIONS:
            raise _common.invalid("augmentation", expected, value)
        if key == "flip":
            if factor not in FLIP_MODES:
                raise _common.invalid(
                    "augmentation", f"a flip mode in {FLIP_MODES} for 'flip'", value
                )
        elif (
            isinstance(factor, bool)
            or not isinstance(factor, numbers.Real)
            or not 0 < factor <= 1
        ):
            raise _common.invalid(
                "augmentation", f"a factor in (0, 1] for {key!r}", value
            )
    return items


@keras.saving.register_keras_serializable(package="zoo")
class ImageAugmentation(layers.Layer):
    """Random image transformations applied in training only.

    Wraps Keras' `RandomFlip`, `RandomRotation`, `RandomTranslation` and
    `RandomZoom`. Those layers transform whenever `training` is not `False`,
    so a plain `model(x)` call would still augment; this layer transforms
    only when called with `training=True` (as `fit()` does) and is the
    identity otherwise. Geometric transforms fill the uncovered border with
    zeros (the background of scaled digit images, and what "same"
    convolution padding assumes).

    Args:
        augmentation: a sequence of names from `("flip", "rotation",
            "translation", "zoom")` with default strengths, or a mapping of
            names to factors (`"flip"` takes a mode instead).
        seed: optional integer seed for the random transformations.
    """

    def __init__(self, augmentation, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.augmentation = _check_augmentation(augmentation)
        seed = _common.check_seed("seed", seed)
        self.seed = seed
        self.transforms = []
        for index, (key, factor) in enumerate(self.augmentation.items()):
            # One seed per transform, so that their draws are not correlated.
            fill = {
                "fill_mode": "constant",
                "fill_value": 0.0,
                "seed": None if seed is None else seed + index,
            }
            if key == "flip":
                layer = layers.RandomFlip(factor, seed=fill["seed"], name="flip")
            elif key == "rotation":
                layer = layers.RandomRotation(factor, name="rotation", **fill)
            elif key == "translation":
                layer = layers.RandomTranslation(
                    factor, factor, name="translation", **fill
                )
            else:
                layer = layers.RandomZoom(factor, name="zoom", **fill)
            self.transforms.append(layer)

    def build(self, input_shape):
        for layer in self.transforms:
            layer.build(input_shape)

    def call(self, images, training=None):
        if not training:
            return images
        for layer in self.transforms:
            images = layer(images, training=True)
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"augmentation": dict(self.augmentation), "seed": self.seed})
        return config


def _conv_unit(
    x,
    filters: int,
    *,
    kernel_size: tuple[int, int],
    strides: int,
    activation: str,
    batch_norm: str | None,
    momentum: float,
    kernel_initializer: Any,
    shortcut=None,
    drop_path_rate: float = 0.0,
    name: str,
):
    """Conv, BatchNorm before the activation, [add shortcut], activation, BN after.

    With batch norm before the activation the convolution drops its bias:
    BatchNorm's beta takes its place. A shortcut is added after the
    normalisation and before the activation, as in He et al. (2016).
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=batch_norm != "before",
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )(x)
    if batch_norm == "before":
        x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    if shortcut is not None:
        if drop_path_rate > 0:  # stochastic depth: drop the branch, keep the skip
            x = StochasticDepth(drop_path_rate, name=f"{name}_drop_path")(x)
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    x = _common.activation_layer(activation, name=f"{name}_{activation}")(x)
    if batch_norm == "after":
        x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return x


def _conv_block(
    x,
    filters: int,
    *,
    kernel_size: tuple[int, int],
    strides: int,
    activation: str,
    batch_norm: str | None,
    momentum: float,
    residual: bool,
    kernel_initializer: Any,
    drop_path_rate: float = 0.0,
    name: str,
):
    """Two convolutions (a ResNet basic block), with an optional skip connection.

    The first convolution carries the stride when the block downsamples. The
    skip is the identity when input and output shapes match, otherwise a 1x1
    convolution with the same stride (a projection shortcut).
    """
    common = dict(
        kernel_size=kernel_size,
        activation=activation,
        batch_norm=batch_norm,
        momentum=momentum,
        kernel_initializer=kernel_initializer,
    )
    shortcut = None
    if residual:
        shortcut = x
        if strides != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(
                filters,
                1,
                strides=strides,
                padding="same",
                use_bias=batch_norm != "before",
                kernel_initializer=kernel_initializer,
                name=f"{name}_projection",
            )(x)
            if batch_norm == "before":
                shortcut = layers.BatchNormalization(
                    momentum=momentum, name=f"{name}_projection_bn"
                )(shortcut)
    x = _conv_unit(x, filters, strides=strides, name=f"{name}_unit1", **common)
    return _conv_unit(
        x, filters, strides=1, shortcut=shortcut, drop_path_rate=drop_path_rate,
        name=f"{name}_unit2", **common
    )


def build_cnn(
    input_shape: Sequence[int],
    num_outputs: int,
    *,
    filters: int | Sequence[int] = (32, 64),
    blocks_per_stage: int | Sequence[int] = 1,
    kernel_size: int | Sequence[int] = 3,
    activation: str = "relu",
    batch_norm: str | None = "before",
    batch_norm_momentum: float = 0.99,
    residual: bool = False,
    downsample: str = "pool",
    dropout_rate: float = 0.0,
    drop_path_rate: float = 0.0,
    global_pooling: str = "avg",
    augmentation: Sequence[str] | Mapping[str, Any] | None = None,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    output_activation: str | None = "softmax",
    stem: str | int = "auto",
    name: str = "cnn",
) -> keras.Model:
    """Builds a convolutional image classifier, plain or residual.

    The network has one stage per entry of `filters`. Every stage after the
    first starts by halving the image sides (max pooling or a stride-2
    convolution, "same" padding, so odd sides round up); each stage then
    applies `blocks_per_stage` blocks of two convolutions. Before the first
    stage a stem halves the sides of larger images (`stem`), so that the
    blocks work at the resolution of small images whatever the input's:
    their cost per image then grows with the number of stages, not with
    the pixels. The convolutional
    trunk and the global pooling form a nested model named `"features"`
    (image in, feature vector out) for transfer learning; after it come
    dropout and the `"predictions"` dense layer.

    Args:
        input_shape: shape of one image, `(height, width, channels)`, e.g.
            `(8, 8, 1)` for the scikit-learn digits.
        num_outputs: number of output units: classes for softmax, labels
            for multi-label sigmoid (1 for binary with sigmoid).
        filters: width of each stage, e.g. `(32, 64)`. Each stage after the
            first halves the image sides, so an image with a shortest side
            of `s` takes at most `1 + floor(log2(s))` stages.
        blocks_per_stage: number of blocks in each stage, an int for all
            stages or one per stage.
        kernel_size: convolution kernel size, an int or `(height, width)`.
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        batch_norm_momentum: momentum of the moving mean and variance that
            batch norm uses at inference, in [0, 1). Keras's 0.99 suits
            long runs; on a small dataset (few steps per epoch) 0.9 lets the
            statistics catch up within an epoch, so validation accuracy is
            right from the first epochs.
        residual: add a skip connection around each block: the identity
            when shapes match, a 1x1 projection convolution when the width
            or the resolution changes.
        downsample: `"pool"` (2x2 max pooling before the stage) or
            `"strided"` (the stage's first convolution has stride 2).
        dropout_rate: dropout before the classifier, in [0, 1).
        drop_path_rate: stochastic depth (Huang et al. 2016) on the
            residual blocks: the last block's residual branch is dropped
            for a whole sample with this probability in training, earlier
            blocks' linearly less (the first: 0), as in `build_gmlp`; in
            [0, 1), needs `residual=True`.
        global_pooling: how the last feature map becomes a vector: `"avg"`
            (global average pooling), `"max"`, or `"flatten"` (keeps
            positions; more parameters in the classifier).
        augmentation: random transformations applied in training only:
            `None`, a sequence of names from `("flip", "rotation",
            "translation", "zoom")` with default strengths, or a mapping of
            names to factors, e.g. `{"rotation": 0.03, "zoom": 0.1}`
            (`"flip"` takes a mode: `"horizontal"`, `"vertical"` or
            `"horizontal_and_vertical"`). Choose what keeps the label:
            flipping a digit changes it.
        kernel_initializer: initializer for the convolutions; by default
            one that suits the activation (He normal for ReLU-like units).
        output_activation: `"softmax"` (single-label classification),
            `"sigmoid"` (binary or multi-label), `"linear"` or `None`
            (logits).
        stem: how many times to halve the image sides before the first
            stage: `"auto"` halves while the shorter side is 24 pixels or
            more (8x8 and 16x16: never; 28x28 and 32x32: once; 64x64:
            twice), or an int (0: no stem). The first halving is a stride-2
            convolution of `filters[0]` channels (batch norm and activation
            as in the blocks), each further one a 2x2 max pooling.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model`: the layers `"images"`,
        `"augmentation"` (an `ImageAugmentation`, when requested),
        `"features"` (the feature extractor), `"dropout"` (when
        `dropout_rate > 0`) and `"predictions"`.

    Example:

    >>> model = build_cnn((8, 8, 1), 10, filters=(16, 32), residual=True,
    ...                   augmentation={"rotation": 0.03, "translation": 0.1})
    >>> model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    >>> model.get_layer("features").output.shape
    (None, 32)
    """
    input_shape = _common.check_input_shape(
        input_shape, rank=3, what="(height, width, channels)"
    )
    num_outputs = _common.check_positive_int("num_outputs", num_outputs)
    filters = _common.check_units("filters", filters)
    if isinstance(blocks_per_stage, (list, tuple)):
        blocks = _common.check_units("blocks_per_stage", blocks_per_stage)
        if len(blocks) != len(filters):
            raise _common.invalid(
                "blocks_per_stage",
                f"a positive integer or one per stage ({len(filters)} stages, "
                f"as in filters={filters})",
                blocks_per_stage,
            )
    else:
        blocks = (_common.check_positive_int("blocks_per_stage", blocks_per_stage),)
        blocks *= len(filters)
    kernel_size = _check_kernel_size(kernel_size)
    activation = _common.check_activation("activation", activation)
    _common.check_choice("batch_norm", batch_norm, _common.BATCH_NORM_PLACEMENTS)
    momentum = _common.check_rate("batch_norm_momentum", batch_norm_momentum)
    _common.check_bool("residual", residual)
    _common.check_choice("downsample", downsample, DOWNSAMPLING)
    dropout_rate = _common.check_rate("dropout_rate", dropout_rate)
    drop_path_rate = _common.check_rate("drop_path_rate", drop_path_rate)
    if drop_path_rate > 0 and not residual:
        raise _common.invalid("drop_path_rate", "0 without residual=True (stochastic depth "
                              "drops residual branches)", drop_path_rate)
    _common.check_choice("global_pooling", global_pooling, GLOBAL_POOLING)
    augmentation = _check_augmentation(augmentation)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    if kernel_initializer is not None:
        try:
            keras.initializers.get(kernel_initializer)
        except (ValueError, TypeError):
            raise _common.invalid(
                "kernel_initializer",
                "a Keras initializer or its name",
                kernel_initializer,
            ) from None
    if not isinstance(name, str) or not name:
        raise _common.invalid("name", "a non-empty string", name)
    halvings = stem_halvings(input_shape, stem)
    # Every stage after the first halves the sides; a side of 1 cannot be halved.
    sides = stem_sides = _halved(input_shape[:2], halvings)
    for _ in filters[1:]:
        if min(sides) < 2:
            raise _common.invalid(
                "filters",
                f"at most {_max_stages(stem_sides)} stages for "
                f"input_shape={input_shape} and stem={stem!r}: each stage after the first halves "
                f"the image sides, and a side of 1 cannot be halved",
                filters,
            )
        sides = _halved(sides, 1)
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)

    # The feature extractor: image -> pooled feature vector.
    images = keras.Input(shape=input_shape, name="images")
    x = images
    if halvings:
        x = _conv_unit(x, filters[0], kernel_size=kernel_size, strides=2, activation=activation,
                       batch_norm=batch_norm, momentum=momentum,
                       kernel_initializer=kernel_initializer, name="stem")
        for index in range(1, halvings):
            x = layers.MaxPooling2D(2, padding="same", name=f"stem_pool{index}")(x)
    total_blocks, index = sum(blocks), 0
    for stage, (width, num_blocks) in enumerate(zip(filters, blocks)):
        stage_name = f"stage{stage + 1}"
        downsampling = stage > 0
        if downsampling and downsample == "pool":
            x = layers.MaxPooling2D(2, padding="same", name=f"{stage_name}_pool")(x)
        for block in range(num_blocks):
            strided = downsampling and downsample == "strided" and block == 0
            x = _conv_block(
                x,
                width,
                kernel_size=kernel_size,
                strides=2 if strided else 1,
                activation=activation,
                batch_norm=batch_norm,
                momentum=momentum,
                residual=residual,
                kernel_initializer=kernel_initializer,
                drop_path_rate=drop_path_rate * index / max(total_blocks - 1, 1),
                name=f"{stage_name}_block{block + 1}",
            )
            index += 1
    if global_pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="global_avg_pool")(x)
    elif global_pooling == "max":
        x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    features = keras.Model(images, x, name="features")

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if augmentation:
        x = ImageAugmentation(augmentation, name="augmentation")(x)
    x = features(x)
    if dropout_rate > 0:
        x = _common.dropout_layer(activation, dropout_rate, name="dropout")(x)
    # float32 even under a mixed-precision policy: the softmax and the loss
    # need its range (Keras' mixed-precision guide).
    outputs = layers.Dense(
        num_outputs, activation=output_activation or "linear", dtype="float32",
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def stem_halvings(input_shape: Sequence[int], stem: str | int = "auto") -> int:
    """How many times the stem of `build_cnn` halves an image of `input_shape`.

    >>> [stem_halvings((side, side, 1)) for side in (8, 16, 28, 32, 64, 224)]
    [0, 0, 1, 1, 2, 4]
    """
    if stem == "auto":
        side, halvings = min(input_shape[:2]), 0
        while side >= 24:
            side, halvings = (side + 1) // 2, halvings + 1
        return halvings
    if isinstance(stem, bool) or not isinstance(stem, int) or stem < 0:
        raise _common.invalid("stem", "'auto' or a non-negative integer", stem)
    side = min(input_shape[:2])
    for _ in range(stem):
        if side < 2:
            raise _common.invalid("stem", f"at most as many halvings as input_shape="
                                  f"{tuple(input_shape)} allows", stem)
        side = (side + 1) // 2
    return stem


def _halved(sides: Sequence[int], times: int) -> tuple[int, ...]:
    """Image sides after `times` halvings with "same" padding (odd sides round up)."""
    sides = tuple(sides)
    for _ in range(times):
        sides = tuple((side + 1) // 2 for side in sides)
    return sides


def _max_stages(input_shape: Sequence[int]) -> int:
    """How many stages an image takes before a side would have to halve from 1."""
    side, stages = min(input_shape[:2]), 1
    while side >= 2:
        side, stages = (side + 1) // 2, stages + 1
    return stages


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_cnn`.

    Tunes the number of stages (at most three, and no more than the image
    size allows), the base width (doubled at every stage), blocks per stage,
    residual connections, batch-norm placement and dropout; `fixed` (at
    least `input_shape` and `num_outputs`) passes through to the builder and
    is never tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(),
    ...                      input_shape=(8, 8, 1), num_outputs=10)
    """
    kwargs = dict(fixed)
    if "filters" not in kwargs:
        input_shape = _common.check_input_shape(
            kwargs.get("input_shape"), rank=3, what="(height, width, channels)"
        )
        after_stem = _halved(input_shape[:2],
                             stem_halvings(input_shape, kwargs.get("stem", "auto")))
        max_stages = min(3, _max_stages(after_stem))
        if max_stages > 1:
            num_stages = hp.Int("num_stages", 1, max_stages, default=min(2, max_stages))
        else:
            num_stages = hp.Fixed("num_stages", 1)
        base = hp.Choice("base_filters", [16, 32, 64], default=32)
        kwargs["filters"] = tuple(base * 2**stage for stage in range(num_stages))
    if "blocks_per_stage" not in kwargs:
        kwargs["blocks_per_stage"] = hp.Int("blocks_per_stage", 1, 2)
    if "residual" not in kwargs:
        kwargs["residual"] = hp.Boolean("residual")
    if "batch_norm" not in kwargs:
        placement = hp.Choice("batch_norm", ["before", "after", "none"])
        kwargs["batch_norm"] = None if placement == "none" else placement
    if "dropout_rate" not in kwargs:
        kwargs["dropout_rate"] = hp.Float("dropout_rate", 0.0, 0.5, step=0.1)
    return build_cnn(**kwargs)


register(
    "cnn",
    build_cnn,
    description=(
        "Convolutional classifier: stages of (residual) conv blocks, global pooling."
    ),
    example={"input_shape": (8, 8, 1), "num_outputs": 3, "filters": (4, 8)},
    input_kind="image",
    task="classification",
    search_space=search_space,
)
