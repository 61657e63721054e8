"""Recurrent networks (LSTM and GRU) for sequence classification and regression.

A stack of LSTM or GRU layers, optionally bidirectional, with input dropout
and recurrent (variational) dropout, then a dense output layer applied to the
last state (sequence-to-one) or to every time step (sequence-to-sequence).

Keras draws each dropout mask once per sequence and reuses it at every time
step, the variational dropout of Gal & Ghahramani (2016). On a GPU,
`recurrent_dropout > 0` gives up the fused cuDNN kernel: the layer falls
back to the generic step-by-step loop, which is several times slower.
Input `dropout` keeps the fused kernel.

Reference:
    - Hochreiter & Schmidhuber, 1997, "Long Short-Term Memory".
    - Cho et al., 2014, "Learning Phrase Representations using RNN
      Encoder-Decoder for Statistical Machine Translation" (GRU).
    - Schuster & Paliwal, 1997, "Bidirectional Recurrent Neural Networks".
    - Gal & Ghahramani, 2016, "A Theoretically Grounded Application of
      Dropout in Recurrent Neural Networks".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from zoo import _common
from zoo._registry import register

CELLS = ("lstm", "gru")
RNN_TASKS = ("classification", "regression")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear", None)
_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU}


def build_rnn(
    input_shape: Sequence[int | None],
    num_outputs: int,
    *,
    cell: str = "lstm",
    units: int | Sequence[int] = (64,),
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    bidirectional: bool = False,
    return_sequences: bool = False,
    mask_value: float | None = None,
    task: str = "classification",
    output_activation: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a stacked LSTM or GRU network.

    Every recurrent layer but the last returns its full sequence to the next
    one; the last returns only its final state, or the whole sequence when
    `return_sequences=True`, in which case the output layer is applied to
    every time step (sequence-to-sequence, one prediction per step).

    Note: `recurrent_dropout > 0` gives up the fused cuDNN kernel on a GPU
    (much slower training); input `dropout` keeps it.

    Args:
        input_shape: shape of one sequence, `(timesteps, features)`;
            `timesteps` may be `None` for sequences of varying length.
        num_outputs: number of output units: classes for softmax, labels
            for sigmoid, targets for regression.
        cell: `"lstm"` (Hochreiter & Schmidhuber 1997) or `"gru"` (Cho et
            al. 2014).
        units: width of each recurrent layer, e.g. `(64, 32)` for two
            stacked layers.
        dropout: fraction of each layer's inputs dropped in training, in
            [0, 1); one mask per sequence.
        recurrent_dropout: fraction of the recurrent state dropped in
            training, in [0, 1); one mask per sequence, the variational
            dropout of Gal & Ghahramani (2016). Disables cuDNN.
        bidirectional: read each sequence in both directions and
            concatenate the two states (Schuster & Paliwal 1997).
        return_sequences: predict at every time step instead of once per
            sequence.
        mask_value: `None`, or the value that pads sequences to a common
            length: a `keras.layers.Masking` layer then marks every step
            whose features all equal it, and the recurrent layers skip
            those steps (they carry their state over them), so padding
            does not change a sequence's prediction. Pad at the end (the
            fused cuDNN kernel needs right-padded sequences).
        task: `"classification"` or `"regression"`; sets the default
            output activation.
        output_activation: `"softmax"`, `"sigmoid"` or `"linear"`; `None`
            derives it from `task`: softmax for classification (sigmoid
            when `num_outputs=1`), linear for regression.
        name: model name; defaults to `cell`.

    Returns:
        An uncompiled functional `keras.Model` with layers `"lstm1"`,
        `"lstm2"`, ... (or `"gru1"`, ...; wrapped in `"bidirectional1"`, ...
        when bidirectional) and `"predictions"`.

    Example:

    >>> model = build_rnn((20, 3), 1, cell="gru", units=(32, 16),
    ...                   task="regression", dropout=0.1)
    >>> model.compile("adam", "mse")
    >>> masked = build_rnn((None, 2), 3, units=(4,), mask_value=0.0)
    >>> masked.get_layer("masking").mask_value
    0.0

    Reference:
        - Hochreiter & Schmidhuber, 1997, "Long Short-Term Memory".
        - Cho et al., 2014, "Learning Phrase Representations using RNN
          Encoder-Decoder for Statistical Machine Translation".
        - Gal & Ghahramani, 2016, "A Theoretically Grounded Application of
          Dropout in Recurrent Neural Networks".
    """
    input_shape = _common.check_sequence_shape(input_shape)
    num_outputs = _common.check_positive_int("num_outputs", num_outputs)
    _common.check_choice("cell", cell, CELLS)
    units = _common.check_units("units", units)
    dropout = _common.check_rate("dropout", dropout)
    recurrent_dropout = _common.check_rate("recurrent_dropout", recurrent_dropout)
    _common.check_bool("bidirectional", bidirectional)
    _common.check_bool("return_sequences", return_sequences)
    mask_value = _common.check_mask_value("mask_value", mask_value)
    _common.check_choice("task", task, RNN_TASKS)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    if name is None:
        name = cell
    if not isinstance(name, str) or not name:
        raise _common.invalid("name", "a non-empty string", name)
    if output_activation is None:
        if task == "regression":
            output_activation = "linear"
        else:
            output_activation = "softmax" if num_outputs > 1 else "sigmoid"

    inputs = keras.Input(shape=input_shape, name="sequences")
    x = inputs
    if mask_value is not None:  # the LSTM/GRU layers read the mask it attaches
        x = layers.Masking(mask_value=mask_value, name="masking")(x)
    layer_class = _LAYERS[cell]
    for index, width in enumerate(units):
        last = index == len(units) - 1
        recurrent = layer_class(
            width,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            return_sequences=return_sequences or not last,
            name=f"{cell}{index + 1}",
        )
        if bidirectional:
            recurrent = layers.Bidirectional(
                recurrent, name=f"bidirectional{index + 1}"
            )
        x = recurrent(x)
    # On a sequence, Dense acts on the last axis: one prediction per time step.
    # float32 even under a mixed-precision policy (Keras' mixed-precision guide).
    outputs = layers.Dense(
        num_outputs, activation=output_activation, dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_rnn`.

    Tunes the cell type, depth, width, input and recurrent dropout and
    bidirectionality; `fixed` (at least `input_shape` and `num_outputs`;
    `cell` for a search over one cell type only) passes through to the
    builder and is never tuned.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(),
    ...                      input_shape=(8, 8), num_outputs=10, cell="gru")
    """
    kwargs = dict(fixed)
    if "cell" not in kwargs:
        kwargs["cell"] = hp.Choice("cell", list(CELLS))
    if "units" not in kwargs:
        depth = hp.Int("num_layers", 1, 3)
        width = hp.Int("units", 16, 256, sampling="log", default=64)
        kwargs["units"] = (width,) * depth
    if "dropout" not in kwargs:
        kwargs["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
    if "recurrent_dropout" not in kwargs:
        kwargs["recurrent_dropout"] = hp.Float("recurrent_dropout", 0.0, 0.5, step=0.1)
    if "bidirectional" not in kwargs:
        kwargs["bidirectional"] = hp.Boolean("bidirectional")
    return build_rnn(**kwargs)


for _cell, _description in (
    ("lstm", "Stacked (bidirectional) LSTM for sequence classification or regression."),
    ("gru", "Stacked (bidirectional) GRU for sequence classification or regression."),
):
    register(
        _cell,
        build_rnn,
        description=_description,
        defaults={"cell": _cell},
        example={"input_shape": (8, 8), "num_outputs": 3, "units": (8,)},
        input_kind="sequence",
        task="classification",
        search_space=functools.partial(search_space, cell=_cell),
    )

del _cell, _description
