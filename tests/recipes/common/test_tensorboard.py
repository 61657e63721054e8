"""`--tensorboard`: `history.TensorBoardLog` through `Run.callbacks()`.

The event files are read back with TensorBoard's own reader. Two runs of
`recipes.mlp` (module fixtures): one as written, one stopped after epochs
that its last backup does not hold, then resumed by the same command.
Under JAX too (tests/test_backends.py).
"""

import keras
import numpy as np
import pandas as pd
import pytest

from recipes import mlp
from recipes.common import flags, history, runs

pytestmark = pytest.mark.xdist_group("tensorboard")

# No --smoke: it caps --epochs at 2.
FLAGS = ["--tensorboard", "--train-size", "64", "--hidden-units", "16", "--quiet"]
TRAIN_TAGS = {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}


def curves(folder) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """`{split: {tag: [(step, value), ...]}}`: every scalar in `folder/logs/`,
    as TensorBoard reads it (every event kept, in the order written)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    found = {}
    for split in ("train", "validation"):
        if not (folder / history.LOGS_DIR / split).is_dir():
            continue
        reader = EventAccumulator(str(folder / history.LOGS_DIR / split),
                                  size_guidance={"tensors": 0})
        reader.Reload()
        found[split] = {
            tag: [(event.step, float(tensor_util.make_ndarray(event.tensor_proto)))
                  for event in reader.Tensors(tag)]
            for tag in reader.Tags()["tensors"]
        }
    return found


def assert_curves_match_history(found, table: pd.DataFrame) -> None:
    """Each curve has one point per epoch of `history.csv`, steps 0..N-1,
    with that row's value."""
    steps = list(range(len(table)))
    columns = {("train", f"epoch_{key}"): key for key in ("loss", "accuracy", "learning_rate")}
    columns.update({("validation", f"epoch_{key}"): f"val_{key}" for key in ("loss", "accuracy")})
    for (split, tag), column in columns.items():
        if column not in table:  # a constant rate: no column
            continue
        points = found[split][tag]
        assert [step for step, _ in points] == steps, (split, tag)
        assert [value for _, value in points] == pytest.approx(table[column].tolist(), rel=1e-6)


class Crash(keras.callbacks.Callback):
    """Stops the run as epoch `at` ends, after the callbacks before it."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt


@pytest.fixture(scope="session")
def plain(tmp_path_factory):
    output = tmp_path_factory.mktemp("plain")
    mlp.main([*FLAGS, "--epochs", "3", "--output-dir", str(output)])
    return output / "mlp"


@pytest.fixture(scope="session")
def resumed(tmp_path_factory):
    """A 4-epoch cosine run backed up after epoch 1 only and stopped after
    epoch 3 (epochs 2 and 3 logged in history.csv, not backed up), then the
    same command. Returns the folder and what it held between the two."""
    output = tmp_path_factory.mktemp("resumed")
    argv = [*FLAGS, "--epochs", "4", "--schedule", "cosine", "--output-dir", str(output)]
    original = runs.Run.callbacks

    def crashing(run, **kwargs):
        chosen = original(run, **kwargs)
        for callback in chosen:
            if isinstance(callback, history.ThrottledBackup):
                callback.overhead = 1e-9  # after the first epoch, never worth a backup
        return [*chosen, Crash(at=3)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs.Run, "callbacks", crashing)
        with pytest.raises(KeyboardInterrupt):
            mlp.main(argv)
    folder = output / "mlp"
    between = {"backup": history.backup_epoch(folder),
               "epochs": pd.read_csv(folder / history.HISTORY_FILE)["epoch"].tolist(),
               "curves": curves(folder)}
    mlp.main(argv)
    return folder, between


@pytest.mark.slow
def test_each_epoch_is_logged_once_with_the_rate_it_trained_at(plain):
    found = curves(plain)
    assert TRAIN_TAGS <= set(found["train"])
    assert {"epoch_loss", "epoch_accuracy"} <= set(found["validation"])
    table = pd.read_csv(plain / history.HISTORY_FILE)
    assert table["epoch"].tolist() == [1, 2, 3]
    assert_curves_match_history(found, table)
    rates = [rate for _, rate in found["train"]["epoch_learning_rate"]]
    assert rates == pytest.approx([2e-3] * 3)  # --learning-rate, constant


@pytest.mark.slow
def test_a_resumed_run_continues_the_curves_without_repeating_a_step(resumed):
    folder, between = resumed
    # Stopped after epoch 3: only the backed-up epoch 1 had reached the files.
    assert between["backup"] == 1 and between["epochs"] == [1, 2, 3]
    assert {tag: [step for step, _ in points]
            for tag, points in between["curves"]["train"].items()} == dict.fromkeys(TRAIN_TAGS,
                                                                                   [0])
    # Resumed from epoch 1: epochs 2-4 trained (again) and logged once each,
    # with the values history.csv holds for them, the cosine rate included.
    found = curves(folder)
    table = pd.read_csv(folder / history.HISTORY_FILE)
    assert table["epoch"].tolist() == [1, 2, 3, 4] and "learning_rate" in table
    assert_curves_match_history(found, table)
    rates = [rate for _, rate in found["train"]["epoch_learning_rate"]]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    assert found["train"]["epoch_loss"][0] == between["curves"]["train"]["epoch_loss"][0]


def test_the_rate_is_the_one_each_epoch_trained_at(tmp_path):
    """An in-graph schedule: the rate as the epoch began (at its end the
    optimizer reports the next step's). `ReduceLROnPlateau`: the rate
    before it reduces it (its `learning_rate` log)."""
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def fit(folder, optimizer, callbacks=()):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer, "mse")
        fitted = model.fit(x, y, batch_size=16, epochs=3, verbose=0,
                           callbacks=[*callbacks, history.TensorBoardLog(folder)])
        points = curves(folder)["train"]["epoch_learning_rate"]
        assert [step for step, _ in points] == [0, 1, 2]
        return [rate for _, rate in points], fitted

    # 2 steps per epoch: steps 0-1 at 0.1, 2-3 at 0.01, 4-5 at 0.001.
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1, 3], [0.1, 0.01, 0.001])
    rates, _ = fit(tmp_path / "schedule", keras.optimizers.SGD(schedule))
    assert rates == pytest.approx([0.1, 0.01, 0.001])

    plateau = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9)
    rates, fitted = fit(tmp_path / "plateau", keras.optimizers.SGD(0.01), [plateau])
    assert rates == pytest.approx(fitted.history["learning_rate"])
    assert rates[0] == pytest.approx(0.01) and rates[-1] < rates[0]


def test_run_callbacks_log_with_the_flag_and_a_fresh_start_drops_old_logs(tmp_path):
    def callbacks(*argv, initial_epoch=0):
        parser = flags.parser("Demo.", epochs=3, batch_size=16, learning_rate=1e-2)
        args = parser.parse_args(["--output-dir", str(tmp_path), "--quiet", *argv])
        return runs.Run(args, "demo", backend=keras.backend.backend()).callbacks(
            initial_epoch=initial_epoch)

    chosen = callbacks("--tensorboard")
    assert [type(c) for c in chosen] == [history.HistoryLog, history.ThrottledBackup,
                                         history.TensorBoardLog]
    assert chosen[2].backup is chosen[1]
    assert "tensorboard" not in runs.run_info(tmp_path / "demo")["flags"]  # a resume may add it
    logs = tmp_path / "demo" / history.LOGS_DIR
    logs.mkdir()
    assert [type(c) for c in callbacks(initial_epoch=2)][-1] is history.ThrottledBackup
    assert logs.is_dir()  # a second phase keeps the first's curves
    backup = tmp_path / "demo" / history.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    callbacks()
    assert logs.is_dir()  # a resume continues them
    (backup / "training_metadata.json").unlink()
    callbacks()
    assert not logs.exists()  # a fresh start: an earlier run's curves

