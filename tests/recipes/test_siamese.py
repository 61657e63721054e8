"""The siamese recipe: threshold choice, the saved embedding, flags, errors."""

import json

import keras
import numpy as np
import pytest

from recipes import siamese


def test_best_threshold_maximises_accuracy_on_the_pairs():
    distances = np.array([0.1, 0.3, 0.2, 0.9, 0.25, 0.8])
    labels = np.array([1, 1, 1, 0, 0, 0])
    # <= 0.2: one mistake (0.3); <= 0.3: one (0.25); the first best wins.
    threshold, accuracy = siamese.best_threshold(distances, labels)
    assert (threshold, accuracy) == (0.2, pytest.approx(5 / 6))
    assert siamese.best_threshold(np.array([0.1, 0.9]), np.array([1, 0])) == (0.1, 1.0)


@pytest.mark.slow
def test_cosine_image_run_saves_a_reusable_embedding(tmp_path):
    metrics = siamese.main([
        "--smoke", "--quiet", "--output-dir", str(tmp_path), "--view", "image",
        "--distance", "cosine", "--margin", "0.5", "--embedding-dim", "2", "--filters", "4", "8",
    ])
    out = tmp_path / "siamese"
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    assert set(metrics) == {"test_loss", "test_pair_accuracy", "test_roc_auc", "threshold",
                            "val_pair_accuracy", "epochs_trained"}
    assert (out / "embedding.png").is_file() and (out / "distances.png").is_file()
    info = json.loads((out / "run.json").read_text())
    assert info["task"] == "similarity" and info["class_names"][:2] == ["0", "1"]

    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    embedding = keras.saving.load_model(out / "embedding.keras", safe_mode=True)
    assert model.loss.margin == 0.5
    # The saved embedding is the model's: the model's distance is the cosine
    # distance between the embedding's vectors.
    images = np.random.default_rng(0).uniform(size=(6, 8, 8, 1)).astype("float32")
    vectors = embedding.predict(images, verbose=0)
    assert vectors.shape == (6, 2)
    # --view image: the CNN embedding, with --filters
    convs = [layer for layer in embedding.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [4, 8]
    left, right = vectors[:3], vectors[3:]
    cosine = np.sum(left * right, axis=1) / (
        np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    )
    distances = model.predict([images[:3], images[3:]], verbose=0).ravel()
    np.testing.assert_allclose(distances, 1 - cosine, rtol=1e-4, atol=1e-5)


def test_rejects_a_model_that_is_not_a_similarity_model(tmp_path):
    with pytest.raises(ValueError, match=r"argument `model`.*one of: siamese"):
        siamese.main(
            ["--smoke", "--quiet", "--output-dir", str(tmp_path), "--model", "mlp"]
        )


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--filters", "8"], r"argument `filters`: --filters does not apply to flat inputs"),
        (["--view", "image", "--hidden-units", "8"],
         r"argument `hidden_units`: --hidden-units does not apply to images"),
    ],
)
def test_refuses_the_other_embeddings_flags(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        siamese.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), *flags])
    assert not (tmp_path / "siamese").exists()


def test_rejects_a_regression_target(tmp_path):
    path = tmp_path / "table.csv"
    rows = [f"{i},{i * 0.37}" for i in range(60)]
    path.write_text("x,price\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"argument `target`.*class column"):
        siamese.main(["--smoke", "--quiet", "--output-dir", str(tmp_path),
                      "--csv", str(path), "--target", "price"])
