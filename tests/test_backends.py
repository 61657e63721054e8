"""The backend-sensitive tests again under JAX and torch, each in a fresh process.

A Keras process has one backend for life, so each backend's run is a
subprocess. The JAX run covers every registered model (a training run, save
and load, mixed precision), masked sequences, the VAE's loss terms, the
callbacks, the recipes' smoke runs (but those of the autoencoders and the
VAE, which train on TensorFlow by default), and what feeds a model on its
way in (a table's preprocessing, image folders streamed by `tf.data` into
JAX, a model that takes raw images; your sequences, then `recipes.predict
--sequences`). The torch run covers every recipe's smoke run, a search
with --tensorboard, a training run of every registered model, and the same
ways in (a table, images, sequences and their predictions). The
argument-validation tests are left to the TensorFlow run: they raise before
any backend code.

The subprocesses start when collection ends (see `conftest.py`), so they run
alongside the TensorFlow tests; the tests here, last, wait for each one's
exit status (a file the run writes, as the test may run in another xdist
worker) and report its result. Each is skipped only when its backend is not
installed (CI installs both: requirements.txt, requirements-torch.txt).
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds: each run shares the machine with the TensorFlow tests

JAX_TESTS = [
    # Every registered model trains, saves and loads in safe mode, and computes
    # in 16 bits under mixed precision (building, forward passes and search
    # spaces are the same Keras calls on every backend: the TensorFlow run).
    "tests/zoo/test_registry.py::test_training_lowers_the_loss",
    "tests/zoo/test_registry.py::test_save_load_round_trip_in_safe_mode",
    "tests/zoo/test_registry.py::test_mixed_precision_computes_in_16_bits_with_float32_outputs",
    "tests/zoo/test_registry.py::test_build_compiles_initialisers_quickly_under_jax_only",
    # Padded steps change nothing (masks are carried by backend code).
    "tests/zoo/test_conv1d.py::test_padded_steps_do_not_change_predictions",
    "tests/zoo/test_conv1d.py::test_a_training_step_on_padded_sequences_equals_one_on_unpadded_ones",
    "tests/zoo/test_recurrent.py::test_padded_steps_do_not_change_predictions",
    # The VAE's loss terms use the backend's random draws.
    "tests/zoo/test_vae.py::test_negative_elbo_equals_a_hand_computation_with_the_same_draws",
    "tests/zoo/test_vae.py::test_fit_trains_the_negative_elbo_and_reports_both_parts",
    # Callbacks: schedules in the graph, the LR finder, SGDR, one-cycle, the
    # optimizer internals they use (snapshots and SWA: their recipe's smoke run).
    "tests/callbacks/test_schedules.py",
    "tests/callbacks/test_lr_finder.py",
    "tests/callbacks/test_sgdr.py",
    "tests/callbacks/test_one_cycle.py",
    "tests/callbacks/test_optimizer.py",
    # The smoke runs of the recipes that train on JAX or either backend by default.
    "tests/recipes/test_recipes.py",
    # --tensorboard: the learning rate read from the optimizer, a resumed run's curves.
    "tests/recipes/common/test_tensorboard.py",
    # tune --tensorboard: keras-tuner writes HParams on TensorFlow only; the project's hook on both.
    "tests/recipes/test_tune.py::test_tensorboard_logs_each_trial_and_a_rerun_replaces_its_logs",
    # What feeds a model under JAX: a table's preprocessing, an autoencoder's
    # errors, image folders streamed by tf.data, your sequences.
    "tests/recipes/test_predict.py::test_predictions_match_the_model_on_its_own_preprocessing",
    "tests/recipes/test_predict.py::test_autoencoder_reconstruction_error_matches_the_model",
    "tests/recipes/test_images.py::test_batches_and_test_batches_of_a_folder",
    "tests/recipes/test_images.py::test_with_preprocessing_takes_raw_images_of_any_size_and_saves",
    "tests/recipes/test_rnn_sequences.py::test_predictions_match_the_model_on_the_runs_own_preprocessing",
    # Arrays as batches: a PyDataset on JAX (a tf.data pipeline on TensorFlow),
    # sliced per process across processes.
    "tests/recipes/common/test_data.py::test_test_batches_take_a_bundled_split_in_one_batch_in_order",
    "tests/recipes/common/test_data.py::test_shuffled_array_batches_drop_a_new_remainder_every_epoch",
    "tests/recipes/common/test_data.py::test_array_batches_of_several_inputs_on_either_backend",
    "tests/recipes/common/test_data.py::test_training_batches_reshuffle_every_epoch_and_repeat_with_the_seed",
    "tests/recipes/common/test_data.py::test_array_batches_feed_each_process_its_slice_of_every_batch",
]
# Validation-only tests raise before any backend code; listing and --help
# never import Keras; tests that start their own processes pick their backend
# themselves (--distribute, the compile cache) or check Keras' own backup,
# which the TensorFlow run covers (a killed run's resume).
# The gmlp presets (gmlp_tiny, gmlp_small, gmlp_base) are sizes of the gmlp
# the JAX and torch runs train: the TensorFlow run covers each.
DESELECT = ("not invalid and not rejects and not listing and not help_does_not "
            "and not distribute and not later_jax_run and not killed and not interrupted "
            "and not gmlp_")

# Every recipe's smoke run (a search's too), a training run of every
# registered model, and what feeds a model on its way in, under torch.
TORCH_TESTS = [
    "tests/recipes/test_recipes.py::test_recipe_smoke_run_leaves_artifacts",
    "tests/recipes/test_tune.py::test_tensorboard_logs_each_trial_and_a_rerun_replaces_its_logs",
    "tests/recipes/common/test_runtime.py::test_torch_runs_one_step_per_execution",
    "tests/zoo/test_registry.py::test_training_lowers_the_loss",
    "tests/recipes/test_predict.py::test_predictions_match_the_model_on_its_own_preprocessing",
    "tests/recipes/test_images.py::test_with_preprocessing_takes_raw_images_of_any_size_and_saves",
    "tests/recipes/test_rnn_sequences.py::test_predictions_match_the_model_on_the_runs_own_preprocessing",
]
RUNS = {"jax": JAX_TESTS, "torch": TORCH_TESTS}
# torch computes on one thread here: its pool of OpenMP threads spins while it
# waits, and on a machine the other runs keep busy that costs more CPU than
# the test's tiny models gain (the torch run alone: 41 CPU-s, 28 on one thread).
ENVIRONMENT = {"jax": {}, "torch": {"OMP_NUM_THREADS": "1"}}

_runs: dict[str, dict] = {}
FOLDER = Path(os.environ.get("TESTS_BACKEND_RUNS_DIR") or tempfile.mkdtemp(prefix="backend-runs-"))
# A run writes its exit status here when it ends, for whichever process waits.
WRAPPER = ("import subprocess, sys; status = subprocess.call(sys.argv[2:]); "
           "open(sys.argv[1] + '.part', 'w').write(str(status)); "
           "__import__('os').replace(sys.argv[1] + '.part', sys.argv[1])")


def installed(backend: str) -> bool:
    """Whether `backend`'s package is installed (without importing it)."""
    return importlib.util.find_spec(backend) is not None


def start_runs() -> None:
    """Starts the JAX and torch pytest runs in the background (once per session)."""
    for backend, tests in RUNS.items():
        if not installed(backend) or backend in _runs:
            continue
        folder = FOLDER / backend
        folder.mkdir(parents=True, exist_ok=True)
        output = open(folder / "output.txt", "w")  # noqa: SIM115 (closed in stop_runs)
        process = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, str(folder / "status"),
             sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
             "--basetemp", str(folder / "tmp"), "-k", DESELECT, *tests],
            cwd=ROOT, env={**os.environ, "KERAS_BACKEND": backend, **ENVIRONMENT[backend]},
            stdout=output, stderr=subprocess.STDOUT, text=True,
        )
        _runs[backend] = {"process": process, "output": output}


def stop_runs() -> None:
    """Kills the runs still going (the session ended without them)."""
    for run in _runs.values():
        if run["process"].poll() is None:
            run["process"].kill()
            run["process"].wait()
        run["output"].close()


def _wait_for(backend: str) -> None:
    folder = FOLDER / backend
    status = folder / "status"
    if backend not in _runs and not (folder / "output.txt").exists():
        start_runs()  # run on its own (not from `pytest`'s collection)
    deadline = time.monotonic() + TIMEOUT
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(1)
    output = (folder / "output.txt").read_text() if (folder / "output.txt").exists() else ""
    tail = "\n".join(output.splitlines()[-40:])
    assert status.exists(), f"{backend} run still going after {TIMEOUT} s:\n{tail}"
    assert status.read_text() == "0", f"{backend} run failed:\n{tail}"


@pytest.mark.subprocess
@pytest.mark.skipif(not installed("jax"), reason="JAX is not installed: pip install -r "
                                                  "requirements.txt")
def test_models_callbacks_and_recipes_under_jax():
    _wait_for("jax")


@pytest.mark.subprocess
@pytest.mark.skipif(not installed("torch"), reason="torch is not installed: pip install -r "
                                                    "requirements-torch.txt")
def test_recipes_models_and_data_under_torch():
    _wait_for("torch")
