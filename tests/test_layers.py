"""The packages' layering: `zoo` and `callbacks` are siblings, `recipes` sits on top.

Neither `zoo` nor `callbacks` may import the other, nor `recipes` (which
uses both).
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the top-level packages its modules must not import
FORBIDDEN = {
    "callbacks": {"zoo", "recipes"},
    "zoo": {"callbacks", "recipes"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level packages that a module imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_sibling_packages_do_not_import_each_other_or_recipes(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_imported_packages_sees_every_form_of_import(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\nimport zoo.mlp as mlp\nfrom recipes.common import cli\n"
        "from . import sibling\ndef f():\n    from callbacks import SGDR\n"
    )
    assert imported_packages(module) == {"os", "zoo", "recipes", "callbacks"}


@pytest.mark.subprocess
def test_importing_callbacks_does_not_import_zoo():
    result = subprocess.run(
        [sys.executable, "-c", "import callbacks, sys; print('zoo' in sys.modules)"],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
