"""A model whose weight updates reveal the learning rate of every step.

A linear layer without bias sees one-hot inputs, one row per batch (batch
size 1), with a mean absolute error against a huge target: the gradient of
weight `i` is -1 at the step that sees row `i` and 0 otherwise, so plain SGD
adds exactly that step's learning rate to weight `i`. Reading the kernel at
every epoch's start and end gives the rate of every step, whatever
`steps_per_execution` is.
"""

import keras
import numpy as np


def probe_model(steps_per_epoch, *, steps_per_execution=1, learning_rate=0.5):
    model = keras.Sequential(
        [
            keras.Input((steps_per_epoch,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(
        keras.optimizers.SGD(learning_rate),
        loss="mae",
        steps_per_execution=steps_per_execution,
    )
    return model


def probe_data(steps_per_epoch):
    x = np.eye(steps_per_epoch, dtype="float32")
    y = np.full((steps_per_epoch, 1), 1e6, dtype="float32")
    return x, y


class StepRates(keras.callbacks.Callback):
    """Collects the learning rate each step used, in order, in `rates`."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def _kernel(self):
        return np.array(self.model.get_weights()[0][:, 0], dtype="float64")

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._kernel()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.extend(self._kernel() - self._start)


def fit_probe(model, epochs, callbacks, *, initial_epoch=0):
    """Fits the probe; returns (rates per step, history)."""
    steps_per_epoch = model.inputs[0].shape[-1]
    x, y = probe_data(steps_per_epoch)
    recorder = StepRates()
    history = model.fit(
        x,
        y,
        batch_size=1,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks) + [recorder],
    )
    return np.asarray(recorder.rates), history
