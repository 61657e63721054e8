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


COMMON = ROOT / "recipes" / "common"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def common_imports(path: Path, known: set[str]) -> set[str]:
    """The `recipes.common` modules a module imports, at its top or inside a
    function: `from recipes.common import flags` and `from recipes.common.flags
    import parser` both name `recipes.common.flags`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known} - {module_name(path)}


def common_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in COMMON.rglob("*.py")}
    # A package's __init__ re-exports its modules: an edge into the package is
    # an edge into what it re-exports, so it is left out of the cycle search.
    packages = {name for name, path in files.items() if path.name == "__init__.py"}
    return {name: common_imports(path, set(files)) - packages
            for name, path in files.items() if name not in packages}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` (module -> modules it imports) as a list, or `None`."""
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return path[path.index(child):] + [child] if child in path else [node, child]
            if child not in state:
                cycle = visit(child, [*path, child])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_recipes_common_has_no_import_cycle():
    graph = common_graph()
    assert "recipes.common.flags" in graph and "recipes.common.runs" in graph
    assert "recipes.common.flags" in graph["recipes.common.runtime"]  # edges are seen
    assert find_cycle(graph) is None


def test_recipes_common_modules_stay_small():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for path in COMMON.rglob("*.py")}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_LINES} == {}


PRIVATE = ("keras.src", "keras_tuner.src", "jax._src", "tensorflow.python", "module_utils",
           "_run_exitfuncs", "os._exit")
# The one module that holds an unavoidable private API, and the test that pins it.
PINNED = {
    "recipes/common/tuning/roles.py": "keras_tuner.src",
    "callbacks/_optimizer.py": "._learning_rate",
}


def test_no_private_api_outside_the_pinned_modules():
    offenders = []
    for package in ("zoo", "callbacks", "recipes"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            relative = str(path.relative_to(ROOT))
            for name in PRIVATE:
                if name in text and PINNED.get(relative) != name:
                    offenders.append(f"{relative}: {name}")
    assert offenders == []
