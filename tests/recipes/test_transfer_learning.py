"""The transfer-learning recipe: the comparison table, what stays frozen, flags."""

import keras
import numpy as np
import pandas as pd
import pytest

from recipes import transfer_learning


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    """One --smoke run shared by the tests of this module."""
    root = tmp_path_factory.mktemp("transfer")
    transfer_learning.main(["--smoke", "--quiet", "--output-dir", str(root)])
    return root / "transfer_learning"


def features(path):
    model = keras.saving.load_model(path, safe_mode=True)
    return model.get_layer("features")


def weights_by_path(layer):
    return {weight.path: keras.ops.convert_to_numpy(weight) for weight in layer.weights}


@pytest.mark.slow
def test_comparison_table_has_the_three_approaches(out):
    table = pd.read_csv(out / "comparison.csv")
    approaches = ["feature extraction", "fine-tuning", "from scratch"]
    assert list(table["approach"]) == approaches
    assert table["test_accuracy"].between(0, 1).all()
    assert (out / "comparison.png").is_file()


@pytest.mark.slow
def test_feature_extraction_leaves_the_frozen_base_unchanged(out):
    pretrained = weights_by_path(features(out / "pretrained.keras"))
    extracted = weights_by_path(features(out / "feature_extraction.keras"))
    assert pretrained.keys() == extracted.keys() and pretrained
    for path, value in pretrained.items():
        np.testing.assert_array_equal(extracted[path], value, err_msg=path)


@pytest.mark.slow
def test_fine_tuning_keeps_batch_norm_statistics_and_trains_the_rest(out):
    pretrained = features(out / "pretrained.keras")
    tuned = features(out / "model.keras")
    norms = [layer for layer in pretrained.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms, "the default cnn has batch norm"
    for layer in norms:
        twin = tuned.get_layer(layer.name)
        before = layer.moving_mean, layer.moving_variance
        after = twin.moving_mean, twin.moving_variance
        for old, new in zip(before, after):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(new), keras.ops.convert_to_numpy(old)
            )
    # Fine-tuning did update the unfrozen convolutions.
    kernels = [
        layer.name for layer in pretrained.layers
        if isinstance(layer, keras.layers.Conv2D)
    ]
    changed = [
        name for name in kernels
        if not np.array_equal(
            keras.ops.convert_to_numpy(pretrained.get_layer(name).kernel),
            keras.ops.convert_to_numpy(tuned.get_layer(name).kernel),
        )
    ]
    assert changed == kernels


def test_rejects_a_model_without_features(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*'features'.*one of: cnn"):
        transfer_learning.main(
            ["--smoke", "--quiet", "--output-dir", str(tmp_path), "--model", "mlp"]
        )
