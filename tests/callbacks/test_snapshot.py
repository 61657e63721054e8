"""Snapshot ensembles: schedule, snapshots, crash safety, ensembles."""

import os

import keras
import numpy as np
import pytest

from callbacks import (
    SGDR,
    SnapshotEnsemble,
    WeightedAverage,
    build_ensemble,
    evaluate_snapshot_ensembles,
    schedules,
)
from tests.callbacks.helpers import fit_probe, probe_model

STEPS = 4  # batches per epoch of the probe


def _kernel_sum(path):
    loaded = keras.saving.load_model(path, safe_mode=True)
    return float(np.sum(loaded.get_weights()[0]))


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_huang_schedule_at_every_step_and_snapshots_at_cycle_ends(
    tmp_path, steps_per_execution
):
    model = probe_model(STEPS, steps_per_execution=steps_per_execution)
    snapshots = SnapshotEnsemble(3, 0.2, directory=tmp_path / "snapshots")
    rates, _ = fit_probe(model, 6, [snapshots])

    expected = [
        schedules.snapshot_learning_rate(t, max_lr=0.2, total_steps=24, num_snapshots=3)
        for t in range(1, 25)
    ]
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-7)
    names = [os.path.basename(p) for p in snapshots.snapshot_paths]
    assert names == ["snapshot_01.keras", "snapshot_02.keras", "snapshot_03.keras"]
    # Each snapshot holds the weights after its cycle's last step (8, 16, 24):
    # the probe's kernel is the sum of the rates so far.
    for path, end in zip(snapshots.snapshot_paths, [8, 16, 24]):
        assert _kernel_sum(path) == pytest.approx(sum(expected[:end]), rel=1e-5)
    # The optimizer's own rate is back after training.
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 0.5


def test_keep_removes_older_snapshots(tmp_path):
    model = probe_model(STEPS)
    snapshots = SnapshotEnsemble(4, 0.2, directory=tmp_path, keep=2)
    fit_probe(model, 4, [snapshots])
    assert [os.path.basename(p) for p in snapshots.snapshot_paths] == [
        "snapshot_03.keras",
        "snapshot_04.keras",
    ]
    assert sorted(os.listdir(tmp_path)) == ["snapshot_03.keras", "snapshot_04.keras"]
    # Snapshots load with safe_mode=True, optimizer and schedule included.
    loaded = keras.saving.load_model(snapshots.snapshot_paths[0], safe_mode=True)
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "SnapshotSchedule"
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 3 * STEPS


def test_with_sgdr_snapshots_at_its_last_cycle_ends(tmp_path):
    model = probe_model(STEPS)
    sgdr = SGDR(0.1, cycle_epochs=1, cycle_mult=2)
    snapshots = SnapshotEnsemble(2, None, directory=tmp_path, sgdr=sgdr)
    rates, _ = fit_probe(model, 7, [sgdr, snapshots])  # cycles end at 1, 3, 7
    expected = [sgdr.learning_rate_at(step / STEPS) for step in range(7 * STEPS)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-7)
    assert len(snapshots.snapshot_paths) == 2
    for path, epoch in zip(snapshots.snapshot_paths, [3, 7]):
        expected_sum = sum(expected[: epoch * STEPS])
        assert _kernel_sum(path) == pytest.approx(expected_sum, rel=1e-5)


def test_with_sgdr_missing_from_fit_raises(tmp_path):
    model = probe_model(STEPS)
    sgdr = SGDR(0.1, cycle_epochs=1)
    snapshots = SnapshotEnsemble(1, 0.1, directory=tmp_path, sgdr=sgdr)
    with pytest.raises(ValueError, match="`sgdr`.*callbacks=\\[sgdr, snapshots\\]"):
        fit_probe(model, 2, [snapshots])


def test_continued_fit_keeps_the_plan(tmp_path):
    model = probe_model(STEPS)
    snapshots = SnapshotEnsemble(2, 0.2, directory=tmp_path)
    first, _ = fit_probe(model, 2, [snapshots])
    # Planned for 2 epochs, 1 snapshot each; a new fit to 4 epochs re-plans
    # 2 cycles of 2 epochs and starts mid-way.
    second, _ = fit_probe(model, 4, [snapshots], initial_epoch=2)
    expected = [
        schedules.snapshot_learning_rate(t, max_lr=0.2, total_steps=16, num_snapshots=2)
        for t in range(9, 17)
    ]
    np.testing.assert_allclose(second, expected, rtol=1e-5, atol=1e-7)
    # The second plan's first cycle ended at step 8, before this fit: only
    # its second snapshot is new (and overwrites snapshot_02 of the first fit).
    assert [os.path.basename(p) for p in snapshots.snapshot_paths] == [
        "snapshot_01.keras",
        "snapshot_02.keras",
    ]
    assert len(first) == 8


def test_crash_while_writing_leaves_earlier_snapshots_intact(tmp_path, monkeypatch):
    model = probe_model(STEPS)
    real_save = model.save
    calls = []

    def failing_save(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as handle:  # half a file, then the crash
                handle.write(b"PK\x03\x04 truncated")
            raise OSError("No space left on device")
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(model, "save", failing_save)
    snapshots = SnapshotEnsemble(3, 0.2, directory=tmp_path)
    with pytest.raises(OSError, match="No space left"):
        fit_probe(model, 3, [snapshots])
    assert os.path.dirname(calls[1]) == os.fspath(tmp_path)  # same folder
    assert os.listdir(tmp_path) == ["snapshot_01.keras"]
    first = os.path.join(os.fspath(tmp_path), "snapshot_01.keras")
    assert snapshots.snapshot_paths == [first]
    loaded = keras.saving.load_model(snapshots.snapshot_paths[0], safe_mode=True)
    assert loaded.get_weights()[0].shape == (STEPS, 1)
    # The interrupted fit left its schedule on the optimizer; the next fit
    # with the same callback puts the optimizer's own rate back at its end.
    fit_probe(model, 3, [snapshots], initial_epoch=2)
    assert len(snapshots.snapshot_paths) == 2
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_snapshots=0, max_lr=0.1), "num_snapshots"),
        (dict(num_snapshots=2, max_lr=None), "max_lr"),
        (dict(num_snapshots=2, max_lr=-1.0), "max_lr"),
        (dict(num_snapshots=2, max_lr=0.2, sgdr=SGDR(0.1)), "max_lr"),
        (dict(num_snapshots=2, max_lr=0.1, sgdr="sgdr"), "sgdr"),
        (dict(num_snapshots=2, max_lr=0.1, directory=""), "directory"),
        (dict(num_snapshots=2, max_lr=0.1, directory=3), "directory"),
        (dict(num_snapshots=2, max_lr=0.1, keep=0), "keep"),
        (dict(num_snapshots=2, max_lr=0.1, steps_per_epoch=0), "steps_per_epoch"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`"):
        SnapshotEnsemble(**kwargs)


@pytest.mark.parametrize(
    "make, epochs, steps_per_execution, match",
    [
        (lambda d: SnapshotEnsemble(4, 0.1, directory=d), 3, 1, "num_snapshots"),
        (
            lambda d: SnapshotEnsemble(
                3, None, directory=d, sgdr=SGDR(0.1, cycle_epochs=1)
            ),
            6,
            1,
            "num_snapshots",  # cycles end at 1 and 3 only
        ),
        # 3 cycles of ceil(16/3) = 6 steps: the first ends mid-epoch.
        (lambda d: SnapshotEnsemble(3, 0.1, directory=d), 4, 1, "num_snapshots"),
        # 4 cycles of ceil(36/4) = 9 steps: the first ends after step 1 of epoch 3.
        (lambda d: SnapshotEnsemble(4, 0.1, directory=d), 9, 2, "num_snapshots"),
    ],
)
def test_invalid_plans_raise_before_training(
    tmp_path, make, epochs, steps_per_execution, match
):
    model = probe_model(STEPS, steps_per_execution=steps_per_execution)
    callbacks = [make(tmp_path)]
    if callbacks[0].sgdr is not None:
        callbacks.insert(0, callbacks[0].sgdr)
    with pytest.raises(ValueError, match=f"`{match}`"):
        fit_probe(model, epochs, callbacks)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


# Ensembles -------------------------------------------------------------------------


def _classifier(seed, outputs=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    probabilities = keras.layers.Dense(outputs, activation="softmax")(hidden)
    return keras.Model(inputs, probabilities, name="classifier")


def _predict(model, x):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, model(x))


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 5)).astype("float32"), rng.integers(0, 3, size=20)


def test_ensemble_of_identical_members_equals_one_member(tmp_path):
    x, _ = _data()
    member = _classifier(1)
    path = os.fspath(tmp_path / "member.keras")
    member.save(path)
    ensemble = build_ensemble([path, path, path])
    np.testing.assert_allclose(_predict(ensemble, x), _predict(member, x), rtol=1e-6)
    assert [layer.name for layer in ensemble.layers[1:4]] == [
        "member_1",
        "member_2",
        "member_3",
    ]
    assert member.name == "classifier"  # the members themselves are not renamed


def test_weighted_ensemble_saves_and_loads_as_one_file(tmp_path):
    x, _ = _data()
    first, second = _classifier(1), _classifier(2)
    ensemble = build_ensemble([first, second], weights=[1, 3])
    expected = 0.25 * _predict(first, x) + 0.75 * _predict(second, x)
    np.testing.assert_allclose(_predict(ensemble, x), expected, rtol=1e-6)
    path = os.fspath(tmp_path / "ensemble.keras")
    ensemble.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(_predict(loaded, x), _predict(ensemble, x))
    assert isinstance(loaded.get_layer("weighted_average"), WeightedAverage)

    equal = build_ensemble([first, second])
    equal.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        _predict(reloaded, x),
        (_predict(first, x) + _predict(second, x)) / 2,
        rtol=1e-6,
    )


def test_a_model_passed_twice_counts_twice_and_round_trips(tmp_path):
    x, _ = _data()
    first, second = _classifier(1), _classifier(2)
    ensemble = build_ensemble([first, second, first])
    expected = (2 * _predict(first, x) + _predict(second, x)) / 3
    np.testing.assert_allclose(_predict(ensemble, x), expected, rtol=1e-6)
    path = os.fspath(tmp_path / "ensemble.keras")
    ensemble.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_predict(loaded, x), expected, rtol=1e-6)
    single = build_ensemble([first, first])
    np.testing.assert_array_equal(_predict(single, x), _predict(first, x))


def test_ensemble_of_one_and_of_multi_output_members():
    x, _ = _data()
    single = build_ensemble([_classifier(1)])
    np.testing.assert_array_equal(_predict(single, x), _predict(_classifier(1), x))

    def two_headed(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((5,))
        heads = [keras.layers.Dense(2)(inputs), keras.layers.Dense(1)(inputs)]
        return keras.Model(inputs, heads)

    a, b = two_headed(1), two_headed(2)
    outputs = _predict(build_ensemble([a, b], weights=[1, 1]), x)
    pa, pb = _predict(a, x), _predict(b, x)
    for got, one, other in zip(outputs, pa, pb):
        np.testing.assert_allclose(got, (one + other) / 2, rtol=1e-6)


def test_invalid_ensembles(tmp_path):
    member = _classifier(1)
    cases = [
        (lambda: build_ensemble([]), "models_or_paths"),
        (lambda: build_ensemble("model.keras"), "models_or_paths"),
        (lambda: build_ensemble(member), "models_or_paths"),
        (lambda: build_ensemble([member, 3]), "models_or_paths"),
        (lambda: build_ensemble([tmp_path / "nothing.keras"]), "models_or_paths"),
        (lambda: build_ensemble([member, _classifier(2, 4)]), "models_or_paths"),
        (lambda: build_ensemble([member, member], weights=[1.0]), "weights"),
        (lambda: build_ensemble([member, member], weights=[1.0, -1.0]), "weights"),
        (lambda: build_ensemble([member, member], weights=[0, 0]), "weights"),
        (lambda: build_ensemble([member, member], weights="11"), "weights"),
        (lambda: build_ensemble([member, member], weights=[1, True]), "weights"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=f"`{match}`"):
            call()


def test_weighted_average_layer_checks_its_inputs():
    with pytest.raises(ValueError, match="`member_weights`"):
        WeightedAverage([-1.0, 1.0])
    layer = WeightedAverage([1.0, 1.0])
    one = np.ones((2, 3), dtype="float32")
    with pytest.raises(ValueError, match="expected 2 inputs"):
        layer([one, one, one])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([one, 3 * one])), 2.0)


def test_evaluate_snapshot_ensembles_per_k():
    x, y = _data()
    members = [_classifier(seed) for seed in (1, 2, 3)]
    table = evaluate_snapshot_ensembles(
        members, x, y, loss="sparse_categorical_crossentropy", batch_size=8
    )
    assert list(table["num_snapshots"]) == [1, 2, 3]
    assert set(table.columns) == {"num_snapshots", "loss", "accuracy"}
    # k = 2 is the average of the last two members' probabilities.
    averaged = (_predict(members[1], x) + _predict(members[2], x)) / 2
    picked = averaged[np.arange(len(y)), y]
    assert table["loss"][1] == pytest.approx(-np.mean(np.log(picked)), rel=1e-5)
    assert table["accuracy"][1] == pytest.approx(np.mean(averaged.argmax(1) == y))
    last = _predict(members[2], x)[np.arange(len(y)), y]
    assert table["loss"][0] == pytest.approx(-np.mean(np.log(last)), rel=1e-5)


def test_evaluate_snapshot_ensembles_validation():
    x, y = _data()
    member = _classifier(1)
    inputs = keras.Input((5,))
    heads = [keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)]
    two_outputs = keras.Model(inputs, heads)
    cases = [
        (dict(models_or_paths=[member], batch_size=0), "batch_size"),
        (dict(models_or_paths=[member], metrics="accuracy"), "metrics"),
        (dict(models_or_paths=[two_outputs]), "models_or_paths"),
        (dict(models_or_paths=[]), "models_or_paths"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=f"`{match}`"):
            evaluate_snapshot_ensembles(
                x=x, y=y, loss="sparse_categorical_crossentropy", **kwargs
            )


class _Crash(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at_epoch:
            raise RuntimeError("crash")


def test_resumed_fit_keeps_saved_snapshots_and_continues_the_schedule(tmp_path, recwarn):
    expected = [
        schedules.snapshot_learning_rate(t, max_lr=0.2, total_steps=24, num_snapshots=3)
        for t in range(1, 25)
    ]
    backup = tmp_path / "backup"
    snapshots = SnapshotEnsemble(3, 0.2, directory=tmp_path / "snapshots")
    with pytest.raises(RuntimeError, match="crash"):
        fit_probe(probe_model(STEPS), 6,
                  [snapshots, keras.callbacks.BackupAndRestore(str(backup)), _Crash(3)])
    assert [os.path.basename(p) for p in snapshots.snapshot_paths] == ["snapshot_01.keras"]

    # A new process would build everything again: a fresh model and callbacks.
    snapshots = SnapshotEnsemble(3, 0.2, directory=tmp_path / "snapshots")
    rates, history = fit_probe(
        probe_model(STEPS), 6, [snapshots, keras.callbacks.BackupAndRestore(str(backup))]
    )
    assert len(history.history["loss"]) == 3  # epochs 4-6 only
    np.testing.assert_allclose(rates, expected[12:], rtol=1e-5, atol=1e-7)
    names = [os.path.basename(p) for p in snapshots.snapshot_paths]
    assert names == ["snapshot_01.keras", "snapshot_02.keras", "snapshot_03.keras"]
    assert _kernel_sum(snapshots.snapshot_paths[-1]) == pytest.approx(sum(expected), rel=1e-5)
    # The backup held the optimizer's variables as they are with the schedule in.
    assert not [w for w in recwarn if "Skipping variable loading" in str(w.message)]


def test_resumed_sgdr_fit_restores_the_optimizer_state(tmp_path, recwarn):
    backup = tmp_path / "backup"

    def model():
        result = probe_model(STEPS)
        result.compile(keras.optimizers.Adam(0.1), loss="mae")
        return result

    interrupted = model()
    with pytest.raises(RuntimeError, match="crash"):
        fit_probe(interrupted, 3, [SGDR(0.2, cycle_epochs=1),
                                   keras.callbacks.BackupAndRestore(str(backup)), _Crash(2)])
    moments = [np.array(v) for v in interrupted.optimizer.variables[1:]]
    resumed = model()
    sgdr = SGDR(0.2, cycle_epochs=1)

    class Check(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.state = [np.array(v) for v in self.model.optimizer.variables]

    check = Check()
    fit_probe(resumed, 3, [sgdr, keras.callbacks.BackupAndRestore(str(backup)), check])
    assert not [w for w in recwarn if "Skipping variable loading" in str(w.message)]
    assert int(check.state[0]) == 2 * STEPS  # the step counter of epoch 3's start
    for restored, saved in zip(check.state[1:], moments):
        np.testing.assert_allclose(restored, saved)
