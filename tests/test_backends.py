"""The backend-sensitive tests again under the JAX backend, in a fresh process.

A Keras process has one backend for life, so the JAX run is a subprocess. It
covers every registered model (build, forward pass, a training run, save and
load), the VAE's loss terms, and every callback. The argument-validation
tests are left to the TensorFlow run: they raise before any backend code.
Skipped only when JAX is not installed (CI installs it: requirements-jax.txt).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

JAX_TESTS = [
    "tests/zoo/test_registry.py",
    "tests/zoo/test_vae.py",
    "tests/zoo/test_recurrent.py",
    "tests/callbacks",
]


@pytest.mark.subprocess
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed: pip install -r requirements-jax.txt",
)
def test_models_and_callbacks_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-k", "not invalid and not rejects", *JAX_TESTS],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, f"JAX run failed:\n{tail}\n{result.stderr[-2000:]}"
