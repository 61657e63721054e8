"""1-D convolutional networks for time series (sequence) classification.

"Same"-padded 1-D convolutions over `(steps, channels)` sequences, global
average pooling over time and a dense output, so one network takes any length:

- `build_fcn1d`: Wang, Yan & Oates' (2017) fully convolutional network:
  three conv + batch norm + ReLU blocks, 128-256-128 filters, kernels 8-5-3.
- `build_resnet1d`: their residual network: three blocks of three such
  convolutions (64-128-128 filters), the last without ReLU before the
  shortcut is added; the shortcut is a 1x1 conv + batch norm where the width
  changes, batch norm alone where not (as in the authors' code).
- `build_inception_time`: one InceptionTime network (Ismail Fawaz et al.
  2020): six Inception modules (1x1 bottleneck, parallel convolutions with
  kernels 40, 20, 10, a max-pooling branch), a shortcut every three modules.

Padding: with `mask_value` set, `keras.layers.Masking` comes first: it marks
the steps whose every channel equals `mask_value` (pad at the end), and Keras
passes the mask on from layer to layer. Keras' `Conv1D` and `MaxPooling1D`
drop masks (with a warning); `MaskedConv1D` and `MaskedMaxPooling1D` read a
padded step as "same" padding reads the steps past a sequence's end, and pass
the mask on. Batch norm leaves padded steps out of its training statistics,
global average pooling averages real steps only: padding changes nothing.

Reference:
    - Wang, Yan & Oates, 2017, "Time Series Classification from Scratch with
      Deep Neural Networks: A Strong Baseline".
    - Ismail Fawaz et al., 2019, "Deep Learning for Time Series Classification: a Review".
    - Ismail Fawaz et al., 2020, "InceptionTime: Finding AlexNet for Time Series Classification".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from zoo import _common
from zoo._registry import register

TASKS = ("classification", "regression")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", None)


class _KeepsSteps:
    """Passes the mask on, so it needs strides 1, "same" or "causal" padding."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kept = tuple(self.strides) == (1,) and self.padding in ("same", "causal")
        if not kept or self.data_format != "channels_last":
            raise ValueError(f"{type(self).__name__} needs strides=1, padding 'same' or 'causal' "
                             f"and channels last. Received: strides={self.strides}, "
                             f"padding={self.padding!r}, data_format={self.data_format!r}")
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return mask


@keras.saving.register_keras_serializable(package="zoo")
class MaskedConv1D(_KeepsSteps, layers.Conv1D):
    """A `Conv1D` that reads zeros at masked steps and passes the mask on.

    Zeros are what a "same" padded convolution reads past a sequence's end,
    so real steps' outputs do not depend on the padding. Takes `Conv1D`'s
    arguments, with `strides=1` and padding `"same"` or `"causal"`.
    """

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
            inputs = ops.where(keep, inputs, ops.zeros_like(inputs))
        return super().call(inputs)


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMaxPooling1D(_KeepsSteps, layers.MaxPooling1D):
    """A `MaxPooling1D` that ignores masked steps and passes the mask on.

    A masked step enters the windows with its channel's smallest value, so
    it never beats a real step (with `strides=1` and "same" padding, every
    window holds one). Masked output steps are zero.
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        floor = ops.min(inputs, axis=1, keepdims=True)
        outputs = super().call(ops.where(keep, inputs, floor))
        return ops.where(keep, outputs, ops.zeros_like(outputs))


# Keras' default momentum (0.99) averages the batch statistics over about 100
# steps; a UCR training set of 50 series at batch 16 gives 4 steps an epoch, so
# the moving averages an early-stopped model is evaluated with still lag its
# weights (test accuracy at chance after 50 epochs on GunPoint). 0.9 averages
# over about 10 steps, as PyTorch's default (momentum=0.1) does.
BATCH_NORM_MOMENTUM = 0.9


def _batch_norm(name: str) -> layers.Layer:
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def _conv(filters: int, kernel_size: int, *, masked: bool, name: str) -> layers.Layer:
    """A "same" convolution without bias (the batch norm after it has one)."""
    layer_class = MaskedConv1D if masked else layers.Conv1D
    return layer_class(filters, kernel_size, padding="same", use_bias=False,
                       kernel_initializer="he_normal", name=name)


def _conv_bn(x, filters: int, kernel_size: int, *, masked: bool, relu: bool, name: str):
    """Convolution, batch norm (masked steps left out of its statistics), ReLU."""
    x = _conv(filters, kernel_size, masked=masked, name=f"{name}_conv")(x)
    x = _batch_norm(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _residual_block(x, filters: int, kernel_sizes: tuple[int, ...], *, masked: bool, name: str):
    """Wang et al.'s residual block: conv-BN-ReLU x2, conv-BN, + shortcut, ReLU."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = _conv(filters, 1, masked=masked, name=f"{name}_projection")(shortcut)
    shortcut = _batch_norm(name=f"{name}_shortcut_bn")(shortcut)
    for index, kernel_size in enumerate(kernel_sizes):
        x = _conv_bn(x, filters, kernel_size, masked=masked, name=f"{name}_unit{index + 1}",
                     relu=index < len(kernel_sizes) - 1)  # none before the addition
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _inception_module(x, filters: int, kernel_sizes: tuple[int, ...],
                      bottleneck_filters: int | None, *, masked: bool, name: str):
    """Bottleneck, parallel convolutions and a max-pool branch, concatenated."""
    branch_input = x
    if bottleneck_filters and x.shape[-1] > 1:  # as in the paper's code
        branch_input = _conv(bottleneck_filters, 1, masked=masked, name=f"{name}_bottleneck")(x)
    branches = [
        _conv(filters, kernel_size, masked=masked, name=f"{name}_conv{index + 1}")(branch_input)
        for index, kernel_size in enumerate(kernel_sizes)
    ]
    pool_class = MaskedMaxPooling1D if masked else layers.MaxPooling1D
    pooled = pool_class(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branches.append(_conv(filters, 1, masked=masked, name=f"{name}_pool_conv")(pooled))
    x = layers.Concatenate(name=f"{name}_concat")(branches)
    x = _batch_norm(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _check_common(input_shape, num_outputs, mask_value, task, output_activation, name, default):
    """The arguments every builder here shares, checked; the derived activation."""
    input_shape = _common.check_sequence_shape(input_shape, what="(steps, channels)")
    num_outputs = _common.check_positive_int("num_outputs", num_outputs)
    mask_value = _common.check_mask_value("mask_value", mask_value)
    _common.check_choice("task", task, TASKS)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    name = default if name is None else name
    if not isinstance(name, str) or not name:
        raise _common.invalid("name", "a non-empty string", name)
    if output_activation is None:  # softmax, sigmoid for one output, linear for regression
        output_activation = "softmax" if num_outputs > 1 else "sigmoid"
        output_activation = "linear" if task == "regression" else output_activation
    return input_shape, num_outputs, mask_value, output_activation, name


def _inputs(input_shape, mask_value):
    """The input, and what the first layer reads: the input, or its `Masking`."""
    inputs = keras.Input(shape=input_shape, name="sequences")
    if mask_value is None:
        return inputs, inputs, False
    return inputs, layers.Masking(mask_value=mask_value, name="masking")(inputs), True


def _head(inputs, x, num_outputs: int, output_activation: str, name: str) -> keras.Model:
    x = layers.GlobalAveragePooling1D(name="global_avg_pool")(x)  # real steps: gets the mask
    # float32 even under a mixed-precision policy (Keras' mixed-precision guide).
    outputs = layers.Dense(num_outputs, activation=output_activation, dtype="float32",
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def build_fcn1d(
    input_shape: Sequence[int | None],
    num_outputs: int,
    *,
    filters: int | Sequence[int] = (128, 256, 128),
    kernel_sizes: int | Sequence[int] = (8, 5, 3),
    mask_value: float | None = None,
    task: str = "classification",
    output_activation: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds Wang et al.'s fully convolutional network (FCN) for sequences.

    Args:
        input_shape: shape of one sequence, `(steps, channels)`; `steps` may
            be `None` for sequences of varying length.
        num_outputs: classes for softmax, labels for sigmoid, targets for
            regression.
        filters: width of each block (conv, batch norm, ReLU).
        kernel_sizes: kernel size of each block's convolution, one per block.
        mask_value: `None`, or the value that pads sequences at the end
            (in every channel): padding then leaves predictions unchanged.
            A real step whose channels all equal it counts as padding too.
        task: `"classification"` or `"regression"`.
        output_activation: `"softmax"`, `"sigmoid"`, `"linear"`, or `None`:
            softmax (sigmoid for one output) in classification, else linear.
        name: model name; defaults to `"fcn1d"`.

    Returns:
        An uncompiled `keras.Model`: `"block1_conv"`, `"block1_bn"`, ...,
        `"global_avg_pool"`, `"predictions"`.

    Example:

    >>> model = build_fcn1d((None, 2), 3, filters=(8, 16, 8), mask_value=0.0)
    >>> tuple(model.get_layer("block2_conv").kernel.shape)
    (5, 8, 16)

    Reference:
        - Wang, Yan & Oates, 2017, "Time Series Classification from Scratch
          with Deep Neural Networks: A Strong Baseline".
    """
    input_shape, num_outputs, mask_value, output_activation, name = _check_common(
        input_shape, num_outputs, mask_value, task, output_activation, name, "fcn1d"
    )
    filters = _common.check_units("filters", filters)
    kernel_sizes = _common.check_units("kernel_sizes", kernel_sizes)
    if len(kernel_sizes) != len(filters):
        expected = f"one kernel size per block ({len(filters)}, as in filters={filters})"
        raise _common.invalid("kernel_sizes", expected, kernel_sizes)
    inputs, x, masked = _inputs(input_shape, mask_value)
    for index, (width, kernel_size) in enumerate(zip(filters, kernel_sizes)):
        x = _conv_bn(x, width, kernel_size, masked=masked, relu=True, name=f"block{index + 1}")
    return _head(inputs, x, num_outputs, output_activation, name)


def build_resnet1d(
    input_shape: Sequence[int | None],
    num_outputs: int,
    *,
    filters: int | Sequence[int] = (64, 128, 128),
    kernel_sizes: int | Sequence[int] = (8, 5, 3),
    mask_value: float | None = None,
    task: str = "classification",
    output_activation: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds Wang et al.'s residual network (ResNet) for sequences.

    Args:
        input_shape, num_outputs, mask_value, task, output_activation: as in
            `build_fcn1d`.
        filters: width of each residual block.
        kernel_sizes: kernel sizes of the convolutions inside every block.
        name: model name; defaults to `"resnet1d"`.

    Returns:
        An uncompiled `keras.Model`: `"block1_unit1_conv"`, ...,
        `"block1_projection"`, `"block1_shortcut_bn"`, `"block1_add"`, ...

    Example:

    >>> model = build_resnet1d((16, 1), 2, filters=(8, 8), kernel_sizes=(5, 3))
    >>> model.get_layer("block2_add").output.shape
    (None, 16, 8)

    Reference:
        - Wang, Yan & Oates, 2017, "Time Series Classification from Scratch
          with Deep Neural Networks: A Strong Baseline".
        - He et al., 2016, "Deep Residual Learning for Image Recognition".
    """
    input_shape, num_outputs, mask_value, output_activation, name = _check_common(
        input_shape, num_outputs, mask_value, task, output_activation, name, "resnet1d"
    )
    filters = _common.check_units("filters", filters)
    kernel_sizes = _common.check_units("kernel_sizes", kernel_sizes)
    inputs, x, masked = _inputs(input_shape, mask_value)
    for index, width in enumerate(filters):
        x = _residual_block(x, width, kernel_sizes, masked=masked, name=f"block{index + 1}")
    return _head(inputs, x, num_outputs, output_activation, name)


def build_inception_time(
    input_shape: Sequence[int | None],
    num_outputs: int,
    *,
    filters: int = 32,
    depth: int = 6,
    kernel_sizes: int | Sequence[int] = (40, 20, 10),
    bottleneck_filters: int | None = 32,
    residual: bool = True,
    mask_value: float | None = None,
    task: str = "classification",
    output_activation: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds one InceptionTime network (Ismail Fawaz et al. 2020).

    Args:
        input_shape, num_outputs, mask_value, task, output_activation: as in
            `build_fcn1d`.
        filters: filters of each branch; a module outputs `4 * filters`.
        depth: number of Inception modules.
        kernel_sizes: kernel sizes of the parallel convolutions.
        bottleneck_filters: width of the 1x1 bottleneck in front of them,
            used where the input has more than one channel; `None`: none.
        residual: add a shortcut (1x1 convolution, batch norm) around every
            three modules.
        name: model name; defaults to `"inception_time"`.

    Returns:
        An uncompiled `keras.Model`: `"module1_bottleneck"`, `"module1_conv1"`,
        ..., `"module1_pool"`, `"residual1_add"`, ..., `"predictions"`.

    Example:

    >>> model = build_inception_time((None, 3), 2, filters=4, depth=3,
    ...                              kernel_sizes=(9, 5), bottleneck_filters=4)
    >>> model.get_layer("module3_relu").output.shape
    (None, None, 12)

    Reference:
        - Ismail Fawaz et al., 2020, "InceptionTime: Finding AlexNet for
          Time Series Classification".
        - Szegedy et al., 2015, "Going Deeper with Convolutions".
    """
    input_shape, num_outputs, mask_value, output_activation, name = _check_common(
        input_shape, num_outputs, mask_value, task, output_activation, name, "inception_time"
    )
    filters = _common.check_positive_int("filters", filters)
    depth = _common.check_positive_int("depth", depth)
    kernel_sizes = _common.check_units("kernel_sizes", kernel_sizes)
    if bottleneck_filters is not None:
        bottleneck_filters = _common.check_positive_int("bottleneck_filters", bottleneck_filters)
    _common.check_bool("residual", residual)
    inputs, x, masked = _inputs(input_shape, mask_value)
    shortcut = x
    for index in range(depth):
        x = _inception_module(x, filters, kernel_sizes, bottleneck_filters,
                              masked=masked, name=f"module{index + 1}")
        if residual and index % 3 == 2:
            block = f"residual{index // 3 + 1}"
            shortcut = _conv(x.shape[-1], 1, masked=masked, name=f"{block}_conv")(shortcut)
            shortcut = _batch_norm(name=f"{block}_bn")(shortcut)
            x = layers.Add(name=f"{block}_add")([shortcut, x])
            x = shortcut = layers.Activation("relu", name=f"{block}_relu")(x)
    return _head(inputs, x, num_outputs, output_activation, name)


BUILDERS = {"fcn1d": build_fcn1d, "resnet1d": build_resnet1d,
            "inception_time": build_inception_time}
KERNEL_CHOICES = {"8-5-3": (8, 5, 3), "5-3-3": (5, 3, 3), "11-7-5": (11, 7, 5)}
_WANG_FILTERS = {"fcn1d": (128, 256, 128), "resnet1d": (64, 128, 128)}


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for the networks of this module.

    Tunes the architecture unless `fixed` names it (`architecture="fcn1d"`,
    ...); for Wang et al.'s, the paper's filters x0.25, x0.5 or x1 and the
    kernels (8-5-3, 5-3-3, 11-7-5); for InceptionTime, the filters (16, 32,
    64), depth (3, 6, 9) and longest kernel (20, 40, 80; then its half and
    quarter). The rest of `fixed` (at least `input_shape` and `num_outputs`)
    passes through to the builder and is never tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(), architecture="fcn1d",
    ...                      input_shape=(8, 1), num_outputs=2)
    """
    kwargs = dict(fixed)
    architecture = kwargs.pop("architecture", None)
    if architecture is None:
        architecture = hp.Choice("architecture", list(BUILDERS))
    _common.check_choice("architecture", architecture, tuple(BUILDERS))
    if architecture == "inception_time":
        if "filters" not in kwargs:
            kwargs["filters"] = hp.Choice("filters", [16, 32, 64], default=32)
        if "depth" not in kwargs:
            kwargs["depth"] = hp.Int("depth", 3, 9, step=3, default=6)
        if "kernel_sizes" not in kwargs:
            longest = hp.Choice("kernel_size", [20, 40, 80], default=40)
            kwargs["kernel_sizes"] = (longest, longest // 2, longest // 4)
    else:
        if "filters" not in kwargs:
            scale = hp.Choice("filter_scale", [0.25, 0.5, 1.0], default=1.0)
            kwargs["filters"] = tuple(round(width * scale) for width in _WANG_FILTERS[architecture])
        if "kernel_sizes" not in kwargs:
            kwargs["kernel_sizes"] = KERNEL_CHOICES[hp.Choice("kernel_sizes", list(KERNEL_CHOICES))]
    return BUILDERS[architecture](**kwargs)


for _name, _description, _example in (
    ("fcn1d", "Fully convolutional network for time series (Wang et al. 2017).",
     {"filters": (4, 8, 4)}),
    ("resnet1d", "Residual network for time series (Wang et al. 2017).", {"filters": (4, 4)}),
    ("inception_time", "InceptionTime network for time series (Ismail Fawaz et al. 2020).",
     {"filters": 4, "depth": 3, "kernel_sizes": (8, 4, 2), "bottleneck_filters": 4}),
):
    register(_name, BUILDERS[_name], description=_description,
             example={"input_shape": (16, 2), "num_outputs": 3, **_example},
             input_kind="sequence", task="classification",
             search_space=functools.partial(search_space, architecture=_name))

del _name, _description, _example
