"""Test-time evaluation the recipes share: classifiers' confusion matrices,
image classifiers' metrics and figures with test-time augmentation, and
reconstruction errors for the autoencoder and VAE recipes."""

from __future__ import annotations

import numpy as np

# Test-time augmentation: label-preserving for digits and photos (no flips: a
# mirrored 2 is not a 2), as fractions of the image size.
TTA_TRANSLATION = 0.1
TTA_ZOOM = 0.1


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


def classifier(model, data) -> tuple[np.ndarray, dict]:
    """A classifier's predicted classes on the test split, and its confusion matrix.

    Returns:
        `(predicted, figures)`: the class indices, and
        `{"confusion_matrix": figure}` for `Run.save`.
    """
    from recipes.common import plots

    predicted = np.argmax(predict(model, data.test_batches()), axis=-1)
    figure = plots.confusion_matrix(data.y_test, predicted, data.class_names)
    return predicted, {"confusion_matrix": figure}


def image_classifier(model, data, *, tta: int = 0, seed: int = 0) -> tuple[dict, dict]:
    """What an image classifier's test report adds to `model.evaluate`.

    With `tta`, `test_accuracy_tta`: the accuracy of the predictions
    averaged over `tta` augmented copies (`predict`). The figures: the
    confusion matrix and twenty test images titled true>predicted, mistakes
    (in red) first.

    Returns:
        `(metrics, figures)`, for `Run.save`.
    """
    from recipes.common import plots

    metrics = {}
    predicted, figures = classifier(model, data)
    if tta:
        averaged = predict(model, data.test_batches(), tta=tta, seed=seed)
        metrics["test_accuracy_tta"] = float(np.mean(averaged.argmax(-1) == data.y_test))
    shown = np.argsort(predicted == data.y_test, kind="stable")[:20]
    figures["test_predictions"] = plots.predictions_grid(
        data.test_images(shown), data.y_test[shown], predicted[shown], data.class_names)
    return metrics, figures


def tta_augmentation(seed: int = 0):
    """The label-preserving random transforms of test-time augmentation:
    shifts and zooms of up to 10% (`TTA_TRANSLATION`, `TTA_ZOOM`), no flips."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomTranslation(TTA_TRANSLATION, TTA_TRANSLATION, seed=seed),
            layers.RandomZoom(TTA_ZOOM, seed=seed + 1),
        ],
        name="tta",
    )


def step_by_step() -> list:
    """Callbacks for `evaluate` / `predict`: under JAX, one that waits for
    each batch's result.

    Keras under JAX dispatches the steps without waiting for them, so the
    `tf.data` pipeline keeps reading ahead and the waiting batches pile up
    in memory: evaluation's peak then grows with the number of test images
    (`python -m benchmarks.image_folder`). Waiting on each batch keeps it
    flat. Under TensorFlow: no callbacks.
    """
    import keras

    if keras.backend.backend() != "jax":
        return []

    class WaitEachBatch(keras.callbacks.Callback):
        def _wait(self, logs):
            for value in (logs or {}).values():
                getattr(value, "block_until_ready", lambda: None)()

        def on_test_batch_end(self, batch, logs=None):
            self._wait(logs)

        def on_predict_batch_end(self, batch, logs=None):
            self._wait(logs)

    return [WaitEachBatch()]


def predict(model, x, *, tta: int = 0, batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """`model`'s predictions on `x`, averaged over `tta` augmented copies too.

    With `tta=0` this is `model.predict`. With `tta=N`, each batch is also
    predicted `N` times under `tta_augmentation` (random shifts and zooms,
    seeded) and the `N + 1` probability vectors are averaged.

    Args:
        model: a trained classifier.
        x: an array of images, or batches of them (or of `(images, labels)`):
            a `tf.data.Dataset` or a `keras.utils.PyDataset` such as a
            dataset's `test_batches()`, in the model's input range.
        tta: augmented copies per image; 0 turns test-time augmentation off.
        batch_size: for an array `x`.
        seed: of the augmentations.
    """
    if tta < 0:
        raise ValueError("Invalid value for argument `tta`: expected a non-negative number of "
                         f"augmented copies. Received: tta={tta!r}")
    is_array = isinstance(x, np.ndarray)
    if not tta:
        return np.asarray(model.predict(x, batch_size=batch_size if is_array else None,
                                        verbose=0, callbacks=step_by_step()))
    augment = tta_augmentation(seed)
    if is_array:
        batches = (x[start:start + batch_size] for start in range(0, len(x), batch_size))
    elif hasattr(x, "element_spec"):  # a tf.data pipeline
        batches = x.as_numpy_iterator()
    else:  # a keras.utils.PyDataset
        batches = (x[index] for index in range(len(x)))
    outputs = []
    for batch in batches:
        batch = batch[0] if isinstance(batch, tuple) else batch
        total = np.asarray(model.predict_on_batch(batch), dtype="float64")
        for _ in range(tta):
            augmented = np.asarray(augment(batch, training=True))
            total += np.asarray(model.predict_on_batch(augmented))
        outputs.append(total / (tta + 1))
    return np.concatenate(outputs).astype("float32")
