"""What a model costs per sample: floating-point operations of a forward pass.

`count_flops(model)` counts, from the layers' input and output shapes, the
multiply-adds of the layers that dominate a network's cost: `Dense`,
`Conv1D`/`Conv2D`/`Conv3D` (grouped too), `DepthwiseConv1D`/`2D` and
`SeparableConv1D`/`2D`, at 2 operations per multiply-add. Activations,
normalisation, pooling and additions are a few operations per value and
are left out, as papers' FLOP counts leave them out. Nested models (e.g. the
cnn's `"features"`) are counted through. Training costs about 3 times the
forward pass (the backward pass computes two products per forward one).
"""

from __future__ import annotations

import math

import keras


def _spatial(shape) -> int:
    """Positions of one sample: every dimension but the batch and the channels."""
    return math.prod(int(side) for side in shape[1:-1])


def _layer_flops(layer) -> int:
    if isinstance(layer, keras.Model):
        return sum(_layer_flops(inner) for inner in layer.layers)
    if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                              keras.layers.Conv3D, keras.layers.DepthwiseConv1D,
                              keras.layers.DepthwiseConv2D, keras.layers.SeparableConv1D,
                              keras.layers.SeparableConv2D)):
        return 0
    try:
        inputs, outputs = layer.input.shape, layer.output.shape
    except (AttributeError, ValueError):  # never called, or called on several inputs
        return 0
    channels_in, channels_out = int(inputs[-1]), int(outputs[-1])
    if isinstance(layer, keras.layers.Dense):
        return 2 * _spatial(outputs) * channels_in * channels_out
    window = math.prod(layer.kernel_size)
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        return 2 * _spatial(outputs) * channels_out * window
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        depthwise = channels_in * layer.depth_multiplier
        return 2 * _spatial(outputs) * (depthwise * window + depthwise * channels_out)
    return 2 * _spatial(outputs) * channels_out * window * channels_in // layer.groups


def count_flops(model: keras.Model) -> int:
    """Floating-point operations of one sample's forward pass (see module).

    Args:
        model: a built functional or sequential Keras model.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)),
    ...                           keras.layers.Conv2D(4, 3, padding="same"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> count_flops(model)  # 2 x (8*8*4*3*3*1 + 256*10)
    9728
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Invalid value for argument `model`: expected a keras.Model. "
                         f"Received: model={model!r}")
    return _layer_flops(model)
