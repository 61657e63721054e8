"""Every recipe runs with --smoke and leaves loadable artifacts.

Parametrized over the recipe listing, so a new recipe is tested by existing.
Recipes run in this process (one TensorFlow import for the whole suite);
tests/test_backends.py runs the smoke tests again under JAX.
"""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import keras
import pandas as pd
import pytest

from recipes import list_recipes

ROOT = Path(__file__).resolve().parents[2]
# Recipes whose artifacts differ from a single trained model; they have their own tests.
SPECIAL = {"tune"}
RECIPES = [name for name in list_recipes() if name not in SPECIAL]


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_smoke_run_leaves_artifacts(name, tmp_path):
    module = importlib.import_module(f"recipes.{name}")
    metrics = module.main(["--smoke", "--quiet", "--output-dir", str(tmp_path)])
    out = tmp_path / name
    assert isinstance(metrics, dict) and metrics
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    history = pd.read_csv(out / "history.csv")
    assert len(history) >= 1 and "loss" in history
    assert list(out.glob("*.png")), "no plots"
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert isinstance(model, keras.Model)
    assert not list(out.glob(".*")), "temporary files left behind"


@pytest.mark.slow
def test_tune_smoke_search_retrains_and_saves_the_best(tmp_path):
    from recipes import tune

    summary = tune.main([
        "--model", "mlp", "--smoke", "--quiet", "--epochs", "1", "--max-trials", "2",
        "--directory", str(tmp_path), "--retrain-best",
    ])
    project = tmp_path / "mlp"
    assert summary["completed_trials"] == 2
    assert len(pd.read_csv(project / "results.csv")) == 2
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    model = keras.saving.load_model(project / "best_model.keras", safe_mode=True)
    assert model.output_shape == (None, 10)


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


@pytest.mark.parametrize("name", sorted(list_recipes()))
def test_help_does_not_import_tensorflow(name):
    code = (
        f"import runpy, sys; sys.argv = ['{name}', '--help']\n"
        f"try:\n    runpy.run_module('recipes.{name}', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY', 'tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "--smoke" in result.stdout
    assert "HEAVY False" in result.stdout
