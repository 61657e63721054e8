"""Test set-up shared by every package's tests.

TensorFlow's C++ logs are silenced before anything imports it, and every test
starts from the same random seed. JAX runs keep their compiled steps in one
folder for the session (shared with the JAX subprocess), not in the user's
`~/.keras/jax_cache`.
"""

import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="tests-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
else:
    _JAX_CACHE = None

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")  # --mixed-precision sets it globally


def pytest_collection_modifyitems(config, items):
    """Starts the JAX subprocess run of tests/test_backends.py as soon as it is
    collected, and moves the test that waits for it to the end, so that it
    overlaps every TensorFlow test instead of blocking those after it."""
    waits = [item for item in items if item.name == "test_models_callbacks_and_recipes_under_jax"]
    for item in waits:
        item.module.start_jax_run()
        items.remove(item)
    items.extend(waits)


def pytest_sessionfinish(session, exitstatus):
    module = sys.modules.get("tests.test_backends")
    if module is not None:
        module.stop_jax_run()
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
