"""The backend-sensitive tests again under the JAX backend, in a fresh process.

A Keras process has one backend for life, so the JAX run is a subprocess. It
covers every registered model (build, forward pass, a training run, save and
load), the VAE's loss terms, every callback, every recipe's smoke run, and
what feeds a model on its way in (a table's preprocessing, image folders
streamed by `tf.data` into JAX: the cnn on `--images`, then `recipes.predict
--images`). The argument-validation
tests are left to the TensorFlow run: they raise before any backend code.

The subprocess starts when this test is collected (see `conftest.py`), so it
runs alongside the TensorFlow tests; the test waits for it and reports its
result. Skipped only when JAX is not installed (CI installs it:
requirements.txt).
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAS_JAX = importlib.util.find_spec("jax") is not None
TIMEOUT = 900  # seconds: the JAX run shares the machine with the TensorFlow tests

JAX_TESTS = [
    "tests/zoo/test_registry.py",
    "tests/zoo/test_vae.py",
    "tests/zoo/test_recurrent.py",
    "tests/callbacks",
    "tests/recipes/test_recipes.py",
    # What feeds a model under JAX: a table's preprocessing, an autoencoder's
    # errors, image folders streamed by tf.data, test-time augmentation.
    "tests/recipes/test_predict.py::test_predictions_match_the_model_on_its_own_preprocessing",
    "tests/recipes/test_predict.py::test_autoencoder_reconstruction_error_matches_the_model",
    "tests/recipes/test_images.py::test_batches_and_test_batches_of_a_folder",
    "tests/recipes/test_images.py::test_with_preprocessing_takes_raw_images_of_any_size_and_saves",
    "tests/recipes/test_images.py::test_predict_tta_averages_seeded_augmentations_of_arrays_and_datasets",
    "tests/recipes/test_cnn.py::test_users_images_streamed_into_a_model_that_takes_raw_images",
]
# Validation-only tests raise before any backend code; listing and --help
# never import Keras; tests that start their own processes pick their backend
# themselves (--distribute, the compile cache) or check Keras' own backup,
# which the TensorFlow run covers (a killed run's resume).
DESELECT = ("not invalid and not rejects and not listing and not help_does_not "
            "and not distribute and not later_jax_run and not killed and not interrupted")

_run = {}


def start_jax_run() -> None:
    """Starts the JAX pytest run in the background (once per session)."""
    if not HAS_JAX or "process" in _run:
        return
    workdir = Path(tempfile.mkdtemp(prefix="jax-run-"))
    _run["output"] = open(workdir / "output.txt", "w+")  # noqa: SIM115 (closed in stop)
    _run["process"] = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(workdir / "tmp"), "-k", DESELECT, *JAX_TESTS],
        cwd=ROOT, env={**os.environ, "KERAS_BACKEND": "jax"},
        stdout=_run["output"], stderr=subprocess.STDOUT, text=True,
    )


def stop_jax_run() -> None:
    """Kills the JAX run if it is still going (the session ended without it)."""
    process = _run.get("process")
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
    if "output" in _run:
        _run["output"].close()


@pytest.mark.subprocess
@pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed: pip install -r requirements.txt")
def test_models_callbacks_and_recipes_under_jax():
    start_jax_run()  # already started at collection, unless run some other way
    returncode = _run["process"].wait(timeout=TIMEOUT)
    _run["output"].seek(0)
    tail = "\n".join(_run["output"].read().splitlines()[-40:])
    assert returncode == 0, f"JAX run failed:\n{tail}"
