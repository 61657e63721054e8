"""`recipes.common.training`: the model check, optimizer, schedules, LR finder."""

import argparse

import keras
import pytest

import callbacks
from recipes.common import runs, training
from recipes.common.data import load_dataset


def flags_of(**values):
    defaults = dict(learning_rate=0.01, ema=None, schedule="constant", epochs=5, l1=0.0,
                    l2=0.0, model="mlp", csv=None, images=None, batch_size=32, seed=0,
                    suggestion="valley")
    return argparse.Namespace(**{**defaults, **values})


def test_optimizer_takes_the_rate_it_is_given_and_ema_from_the_flag():
    plain = training.optimizer(flags_of(), 0.5)
    assert isinstance(plain, keras.optimizers.Adam) and not plain.use_ema
    assert float(keras.ops.convert_to_numpy(plain.learning_rate)) == pytest.approx(0.5)
    averaged = training.optimizer(flags_of(ema=0.9), 0.1, keras.optimizers.SGD, momentum=0.8)
    assert isinstance(averaged, keras.optimizers.SGD) and averaged.use_ema
    assert averaged.ema_momentum == pytest.approx(0.9) and averaged.momentum == 0.8


@pytest.mark.parametrize("schedule, kind", [
    ("constant", None), ("cosine", callbacks.SGDR), ("sgdr", callbacks.SGDR),
    ("one_cycle", callbacks.OneCycle), ("plateau", keras.callbacks.ReduceLROnPlateau),
])
def test_schedule_callbacks(schedule, kind):
    chosen = training.schedule_callbacks(flags_of(schedule=schedule), 0.3, patience=9)
    assert [type(c) for c in chosen] == ([kind] if kind else [])
    if schedule == "cosine":
        assert chosen[0].max_lr == 0.3 and chosen[0].cycle_epochs == 5
    if schedule == "plateau":
        assert chosen[0].patience == 3
    with_ema = training.schedule_callbacks(flags_of(schedule=schedule, ema=0.9), 0.3)
    assert isinstance(with_ema[-1], keras.callbacks.SwapEMAWeights)


def test_penalties_come_from_the_flags():
    assert training.penalties(flags_of(l1=1e-5)) == {"l1": 1e-5, "l2": 0.0}


def test_model_spec_refuses_a_model_of_another_kind():
    assert training.model_spec(flags_of(model="mlp"), input_kind="vector").name == "mlp"
    with pytest.raises(ValueError, match=r"expected a zoo image classifier for --model, one of: "
                                         r".*cnn.*Received: model='mlp'"):
        training.model_spec(flags_of(model="mlp"), task="classification", input_kind="image",
                            kind="image classifier")
    with pytest.raises(ValueError, match="--csv needs a vector model"):
        training.model_spec(flags_of(model="cnn", csv="table.csv"))


def make_run(tmp_path, **values):
    args = flags_of(output_dir=tmp_path, restart=False, quiet=True, backend=None,
                    cpu_devices=None, mixed_precision=None, compile_cache=None, **values)
    return args, runs.Run(args, "demo", backend=keras.backend.backend())


def test_a_fixed_learning_rate_is_returned_as_it_is(tmp_path):
    args, run = make_run(tmp_path, learning_rate=0.5)
    assert training.find_learning_rate(args, None, None, run, loss="mse") == 0.5


def test_auto_learning_rate_runs_the_range_test_records_it_and_is_found_on_resume(tmp_path):
    args, run = make_run(tmp_path, learning_rate="auto")
    data = load_dataset("digits").subsample(256, 32)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    before = [w.copy() for w in model.get_weights()]
    rate = training.find_learning_rate(args, model, data, run,
                                       loss="sparse_categorical_crossentropy")
    assert 1e-7 < rate < 10 and args.learning_rate == "auto"
    assert run.info()["learning_rate_found"] == pytest.approx(rate)
    assert all((a == b).all() for a, b in zip(before, model.get_weights()))  # left as they were
    backup = tmp_path / "demo" / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    _, resumed = make_run(tmp_path, learning_rate="auto")
    assert training.find_learning_rate(args, None, None, resumed, loss="mse") == (
        pytest.approx(rate))
