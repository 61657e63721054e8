"""Tests for zoo/flops.py: operations counted from the layers' shapes."""

import keras
import pytest

import zoo


def test_each_kind_of_layer_is_counted_by_hand():
    inputs = keras.Input((10, 8, 4))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same")(inputs)  # 5x4x6
    x = keras.layers.Conv2D(6, (1, 3), padding="same", groups=2)(x)  # grouped: 3 in per 6 out
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)  # 12 channels
    x = keras.layers.SeparableConv2D(5, 3, padding="valid")(x)  # 3x2x5
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.Reshape((6, 5))(x)
    x = keras.layers.Conv1D(7, 2)(x)  # 5 steps
    x = keras.layers.Dense(3)(x)  # per step
    model = keras.Model(inputs, x)
    expected = 2 * (5 * 4 * 6 * 9 * 4 + 5 * 4 * 6 * 3 * 3 + 5 * 4 * 12 * 9
                    + 3 * 2 * (12 * 9 + 12 * 5) + 5 * 7 * 2 * 5 + 5 * 3 * 7)
    assert zoo.count_flops(model) == expected


def test_nested_models_are_counted_through():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    assert zoo.count_flops(model) == 2 * (4 * 8 + 8 * 2)
    with pytest.raises(ValueError, match="argument `model`: expected a keras.Model"):
        zoo.count_flops(keras.layers.Dense(2))
