"""What `recipes.predict` applies a run's model with: one predictor per kind of data.

`Predictor` (a CSV table: the run's `FeatureSpace` and schema),
`ImagePredictor` (image files and folders) and `SequencePredictor` (a
sequences file, preprocessed by the statistics in `run.json`).
`recipes.predict.load(run_dir)` builds the one a run folder needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
