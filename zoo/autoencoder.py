"""Autoencoders: dense, denoising and convolutional.

An autoencoder learns to reproduce its input through a narrow code: an
encoder maps a sample to a `latent_dim`-sized vector and a decoder maps that
vector back to the input space. Both halves are named sub-models,
`model.get_layer("encoder")` and `model.get_layer("decoder")`, usable on
their own: the encoder for features or dimensionality reduction, the decoder
to turn latent vectors into samples.

The denoising autoencoder corrupts its input during training only and learns
to reconstruct the clean sample, which forces it to capture the structure of
the data rather than copy it (Vincent et al. 2010). It offers the three
corruptions of that paper: additive Gaussian noise (Keras'
`keras.layers.GaussianNoise`), and masking and salt-and-pepper noise (the
`Corruption` layer, as Keras has neither; see its docstring).

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

from zoo import _common, _trunks
from zoo._registry import register
from zoo._trunks import OUTPUT_ACTIVATIONS

NOISE_TYPES = ("gaussian", "masking", "salt_and_pepper")


# --------------------------------------------------------------------------
# Corruption layer
# --------------------------------------------------------------------------


def _check_noise_level(noise_type: str, noise_level: Any) -> float:
    """Gaussian: a standard deviation in (0, 1]; otherwise a rate in [0, 1).

    `keras.layers.GaussianNoise` accepts standard deviations up to 1 only.
    """
    if noise_type == "gaussian":
        if (
            isinstance(noise_level, bool)
            or not isinstance(noise_level, numbers.Real)
            or not 0 < noise_level <= 1
        ):
            raise _common.invalid(
                "noise_level",
                "a standard deviation in (0, 1] for noise_type='gaussian'",
                noise_level,
            )
        return float(noise_level)
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
      (`noise_level` is the standard deviation, in (0, 1]). This is
      `keras.layers.GaussianNoise(noise_level, seed=seed)`, which the layer
      wraps (the same draws for the same seed);
      `build_denoising_autoencoder` uses `GaussianNoise` itself. The noise
      type stays here so that one layer corrupts data in all three ways and
      models saved with `Corruption("gaussian", ...)` still load.
    - `"masking"`: sets each entry to 0 with probability `noise_level`.
      Keras' `Dropout` is not the same: it also scales the entries it keeps
      by `1 / (1 - rate)`, so the corrupted input would not be on the scale
      of the clean one; Vincent et al. leave them unchanged.
    - `"salt_and_pepper"`: sets each entry, with probability `noise_level`,
      to the low or the high end of `value_range` by a fair coin flip.
      Keras has no such layer.

    Args:
        noise_type: `"gaussian"`, `"masking"` or `"salt_and_pepper"`.
        noise_level: standard deviation for `"gaussian"` (in (0, 1]), else
            the corruption rate in [0, 1).
        value_range: `(low, high)`, the values salt-and-pepper noise writes;
            `(0.0, 1.0)` for data scaled to [0, 1].
        seed: `None` or an int, for reproducible noise.
        **kwargs: base `Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a tensor of any shape.
        training: corrupt only when `True`.

    Example:

    >>> import keras
    >>> from zoo.autoencoder import Corruption
    >>> layer = Corruption("salt_and_pepper", 0.3, seed=0)
    >>> x = keras.ops.full((4, 100), 0.5)
    >>> noisy = keras.ops.convert_to_numpy(layer(x, training=True))
    >>> sorted(set(noisy.ravel().tolist()))  # pepper, clean, salt
    [0.0, 0.5, 1.0]
    >>> bool(keras.ops.all(layer(x) == x))  # the identity at inference
    True

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
        if self.noise_type == "gaussian":
            self.gaussian_noise = layers.GaussianNoise(
                self.noise_level, seed=self.seed, dtype=self.dtype_policy,
                name="gaussian_noise",
            )
        else:
            self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True
        self._build_at_init()

    def call(self, inputs, training=None):
        if not training or self.noise_level == 0:
            return inputs
        if self.noise_type == "gaussian":
            return self.gaussian_noise(inputs, training=True)
        draw = keras.random.uniform(
            ops.shape(inputs), dtype=self.compute_dtype, seed=self.seed_generator
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


def _corruption_layer(
    noise_type: str, noise_level: float, seed: int | None
) -> keras.layers.Layer:
    """`keras.layers.GaussianNoise` for Gaussian noise, else a `Corruption`."""
    if noise_type == "gaussian":
        return layers.GaussianNoise(noise_level, seed=seed, name="corruption")
    return Corruption(noise_type, noise_level, seed=seed, name="corruption")


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
    corruption: keras.layers.Layer | None,
    name: str,
) -> keras.Model:
    encoder_inputs = keras.Input(shape=input_shape, name="encoder_input")
    x = encoder_inputs
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    x = _trunks.dense_stack(
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
    x = _trunks.dense_stack(
        decoder_inputs,
        tuple(reversed(hidden_units)),
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
        prefix="decoder",
    )
    reconstruction = _trunks.dense_decoder_output(x, input_shape, output_activation)
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

    >>> import numpy as np
    >>> from zoo import build_autoencoder
    >>> x = np.random.default_rng(0).uniform(size=(64, 64)).astype("float32")
    >>> model = build_autoencoder((64,), latent_dim=8, hidden_units=(32,))
    >>> model.compile("adam", "binary_crossentropy")
    >>> history = model.fit(x, x, epochs=1, batch_size=32, verbose=0)
    >>> model.get_layer("encoder").predict(x, verbose=0).shape  # the codes
    (64, 8)
    >>> model.get_layer("decoder").output.shape
    (None, 64)

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

    The same network as `build_autoencoder`, with a corruption layer named
    `"corruption"` between the input and the encoder: Keras'
    `GaussianNoise` for `noise_type="gaussian"`, a `Corruption` layer for
    masking and salt-and-pepper noise (Keras has no layer for those; see
    `Corruption`). It corrupts only in training (`fit`), so `predict` and
    `evaluate` see clean inputs, and the encoder sub-model never corrupts.
    Train it with the clean data as the target: `model.fit(x, x)`.

    Args:
        input_shape: shape of one sample, e.g. `(64,)` or `(8, 8, 1)`.
        noise_type: `"gaussian"` (additive noise), `"masking"` (entries set
            to 0) or `"salt_and_pepper"` (entries set to 0 or 1 by a coin
            flip; for data scaled to [0, 1]).
        noise_level: for `"gaussian"`, the noise standard deviation, in
            (0, 1] (the range `GaussianNoise` takes); otherwise the fraction
            of corrupted entries, in [0, 1). Vincent et al. (2010) found
            10-40% masking works well on images.
        seed: `None` (draws from Keras' global seed, see
            `keras.utils.set_random_seed`) or an int: the corruption layer's
            own seed, so two models built with the same seed corrupt a batch
            the same way.
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

    >>> import numpy as np
    >>> from zoo import build_denoising_autoencoder
    >>> x = np.random.default_rng(0).uniform(size=(64, 64)).astype("float32")
    >>> model = build_denoising_autoencoder((64,), noise_type="gaussian", noise_level=0.2,
    ...                                     seed=0, latent_dim=8, hidden_units=(32,))
    >>> type(model.get_layer("corruption")).__name__
    'GaussianNoise'
    >>> model.compile("adam", "mse")
    >>> history = model.fit(x, x, epochs=1, batch_size=32, verbose=0)  # clean targets
    >>> model.predict(x, verbose=0).shape  # predict() does not corrupt
    (64, 64)

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
        corruption=_corruption_layer(noise_type, noise_level, seed),
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
    _trunks.check_strides_divide(input_shape, strides, len(filters), "filters")
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
    x = _trunks.conv_encoder_trunk(encoder_inputs, filters, prefix="encoder", **block_kwargs)
    x = layers.Flatten(name="flatten")(x)
    latent = layers.Dense(latent_dim, name="latent")(x)
    encoder = keras.Model(encoder_inputs, latent, name="encoder")

    decoder_inputs = keras.Input(shape=(latent_dim,), name="decoder_input")
    reconstruction = _trunks.conv_decoder_trunk(
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
