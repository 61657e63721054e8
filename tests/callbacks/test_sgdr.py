"""SGDR: the rate the optimizer uses at every step, restarts, continuation."""

import os
import warnings

import keras
import numpy as np
import pytest

from callbacks import SGDR, SGDRSchedule, schedules
from tests.callbacks.helpers import fit_probe, probe_data, probe_model

STEPS = 6  # batches per epoch
SGDR_KWARGS = dict(min_lr=0.01, cycle_epochs=1, cycle_mult=2, max_lr_decay=0.8)


def expected_rates(first_epoch, epochs):
    return np.array(
        [
            schedules.sgdr_learning_rate(step / STEPS, max_lr=0.1, **SGDR_KWARGS)
            for step in range(first_epoch * STEPS, epochs * STEPS)
        ]
    )


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_rate_used_at_every_step_equals_the_formula(steps_per_execution):
    model = probe_model(STEPS, steps_per_execution=steps_per_execution)
    variables_before = list(model.optimizer.variables)
    # steps_per_epoch from fit when 1, given explicitly when 4.
    sgdr = SGDR(
        0.1,
        **SGDR_KWARGS,
        steps_per_epoch=None if steps_per_execution == 1 else STEPS,
    )
    rates, history = fit_probe(model, 7, [sgdr])

    expected = expected_rates(0, 7)
    np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-7)
    # Restarts (rate back to the decayed peak) at steps 6 and 18.
    assert rates[6] == pytest.approx(0.1 * 0.8, rel=1e-5)
    assert rates[18] == pytest.approx(0.1 * 0.8**2, rel=1e-5)
    # The history holds the rate of each epoch's last step.
    np.testing.assert_allclose(
        history.history["learning_rate"], expected[STEPS - 1 :: STEPS], rtol=1e-5
    )
    assert sgdr.cycle_ends == [1, 3, 7]

    # Afterwards the optimizer is as it was: same variables in the same
    # order, the float rate back, and training follows it again.
    after = model.optimizer.variables
    assert len(after) == len(variables_before)
    assert all(a is b for a, b in zip(after, variables_before))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 0.5
    plain_rates, _ = fit_probe(model, 1, [])
    np.testing.assert_allclose(plain_rates, 0.5)


def test_continued_fit_resumes_the_schedule():
    model = probe_model(STEPS)
    sgdr = SGDR(0.1, **SGDR_KWARGS)
    first, _ = fit_probe(model, 3, [sgdr])
    second, history = fit_probe(model, 7, [sgdr], initial_epoch=3)
    np.testing.assert_allclose(
        np.concatenate([first, second]), expected_rates(0, 7), rtol=1e-5, atol=1e-7
    )
    assert len(history.history["learning_rate"]) == 4


class CountingTraces(keras.Model):
    """Counts `train_step` calls in Python: once per trace of the step."""

    traces = 0

    def train_step(self, *args, **kwargs):
        CountingTraces.traces += 1
        return super().train_step(*args, **kwargs)


def test_continued_fit_reuses_the_traced_step():
    inputs = keras.Input((STEPS,))
    model = CountingTraces(inputs, keras.layers.Dense(1)(inputs))
    model.compile(keras.optimizers.SGD(0.5), "mse")
    x, y = probe_data(STEPS)
    sgdr = SGDR(0.1, **SGDR_KWARGS)
    CountingTraces.traces = 0
    model.fit(x, y, batch_size=len(x) // STEPS, epochs=3, callbacks=[sgdr], verbose=0)
    first = CountingTraces.traces
    assert first >= 1
    history = model.fit(x, y, batch_size=len(x) // STEPS, epochs=7, initial_epoch=3,
                        callbacks=[sgdr], verbose=0)
    assert CountingTraces.traces == first, "the second fit traced the train step again"
    np.testing.assert_allclose(history.history["learning_rate"],
                               expected_rates(3, 7)[STEPS - 1 :: STEPS], rtol=1e-5)
    # Another schedule position (a fresh start at epoch 0) is traced anew.
    model.fit(x, y, batch_size=len(x) // STEPS, epochs=1, callbacks=[sgdr], verbose=0)
    assert CountingTraces.traces > first


def test_initial_epoch_on_a_fresh_optimizer_starts_mid_schedule():
    model = probe_model(STEPS)
    rates, _ = fit_probe(model, 5, [SGDR(0.1, **SGDR_KWARGS)], initial_epoch=2)
    np.testing.assert_allclose(rates, expected_rates(2, 5), rtol=1e-5, atol=1e-7)


def test_a_schedule_compiled_in_is_put_back():
    model = probe_model(STEPS)
    decay = keras.optimizers.schedules.ExponentialDecay(0.5, 1000, 0.5)
    model.compile(keras.optimizers.SGD(decay), loss="mae")
    rates, _ = fit_probe(model, 2, [SGDR(0.1, **SGDR_KWARGS)])
    np.testing.assert_allclose(rates, expected_rates(0, 2), rtol=1e-5, atol=1e-7)
    config = model.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "ExponentialDecay"


def test_loss_scale_optimizer_follows_the_schedule_on_its_inner_optimizer():
    model = probe_model(STEPS)
    model.compile(
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.5)), loss="mae"
    )
    rates, _ = fit_probe(model, 3, [SGDR(0.1, **SGDR_KWARGS)])
    np.testing.assert_allclose(rates, expected_rates(0, 3), rtol=1e-5, atol=1e-7)
    inner = model.optimizer.inner_optimizer
    assert float(keras.ops.convert_to_numpy(inner.learning_rate)) == 0.5


class _FailOnce(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.failed = False

    def on_epoch_end(self, epoch, logs=None):
        if not self.failed:
            self.failed = True
            raise RuntimeError("interrupted")


def test_fit_after_an_interrupted_fit_restores_the_rate():
    model = probe_model(STEPS)
    names = [v.name for v in model.optimizer.variables]
    sgdr, failing = SGDR(0.1, **SGDR_KWARGS), _FailOnce()
    with pytest.raises(RuntimeError, match="interrupted"):
        fit_probe(model, 2, [sgdr, failing])
    assert sgdr.active  # on_train_end never ran
    rates, _ = fit_probe(model, 3, [sgdr, failing], initial_epoch=1)
    np.testing.assert_allclose(rates, expected_rates(1, 3), rtol=1e-5, atol=1e-7)
    assert not sgdr.active
    assert [v.name for v in model.optimizer.variables] == names
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == 0.5


def test_checkpoint_written_during_training_loads_with_its_schedule(tmp_path):
    path = os.fspath(tmp_path / "checkpoint.keras")

    class SaveAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.save(path)

    model = probe_model(STEPS)
    fit_probe(model, 2, [SGDR(0.1, **SGDR_KWARGS), SaveAfterFirstEpoch()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "SGDRSchedule"
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == STEPS
    # Continuing from the checkpoint follows the schedule: the rate of step 6.
    x, y = probe_data(STEPS)
    before = loaded.get_weights()[0][0, 0]
    loaded.fit(x[:1], y[:1], batch_size=1, epochs=1, verbose=0)
    assert loaded.get_weights()[0][0, 0] - before == pytest.approx(
        expected_rates(0, 2)[STEPS], rel=1e-5
    )


def test_schedule_serializes_and_matches_the_formula():
    schedule = SGDRSchedule(0.1, steps_per_epoch=STEPS, step_offset=-2, **SGDR_KWARGS)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(restored, SGDRSchedule)
    assert restored.get_config() == schedule.get_config()
    value = float(keras.ops.convert_to_numpy(restored(4)))
    assert value == pytest.approx(expected_rates(0, 2)[6], rel=1e-6)


def test_cycle_ends_before_fit_raise():
    with pytest.raises(RuntimeError, match="sgdr_cycle_ends"):
        _ = SGDR(0.1).cycle_ends


def test_data_of_unknown_length_needs_steps_per_epoch():
    model = probe_model(STEPS)
    x, y = probe_data(STEPS)

    def batches():
        while True:
            yield x[:1], y[:1]

    with pytest.raises(ValueError, match="`steps_per_epoch`"):
        model.fit(batches(), epochs=1, shuffle=False, verbose=0, callbacks=[SGDR(0.1)])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(max_lr=0.0), "max_lr"),
        (dict(max_lr="0.1"), "max_lr"),
        (dict(max_lr=0.1, min_lr=-0.1), "min_lr"),
        (dict(max_lr=0.1, min_lr=0.2), "min_lr"),
        (dict(max_lr=0.1, cycle_epochs=0), "cycle_epochs"),
        (dict(max_lr=0.1, cycle_epochs=1.5), "cycle_epochs"),
        (dict(max_lr=0.1, cycle_mult=0), "cycle_mult"),
        (dict(max_lr=0.1, cycle_mult=1.5), "cycle_mult"),
        (dict(max_lr=0.1, max_lr_decay=0.0), "max_lr_decay"),
        (dict(max_lr=0.1, max_lr_decay=1.1), "max_lr_decay"),
        (dict(max_lr=0.1, steps_per_epoch=0), "steps_per_epoch"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`"):
        SGDR(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps_per_epoch=0), "steps_per_epoch"),
        (dict(steps_per_epoch=2, step_offset=1.5), "step_offset"),
        (dict(steps_per_epoch=2, step_offset=True), "step_offset"),
        (dict(steps_per_epoch=2, cycle_mult=0), "cycle_mult"),
    ],
)
def test_invalid_schedule_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"`{match}`"):
        SGDRSchedule(0.1, **kwargs)
