"""The zoo and callbacks tests again under the JAX backend, in a fresh process.

A Keras process has one backend for life, so the JAX run is a subprocess.
Skipped only when JAX is not installed (CI installs it: requirements-jax.txt).
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.subprocess
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed: pip install -r requirements-jax.txt",
)
def test_zoo_and_callbacks_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/zoo", "tests/callbacks"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, f"JAX run failed:\n{tail}\n{result.stderr[-2000:]}"
