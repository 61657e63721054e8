"""Atomic artifact writes: a temporary file in the same folder, then a rename.

A crash mid-write leaves the previous artifact (or none), never half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix
    )
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def write_csv(path: str | Path, frame) -> Path:
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)
    return Path(path)


@contextlib.contextmanager
def tensorflow_left_alone() -> Iterator[None]:
    """Keras code in this block does not import TensorFlow just to look for it.

    Under JAX, `keras.utils.set_random_seed` and `model.save` ask Keras'
    lazy `tensorflow` module whether TensorFlow is installed (to seed it, to
    test `isinstance(obj, tf.TensorShape)`), which imports it: longer than
    importing Keras and JAX together (benchmarks/results/startup.md), for a
    run that never uses it. While TensorFlow is not imported no object can be
    one of its types, so the block answers "not installed"; afterwards the
    question is asked afresh. A no-op once TensorFlow is imported, and on
    Keras versions without the lazy module.
    """
    try:
        from keras.src.utils import module_utils
    except ImportError:  # pragma: no cover - another Keras layout
        yield
        return
    lazy = getattr(module_utils, "tensorflow", None)
    if "tensorflow" in sys.modules or getattr(lazy, "_available", True) is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        if "tensorflow" not in sys.modules:
            lazy._available = None


def save_model(model, path: str | Path) -> Path:
    with atomic_path(path) as temporary, tensorflow_left_alone():
        model.save(temporary)
    return Path(path)


def save_figure(figure, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return Path(path)
