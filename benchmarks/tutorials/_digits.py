"""The tutorials' shared parts: the digits, split as the recipes split them
(70/15/15, stratified, seed 0), the stop-at-target callback and the ending
(test accuracy, model saved, `metrics.json`)."""

import json
import sys
from pathlib import Path

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load(shape=(64,)):
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32").reshape((-1, *shape))
    y = digits.target
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=0.15, random_state=0, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.15 / 0.85, random_state=0, stratify=y_rest)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


class StopAtAccuracy(keras.callbacks.Callback):
    """Stops training at the first epoch whose validation accuracy reaches `target`."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if logs["val_accuracy"] >= self.target:
            self.model.stop_training = True


def finish(model, history, test):
    """Evaluates on `test`, saves the model and `metrics.json` in the folder given
    as the script's argument."""
    loss, accuracy = model.evaluate(*test)
    print("Test accuracy:", accuracy)
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "tutorial_run")
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps(
        {"test_accuracy": float(accuracy), "epochs_trained": len(history.history["loss"])}))
