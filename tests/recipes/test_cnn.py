"""The CNN recipe: architecture and augmentation flags, users' images, --model."""

import keras
import numpy as np
import pytest

from recipes import cnn


def run(tmp_path, *flags):
    return cnn.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


def load(tmp_path):
    return keras.saving.load_model(tmp_path / "cnn" / "model.keras", safe_mode=True)


@pytest.mark.slow
def test_plain_network_with_augmentation_and_batch_norm_after(tmp_path):
    run(tmp_path, "--no-residual", "--batch-norm", "after", "--filters", "8", "16",
        "--augmentation", "rotation", "translation", "zoom")
    model = load(tmp_path)
    names = [layer.name for layer in model.get_layer("features").layers]
    assert not [name for name in names if name.endswith("_add")]
    assert names.index("stage1_block1_unit1_relu") < names.index("stage1_block1_unit1_bn")
    augmentation = model.get_layer("augmentation")
    assert augmentation.augmentation == {"rotation": 0.03, "translation": 0.1, "zoom": 0.1}
    assert (tmp_path / "cnn" / "confusion_matrix.png").exists()


@pytest.mark.slow
def test_users_images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for label in ("circle", "square"):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            keras.utils.save_img(folder / label / f"{i}.png", rng.uniform(0, 255, (12, 12, 3)))
    metrics = run(tmp_path, "--images", str(folder), "--image-size", "8", "8",
                  "--filters", "4", "8")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    model = load(tmp_path)
    assert model.input_shape == (None, 8, 8, 3)
    assert model.output_shape == (None, 2)
    # Residual blocks by default, and no augmentation layer.
    assert "stage1_block1_unit2_add" in [layer.name for layer in model.get_layer("features").layers]
    assert "augmentation" not in [layer.name for layer in model.layers]


def test_model_must_be_an_image_classifier(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*--model.*cnn, gmlp.*model='lstm'"):
        run(tmp_path, "--model", "lstm")
    assert not (tmp_path / "cnn").exists()
