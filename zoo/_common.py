"""Argument checks and small layer blocks shared by the zoo families.

Every check raises a `ValueError` in Keras' wording, naming the argument and
the value received, so a user never meets a TensorFlow trace for a mistake
the builder could have named.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import keras
from keras import layers

ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "mish")
BATCH_NORM_PLACEMENTS = (None, "before", "after")


@contextlib.contextmanager
def quick_initialisation() -> Iterator[None]:
    """Under JAX, compiles the weight initialisers in this block with XLA's
    optimisations off (`jax_disable_most_optimizations`).

    Each initialiser call (a truncated normal, a uniform) is a small XLA
    program, compiled once per weight shape and run once; XLA optimises it
    as hard as a training step, which on a CPU makes compiling them most of
    a small model's first build. JAX's flag exists for such programs ("when
    the cost of optimization is greater than that of running a
    less-optimized program"). The weights agree with an optimised build's
    to float32 rounding, not bit for bit. Other backends: no-op.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    before = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def invalid(name: str, expected: str, value: Any) -> ValueError:
    """The standard error: `Invalid value for argument `name`: ...`."""
    return ValueError(
        f"Invalid value for argument `{name}`: expected {expected}. "
        f"Received: {name}={value!r}"
    )


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid(name, "a positive integer", value)
    return int(value)


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise invalid(name, "a non-negative integer", value)
    return int(value)


def check_positive_float(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
        or value == float("inf")
    ):
        raise invalid(name, "a positive finite number", value)
    return float(value)


def check_rate(name: str, value: Any) -> float:
    """A probability-like rate in [0, 1): dropout, noise level, drop path."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, "a float in [0, 1)", value)
    if not 0.0 <= value < 1.0:
        raise invalid(name, "a float in [0, 1)", value)
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise invalid(name, f"one of {tuple(choices)}", value)
    return value


def check_units(name: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    """An int or a sequence of positive ints, returned as a tuple."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value_tuple: tuple[Any, ...] = (value,)
    elif isinstance(value, (list, tuple)):
        value_tuple = tuple(value)
    else:
        raise invalid(name, "a positive integer or a list of them", value)
    if not value_tuple and not allow_empty:
        raise invalid(name, "a non-empty list of positive integers", value)
    for unit in value_tuple:
        if isinstance(unit, bool) or not isinstance(unit, numbers.Integral) or unit < 1:
            raise invalid(name, "a positive integer or a list of them", value)
    return tuple(int(unit) for unit in value_tuple)


def check_input_shape(
    input_shape: Any,
    *,
    rank: int | Sequence[int] | None = None,
    name: str = "input_shape",
    what: str = "",
) -> tuple[int, ...]:
    """A shape without the batch axis: a tuple of positive ints.

    Args:
        input_shape: the shape to check.
        rank: the number of axes the architecture needs (an int or a tuple
            of allowed ranks), or `None` for any.
        name: the argument name used in the error.
        what: what the shape stands for, e.g. `"(height, width, channels)"`.
    """
    if isinstance(input_shape, numbers.Integral) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (list, tuple)) or not input_shape:
        raise invalid(name, "a non-empty tuple of positive integers", input_shape)
    for dim in input_shape:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise invalid(name, "a tuple of positive integers", input_shape)
    if rank is not None:
        ranks = (rank,) if isinstance(rank, int) else tuple(rank)
        if len(input_shape) not in ranks:
            axes = " or ".join(str(r) for r in ranks)
            detail = f" {what}" if what else ""
            raise invalid(name, f"a shape with {axes} axes{detail}", tuple(input_shape))
    return tuple(int(dim) for dim in input_shape)


def check_sequence_shape(
    input_shape: Any, *, what: str = "(timesteps, features)"
) -> tuple[int | None, int]:
    """The shape of one sequence, `what`: two positive ints, the first (the
    number of steps) may be `None` for sequences of varying length."""
    if isinstance(input_shape, (list, tuple)) and len(input_shape) == 2 and input_shape[0] is None:
        features = input_shape[1]
        if isinstance(features, bool) or not isinstance(features, numbers.Integral) or features < 1:
            raise invalid(
                "input_shape",
                f"{what} with positive integers (the number of steps may be None)",
                input_shape,
            )
        return (None, int(features))
    steps, features = check_input_shape(input_shape, rank=2, what=what)
    return (steps, features)


def check_mask_value(name: str, value: Any) -> float | None:
    """`None` (no masking) or the finite number that marks padded steps."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise invalid(name, "None or a finite number", value)
    return float(value)


def check_activation(name: str, value: Any) -> str:
    return check_choice(name, value, ACTIVATIONS)


def default_initializer(activation: str) -> str:
    """The kernel initializer that suits an activation.

    He (Kaiming) normal for ReLU-like units, LeCun normal for SELU (required
    for self-normalisation), Glorot uniform otherwise.

    Reference:
        - He et al., 2015, "Delving Deep into Rectifiers".
        - Klambauer et al., 2017, "Self-Normalizing Neural Networks".
    """
    if activation == "selu":
        return "lecun_normal"
    if activation in ("relu", "leaky_relu", "elu", "gelu", "swish", "mish"):
        return "he_normal"
    return "glorot_uniform"


def activation_layer(activation: str, name: str) -> keras.layers.Layer:
    """A named `Activation` layer (serializable: all are Keras built-ins)."""
    return layers.Activation(activation, name=name)


def dropout_layer(activation: str, rate: float, name: str) -> keras.layers.Layer:
    """`AlphaDropout` for SELU networks (keeps self-normalisation), else `Dropout`."""
    if activation == "selu":
        return layers.AlphaDropout(rate, name=name)
    return layers.Dropout(rate, name=name)


def dense_block(
    x,
    units: int,
    *,
    activation: str,
    batch_norm: str | None,
    dropout_rate: float,
    kernel_initializer: Any,
    kernel_regularizer: Any = None,
    name: str,
):
    """Dense, optional BatchNorm before or after the activation, dropout.

    With batch norm before the activation (Ioffe & Szegedy 2015), the dense
    layer drops its bias: BatchNorm's beta takes its place.
    """
    x = layers.Dense(
        units,
        use_bias=batch_norm != "before",
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_dense",
    )(x)
    if batch_norm == "before":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = activation_layer(activation, name=f"{name}_{activation}")(x)
    if batch_norm == "after":
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout_rate > 0:
        x = dropout_layer(activation, dropout_rate, name=f"{name}_dropout")(x)
    return x


def check_non_negative_float(name: str, value: Any) -> float:
    """A finite number >= 0: loss weights, penalties."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value >= 0
        or value == float("inf")
    ):
        raise invalid(name, "a non-negative finite number", value)
    return float(value)


def check_seed(name: str, value: Any) -> int | None:
    """A random seed: `None` (draw from the global seed) or an int >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise invalid(name, "None or a non-negative integer", value)
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """A real `bool`: `check_choice(name, 1.0, (True, False))` would accept 1.0."""
    if not isinstance(value, bool):
        raise invalid(name, "True or False", value)
    return value


def _kernel_layers(layer):
    """Layers (nested models, RNN cells and wrappers included) with a kernel."""
    seen = set()

    def walk(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        if hasattr(node, "kernel_regularizer") and getattr(node, "kernel", None) is not None:
            yield node
        for child in getattr(node, "layers", []) or []:
            yield from walk(child)
        for attribute in ("cell", "forward_layer", "backward_layer", "layer"):
            child = getattr(node, attribute, None)
            if isinstance(child, keras.layers.Layer):
                yield from walk(child)

    return list(walk(layer))


def regularize(model: keras.Model, *, l1: float = 0.0, l2: float = 0.0) -> int:
    """Puts an L1 / L2 (both: elastic net) penalty on every kernel of `model`.

    Every Dense, convolution and recurrent layer gets
    `kernel_regularizer=keras.regularizers.L1L2(l1, l2)`, nested models
    included; biases, batch norm and embeddings stay unpenalised. Set on
    built layers, the penalty is in `model.losses` (so `fit` adds it to the
    loss) and in the layers' configs (so a saved model keeps it).

    Args:
        model: a built model, e.g. fresh from a builder.
        l1: the L1 factor, >= 0.
        l2: the L2 factor, >= 0.

    Returns:
        The number of kernels penalised (0 when both factors are 0).
    """
    for name, value in (("l1", l1), ("l2", l2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
            raise invalid(name, "a float >= 0", value)
    if not l1 and not l2:
        return 0
    penalised = _kernel_layers(model)
    for layer in penalised:
        penalty = keras.regularizers.L1L2(l1=float(l1), l2=float(l2))
        layer.kernel_regularizer = penalty
        layer.kernel.regularizer = penalty
    return len(penalised)


@keras.saving.register_keras_serializable(package="zoo")
class StochasticDepth(layers.Layer):
    """Drops a residual branch for whole samples, in training only.

    In training, each sample's branch output is zeroed with probability
    `rate` and otherwise scaled by `1 / (1 - rate)`; at inference it passes
    through unchanged (Huang et al. 2016, "drop path").

    Args:
        rate: drop probability, in [0, 1).
        seed: optional integer seed.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        noise_shape = (None,) + (1,) * (len(inputs.shape) - 1)
        return keras.random.dropout(
            inputs, self.rate, noise_shape=noise_shape, seed=self.seed_generator
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
