"""Runnable recipes: `python -m recipes.<name>`; `python -m recipes` lists them.

This package imports nothing heavy: the listing reads each recipe's module
docstring without importing it (no TensorFlow), so it answers at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

_HERE = Path(__file__).parent
# Modules that apply a trained run rather than train one: not recipes.
COMMANDS = ("predict",)


def _summaries(*, commands: bool) -> dict[str, str]:
    summaries = {}
    for path in sorted(_HERE.glob("[a-z]*.py")):
        if (path.stem in COMMANDS) != commands:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        summaries[path.stem] = docstring.strip().split("\n")[0]
    return summaries


def list_recipes() -> dict[str, str]:
    """Maps every recipe name to the first line of its docstring.

    Commands that use a trained run (`python -m recipes.predict`) are not
    recipes; `list_commands()` lists them.
    """
    return _summaries(commands=False)


def list_commands() -> dict[str, str]:
    """Maps every command (`predict`) to the first line of its docstring."""
    return _summaries(commands=True)
