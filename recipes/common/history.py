"""The callbacks that make a run resumable: its history log and its backup,
and `--tensorboard`'s log, which stays continuous across resumes.

`Run.callbacks()` returns them; they are Keras callbacks, so this module
imports Keras (the `Run` imports it only when training starts).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from recipes.common import artifacts

BACKUP_DIR = "backup"
HISTORY_FILE = "history.csv"
LOGS_DIR = "logs"  # --tensorboard's event files
# Backups may cost at most this share of training time (see ThrottledBackup).
BACKUP_OVERHEAD = 0.05


def backup_epoch(folder: str | Path) -> int | None:
    """The epochs an interrupted run in `folder` completed (from its training
    backup, Keras' `BackupAndRestore` metadata), or `None` if none is unfinished."""
    path = Path(folder) / BACKUP_DIR / "training_metadata.json"
    if not path.is_file():
        return None
    return int(json.loads(path.read_text())["epoch"])


def history_frame(history) -> pd.DataFrame:
    """A `keras.callbacks.History` (or its dict) as a DataFrame with an epoch column."""
    logs = getattr(history, "history", history)
    frame = pd.DataFrame({key: [float(v) for v in values] for key, values in logs.items()})
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


class HistoryLog(keras.callbacks.Callback):
    """Writes `history.csv` as each epoch ends, continuous across resumes.

    Keras' `CSVLogger(append=True)` appends, but cannot drop the rows of
    epochs a resumed run repeats (those after the last backup), nor hand
    `fit`'s `History` the epochs before the resume; this does both. It must
    come before the backup in the callbacks list, so an epoch is logged
    before it is backed up: a crash between the two repeats that epoch on
    resume, and its row is replaced, never doubled.

    Args:
        folder: the run folder (`history.csv` and the backup are in it).
        initial_epoch: for a `fit` that continues an earlier one of the same
            run (a second training phase): the epochs before it are kept.
    """

    def __init__(self, folder: str | Path, *, initial_epoch: int = 0):
        super().__init__()
        self.folder = Path(folder)
        self.path = self.folder / HISTORY_FILE
        self.initial_epoch = initial_epoch
        self.rows: list[dict[str, Any]] = []
        self.earlier: list[dict[str, Any]] = []

    def on_train_begin(self, logs=None):
        done = max(backup_epoch(self.folder) or 0, self.initial_epoch)
        self.earlier = []
        if done and self.path.is_file():
            frame = pd.read_csv(self.path)
            self.earlier = frame[frame["epoch"] <= done].to_dict("records")
        self.rows = list(self.earlier)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        artifacts.write_csv(self.path, pd.DataFrame(self.rows))

    def on_train_end(self, logs=None):
        # fit's History holds only the epochs of this call: make it the whole
        # run's, as logged.
        history = getattr(self.model, "history", None)
        if history is None or not self.earlier:
            return
        keys = [key for key in self.rows[-1] if key != "epoch"]
        history.history = {key: [row.get(key) for row in self.rows] for key in keys}
        history.epoch = [row["epoch"] - 1 for row in self.rows]


class ThrottledBackup(keras.callbacks.Callback):
    """Keras' `BackupAndRestore` in `folder/backup`, skipping epoch-end backups
    that would cost more than `overhead` of the training time.

    A backup (`save_weights`) has a fixed cost that is large next to a small
    model's epoch. So an epoch's end is backed up only once training since
    the last backup took 1 / `overhead` times as long as that backup did:
    for large models every epoch, for the smallest every few epochs, a few
    seconds of training at most lost to a crash. The backup is restored when
    the same command runs again, and deleted once `fit` completes.

    Attributes:
        backed_up: the epochs completed at the last backup this `fit`
            wrote (0 before its first).
    """

    def __init__(self, folder: str | Path, overhead: float = BACKUP_OVERHEAD):
        super().__init__()
        self.backup = keras.callbacks.BackupAndRestore(str(Path(folder) / BACKUP_DIR))
        self.overhead = overhead
        self.last, self.wait = 0.0, 0.0
        self.backed_up = 0

    def set_model(self, model):
        super().set_model(model)
        self.backup.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.backup.set_params(params)

    def on_train_begin(self, logs=None):
        self.backup.on_train_begin(logs)
        self.last, self.wait = time.perf_counter(), 0.0
        self.backed_up = 0

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.last < self.wait:
            return
        started = time.perf_counter()
        self.backup.on_epoch_end(epoch, logs)
        self.backed_up = epoch + 1
        self.last = time.perf_counter()
        self.wait = (self.last - started) / self.overhead

    def on_train_end(self, logs=None):
        self.backup.on_train_end(logs)


def _optimizer_rate(model) -> float | None:
    """The learning rate `model`'s optimizer reports now (an in-graph
    schedule's at the optimizer's step), or `None` without an optimizer."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class TensorBoardLog(keras.callbacks.Callback):
    """`--tensorboard`: each epoch's losses, metrics and learning rate as
    TensorBoard scalars in `folder/logs/`, continuous across resumes.

    The layout and names are `keras.callbacks.TensorBoard`'s: `logs/train/`
    holds `epoch_loss`, `epoch_<metric>` and `epoch_learning_rate`,
    `logs/validation/` the `val_` logs under the same names, at step `epoch`
    (0-based; a resumed `fit` or a second one with `initial_epoch` numbers
    on), so `tensorboard --logdir runs/` draws each quantity as one chart,
    training and validation together.

    The learning rate is the one the epoch trained at: the epoch's
    `learning_rate` log where a schedule callback writes one
    (`callbacks.SGDR`, `callbacks.OneCycle`: the rate of the epoch's last
    step; `ReduceLROnPlateau`: the rate before it reduces it), else the
    rate the optimizer reported as the epoch began (a constant rate, one a
    per-epoch callback sets, an in-graph schedule's at the epoch's first
    step). So it is one curve whatever the schedule.

    A crash repeats the epochs after the last backup, and an event file
    cannot be edited: so an epoch's scalars are held until `backup` has
    backed the epoch up (or `fit` ends, after the backup is deleted), then
    written and flushed. The files hold only epochs that a resume does not
    repeat; a kill in the moment between a backup and that write loses the
    backed-up epochs' points (a gap in the curves, never a duplicate).

    Keras' `TensorBoard` is not wrapped for this: it reads the learning
    rate from the optimizer when it writes (for a held epoch, a later
    epoch's rate), and flushes its files only when it closes them at train
    end; TensorFlow's writer queues up to 10 events or 2 minutes, which a
    kill after a backup would lose for good, and a fresh writer per backup
    makes a file per backup, named by the second and a counter that sorts
    out of order past 9, while TensorBoard takes a step that goes back as
    a restart and drops the points after it.

    Args:
        folder: the run folder.
        backup: the run's `ThrottledBackup`, placed before this callback in
            `fit`'s list; `None`: each epoch is written as it ends.
    """

    def __init__(self, folder: str | Path, *, backup: ThrottledBackup | None = None):
        super().__init__()
        self.path = Path(folder) / LOGS_DIR
        self.backup = backup
        self.pending: list[tuple[int, dict[str, float]]] = []
        self.rate: float | None = None
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, logs=None):
        self.pending, self.rate = [], None

    def on_epoch_begin(self, epoch, logs=None):
        self.rate = _optimizer_rate(self.model)

    def on_epoch_end(self, epoch, logs=None):
        scalars = {key: float(value) for key, value in (logs or {}).items()}
        if "learning_rate" not in scalars and self.rate is not None:
            scalars["learning_rate"] = self.rate
        self.pending.append((epoch, scalars))
        self._write(self.backup.backed_up if self.backup is not None else epoch + 1)

    def on_train_end(self, logs=None):
        self._write(None)
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    def _write(self, stop: int | None) -> None:
        """Writes and flushes the held epochs before `stop` (`None`: all)."""
        ready = [(epoch, scalars) for epoch, scalars in self.pending
                 if stop is None or epoch < stop]
        if not ready:
            return
        self.pending = self.pending[len(ready):]
        import tensorflow as tf

        for split in ("train", "validation"):
            points = [(epoch, key.removeprefix("val_"), value)
                      for epoch, scalars in ready for key, value in scalars.items()
                      if key.startswith("val_") == (split == "validation")]
            if not points:
                continue
            if split not in self.writers:
                self.writers[split] = tf.summary.create_file_writer(str(self.path / split))
            with self.writers[split].as_default():
                for epoch, name, value in points:
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)
            self.writers[split].flush()
