"""Autoencoders: dense, denoising and convolutional.

An autoencoder learns to reproduce its input through a narrow code: an
encoder maps a sample to a `latent_dim`-sized vector and a decoder maps that
vector back to the input space. Both halves are named sub-models,
`model.get_layer("encoder")` and `model.get_layer("decoder")`, usable on
their own: the encoder for features or dimensionality reduction, the decoder
to turn latent vectors into samples.

The denoising autoencoder corrupts its input during training only and learns
to reconstruct the clean sample, which forces it to capture the structure of
the data rather than copy it (Vincent et al. 2010). Three corruptions from
that paper are offered by the `Corruption` layer: additive Gaussian noise,
masking noise and salt-and-pepper noise.

Pick the output activation for the range of the data: `"sigmoid"` for data
scaled to [0, 1] (pair it with binary cross-entropy or MSE), `"tanh"` for
[-1, 1], `"linear"` for standardised data (pair it with MSE).

Reference:
    - Hinton & Salakhutdinov, 2006, "Reducing the Dimensionality of Data
      with Neural Networks", Science 313.
    - Vincent, Larochelle, Lajoie, Bengio & Manzagol, 2010, "Stacked
      Denoising Autoencoders: Learning Useful Representations in a Deep
      Network with a Local Denoising Criterion", JMLR 11.
    - Masci, Meier, Ciresan & Schmidhuber, 2011, "Stacked Convolutional
      Auto-Encoders for Hierarchical Feature Extraction", ICANN.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from zoo import _common
from zoo._registry import register

OUTPUT_ACTIVATIONS = ("sigmoid", "tanh", "linear", None)
NOISE_TYPES = ("gaussian", "masking", "salt_and_pepper")


# --------------------------------------------------------------------------
# Corruption layer
# --------------------------------------------------------------------------


def _check_noise_level(noise_type: str, noise_level: Any) -> float:
    """Gaussian: a positive standard deviation; otherwise a rate in [0, 1)."""
    if noise_type == "gaussian":
        return _common.check_positive_float("noise_level", noise_level)
    return _common.check_rate("noise_level", noise_level)


def _check_value_range(value_range: Any) -> tuple[float, float]:
    if (
        not isinstance(value_range, (list, tuple))
        or len(value_range) != 2
        or any(
            isinstance(v, bool)
            or not isinstance(v, numbers.Real)
            or not math.isfinite(v)
            for v in value_range
        )
        or not value_range[0] < value_range[1]
    ):
        raise _common.invalid(
            "value_range",
            "a pair of finite numbers (low, high) with low < high",
            value_range,
        )
    return float(value_range[0]), float(value_range[1])


@keras.saving.register_keras_serializable(package="zoo")
class Corruption(layers.Layer):
    """Corrupts its input during training; the identity at inference.

    The three corruption processes of Vincent et al. (2010), applied to each
    entry independently, so `noise_level` is the expected fraction of
    corrupted entries for masking and salt-and-pepper noise:

    - `"gaussian"`: adds `N(0, noise_level**2)` noise to every entry
      (`noise_level` is the standard deviation, > 0).
    - `"masking"`: sets each entry to 0 with probability `noise_level`.
    - `"salt_and_pepper"`: sets each entry, with probability `noise_level`,
      to the low or the high end of `value_range` by a fair coin flip.

    Args:
        noise_type: `"gaussian"`, `"masking"` or `"salt_and_pepper"`.
        noise_level: standard deviation for `"gaussian"` (> 0), else the
            corruption rate in [0, 1).
        value_range: `(low, high)`, the values salt-and-pepper noise writes;
            `(0.0, 1.0)` for data scaled to [0, 1].
        seed: `None` or an int, for reproducible noise.
        **kwargs: base `Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a tensor of any shape.
        training: corrupt only when `True`.

    Example:

    >>> layer = Corruption("masking", 0.3, seed=0)
    >>> noisy = layer(keras.ops.ones((2, 4)), training=True)

    Reference:
        - Vincent et al., 2010, "Stacked Denoising Autoencoders", JMLR 11,
          section 4.1.
    """

    def __init__(
        self,
        noise_type: str = "masking",
        noise_level: float = 0.25,
        value_range: Sequence[float] = (0.0, 1.0),
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.noise_type = _common.check_choice("noise_type", noise_type, NOISE_TYPES)
        self.noise_level = _check_noise_level(noise_type, noise_level)
        self.value_range = _check_value_range(value_range)
        self.seed = _common.check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True
        self._build_at_init()

    def call(self, inputs, training=None):
        if not training or self.noise_level == 0:
            return inputs
        shape = ops.shape(inputs)
        if self.noise_type == "gaussian":
            noise = keras.random.normal(
                shape,
                stddev=self.noise_level,
                dtype=self.compute_dtype,
                seed=self.seed_generator,
            )
            return inputs + noise
        draw = keras.random.uniform(
            shape, dtype=self.compute_dtype, seed=self.seed_generator
        )
        if self.noise_type == "masking":
            return ops.where(draw < self.noise_level, ops.zeros_like(inputs), inputs)
        # Salt and pepper: one uniform draw decides both whether an entry is
        # corrupted (draw < rate) and, by a fair coin, to which end it goes.
        low, high = self.value_range
        pepper = draw < self.noise_level / 2
        salt = ops.logical_and(draw >= self.noise_level / 2, draw < self.noise_level)
        outputs = ops.where(pepper, ops.full_like(inputs, low), inputs)
        return ops.where(salt, ops.full_like(inputs, high), outputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "noise_type": self.noise_type,
            "noise_level": self.noise_level,
            "value_range": list(self.value_range),
            "seed": self.seed,
        }


# --------------------------------------------------------------------------
# Private blocks (shared with zoo.vae)
# --------------------------------------------------------------------------


def _dense_stack(
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


def _conv_block(
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
    and a strided `Conv2DTranspose` multiplies it back.
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


def _check_strides_divide(
    input_shape: tuple[int, ...], strides: int, num_stages: int, filters_name: str
) -> int:
    """Raises unless `strides ** num_stages` divides the height and width."""
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


def _conv_encoder_trunk(
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
    for index, width in enumerate(filters):
        x = _conv_block(
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


def _conv_decoder_trunk(
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
    """Latent vector -> feature map -> transposed convs -> image."""
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
        x = _conv_block(
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


def _dense_decoder_output(
    x, input_shape: tuple[int, ...], output_activation: str | None
):
    """Dense layer to all features, reshaped back to `input_shape`."""
    x = layers.Dense(
        math.prod(input_shape),
        activation=output_activation or "linear",
        name="reconstruction",
    )(x)
    if len(input_shape) > 1:
        x = layers.Reshape(input_shape, name="reshape")(x)
    return x


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------


def _build_dense_autoencoder(
    input_shape,
    *,
    latent_dim,
    hidden_units,
    activation,
    batch_norm,
    dropout_rate,
    kernel_initializer,
    output_activation,
    corruption: Corruption | None,
    name: str,
) -> keras.Model:
    encoder_inputs = keras.Input(shape=input_shape, name="encoder_input")
    x = encoder_inputs
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    x = _dense_stack(
        x,
        hidden_units,
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        prefix="encoder",
    )
    latent = layers.Dense(latent_dim, name="latent")(x)
    encoder = keras.Model(encoder_inputs, latent, name="encoder")

    decoder_inputs = keras.Input(shape=(latent_dim,), name="decoder_input")
    x = _dense_stack(
        decoder_inputs,
        tuple(reversed(hidden_units)),
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        prefix="decoder",
    )
    reconstruction = _dense_decoder_output(x, input_shape, output_activation)
    decoder = keras.Model(decoder_inputs, reconstruction, name="decoder")

    inputs = keras.Input(shape=input_shape, name="features")
    x = corruption(inputs) if corruption is not None else inputs
    outputs = decoder(encoder(x))
    return keras.Model(inputs, outputs, name=name)


def _check_dense_arguments(
    input_shape, latent_dim, hidden_units, activation, batch_norm, dropout_rate,
    output_activation,
):
    input_shape = _common.check_input_shape(input_shape)
    latent_dim = _common.check_positive_int("latent_dim", latent_dim)
    hidden_units = _common.check_units("hidden_units", hidden_units, allow_empty=True)
    activation = _common.check_activation("activation", activation)
    _common.check_choice("batch_norm", batch_norm, _common.BATCH_NORM_PLACEMENTS)
    dropout_rate = _common.check_rate("dropout_rate", dropout_rate)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    return input_shape, latent_dim, hidden_units, activation, dropout_rate


def build_autoencoder(
    input_shape: int | Sequence[int],
    *,
    latent_dim: int = 32,
    hidden_units: int | Sequence[int] = (256, 128),
    activation: str = "relu",
    batch_norm: str | None = None,
    dropout_rate: float = 0.0,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    output_activation: str | None = "sigmoid",
    name: str = "autoencoder",
) -> keras.Model:
    """Builds a dense autoencoder.

    The encoder flattens the input, runs it through dense blocks of widths
    `hidden_units` and projects it linearly to `latent_dim` units; the
    decoder mirrors it (widths reversed) and reshapes back to `input_shape`,
    so the model's output has the shape of its input.

    Args:
        input_shape: shape of one sample, e.g. `(64,)` or `(8, 8, 1)`.
        latent_dim: size of the code.
        hidden_units: widths of the encoder's hidden layers, e.g.
            `(256, 128)`; the decoder uses them in reverse. `()` gives a
            linear autoencoder.
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        dropout_rate: dropout after each hidden layer, in [0, 1).
        kernel_initializer: initializer for the hidden layers; by default
            one that suits the activation.
        output_activation: `"sigmoid"` for data in [0, 1], `"tanh"` for
            [-1, 1], `"linear"` (or `None`) for standardised data.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` whose sub-models
        `get_layer("encoder")` (input -> code) and `get_layer("decoder")`
        (code -> reconstruction) work on their own.

    Example:

    >>> model = build_autoencoder((64,), latent_dim=8, hidden_units=(32,))
    >>> model.compile("adam", "binary_crossentropy")
    >>> codes = model.get_layer("encoder").predict(x)

    Reference:
        - Hinton & Salakhutdinov, 2006, "Reducing the Dimensionality of
          Data with Neural Networks".
    """
    input_shape, latent_dim, hidden_units, activation, dropout_rate = (
        _check_dense_arguments(
            input_shape, latent_dim, hidden_units, activation, batch_norm,
            dropout_rate, output_activation,
        )
    )
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)
    return _build_dense_autoencoder(
        input_shape,
        latent_dim=latent_dim,
        hidden_units=hidden_units,
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        output_activation=output_activation,
        corruption=None,
        name=name,
    )


def build_denoising_autoencoder(
    input_shape: int | Sequence[int],
    *,
    noise_type: str = "masking",
    noise_level: float = 0.25,
    seed: int | None = None,
    latent_dim: int = 32,
    hidden_units: int | Sequence[int] = (256, 128),
    activation: str = "relu",
    batch_norm: str | None = None,
    dropout_rate: float = 0.0,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    output_activation: str | None = "sigmoid",
    name: str = "denoising_autoencoder",
) -> keras.Model:
    """Builds a dense denoising autoencoder.

    The same network as `build_autoencoder`, with a `Corruption` layer
    (named `"corruption"`) between the input and the encoder. It corrupts
    only in training (`fit`), so `predict` and `evaluate` see clean inputs,
    and the encoder sub-model never corrupts. Train it with the clean data
    as the target: `model.fit(x, x)`.

    Args:
        input_shape: shape of one sample, e.g. `(64,)` or `(8, 8, 1)`.
        noise_type: `"gaussian"` (additive noise), `"masking"` (entries set
            to 0) or `"salt_and_pepper"` (entries set to 0 or 1 by a coin
            flip; for data scaled to [0, 1]).
        noise_level: for `"gaussian"`, the noise standard deviation (> 0);
            otherwise the fraction of corrupted entries, in [0, 1).
            Vincent et al. (2010) found 10-40% masking works well on images.
        seed: `None` or an int, for reproducible corruption.
        latent_dim: size of the code.
        hidden_units: widths of the encoder's hidden layers; the decoder
            uses them in reverse.
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        dropout_rate: dropout after each hidden layer, in [0, 1).
        kernel_initializer: initializer for the hidden layers; by default
            one that suits the activation.
        output_activation: `"sigmoid"` for data in [0, 1], `"tanh"` for
            [-1, 1], `"linear"` (or `None`) for standardised data.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` with sub-models
        `get_layer("encoder")` and `get_layer("decoder")`.

    Example:

    >>> model = build_denoising_autoencoder((64,), noise_type="gaussian",
    ...                                     noise_level=0.2, latent_dim=8)
    >>> model.compile("adam", "mse")
    >>> model.fit(x, x, epochs=10)

    Reference:
        - Vincent, Larochelle, Lajoie, Bengio & Manzagol, 2010, "Stacked
          Denoising Autoencoders: Learning Useful Representations in a Deep
          Network with a Local Denoising Criterion", JMLR 11.
    """
    input_shape, latent_dim, hidden_units, activation, dropout_rate = (
        _check_dense_arguments(
            input_shape, latent_dim, hidden_units, activation, batch_norm,
            dropout_rate, output_activation,
        )
    )
    _common.check_choice("noise_type", noise_type, NOISE_TYPES)
    noise_level = _check_noise_level(noise_type, noise_level)
    seed = _common.check_seed("seed", seed)
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)
    return _build_dense_autoencoder(
        input_shape,
        latent_dim=latent_dim,
        hidden_units=hidden_units,
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        output_activation=output_activation,
        corruption=Corruption(noise_type, noise_level, seed=seed, name="corruption"),
        name=name,
    )


def build_conv_autoencoder(
    input_shape: Sequence[int],
    *,
    latent_dim: int = 16,
    filters: int | Sequence[int] = (32, 64),
    kernel_size: int = 3,
    strides: int = 2,
    activation: str = "relu",
    batch_norm: str | None = None,
    dropout_rate: float = 0.0,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    output_activation: str | None = "sigmoid",
    name: str = "conv_autoencoder",
) -> keras.Model:
    """Builds a convolutional autoencoder for images.

    The encoder has one strided `Conv2D` stage per entry of `filters`, then
    a dense projection to `latent_dim`. The decoder projects the code back
    to the last feature map and mirrors the encoder with strided
    `Conv2DTranspose` stages, ending in a `Conv2D` to the input's channels.
    Each stage divides (encoder) or multiplies (decoder) the height and
    width by `strides`, so both must be divisible by
    `strides ** len(filters)`: 8x8 digits with two stride-2 stages, 28x28
    MNIST with two, 32x32 CIFAR with up to five.

    Args:
        input_shape: `(height, width, channels)`.
        latent_dim: size of the code.
        filters: channels of each encoder stage, e.g. `(32, 64)`; the
            decoder uses them in reverse.
        kernel_size: side of the square convolution kernels.
        strides: downsampling factor of each stage (1 for none).
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        dropout_rate: dropout after each stage, in [0, 1).
        kernel_initializer: initializer for the hidden layers; by default
            one that suits the activation.
        output_activation: `"sigmoid"` for pixels in [0, 1], `"tanh"` for
            [-1, 1], `"linear"` (or `None`) for standardised pixels.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model` with sub-models
        `get_layer("encoder")` and `get_layer("decoder")`.

    Example:

    >>> model = build_conv_autoencoder((28, 28, 1), latent_dim=16,
    ...                                filters=(32, 64))
    >>> model.compile("adam", "binary_crossentropy")

    Reference:
        - Masci, Meier, Ciresan & Schmidhuber, 2011, "Stacked Convolutional
          Auto-Encoders for Hierarchical Feature Extraction".
    """
    input_shape = _common.check_input_shape(
        input_shape, rank=3, what="(height, width, channels)"
    )
    latent_dim = _common.check_positive_int("latent_dim", latent_dim)
    filters = _common.check_units("filters", filters)
    kernel_size = _common.check_positive_int("kernel_size", kernel_size)
    strides = _common.check_positive_int("strides", strides)
    activation = _common.check_activation("activation", activation)
    _common.check_choice("batch_norm", batch_norm, _common.BATCH_NORM_PLACEMENTS)
    dropout_rate = _common.check_rate("dropout_rate", dropout_rate)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    _check_strides_divide(input_shape, strides, len(filters), "filters")
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)
    block_kwargs = dict(
        kernel_size=kernel_size,
        strides=strides,
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
    )

    encoder_inputs = keras.Input(shape=input_shape, name="encoder_input")
    x = _conv_encoder_trunk(encoder_inputs, filters, prefix="encoder", **block_kwargs)
    x = layers.Flatten(name="flatten")(x)
    latent = layers.Dense(latent_dim, name="latent")(x)
    encoder = keras.Model(encoder_inputs, latent, name="encoder")

    decoder_inputs = keras.Input(shape=(latent_dim,), name="decoder_input")
    reconstruction = _conv_decoder_trunk(
        decoder_inputs,
        input_shape,
        filters,
        output_activation=output_activation,
        prefix="decoder",
        **block_kwargs,
    )
    decoder = keras.Model(decoder_inputs, reconstruction, name="decoder")

    inputs = keras.Input(shape=input_shape, name="images")
    outputs = decoder(encoder(inputs))
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------
# Search spaces
# --------------------------------------------------------------------------


def _tune_dense(hp, kwargs: dict[str, Any]) -> None:
    """Latent size, tapering widths, activation, dropout, batch norm."""
    if "latent_dim" not in kwargs:
        kwargs["latent_dim"] = hp.Int("latent_dim", 2, 64, sampling="log")
    if "hidden_units" not in kwargs:
        depth = hp.Int("num_layers", 1, 3)
        width = hp.Int("units", 32, 512, sampling="log")
        kwargs["hidden_units"] = tuple(max(width // 2**i, 8) for i in range(depth))
    if "activation" not in kwargs:
        kwargs["activation"] = hp.Choice("activation", ["relu", "gelu", "selu", "mish"])
    if "dropout_rate" not in kwargs:
        kwargs["dropout_rate"] = hp.Float("dropout_rate", 0.0, 0.3, step=0.1)
    if "batch_norm" not in kwargs:
        placement = hp.Choice("batch_norm", ["none", "before", "after"])
        kwargs["batch_norm"] = None if placement == "none" else placement


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_autoencoder`.

    Tunes the latent size, depth and width (halving layer by layer),
    activation, dropout and batch norm; `fixed` (at least `input_shape`)
    passes through to the builder and is never tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(), input_shape=(64,))
    """
    kwargs = dict(fixed)
    _tune_dense(hp, kwargs)
    return build_autoencoder(**kwargs)


def denoising_search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_denoising_autoencoder`.

    Tunes what `search_space` tunes plus the corruption type and level
    (0.05 to 0.5: a standard deviation for Gaussian noise, a rate
    otherwise).
    """
    kwargs = dict(fixed)
    _tune_dense(hp, kwargs)
    if "noise_type" not in kwargs:
        kwargs["noise_type"] = hp.Choice("noise_type", list(NOISE_TYPES))
    if "noise_level" not in kwargs:
        kwargs["noise_level"] = hp.Float("noise_level", 0.05, 0.5, step=0.05)
    return build_denoising_autoencoder(**kwargs)


def _max_stages(side_gcd: int, strides: int, cap: int = 3) -> int:
    """How many stride-`strides` stages the image sides allow (at most `cap`)."""
    if strides == 1:
        return cap
    stages = 0
    while stages < cap and side_gcd % strides ** (stages + 1) == 0:
        stages += 1
    return stages


def conv_search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_conv_autoencoder`.

    Tunes the latent size, the number of stages (only as many as the image
    sides allow with the strides), the base width (doubling per stage),
    activation, dropout and batch norm. If the image sides are odd and
    `strides` is not fixed, the stages do not downsample (`strides=1`).
    """
    kwargs = dict(fixed)
    input_shape = _common.check_input_shape(
        kwargs.get("input_shape"), rank=3, what="(height, width, channels)"
    )
    if "strides" not in kwargs:
        side_gcd = math.gcd(input_shape[0], input_shape[1])
        kwargs["strides"] = 2 if side_gcd % 2 == 0 else 1
    if "latent_dim" not in kwargs:
        kwargs["latent_dim"] = hp.Int("latent_dim", 2, 64, sampling="log")
    if "filters" not in kwargs:
        strides = _common.check_positive_int("strides", kwargs["strides"])
        max_stages = _max_stages(math.gcd(input_shape[0], input_shape[1]), strides)
        if max_stages == 0:
            # No stage fits: let the builder name the problem.
            max_stages = 1
        num_stages = hp.Int("num_stages", 1, max_stages) if max_stages > 1 else 1
        base = hp.Int("filters", 16, 64, step=16)
        kwargs["filters"] = tuple(base * 2**i for i in range(num_stages))
    if "activation" not in kwargs:
        kwargs["activation"] = hp.Choice("activation", ["relu", "gelu", "swish"])
    if "dropout_rate" not in kwargs:
        kwargs["dropout_rate"] = hp.Float("dropout_rate", 0.0, 0.3, step=0.1)
    if "batch_norm" not in kwargs:
        placement = hp.Choice("batch_norm", ["none", "before", "after"])
        kwargs["batch_norm"] = None if placement == "none" else placement
    return build_conv_autoencoder(**kwargs)


register(
    "autoencoder",
    build_autoencoder,
    description="Dense autoencoder with encoder and decoder sub-models.",
    example={"input_shape": (16,), "latent_dim": 2, "hidden_units": (8,)},
    input_kind="vector",
    task="reconstruction",
    search_space=search_space,
)
register(
    "denoising_autoencoder",
    build_denoising_autoencoder,
    description="Dense autoencoder trained on corrupted inputs (Vincent et al. 2010).",
    example={
        "input_shape": (16,),
        "latent_dim": 2,
        "hidden_units": (8,),
        "noise_type": "masking",
        "noise_level": 0.2,
        "seed": 0,
    },
    input_kind="vector",
    task="reconstruction",
    search_space=denoising_search_space,
)
register(
    "conv_autoencoder",
    build_conv_autoencoder,
    description="Conv2D encoder, Conv2DTranspose decoder, for images.",
    example={"input_shape": (8, 8, 1), "latent_dim": 2, "filters": (4, 8)},
    input_kind="image",
    task="reconstruction",
    search_space=conv_search_space,
)
