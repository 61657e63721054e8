"""Atomic artifact writes: a temporary file in the same folder, then a rename.

A crash mid-write leaves the previous artifact (or none), never half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
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


def save_model(model, path: str | Path) -> Path:
    with atomic_path(path) as temporary:
        model.save(temporary)
    return Path(path)


def save_figure(figure, path: str | Path) -> Path:
    """Saves a matplotlib figure (PNG at 100 dpi), atomically."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight")
    return Path(path)
