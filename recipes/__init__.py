"""Runnable recipes: `python -m recipes.<name>`; `python -m recipes` lists them.

This package imports nothing heavy: the listing reads each recipe's module
docstring without importing it (no TensorFlow), so it answers at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

_HERE = Path(__file__).parent


def list_recipes() -> dict[str, str]:
    """Maps every recipe name to the first line of its docstring."""
    recipes = {}
    for path in sorted(_HERE.glob("[a-z]*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        recipes[path.stem] = docstring.strip().split("\n")[0]
    return recipes
