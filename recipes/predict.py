"""Predict: apply a trained run's model to new rows of a CSV table, new images or sequences.

A command, not a training recipe. `python -m recipes.mlp --csv ...` (and
`python -m recipes.autoencoder --csv ...` or `recipes.denoising_autoencoder`)
leaves in its run folder the model (`model.keras`), the fitted Keras `FeatureSpace`
that turns raw columns into its inputs (`preprocessing.keras`) and the
table's schema, target and class names (`run.json`). This applies all three
to new rows: columns are matched by name in any order, extra columns are
ignored, gaps are filled as in training, and a category the training rows
never had goes to the out-of-vocabulary bucket (counted in a one-line note).

Output, one row per input row, in input order (with the `--id` column first):
classification: `prediction` (the class name as in the training CSV) and
`probability_<class>`; regression: `prediction` in the target's units;
multi-label: `probability_<label>` and `prediction_<label>` (0/1 at
`--threshold`); autoencoder (task reconstruction): `reconstruction_error`,
the row's mean squared error between its encoded features (standardised
numbers, one-hot categories) and the model's reconstruction of them, an
anomaly score (the column left out with `--target` in training is ignored).
If the target column is present, the metric against it is printed
(accuracy, mean absolute error, binary accuracy).

Run:
    python -m recipes.mlp --csv churn.csv --target churn
    python -m recipes.predict runs/mlp --csv next_month.csv --output predictions.csv
    python -m recipes.predict runs/mlp --csv next_month.csv --id customer_id
    python -m recipes.autoencoder --csv sensors.csv --target label
    python -m recipes.predict runs/autoencoder --csv today.csv --id sensor_id
    python -m recipes.tune --model mlp --csv churn.csv --target churn --retrain-best
    python -m recipes.predict tuning/mlp --csv next_month.csv   # the retrained best

Images: a run trained with `--images` (cnn, gmlp, transfer_learning) labels
image files and folders (recursively): one row per file, `path`,
`prediction` (the class name) and `probability_<class>`. Images of any size
and colour mode are converted as in training; unreadable files are listed
(an `error` column), not fatal. `--tta N` averages each prediction over N
augmented copies too (test-time augmentation). Files inside folders named
after the classes are also scored (accuracy).

    python -m recipes.cnn --images photos/ --image-size 64 64
    python -m recipes.predict runs/cnn --images new_photos/ --output labels.csv
    python -m recipes.predict runs/cnn --images a.jpg b.png --tta 8

Sequences: a run trained with `--sequences` (recipes.rnn) reads a `.ts`, wide
or long CSV or `.npz` file (`--id`, `--time` and `--target` default to the
training run's; a target column is ignored) and preprocesses it as in
training, by the statistics in its `run.json`: gaps interpolated, channels
standardised, padded to the training length. One row per series: its id (or
`index`), `prediction` (the class name as in the training file, or the value
in the target's units) and `probability_<class>`.

    python -m recipes.rnn --sequences train.ts --test-sequences test.ts
    python -m recipes.predict runs/rnn --sequences new.ts --output predictions.csv
    python -m recipes.predict runs/rnn --sequences steps.csv --id patient

From Python:
    from recipes import predict
    frame = predict.load("runs/mlp").predict(new_rows)   # a pandas DataFrame
    frame = predict.load("runs/rnn").predict("new.ts")   # a file, or arrays
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recipes.common import flags, runtime
from recipes.common.runs import format_metrics

TABLE_TASKS = ("classification", "regression", "multilabel", "reconstruction")


def _threshold(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return value


class Predictor:
    """A run's model with its table preprocessing: raw rows in, predictions out.

    Build one with `load(run_dir)`.

    Attributes:
        run_dir: the run folder.
        info: its `run.json` (task, class names, target, feature schema, ...).
        model: the trained `keras.Model` (encoded features in).
        preprocessing: the fitted `keras.utils.FeatureSpace` (raw columns in).
        inference: on TensorFlow, the run's `inference.keras` (raw columns
            in, the FeatureSpace inside), which `predict` then uses;
            otherwise `None`.
        notes: after `predict`, lines about filled gaps and unseen categories.
        metrics: after `predict`, the metric against the target column, if
            the rows had it.
    """

    def __init__(
        self, run_dir: Path, info: dict[str, Any], model, preprocessing, inference=None
    ):
        self.run_dir = Path(run_dir)
        self.inference = inference
        self.info = info
        self.model = model
        self.preprocessing = preprocessing
        self.schema = info["feature_schema"]
        self.task = info["task"]
        self.class_names = [str(name) for name in info.get("class_names") or []]
        self.targets = list(self.schema.get("target") or info.get("target") or [])
        self.notes: list[str] = []
        self.metrics: dict[str, float] = {}

    def predict(
        self,
        frame,
        *,
        threshold: float = 0.5,
        id_column: str | None = None,
        source: str = "<DataFrame>",
    ):
        """Predictions for the raw rows of `frame` (a pandas DataFrame).

        Args:
            frame: rows with (at least) the training CSV's feature columns,
                in any order.
            threshold: multi-label: probability from which a label is 1.
            id_column: a column of `frame` to copy first into the output.
            source: the file name used in error messages.

        Returns:
            A DataFrame, one row per input row, in input order (for an
            autoencoder run: its `reconstruction_error` column).

        Raises:
            ValueError: for no rows, a missing column or a non-numeric value
                in a numeric column (naming file, column and line).
        """
        import numpy as np
        import pandas as pd

        from recipes.common.data import features

        if len(frame) == 0:
            raise ValueError(f"CSV file {source!r} has no rows.")
        if id_column is not None and id_column not in frame.columns:
            raise ValueError(
                f"Invalid value for argument `id`: expected a column of CSV file {source!r}. "
                f"Columns: {', '.join(map(str, frame.columns))}. Received: id={id_column!r}"
            )
        frame = frame.reset_index(drop=True)
        prepared = features.prepare(frame, self.schema, Path(source))
        if self.inference is not None:  # raw columns in, gaps filled in the model
            import tensorflow as tf  # string inputs: a tf.data pipeline

            raw = features.raw_inputs(frame, self.schema, Path(source))
            batches = tf.data.Dataset.from_tensor_slices(raw).batch(1024)
            scores = np.asarray(self.inference.predict(batches, verbose=0))
        else:
            x = features.encode(self.preprocessing, prepared.inputs)
            scores = np.asarray(self.model.predict(x, batch_size=1024, verbose=0))
        self.notes = [
            line
            for line in (
                features.describe_filled(prepared, self.schema),
                features.describe_unseen(prepared),
            )
            if line
        ]
        result = pd.DataFrame(index=frame.index)
        if id_column is not None:
            result[id_column] = frame[id_column]
        if self.task == "classification":
            names = np.array(self.class_names, dtype=object)
            result["prediction"] = names[np.argmax(scores, axis=-1)]
            for index, name in enumerate(self.class_names):
                result[f"probability_{name}"] = scores[:, index]
        elif self.task == "reconstruction":
            # Per-row MSE in the encoded (standardised, one-hot) feature space.
            squared = np.square(x - scores.reshape(x.shape))
            result["reconstruction_error"] = squared.mean(axis=-1).astype("float64")
        elif self.task == "regression":
            result["prediction"] = scores[:, 0]
            for index, name in enumerate(self.targets[1:], start=1):
                result[f"prediction_{name}"] = scores[:, index]
        else:
            for index, name in enumerate(self.targets):
                result[f"probability_{name}"] = scores[:, index]
                result[f"prediction_{name}"] = (scores[:, index] >= threshold).astype("int64")
        self.metrics = self._score(frame, result)
        return result

    def _score(self, frame, result) -> dict[str, float]:
        """The metric against the target column(s) present in `frame`."""
        import numpy as np
        import pandas as pd

        present = [name for name in self.targets if name in frame.columns]
        if not present:
            return {}
        if self.task == "classification":
            truth = frame[present[0]]
            known = truth.notna().to_numpy()
            numbers = pd.to_numeric(truth, errors="coerce")
            if numbers[known].notna().all() and np.all(np.mod(numbers[known], 1) == 0):
                truth = numbers.where(known, 0).astype("int64")  # 1.0 -> "1"; gaps: 0
            labels = truth.astype(str).to_numpy()
            hits = labels[known] == result["prediction"].to_numpy()[known]
            return {"accuracy": float(hits.mean())} if known.any() else {}
        if self.task == "regression":
            truth = pd.to_numeric(frame[present[0]], errors="coerce").to_numpy()
            known = ~np.isnan(truth)
            error = np.abs(truth - result["prediction"].to_numpy())[known]
            return {"mean_absolute_error": float(error.mean())} if known.any() else {}
        hits = []
        for name in present:
            truth = pd.to_numeric(frame[name], errors="coerce").to_numpy()
            known = ~np.isnan(truth)
            hits.append(truth[known] == result[f"prediction_{name}"].to_numpy()[known])
        hits = np.concatenate(hits)
        return {"binary_accuracy": float(hits.mean())} if len(hits) else {}


class ImagePredictor:
    """A run's image classifier: image files in, class probabilities out.

    Build one with `load(run_dir)` on a run trained with `--images` (cnn,
    gmlp, transfer_learning). Its `model.keras` takes raw images (resizing
    and pixel scaling are layers inside); files are read as in training
    (`images.file_dataset`: any size and colour mode, converted).

    Attributes:
        run_dir: the run folder.
        info: its `run.json`.
        model: the trained `keras.Model`.
        class_names: the training folder's class names.
        notes: after `predict`, lines about unreadable files.
        metrics: after `predict`, the accuracy where every image sits in a
            folder named after its class.
    """

    def __init__(self, run_dir: Path, info: dict[str, Any], model):
        self.run_dir = Path(run_dir)
        self.info = info
        self.model = model
        self.class_names = [str(name) for name in info["class_names"]]
        self.image_size = tuple(info["images"]["image_size"])
        self.color_mode = info["images"]["color_mode"]
        self.notes: list[str] = []
        self.metrics: dict[str, float] = {}

    def predict(self, paths, *, tta: int = 0, batch_size: int = 64, seed: int = 0):
        """Predictions for image files, and the files of folders (recursively).

        Args:
            paths: image files and folders, in the output's order.
            tta: average over this many augmented copies too (test-time
                augmentation, `evaluation.predict`); 0 is off.
            batch_size: images per batch.
            seed: of the augmentations.

        Returns:
            A DataFrame, one row per file: `path`, `prediction` (a class
            name) and `probability_<class>`; an unreadable file's row has
            its reason in `error` and no prediction.

        Raises:
            ValueError: a path that does not exist, or no files at all.
        """
        import numpy as np
        import pandas as pd

        from recipes.common import evaluation
        from recipes.common.data import images

        files = []
        for path in map(Path, paths):
            if path.is_dir():
                files.extend(images.list_images(path))
            elif path.is_file():
                files.append(path)
            else:
                raise ValueError(
                    "Invalid value for argument `images`: expected image files or "
                    f"folders. Received: images={str(path)!r} (no such file or folder)"
                )
        if not files:
            raise ValueError(f"Invalid value for argument `images`: no files in {list(paths)}.")
        errors = {str(file): images.check_image(file)[1] for file in files}
        readable = [name for name, error in errors.items() if error is None]
        result = pd.DataFrame({"path": [str(file) for file in files]})
        result["prediction"] = None
        probabilities = np.full((len(files), len(self.class_names)), np.nan)
        if readable:
            batches = images.file_dataset(readable, image_size=self.image_size,
                                          color_mode=self.color_mode, batch_size=batch_size)
            scores = evaluation.predict(self.model, batches, tta=tta, seed=seed)
            rows = result.index[result["path"].map(errors).isna()]
            probabilities[rows] = scores
            names = np.array(self.class_names, dtype=object)
            result.loc[rows, "prediction"] = names[np.argmax(scores, axis=-1)]
        for index, name in enumerate(self.class_names):
            result[f"probability_{name}"] = probabilities[:, index]
        bad = {name: error for name, error in errors.items() if error is not None}
        self.notes = []
        if bad:
            result["error"] = result["path"].map(bad).fillna("")
            shown = "; ".join(f"{name}: {error}" for name, error in list(bad.items())[:5])
            more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
            self.notes.append(f"{len(bad)} of {len(files)} files not predicted "
                              f"(see the error column): {shown}{more}")
        # Files in folders named after the classes: the accuracy against them.
        truth = [Path(name).parent.name for name in readable]
        self.metrics = {}
        if readable and all(label in self.class_names for label in truth):
            predicted = result.loc[result["path"].isin(readable), "prediction"].to_numpy()
            self.metrics = {"accuracy": float(np.mean(predicted == np.array(truth)))}
        return result


class SequencePredictor:
    """A run's sequence model with its preprocessing: series in, predictions out.

    Build one with `load(run_dir)` on a run trained with `--sequences`
    (recipes.rnn). `run.json`'s `sequences` holds what training fitted and
    `recipes.common.data.sequences.prepare_sequences` applies: the channels,
    their mean and std, the padding (length, pad value, mask) and the id,
    time and target column names.

    Attributes:
        run_dir: the run folder.
        info: its `run.json`.
        model: the trained `keras.Model` (padded, standardised series in).
        fields: `info["sequences"]`.
        notes: after `predict`, a line about filled gaps.
    """

    def __init__(self, run_dir: Path, info: dict[str, Any], model):
        self.run_dir = Path(run_dir)
        self.info = info
        self.model = model
        self.fields = info["sequences"]
        self.task = info["task"]
        self.class_names = [str(name) for name in info.get("class_names") or []]
        self.notes: list[str] = []

    def predict(
        self,
        sequences,
        *,
        id_column: str | None = None,
        time_column: str | None = None,
        target: str | None = None,
        batch_size: int = 256,
    ):
        """Predictions for the series of a file, or of arrays.

        Args:
            sequences: a `.ts`, `.csv`, `.tsv`, `.txt` or `.npz` file; or
                arrays, `(series, steps[, channels])` or a list of
                `(steps[, channels])`, NaN where missing.
            id_column, time_column, target: a CSV file's series id (then it
                is long), time and target columns; default: the training
                run's. A target column is ignored.
            batch_size: series per batch.

        Returns:
            A DataFrame, one row per series in file order: the id (or
            `index`), `prediction`, and for a classifier `probability_<class>`.

        Raises:
            ValueError: naming the file, the series and the value (see
                `read_sequences`, `prepare_sequences`).
        """
        import numpy as np
        import pandas as pd

        from recipes.common.data import sequences as reader

        fields = self.fields
        if isinstance(sequences, (str, Path)):
            id_column = id_column or fields["id_column"]
            raw = reader.read_sequences(
                sequences, target=target or fields["target"], id_column=id_column,
                time_column=time_column or (fields["time_column"] if id_column else None),
                channels=fields["channels"] if fields["format"] == "long csv" and id_column
                else None, labels=False)
        else:
            raw = reader.from_arrays(sequences)
        if not raw.series:
            raise ValueError(f"Sequences file {str(raw.path)!r} holds no series.")
        x = reader.prepare_sequences(raw, fields)
        scores = np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0))
        gaps = sum(int(np.isnan(values).sum()) for values in raw.series)
        self.notes = [f"Filled {gaps} missing value(s) by linear interpolation within "
                      "their series."] if gaps else []
        result = pd.DataFrame({raw.id_name: raw.ids})
        if self.task == "classification":
            names = np.array(self.class_names, dtype=object)
            result["prediction"] = names[np.argmax(scores, axis=-1)]
            for index, name in enumerate(self.class_names):
                result[f"probability_{name}"] = scores[:, index]
        else:
            result["prediction"] = scores[:, 0]
        return result


def load(run_dir: str | Path) -> Predictor | ImagePredictor | SequencePredictor:
    """The `Predictor` of a run folder trained on a CSV table (e.g. `runs/mlp`,
    `runs/autoencoder`, or `tuning/mlp` after `recipes.tune --retrain-best`),
    the `ImagePredictor` of one trained on `--images` (e.g. `runs/cnn`), or
    the `SequencePredictor` of one trained on `--sequences` (`runs/rnn`).

    Loads `model.keras` and `preprocessing.keras` with
    `keras.saving.load_model(..., safe_mode=True)` under the current backend,
    and on TensorFlow the run's `inference.keras` (raw columns in).

    Raises:
        ValueError: if `run_dir` is not a run folder, or its model was not
            trained on a table or an image folder.
    """
    import keras

    import zoo  # noqa: F401 (registers the zoo's layers)
    from recipes.common.data import features
    from recipes.common.runs import run_info

    run_dir = Path(run_dir)
    info = run_info(run_dir) if run_dir.is_dir() else {}
    model_file = run_dir / info.get("model_file", "model.keras")
    if not info or not model_file.is_file():
        raise ValueError(
            "Invalid value for argument `run_dir`: expected a run folder with run.json "
            "and model.keras (e.g. runs/mlp), or a `recipes.tune --retrain-best` project "
            f"(e.g. tuning/mlp). Received: run_dir={str(run_dir)!r}"
        )
    if info.get("images"):
        return ImagePredictor(run_dir, info, keras.saving.load_model(model_file, safe_mode=True))
    if info.get("sequences"):
        return SequencePredictor(run_dir, info,
                                 keras.saving.load_model(model_file, safe_mode=True))
    preprocessing = run_dir / features.PREPROCESSING_FILE
    if not info.get("feature_schema") or not preprocessing.is_file():
        raise ValueError(
            f"Run folder {str(run_dir)!r} holds a {info.get('recipe', 'model')!r} model that "
            "reads neither tables nor image files nor sequences (it was not trained with "
            "--csv, --images or --sequences); predict needs one that does."
        )
    if info.get("task") not in TABLE_TASKS:
        raise ValueError(
            f"Run folder {str(run_dir)!r}: predict does not handle task "
            f"{info.get('task')!r} yet; expected one of {TABLE_TASKS}."
        )
    inference = None
    if keras.backend.backend() == "tensorflow" and (run_dir / features.INFERENCE_FILE).is_file():
        from recipes.common.data import table_layers  # noqa: F401 (registers its layers)

        inference = keras.saving.load_model(run_dir / features.INFERENCE_FILE, safe_mode=True)
    return Predictor(
        run_dir,
        info,
        keras.saving.load_model(model_file, safe_mode=True),
        keras.saving.load_model(preprocessing, safe_mode=True),
        inference,
    )


def main(argv: list[str] | None = None) -> dict:
    summary, _, rest = __doc__.strip().partition("\n")
    parser = argparse.ArgumentParser(
        prog="python -m recipes.predict",
        description=summary,
        epilog=rest.strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a run folder, e.g. runs/mlp")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--csv", type=Path, help="the rows to predict")
    data.add_argument("--images", type=Path, nargs="+",
                      help="image files or folders to classify (an --images run)")
    data.add_argument("--sequences", type=Path,
                      help="a .ts, wide or long CSV, or .npz file of series (a --sequences run)")
    parser.add_argument("--output", type=Path, default=Path("predictions.csv"))
    parser.add_argument("--id", help="a column of --csv to copy into the output; --sequences: "
                                     "the series id column of a long CSV (default: the run's)")
    parser.add_argument("--time", help="--sequences: a long CSV's time column "
                                       "(default: the run's)")
    parser.add_argument("--target", help="--sequences: the target column, ignored "
                                         "(default: the run's)")
    parser.add_argument("--threshold", type=_threshold, default=0.5,
                        help="multi-label: probability from which a label is 1")
    parser.add_argument("--tta", type=flags.non_negative_int, default=0,
                        help="images: average over N augmented copies too")
    parser.add_argument("--batch-size", type=flags.positive_int, default=64)
    parser.add_argument(
        "--backend",
        choices=flags.BACKENDS,
        default=None,
        help="Keras backend (default: $KERAS_BACKEND or tensorflow; a run trained on "
             "either loads on either)",
    )
    args = parser.parse_args(argv)
    # Not a training run (no `Run`): the backend and the seed of --tta only.
    runtime.setup(argparse.Namespace(backend=args.backend, seed=0))

    from recipes.common import artifacts
    from recipes.common.data import read_csv

    for name in ("time", "target"):
        if args.sequences is None and getattr(args, name) is not None:
            raise ValueError(f"Invalid value for argument `{name}`: --{name} applies to "
                             f"--sequences only. Received: {name}={getattr(args, name)!r}")
    predictor = load(args.run_dir)
    trained_on = {ImagePredictor: "images", SequencePredictor: "sequences"}.get(
        type(predictor), "csv")
    given = next(name for name in ("csv", "images", "sequences") if getattr(args, name))
    if trained_on != given:
        what = {"csv": "a table", "images": "image files", "sequences": "sequences"}
        raise ValueError(
            f"Run folder {str(args.run_dir)!r} was trained on {what[trained_on]}: "
            f"use --{trained_on}."
        )
    if args.sequences is not None:
        result = predictor.predict(args.sequences, id_column=args.id, time_column=args.time,
                                   target=args.target, batch_size=args.batch_size)
        for note in predictor.notes:
            print(note)
        artifacts.write_csv(args.output, result)
        print(f"Wrote {len(result)} predictions to {args.output}")
        return {"rows": len(result), "output": str(args.output)}
    if args.images is not None:
        result = predictor.predict(args.images, tta=args.tta, batch_size=args.batch_size)
        for note in predictor.notes:
            print(note)
        artifacts.write_csv(args.output, result)
        print(f"Wrote {result['prediction'].notna().sum()} predictions to {args.output}")
        if predictor.metrics:
            print(f"Against the class folders: {format_metrics(predictor.metrics)}")
        return {"rows": len(result), "output": str(args.output), **predictor.metrics}
    frame = read_csv(args.csv)
    result = predictor.predict(
        frame, threshold=args.threshold, id_column=args.id, source=str(args.csv)
    )
    for note in predictor.notes:
        print(note)
    artifacts.write_csv(args.output, result)
    print(f"Wrote {len(result)} predictions to {args.output}")
    if predictor.metrics:
        column = ",".join(name for name in predictor.targets if name in frame.columns)
        print(f"Against column {column!r}: {format_metrics(predictor.metrics)}")
    report = {"rows": len(result), "output": str(args.output), **predictor.metrics}
    if "reconstruction_error" in result:
        report["mean_reconstruction_error"] = float(result["reconstruction_error"].mean())
        print(f"Mean reconstruction error: {report['mean_reconstruction_error']:.4f}")
    return report


if __name__ == "__main__":
    flags.run(main)
