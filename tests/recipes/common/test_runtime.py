"""`recipes.common.runtime`: backend choice, set-up, precision, compile cache, devices."""

import argparse
import importlib.util
import logging
import os
from pathlib import Path

import keras
import pytest

from recipes.common import runtime


def test_backend_is_the_flag_else_keras_backend_else_the_preference_else_tensorflow():
    assert runtime.choose_backend("tensorflow", "jax", environ={"KERAS_BACKEND": "jax"}) == (
        "tensorflow")
    assert runtime.choose_backend(None, "jax", environ={"KERAS_BACKEND": "tensorflow"}) == (
        "tensorflow")
    assert runtime.choose_backend(None, None, environ={}) == "tensorflow"  # Keras' own default
    expected = "jax" if importlib.util.find_spec("jax") else "tensorflow"
    assert runtime.choose_backend(None, "jax", environ={}) == expected
    assert runtime.choose_backend(None, "not_installed_backend", environ={}) == "tensorflow"


def _flags(**overrides):
    values = dict(backend=None, seed=0, cpu_devices=None, mixed_precision=None,
                  compile_cache=None, distribute=False, steps_per_execution=8)
    return argparse.Namespace(**{**values, **overrides})


def test_setup_seeds_and_leaves_args_alone(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    args = _flags(seed=3)
    before = vars(args).copy()
    current = keras.backend.backend()
    assert runtime.setup(args, backend=current) == current
    first = keras.random.uniform((3,), seed=None)
    runtime.setup(args, backend=current)
    again = keras.random.uniform((3,), seed=None)
    assert keras.ops.convert_to_numpy(first).tolist() == keras.ops.convert_to_numpy(
        again).tolist()
    assert vars(args) == before


@pytest.mark.parametrize("verbose, level, environ", [
    (False, "3", {}),  # the default: TensorFlow's own log lines left out
    (True, None, {}),  # --verbose: TensorFlow's defaults
    (False, "1", {"TF_CPP_MIN_LOG_LEVEL": "1"}),  # the user's own setting is kept
])
def test_setup_quiets_tensorflow_unless_asked(monkeypatch, verbose, level, environ):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    runtime.setup(_flags(verbose=verbose), backend=keras.backend.backend())
    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == level
    quiet = level == "3"
    assert logger.level == (logging.ERROR if quiet else logging.NOTSET)


def test_setup_in_a_process_that_runs_another_backend_says_so():
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    with pytest.raises(ValueError, match=rf"already imported with the "
                                         rf"'{keras.backend.backend()}' backend.*--backend"):
        runtime.setup(_flags(backend=other))


@pytest.mark.parametrize("flags, named", [
    ({"distribute": True}, "--distribute"),
    ({"cpu_devices": 2}, "--cpu-devices"),
    ({"distribute": True, "cpu_devices": 2}, "--distribute and --cpu-devices"),
])
def test_torch_refuses_the_flags_for_several_devices(flags, named):
    """Checked before Keras: refused the same way whichever backend this process runs."""
    with pytest.raises(ValueError, match=rf"`backend`: {named} run on JAX \(keras.distribution\) "
                                         r"or TensorFlow.*Received: backend='torch'"):
        runtime.setup(_flags(backend="torch", **flags))


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the torch run")
def test_torch_runs_one_step_per_execution():
    assert runtime.steps_per_execution(_flags(steps_per_execution=8)) == 1


def test_auto_mixed_precision_picks_by_hardware_and_refuses_emulated_bfloat16(monkeypatch):
    monkeypatch.setattr(runtime, "gpu_visible", lambda: False)
    monkeypatch.setattr(runtime, "_cpu_has_bfloat16", lambda: True)
    assert runtime.mixed_precision("auto") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    monkeypatch.setattr(runtime, "gpu_visible", lambda: True)
    assert runtime.mixed_precision("auto") == "mixed_float16"
    keras.mixed_precision.set_global_policy("float32")
    monkeypatch.setattr(runtime, "gpu_visible", lambda: False)
    monkeypatch.setattr(runtime, "_cpu_has_bfloat16", lambda: False)
    with pytest.raises(ValueError, match=r"argument `mixed_precision`.*no bfloat16"):
        runtime.mixed_precision("auto")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_compile_cache_is_the_users_and_can_be_moved_or_turned_off(monkeypatch, tmp_path):
    jax = pytest.importorskip("jax")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    before = jax.config.jax_compilation_cache_dir
    try:
        assert runtime.compilation_cache() == tmp_path / "home" / "jax_cache"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "home" / "jax_cache")
        assert jax.config.jax_compilation_cache_max_size == runtime.COMPILE_CACHE_BYTES
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "env"))
        assert runtime.compilation_cache() == tmp_path / "env"
        mine = str(tmp_path / "mine")
        assert runtime.compilation_cache(mine) == Path(mine)
        assert runtime.compilation_cache("none") is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_keras_home_is_where_keras_keeps_its_files(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "mine"))
    assert runtime.keras_home() == tmp_path / "mine"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runtime.keras_home() == tmp_path / ".keras"


def test_without_distribute_the_scope_does_nothing_and_steps_are_the_flag():
    args = _flags(steps_per_execution=5)
    with runtime.distributed(args):
        pass
    assert runtime.steps_per_execution(args) == 5
    assert keras.distribution.distribution() is None


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute only")
def test_tf_distribute_runs_one_step_per_execution():
    assert runtime.steps_per_execution(_flags(distribute=True, steps_per_execution=8)) == 1
