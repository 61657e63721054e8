"""The project installs as a package, and a copied recipe runs outside the repository.

The wheel is built from a copy of the sources (so no `build/` folder lands in
the checkout), installed into a temporary folder with `pip install --target`,
and a recipe copied into a working directory of its own runs from there with
only that folder on its path.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from recipes.common import console

# One xdist worker runs this module: its tests share expensive runs.
pytestmark = pytest.mark.xdist_group("packaging")

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "callbacks", "recipes")


def _requirement_lines(text: str) -> set[str]:
    lines = (line.split("#")[0].strip() for line in text.splitlines())
    return {re.sub(r"\s+", "", line) for line in lines if line}


def test_pyproject_dependencies_match_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = _requirement_lines((ROOT / "requirements.txt").read_text())
    tools = set(extras["test"])  # pytest, setuptools: in requirements.txt for CI only
    assert set(project["dependencies"]) == runtime - tools
    assert tools <= runtime
    assert set(extras["jax"]) == _requirement_lines((ROOT / "requirements-jax.txt").read_text())
    # The torch extra admits the release CI installs and tests (requirements-torch.txt).
    (tested,) = _requirement_lines((ROOT / "requirements-torch.txt").read_text())
    (extra,) = extras["torch"]
    assert tested.startswith("torch==")
    assert Requirement(extra).specifier.contains(tested.removeprefix("torch=="))


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """The wheel, installed with its package data into a folder of its own."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", str(base / "dist"), str(source)])
    (wheel,) = (base / "dist").glob("keras_recipes-*.whl")
    site = base / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)])
    return site


def _outside_env(site: Path) -> dict:
    # Only the installed folder on the path: not the checkout, not pytest's;
    # TensorFlow's log level as a user has it (unset: the recipe's own choice).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    return {**env, "PYTHONPATH": str(site), "KERAS_BACKEND": "tensorflow"}


@pytest.mark.subprocess
def test_wheel_ships_the_packages_and_their_data_only(installed):
    shipped = {path.name for path in installed.iterdir() if not path.name.endswith("-info")}
    assert set(PACKAGES) <= shipped
    assert not {"tests", "benchmarks"} & shipped
    assert (installed / "recipes" / "data" / "sunspots.csv").is_file()
    assert (installed / "recipes" / "data" / "digits.npz").is_file()
    assert (installed / "recipes" / "common" / "tuning" / "search.py").is_file()


@pytest.mark.slow
@pytest.mark.subprocess
def test_copied_recipe_runs_from_another_folder(installed, tmp_path):
    work = tmp_path / "my_project"
    work.mkdir()
    shutil.copy(ROOT / "recipes" / "cnn.py", work / "my_cnn.py")
    env = _outside_env(installed)
    listing = _run([sys.executable, "-m", "recipes"], cwd=work, env=env)
    assert "  cnn " in listing.stdout
    # One process (Keras starts once): the three packages are found in the
    # installed folder (found, not imported: importing zoo starts Keras before
    # the recipe sets it up), then the copied script runs as `python my_cnn.py
    # ...` would run it (run_path sets sys.argv[0] and __main__).
    script = (
        "import importlib.util, runpy\n"
        "for name in ('recipes', 'zoo', 'callbacks'):\n"
        "    print(importlib.util.find_spec(name).origin)\n"
        "runpy.run_path('my_cnn.py', run_name='__main__')\n"
    )
    result = _run([sys.executable, "-c", script, "--smoke", "--quiet", "--epochs", "1",
                   "--output-dir", "runs"], cwd=work, env=env)
    where = result.stdout.splitlines()[:3]
    assert len(where) == 3 and all(Path(path).is_relative_to(installed) for path in where)
    assert (work / "runs" / "cnn" / "model.keras").is_file()
    assert (work / "runs" / "cnn" / "metrics.json").is_file()
    # A quiet console: no line of TensorFlow's C++ logger ("cudart_stub.cc:31]
    # Could not find cuda drivers", "absl::InitializeLog()").
    output = result.stdout + result.stderr
    assert "cudart_stub" not in output and "absl::InitializeLog" not in output, output
    assert console.drop_native_lines(output.encode()) == output.encode(), output
