"""A tutorial-style MLP on the digits: Dense 512-512, Adam, batch 32.

Trained with `fit`'s defaults and stopped as soon as the validation accuracy
reaches 0.97 (most tutorials pick the epoch count by hand; this stops at the
first good one). Run: python benchmarks/tutorials/mlp.py OUTPUT_FOLDER
"""

import keras
from _digits import StopAtAccuracy, finish, load

(x_train, y_train), (x_val, y_val), (x_test, y_test) = load()

model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(512, activation="relu"),
    keras.layers.Dense(512, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=100,
                    validation_data=(x_val, y_val), callbacks=[StopAtAccuracy(0.97)])
finish(model, history, (x_test, y_test))
