"""Pretrained image backbones from `keras.applications`, for transfer learning.

`build(name, image_size=..., weights=...)` returns the network without its
ImageNet classifier (`include_top=False`, global average pooling), taking
raw RGB pixel values in [0, 255] with the input preprocessing it was trained
with inside: MobileNetV3 and EfficientNet carry theirs
(`include_preprocessing`), ResNet50V2's (`x / 127.5 - 1`) is a `Rescaling`
layer in front. So the model saved around it takes the same raw images as
`recipes.predict --images` reads.

`weights` is `"imagenet"` (downloaded once by Keras and cached in
`~/.keras/models`: the user's opt-in, never a default), the path of a local
weights file (`.weights.h5`, e.g. one saved with `save_weights` from the same
backbone; loads offline), or `None` for random initialisation.

`set_fine_tuning(backbone, layers)` unfreezes the top layers for the second
phase, BatchNormalization layers kept frozen (in inference mode: their
moving statistics stay those of the pretraining data).
"""

from __future__ import annotations

from pathlib import Path

# name -> (keras.applications class, its options; None: preprocess in front).
BACKBONES = {
    "mobilenet_v3_small": ("MobileNetV3Small", {"include_preprocessing": True}),
    "efficientnet_b0": ("EfficientNetB0", {}),  # always includes its preprocessing
    "resnet50_v2": ("ResNet50V2", None),
}
# The smallest input keras.applications builds these networks for.
MIN_IMAGE_SIZE = 32


def _invalid(name: str, expected: str, value) -> ValueError:
    return ValueError(
        f"Invalid value for argument `{name}`: expected {expected}. Received: {name}={value!r}"
    )


def check(name: str, *, image_size: tuple[int, int], weights: str | None) -> None:
    """Raises a `ValueError` for an unknown backbone, a too small image size or
    a weights file that does not exist, before anything is built."""
    if name not in BACKBONES:
        raise _invalid("backbone", f"one of {', '.join(BACKBONES)}", name)
    if min(image_size) < MIN_IMAGE_SIZE:
        raise _invalid("image_size", f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} for "
                       f"--backbone {name}", list(image_size))
    if weights not in ("imagenet", None):
        path = Path(weights)
        if not path.is_file() or not path.name.endswith((".weights.h5", ".h5", ".keras")):
            raise _invalid("weights", "'imagenet', 'none' or an existing weights file "
                           "(.weights.h5)", weights)


def build(name: str, *, image_size: tuple[int, int], weights: str | None = None):
    """The `keras.applications` backbone `name`, raw RGB pixels [0, 255] in.

    Args:
        name: a key of `BACKBONES`: `"mobilenet_v3_small"`,
            `"efficientnet_b0"` or `"resnet50_v2"`.
        image_size: `(height, width)` of its input, at least 32x32.
        weights: `"imagenet"`, a weights file's path, or `None` (random).

    Returns:
        A `keras.Model` named `"backbone"`: images in, pooled features out.

    Example:
        >>> backbone = build("mobilenet_v3_small", image_size=(32, 32))
        >>> backbone.output_shape
        (None, 576)
    """
    import keras
    from keras import layers

    check(name, image_size=image_size, weights=weights)
    class_name, options = BACKBONES[name]
    application = getattr(keras.applications, class_name)
    shape = (*image_size, 3)
    try:
        network = application(include_top=False, weights=weights, input_shape=shape,
                              pooling="avg", **(options or {}))
    except ValueError as error:  # e.g. a weights file of another network
        raise ValueError(
            f"Invalid value for argument `weights`: could not load {weights!r} into "
            f"{class_name} without its top ({str(error).splitlines()[0][:200]})"
        ) from None
    if options is not None:
        inputs, x = network.input, network.output
    else:  # ResNet V2's preprocessing: pixels to [-1, 1].
        inputs = keras.Input(shape=shape, name="pixels")
        x = network(layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs))
    return keras.Model(inputs, x, name="backbone")


def set_fine_tuning(backbone, layers: int | None) -> int:
    """Unfreezes the top `layers` layers of `backbone` (all if `None`).

    BatchNormalization layers stay frozen: a frozen one runs in inference
    mode in Keras 3, even inside `fit`, so its moving statistics are kept.
    Recompile the model afterwards (trainable flags changed).

    Returns:
        The number of weight-carrying layers now trainable.
    """
    from keras import layers as keras_layers

    def leaves(model):
        for layer in model.layers:
            if hasattr(layer, "layers"):
                yield from leaves(layer)
            else:
                yield layer

    all_layers = list(leaves(backbone))
    backbone.trainable = True
    chosen = all_layers if layers is None else all_layers[len(all_layers) - layers:]
    chosen_ids = {id(layer) for layer in chosen}
    count = 0
    for layer in all_layers:
        unfrozen = id(layer) in chosen_ids and not isinstance(
            layer, keras_layers.BatchNormalization
        )
        layer.trainable = unfrozen
        count += bool(unfrozen and layer.weights)
    return count
