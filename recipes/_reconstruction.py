"""Plumbing for the autoencoder and VAE recipes: model choice, data, errors.

Nothing here imports Keras: these are plain numpy and pandas helpers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from recipes import _cli, _data


def check_model(name: str, compatible: tuple[str, ...]) -> str:
    """`name` if this recipe can train it, else a `ValueError` listing what it can."""
    if name not in compatible:
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo model this recipe "
            f"trains for --model, one of: {', '.join(compatible)}. Received: model={name!r}"
        )
    return name


def load_data(args: argparse.Namespace, *, view: str = "image") -> _data.Dataset:
    """`_cli.load_data`, except that `--csv` needs no `--target`.

    An autoencoder needs no labels: without `--target` every column of the
    CSV is a feature (text columns one-hot encoded, all standardised with
    training statistics); with it, that column is left out of the features.
    """
    if getattr(args, "csv", None) is None or args.target:
        return _cli.load_data(args, view=view)
    data = load_table(args.csv, seed=args.seed)
    return data.subsample(train=300, evaluation=100) if args.smoke else data


def load_table(path: str | Path, *, seed: int = 0) -> _data.Dataset:
    """Every column of a CSV file as standardised features, split 70/15/15."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise _data._invalid("csv", "an existing CSV file", str(path))
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"CSV file {str(path)!r} cannot be read: {error}") from None
    if len(frame) < 10:
        raise ValueError(f"CSV file {str(path)!r} has {len(frame)} rows; need 10 or more.")
    for column in frame.columns:
        missing = frame.index[frame[column].isna()]
        if len(missing):
            raise ValueError(
                f"CSV file {str(path)!r}, column {column!r}: missing value at "
                f"{_data._row(missing[0])}. Fill or drop missing values first."
            )
    x = _data._encode_features(frame, path)
    no_labels = np.zeros(len(x), dtype="int64")
    x_train, y_train, x_val, y_val, x_test, y_test = _data.split(
        x, no_labels, seed=seed, stratify=False
    )
    x_train, x_val, x_test = _data.standardize(x_train, x_val, x_test)
    return _data.Dataset(
        name=str(path),
        task="reconstruction",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_outputs=0,
        class_names=[],
        feature_names=[str(column) for column in frame.columns],
    )


def pixel_errors(x_true, x_pred, *, bce: bool = True) -> dict[str, float]:
    """Mean squared error and binary cross-entropy per pixel (or feature).

    Binary cross-entropy only where asked (for values in [0, 1]); it does not
    reach 0 for grey pixels, so it compares models, while MSE reads alone.
    """
    x_true = np.asarray(x_true, dtype="float64")
    x_pred = np.asarray(x_pred, dtype="float64")
    errors = {"mse": float(np.mean(np.square(x_true - x_pred)))}
    if bce:
        p = np.clip(x_pred, 1e-7, 1 - 1e-7)
        errors["bce"] = float(-np.mean(x_true * np.log(p) + (1 - x_true) * np.log(1 - p)))
    return errors


def feature_errors(x_true, x_pred, names, *, top: int = 20) -> dict[str, float]:
    """Test MSE of each feature, the `top` worst first (for a bar chart)."""
    per_feature = np.mean(np.square(np.asarray(x_true) - np.asarray(x_pred)), axis=0)
    names = list(names)
    if len(names) != len(per_feature):  # one-hot encoded text columns: no names
        names = [f"feature {i}" for i in range(len(per_feature))]
    order = np.argsort(per_feature)[::-1][:top]
    return {str(names[i]): float(per_feature[i]) for i in order}
