"""The model registry: every zoo builder is reachable by name.

Family modules call `register(...)` at import time; `zoo/__init__.py` imports
every family, so `zoo.list_models()` sees them all.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from zoo import _common

INPUT_KINDS = ("vector", "image", "sequence", "pair")
TASKS = ("classification", "regression", "reconstruction", "similarity")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model name.

    Attributes:
        name: the registry name, e.g. `"mlp"` or `"gmlp_tiny"`.
        builder: the `build_<arch>` function.
        description: one line for listings.
        defaults: keyword arguments applied before the caller's (presets).
        example: small keyword arguments (including `input_shape`) that build
            a model quickly; the registry-driven tests use them.
        search_space: `search_space(hp, **fixed) -> keras.Model`, or `None`.
        input_kind: the data the model eats: `"vector"`, `"image"`,
            `"sequence"` or `"pair"`.
        task: `"classification"`, `"regression"`, `"reconstruction"` or
            `"similarity"`.
    """

    name: str
    builder: Callable[..., Any]
    description: str
    defaults: Mapping[str, Any]
    example: Mapping[str, Any]
    search_space: Callable[..., Any] | None
    input_kind: str
    task: str


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str,
    builder: Callable[..., Any],
    *,
    description: str,
    example: Mapping[str, Any],
    input_kind: str,
    task: str,
    search_space: Callable[..., Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """Adds a builder to the registry under `name` and returns its spec."""
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered.")
    if input_kind not in INPUT_KINDS:
        raise ValueError(
            f"Invalid value for argument `input_kind`: expected one of "
            f"{INPUT_KINDS}. Received: input_kind={input_kind!r}"
        )
    if task not in TASKS:
        raise ValueError(
            f"Invalid value for argument `task`: expected one of {TASKS}. "
            f"Received: task={task!r}"
        )
    spec = ModelSpec(
        name=name,
        builder=builder,
        description=description,
        defaults=dict(defaults or {}),
        example=dict(example),
        search_space=search_space,
        input_kind=input_kind,
        task=task,
    )
    _REGISTRY[name] = spec
    return spec


def list_models(pattern: str = "*") -> list[str]:
    """Returns the sorted registry names that match a shell-style pattern.

    Example:

    >>> import zoo
    >>> zoo.list_models("gmlp*")
    ['gmlp', 'gmlp_base', 'gmlp_small', 'gmlp_tiny']
    >>> "mlp" in zoo.list_models()
    True
    """
    return sorted(name for name in _REGISTRY if fnmatch.fnmatchcase(name, pattern))


def get_spec(name: str) -> ModelSpec:
    """Returns the `ModelSpec` registered under `name`."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown model name: {name!r}. Known models: "
            f"{', '.join(list_models())}"
        ) from None


def build(name: str, *, l1: float = 0.0, l2: float = 0.0, **kwargs: Any):
    """Builds the registered model `name`, uncompiled.

    Preset defaults are applied first, then `kwargs`, so
    `zoo.build("gmlp_tiny", num_outputs=10)` keeps the preset's architecture.

    Args:
        name: a name from `zoo.list_models()`.
        l1, l2: penalties on every Dense, convolution and recurrent kernel
            (`kernel_regularizer=keras.regularizers.L1L2(l1, l2)`; both:
            elastic net), for every model (`zoo.regularize`).
        **kwargs: arguments for the builder, e.g. `input_shape`.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> import zoo
    >>> model = zoo.build("mlp", input_shape=(64,), num_outputs=10)
    >>> model.output.shape
    (None, 10)
    >>> model.compiled  # compile it yourself
    False
    """
    spec = get_spec(name)
    with _common.quick_initialisation():  # under JAX: initialisers compile faster
        model = spec.builder(**{**spec.defaults, **kwargs})
    _common.regularize(model, l1=l1, l2=l2)
    return model
