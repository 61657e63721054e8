"""Training callbacks Keras lacks: LR range test, SGDR, one-cycle, snapshots, SWA.

- `LRFinder`: the learning-rate range test (sweep, record, restore,
  suggest).
- `SGDR`: cosine annealing with warm restarts, cycles in epochs.
- `OneCycle`: Smith's one-cycle policy (PyTorch's `OneCycleLR`).
- `SnapshotEnsemble`: a `.keras` snapshot at the end of every cycle, and
  `build_ensemble` / `evaluate_snapshot_ensembles` to use them.
- `SWA`: stochastic weight averaging (the weights at cycle ends averaged,
  batch norm recomputed), and `build_swa` from saved snapshots.

Everything uses `keras` and `keras.ops` only, so it runs on any Keras 3
backend; learning-rate schedules are computed in-graph from the optimizer's
step counter, by Keras' `CosineDecayRestarts` where it is exact. The
schedule maths lives in `callbacks.schedules`.

Example:

>>> import tempfile
>>> import keras
>>> import numpy as np
>>> import callbacks
>>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
>>> y = np.random.default_rng(1).integers(0, 3, size=32)
>>> model = keras.Sequential(
...     [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
>>> model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
>>> finder = callbacks.LRFinder(1e-3, 1.0, num_steps=12).find(model, x, y, batch_size=8)
>>> max_lr = min(finder.suggestion(), 0.1)
>>> sgdr = callbacks.SGDR(max_lr, cycle_epochs=1, cycle_mult=2)
>>> snapshots = callbacks.SnapshotEnsemble(
...     3, None, sgdr=sgdr, directory=tempfile.mkdtemp())
>>> _ = model.fit(x, y, batch_size=8, epochs=7, callbacks=[sgdr, snapshots],
...               verbose=0)
>>> sgdr.cycle_ends, len(snapshots.snapshot_paths)  # a snapshot per cycle end
([1, 3, 7], 3)
>>> ensemble = callbacks.build_ensemble(snapshots.snapshot_paths)
>>> ensemble.predict(x, verbose=0).shape
(32, 3)
"""

from callbacks import schedules
from callbacks.lr_finder import LRFinder
from callbacks.one_cycle import OneCycle, OneCycleSchedule
from callbacks.sgdr import SGDR, SGDRSchedule
from callbacks.snapshot import (
    SnapshotEnsemble,
    SnapshotSchedule,
    WeightedAverage,
    build_ensemble,
    evaluate_snapshot_ensembles,
)
from callbacks.swa import SWA, average_weights, build_swa, update_batch_norm

__all__ = [
    "LRFinder",
    "OneCycle",
    "OneCycleSchedule",
    "SGDR",
    "SGDRSchedule",
    "SnapshotEnsemble",
    "SnapshotSchedule",
    "SWA",
    "WeightedAverage",
    "average_weights",
    "build_ensemble",
    "build_swa",
    "evaluate_snapshot_ensembles",
    "schedules",
    "update_batch_norm",
]
