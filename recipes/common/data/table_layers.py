"""The layers that fill a raw table's gaps inside `inference.keras`.

`recipes.common.tables.inference_model` puts them in front of the fitted
`FeatureSpace`, so the saved model reads raw columns, gaps included, as
`recipes.predict` prepares them with pandas: a numeric gap becomes the
training median plus an `<column>_is_missing` indicator, an integer-category
gap its own category, an empty text its own category. Keras has no layer
that fills NaN values, hence these. Import this module before
`keras.saving.load_model("runs/mlp/inference.keras")` so Keras knows them.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="recipes")
class FillMissing(keras.layers.Layer):
    """Replaces NaN (numbers) or `""` (text) with `value`.

    Args:
        value: the fill: the training median, a category code or a text.
        integral: integer categories: a value with a fraction becomes
            `unseen`, the rest are cast to the layer's output dtype.
        unseen: the code of a non-integer value in an integer category.
    """

    def __init__(self, value, integral: bool = False, unseen: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.value = value
        self.integral = integral
        self.unseen = unseen

    def call(self, inputs):
        if isinstance(self.value, str):  # text columns: TensorFlow's string tensors
            import tensorflow as tf

            return tf.where(tf.equal(inputs, ""), tf.constant(self.value), inputs)
        inputs = ops.cast(inputs, "float32")
        filled = ops.where(ops.isnan(inputs), float(self.value), inputs)
        if self.integral:
            filled = ops.where(ops.floor(filled) == filled, filled, float(self.unseen))
        return ops.cast(filled, self.compute_dtype if not self.integral else "int32")

    def compute_output_spec(self, inputs):
        dtype = inputs.dtype if isinstance(self.value, str) else (
            "int32" if self.integral else "float32"
        )
        return keras.KerasTensor(inputs.shape, dtype=dtype)

    def get_config(self):
        return {**super().get_config(), "value": self.value, "integral": self.integral,
                "unseen": self.unseen}


@keras.saving.register_keras_serializable(package="recipes")
class MissingIndicator(keras.layers.Layer):
    """1.0 where the input is NaN, else 0.0 (fastai's `FillMissing` indicator)."""

    def call(self, inputs):
        return ops.cast(ops.isnan(ops.cast(inputs, "float32")), "float32")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")
