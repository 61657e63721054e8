"""keras-io's "Simple MNIST convnet" on PNG folders (one sub-folder per class).

The tutorial as published (keras-io, examples/vision/mnist_convnet.py):
conv 32 - pool - conv 64 - pool - flatten - dropout 0.5 - softmax, Adam,
batch 128, 15 epochs, 10% of the training images held out for validation;
only the loading differs: the PNG files are read with Pillow into the
arrays the tutorial takes from `keras.datasets.mnist`, in a seeded random
order as those are (`validation_split` holds out the last 10%: of files
read class by class, that would be the last class).

Run: python benchmarks/tutorials/mnist_convnet.py TRAIN_DIR TEST_DIR OUTPUT_FOLDER
(writes metrics.json: test accuracy and the seconds `fit` took).
"""

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
from PIL import Image


def load(folder):
    """Every image of `folder`'s class sub-folders, (N, 28, 28) uint8, labels."""
    classes = sorted(child.name for child in Path(folder).iterdir() if child.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((Path(folder) / name).iterdir()):
            images.append(np.asarray(Image.open(path).convert("L")))
            labels.append(label)
    return np.stack(images), np.asarray(labels)


train_dir, test_dir, output = sys.argv[1:4]
(x_train, y_train), (x_test, y_test) = load(train_dir), load(test_dir)
order = np.random.default_rng(0).permutation(len(x_train))
x_train, y_train = x_train[order], y_train[order]

# ## Prepare the data (as the tutorial)
num_classes = 10
input_shape = (28, 28, 1)
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

# ## Build the model
model = keras.Sequential([
    keras.Input(shape=input_shape),
    keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
    keras.layers.MaxPooling2D(pool_size=(2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(num_classes, activation="softmax"),
])

# ## Train the model
batch_size = 128
epochs = 15
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
start = time.perf_counter()
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
          verbose=0)
fit_seconds = time.perf_counter() - start

# ## Evaluate the trained model
score = model.evaluate(x_test, y_test, verbose=0)
Path(output).mkdir(parents=True, exist_ok=True)
(Path(output) / "metrics.json").write_text(json.dumps({
    "test_accuracy": float(score[1]), "fit_seconds": fit_seconds,
    "train_images": int(len(x_train) * 0.9), "epochs": epochs}))
