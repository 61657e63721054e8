"""A tutorial-style gMLP on the digits as 2x2 patches.

The keras-io "Image classification with modern MLP models" gMLP layer
(channel projections around a spatial gating unit), 4 blocks of width 64 on
16 patch tokens, AdamW (3e-3, weight decay 1e-4) as there, batch 64,
stopped as soon as the validation accuracy reaches 0.95.
Run: python benchmarks/tutorials/gmlp.py OUTPUT_FOLDER
"""

import keras
from _digits import StopAtAccuracy, finish, load
from keras import layers

(x_train, y_train), (x_val, y_val), (x_test, y_test) = load(shape=(8, 8, 1))
num_patches, embedding_dim, dropout_rate = 16, 64, 0.2


class gMLPLayer(layers.Layer):
    def __init__(self, num_patches, embedding_dim, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.channel_projection1 = keras.Sequential([
            layers.Dense(units=embedding_dim * 2, activation="gelu"),
            layers.Dropout(rate=dropout_rate),
        ])
        self.channel_projection2 = layers.Dense(units=embedding_dim)
        self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def spatial_gating_unit(self, x):
        u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
        v = self.normalize2(v)
        v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
        v_projected = self.spatial_projection(v_channels)
        v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
        return u * v_projected

    def call(self, inputs):
        x = self.normalize1(inputs)
        x_projected = self.channel_projection1(x)
        x_spatial = self.spatial_gating_unit(x_projected)
        x_projected = self.channel_projection2(x_spatial)
        return x + x_projected


inputs = keras.Input((8, 8, 1))
x = layers.Conv2D(embedding_dim, 2, strides=2)(inputs)  # 2x2 patches, embedded
x = layers.Reshape((num_patches, embedding_dim))(x)
for _ in range(4):
    x = gMLPLayer(num_patches, embedding_dim, dropout_rate)(x)
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dropout(rate=dropout_rate)(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-3, weight_decay=1e-4),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=64, epochs=200,
                    validation_data=(x_val, y_val), callbacks=[StopAtAccuracy(0.95)])
finish(model, history, (x_test, y_test))
