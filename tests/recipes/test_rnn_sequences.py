"""recipes.rnn --sequences and recipes.predict --sequences: your series end to end.

One smoke run on a small generated file (two channels, unequal lengths, string
labels, `?` gaps) with an official test file is shared by most tests; a
regression run on a wide CSV; bad input exits with status 2 and one line.
Resume after a kill is the `Run` plumbing every recipe shares (a real SIGKILL
in tests/recipes/test_recipes.py); here an interruption in the process checks
that a resumed run rebuilds the same preprocessing from the same files.

Also run under JAX: `KERAS_BACKEND=jax pytest tests/recipes/test_rnn_sequences.py`.
"""

import json
import runpy
import sys

import keras
import numpy as np
import pandas as pd
import pytest

import zoo
from recipes import predict, rnn
from recipes.common.data import load_sequences
from tests.recipes.common.test_sequences import (
    series,
    write_long,
    write_npz,
    write_ts,
    write_wide,
)

# One xdist worker runs this module: its tests share expensive runs.
pytestmark = pytest.mark.xdist_group("rnn_sequences")


def train(out, *flags):
    return rnn.main(["--smoke", "--quiet", "--epochs", "1", "--units", "8",
                     "--output-dir", str(out), *flags])


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sequences")
    values, labels = series(count=40)
    test_values, test_labels = series(count=12, seed=1)
    return {
        "folder": folder,
        "train": write_ts(folder / "train.ts", values, labels),
        "test": write_ts(folder / "test.ts", test_values, test_labels),
        "test_values": test_values,
        "test_labels": test_labels,
    }


@pytest.fixture(scope="session")
def run_dir(files):
    out = files["folder"] / "runs"
    metrics = train(out, "--sequences", str(files["train"]),
                    "--test-sequences", str(files["test"]))
    (out / "rnn" / "returned.json").write_text(json.dumps(metrics))
    return out / "rnn"


def by_hand(run_dir, values):
    """The run's preprocessing, written out: gaps interpolated, standardised, padded."""
    fields = json.loads((run_dir / "run.json").read_text())["sequences"]
    x = np.zeros((len(values), fields["steps"], len(fields["channels"])), "float32")
    for index, one in enumerate(values):
        filled = np.stack([pd.Series(c).interpolate(limit_direction="both").to_numpy()
                           for c in one.T], axis=-1)
        x[index, : len(one)] = (filled - fields["mean"]) / np.array(fields["std"])
    return x


@pytest.mark.slow
def test_run_records_its_preprocessing_and_class_names(run_dir, files):
    info = json.loads((run_dir / "run.json").read_text())
    assert info["task"] == "classification" and info["class_names"] == ["cat", "dog"]
    fields = info["sequences"]
    assert fields["channels"] == ["dim_0", "dim_1"] and fields["format"] == "ts"
    assert (fields["steps"], fields["pad_value"], fields["mask_value"]) == (10, 0.0, 0.0)
    assert len(fields["mean"]) == len(fields["std"]) == 2
    assert info["flags"]["sequences"] == str(files["train"])
    # --sequences' own defaults, where a flag was not given (--epochs was).
    used = {key: info["flags"][key] for key in rnn.SEQUENCE_DEFAULTS}
    assert used == {**rnn.SEQUENCE_DEFAULTS, "epochs": 1}
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 10, 2) and model.output_shape == (None, 2)
    masked = any(isinstance(layer, keras.layers.Masking) for layer in model.layers)
    assert masked  # padded: the model starts with a Masking layer
    # The reported accuracy is the saved model's on the official test file.
    metrics = json.loads((run_dir / "returned.json").read_text())
    data = load_sequences(files["train"], test_path=files["test"])
    np.testing.assert_allclose(data.x_test, by_hand(run_dir, files["test_values"]), atol=1e-5)
    predicted = model.predict(data.x_test, verbose=0).argmax(-1)
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == data.y_test))
    assert (run_dir / "confusion_matrix.png").exists()


@pytest.mark.slow
def test_predictions_match_the_model_on_the_runs_own_preprocessing(run_dir, files, tmp_path):
    predictor = predict.load(run_dir)
    assert isinstance(predictor, predict.SequencePredictor)
    values, labels = files["test_values"], files["test_labels"]
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    expected = model.predict(by_hand(run_dir, values), verbose=0)
    # A long CSV (rows shuffled within each series; --time sorts them), with a
    # label column that is ignored (named: the run, trained on .ts, has no target).
    long = write_long(tmp_path / "new.csv", values, ["dog"] * len(values))
    result = predictor.predict(long, id_column="id", time_column="t", target="label")
    assert list(result.columns) == ["id", "prediction", "probability_cat", "probability_dog"]
    assert result["id"].tolist() == [f"s{i:02d}" for i in range(len(values))]
    np.testing.assert_allclose(result[["probability_cat", "probability_dog"]], expected,
                               rtol=1e-5, atol=1e-6)
    assert result["prediction"].tolist() == [["cat", "dog"][k] for k in expected.argmax(-1)]
    assert any("Filled" in note for note in predictor.notes)
    # The same series as .npz, as arrays, and as a .ts file: the same predictions.
    for source in (write_npz(tmp_path / "new.npz", values, labels), values, files["test"]):
        again = predictor.predict(source)
        assert list(again.columns)[0] == "index"
        np.testing.assert_allclose(again["probability_dog"], expected[:, 1], rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.slow
def test_command_line_writes_one_row_per_series(run_dir, files, tmp_path, capsys):
    output = tmp_path / "out" / "predictions.csv"
    report = predict.main([str(run_dir), "--sequences", str(files["test"]),
                           "--output", str(output)])
    written = pd.read_csv(output)
    assert list(written.columns) == ["index", "prediction", "probability_cat",
                                     "probability_dog"]
    assert written["index"].tolist() == list(range(12)) and report["rows"] == 12
    assert set(written["prediction"]) <= {"cat", "dog"}
    assert "Wrote 12 predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_predict_bad_sequences_are_named_and_nothing_is_written(run_dir, tmp_path):
    output = tmp_path / "predictions.csv"
    one_channel = write_ts(tmp_path / "one.ts", *series(count=3, channels=1))
    longer = write_npz(tmp_path / "long.npz", [np.ones((11, 2))], ["cat"])
    for path, match in [
        (one_channel, r"'.*one.ts' has 1 channel\(s\) \(dim_0\); the training file "
                      r"'.*train.ts' has 2 \(dim_0, dim_1\)"),
        (longer, r"'.*long.npz', series 0: the series has 11 steps; the model reads series "
                 r"of at most 10 steps"),
    ]:
        with pytest.raises(ValueError, match=match):
            predict.main([str(run_dir), "--sequences", str(path), "--output", str(output)])
    with pytest.raises(ValueError, match=r"trained on sequences: use --sequences"):
        predict.main([str(run_dir), "--csv", str(one_channel), "--output", str(output)])
    assert not output.exists()


@pytest.mark.slow
def test_regression_on_a_wide_csv(tmp_path):
    values, _ = series(count=40, channels=1)
    # A numeric target with many distinct values: regression, as --csv infers it.
    targets = [f"{one[~np.isnan(one)].mean() * 10:.3f}" for one in values]
    path = write_wide(tmp_path / "wide.csv", values, targets, target="level")
    metrics = train(tmp_path, "--sequences", str(path), "--target", "level")
    run_dir = tmp_path / "rnn"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["task"] == "regression" and info["class_names"] == ["level"]
    assert info["sequences"]["target"] == "level" and info["sequences"]["format"] == "wide csv"
    assert {"test_mean_absolute_error", "test_loss"} <= set(metrics)
    assert sorted(p.name for p in run_dir.glob("*.png")) == ["training_curves.png"]
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert model.get_layer("predictions").activation is keras.activations.linear
    result = predict.load(run_dir).predict(path)  # its target column is ignored
    assert list(result.columns) == ["index", "prediction"]
    expected = model.predict(by_hand(run_dir, values), verbose=0)[:, 0]
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-5, atol=1e-5)


def run_command(module, argv, monkeypatch):
    """`python -m <module> argv`, here: its `__main__` code and exit status."""
    monkeypatch.setattr(sys, "argv", [module, *argv])
    monkeypatch.delitem(sys.modules, module, raising=False)  # run afresh, as `-m` does
    with pytest.raises(SystemExit) as raised:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    return raised.value.code


@pytest.mark.parametrize(
    "text, match",
    [
        ("label,a,b,c\nx,1,2,3\ny,1,,3\n",
         "Sequences file '{path}', line 3: empty cell in column 'b' followed by '3' in column "
         "'c' (a ragged row): only trailing cells may be empty; mark a missing value '?'."),
        ("label,a,b\nx,1,2\n,3,4\n", "Sequences file '{path}', line 3: missing label."),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                            text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code = run_command("recipes.rnn", ["--smoke", "--quiet", "--output-dir", str(tmp_path),
                                       "--sequences", str(path), "--target", "label"],
                       monkeypatch)
    assert code == 2
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if line.startswith("recipes.rnn")]
    assert lines == [f"recipes.rnn: error: {match.format(path=path)}"]
    assert "Traceback" not in stderr and not (tmp_path / "rnn").exists()


@pytest.mark.parametrize(
    "flags, match",
    [
        (["--task", "forecast", "--sequences", "a.ts"],
         r"argument `sequences`: --sequences does not apply to --task forecast"),
        (["--target", "label"], r"argument `target`: it needs --sequences"),
        (["--sequences", "missing.ts"],
         r"argument `sequences`: expected an existing .ts, .csv, .tsv, .txt, .npz file"),
    ],
)
def test_flag_errors(tmp_path, flags, match):
    with pytest.raises(ValueError, match=match):
        train(tmp_path, *flags)
    assert not (tmp_path / "rnn").exists()


def test_recurrent_flags_are_refused_for_the_convolutional_models(tmp_path):
    if "fcn1d" not in zoo.list_models():
        pytest.skip("zoo has no fcn1d yet")
    with pytest.raises(ValueError, match=r"argument `units`: --units, --bidirectional do not "
                                         r"apply to --model fcn1d"):
        rnn.main(["--smoke", "--output-dir", str(tmp_path), "--model", "fcn1d",
                  "--units", "8", "--bidirectional"])
    assert not (tmp_path / "rnn").exists()


class Interrupt(keras.callbacks.Callback):
    """Stops the run as the first epoch ends, after its backup."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


@pytest.mark.slow
def test_an_interrupted_run_resumes_with_the_same_preprocessing(files, tmp_path, monkeypatch):
    from recipes.common import history, runs

    argv = ["--smoke", "--quiet", "--epochs", "2", "--units", "8", "--output-dir",
            str(tmp_path), "--sequences", str(files["train"]),
            "--test-sequences", str(files["test"])]
    original = runs.Run.callbacks
    with monkeypatch.context() as patch:
        patch.setattr(runs.Run, "callbacks",
                      lambda run, **kwargs: [*original(run, **kwargs), Interrupt()])
        with pytest.raises(KeyboardInterrupt):
            rnn.main(argv)
    folder = tmp_path / "rnn"
    assert history.backup_epoch(folder) == 1 and not (folder / "model.keras").exists()
    metrics = rnn.main(argv)
    assert metrics["epochs_trained"] == 2
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [1, 2]
    assert history.backup_epoch(folder) is None
    fields = json.loads((folder / "run.json").read_text())["sequences"]
    assert (fields["steps"], fields["mask_value"]) == (10, 0.0)
    fitted = load_sequences(files["train"], test_path=files["test"]).sequences
    np.testing.assert_allclose(fields["mean"], fitted["mean"], rtol=1e-6)
    np.testing.assert_allclose(fields["std"], fitted["std"], rtol=1e-6)
