"""Bundled datasets, your CSV tables and image folders, split for training.

Everything here loads offline: the digits ship with the project
(`recipes/data/digits.npz`, scikit-learn's copy), wine and breast cancer with
scikit-learn. Splits are stratified and deterministic for a seed (scikit-
learn's `train_test_split`, reproduced in NumPy for the common case: see
`split()`); scaling is fitted on the training split only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

BUNDLED = ("digits", "wine", "breast_cancer")
VIEWS = ("flat", "image", "sequence")
# The one map from a zoo model's input kind (`zoo.get_spec(name).input_kind`)
# to the view of the bundled digits it takes; pairs are built from vectors.
INPUT_VIEWS = {"vector": "flat", "image": "image", "sequence": "sequence", "pair": "flat"}
TASKS = ("classification", "regression", "multilabel")


@dataclasses.dataclass
class Dataset:
    """Train, validation and test arrays plus what a model needs to know.

    Attributes:
        name: dataset name, or the CSV path.
        task: `"classification"`, `"regression"` or `"multilabel"`.
        num_outputs: classes, labels or regression targets.
        class_names: names of the classes (classification) or target columns.
        feature_names: column names of the features, where they have names.
        scale: `(mean, std)` of a standardised series target, to undo it.
        preprocessing: for a CSV table, the `keras.utils.FeatureSpace` fitted
            on its training split (raw columns to `x`); else `None`.
        schema: for a CSV table, its columns' kinds, medians and categories
            and the target (`recipes.common.tables`); else `None`.
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_outputs: int
    class_names: list[str]
    feature_names: list[str] = dataclasses.field(default_factory=list)
    scale: tuple[float, float] | None = None
    preprocessing: Any = None
    schema: dict[str, Any] | None = None

    @classmethod
    def from_split(cls, name: str, task: str, parts: tuple, **fields) -> Dataset:
        """A `Dataset` from `split()`'s six arrays and the remaining fields."""
        x_train, y_train, x_val, y_val, x_test, y_test = parts
        return cls(name, task, x_train, y_train, x_val, y_val, x_test, y_test, **fields)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def subsample(self, train: int, evaluation: int) -> Dataset:
        """The first `train` training and `evaluation` val/test samples (for --smoke)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:train],
            y_train=self.y_train[:train],
            x_val=self.x_val[:evaluation],
            y_val=self.y_val[:evaluation],
            x_test=self.x_test[:evaluation],
            y_test=self.y_test[:evaluation],
        )


def view_for(input_kind: str) -> str:
    """The view of the bundled digits (`"flat"`, `"image"`, `"sequence"`) a model
    of `input_kind` takes."""
    if input_kind not in INPUT_VIEWS:
        raise _invalid("input_kind", f"one of {tuple(INPUT_VIEWS)}", input_kind)
    return INPUT_VIEWS[input_kind]


def _invalid(name: str, expected: str, value) -> ValueError:
    return ValueError(
        f"Invalid value for argument `{name}`: expected {expected}. "
        f"Received: {name}={value!r}"
    )


def split(x, y, *, seed: int, stratify: bool = True, val_size=0.15, test_size=0.15):
    """Deterministic train/validation/test split (70/15/15 by default).

    Stratified when every class has 3 or more samples. The same split as
    two calls of scikit-learn's `train_test_split` (test, then validation
    from the rest), computed by `_train_test_indices` without importing
    scikit-learn (which imports SciPy: a large share of a short run's
    start-up); labels it does not cover go to scikit-learn itself.
    """

    def strata(labels):
        if not stratify:
            return None
        _, counts = np.unique(labels, return_counts=True)
        return labels if counts.min() >= 3 else None

    def parts(arrays, test_fraction, labels):
        indices = _train_test_indices(len(arrays[0]), test_fraction, seed, labels)
        if indices is None:
            from sklearn.model_selection import train_test_split

            return train_test_split(
                *arrays, test_size=test_fraction, random_state=seed, stratify=labels
            )
        train, test = indices
        return [part for array in arrays for part in (array[train], array[test])]

    x_rest, x_test, y_rest, y_test = parts((x, y), test_size, strata(y))
    x_train, x_val, y_train, y_val = parts(
        (x_rest, y_rest), val_size / (1 - test_size), strata(y_rest)
    )
    return x_train, y_train, x_val, y_val, x_test, y_test


def _train_test_indices(n_samples: int, test_size: float, seed: int, labels=None):
    """The `(train, test)` indices of scikit-learn's `train_test_split(...,
    test_size=test_size, random_state=seed, stratify=labels)`: its
    `ShuffleSplit`, or its `StratifiedShuffleSplit` for one-dimensional
    integer `labels`, step for step on a `np.random.RandomState(seed)`
    (tests check both against scikit-learn). `None` for the cases left to
    scikit-learn (other labels, a split it refuses)."""
    import math

    rng = np.random.RandomState(seed)
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    if labels is None:
        permutation = rng.permutation(n_samples)
        return permutation[n_test:], permutation[:n_test]
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        return None
    _, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_train, n_test) < len(counts):
        return None
    by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    train_counts = _approximate_mode(counts, n_train, rng)
    test_counts = _approximate_mode(counts - train_counts, n_test, rng)
    train, test = [], []
    for members, n_i, t_i in zip(by_class, train_counts, test_counts):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        train.extend(shuffled[:n_i])
        test.extend(shuffled[n_i:n_i + t_i])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng) -> np.ndarray:
    """Samples per class when drawing `n_draws` (scikit-learn's
    `utils.extmath._approximate_mode`): the floored proportional share, the
    rest given by largest remainder, ties broken at random."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


DIGITS = Path(__file__).parent.parent / "data" / "digits.npz"


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits: 1,797 8x8 images (`(1797, 64)` float32, pixel
    values 0-16) and their labels (int64).

    The same arrays as `sklearn.datasets.load_digits()` (the test set of
    UCI's optical recognition of handwritten digits; tests compare the
    two), kept in the project so that a default run does not import
    scikit-learn.
    """
    with np.load(DIGITS) as arrays:
        images, labels = arrays["images"], arrays["labels"]
    return images.reshape(len(images), -1).astype("float32"), labels.astype("int64")


def load_dataset(name: str = "digits", *, view: str = "flat", seed: int = 0) -> Dataset:
    """Loads a bundled dataset, split and scaled.

    Args:
        name: `"digits"`, `"wine"` or `"breast_cancer"`.
        view: for digits, `"flat"` (64 features), `"image"` (8x8x1) or
            `"sequence"` (8 steps of 8 pixels); tables only have `"flat"`.
        seed: seed of the split.

    Returns:
        A `Dataset`. Digits pixels are scaled to [0, 1] by the training
        maximum; table features are standardised with training statistics.
    """
    if name not in BUNDLED:
        raise _invalid("dataset", f"one of {BUNDLED}", name)
    if view not in VIEWS:
        raise _invalid("view", f"one of {VIEWS}", view)
    if name != "digits" and view != "flat":
        raise _invalid("view", f"'flat' for the {name} table", view)
    if name == "digits":
        x, y = load_digits()
        class_names = [str(digit) for digit in range(10)]
        feature_names = [f"pixel_{row}_{column}" for row in range(8) for column in range(8)]
    else:
        from sklearn import datasets as sklearn_datasets

        loader = getattr(sklearn_datasets, f"load_{name}")
        bunch = loader()
        x, y = bunch.data.astype("float32"), bunch.target.astype("int64")
        class_names = [str(c) for c in bunch.target_names]
        feature_names = [str(f) for f in bunch.feature_names]
    x_train, y_train, x_val, y_val, x_test, y_test = split(x, y, seed=seed)
    if name == "digits":
        scale = x_train.max()
        x_train, x_val, x_test = (part / scale for part in (x_train, x_val, x_test))
        shape = {"flat": (64,), "image": (8, 8, 1), "sequence": (8, 8)}[view]
        x_train, x_val, x_test = (
            part.reshape((-1,) + shape) for part in (x_train, x_val, x_test)
        )
    else:
        x_train, x_val, x_test = standardize(x_train, x_val, x_test)
    return Dataset.from_split(
        name,
        "classification",
        (x_train, y_train, x_val, y_val, x_test, y_test),
        num_outputs=len(class_names),
        class_names=class_names,
        feature_names=feature_names,
    )


# Validation, test and prediction batches of arrays: the bundled splits (270
# samples) fit in one, so validation, `evaluate` and `predict` each run one
# step of one shape, which JAX traces and compiles once for all three.
EVALUATION_BATCH_SIZE = 512


def fit_inputs(
    data: Dataset, *, batch_size: int, seed: int = 0, full_batches: bool = True
) -> dict:
    """`fit`'s data arguments for `data`'s train and validation splits, the fast way.

    Under TensorFlow: `tf.data` pipelines, cached in memory, the training one
    reshuffled every epoch (seeded) and both batched and prefetched. Keras
    would otherwise rebuild a pipeline from the arrays each epoch: for the
    mlp recipe that is about 40% of an epoch's time (see
    benchmarks/RESULTS.md). Under JAX: the arrays themselves, which Keras
    iterates faster there than a `tf.data` pipeline, in full batches only
    (`full_batches`: see `full_batches_dataset()`). Validation batches hold
    `EVALUATION_BATCH_SIZE` samples.

    An `images.ImageFolder` (streamed `--images`) gives its `tf.data`
    pipelines on either backend: files decoded in batches, never all in memory.

    Use as `model.fit(**fit_inputs(data, batch_size=64), epochs=10)`.
    """
    import keras

    from recipes.common import images

    if isinstance(data, images.ImageFolder):
        return {
            "x": data.dataset("train", batch_size=batch_size, shuffle=True, seed=seed),
            "validation_data": data.dataset("val", batch_size=batch_size),
            "shuffle": False,
        }

    if keras.backend.backend() != "tensorflow":
        validation = {"validation_data": (data.x_val, data.y_val),
                      "validation_batch_size": EVALUATION_BATCH_SIZE}
        if full_batches:
            train = full_batches_dataset(data.x_train, data.y_train, batch_size, seed=seed)
            return {"x": train, "shuffle": False, **validation}
        return {"x": data.x_train, "y": data.y_train, "batch_size": batch_size, **validation}
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
        .cache()
        .shuffle(len(data.x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = (
        tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val))
        .batch(EVALUATION_BATCH_SIZE)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )
    # shuffle=False: the pipeline shuffles (fit's own flag would only warn).
    return {"x": train, "validation_data": validation, "shuffle": False}


def full_batches_dataset(x, y, batch_size: int, *, seed: int = 0):
    """The training arrays as a `keras.utils.PyDataset` of full batches only,
    in a new seeded order every epoch.

    Under JAX, each batch shape is a step that XLA compiles, and the last
    partial batch of an epoch is a second one: dropping it (a random
    `len(x) % batch_size` samples each epoch, fewer than a batch) compiles
    the training step once. Keras' `fit` has no `drop_remainder` for arrays,
    hence this. With fewer samples than `batch_size`, one batch of them all.
    """
    import keras

    class FullBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))
            self.size = min(batch_size, len(x))

        def __len__(self):
            return len(x) // self.size

        def __getitem__(self, index):
            chosen = self.order[index * self.size:(index + 1) * self.size]
            return x[chosen], y[chosen]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

    return FullBatches()


# Test batches of a streamed image folder: decoded images, so fewer at once.
STREAMED_EVALUATION_BATCH_SIZE = 256


def evaluation_inputs(data, *, batch_size: int | None = None) -> dict:
    """`evaluate`'s (and `predict`'s `x`) data arguments for `data`'s test split.

    Arrays for a `Dataset`, in batches of `EVALUATION_BATCH_SIZE`; for an
    `images.ImageFolder`, its test pipeline (in file order, so predictions
    line up with `data.y_test`), in batches of
    `STREAMED_EVALUATION_BATCH_SIZE`. `batch_size` overrides either.

    Use as `model.evaluate(**evaluation_inputs(data))`.
    """
    from recipes.common import images

    if isinstance(data, images.ImageFolder):
        size = batch_size or STREAMED_EVALUATION_BATCH_SIZE
        return {"x": data.dataset("test", batch_size=size)}
    return {"x": data.x_test, "y": data.y_test,
            "batch_size": batch_size or EVALUATION_BATCH_SIZE}


def evaluation_images(data, indices) -> np.ndarray:
    """Test images `indices` in [0, 1], for plots: array rows, or decoded files."""
    from recipes.common import images

    if isinstance(data, images.ImageFolder):
        return data.images("test", indices)
    return data.x_test[indices]


def standardize(x_train, *others):
    """Zero mean, unit variance with statistics of `x_train` only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple(((part - mean) / std).astype("float32") for part in (x_train, *others))


def _row(index) -> str:
    # Line number in the file: the header is line 1.
    return f"line {int(index) + 2}"


def load_csv(
    path: str | Path,
    target: str,
    *,
    task: str | None = None,
    seed: int = 0,
    missing: str = "fill",
) -> Dataset:
    """Loads a user's CSV table: numeric and categorical features, one target.

    Features are encoded by a `keras.utils.FeatureSpace` fitted on the
    training split only (see `recipes.common.tables`): numeric columns are
    normalised, text and integer categories (booleans, integers with at most
    10 distinct values) are looked up with an out-of-vocabulary bucket and
    one-hot encoded. The fitted space is `Dataset.preprocessing`, the
    columns' kinds, medians and categories `Dataset.schema`:
    `tables.save(out, data)` keeps both for `recipes.predict`.

    The task is inferred from the target unless given: text, boolean or
    integer targets with at most 20 distinct values are classification,
    others regression. Several target columns, separated by commas, holding
    only 0 and 1, are a multi-label task.

    Args:
        path: the CSV file, with a header row.
        target: the target column name (or several, comma-separated).
        task: `"classification"`, `"regression"`, `"multilabel"` or `None`
            to infer it.
        seed: seed of the split.
        missing: `"fill"` (default): a numeric gap gets the training median
            plus a `<column>_is_missing` indicator feature, a text gap is its
            own category, a row without a target value is dropped; one line
            says what was filled. `"error"`: a missing value is a
            `ValueError` naming its column and line.

    Raises:
        ValueError: naming the file, the column and, where it can, the line,
            for a missing file, a missing target, an empty table, missing
            values (with `missing="error"`), or text that cannot be encoded.
    """
    from recipes.common import tables

    path = Path(path)
    if task is not None and task not in TASKS:
        raise _invalid("task", f"one of {TASKS} or None", task)
    frame = _read_table(path, missing=missing)
    targets = _target_columns(frame, target, path)
    unlabelled = frame[targets].isna().any(axis=1)
    if unlabelled.any():
        print(f"Dropped {int(unlabelled.sum())} row(s) without a target value "
              f"(first at {_row(frame.index[unlabelled][0])}).")
        frame = frame[~unlabelled]
    features = frame.drop(columns=targets)
    y, task, class_names = _encode_target(frame[targets], targets, task, path)
    schema = tables.infer_schema(features, path)
    schema["target"] = targets
    stratify = task == "classification"
    i_train, y_train, i_val, y_val, i_test, y_test = split(
        np.arange(len(frame)), y, seed=seed, stratify=stratify
    )
    (x_train, x_val, x_test), space, schema = _encode_features(
        features, schema, (i_train, i_val, i_test), path
    )
    return Dataset.from_split(
        str(path),
        task,
        (x_train, y_train, x_val, y_val, x_test, y_test),
        num_outputs=len(class_names) if task == "classification" else len(targets),
        class_names=class_names,
        feature_names=[str(c) for c in features.columns],
        preprocessing=space,
        schema=schema,
    )


def load_table(
    path: str | Path, *, exclude: str | None = None, seed: int = 0, missing: str = "error"
) -> Dataset:
    """Every column of a CSV file (but `exclude`) as features, split 70/15/15.

    For models that need no labels (autoencoders): the same
    `keras.utils.FeatureSpace` encoding as `load_csv`, fitted on the
    training split (numeric columns normalised, categories one-hot).

    Args:
        path: the CSV file, with a header row.
        exclude: a column (or several, comma-separated) to leave out, e.g.
            the label; `None` keeps every column.
        seed: seed of the split.
        missing: `"error"` (default) or `"fill"`, as for `load_csv`.
    """
    from recipes.common import tables

    path = Path(path)
    frame = _read_table(path, missing=missing)
    if len(frame) < 10:
        raise ValueError(f"CSV file {str(path)!r} has {len(frame)} rows; need 10 or more.")
    if exclude:
        frame = frame.drop(columns=_target_columns(frame, exclude, path))
    schema = tables.infer_schema(frame, path)
    schema["target"] = []
    no_labels = np.zeros(len(frame), dtype="int64")
    i_train, y_train, i_val, y_val, i_test, y_test = split(
        np.arange(len(frame)), no_labels, seed=seed, stratify=False
    )
    (x_train, x_val, x_test), space, schema = _encode_features(
        frame, schema, (i_train, i_val, i_test), path
    )
    return Dataset.from_split(
        str(path),
        "reconstruction",
        (x_train, y_train, x_val, y_val, x_test, y_test),
        num_outputs=0,
        class_names=[],
        feature_names=[str(column) for column in frame.columns],
        preprocessing=space,
        schema=schema,
    )


def read_csv(path: Path):
    """The CSV as a DataFrame; a one-line `ValueError` for a missing, empty or
    unparsable file."""
    import pandas as pd

    if not path.is_file():
        raise _invalid("csv", "an existing CSV file", str(path))
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"CSV file {str(path)!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"CSV file {str(path)!r} cannot be parsed: {error}") from None
    if frame.empty:
        raise ValueError(f"CSV file {str(path)!r} has a header but no rows.")
    return frame


def _read_table(path: Path, *, missing: str = "error"):
    """`read_csv`, then with `missing="error"` a `ValueError` naming the first
    missing value's column and line."""
    from recipes.common import tables

    frame = read_csv(path)
    tables.check_missing(frame, path, missing)
    return frame


def _target_columns(frame, target: str, path: Path) -> list[str]:
    """The comma-separated `target` columns, checked to exist and leave features."""
    targets = [column.strip() for column in str(target).split(",") if column.strip()]
    missing = [column for column in targets if column not in frame.columns]
    if not targets or missing:
        raise ValueError(
            f"Target column {target!r} not found in CSV file {str(path)!r}. "
            f"Columns: {', '.join(map(str, frame.columns))}"
        )
    if len(targets) == frame.shape[1]:
        raise ValueError(f"CSV file {str(path)!r} has no feature columns besides {target!r}.")
    return targets


def _encode_features(features, schema: dict, parts: tuple, path: Path):
    """Fits `tables`' FeatureSpace on the first of `parts` (row positions, the
    training split) and encodes every part; prints what was filled."""
    from recipes.common import tables

    train = features.iloc[parts[0]]
    schema = tables.fit_schema(schema, train)
    prepared = [tables.prepare(features.iloc[part], schema, path) for part in parts]
    space = tables.fit(schema, prepared[0].inputs)
    everything = tables.prepare(features, schema, path)
    note = tables.describe_filled(everything, schema)
    if note:
        print(note)
    return tuple(tables.encode(space, p.inputs) for p in prepared), space, schema


def _encode_target(frame, targets: list[str], task: str | None, path: Path):
    import pandas as pd

    if len(targets) > 1:
        if task not in (None, "multilabel"):
            raise _invalid("task", "'multilabel' (or None) for several target columns", task)
        for column in targets:
            values = frame[column]
            bad = values.index[~values.isin([0, 1])]
            if len(bad):
                raise ValueError(
                    f"CSV file {str(path)!r}, column {column!r}: multi-label "
                    f"targets must be 0 or 1; found {values[bad[0]]!r} at {_row(bad[0])}."
                )
        return frame.to_numpy(dtype="float32"), "multilabel", list(targets)

    column = targets[0]
    values = frame[column]
    is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task is None:
        is_integer = is_numeric and np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0)
        if not is_numeric or (is_integer and values.nunique() <= 20):
            task = "classification"
        else:
            task = "regression"
    if task == "multilabel":
        raise _invalid("task", "'classification' or 'regression' for one target column", task)
    if task == "regression":
        if not is_numeric:
            bad = pd.to_numeric(values, errors="coerce").isna()
            first = values.index[bad][0]
            raise ValueError(
                f"CSV file {str(path)!r}, column {column!r}: regression target "
                f"must be numeric; found {values[first]!r} at {_row(first)}."
            )
        return values.to_numpy(dtype="float32").reshape(-1, 1), task, [column]
    raw = values.to_numpy() if is_numeric else values.astype(str).to_numpy()
    if is_numeric and np.all(np.mod(raw, 1) == 0):
        raw = raw.astype("int64")  # class names "1", not "1.0", after dropped gaps
    classes, codes = np.unique(raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"CSV file {str(path)!r}, column {column!r}: a classification target "
            f"needs at least 2 classes; found only {classes[0]!r}."
        )
    return codes.astype("int64"), task, [str(c) for c in classes]


SUNSPOTS = Path(__file__).parent.parent / "data" / "sunspots.csv"


def load_series(
    path: str | Path | None = None,
    column: str | None = None,
    *,
    window: int = 12,
) -> Dataset:
    """A univariate series as (window -> next value) windows, split in time order.

    The default is the bundled yearly sunspot numbers, 1700-2008 (NOAA's
    National Geophysical Data Center, public domain; the copy that
    statsmodels distributes). The first 70% of the windows train, the next
    15% validate, the last 15% test: no shuffling, no look-ahead. Values are
    standardised with the training part's mean and standard deviation.

    Args:
        path: a CSV file; `None` for the bundled sunspots.
        column: the series column (default: the last column).
        window: how many past values predict the next one.

    Returns:
        A regression `Dataset` with inputs shaped `(window, 1)`, targets
        `(1,)`, and `scale=(mean, std)` to undo the standardisation.
    """
    import pandas as pd

    path = Path(path) if path is not None else SUNSPOTS
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise _invalid("window", "a positive integer", window)
    if not path.is_file():
        raise _invalid("csv", "an existing CSV file", str(path))
    frame = pd.read_csv(path)
    column = column or frame.columns[-1]
    if column not in frame.columns:
        raise ValueError(
            f"Target column {column!r} not found in CSV file {str(path)!r}. "
            f"Columns: {', '.join(map(str, frame.columns))}"
        )
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.isna().any():
        bad = values.index[values.isna()][0]
        raise ValueError(
            f"CSV file {str(path)!r}, column {column!r}: missing or non-numeric "
            f"value {frame[column][bad]!r} at {_row(bad)}."
        )
    series = values.to_numpy(dtype="float32")
    if len(series) < window + 20:
        raise ValueError(
            f"CSV file {str(path)!r}, column {column!r}: {len(series)} values are "
            f"too few for window={window} (need at least {window + 20})."
        )
    n_train = int(0.7 * (len(series) - window))
    mean = series[: n_train + window].mean()
    std = series[: n_train + window].std() or 1.0
    scaled = (series - mean) / std
    x = np.stack([scaled[i : i + window] for i in range(len(series) - window)])[..., None]
    y = scaled[window:].reshape(-1, 1)
    n_val = int(0.15 * len(x))
    n_test = len(x) - n_train - n_val
    return Dataset(
        name=str(path.name),
        task="regression",
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_val=x[n_train : n_train + n_val],
        y_val=y[n_train : n_train + n_val],
        x_test=x[len(x) - n_test :],
        y_test=y[len(x) - n_test :],
        num_outputs=1,
        class_names=[column],
        scale=(float(mean), float(std)),
    )


def load_image_folder(
    path: str | Path,
    *,
    image_size: tuple[int, int] = (32, 32),
    color_mode: str = "rgb",
    seed: int = 0,
) -> Dataset:
    """A folder of images, one sub-folder per class, as in-memory arrays.

    For the recipes that need arrays (autoencoders, siamese pairs); the cnn,
    gmlp and transfer-learning recipes stream the folder instead
    (`images.load_folder`), which this builds on: the same listing, checks,
    conversions and stratified 70/15/15 split, then every image decoded and
    scaled to [0, 1].

    Args:
        path: folder with one sub-folder of images per class.
        image_size: (height, width) images are resized to.
        color_mode: `"grayscale"` or `"rgb"`.
        seed: seed of the split.
    """
    from recipes.common import images

    folder = images.load_folder(path, image_size=image_size, color_mode=color_mode, seed=seed)
    for note in folder.notes():
        print(note)

    def arrays(split):
        files, labels = folder.split(split)
        batches = images.file_dataset(files, labels, image_size=folder.image_size,
                                      color_mode=color_mode, batch_size=256)
        x = np.concatenate([x for x, _ in batches.as_numpy_iterator()]) / 255.0
        return x.astype("float32"), labels

    return Dataset.from_split(
        folder.name,
        "classification",
        (*arrays("train"), *arrays("val"), *arrays("test")),
        num_outputs=folder.num_outputs,
        class_names=folder.class_names,
    )
