"""Multilayer perceptron (MLP) for tables and flat features.

A stack of dense blocks, each with an optional batch normalization placed
before or after the activation, dropout, and an optional residual (skip)
connection. SELU networks get LeCun-normal initialisation and `AlphaDropout`
so that they stay self-normalising; with skip connections, each residual sum
of a SELU network is also scaled by `1 / sqrt(2)`, which keeps the
activations at unit variance (a plain sum doubles it at every block).

Reference:
    - Ioffe & Szegedy, 2015, "Batch Normalization".
    - Srivastava et al., 2014, "Dropout: A Simple Way to Prevent Neural
      Networks from Overfitting".
    - Klambauer et al., 2017, "Self-Normalizing Neural Networks".
    - He et al., 2016, "Deep Residual Learning for Image Recognition".
    - Hendrycks & Gimpel, 2016, "Gaussian Error Linear Units (GELUs)".
    - Misra, 2019, "Mish: A Self Regularized Non-Monotonic Activation".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from zoo import _common
from zoo._registry import register

OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", None)
# `x + f(x)` of two independent unit-variance terms has variance 2; this
# factor brings it back to 1 (SELU residual networks only, see `build_mlp`).
RESIDUAL_SCALE = 1 / math.sqrt(2)


def build_mlp(
    input_shape: int | Sequence[int],
    num_outputs: int,
    *,
    hidden_units: int | Sequence[int] = (256, 128),
    activation: str = "relu",
    dropout_rate: float = 0.0,
    batch_norm: str | None = None,
    residual: bool = False,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    l2: float = 0.0,
    output_activation: str | None = "softmax",
    name: str = "mlp",
) -> keras.Model:
    """Builds a multilayer perceptron.

    Args:
        input_shape: shape of one sample, e.g. `(64,)`. Inputs of higher
            rank are flattened first.
        num_outputs: number of output units: classes for softmax, labels
            for multi-label sigmoid, targets for regression.
        hidden_units: width of each hidden layer, e.g. `(256, 128)`.
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        dropout_rate: dropout after each hidden layer, in [0, 1).
            `AlphaDropout` when `activation="selu"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        residual: add a skip connection around each hidden block: the
            identity, or a linear projection (a bias-free `Dense` named
            `"block{i}_projection"`, with the same `kernel_initializer` and
            `l2` penalty as the hidden layers) where the width changes.
            With `activation="selu"` the sum is scaled by `1 / sqrt(2)`
            (a `Rescaling` layer named `"block{i}_scale"`): the block's
            output and its input each have unit variance, so their sum has
            variance 2, and without the scaling the variance doubles at
            every block (about 80 after 8 blocks of width 256) and the
            network is no longer self-normalising. Other activations keep
            the plain sum of ResNets (He et al. 2016), whose scale batch
            norm, when used, resets.
        kernel_initializer: initializer for the hidden layers and the
            residual projections; by default one that suits the activation
            (He normal for ReLU-like units, LeCun normal for SELU).
        l2: L2 weight penalty on the hidden and projection kernels (0 for
            none).
        output_activation: `"softmax"` (single-label classification),
            `"sigmoid"` (binary or multi-label, with binary cross-entropy),
            `"linear"` or `None` (regression).
        name: model name.

    Returns:
        An uncompiled functional `keras.Model`.

    Example:

    >>> from zoo import build_mlp
    >>> model = build_mlp((64,), 10, hidden_units=(128, 64), activation="gelu")
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.output.shape
    (None, 10)
    """
    input_shape = _common.check_input_shape(input_shape)
    num_outputs = _common.check_positive_int("num_outputs", num_outputs)
    hidden_units = _common.check_units("hidden_units", hidden_units, allow_empty=True)
    activation = _common.check_activation("activation", activation)
    dropout_rate = _common.check_rate("dropout_rate", dropout_rate)
    _common.check_choice("batch_norm", batch_norm, _common.BATCH_NORM_PLACEMENTS)
    _common.check_bool("residual", residual)
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
        raise _common.invalid("l2", "a non-negative float", l2)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)
    regularizer = keras.regularizers.L2(l2) if l2 else None

    inputs = keras.Input(shape=input_shape, name="features")
    x = inputs
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(hidden_units):
        block_name = f"block{index + 1}"
        shortcut = x
        x = _common.dense_block(
            x,
            units,
            activation=activation,
            batch_norm=batch_norm,
            dropout_rate=dropout_rate,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=regularizer,
            name=block_name,
        )
        if residual:
            if shortcut.shape[-1] != units:
                shortcut = layers.Dense(
                    units,
                    use_bias=False,
                    kernel_initializer=kernel_initializer,
                    kernel_regularizer=regularizer,
                    name=f"{block_name}_projection",
                )(shortcut)
            x = layers.Add(name=f"{block_name}_add")([shortcut, x])
            if activation == "selu":
                x = layers.Rescaling(RESIDUAL_SCALE, name=f"{block_name}_scale")(x)
    # float32 even under a mixed-precision policy: the softmax and the loss
    # need its range (Keras' mixed-precision guide).
    outputs = layers.Dense(
        num_outputs, activation=output_activation or "linear", dtype="float32",
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_mlp`.

    Tunes depth, width, activation, dropout, batch-norm placement and
    residual connections; `fixed` (at least `input_shape` and `num_outputs`)
    passes through to the builder and is never tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(),
    ...                      input_shape=(64,), num_outputs=10)
    """
    kwargs = dict(fixed)
    if "hidden_units" not in kwargs:
        depth = hp.Int("num_layers", 1, 3)
        width = hp.Int("units", 32, 512, sampling="log")
        kwargs["hidden_units"] = (width,) * depth
    if "activation" not in kwargs:
        kwargs["activation"] = hp.Choice("activation", ["relu", "gelu", "selu", "mish"])
    if "dropout_rate" not in kwargs:
        kwargs["dropout_rate"] = hp.Float("dropout_rate", 0.0, 0.5, step=0.1)
    if "batch_norm" not in kwargs:
        placement = hp.Choice("batch_norm", ["none", "before", "after"])
        kwargs["batch_norm"] = None if placement == "none" else placement
    if "residual" not in kwargs:
        kwargs["residual"] = hp.Boolean("residual")
    return build_mlp(**kwargs)


register(
    "mlp",
    build_mlp,
    description="Multilayer perceptron with batch norm, dropout and skip options.",
    example={"input_shape": (12,), "num_outputs": 3, "hidden_units": (16, 8)},
    input_kind="vector",
    task="classification",
    search_space=search_space,
)
