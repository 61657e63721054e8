"""`recipes.common.plots`: figures drawn without pyplot, with what they show."""

import numpy as np
import pandas as pd

from recipes.common import plots


def test_training_curves_one_panel_per_metric_with_validation():
    history = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                            "accuracy": [0.5, 0.8], "learning_rate": [0.1, 0.05]})
    figure = plots.training_curves(history)
    assert [axis.get_title() for axis in figure.axes] == ["loss", "accuracy"]
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["train", "validation"]


def test_confusion_matrix_counts():
    figure = plots.confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), ["a", "b"])
    counts = figure.axes[0].images[0].get_array()
    np.testing.assert_array_equal(counts, [[1, 1], [0, 2]])


def test_image_grid_rows_and_columns():
    figure = plots.image_grid({"in": np.zeros((3, 4, 4)), "out": np.ones((3, 4, 4, 1))},
                              columns=3)
    assert len(figure.axes) == 6
    assert sum(len(axis.images) for axis in figure.axes) == 6
