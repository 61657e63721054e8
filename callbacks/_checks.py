"""Argument checks for the callbacks, in Keras' wording.

Every failure is a `ValueError` that names the argument, says what was
expected and shows the value received: `Invalid value for argument
`name`: expected ... Received: name=value`. `callbacks` keeps its own copy
of these few checks so that it does not depend on `zoo`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any


def invalid(name: str, expected: str, value: Any) -> ValueError:
    """The standard error: `Invalid value for argument `name`: expected ...`."""
    received = f"Received: {name}={value!r}"
    return ValueError(f"Invalid value for argument `{name}`: expected {expected}. {received}")


def check_int(name: str, value: Any, minimum: int | None = 1, expected: str = "") -> int:
    """An integer (not a `bool`) >= `minimum` (no bound when `None`)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (minimum is not None and value < minimum)
    ):
        words = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
        raise invalid(name, expected or words.get(minimum, f"an integer >= {minimum}"), value)
    return int(value)


def check_real(name: str, value: Any, accept: Callable[[float], bool], expected: str) -> float:
    """A real number (not a `bool`) for which `accept(value)` holds (NaN fails)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not accept(value):
        raise invalid(name, expected, value)
    return float(value)


def check_positive_float(name: str, value: Any) -> float:
    return check_real(name, value, lambda v: 0 < v < math.inf, "a positive finite number")


def check_non_negative_float(name: str, value: Any) -> float:
    return check_real(name, value, lambda v: 0 <= v < math.inf, "a non-negative finite number")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise invalid(name, f"one of {tuple(choices)}", value)
    return value


def check_seed(name: str, value: Any) -> int | None:
    """A random seed: `None` (a fresh one) or an integer >= 0."""
    if value is None:
        return None
    return check_int(name, value, 0, "None or a non-negative integer")


def check_bool(name: str, value: Any) -> bool:
    """A real `bool` (`1.0 in (True, False)` holds, so `check_choice` would not do)."""
    if value is True or value is False:
        return value
    raise invalid(name, "True or False", value)
