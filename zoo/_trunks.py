"""Encoder and decoder trunks shared by the autoencoder and VAE families.

`zoo.autoencoder` and `zoo.vae` build their encoders and decoders from the
same pieces: stacks of dense blocks, strided `Conv2D` stages that halve the
image sides (by `strides`), and a decoder that projects a latent vector back
to the last feature map and mirrors the encoder with `Conv2DTranspose`
stages. The layer names they produce (`{prefix}_block{i}_dense`,
`{prefix}_stage{i}_conv`, `"reconstruction"`, ...) are part of the saved
models' format: keep them stable.

Reference:
    - Masci, Meier, Ciresan & Schmidhuber, 2011, "Stacked Convolutional
      Auto-Encoders for Hierarchical Feature Extraction", ICANN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from keras import layers

from zoo import _common

# Output activations that suit a reconstruction: sigmoid for data in [0, 1],
# tanh for [-1, 1], linear (or None) for standardised data.
OUTPUT_ACTIVATIONS = ("sigmoid", "tanh", "linear", None)


def dense_stack(
    x,
    hidden_units: Sequence[int],
    *,
    activation: str,
    batch_norm: str | None,
    dropout_rate: float,
    kernel_initializer: Any,
    prefix: str,
):
    """Dense blocks of the given widths, named `{prefix}_block{i}_*`."""
    for index, units in enumerate(hidden_units):
        x = _common.dense_block(
            x,
            units,
            activation=activation,
            batch_norm=batch_norm,
            dropout_rate=dropout_rate,
            kernel_initializer=kernel_initializer,
            name=f"{prefix}_block{index + 1}",
        )
    return x


def conv_block(
    x,
    filters: int,
    *,
    kernel_size: int,
    strides: int,
    transpose: bool,
    activation: str,
    batch_norm: str | None,
    dropout_rate: float,
    kernel_initializer: Any,
    name: str,
):
    """(Transposed) convolution, optional BatchNorm, activation, dropout.

    With `padding="same"` a strided `Conv2D` divides each side by `strides`
    and a strided `Conv2DTranspose` multiplies it back. With batch norm
    before the activation the convolution drops its bias: BatchNorm's beta
    takes its place.
    """
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=batch_norm != "before",
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )(x)
    if batch_norm == "before":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = _common.activation_layer(activation, name=f"{name}_{activation}")(x)
    if batch_norm == "after":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout_rate > 0:
        x = _common.dropout_layer(activation, dropout_rate, name=f"{name}_dropout")(x)
    return x


def check_strides_divide(
    input_shape: tuple[int, ...], strides: int, num_stages: int, filters_name: str
) -> int:
    """Raises unless `strides ** num_stages` divides the height and width.

    Args:
        input_shape: `(height, width, channels)`.
        strides: the downsampling factor of each stage.
        num_stages: the number of strided stages.
        filters_name: the builder argument that sets the stages (for the
            error message), e.g. `"filters"` or `"conv_filters"`.

    Returns:
        The total stride, `strides ** num_stages`.
    """
    total = strides**num_stages
    height, width = input_shape[0], input_shape[1]
    if height % total or width % total:
        raise _common.invalid(
            "input_shape",
            f"height and width divisible by the total stride {total} "
            f"(strides={strides} in each of the {num_stages} stages of "
            f"`{filters_name}`); resize or pad the images, or use fewer "
            f"stages or smaller strides",
            input_shape,
        )
    return total


def conv_encoder_trunk(
    x,
    filters: Sequence[int],
    *,
    kernel_size: int,
    strides: int,
    activation: str,
    batch_norm: str | None,
    dropout_rate: float,
    kernel_initializer: Any,
    prefix: str,
):
    """Strided `Conv2D` stages, named `{prefix}_stage{i}_*`."""
    for index, width in enumerate(filters):
        x = conv_block(
            x,
            width,
            kernel_size=kernel_size,
            strides=strides,
            transpose=False,
            activation=activation,
            batch_norm=batch_norm,
            dropout_rate=dropout_rate,
            kernel_initializer=kernel_initializer,
            name=f"{prefix}_stage{index + 1}",
        )
    return x


def conv_decoder_trunk(
    z,
    input_shape: tuple[int, int, int],
    filters: Sequence[int],
    *,
    kernel_size: int,
    strides: int,
    activation: str,
    batch_norm: str | None,
    dropout_rate: float,
    kernel_initializer: Any,
    output_activation: str | None,
    prefix: str,
):
    """Latent vector -> feature map -> transposed convs -> image.

    The mirror of `conv_encoder_trunk` with the same `filters` (in reverse),
    ending in a `Conv2D` named `"reconstruction"` to the input's channels.
    """
    total = strides ** len(filters)
    height, width, channels = input_shape
    map_shape = (height // total, width // total, filters[-1])
    x = _common.dense_block(
        z,
        math.prod(map_shape),
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        name=f"{prefix}_projection",
    )
    x = layers.Reshape(map_shape, name=f"{prefix}_reshape")(x)
    for index, stage_filters in enumerate(reversed(filters)):
        x = conv_block(
            x,
            stage_filters,
            kernel_size=kernel_size,
            strides=strides,
            transpose=True,
            activation=activation,
            batch_norm=batch_norm,
            dropout_rate=dropout_rate,
            kernel_initializer=kernel_initializer,
            name=f"{prefix}_stage{index + 1}",
        )
    return layers.Conv2D(
        channels,
        kernel_size,
        padding="same",
        activation=output_activation or "linear",
        name="reconstruction",
    )(x)


def dense_decoder_output(x, input_shape: tuple[int, ...], output_activation: str | None):
    """Dense layer to all features (named `"reconstruction"`), reshaped back
    to `input_shape`."""
    x = layers.Dense(
        math.prod(input_shape),
        activation=output_activation or "linear",
        name="reconstruction",
    )(x)
    if len(input_shape) > 1:
        x = layers.Reshape(input_shape, name="reshape")(x)
    return x
