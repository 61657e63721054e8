"""The digits, split as the recipes split them (70/15/15, stratified, seed 0)."""

import json
import sys
from pathlib import Path

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


def output_folder() -> Path:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "tutorial_run")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_metrics(folder: Path, test_accuracy: float, epochs: int) -> None:
    (folder / "metrics.json").write_text(
        json.dumps({"test_accuracy": float(test_accuracy), "epochs_trained": epochs}))
