"""A tutorial-style LSTM on the digits read as 8 rows of 8 pixels.

LSTM(128) then softmax, Adam, batch 64 (the keras-io "LSTM on MNIST rows"
pattern), stopped as soon as the validation accuracy reaches 0.95.
Run: python benchmarks/tutorials/rnn.py OUTPUT_FOLDER
"""

import keras
from _digits import StopAtAccuracy, finish, load

(x_train, y_train), (x_val, y_val), (x_test, y_test) = load(shape=(8, 8))

model = keras.Sequential([
    keras.Input((8, 8)),
    keras.layers.LSTM(128),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=64, epochs=200,
                    validation_data=(x_val, y_val), callbacks=[StopAtAccuracy(0.95)])
finish(model, history, (x_test, y_test))
