"""Raw CSV columns to model inputs with Keras' `FeatureSpace`, saved beside the model.

`load_csv` (and `load_table`) describe each feature column in a *schema*, a
JSON-friendly dict written to the run's `run.json`, and fit a
`keras.utils.FeatureSpace` on the training rows only: numeric columns are
normalised, text and integer categories are looked up with one
out-of-vocabulary bucket and one-hot encoded. Missing values are filled the
way fastai's `FillMissing` does: a numeric gap gets the training median plus
an `<column>_is_missing` indicator feature, a text gap is its own category.

The fitted `FeatureSpace` is saved as `preprocessing.keras` beside
`model.keras` (it loads with `keras.saving.load_model` on every backend), so
`recipes.predict` applies the same encoding to new rows:

```python
schema = infer_schema(frame, path, targets=["churn"])
schema = fit_schema(schema, train_rows)
space = fit(schema, prepare(train_rows, schema, path).inputs)
x = encode(space, prepare(new_rows, schema, path).inputs)
```
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from recipes.common import artifacts

MISSING_TEXT = "(missing)"
# Integer-category gaps are looked up as this value (its own category).
MISSING_INTEGER = -999_999
MAX_CATEGORIES = 50
MAX_INTEGER_CATEGORIES = 10
PREPROCESSING_FILE = "preprocessing.keras"
# On TensorFlow: raw columns in, predictions out (the FeatureSpace inside).
INFERENCE_FILE = "inference.keras"
INFERENCE_TASKS = ("classification", "regression", "multilabel")
MISSING_POLICIES = ("fill", "error")


def row(index) -> str:
    """`"line N"` of a CSV row with pandas index `index` (the header is line 1)."""
    return f"line {int(index) + 2}"


def check_missing(frame, path: Path, missing: str) -> None:
    """With `missing="error"`, a `ValueError` naming the first missing value's column and line."""
    if missing not in MISSING_POLICIES:
        raise ValueError(
            f"Invalid value for argument `missing`: expected one of {MISSING_POLICIES}. "
            f"Received: missing={missing!r}"
        )
    if missing == "fill":
        return
    for column in frame.columns:
        nan_rows = frame.index[frame[column].isna()]
        if len(nan_rows):
            raise ValueError(
                f"CSV file {str(path)!r}, column {column!r}: missing value at "
                f"{row(nan_rows[0])} ({len(nan_rows)} missing in all). Fill or "
                "drop missing values first."
            )


def _numbers(values, column: str, path: Path):
    """`values` as floats; a `ValueError` naming the first non-numeric value's line."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        first = values.index[bad][0]
        raise ValueError(
            f"CSV file {str(path)!r}, column {column!r}: non-numeric value "
            f"{values[first]!r} at {row(first)} in a numeric column."
        )
    return numbers.astype("float64")


def infer_schema(features, path: Path) -> dict[str, Any]:
    """Each feature column's kind: `"numeric"`, `"integer"` (category) or `"text"`.

    Booleans and integer columns with at most 10 distinct values are integer
    categories; other numbers are numeric; a column of text is a text
    category (at most 50 distinct values). A column mixing numbers and a
    few strings is a data error.

    Returns:
        `{"columns": [{"name", "kind", "has_missing"}, ...]}`; `fit_schema`
        adds the training statistics.
    """
    import pandas as pd

    columns = []
    for name in features.columns:
        values = features[name]
        present = values.dropna()
        is_number = pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)
        if not is_number and pd.to_numeric(present, errors="coerce").notna().any():
            _numbers(values, name, path)  # raises, naming the stray text
        if is_number:
            numbers = present.astype("float64")
            integral = bool(np.all(np.mod(numbers.to_numpy(), 1) == 0))
            few = numbers.nunique() <= MAX_INTEGER_CATEGORIES
            kind = "integer" if integral and few else "numeric"
        else:
            kind = "text"
            distinct = present.astype(str).unique()
            if len(distinct) > MAX_CATEGORIES:
                raise ValueError(
                    f"CSV file {str(path)!r}, column {name!r}: text column with "
                    f"{len(distinct)} distinct values cannot be one-hot encoded "
                    f"(at most {MAX_CATEGORIES}); e.g. {present.iloc[0]!r} at "
                    f"{row(present.index[0])}."
                )
        columns.append(
            {"name": str(name), "kind": kind, "has_missing": bool(values.isna().any())}
        )
    keys = [input_key(column["name"]) for column in columns]
    twins = [column["name"] for column, key in zip(columns, keys) if keys.count(key) > 1]
    if twins:
        raise ValueError(f"CSV file {str(path)!r}: columns {twins} would be the same model "
                         "input (Keras names cannot hold '/', read as '_'): rename them.")
    return {"columns": columns}


def input_key(name: str) -> str:
    """Column `name` as a model input's name and key (Keras refuses `/` in names).

    >>> input_key("od280/od315_of_diluted_wines")
    'od280_od315_of_diluted_wines'
    """
    return name.replace("/", "_")


def fit_schema(schema: dict[str, Any], train) -> dict[str, Any]:
    """`schema` with the training rows' statistics: numeric medians, categories."""
    columns = []
    for column in schema["columns"]:
        values = train[column["name"]]
        column = dict(column)
        if column["kind"] == "numeric":
            numbers = values.astype("float64")
            median = numbers.median()
            column["median"] = float(median) if np.isfinite(median) else 0.0
        elif column["kind"] == "integer":
            present = values.dropna().astype("int64")
            column["categories"] = sorted(int(v) for v in present.unique())
            if values.isna().any():  # a gap is its own category
                column["categories"].append(MISSING_INTEGER)
        else:
            present = values.dropna().astype(str)
            column["categories"] = sorted(present.unique().tolist())
            if values.isna().any():
                column["categories"].append(MISSING_TEXT)
        columns.append(column)
    return {**schema, "columns": columns}


@dataclasses.dataclass
class Prepared:
    """`prepare`'s result: the FeatureSpace's inputs and what was filled or unseen.

    Attributes:
        inputs: one numpy array per FeatureSpace input (column name, and
            `<column>_is_missing` indicators).
        filled: per column, how many missing values were filled.
        unseen: per category column, how many values the training rows lacked
            (they go to the out-of-vocabulary bucket).
    """

    inputs: dict[str, np.ndarray]
    filled: dict[str, int]
    unseen: dict[str, int]


def prepare(frame, schema: dict[str, Any], path: Path) -> Prepared:
    """The raw columns of `frame` named in `schema`, typed and with gaps filled.

    Columns are matched by name; extra columns are ignored.

    Raises:
        ValueError: for a missing column or a non-numeric value in a numeric
            column, naming the file, the column and the line.
    """
    missing = [c["name"] for c in schema["columns"] if c["name"] not in frame.columns]
    if missing:
        raise ValueError(
            f"CSV file {str(path)!r} lacks column(s) the model needs: "
            f"{', '.join(map(repr, missing))}. Columns: {', '.join(map(str, frame.columns))}"
        )
    inputs, filled, unseen = {}, {}, {}
    for column in schema["columns"]:
        name, kind = column["name"], column["kind"]
        key, values = input_key(name), frame[name]
        gaps = values.isna().to_numpy()
        if gaps.any():
            filled[name] = int(gaps.sum())
        if kind == "text":
            text = values.astype(str).where(~gaps, MISSING_TEXT).to_numpy(dtype=object)
            inputs[key] = text
            new = ~np.isin(text, column["categories"])
        else:
            numbers = _numbers(values, name, path).to_numpy()
            if kind == "numeric":
                inputs[key] = np.where(gaps, column["median"], numbers).astype("float32")
                new = np.zeros(len(numbers), dtype=bool)
            else:
                # A non-integer value in an integer category is an unseen value.
                integral = np.mod(np.where(gaps, 0, numbers), 1) == 0
                codes = np.where(gaps, MISSING_INTEGER, np.where(integral, numbers, -1))
                inputs[key] = codes.astype("int64")
                new = ~np.isin(inputs[key], column["categories"])
            if column["has_missing"] and kind == "numeric":
                inputs[f"{key}_is_missing"] = gaps.astype("float32")
        if new.any():
            unseen[name] = int(new.sum())
    return Prepared(inputs, filled, unseen)


def _layer_name(index: int, name: str) -> str:
    return f"f{index}_" + re.sub(r"[^0-9A-Za-z_]", "_", name)[:40]


def fit(schema: dict[str, Any], inputs: dict[str, np.ndarray]):
    """A `keras.utils.FeatureSpace` for `schema`, adapted on the training `inputs`.

    Numeric columns are `float_normalized`, integer and text categories
    `integer_categorical` / `string_categorical` with one out-of-vocabulary
    index, missing-value indicators passed through as floats; the output is
    one concatenated float vector per row.
    """
    import keras
    import tensorflow as tf

    space = keras.utils.FeatureSpace
    features = {}
    for index, column in enumerate(schema["columns"]):
        name, kind = column["name"], column["kind"]
        key, layer = input_key(name), _layer_name(index, name)
        if kind == "numeric":
            features[key] = space.float_normalized(name=layer)
            if column["has_missing"]:
                features[f"{key}_is_missing"] = space.float(name=f"{layer}_is_missing")
        elif kind == "integer":
            features[key] = space.integer_categorical(num_oov_indices=1, name=layer)
        else:
            features[key] = space.string_categorical(num_oov_indices=1, name=layer)
    feature_space = space(features=features, output_mode="concat")
    feature_space.adapt(tf.data.Dataset.from_tensor_slices(inputs).batch(1024))
    return feature_space


def encode(feature_space, inputs: dict[str, np.ndarray], batch_size: int = 4096) -> np.ndarray:
    """The float32 model inputs for `prepare`'s `inputs`, through `feature_space`."""
    import keras

    rows = len(next(iter(inputs.values())))
    parts = [
        keras.ops.convert_to_numpy(
            feature_space({key: value[start : start + batch_size] for key, value in inputs.items()})
        )
        for start in range(0, rows, batch_size)
    ]
    return np.concatenate(parts).astype("float32")


def inference_model(model, feature_space, schema: dict[str, Any]):
    """`model` behind `feature_space`: a model that reads raw columns (TensorFlow only).

    keras-io's FeatureSpace example builds such an inference model; here the
    gaps are filled in front of it (`table_layers.FillMissing`), as
    `prepare` fills them. The inputs are a dict keyed by column name, each
    of shape `(rows, 1)`: float32 for numbers and integer categories (NaN is
    a gap), strings for text (`""` is a gap). String tensors exist only on
    TensorFlow, so the JAX backend keeps `preprocessing.keras` beside the
    model instead.
    """
    import keras

    from recipes.common.data import table_layers

    space_inputs = feature_space.get_inputs()
    encoder = keras.Model(space_inputs, feature_space.get_encoded_features(), name="preprocessing")
    raw, prepared = {}, {}
    for index, column in enumerate(schema["columns"]):
        key, kind = input_key(column["name"]), column["kind"]
        layer = _layer_name(index, column["name"])
        if kind == "text":
            raw[key] = keras.Input(shape=(1,), dtype="string", name=key)
            prepared[key] = table_layers.FillMissing(MISSING_TEXT, name=f"fill_{layer}")(raw[key])
            continue
        raw[key] = keras.Input(shape=(1,), dtype="float32", name=key)
        if kind == "integer":
            fill = table_layers.FillMissing(MISSING_INTEGER, integral=True, name=f"fill_{layer}")
            prepared[key] = fill(raw[key])
            continue
        fill = table_layers.FillMissing(column["median"], name=f"fill_{layer}")
        prepared[key] = fill(raw[key])
        if column["has_missing"]:
            indicator = table_layers.MissingIndicator(name=f"missing_{layer}")
            prepared[f"{key}_is_missing"] = indicator(raw[key])
    return keras.Model(raw, model(encoder(prepared)), name="inference")


def raw_inputs(frame, schema: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    """`inference_model`'s inputs from the raw columns of `frame`: NaN and `""` gaps."""
    inputs = {}
    for column in schema["columns"]:
        name, values = column["name"], frame[column["name"]]
        if column["kind"] == "text":
            text = values.astype(str).where(values.notna(), "")
            inputs[input_key(name)] = text.to_numpy(dtype=str).reshape(-1, 1)
        else:
            numbers = _numbers(values, name, path).to_numpy("float32").reshape(-1, 1)
            inputs[input_key(name)] = numbers
    return inputs


def describe_filled(prepared: Prepared, schema: dict[str, Any]) -> str | None:
    """One line saying how many values of which columns were filled, or `None`."""
    if not prepared.filled:
        return None
    kinds = {column["name"]: column for column in schema["columns"]}
    parts = []
    for name, count in prepared.filled.items():
        column = kinds[name]
        if column["kind"] == "numeric":
            how = f"median {column['median']:g}"
            how += f" + {name}_is_missing" if column["has_missing"] else ""
        else:
            how = "own category"
        parts.append(f"{name}: {count} ({how})")
    total = sum(prepared.filled.values())
    return f"Filled {total} missing value(s): " + "; ".join(parts)


def describe_unseen(prepared: Prepared) -> str | None:
    """One line counting values no training row had (out-of-vocabulary), or `None`."""
    if not prepared.unseen:
        return None
    parts = [f"{name}: {count}" for name, count in prepared.unseen.items()]
    return (
        f"Note: {sum(prepared.unseen.values())} value(s) unseen in training, predicted "
        "through the out-of-vocabulary bucket (" + "; ".join(parts) + ")."
    )


def save_preprocessing(folder: Path, data) -> dict[str, Any]:
    """Keeps a `--csv` run's fitted `FeatureSpace` as `preprocessing.keras` in
    `folder`; returns the `run.json` fields `recipes.predict` needs with it
    (`target`, `feature_schema`).

    For data without preprocessing (bundled arrays, images), an earlier
    run's `preprocessing.keras` and `inference.keras` are removed and the
    fields cleared, so the folder describes one run.
    """
    folder = Path(folder)
    preprocessing = getattr(data, "preprocessing", None)
    if preprocessing is None:
        (folder / PREPROCESSING_FILE).unlink(missing_ok=True)
        (folder / INFERENCE_FILE).unlink(missing_ok=True)
        return {"target": None, "feature_schema": None}
    artifacts.save_model(preprocessing, folder / PREPROCESSING_FILE)
    return {"target": data.schema.get("target"), "feature_schema": data.schema}


def save_inference_model(folder: Path, model, info: dict[str, Any]) -> bool:
    """Writes `inference.keras` (raw columns in) for a TensorFlow `--csv` run.

    Called by `Run.save` once `model.keras` is written, with the run's
    `run.json` as `info`: where the folder holds a fitted
    `preprocessing.keras` and a prediction task, and the backend is
    TensorFlow. Anything else removes a stale `inference.keras`.

    Returns:
        Whether the file was written.
    """
    import keras

    folder = Path(folder)
    path = folder / INFERENCE_FILE
    if (
        keras.backend.backend() != "tensorflow"
        or info.get("task") not in INFERENCE_TASKS
        or not info.get("feature_schema")
        or not (folder / PREPROCESSING_FILE).is_file()
    ):
        path.unlink(missing_ok=True)
        return False
    feature_space = keras.saving.load_model(folder / PREPROCESSING_FILE, safe_mode=True)
    artifacts.save_model(inference_model(model, feature_space, info["feature_schema"]), path)
    return True
