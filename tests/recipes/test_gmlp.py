"""The gMLP recipe: patch size and depth flags, errors, users' images."""

import json

import keras
import numpy as np
import pytest

from recipes import gmlp


def run(tmp_path, *flags):
    return gmlp.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_patch_size_sets_the_tokens(tmp_path):
    metrics = run(tmp_path, "--patch-size", "4", "--num-blocks", "1", "--d-model", "16",
                  "--d-ffn", "32", "--weight-decay", "0.01")
    assert metrics["epochs_trained"] == 2  # --smoke
    model = keras.saving.load_model(tmp_path / "gmlp" / "model.keras", safe_mode=True)
    assert model.get_layer("patch_tokens").output.shape == (None, 4, 16)
    assert model.get_layer("block1_sgu").spatial_kernel.shape == (4, 4)
    assert [layer.name for layer in model.layers if layer.name.endswith("_add")] == ["block1_add"]
    # AdamW with --weight-decay
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)


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
    info = json.loads((tmp_path / "gmlp" / "run.json").read_text())  # for recipes.predict
    assert info["class_names"] == ["a", "b", "c"]
    assert info["images"]["image_size"] == [16, 16] and info["images"]["color_mode"] == "grayscale"


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--patch-size", "3"], r"argument `patch_size`.*divisor.*patch_size=3"),
        (["--d-ffn", "33"], r"argument `d_ffn`.*even.*d_ffn=33"),
        (["--model", "gru"], r"argument `model`.*--model.*gmlp_tiny.*model='gru'"),
        # Flags the chosen --model does not take are refused, not ignored.
        (["--model", "gmlp_tiny", "--d-model", "32", "--num-blocks", "2"],
         r"argument `d_model`: --d-model, --num-blocks do not apply to the preset "
         r"--model gmlp_tiny.*d_model=32, num_blocks=2"),
        (["--model", "cnn", "--patch-size", "4"],
         r"argument `patch_size`: --patch-size does not apply to --model cnn.*patch_size=4"),
    ],
)
def test_errors(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        run(tmp_path, *flags)
    assert not (tmp_path / "gmlp" / "model.keras").exists()


def test_tensorflow_trains_the_gmlp_without_xla():
    from benchmarks import time_to_accuracy

    expected = False if keras.backend.backend() == "tensorflow" else "auto"
    assert gmlp.jit_compile() == expected
    assert time_to_accuracy.recipe_jit_compile("gmlp") == expected  # benchmarked so
    assert time_to_accuracy.recipe_jit_compile("cnn") == "auto"
