"""`recipes.common.runs` and `recipes.common.history`: the `Run` object, its
records, resume bookkeeping, history log, backup and artifacts."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from recipes.common import flags, history, runs
from recipes.common.data import load_dataset


def make_args(tmp_path, *argv):
    parser = flags.parser("Demo.", epochs=3, batch_size=16, learning_rate=1e-2)
    parser.add_argument("--units", type=int, default=4)
    return parser.parse_args(["--output-dir", str(tmp_path), "--quiet", *argv])


def tiny_model():
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_run_records_what_ran_and_leaves_its_args_alone(tmp_path):
    args = make_args(tmp_path, "--units", "5")
    before = vars(args).copy()
    run = runs.Run(args, "demo", backend=keras.backend.backend())
    assert run.folder == tmp_path / "demo" and run.resumed_epoch is None
    assert run.info() == {}  # nothing written before training or saving
    info = run.record(task="classification")
    assert info["recipe"] == "demo" and info["task"] == "classification"
    assert info["flags"]["units"] == 5 and "output_dir" not in info["flags"]
    assert info["backend"] == keras.backend.backend() and info["versions"]["keras"]
    assert run.verbose == 0 and run.steps_per_execution == 8
    assert vars(args) == before


def test_save_writes_every_artifact_atomically_and_clears_stale_ones(tmp_path):
    run = runs.Run(make_args(tmp_path), "demo", backend=keras.backend.backend())
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "old_plot.png").write_bytes(b"stale")
    (tmp_path / "demo" / "preprocessing.keras").write_bytes(b"stale")
    data = load_dataset("digits").subsample(64, 32)
    model = tiny_model()
    fitted = model.fit(data.x_train, data.y_train, epochs=2, verbose=0)
    metrics = run.save(model=model, history=fitted, metrics={"test_accuracy": np.float32(0.5)},
                       data=data)
    assert metrics == {"test_accuracy": 0.5}
    folder = tmp_path / "demo"
    assert json.loads((folder / "metrics.json").read_text()) == {"test_accuracy": 0.5}
    assert pd.read_csv(folder / "history.csv")["epoch"].tolist() == [1, 2]
    assert sorted(p.name for p in folder.glob("*.png")) == ["training_curves.png"]
    assert not (folder / "preprocessing.keras").exists()  # an earlier --csv run's
    info = run.info()
    assert info["task"] == "classification" and info["class_names"][:2] == ["0", "1"]
    assert info["images"] is None and info["feature_schema"] is None
    assert keras.saving.load_model(folder / "model.keras").output_shape == (None, 10)
    assert not list(folder.glob(".*")), "temporary files left behind"


def test_resume_refuses_other_flags_and_restart_discards_the_backup(tmp_path, capsys):
    args = make_args(tmp_path, "--units", "5")
    runs.Run(args, "demo", backend=keras.backend.backend()).record()
    backup = tmp_path / "demo" / history.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    (tmp_path / "demo" / "history.csv").write_text("epoch,loss\n1,2.0\n2,1.0\n")
    resumed = runs.Run(args, "demo", backend=keras.backend.backend())
    assert resumed.resumed_epoch == 2
    assert "Resuming demo from epoch 2 of 3" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"other flags \(--units 5 -> 6\).*--restart"):
        runs.Run(make_args(tmp_path, "--units", "6"), "demo", backend=keras.backend.backend())
    restarted = runs.Run(make_args(tmp_path, "--units", "6", "--restart"), "demo",
                         backend=keras.backend.backend())
    assert restarted.resumed_epoch is None
    assert not backup.exists() and not (tmp_path / "demo" / "history.csv").exists()


def test_processes_that_see_other_run_folders_are_refused(tmp_path, monkeypatch):
    """A JAX process whose --output-dir is not the chief's (epoch 0 against the
    chief's backup at 2) stops: its run would start over. The collective is
    stood in for by its result (two real processes: tests of `cluster`)."""
    pytest.importorskip("jax")
    from jax.experimental import multihost_utils

    from recipes.common import cluster

    monkeypatch.setitem(cluster._joined, "jax", cluster.Cluster(("a:1", "b:2"), 1, "X"))
    monkeypatch.setattr(cluster, "joined", lambda: None)  # this process's folder is its own
    monkeypatch.setattr(multihost_utils, "process_allgather",
                        lambda value: np.array([2, int(value)], dtype="int32"))
    with pytest.raises(ValueError, match=(
            r"The processes disagree on the epoch to resume from: every process must see the "
            rf"chief's run folder, here {tmp_path / 'demo'} \(--output-dir on a folder every "
            r"machine sees\). Received: \[2, 0\] \(process 0 first\)")):
        runs.Run(make_args(tmp_path), "demo", backend=keras.backend.backend())
    cluster.same_everywhere(2, "the epoch")  # agreeing processes go on


class Crash(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt


def test_history_log_and_backup_continue_an_interrupted_fit(tmp_path):
    data = load_dataset("digits").subsample(64, 32)
    run = runs.Run(make_args(tmp_path), "demo", backend=keras.backend.backend())
    # Back up every epoch (no throttling) so the crash at epoch 2 resumes from 2.
    callbacks = [history.HistoryLog(run.folder), history.ThrottledBackup(run.folder, 1e9)]
    with pytest.raises(KeyboardInterrupt):
        tiny_model().fit(data.x_train, data.y_train, epochs=4, verbose=0,
                         callbacks=[*callbacks, Crash(2)])
    assert history.backup_epoch(run.folder) == 2
    assert pd.read_csv(run.folder / "history.csv")["epoch"].tolist() == [1, 2]
    callbacks = [history.HistoryLog(run.folder), history.ThrottledBackup(run.folder, 1e9)]
    fitted = tiny_model().fit(data.x_train, data.y_train, epochs=4, verbose=0,
                              callbacks=callbacks)
    assert fitted.epoch == [0, 1, 2, 3]  # the whole run's, as logged
    assert pd.read_csv(run.folder / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]
    assert history.backup_epoch(run.folder) is None  # deleted once fit completes


def test_format_and_plain():
    assert runs.plain({"a": np.float32(0.5), "b": (1, "x"), "c": None}) == {
        "a": 0.5, "b": [1, "x"], "c": None}
    assert runs.format_metrics({"loss": 0.12345, "epochs": 3}) == "loss=0.1235, epochs=3"
