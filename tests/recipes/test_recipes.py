"""Every recipe runs with --smoke and leaves loadable artifacts.

Parametrized over the recipe listing, so a new recipe is tested by existing.
Recipes run in this process (one TensorFlow import for the whole suite);
tests/test_backends.py runs this module again under JAX.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from recipes import list_recipes

ROOT = Path(__file__).resolve().parents[2]
# Recipes whose artifacts differ from a single trained model; they have their own tests.
SPECIAL = {"tune"}
RECIPES = [name for name in list_recipes() if name not in SPECIAL]
# Each recipe's smoke run once per backend, here: under torch every recipe
# (the torch run of tests/test_backends.py); under JAX (its run) all but the
# autoencoders and the VAE, which train on TensorFlow by default (their models
# train under JAX in tests/zoo) and are run here under TensorFlow. Each
# recipe's own test module runs the others on TensorFlow.
ON_TENSORFLOW = {"autoencoder", "denoising_autoencoder", "conv_autoencoder", "vae"}
SMOKE = RECIPES if keras.backend.backend() == "torch" else [
    name for name in RECIPES
    if (name in ON_TENSORFLOW) == (keras.backend.backend() == "tensorflow")]


@pytest.mark.slow
@pytest.mark.parametrize("name", SMOKE)
def test_recipe_smoke_run_leaves_artifacts(name, tmp_path):
    module = importlib.import_module(f"recipes.{name}")
    metrics = module.main(["--smoke", "--quiet", "--output-dir", str(tmp_path)])
    out = tmp_path / name
    assert isinstance(metrics, dict) and metrics
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    info = json.loads((out / "run.json").read_text())  # what ran, for predict and resume
    assert info["recipe"] == name and info["backend"] == keras.backend.backend()
    history = pd.read_csv(out / "history.csv")
    assert len(history) >= 1 and "loss" in history
    assert list(out.glob("*.png")), "no plots"
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert isinstance(model, keras.Model)
    assert not list(out.glob(".*")), "temporary files left behind"


def test_a_notebook_on_another_backend_gets_a_clear_message(tmp_path):
    """A recipe pasted into a notebook whose Keras runs on another backend."""
    from recipes import mlp

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    with pytest.raises(ValueError, match=rf"argument `backend`: Keras is already imported with "
                                         rf"the '{keras.backend.backend()}' backend"):
        mlp.main(["--smoke", "--quiet", "--backend", other, "--output-dir", str(tmp_path)])
    assert not (tmp_path / "mlp").exists()


def test_listing_shows_every_recipe_without_tensorflow():
    code = (
        "import runpy, sys; sys.argv = ['recipes'];"
        "runpy.run_module('recipes', run_name='__main__');"
        "print('HEAVY', 'tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for name in list_recipes():
        assert f"  {name} " in result.stdout
    assert "HEAVY False" in result.stdout


def test_help_does_not_import_tensorflow():
    """Every recipe's --help, in one fresh process: none imports Keras or TensorFlow."""
    code = (
        "import contextlib, io, json, runpy, sys\n"
        "helps = {}\n"
        f"for name in {sorted(list_recipes())!r}:\n"
        "    sys.argv = [name, '--help']\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            runpy.run_module(f'recipes.{name}', run_name='__main__')\n"
        "        except SystemExit:\n"
        "            pass\n"
        "    helps[name] = out.getvalue()\n"
        "heavy = 'tensorflow' in sys.modules or 'keras' in sys.modules\n"
        "print(json.dumps({'helps': helps, 'heavy': heavy}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(found["helps"]) == sorted(list_recipes())
    for name, text in found["helps"].items():
        assert "--smoke" in text, name
    assert found["heavy"] is False


# The training-technique flags (flags.add_training_flags) on one recipe: every
# recipe that takes them calls the same `training` functions
# (`find_learning_rate`, `optimizer`, `schedule_callbacks`, `penalties`).
@pytest.mark.slow
def test_technique_flags_one_cycle_ema_penalties_and_auto_learning_rate(tmp_path):
    from recipes import mlp

    mlp.main(["--smoke", "--quiet", "--output-dir", str(tmp_path), "--schedule",
              "one_cycle", "--ema", "0.9", "--l1", "1e-5", "--l2", "1e-4",
              "--learning-rate", "auto"])
    out = tmp_path / "mlp"
    info = json.loads((out / "run.json").read_text())
    assert info["flags"]["schedule"] == "one_cycle" and info["flags"]["ema"] == 0.9
    # The range test's suggestion, recorded.
    assert info["flags"]["learning_rate"] == "auto"
    peak = info["learning_rate_found"]
    assert 1e-7 < peak < 10
    rates = pd.read_csv(out / "history.csv")["learning_rate"].tolist()
    assert max(rates) <= peak * (1 + 1e-5) and rates[-1] < peak / 100  # annealed by the end
    model = keras.saving.load_model(out / "model.keras")
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == pytest.approx(0.9)
    assert model.losses, "--l1/--l2 put a kernel_regularizer on the kernels"


@pytest.mark.slow
def test_mixed_precision_trains_in_bfloat16_and_saves_float32_outputs(tmp_path):
    from recipes import mlp

    metrics = mlp.main(["--smoke", "--quiet", "--output-dir", str(tmp_path),
                        "--mixed-precision", "mixed_bfloat16"])
    assert np.isfinite(metrics["test_loss"])
    info = json.loads((tmp_path / "mlp" / "run.json").read_text())
    assert info["flags"]["mixed_precision"] == "mixed_bfloat16"
    keras.mixed_precision.set_global_policy("float32")  # loading needs no policy
    model = keras.saving.load_model(tmp_path / "mlp" / "model.keras")
    assert model.get_layer("block1_dense").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert all(weight.dtype == "float32" for weight in model.weights)


JAX_RUN = """
import json, os, sys
from pathlib import Path
from recipes import mlp
mlp.main(["--smoke", "--quiet", "--output-dir", sys.argv[1]])
cache = sorted(path.name for path in Path(os.environ["KERAS_HOME"], "jax_cache").iterdir())
print(json.dumps({"cache": cache}))
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_later_jax_run_of_the_same_model_reuses_its_compiled_steps(tmp_path):
    pytest.importorskip("jax")
    env = {key: value for key, value in os.environ.items()
           if key != "JAX_COMPILATION_CACHE_DIR"}
    env.update(KERAS_BACKEND="jax", KERAS_HOME=str(tmp_path / "home"))
    runs = []
    for folder in ("first", "second"):  # the same command into another folder
        completed = subprocess.run([sys.executable, "-c", JAX_RUN, str(tmp_path / folder)],
                                   cwd=ROOT, env=env, capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr[-3000:]
        runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    assert any(name.startswith("jit_train_step") for name in runs[0]["cache"])
    assert runs[1]["cache"] == runs[0]["cache"], "the second run compiled nothing new"
    model = keras.saving.load_model(tmp_path / "first" / "mlp" / "model.keras")
    assert model.get_layer("predictions").output.shape[-1] == 10


KILLER = '''
import os, signal, sys
import keras
from recipes.common.runs import Run

original = Run.callbacks


class KillAfterBackup(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == int(os.environ["KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)


Run.callbacks = lambda run, **kw: [*original(run, **kw), KillAfterBackup()]
import importlib

importlib.import_module(f"recipes.{sys.argv[1]}").main(sys.argv[2:])
'''


@pytest.mark.slow
@pytest.mark.subprocess
def test_killed_image_folder_run_resumes_from_its_last_epoch(tmp_path, capsys):
    """SIGKILL after the first epoch's backup, then the same command again."""
    from tests.recipes.helpers import image_folder

    script = tmp_path / "killed.py"
    script.write_text(KILLER)
    folder = image_folder(tmp_path / "images", per_class=15, size=(10, 10))
    flags = ["--smoke", "--quiet", "--patience", "50", "--output-dir", str(tmp_path),
             "--images", str(folder), "--image-size", "8", "8", "--filters", "4",
             "--cache", str(tmp_path / "cache")]
    env = {**__import__("os").environ, "KILL_AT": "1", "PYTHONPATH": str(ROOT)}
    killed = subprocess.run([sys.executable, str(script), "cnn", *flags], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    out = tmp_path / "cnn"
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()
    from recipes import cnn  # the same command again, here in this process

    cnn.main(flags)
    assert "Resuming cnn from epoch 1 of 2" in capsys.readouterr().out
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2]
    assert json.loads((out / "metrics.json").read_text())["epochs_trained"] == 2
    assert not (out / "backup").exists(), "the backup outlived the finished run"
    assert json.loads((out / "run.json").read_text())["flags"]["patience"] == 50
    assert list((tmp_path / "cache").iterdir()), "decoded images were cached"


def test_interrupted_run_refuses_other_flags_and_restarts_on_request(tmp_path):
    from recipes import mlp

    out = tmp_path / "mlp"
    (out / "backup").mkdir(parents=True)
    (out / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    (out / "run.json").write_text(json.dumps({"flags": {"patience": 50}}))
    flags = ["--smoke", "--quiet", "--output-dir", str(tmp_path)]
    with pytest.raises(ValueError, match="interrupted mlp run with other flags.*--patience 50"):
        mlp.main(flags)
    assert mlp.main([*flags, "--restart"])["epochs_trained"] == 2
    assert not (out / "backup").exists()
