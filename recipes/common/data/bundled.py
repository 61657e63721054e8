"""The bundled data, loaded offline: the digits, the wine and breast-cancer
tables, and the yearly sunspots.

The digits ship with the project (`recipes/data/digits.npz`, scikit-learn's
copy), wine and breast cancer with scikit-learn, the sunspots as a CSV.
Splits are stratified and deterministic for a seed (`splits.split`);
scaling is fitted on the training split only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes.common.data.splits import Dataset, invalid, split, standardize

BUNDLED = ("digits", "wine", "breast_cancer")
VIEWS = ("flat", "image", "sequence")
# The one map from a zoo model's input kind (`zoo.get_spec(name).input_kind`)
# to the view of the bundled digits it takes; pairs are built from vectors.
INPUT_VIEWS = {"vector": "flat", "image": "image", "sequence": "sequence", "pair": "flat"}
DATA = Path(__file__).resolve().parents[2] / "data"
DIGITS = DATA / "digits.npz"
SUNSPOTS = DATA / "sunspots.csv"


def view_for(input_kind: str) -> str:
    """The view of the bundled digits (`"flat"`, `"image"`, `"sequence"`) a model
    of `input_kind` takes."""
    if input_kind not in INPUT_VIEWS:
        raise invalid("input_kind", f"one of {tuple(INPUT_VIEWS)}", input_kind)
    return INPUT_VIEWS[input_kind]


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
        raise invalid("dataset", f"one of {BUNDLED}", name)
    if view not in VIEWS:
        raise invalid("view", f"one of {VIEWS}", view)
    if name != "digits" and view != "flat":
        raise invalid("view", f"'flat' for the {name} table", view)
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
        raise invalid("window", "a positive integer", window)
    if not path.is_file():
        raise invalid("csv", "an existing CSV file", str(path))
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
            f"value {frame[column][bad]!r} at line {int(bad) + 2}."
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

