"""The gMLP recipe: patch size and depth flags, errors, users' images."""

import keras
import numpy as np
import pytest

from recipes import gmlp


def run(tmp_path, *flags):
    return gmlp.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_patch_size_sets_the_tokens(tmp_path):
    metrics = run(tmp_path, "--patch-size", "4", "--num-blocks", "1", "--d-model", "16",
                  "--d-ffn", "32")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    model = keras.saving.load_model(tmp_path / "gmlp" / "model.keras", safe_mode=True)
    assert model.get_layer("patch_tokens").output.shape == (None, 4, 16)
    assert model.get_layer("block1_sgu").spatial_kernel.shape == (4, 4)
    assert [layer.name for layer in model.layers if layer.name.endswith("_add")] == ["block1_add"]


@pytest.mark.slow
def test_users_images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for label in ("a", "b", "c"):
        (folder / label).mkdir(parents=True)
        for i in range(5):
            keras.utils.save_img(folder / label / f"{i}.png", rng.uniform(0, 255, (16, 16, 1)))
    run(tmp_path, "--images", str(folder), "--image-size", "16", "16", "--color-mode",
        "grayscale", "--patch-size", "4", "--num-blocks", "1")
    model = keras.saving.load_model(tmp_path / "gmlp" / "model.keras", safe_mode=True)
    assert model.input_shape == (None, None, None, 1)  # raw images: Resizing inside
    assert model.get_layer("gmlp").input_shape == (None, 16, 16, 1)
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--patch-size", "3"], r"argument `patch_size`.*divisor.*patch_size=3"),
        (["--d-ffn", "33"], r"argument `d_ffn`.*even.*d_ffn=33"),
        (["--model", "gru"], r"argument `model`.*--model.*gmlp_tiny.*model='gru'"),
    ],
)
def test_errors(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run(tmp_path, *flags)


def test_tensorflow_trains_the_gmlp_without_xla():
    from benchmarks import time_to_accuracy

    expected = False if keras.backend.backend() == "tensorflow" else "auto"
    assert gmlp.jit_compile() == expected
    assert time_to_accuracy.recipe_jit_compile("gmlp") == expected  # benchmarked so
    assert time_to_accuracy.recipe_jit_compile("cnn") == "auto"
