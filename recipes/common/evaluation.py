"""Test-time evaluation the recipes share: image classifiers' metrics and
figures, and reconstruction errors for the autoencoder and VAE recipes."""

from __future__ import annotations

import numpy as np


def pixel_errors(x_true, x_pred, *, bce: bool = True) -> dict[str, float]:
    """Mean squared error and binary cross-entropy per pixel (or feature).

    Binary cross-entropy only where asked (for values in [0, 1]); it does not
    reach 0 for grey pixels, so it compares models, while MSE reads alone.
    """
    x_true = np.asarray(x_true, dtype="float64")
    x_pred = np.asarray(x_pred, dtype="float64")
    errors = {"mse": float(np.mean(np.square(x_true - x_pred)))}
    if bce:
        p = np.clip(x_pred, 1e-7, 1 - 1e-7)
        errors["bce"] = float(-np.mean(x_true * np.log(p) + (1 - x_true) * np.log(1 - p)))
    return errors


def feature_errors(x_true, x_pred, names, *, top: int = 20) -> dict[str, float]:
    """Test MSE of each feature, the `top` worst first (for a bar chart)."""
    per_feature = np.mean(np.square(np.asarray(x_true) - np.asarray(x_pred)), axis=0)
    names = list(names)
    if len(names) != len(per_feature):  # one-hot encoded text columns: no names
        names = [f"feature {i}" for i in range(len(per_feature))]
    order = np.argsort(per_feature)[::-1][:top]
    return {str(names[i]): float(per_feature[i]) for i in order}


def image_classifier(model, data, *, tta: int = 0, seed: int = 0) -> tuple[dict, dict]:
    """Test metrics and figures of an image classifier (cnn, gmlp, transfer).

    `model.evaluate` on the test split (arrays or a streamed image folder),
    as `test_<metric>`; with `tta`, also `test_accuracy_tta`, the accuracy
    of the predictions averaged over `tta` augmented copies
    (`images.predict`). The figures: the confusion matrix and twenty test
    images titled true>predicted, mistakes (in red) first.

    Returns:
        `(metrics, figures)`, for `cli.save_artifacts`.
    """
    from recipes.common import datasets, images, plots

    test = datasets.evaluation_inputs(data)
    streamed = isinstance(data, images.ImageFolder)  # then flat memory under JAX too
    results = model.evaluate(**test, return_dict=True, verbose=0,
                             callbacks=images.step_by_step() if streamed else None)
    metrics = {f"test_{name}": value for name, value in results.items()}
    predicted = np.argmax(
        images.predict(model, test["x"], batch_size=datasets.EVALUATION_BATCH_SIZE), axis=-1)
    if tta:
        averaged = images.predict(model, test["x"], tta=tta, seed=seed)
        metrics["test_accuracy_tta"] = float(np.mean(averaged.argmax(-1) == data.y_test))
    shown = np.argsort(predicted == data.y_test, kind="stable")[:20]
    figures = {
        "confusion_matrix": plots.confusion_matrix(data.y_test, predicted, data.class_names),
        "test_predictions": plots.predictions_grid(
            datasets.evaluation_images(data, shown), data.y_test[shown], predicted[shown],
            data.class_names,
        ),
    }
    return metrics, figures
