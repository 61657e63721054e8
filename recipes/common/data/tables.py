"""Your CSV tables: read, checked, split, and encoded for a model.

`load_csv` (a target column: classification, regression or multi-label)
and `load_table` (every column a feature, for autoencoders) read the file
with pandas, check it (naming the file, column and line of a problem), split
it, and encode the features with a `keras.utils.FeatureSpace` fitted on the
training rows only (`recipes.common.data.features`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.common.data import features as feature_space
from recipes.common.data.splits import TASKS, Dataset, invalid, split

# A numeric target with more distinct integers than this is a regression target.
MAX_CLASSES = 20


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
    training split only (see `recipes.common.data.features`): numeric columns are
    normalised, text and integer categories (booleans, integers with at most
    10 distinct values) are looked up with an out-of-vocabulary bucket and
    one-hot encoded. The fitted space is `Dataset.preprocessing`, the
    columns' kinds, medians and categories `Dataset.schema`:
    `Run.save(data=data)` keeps both for `recipes.predict`.

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
    path = Path(path)
    if task is not None and task not in TASKS:
        raise invalid("task", f"one of {TASKS} or None", task)
    frame = _read_table(path, missing=missing)
    targets = _target_columns(frame, target, path)
    unlabelled = frame[targets].isna().any(axis=1)
    if unlabelled.any():
        print(f"Dropped {int(unlabelled.sum())} row(s) without a target value "
              f"(first at {_row(frame.index[unlabelled][0])}).")
        frame = frame[~unlabelled]
    features = frame.drop(columns=targets)
    y, task, class_names = _encode_target(frame[targets], targets, task, path)
    schema = feature_space.infer_schema(features, path)
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
    path = Path(path)
    frame = _read_table(path, missing=missing)
    if len(frame) < 10:
        raise ValueError(f"CSV file {str(path)!r} has {len(frame)} rows; need 10 or more.")
    if exclude:
        frame = frame.drop(columns=_target_columns(frame, exclude, path))
    schema = feature_space.infer_schema(frame, path)
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
        raise invalid("csv", "an existing CSV file", str(path))
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

    frame = read_csv(path)
    feature_space.check_missing(frame, path, missing)
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

    train = features.iloc[parts[0]]
    schema = feature_space.fit_schema(schema, train)
    prepared = [feature_space.prepare(features.iloc[part], schema, path) for part in parts]
    space = feature_space.fit(schema, prepared[0].inputs)
    everything = feature_space.prepare(features, schema, path)
    note = feature_space.describe_filled(everything, schema)
    if note:
        print(note)
    return tuple(feature_space.encode(space, p.inputs) for p in prepared), space, schema


def infer_task(values) -> str:
    """The task a target column asks for: `"classification"` for text, or for
    integers with at most `MAX_CLASSES` distinct values; else `"regression"`.

    Example:

    >>> import pandas as pd
    >>> infer_task(pd.Series(["cat", "dog"])), infer_task(pd.Series([0.5, 1.25, 3.0]))
    ('classification', 'regression')
    """
    import pandas as pd

    is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    is_integer = is_numeric and np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0)
    if not is_numeric or (is_integer and values.nunique() <= MAX_CLASSES):
        return "classification"
    return "regression"


def _encode_target(frame, targets: list[str], task: str | None, path: Path):
    import pandas as pd

    if len(targets) > 1:
        if task not in (None, "multilabel"):
            raise invalid("task", "'multilabel' (or None) for several target columns", task)
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
        task = infer_task(values)
    if task == "multilabel":
        raise invalid("task", "'classification' or 'regression' for one target column", task)
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

