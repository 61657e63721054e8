"""The CNN recipe: architecture and augmentation flags, users' images, --model."""

from pathlib import Path

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
def test_grayscale_digits_with_a_held_out_folder_keep_one_channel_and_a_stem(tmp_path, capsys):
    import json

    from PIL import Image

    import zoo
    from tests.recipes.helpers import image_folder

    train = image_folder(tmp_path / "train", size=(28, 28))
    test = image_folder(tmp_path / "test", per_class=3, size=(28, 28), seed=2)
    for path in [*train.rglob("*.png"), *test.rglob("*.png")]:
        Image.open(path).convert("L").save(path)  # as MNIST's files are
    metrics = run(tmp_path, "--images", str(train), "--test-images", str(test),
                  "--image-size", "28", "28", "--filters", "4", "8")
    output = capsys.readouterr().out
    assert f"{train}: 18 train, 2 validation, 6 test images (from {test}) of shape " \
           "(28, 28, 1), 2 classes; decoded images in memory" in output
    model = load(tmp_path)
    assert model.input_shape == (None, None, None, 1)  # grayscale stays one channel
    features = model.get_layer("cnn").get_layer("features")
    assert features.get_layer("stem_conv").output.shape == (None, 14, 14, 4)
    flops = zoo.count_flops(model)
    assert f"{flops / 1e6:.2f} million FLOPs per image (forward pass)" in output
    info = json.loads((tmp_path / "cnn" / "run.json").read_text())
    assert info["images"]["color_mode"] == "grayscale"
    assert info["images"]["test_folder"] == str(test)
    assert info["backend"] == "tensorflow"  # your images train faster there (README)
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs_trained"] == 2


@pytest.mark.slow
def test_users_images_streamed_into_a_model_that_takes_raw_images(tmp_path):
    import json

    import pandas as pd

    from recipes import predict
    from tests.recipes.helpers import image_folder

    folder = image_folder(tmp_path / "images", size=(12, 12))
    (folder / "square" / "notes.txt").write_text("not an image")
    metrics = run(tmp_path, "--images", str(folder), "--image-size", "8", "8",
                  "--filters", "4", "8", "--tta", "2")
    assert {"test_accuracy", "test_accuracy_tta", "test_loss", "epochs_trained"} <= set(metrics)
    model = load(tmp_path)
    assert model.input_shape == (None, None, None, 3)  # any size: Resizing inside
    assert model.output_shape == (None, 2)
    assert [layer.name for layer in model.layers[1:3]] == ["resize", "rescale"]
    # Residual blocks by default, and no augmentation layer.
    inner = model.get_layer("cnn")
    assert "stage1_block1_unit2_add" in [layer.name for layer in inner.get_layer("features").layers]
    assert "augmentation" not in [layer.name for layer in inner.layers]
    info = json.loads((tmp_path / "cnn" / "run.json").read_text())
    assert info["class_names"] == ["circle", "square"]
    assert info["images"]["image_size"] == [8, 8] and info["images"]["color_mode"] == "rgb"

    # recipes.predict labels new files of another size and mode; a bad file is listed.
    new = tmp_path / "new"
    image_folder(new, size=(30, 20), seed=1)
    keras.utils.save_img(new / "circle" / "gray.png", np.zeros((9, 9, 1)))
    (new / "square" / "broken.png").write_bytes(b"\x89PNG not really")
    result = predict.main([str(tmp_path / "cnn"), "--images", str(new), "--tta", "1",
                           "--output", str(tmp_path / "labels.csv")])
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert result["rows"] == len(labels) == 22
    assert list(labels.columns) == ["path", "prediction", "probability_circle",
                                    "probability_square", "error"]
    broken = labels["path"].str.endswith("broken.png")
    assert labels.loc[broken, "prediction"].isna().all()
    assert labels.loc[broken, "error"].str.startswith("unreadable").all()
    assert labels.loc[~broken, "prediction"].isin(["circle", "square"]).all()
    np.testing.assert_allclose(
        labels.loc[~broken, ["probability_circle", "probability_square"]].sum(axis=1), 1, 1e-5
    )
    # The files sit in folders named after classes: the accuracy is against those.
    readable = labels[~broken]
    truth = readable["path"].map(lambda path: Path(path).parent.name)
    assert result["accuracy"] == pytest.approx((readable["prediction"] == truth).mean())

    # The plain model.predict on one file agrees with the command's row.
    from recipes.common.data import images

    one = next(iter(images.file_dataset([str(new / "circle" / "0.png")], image_size=(30, 20),
                                        color_mode="rgb", batch_size=1)))
    direct = keras.saving.load_model(tmp_path / "cnn" / "model.keras").predict(one, verbose=0)
    row = labels[labels["path"] == str(new / "circle" / "0.png")]
    plain = predict.load(tmp_path / "cnn").predict([new / "circle" / "0.png"])
    np.testing.assert_allclose(plain["probability_circle"], direct[:, 0], rtol=1e-4)
    assert len(row) == 1


@pytest.mark.slow
def test_stochastic_depth_on_the_residual_blocks(tmp_path):
    run(tmp_path, "--drop-path-rate", "0.2", "--blocks-per-stage", "2", "--filters", "4", "8")
    features = load(tmp_path).get_layer("features")
    rates = [layer.rate for layer in features.layers if layer.name.endswith("_drop_path")]
    assert rates == pytest.approx([0.2 / 3, 0.4 / 3, 0.2])  # linear in depth, first block 0


def test_model_must_be_an_image_classifier(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*--model.*cnn, gmlp.*model='lstm'"):
        run(tmp_path, "--model", "lstm")
    assert not (tmp_path / "cnn").exists()


def test_flags_of_the_zoo_cnn_are_refused_for_another_model(tmp_path):
    with pytest.raises(ValueError, match=r"argument `filters`: --filters, --no-residual, "
                                         r"--stem do not apply to --model gmlp"):
        run(tmp_path, "--model", "gmlp", "--filters", "8", "--no-residual", "--stem", "1")
    assert not (tmp_path / "cnn").exists()


@pytest.mark.parametrize(
    "environ, flags, expected",
    [
        ({}, [], "jax"),  # the recipe's preference
        ({}, ["--augmentation", "rotation"], "tensorflow"),  # transforms are slow on JAX
        ({}, ["--tta", "4"], "tensorflow"),
        ({}, ["--images", "photos"], "tensorflow"),  # real images: faster steps there
        ({}, ["--augmentation", "none"], "jax"),
        ({}, ["--augmentation", "zoom", "--backend", "jax"], "jax"),  # the user's choice
        ({"KERAS_BACKEND": "jax"}, ["--augmentation", "zoom"], "jax"),
        ({"KERAS_BACKEND": "tensorflow"}, [], "tensorflow"),
    ],
)
def test_backend_is_jax_unless_augmentation_and_nobody_chose_one(monkeypatch, environ, flags,
                                                                 expected):
    pytest.importorskip("jax")
    from recipes.common import runtime

    class Parsed(Exception):
        pass

    def stop(args, backend=None):
        raise Parsed(runtime.choose_backend(args.backend, backend))

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(runtime, "setup", stop)
    with pytest.raises(Parsed) as parsed:
        cnn.main(flags)
    assert parsed.value.args == (expected,)
