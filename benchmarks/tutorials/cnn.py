"""The keras-io "Simple MNIST convnet" on the 8x8 digits.

Conv 32 - pool - conv 64 - pool - dropout 0.5 - softmax, Adam, batch 128
(keras-io's settings; "same" padding, since 8x8 images are too small for
two valid 3x3 convolutions and poolings), stopped as soon as the validation
accuracy reaches 0.98. Run: python benchmarks/tutorials/cnn.py OUTPUT_FOLDER
"""

import keras
from _digits import StopAtAccuracy, finish, load

(x_train, y_train), (x_val, y_val), (x_test, y_test) = load(shape=(8, 8, 1))

model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=128, epochs=200,
                    validation_data=(x_val, y_val), callbacks=[StopAtAccuracy(0.98)])
finish(model, history, (x_test, y_test))
