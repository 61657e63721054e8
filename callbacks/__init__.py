"""Training callbacks Keras lacks: LR range test, SGDR, snapshot ensembles.

>>> import callbacks
>>> finder = callbacks.LRFinder().find(model, x, y, batch_size=64)
>>> sgdr = callbacks.SGDR(finder.suggestion(), cycle_epochs=2, cycle_mult=2)
>>> snapshots = callbacks.SnapshotEnsemble(3, None, sgdr=sgdr)
>>> model.fit(x, y, epochs=14, callbacks=[sgdr, snapshots])
>>> ensemble = callbacks.build_ensemble(snapshots.snapshot_paths)

Everything uses `keras` and `keras.ops` only, so it runs on any Keras 3
backend; learning-rate schedules are computed in-graph from the optimizer's
step counter. The schedule maths lives in `callbacks.schedules`.
"""

from callbacks import schedules
from callbacks.lr_finder import LRFinder
from callbacks.sgdr import SGDR, SGDRSchedule
from callbacks.snapshot import (
    SnapshotEnsemble,
    SnapshotSchedule,
    WeightedAverage,
    build_ensemble,
    evaluate_snapshot_ensembles,
)

__all__ = [
    "LRFinder",
    "SGDR",
    "SGDRSchedule",
    "SnapshotEnsemble",
    "SnapshotSchedule",
    "WeightedAverage",
    "build_ensemble",
    "evaluate_snapshot_ensembles",
    "schedules",
]
