"""Saving without side effects: Keras code that would import TensorFlow under JAX."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


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
