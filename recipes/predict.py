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

from recipes.common import flags, runtime
from recipes.common.predictors import ImagePredictor, Predictor, SequencePredictor
from recipes.common.runs import format_metrics

TABLE_TASKS = ("classification", "regression", "multilabel", "reconstruction")


def _threshold(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return value


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
