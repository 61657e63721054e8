"""`recipes.common.evaluation`: reconstruction errors, classifier reports, TTA."""

import keras
import numpy as np
import pytest

from recipes.common import evaluation
from recipes.common.data import load_dataset


def test_pixel_errors():
    errors = evaluation.pixel_errors(np.array([[0.0, 1.0]]), np.array([[0.0, 0.5]]))
    assert errors["mse"] == pytest.approx(0.125)
    assert errors["bce"] == pytest.approx(-np.log(0.5) / 2, rel=1e-5)
    assert "bce" not in evaluation.pixel_errors([[2.0]], [[1.0]], bce=False)


def test_feature_errors_worst_first_and_named():
    x = np.zeros((4, 3))
    predicted = np.array([[0.0, 2.0, 1.0]] * 4)
    assert list(evaluation.feature_errors(x, predicted, ["a", "b", "c"], top=2)) == ["b", "c"]
    assert list(evaluation.feature_errors(x, predicted, ["a"])) == [
        "feature 1", "feature 2", "feature 0"]


def digit_classifier():
    data = load_dataset("digits", view="image").subsample(64, 40)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    return model, data


def test_classifier_predicts_the_test_split_in_order():
    model, data = digit_classifier()
    predicted, figures = evaluation.classifier(model, data)
    expected = model.predict(data.x_test, verbose=0).argmax(-1)
    np.testing.assert_array_equal(predicted, expected)
    assert list(figures) == ["confusion_matrix"]


def test_image_classifier_reports_tta_accuracy_and_the_mistakes():
    model, data = digit_classifier()
    metrics, figures = evaluation.image_classifier(model, data, tta=2, seed=0)
    assert sorted(figures) == ["confusion_matrix", "test_predictions"]
    averaged = evaluation.predict(model, data.test_batches(), tta=2, seed=0)
    assert metrics["test_accuracy_tta"] == float(np.mean(averaged.argmax(-1) == data.y_test))
    plain = evaluation.predict(model, data.x_test)
    assert not np.allclose(averaged, plain)  # the augmented copies moved the average
    np.testing.assert_allclose(evaluation.predict(model, data.test_batches()), plain, rtol=1e-5)
    with pytest.raises(ValueError, match="argument `tta`"):
        evaluation.predict(model, data.x_test, tta=-1)
