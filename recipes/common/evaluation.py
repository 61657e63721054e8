"""Reconstruction errors for the autoencoder and VAE recipes (plain numpy)."""

from __future__ import annotations

import numpy as np


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
