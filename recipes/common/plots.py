"""Plots the recipes leave behind (matplotlib, no display needed).

Figures are `matplotlib.figure.Figure` objects made without pyplot, as
matplotlib advises for programs that only save figures: no GUI backend, no
global figure list to close, and pyplot's import is spared.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def subplots(rows: int = 1, columns: int = 1, *, figsize, squeeze: bool = True):
    """`matplotlib.pyplot.subplots` without pyplot: `(figure, axes)`."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=squeeze)


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
    figure, axes = subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
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
    """Rows of small images in [0, 1] (grey or RGB), one labelled row per entry of `rows`."""
    figure, axes = subplots(
        len(rows), columns, figsize=(columns * 0.9, len(rows) * 1.0), squeeze=False
    )
    for row, (label, images) in zip(axes, rows.items()):
        for column, axis in enumerate(row):
            axis.axis("off")
            if column < len(images):
                image = np.clip(np.asarray(images[column], dtype="float32"), 0, 1)
                if image.ndim == 3 and image.shape[-1] == 1:
                    image = image[..., 0]
                axis.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=0, vmax=1)
        row[0].set_title(label, loc="left", fontsize=9)
    figure.tight_layout()
    return figure


def confusion_matrix(y_true, y_pred, class_names):
    """A confusion matrix heat map with counts."""
    size = len(class_names)
    counts = np.zeros((size, size), dtype=int)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    figure, axis = subplots(figsize=(0.5 * size + 2.5, 0.5 * size + 2))
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


def predictions_grid(images, y_true, y_pred, class_names, *, columns: int = 10):
    """Images titled "true>predicted", wrong predictions in red (grey or RGB images)."""
    count = len(images)
    rows = max(1, -(-count // columns))
    figure, axes = subplots(rows, columns, figsize=(columns * 0.9, rows * 1.1), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = np.clip(np.asarray(images[index], dtype="float32"), 0, 1)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        axis.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=0, vmax=1)
        true, predicted = class_names[y_true[index]], class_names[y_pred[index]]
        color = "black" if y_true[index] == y_pred[index] else "red"
        axis.set_title(f"{true}>{predicted}", fontsize=8, color=color)
    figure.tight_layout()
    return figure


def forecast(x, actual, predictions: dict, *, xlabel: str = "time", ylabel: str = "value"):
    """A series against one or more forecasts of it (e.g. model and naive baseline)."""
    figure, axis = subplots(figsize=(8, 3.5))
    axis.plot(x, actual, color="black", marker=".", label="actual")
    for label, values in predictions.items():
        axis.plot(x, values, marker=".", label=label)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


def embedding_scatter(vectors, labels, class_names, *, title: str = "embedding"):
    """Points coloured by class: the vectors themselves when 2-D, else their
    first two principal components (scikit-learn's PCA)."""
    vectors = np.asarray(vectors, dtype="float32")
    labels = np.asarray(labels)
    if vectors.shape[1] > 2:
        from sklearn.decomposition import PCA

        vectors = PCA(n_components=2).fit_transform(vectors)
        title = f"{title} (PCA projection)"
    figure, axis = subplots(figsize=(6, 5))
    colors = matplotlib.colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    for index, name in enumerate(class_names):
        points = vectors[labels == index]
        axis.scatter(points[:, 0], points[:, 1], s=10, alpha=0.7, color=colors(index % colors.N),
                     label=str(name))
    axis.set_title(title)
    axis.legend(markerscale=2, fontsize=8, loc="best", ncol=2 if len(class_names) > 10 else 1)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def distance_histograms(distances, labels, *, threshold: float | None = None):
    """Histograms of pair distances, same-class (label 1) against different-class
    (label 0) pairs, with the decision threshold as a vertical line."""
    distances = np.ravel(distances)
    labels = np.ravel(labels)
    figure, axis = subplots(figsize=(6, 3.5))
    bins = np.linspace(distances.min(), distances.max(), 40)
    axis.hist(distances[labels == 1], bins=bins, alpha=0.6, label="same class")
    axis.hist(distances[labels == 0], bins=bins, alpha=0.6, label="different classes")
    if threshold is not None:
        axis.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    axis.set_xlabel("distance")
    axis.set_ylabel("pairs")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def bar_chart(values: dict, *, ylabel: str, title: str | None = None):
    """One labelled bar per entry of `values`, its value printed on top."""
    figure, axis = subplots(figsize=(1.6 * len(values) + 2, 3.5))
    bars = axis.bar(list(values), list(values.values()), color=matplotlib.colormaps["tab10"].colors)
    axis.bar_label(bars, fmt="%.3f")
    axis.set_ylabel(ylabel)
    axis.set_ylim(0, max(1.0, max(values.values()) * 1.1))
    if title:
        axis.set_title(title)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def learning_rate_and_metric(
    rate_epochs, rates, epochs, values, *, metric: str, restarts=(), log_rate: bool = False
):
    """A learning-rate schedule (left axis) and a metric per epoch (right axis)
    against epochs, with restarts as dotted vertical lines.

    Args:
        rate_epochs, rates: the schedule, e.g. one point per training step at
            fractional epochs.
        epochs, values: the metric at the end of each epoch (epoch 1 ends at 1).
        metric: the metric's label.
        restarts: epochs at whose end the rate jumps back up.
    """
    figure, axis = subplots(figsize=(8, 4))
    axis.plot(rate_epochs, rates, color="C0", lw=1.2, label="learning rate")
    axis.set_xlabel("epoch")
    axis.set_ylabel("learning rate", color="C0")
    if log_rate:
        axis.set_yscale("log")
    for index, epoch in enumerate(restarts):
        axis.axvline(epoch, color="0.5", ls=":", lw=1, label="restart" if index == 0 else None)
    other = axis.twinx()
    other.plot(epochs, values, color="C1", marker=".", label=metric)
    other.set_ylabel(metric, color="C1")
    lines = axis.get_legend_handles_labels()
    more = other.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], loc="center right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def ensemble_curve(table, single: float, *, metric: str = "accuracy"):
    """A metric of the ensemble of the last k snapshots against k, with the
    single final model as a dashed horizontal line.

    Args:
        table: a DataFrame with `num_snapshots` and `metric` columns.
        single: the single final model's value of `metric`.
    """
    figure, axis = subplots(figsize=(6, 3.5))
    axis.plot(table["num_snapshots"], table[metric], marker="o", label="ensemble of last k")
    axis.axhline(single, color="0.4", ls="--", label=f"single final model ({single:.4f})")
    for k, value in zip(table["num_snapshots"], table[metric]):
        axis.annotate(f"{value:.4f}", (k, value), textcoords="offset points", xytext=(0, 6),
                      ha="center", fontsize=8)
    axis.set_xticks(list(table["num_snapshots"]))
    axis.margins(y=0.2)
    axis.set_xlabel("k (snapshots averaged)")
    axis.set_ylabel(f"test {metric}")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure
