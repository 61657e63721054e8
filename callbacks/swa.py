"""Stochastic weight averaging (SWA): one model from the average of many.

Izmailov et al. (2018) average the weights a training run passes through,
at the end of each learning-rate cycle (or each epoch after a start epoch,
at a constant rate), instead of averaging the predictions of several models
as a snapshot ensemble does: the average sits nearer the centre of a wide
minimum and generalises better, at the cost of one model. The averaged
weights never saw the batch statistics they produce, so BatchNormalization's
moving mean and variance are recomputed afterwards with one pass over the
training data (PyTorch's `torch.optim.swa_utils.update_bn`).

Keras has no SWA (TensorFlow Addons' `tfa.optimizers.SWA` is gone with
Addons, and was TensorFlow-only), hence this module: the `SWA` callback,
`average_weights`, `update_batch_norm` and `build_swa` (an SWA model from
saved snapshots, e.g. `SnapshotEnsemble.snapshot_paths`).

Reference:
    - Izmailov, Podoprikhin, Garipov, Vetrov & Wilson, 2018, "Averaging
      Weights Leads to Wider Optima and Better Generalization".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from callbacks import _checks


def _floating(value) -> bool:
    return np.issubdtype(np.asarray(value).dtype, np.floating)


def average_weights(weight_lists: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """The element-wise mean of several `model.get_weights()` lists.

    Non-float weights (counters) are taken from the last list.
    """
    if not weight_lists:
        raise ValueError("Invalid value for argument `weight_lists`: expected at least one "
                         "list of weights. Received: weight_lists=[]")
    last = weight_lists[-1]
    return [
        np.mean([weights[i] for weights in weight_lists], axis=0).astype(np.asarray(w).dtype)
        if _floating(w) else w
        for i, w in enumerate(last)
    ]


def _batches(x, batch_size: int):
    """Input batches of arrays, or the inputs of a dataset's batches."""
    if isinstance(x, np.ndarray):
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size]
        return
    for batch in x:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def _leaves(layer):
    """`layer`'s layers, nested models' layers included."""
    for child in getattr(layer, "layers", []):
        yield child
        yield from _leaves(child)


def update_batch_norm(model: keras.Model, x: Any, *, batch_size: int = 32) -> int:
    """Recomputes every BatchNormalization layer's moving statistics on `x`.

    The moving mean and variance become the plain average over the batches
    of `x` of each batch's statistics (the cumulative average, as PyTorch's
    `update_bn` with `momentum=None`): each layer's momentum is set to
    `i / (i + 1)` before batch `i`, then restored.

    Args:
        model: the model, e.g. after its weights were averaged.
        x: training inputs: an array, or a dataset of `(x, y)` or `x` batches.
        batch_size: for an array `x`.

    Returns:
        The number of batches used (0 if the model has no batch norm).
    """
    norms = [layer for layer in _leaves(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        # From shape and dtype: JAX 0.10's zeros_like rejects a Keras Variable.
        mean, variance = layer.moving_mean, layer.moving_variance
        mean.assign(ops.zeros(mean.shape, mean.dtype))
        variance.assign(ops.ones(variance.shape, variance.dtype))
    count = 0
    try:
        for count, batch in enumerate(_batches(x, batch_size)):
            for layer in norms:
                layer.momentum = count / (count + 1)
            model(batch, training=True)
        count += 1
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
    return count


def build_swa(
    models_or_paths: Sequence[keras.Model | str],
    *,
    batch_norm_data: Any = None,
    batch_size: int = 32,
) -> keras.Model:
    """One model whose weights are the mean of the members' (SWA).

    Args:
        models_or_paths: models of one architecture, or `.keras` paths
            (loaded with `safe_mode=True`), e.g. snapshots at cycle ends.
        batch_norm_data: training inputs to recompute batch-norm statistics
            on (`update_batch_norm`); `None` keeps the averaged ones.
        batch_size: for an array `batch_norm_data`.

    Returns:
        A copy of the first member with the averaged weights (uncompiled).
    """
    if not models_or_paths:
        raise ValueError("Invalid value for argument `models_or_paths`: expected at least "
                         "one model or path. Received: models_or_paths=[]")
    models = [
        member if isinstance(member, keras.Model)
        else keras.saving.load_model(member, safe_mode=True, compile=False)
        for member in models_or_paths
    ]
    average = keras.models.clone_model(models[0])
    average.set_weights(average_weights([model.get_weights() for model in models]))
    if batch_norm_data is not None:
        update_batch_norm(average, batch_norm_data, batch_size=batch_size)
    return average


class SWA(keras.callbacks.Callback):
    """Stochastic weight averaging: the model ends with its averaged weights.

    At the end of epoch `start_epoch + every`, `start_epoch + 2 * every`, ...
    (1-based counts, so with cycles of `every` epochs: each cycle's end) the
    weights join a running mean; when `fit` ends the model gets the mean and,
    with `batch_norm_data`, batch norm's statistics recomputed on it.

    Pair it with a cyclic schedule (`SGDR(cycle_mult=1)`, a
    `SnapshotEnsemble`'s cycles: `every` = the cycle's epochs) or with a
    constant learning rate from `start_epoch` on (`every=1`). The running
    mean lives in memory: a resumed `fit` (`BackupAndRestore`) starts it
    afresh; to average snapshots that survive a resume, use `build_swa`.

    Args:
        start_epoch: epochs before the averaging starts.
        every: epochs between averaged points.
        batch_norm_data: training inputs for `update_batch_norm`, or `None`.
        batch_size: for an array `batch_norm_data`.

    Attributes:
        averaged_epochs: the (1-based) epochs whose end weights were averaged.

    Example:

    >>> import numpy as np, keras
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.05), "mse")
    >>> swa = SWA(start_epoch=2, every=1)
    >>> _ = model.fit(x, x.sum(1), epochs=5, callbacks=[swa], verbose=0)
    >>> swa.averaged_epochs
    [3, 4, 5]

    Reference:
        - Izmailov et al., 2018, "Averaging Weights Leads to Wider Optima
          and Better Generalization".
    """

    def __init__(
        self,
        start_epoch: int = 0,
        every: int = 1,
        *,
        batch_norm_data: Any = None,
        batch_size: int = 32,
    ):
        super().__init__()
        self.start_epoch = _checks.check_int("start_epoch", start_epoch, minimum=0)
        self.every = _checks.check_int("every", every)
        self.batch_norm_data = batch_norm_data
        self.batch_size = _checks.check_int("batch_size", batch_size)
        self.averaged_epochs: list[int] = []
        self._sum: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.averaged_epochs, self._sum = [], None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if done <= self.start_epoch or (done - self.start_epoch) % self.every:
            return
        weights = self.model.get_weights()
        if self._sum is None:
            self._sum = [np.array(w, dtype="float64") if _floating(w) else w for w in weights]
        else:
            self._sum = [s + w if _floating(w) else w for s, w in zip(self._sum, weights)]
        self.averaged_epochs.append(done)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._sum is None:
            return
        count = len(self.averaged_epochs)
        current = self.model.get_weights()
        self.model.set_weights([
            (s / count).astype(np.asarray(w).dtype) if _floating(w) else w
            for s, w in zip(self._sum, current)
        ])
        if self.batch_norm_data is not None:
            update_batch_norm(self.model, self.batch_norm_data, batch_size=self.batch_size)
