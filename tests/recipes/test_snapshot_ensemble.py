"""The snapshot-ensemble recipe: snapshots, the k = 1..M table, the saved ensemble."""

import keras
import numpy as np
import pandas as pd
import pytest

from recipes import snapshot_ensemble
from recipes.common.data import load_dataset


def run(tmp_path, *flags):
    return snapshot_ensemble.main(["--quiet", "--output-dir", str(tmp_path), *flags])


@pytest.mark.slow
def test_snapshots_table_and_one_file_ensemble(tmp_path):
    out = tmp_path / "snapshot_ensemble"
    (out / "snapshots").mkdir(parents=True)
    (out / "snapshots" / "snapshot_07.keras").write_text("from an earlier run")
    metrics = run(tmp_path, "--smoke", "--num-snapshots", "2")
    snapshots = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snapshots == ["snapshot_01.keras", "snapshot_02.keras"]
    table = pd.read_csv(out / "ensemble_table.csv")
    assert list(table["num_snapshots"]) == [1, 2]
    # k = 1 is the single final model; k = M is the saved ensemble.
    assert table["accuracy"][0] == pytest.approx(metrics["test_accuracy"])
    assert table["accuracy"][1] == pytest.approx(metrics["ensemble_test_accuracy"])
    assert metrics["ensemble_of_2_test_accuracy"] == pytest.approx(table["accuracy"][1])
    assert (out / "ensemble_table.png").exists()
    ensemble = keras.saving.load_model(out / "ensemble.keras", safe_mode=True)
    members = [keras.saving.load_model(out / "snapshots" / name, compile=False)
               for name in snapshots]
    x = np.random.default_rng(0).uniform(size=(5, 64)).astype("float32")
    expected = np.mean([member.predict(x, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"argument `epochs`: expected a multiple of "
                                         r"--num-snapshots \(5\).*epochs=12"):
        run(tmp_path, "--epochs", "12")
    with pytest.raises(ValueError, match=r"argument `model`.*zoo classifier.*model='autoencoder'"):
        run(tmp_path, "--model", "autoencoder")
    assert not (tmp_path / "snapshot_ensemble").exists()


@pytest.mark.slow
def test_swa_averages_the_saved_snapshots_into_one_model(tmp_path):
    import json

    metrics = run(tmp_path, "--smoke", "--swa", "--model", "cnn")
    out = tmp_path / "snapshot_ensemble"
    assert json.loads((out / "metrics.json").read_text())["swa_test_accuracy"] == \
        metrics["swa_test_accuracy"]
    swa = keras.saving.load_model(out / "swa.keras", safe_mode=True)
    # --model cnn: the digits as images; the reported accuracy is the saved SWA model's.
    assert swa.input_shape == (None, 8, 8, 1)
    data = load_dataset("digits", view="image").subsample(train=300, evaluation=100)
    predicted = swa.predict(data.x_test, verbose=0).argmax(-1)
    assert metrics["swa_test_accuracy"] == pytest.approx(np.mean(predicted == data.y_test))
    snapshots = [keras.saving.load_model(p) for p in sorted((out / "snapshots").glob("*.keras"))]
    assert len(snapshots) == 2  # --smoke: 2 epochs, 2 cycles; the flag itself is kept
    assert json.loads((out / "run.json").read_text())["flags"]["num_snapshots"] == 5
    # Trainable weights: the snapshots' mean; batch norm's statistics recomputed.
    for layer, first, second in zip(swa.trainable_weights, snapshots[0].trainable_weights,
                                    snapshots[1].trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer),
                                   (keras.ops.convert_to_numpy(first)
                                    + keras.ops.convert_to_numpy(second)) / 2, rtol=1e-5,
                                   atol=1e-7)
