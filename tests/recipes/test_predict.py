"""recipes.predict: a --csv run's model applied to new raw rows, and every bad input.

The main train-and-predict tests also run under JAX:
`KERAS_BACKEND=jax pytest tests/recipes/test_predict.py -k "match_the_model or autoencoder"`.
"""

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import recipes
from recipes import autoencoder, denoising_autoencoder, mlp, predict
from recipes.common.data import features

# One xdist worker runs this module: its tests share expensive runs.
pytestmark = pytest.mark.xdist_group("predict")

ROOT = Path(__file__).resolve().parents[2]


def write_table(path, target="label", rows=120, *, seed=0):
    """Text, integer-category and numeric columns with gaps, and the `target` column(s)
    (label: classes, price: regression, p,q: multi-label). One name holds a `/`,
    which Keras refuses in the name of an input (read as `weight_kg`)."""
    rng = np.random.default_rng(seed)
    lines = ["size,colour,doors,weight/kg,label,price,p,q"]
    for i in range(rows):
        size = "" if i % 11 == 0 else f"{rng.normal(5, 2):.3f}"
        colour = "" if i % 13 == 0 else ["red", "green", "blue"][i % 3]
        doors = [2, 3, 4, 5][i % 4]
        weight = f"{rng.normal(100, 10):.1f}"
        label = "yes" if i % 3 == 0 else "no"
        lines.append(f"{size},{colour},{doors},{weight},{label},{i * 0.5 + doors:.2f},"
                     f"{i % 2},{(i // 3) % 2}")
    path.write_text("\n".join(lines) + "\n")
    others = [c for c in ("label", "price", "p", "q") if c not in target.split(",")]
    pd.read_csv(path).drop(columns=others).to_csv(path, index=False)
    return path


def train(out, csv, target, *flags):
    return mlp.main(["--smoke", "--quiet", "--epochs", "1", "--hidden-units", "16",
                     "--output-dir", str(out), "--csv", str(csv), "--target", target, *flags])


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    train(folder / "runs", write_table(folder / "train.csv"), "label")
    return folder / "runs" / "mlp"


def new_rows():
    """Shuffled columns, an extra one, an unseen colour and door count, gaps, ids."""
    return pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "weight/kg": [90.0, 101.5, 110.0, 99.0, 100.0],
        "extra": ["x"] * 5,
        "colour": ["red", "purple", None, "blue", "green"],
        "size": [4.0, None, 6.5, 5.0, 3.0],
        "doors": [2, 3, 7, 4, 5],
        "label": ["no", "yes", "no", "no", "yes"],
    })


@pytest.mark.slow
def test_predictions_match_the_model_on_its_own_preprocessing(run_dir):
    info = json.loads((run_dir / "run.json").read_text())
    assert info["task"] == "classification" and info["class_names"] == ["no", "yes"]
    assert info["target"] == ["label"] and info["recipe"] == "mlp"
    kinds = {c["name"]: c["kind"] for c in info["feature_schema"]["columns"]}
    assert kinds == {"size": "numeric", "colour": "text", "doors": "integer",
                     "weight/kg": "numeric"}
    predictor = predict.load(run_dir)
    frame = new_rows()
    result = predictor.predict(frame, id_column="id")
    assert list(result.columns) == ["id", "prediction", "probability_no", "probability_yes"]
    assert result["id"].tolist() == frame["id"].tolist()

    # Same rows, encoded by the run's own saved preprocessing, through model.predict.
    space = keras.saving.load_model(run_dir / features.PREPROCESSING_FILE)
    model = keras.saving.load_model(run_dir / "model.keras")
    prepared = features.prepare(frame, info["feature_schema"], Path("new.csv"))
    expected = model.predict(features.encode(space, prepared.inputs), verbose=0)
    np.testing.assert_allclose(result[["probability_no", "probability_yes"]], expected,
                               rtol=1e-5, atol=1e-6)
    assert result["prediction"].tolist() == [["no", "yes"][k] for k in expected.argmax(-1)]
    # purple and 7 doors are unseen: out-of-vocabulary, counted; gaps filled.
    assert prepared.unseen == {"colour": 1, "doors": 1}
    assert prepared.filled == {"colour": 1, "size": 1}
    assert any("2 value(s) unseen" in note for note in predictor.notes)
    assert any("Filled 2 missing" in note for note in predictor.notes)
    assert set(predictor.metrics) == {"accuracy"}
    # Any column order gives the same predictions.
    shuffled = predictor.predict(frame[frame.columns[::-1]])
    np.testing.assert_allclose(shuffled["probability_yes"], result["probability_yes"])


@pytest.mark.slow
def test_tensorflow_run_saves_a_model_that_reads_raw_columns(run_dir):
    if keras.backend.backend() != "tensorflow":
        assert not (run_dir / features.INFERENCE_FILE).exists()
        pytest.skip("string inputs (raw text columns) exist on TensorFlow only")
    import tensorflow as tf

    from recipes.common.data import table_layers  # noqa: F401 (registers FillMissing)

    info = json.loads((run_dir / "run.json").read_text())
    inference = keras.saving.load_model(run_dir / features.INFERENCE_FILE, safe_mode=True)
    assert predict.load(run_dir).inference is not None
    frame = new_rows()
    # Raw columns by name (`features.input_key`): NaN is a numeric gap, "" a text gap.
    raw = {
        "size": tf.constant(frame["size"].to_numpy("float32")[:, None]),
        "colour": tf.constant(frame["colour"].fillna("").to_numpy(str)[:, None]),
        "doors": tf.constant(frame["doors"].to_numpy("float32")[:, None]),
        "weight_kg": tf.constant(frame["weight/kg"].to_numpy("float32")[:, None]),
    }
    got = keras.ops.convert_to_numpy(inference(raw))
    space = keras.saving.load_model(run_dir / features.PREPROCESSING_FILE)
    model = keras.saving.load_model(run_dir / "model.keras")
    prepared = features.prepare(frame, info["feature_schema"], Path("new.csv"))
    expected = model.predict(features.encode(space, prepared.inputs), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_command_line_writes_one_row_per_input_row(run_dir, tmp_path, capsys):
    csv = tmp_path / "new.csv"
    new_rows().to_csv(csv, index=False)
    output = tmp_path / "out" / "predictions.csv"
    summary = predict.main([str(run_dir), "--csv", str(csv), "--output", str(output),
                            "--id", "id"])
    written = pd.read_csv(output)
    assert written["id"].tolist() == ["a", "b", "c", "d", "e"]
    assert set(written["prediction"]) <= {"no", "yes"}
    # The accuracy is that of the written predictions against the label column.
    hits = written["prediction"] == new_rows()["label"]
    assert summary["rows"] == 5 and summary["accuracy"] == pytest.approx(hits.mean())
    printed = capsys.readouterr().out
    assert "Against column 'label': accuracy=" in printed
    assert "out-of-vocabulary bucket (colour: 1; doors: 1)" in printed


@pytest.mark.slow
@pytest.mark.parametrize("target", ["price", "p,q"])
def test_regression_and_multilabel(target, tmp_path):
    csv = write_table(tmp_path / "train.csv", target)
    train(tmp_path, csv, target)
    predictor = predict.load(tmp_path / "mlp")
    frame = pd.read_csv(csv).head(7)
    if target == "price":
        result = predictor.predict(frame)
        assert list(result.columns) == ["prediction"]
        assert set(predictor.metrics) == {"mean_absolute_error"}
    else:
        result = predictor.predict(frame, threshold=0.3)
        assert list(result.columns) == ["probability_p", "prediction_p",
                                        "probability_q", "prediction_q"]
        np.testing.assert_array_equal(result["prediction_p"], result["probability_p"] >= 0.3)
        assert set(predictor.metrics) == {"binary_accuracy"}
    assert len(result) == 7


def bad(run_dir, tmp_path, text):
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    return csv


@pytest.mark.slow
@pytest.mark.parametrize(
    "text, match",
    [
        ("", "CSV file '.*bad.csv' is empty"),
        ("size,colour,doors,weight/kg\n", "has a header but no rows"),
        ("size,colour,weight/kg\n1,red,3\n", "lacks column.*'doors'"),
        ("size,colour,doors,weight/kg\n1,red,2,3\n2,red,2,heavy\n",
         "column 'weight/kg': non-numeric value 'heavy' at line 3"),
    ],
)
def test_bad_rows_are_named_and_nothing_is_written(run_dir, tmp_path, text, match):
    output = tmp_path / "predictions.csv"
    with pytest.raises(ValueError, match=match):
        predict.main([str(run_dir), "--csv", str(bad(run_dir, tmp_path, text)),
                      "--output", str(output)])
    assert not output.exists()


@pytest.mark.slow
def test_bad_id_column(run_dir, tmp_path):
    csv = tmp_path / "new.csv"
    new_rows().to_csv(csv, index=False)
    with pytest.raises(ValueError, match="argument `id`.*Received: id='customer'"):
        predict.main([str(run_dir), "--csv", str(csv), "--id", "customer",
                      "--output", str(tmp_path / "p.csv")])


def test_not_a_run_folder(tmp_path):
    for folder in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(ValueError, match="argument `run_dir`: expected a run folder"):
            predict.load(folder)


def test_run_whose_model_does_not_read_tables(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"recipe": "cnn", "task": "classification"}))
    (tmp_path / "model.keras").write_text("")
    with pytest.raises(ValueError, match="'cnn' model that reads neither tables nor image"):
        predict.load(tmp_path)


@pytest.mark.slow
def test_a_later_bundled_data_run_clears_the_table_preprocessing(run_dir, tmp_path):
    folder = tmp_path / "mlp"
    shutil.copytree(run_dir, folder)
    mlp.main(["--smoke", "--quiet", "--epochs", "1", "--hidden-units", "16",
              "--output-dir", str(tmp_path)])
    assert not (folder / features.PREPROCESSING_FILE).exists()
    with pytest.raises(ValueError, match="reads neither tables nor image files"):
        predict.load(folder)


def test_command_line_error_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    # `python -m recipes.predict ...`, run here: its `__main__` code, its exit status.
    output = tmp_path / "p.csv"
    csv = bad(None, tmp_path, "a\n1\n")
    monkeypatch.setattr(sys, "argv", [
        "predict", str(tmp_path / "nowhere"), "--csv", str(csv), "--output", str(output)
    ])
    monkeypatch.delitem(sys.modules, "recipes.predict")  # run afresh, as `-m` does
    with pytest.raises(SystemExit) as raised:
        runpy.run_module("recipes.predict", run_name="__main__", alter_sys=True)
    assert raised.value.code == 2
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if line.startswith("recipes.predict")]
    assert lines == [
        "recipes.predict: error: Invalid value for argument `run_dir`: expected a run "
        "folder with run.json and model.keras (e.g. runs/mlp), or a `recipes.tune "
        "--retrain-best` project (e.g. tuning/mlp). Received: run_dir="
        f"'{tmp_path / 'nowhere'}'"
    ]
    assert "Traceback" not in stderr and not output.exists()


def test_help_does_not_import_tensorflow_and_predict_is_not_a_recipe():
    code = (
        "import runpy, sys; sys.argv = ['predict', '--help']\n"
        "try:\n    runpy.run_module('recipes.predict', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY', 'tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--threshold" in result.stdout and "HEAVY False" in result.stdout
    assert "predict" not in recipes.list_recipes()
    assert "predict" in recipes.list_commands()


# ## Autoencoder runs: reconstruction error per row


def train_autoencoder(recipe, out, csv):
    recipe.main(["--smoke", "--quiet", "--epochs", "1", "--hidden-units", "16",
                 "--latent-dim", "2", "--output-dir", str(out), "--csv", str(csv),
                 "--target", "label"])


def expected_errors(run_dir, frame):
    """Per-row MSE by hand: the rows encoded by the run's own preprocessing.keras."""
    info = json.loads((run_dir / "run.json").read_text())
    space = keras.saving.load_model(run_dir / features.PREPROCESSING_FILE)
    model = keras.saving.load_model(run_dir / "model.keras")
    prepared = features.prepare(frame, info["feature_schema"], Path("new.csv"))
    x = features.encode(space, prepared.inputs)
    reconstruction = model.predict(x, verbose=0).reshape(x.shape)
    return ((x - reconstruction) ** 2).mean(axis=1)


@pytest.fixture(scope="session")
def autoencoder_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict_autoencoder")
    train_autoencoder(autoencoder, folder / "runs", write_table(folder / "train.csv"))
    return folder / "runs" / "autoencoder"


@pytest.mark.slow
def test_autoencoder_reconstruction_error_matches_the_model(autoencoder_run):
    info = json.loads((autoencoder_run / "run.json").read_text())
    assert info["task"] == "reconstruction" and info["recipe"] == "autoencoder"
    assert info["target"] == [] and info["class_names"] == []
    kinds = {c["name"]: c["kind"] for c in info["feature_schema"]["columns"]}
    assert kinds == {"size": "numeric", "colour": "text", "doors": "integer",
                     "weight/kg": "numeric"}  # label left out with --target
    predictor = predict.load(autoencoder_run)
    frame = new_rows()  # shuffled columns, plus id, extra and label
    result = predictor.predict(frame, id_column="id")
    assert list(result.columns) == ["id", "reconstruction_error"]
    assert result["id"].tolist() == frame["id"].tolist()
    expected = expected_errors(autoencoder_run, frame)
    np.testing.assert_allclose(result["reconstruction_error"], expected, rtol=1e-5, atol=1e-7)
    assert (result["reconstruction_error"] > 0).all()
    assert any("2 value(s) unseen" in note for note in predictor.notes)
    assert any("Filled 2 missing" in note for note in predictor.notes)
    assert predictor.metrics == {}  # no target: the label column is ignored
    shuffled = predictor.predict(frame[frame.columns[::-1]])
    np.testing.assert_allclose(shuffled["reconstruction_error"], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_autoencoder_bad_rows_are_named(autoencoder_run, tmp_path):
    output = tmp_path / "predictions.csv"
    for text, match in [("size,colour,weight/kg\n1,red,3\n", "lacks column.*'doors'"),
                        ("size,colour,doors,weight/kg\n", "has a header but no rows")]:
        with pytest.raises(ValueError, match=match):
            predict.main([str(autoencoder_run), "--csv", str(bad(None, tmp_path, text)),
                          "--output", str(output)])
    assert not output.exists()


@pytest.mark.slow
def test_denoising_autoencoder_command_line_one_row_per_input(tmp_path, capsys):
    train_autoencoder(denoising_autoencoder, tmp_path / "runs",
                      write_table(tmp_path / "train.csv"))
    run_dir = tmp_path / "runs" / "denoising_autoencoder"
    assert json.loads((run_dir / "run.json").read_text())["task"] == "reconstruction"
    frame = pd.concat([new_rows()] * 3, ignore_index=True)
    frame["id"] = [f"row{i}" for i in range(len(frame))]
    csv = tmp_path / "new.csv"
    frame.to_csv(csv, index=False)
    output = tmp_path / "errors.csv"
    report = predict.main([str(run_dir), "--csv", str(csv), "--output", str(output),
                           "--id", "id"])
    written = pd.read_csv(output)
    assert list(written.columns) == ["id", "reconstruction_error"]
    assert written["id"].tolist() == frame["id"].tolist()
    # No corruption at inference: the clean rows' reconstruction error.
    expected = expected_errors(run_dir, pd.read_csv(csv))
    np.testing.assert_allclose(written["reconstruction_error"], expected, rtol=1e-4, atol=1e-6)
    assert report["rows"] == 15
    assert report["mean_reconstruction_error"] == pytest.approx(expected.mean(), rel=1e-4)
    assert "Mean reconstruction error:" in capsys.readouterr().out


@pytest.mark.slow
def test_tune_retrained_best_predicts_on_raw_rows(tmp_path):
    from recipes import tune

    csv = write_table(tmp_path / "train.csv")
    tune.main(["--model", "mlp", "--smoke", "--quiet", "--epochs", "1", "--max-trials", "1",
               "--directory", str(tmp_path / "tuning"), "--csv", str(csv), "--target", "label",
               "--retrain-best"])
    project = tmp_path / "tuning" / "mlp"
    info = json.loads((project / "run.json").read_text())
    assert info["recipe"] == "tune" and info["model_file"] == "best_model.keras"
    assert info["class_names"] == ["no", "yes"]
    predictor = predict.load(project)
    frame = new_rows()
    result = predictor.predict(frame)
    model = keras.saving.load_model(project / "best_model.keras")
    space = keras.saving.load_model(project / features.PREPROCESSING_FILE)
    prepared = features.prepare(frame, info["feature_schema"], Path("new.csv"))
    expected = model.predict(features.encode(space, prepared.inputs), verbose=0)
    np.testing.assert_allclose(result[["probability_no", "probability_yes"]], expected,
                               rtol=1e-5, atol=1e-6)
    assert set(predictor.metrics) == {"accuracy"}


def test_accuracy_against_an_integer_label_column_counts_hits_and_skips_gaps():
    scorer = predict.Predictor.__new__(predict.Predictor)  # only the scoring state
    scorer.task, scorer.targets = "classification", ["label"]
    frame = pd.DataFrame({"label": [0, 1, 1, None, 2.0]})
    result = pd.DataFrame({"prediction": ["0", "1", "0", "1", "2"]})
    assert scorer._score(frame, result) == {"accuracy": 0.75}  # 3 of the 4 known rows
