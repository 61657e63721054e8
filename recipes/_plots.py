"""Plots the recipes leave behind (matplotlib, no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def training_curves(history):
    """Loss and every metric against epochs, training and validation together.

    Args:
        history: a DataFrame with an `epoch` column and Keras' log keys.
    """
    names = [
        key
        for key in history.columns
        if key not in ("epoch", "learning_rate") and not key.startswith("val_")
    ]
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        axis.plot(history["epoch"], history[name], marker=".", label="train")
        if f"val_{name}" in history:
            axis.plot(history["epoch"], history[f"val_{name}"], marker=".", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def image_grid(rows: dict[str, np.ndarray], *, columns: int = 10):
    """Rows of small grey images, one labelled row per entry of `rows`."""
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(columns * 0.9, len(rows) * 1.0), squeeze=False
    )
    for row, (label, images) in zip(axes, rows.items()):
        for column, axis in enumerate(row):
            axis.axis("off")
            if column < len(images):
                image = np.asarray(images[column])
                axis.imshow(image.reshape(image.shape[:2]), cmap="gray_r", vmin=0, vmax=1)
        row[0].set_title(label, loc="left", fontsize=9)
    figure.tight_layout()
    return figure


def confusion_matrix(y_true, y_pred, class_names):
    """A confusion matrix heat map with counts."""
    size = len(class_names)
    counts = np.zeros((size, size), dtype=int)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    figure, axis = plt.subplots(figsize=(0.5 * size + 2.5, 0.5 * size + 2))
    axis.imshow(counts, cmap="Blues")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            axis.text(j, i, str(count), ha="center", va="center", fontsize=8)
    axis.set_xticks(range(size), class_names, rotation=90 if size > 10 else 0)
    axis.set_yticks(range(size), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.tight_layout()
    return figure
