"""Test set-up shared by every package's tests.

TensorFlow's C++ logs are silenced before anything imports it, XLA compiles
with its cheaper passes, and every test starts from the same random seed.
JAX runs keep their compiled steps in one folder for the session (shared
with the JAX subprocess), not in the user's `~/.keras/jax_cache`.

`pytest` runs the TensorFlow tests on two pytest-xdist workers (`-n 2` in
pyproject.toml) beside the JAX and torch runs of tests/test_backends.py,
subprocesses started as soon as collection ends, by the process that lives
longest (the xdist controller, or pytest itself with `-n 0`). Modules that
share one expensive run between their tests keep them on one worker
(`pytest.mark.xdist_group`) and make it a session-scoped fixture: a worker
may interleave a module's tests with other modules', and pytest rebuilds a
module-scoped fixture each time the module comes back.
"""

import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# XLA compiles every JAX step (and TensorFlow's on a GPU): in tests, with its
# cheaper optimisation passes. Smoke runs are all compilation, and the
# results are the same programs' (no fast-math either way).
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 "
                                   "--xla_llvm_disable_expensive_passes=true")
_CREATED = [name for name in ("JAX_COMPILATION_CACHE_DIR", "TESTS_BACKEND_RUNS_DIR")
            if name not in os.environ]
for _name in _CREATED:  # set before xdist starts its workers, which inherit them
    os.environ[_name] = tempfile.mkdtemp(prefix=f"tests-{_name.lower()}-")

import pytest  # noqa: E402

# The tests that wait for the JAX and torch runs (tests/test_backends.py).
BACKEND_TESTS = ("tests/test_backends.py::test_models_callbacks_and_recipes_under_jax",
                 "tests/test_backends.py::test_recipes_models_and_data_under_torch")


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")  # --mixed-precision sets it globally


def pytest_collection_modifyitems(config, items):
    """Runs the tests that start processes first, then the other slow ones,
    so that the two workers end together rather than one waiting for the
    other's last long test; the tests that wait for the JAX and torch runs
    go last, so that the runs overlap every TensorFlow test instead of
    blocking those after them."""
    def order(item):
        if item.nodeid in BACKEND_TESTS:
            return 3
        return 0 if item.get_closest_marker("subprocess") else (
            1 if item.get_closest_marker("slow") else 2)

    items.sort(key=order)  # stable: collection order within each kind


def pytest_collection_finish(session):
    """Without xdist: starts the JAX and torch runs once collection is done."""
    if not hasattr(session.config, "workerinput") and any(
            item.nodeid in BACKEND_TESTS for item in session.items):
        _backends().start_runs()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """With xdist: the controller starts the JAX and torch runs when a worker has
    collected their tests."""
    if any(test in ids for test in BACKEND_TESTS):
        _backends().start_runs()


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return  # the controller owns the backend runs and the shared folders
    module = sys.modules.get("tests.test_backends")
    if module is not None:
        module.stop_runs()
    for name in _CREATED:
        shutil.rmtree(os.environ[name], ignore_errors=True)


def _backends():
    from tests import test_backends

    return test_backends
