"""The transfer-learning recipe: the comparison table, what stays frozen, flags."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from recipes import transfer_learning

# One xdist worker runs this module: its tests share expensive runs.
pytestmark = pytest.mark.xdist_group("transfer_learning")


@pytest.fixture(scope="session")
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
    metrics = json.loads((out / "metrics.json").read_text())
    assert [metrics[f"{name}_test_accuracy"] for name in
            ("feature_extraction", "fine_tuning", "from_scratch")] == pytest.approx(
        table["test_accuracy"].tolist())
    assert metrics["examples_per_class"] == 10
    assert (out / "comparison.png").is_file()
    # --smoke: 2 feature-extraction epochs, then 2 of fine-tuning, numbered on
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]
    # model.keras labels the new classes, 5-9
    info = json.loads((out / "run.json").read_text())
    assert info["class_names"] == ["5", "6", "7", "8", "9"]
    assert keras.saving.load_model(out / "model.keras").output_shape == (None, 5)


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


# --images with a keras.applications backbone (offline: --weights none or a file).

BACKBONE = ["--backbone", "mobilenet_v3_small", "--image-size", "32", "32"]


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    from tests.recipes.helpers import image_folder

    return image_folder(tmp_path_factory.mktemp("photos"), per_class=12, size=(40, 36))


def backbone_weights(path):
    model = keras.saving.load_model(path, safe_mode=True)
    return model.get_layer("backbone")


@pytest.fixture
def run_eagerly():
    """TensorFlow runs the train, test and predict steps op by op, untraced.

    Tracing MobileNetV3 into a graph for each compiled step (again after each
    compile) is most of a --backbone run on a few images: the test below takes
    about 26 s so, 64 s traced, on 2 cores. Nothing it checks (which weights
    change, the phases, resume, the saved files) depends on graph execution.
    Other backends: unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(before)


# Each --backbone phase costs seconds (building and running the network), so
# one test runs them all in one folder: head and fine-tuning, the labelling of
# new images, a resume between the phases, then another command: the head only.


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Even though the `tf.config.experimental_run_functions_eagerly`")
def test_backbone_fine_tuning_resume_and_head_only(tmp_path, photos, capsys, run_eagerly):
    from recipes import predict
    from recipes.common import backbones

    flags = ["--smoke", "--quiet", "--output-dir", str(tmp_path), "--images", str(photos),
             *BACKBONE, "--weights", "none", "--fine-tune-layers", "12",
             "--learning-rate", "0.01"]
    transfer_learning.main(flags)
    out = tmp_path / "transfer_learning"
    head = backbone_weights(out / "feature_extraction.keras")
    tuned = backbone_weights(out / "model.keras")
    layers = [layer for layer in tuned.layers if layer.weights]
    top = {layer.name for layer in layers[-12:]}
    changed = set()
    for layer in layers:
        before = head.get_layer(layer.name).get_weights()
        if any(not np.array_equal(a, b) for a, b in zip(before, layer.get_weights())):
            changed.add(layer.name)
    norms = {layer.name for layer in layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert changed and changed <= top - norms
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]
    info = json.loads((out / "run.json").read_text())
    assert info["images"]["image_size"] == [32, 32] and info["class_names"] == ["circle", "square"]
    assert info["phase"] == "done" and info["backbone"] == "mobilenet_v3_small"

    # The saved run labels new images of another size.
    result = predict.main([str(out), "--images", str(photos / "circle"),
                           "--output", str(tmp_path / "labels.csv")])
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert result["rows"] == len(labels) == 12
    assert set(labels["prediction"]) <= {"circle", "square"}
    assert 0.0 <= result["accuracy"] <= 1.0

    # Killed between the phases: the same command goes on with fine-tuning.
    (out / "model.keras").unlink()
    (out / "run.json").write_text(json.dumps({**info, "phase": "fine-tuning"}))
    capsys.readouterr()
    transfer_learning.main(flags)
    assert (out / "model.keras").is_file()
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]
    printed = capsys.readouterr().out
    assert "Resuming at fine-tuning" in printed and "Feature extraction:" not in printed
    # Another command in that folder starts over with the head: here the head
    # only (--fine-tune-epochs 0) on a backbone loaded from a weights file.
    keras.utils.set_random_seed(7)
    original = backbones.build("mobilenet_v3_small", image_size=(32, 32))
    original.save_weights(tmp_path / "backbone.weights.h5")
    metrics = transfer_learning.main([
        "--smoke", "--quiet", "--output-dir", str(tmp_path), "--images", str(photos),
        *BACKBONE, "--weights", str(tmp_path / "backbone.weights.h5"),
        "--fine-tune-epochs", "0",
    ])
    printed = capsys.readouterr().out
    assert "Resuming" not in printed and "Feature extraction:" in printed
    assert set(metrics) == {"test_loss", "test_accuracy"}
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2]  # the head only
    assert json.loads((out / "run.json").read_text())["phase"] == "done"
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    saved = model.get_layer("backbone")
    # Every variable, batch norm's moving statistics included, is the file's.
    assert len(saved.weights) == len(original.weights)
    for mine, theirs in zip(saved.weights, original.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs), err_msg=mine.path)
    assert model.input_shape == (None, None, None, 3)  # raw images of any size


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--backbone", "mobilenet_v3_small", "--weights", "none"], "--images, --backbone and"),
        (["--images", "{photos}", "--weights", "none"], "--images, --backbone and --weights"),
        (["--images", "{photos}", "--backbone", "mobilenet_v3_small"], "--weights go together"),
        (["--images", "{photos}", "--backbone", "vgg99", "--weights", "none",
          "--image-size", "32", "32"], "argument `backbone`.*mobilenet_v3_small.*'vgg99'"),
        (["--images", "{photos}", *BACKBONE[:2], "--weights", "none", "--image-size", "16", "16"],
         r"argument `image_size`: expected at least 32x32.*\[16, 16\]"),
        (["--images", "{photos}", *BACKBONE, "--weights", "missing.weights.h5"],
         "argument `weights`.*missing.weights.h5"),
        (["--images", "{photos}", *BACKBONE, "--weights", "none", "--color-mode", "grayscale"],
         "argument `color_mode`: a --backbone takes rgb"),
        # The digits comparison's flags do not apply to a --backbone, nor its flags to it.
        (["--images", "{photos}", *BACKBONE, "--weights", "none", "--examples-per-class", "5"],
         r"argument `examples_per_class`: --examples-per-class does not apply to "
         r"--backbone mobilenet_v3_small.*examples_per_class=5"),
        (["--tta", "2"], r"argument `tta`: --tta does not apply to the digits comparison"),
        (["--tensorboard"], r"argument `tensorboard`: --tensorboard does not apply to the digits"),
        (["--model", "gmlp", "--global-pooling", "avg"],
         r"argument `global_pooling`: --global-pooling does not apply to --model gmlp"),
        (["--fine-tune-epochs", "0"], r"argument `fine_tune_epochs`.*digits comparison"),
    ],
)
def test_backbone_flags_are_checked_before_training(tmp_path, photos, flags, match):
    flags = [flag.format(photos=photos) for flag in flags]
    with pytest.raises(ValueError, match=match):
        transfer_learning.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])
    assert not (tmp_path / "transfer_learning" / "model.keras").exists()


def test_backbones_carry_their_preprocessing():
    from recipes.common import backbones

    for name in backbones.BACKBONES:
        model = backbones.build(name, image_size=(32, 32))
        kinds = {type(layer).__name__ for layer in model.layers}
        if name == "resnet50_v2":
            assert model.get_layer("preprocess").scale == pytest.approx(1 / 127.5)
        else:
            assert "Rescaling" in kinds, name
        assert model.output_shape[0] is None and len(model.output_shape) == 2
