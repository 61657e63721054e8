"""SWA: the mean of the cycle-end weights, batch norm recomputed, against references."""

import keras
import numpy as np
import pytest

import callbacks


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x @ rng.normal(size=(5, 1))).astype("float32")


def model_with_batch_norm():
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, name="dense"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(1, name="out"),
    ])


class RecordEpochEnds(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


@pytest.mark.parametrize("start_epoch, every, expected", [(0, 1, [1, 2, 3, 4, 5, 6]),
                                                         (2, 2, [4, 6]), (0, 3, [3, 6])])
def test_weights_are_the_plain_mean_of_the_chosen_epoch_ends(start_epoch, every, expected):
    x, y = data()
    model = model_with_batch_norm()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    record = RecordEpochEnds()  # before SWA: it sees each epoch's end weights
    swa = callbacks.SWA(start_epoch, every)  # no batch_norm_data: the mean itself
    model.fit(x, y, batch_size=16, epochs=6, callbacks=[record, swa], verbose=0)
    assert swa.averaged_epochs == expected
    chosen = [record.weights[epoch - 1] for epoch in expected]
    for got, *points in zip(model.get_weights(), *chosen):
        np.testing.assert_allclose(got, np.mean(points, axis=0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(model.get_weights()[0], record.weights[-1][0])


def test_batch_norm_statistics_become_the_mean_of_the_batch_statistics():
    x, y = data()
    model = model_with_batch_norm()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    swa = callbacks.SWA(0, 2, batch_norm_data=x, batch_size=16)
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[swa])
    # Independent: the first Dense's outputs per batch, their moments averaged.
    hidden = keras.Model(model.inputs[0], model.get_layer("dense").output)
    outputs = [np.asarray(hidden(x[i:i + 16])) for i in range(0, 64, 16)]
    bn = model.get_layer("bn")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean),
                               np.mean([o.mean(0) for o in outputs], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance),
                               np.mean([o.var(0) for o in outputs], 0), rtol=1e-4, atol=1e-6)
    assert bn.momentum == 0.99  # restored


def test_build_swa_from_saved_snapshots(tmp_path):
    x, y = data()
    paths = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        member = model_with_batch_norm()
        member.compile(keras.optimizers.SGD(0.05), "mse")
        member.fit(x, y, epochs=1, verbose=0)
        member.save(tmp_path / f"m{seed}.keras")
        paths.append(tmp_path / f"m{seed}.keras")
    members = [keras.saving.load_model(p) for p in paths]
    averaged = callbacks.build_swa(paths)
    for got, *points in zip(averaged.get_weights(), *[m.get_weights() for m in members]):
        np.testing.assert_allclose(got, np.mean(points, axis=0), rtol=1e-6)
    recomputed = callbacks.build_swa(members, batch_norm_data=x, batch_size=64)
    hidden = keras.Model(recomputed.inputs[0], recomputed.get_layer("dense").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(recomputed.get_layer("bn").moving_mean),
                               np.asarray(hidden(x)).mean(0), rtol=1e-5, atol=1e-6)
    assert callbacks.update_batch_norm(keras.Sequential([keras.Input((5,)),
                                                         keras.layers.Dense(1)]), x) == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"start_epoch": -1}, "start_epoch"), ({"every": 0}, "every"),
    ({"batch_size": 0}, "batch_size"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"argument `{match}`"):
        callbacks.SWA(**kwargs)


def test_nothing_to_average():
    with pytest.raises(ValueError, match="models_or_paths"):
        callbacks.build_swa([])
    with pytest.raises(ValueError, match="weight_lists"):
        callbacks.average_weights([])
