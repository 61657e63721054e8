"""Pins the private Keras optimizer attributes `callbacks/_optimizer.py` relies on.

Keras has no public way to put a float learning rate back after a schedule
replaced it, nor to read the raw step counter of an optimizer with gradient
accumulation: `_optimizer.py` is the one module that reaches for
`_learning_rate`, `_variables` and `_iterations`. A Keras upgrade that moves
them fails here, with the attribute named, before any callback misbehaves.
"""

import keras
import numpy as np

from callbacks import _optimizer
from tests.callbacks.helpers import probe_data, probe_model


def test_the_private_attributes_exist_and_hold_what_the_module_expects():
    model = probe_model(4)
    model.optimizer.build(model.trainable_variables)
    optimizer = model.optimizer
    assert isinstance(optimizer._learning_rate, keras.Variable), "_learning_rate"
    assert any(v is optimizer._learning_rate for v in optimizer._variables), "_variables"
    assert int(keras.ops.convert_to_numpy(optimizer._iterations)) == 0, "_iterations"
    # The public getter hands back the very variable (LRFinder sweeps it).
    assert optimizer.learning_rate is optimizer._learning_rate


def test_a_schedule_installed_then_removed_leaves_the_optimizer_as_it_was():
    model = probe_model(4)
    model.optimizer.build(model.trainable_variables)
    optimizer = model.optimizer
    before = [v.path for v in optimizer.variables]
    rate = optimizer._learning_rate
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, 1, 0.5)
    token = _optimizer.install_schedule(model, schedule)
    assert optimizer._learning_rate is schedule
    assert all(v is not rate for v in optimizer.variables)  # untracked, as if built so
    x, y = probe_data(4)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=False)
    assert _optimizer.optimizer_step(model) == 4
    _optimizer.restore_learning_rate(token)
    assert optimizer._learning_rate is rate
    assert [v.path for v in optimizer.variables] == before  # back at its old position
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 0.5)
