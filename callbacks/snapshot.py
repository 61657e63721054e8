"""Snapshot ensembles: train once, get M models for free.

The learning rate follows `M` cycles of cosine annealing, each restarting at
`max_lr` (Huang et al.'s schedule over iterations) or SGDR's cycles; at the
end of each cycle, where the rate is lowest and the model sits in a local
minimum, a snapshot is saved. Averaging the snapshots' predictions gives an
ensemble that usually beats the last model alone.

- `SnapshotEnsemble`: the callback (schedule and atomic `.keras` snapshots).
- `build_ensemble`: one Keras model averaging members' outputs, saved and
  loaded as a single `.keras` file.
- `evaluate_snapshot_ensembles`: loss and metrics of the ensemble of the
  last k snapshots for k = 1..M, to see what each snapshot adds.

Reference:
    - Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free".
    - Loshchilov & Hutter, 2017, "SGDR: Stochastic Gradient Descent with
      Warm Restarts".
"""

from __future__ import annotations

import numbers
import os
import uuid
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from callbacks import _checks, schedules
from callbacks._optimizer import (
    fit_steps_per_epoch,
    install_schedule,
    optimizer_step,
    restore_learning_rate,
    reuse_train_function,
)
from callbacks.sgdr import SGDR


@keras.saving.register_keras_serializable(package="callbacks")
class SnapshotSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Huang et al.'s cyclic cosine annealing of the optimizer's step counter.

    The rate at optimizer step `s` is `schedules.snapshot_learning_rate(s -
    step_offset + 1, ...)` (steps before `step_offset` get the first
    step's rate).

    The schedule is Keras' `keras.optimizers.schedules.CosineDecayRestarts(
    max_lr, first_decay_steps=ceil(T / M), t_mul=1, alpha=0)`, which computes
    the rate. What remains here is what Keras lacks: the `step_offset` that
    lets a continued `fit` resume mid-schedule, and the step's position in
    its cycle, computed in integers (Keras divides the float32 step by the
    cycle length, which drifts off the position as the step grows).

    Args:
        max_lr: `alpha_0`, the rate at the start of every cycle.
        total_steps: `T`, iterations in the whole training.
        num_snapshots: `M`, the number of cycles.
        step_offset: the optimizer step at which iteration 1 ran.

    Example:

    >>> schedule = SnapshotSchedule(0.2, total_steps=12, num_snapshots=3)
    >>> [round(float(schedule(step)), 4) for step in range(5)]  # cycles of 4
    [0.2, 0.1707, 0.1, 0.0293, 0.2]
    """

    def __init__(
        self,
        max_lr: float,
        *,
        total_steps: int,
        num_snapshots: int,
        step_offset: int = 0,
    ):
        self.max_lr = _checks.check_positive_float("max_lr", max_lr)
        self.total_steps = _checks.check_int("total_steps", total_steps)
        self.num_snapshots = _checks.check_int("num_snapshots", num_snapshots)
        schedules.snapshot_cycle_length(self.total_steps, self.num_snapshots)
        self.step_offset = _checks.check_int("step_offset", step_offset, None)

    def __call__(self, step):
        return schedules.snapshot_learning_rate_op(
            step - self.step_offset,
            max_lr=self.max_lr,
            total_steps=self.total_steps,
            num_snapshots=self.num_snapshots,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "num_snapshots": self.num_snapshots,
            "step_offset": self.step_offset,
        }


class SnapshotEnsemble(keras.callbacks.Callback):
    """Cyclic cosine annealing with a `.keras` snapshot at every cycle end.

    Without `sgdr`, it follows Huang et al.: with `T = epochs *
    steps_per_epoch` iterations and `M = num_snapshots`, the rate at
    iteration `t` is `max_lr / 2 * (cos(pi * mod(t - 1, ceil(T/M)) /
    ceil(T/M)) + 1)`, computed in-graph from the optimizer's step counter
    (exact with any `steps_per_execution`); snapshots are taken after
    iterations `ceil(T/M), 2 ceil(T/M), ...` and `T`. Snapshots are written
    at epoch ends, so the cycles must end there: choose `epochs` a multiple
    of `M` (else `fit` raises a `ValueError` before training). No work is
    done per batch, so Keras keeps dispatching batch callbacks
    asynchronously.

    With `sgdr` (an `SGDR` callback, passed to `fit` too), SGDR drives the
    rate and a snapshot is taken at each of the last `num_snapshots` of its
    cycle ends (`sgdr.cycle_ends`).

    Snapshots are `snapshot_01.keras`, `snapshot_02.keras`, ... in
    `directory`, written to a temporary file in the same folder and renamed
    into place, so a crash while writing leaves earlier snapshots intact.
    They hold the optimizer with its schedule: load them with
    `compile=False` (as `build_ensemble` does) or after `import callbacks`.

    Args:
        num_snapshots: `M`, the number of cycles and snapshots (at most the
            number of epochs).
        max_lr: `alpha_0`, the peak rate; `None` (or SGDR's `max_lr`) when
            `sgdr` is given.
        directory: folder for the snapshots (created if needed).
        keep: keep only the last `keep` snapshot files (`None`: all).
        sgdr: an `SGDR` callback whose cycle ends to use instead.
        steps_per_epoch: batches per epoch; by default the number `fit`
            reports.

    Attributes:
        snapshot_paths: paths of the snapshots kept, oldest first.

    Example:

    >>> import os, tempfile
    >>> import keras
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = np.random.default_rng(1).integers(0, 3, size=32)
    >>> model = keras.Sequential(
    ...     [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    >>> snapshots = SnapshotEnsemble(3, 0.1, directory=tempfile.mkdtemp())
    >>> _ = model.fit(x, y, batch_size=8, epochs=6, callbacks=[snapshots],
    ...               verbose=0)  # 3 cycles of 2 epochs (8 steps)
    >>> [os.path.basename(path) for path in snapshots.snapshot_paths]
    ['snapshot_01.keras', 'snapshot_02.keras', 'snapshot_03.keras']
    >>> ensemble = build_ensemble(snapshots.snapshot_paths)
    >>> ensemble.predict(x, verbose=0).shape
    (32, 3)

    Reference:
        - Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free".
    """

    def __init__(
        self,
        num_snapshots: int,
        max_lr: float | None,
        *,
        directory: str | os.PathLike = "snapshots",
        keep: int | None = None,
        sgdr: SGDR | None = None,
        steps_per_epoch: int | None = None,
    ):
        super().__init__()
        self.num_snapshots = _checks.check_int("num_snapshots", num_snapshots)
        if sgdr is not None and not isinstance(sgdr, SGDR):
            raise _checks.invalid("sgdr", "None or an SGDR callback", sgdr)
        if max_lr is not None:
            max_lr = _checks.check_positive_float("max_lr", max_lr)
        if sgdr is None and max_lr is None:
            raise _checks.invalid("max_lr", "a positive number (no sgdr given)", max_lr)
        if sgdr is not None and max_lr is not None and max_lr != sgdr.max_lr:
            raise _checks.invalid(
                "max_lr",
                f"None or sgdr.max_lr={sgdr.max_lr!r} when sgdr is given",
                max_lr,
            )
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise _checks.invalid("directory", "a folder path", directory)
        if keep is not None:
            keep = _checks.check_int("keep", keep)
        if steps_per_epoch is not None:
            steps_per_epoch = _checks.check_int("steps_per_epoch", steps_per_epoch)
        self.max_lr = sgdr.max_lr if sgdr is not None else max_lr
        self.directory = os.fspath(directory)
        self.keep = keep
        self.sgdr = sgdr
        self.steps_per_epoch = steps_per_epoch
        self.snapshot_paths: list[str] = []
        self.schedule: SnapshotSchedule | None = None
        self._token = None
        self._traced = None
        self._plan: list[int] = []

    # Planning ---------------------------------------------------------------

    def on_train_begin(self, logs: dict | None = None) -> None:
        # A schedule still installed: the last fit stopped on an exception.
        self._token = restore_learning_rate(self._token)
        epochs = int(self.params["epochs"])
        if self.num_snapshots > epochs:
            raise _checks.invalid(
                "num_snapshots", f"at most the number of epochs ({epochs})",
                self.num_snapshots,
            )
        self._steps = fit_steps_per_epoch(self, self.steps_per_epoch)
        if self.sgdr is not None:
            ends = schedules.sgdr_cycle_ends(
                epochs,
                cycle_epochs=self.sgdr.cycle_epochs,
                cycle_mult=self.sgdr.cycle_mult,
            )
            if len(ends) < self.num_snapshots:
                raise _checks.invalid(
                    "num_snapshots",
                    f"at most the {len(ends)} SGDR cycles that end within "
                    f"{epochs} epochs ({ends})",
                    self.num_snapshots,
                )
            self._plan = ends[-self.num_snapshots :]
        else:
            total_steps = epochs * self._steps
            ends = schedules.snapshot_cycle_ends(total_steps, self.num_snapshots)
            if any(end % self._steps for end in ends):
                length = schedules.snapshot_cycle_length(
                    total_steps, self.num_snapshots
                )
                raise _checks.invalid(
                    "num_snapshots",
                    f"cycles of ceil(T/M) = {length} steps that end at epoch ends "
                    f"({self._steps} steps each; choose epochs={epochs} a multiple "
                    "of num_snapshots)",
                    self.num_snapshots,
                )
            self._plan = [end // self._steps for end in ends]
        if self.sgdr is None:
            # Installed now, so that the optimizer's variables are those a
            # backup written during this fit holds (keras.callbacks.
            # BackupAndRestore, placed after this callback, restores them next).
            self.schedule = SnapshotSchedule(
                self.max_lr, total_steps=epochs * self._steps, num_snapshots=self.num_snapshots
            )
            self._token = install_schedule(self.model, self.schedule)
        self._first_epoch = True
        self._check_sgdr = self.sgdr is not None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self._first_epoch:
            return
        self._first_epoch = False
        # Snapshots still due in this fit (a continued fit skips earlier ones).
        self._next = next(
            (index for index, end in enumerate(self._plan) if end > epoch),
            len(self._plan),
        )
        # A fit resumed from a backup (keras.callbacks.BackupAndRestore) keeps
        # the snapshots the interrupted fit saved, if their files are there.
        for index in range(1, self._next + 1):
            path = os.path.join(self.directory, f"snapshot_{index:02d}.keras")
            if os.path.exists(path) and path not in self.snapshot_paths:
                self.snapshot_paths.append(path)
        self.snapshot_paths.sort()
        if self.sgdr is None:
            # This fit's first epoch (`initial_epoch`, or the epoch a backup
            # resumes from) starts `epoch` epochs into the schedule. No step
            # has run yet, so the train step traces with this offset.
            self.schedule.step_offset = optimizer_step(self.model) - epoch * self._steps
            key = (repr(sorted(self.schedule.get_config().items())), self.schedule.step_offset)
            self._traced = reuse_train_function(self.model, self._traced, key)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        # Once per fit, after every callback's on_epoch_begin has run.
        if self._check_sgdr:
            self._check_sgdr = False
            if not self.sgdr.active:
                raise ValueError(
                    "Invalid value for argument `sgdr`: SnapshotEnsemble expected "
                    "the SGDR callback to run in the same fit(). Pass it too: "
                    "callbacks=[sgdr, snapshots]."
                )

    # Snapshots ----------------------------------------------------------------

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._next < len(self._plan) and epoch + 1 == self._plan[self._next]:
            self._save_snapshot(self._next + 1)
            self._next += 1

    def on_train_end(self, logs: dict | None = None) -> None:
        self._token = restore_learning_rate(self._token)

    def _save_snapshot(self, index: int) -> str:
        """Writes `snapshot_<index>.keras` atomically and applies `keep`."""
        os.makedirs(self.directory, exist_ok=True)
        name = f"snapshot_{index:02d}.keras"
        path = os.path.join(self.directory, name)
        temporary = os.path.join(self.directory, f".{uuid.uuid4().hex}.{name}")
        try:
            self.model.save(temporary)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        if path in self.snapshot_paths:
            self.snapshot_paths.remove(path)
        self.snapshot_paths.append(path)
        while self.keep is not None and len(self.snapshot_paths) > self.keep:
            oldest = self.snapshot_paths.pop(0)
            if os.path.exists(oldest):
                os.remove(oldest)
        return path


# Ensembles ----------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="callbacks")
class WeightedAverage(keras.layers.Layer):
    """Weighted average of same-shaped inputs: `sum_i w_i x_i / sum_i w_i`.

    Args:
        member_weights: one non-negative weight per input (not all zero).
    """

    def __init__(self, member_weights: Sequence[float], **kwargs):
        super().__init__(**kwargs)
        self.member_weights = _check_weights(member_weights, None, "member_weights")
        total = sum(self.member_weights)
        self._fractions = [weight / total for weight in self.member_weights]

    def call(self, inputs):
        if len(inputs) != len(self._fractions):
            raise ValueError(
                f"WeightedAverage expected {len(self._fractions)} inputs. "
                f"Received: {len(inputs)}"
            )
        total = None
        for fraction, tensor in zip(self._fractions, inputs):
            term = ops.multiply(ops.cast(fraction, tensor.dtype), tensor)
            total = term if total is None else ops.add(total, term)
        return total

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["member_weights"] = list(self.member_weights)
        return config


def _check_weights(
    weights: Any, count: int | None, name: str = "weights"
) -> list[float]:
    expected = "a list of non-negative numbers"
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise _checks.invalid(name, expected, weights)
    values = list(weights)
    if count is not None and len(values) != count:
        raise _checks.invalid(name, f"{count} numbers, one per member", weights)
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0 <= value < float("inf")
        ):
            raise _checks.invalid(name, expected, weights)
    if not values or sum(values) <= 0:
        raise _checks.invalid(name, "numbers that are not all zero", weights)
    return [float(value) for value in values]


def _load_members(models_or_paths: Any) -> list[keras.Model]:
    if isinstance(models_or_paths, (str, os.PathLike, keras.Model)) or not isinstance(
        models_or_paths, Sequence
    ):
        raise _checks.invalid(
            "models_or_paths", "a list of keras.Model or .keras paths", models_or_paths
        )
    if not models_or_paths:
        raise _checks.invalid(
            "models_or_paths", "at least one model or path", models_or_paths
        )
    members = []
    for item in models_or_paths:
        if isinstance(item, keras.Model):
            members.append(item)
        elif isinstance(item, (str, os.PathLike)):
            if not os.path.isfile(item):
                raise _checks.invalid(
                    "models_or_paths", "paths of existing .keras files", os.fspath(item)
                )
            members.append(
                keras.saving.load_model(item, compile=False, safe_mode=True)
            )
        else:
            raise _checks.invalid(
                "models_or_paths", "a list of keras.Model or .keras paths", item
            )
    return members


def _signature(tensors) -> list[tuple]:
    return [
        (tuple(t.shape[1:]), keras.backend.standardize_dtype(t.dtype))
        for t in tensors
    ]


def _rename(model: keras.Model, name: str) -> keras.Model:
    """The same layers and weights as a functional model called `name`."""
    inputs = [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=f"{name}_input_{i}")
        for i, t in enumerate(model.inputs)
    ]
    outputs = model(inputs[0] if len(inputs) == 1 else inputs)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=name)


def build_ensemble(
    models_or_paths: Sequence[keras.Model | str | os.PathLike],
    *,
    weights: Sequence[float] | None = None,
    name: str = "ensemble",
) -> keras.Model:
    """One functional model that averages its members' outputs.

    Members (models, or `.keras` paths loaded with `safe_mode=True`) become
    named sub-models `member_1`, `member_2`, ... sharing one set of inputs;
    their outputs (probabilities, for classifiers) are averaged with
    `keras.layers.Average`, or with the registered `WeightedAverage` layer
    when `weights` are given (or a model is listed more than once: it joins
    once, weighted by how often it is listed). The result is uncompiled and
    saves to a single `.keras` file that loads with `safe_mode=True` (after
    `import callbacks` when weighted).

    Args:
        models_or_paths: a list of `keras.Model`s or `.keras` file paths
            with the same input and output shapes.
        weights: one non-negative weight per member (normalised to sum to
            1), or `None` for equal weights.
        name: the ensemble model's name.

    Returns:
        An uncompiled functional `keras.Model`.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> members = [
    ...     keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ...     for _ in range(3)]
    >>> ensemble = build_ensemble(members, weights=[1, 1, 2])
    >>> [layer.name for layer in ensemble.layers]
    ['input_0', 'member_1', 'member_2', 'member_3', 'weighted_average']
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> p1, p2, p3 = (member.predict(x, verbose=0) for member in members)
    >>> np.allclose(ensemble.predict(x, verbose=0), (p1 + p2 + 2 * p3) / 4, atol=1e-6)
    True
    >>> ensemble.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> y = np.random.default_rng(1).integers(0, 3, size=32)
    >>> loss, accuracy = ensemble.evaluate(x, y, verbose=0)
    """
    members = _load_members(models_or_paths)
    if weights is not None:
        weights = _check_weights(weights, len(members))
    reference = members[0]
    for member in members[1:]:
        if _signature(member.inputs) != _signature(reference.inputs) or _signature(
            member.outputs
        ) != _signature(reference.outputs):
            raise _checks.invalid(
                "models_or_paths",
                "models with the same input and output shapes "
                f"(first: {_signature(reference.inputs)} -> "
                f"{_signature(reference.outputs)})",
                f"{member.name}: {_signature(member.inputs)} -> "
                f"{_signature(member.outputs)}",
            )
    # A model passed more than once joins once, weighted by its multiplicity
    # (one layer under two names would not load back from the file).
    unique, totals = [], []
    for member, weight in zip(members, weights or [1.0] * len(members)):
        for index, seen in enumerate(unique):
            if seen is member:
                totals[index] += weight
                break
        else:
            unique.append(member)
            totals.append(weight)
    members = unique
    if weights is None and len(set(totals)) == 1:
        weights = None
    else:
        weights = totals
    inputs = [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=f"input_{i}")
        for i, t in enumerate(reference.inputs)
    ]
    call_inputs = inputs[0] if len(inputs) == 1 else inputs
    outputs_per_member = []
    for index, member in enumerate(members, start=1):
        outputs = _rename(member, f"member_{index}")(call_inputs)
        outputs_per_member.append(keras.tree.flatten(outputs))
    num_outputs = len(outputs_per_member[0])
    averaged = []
    for position in range(num_outputs):
        suffix = "" if num_outputs == 1 else f"_{position}"
        tensors = [outputs[position] for outputs in outputs_per_member]
        if len(tensors) == 1:
            averaged.append(tensors[0])
        elif weights is None:
            averaged.append(keras.layers.Average(name=f"average{suffix}")(tensors))
        else:
            averaged.append(
                WeightedAverage(weights, name=f"weighted_average{suffix}")(tensors)
            )
    return keras.Model(
        call_inputs, averaged[0] if num_outputs == 1 else averaged, name=name
    )


def evaluate_snapshot_ensembles(
    models_or_paths: Sequence[keras.Model | str | os.PathLike],
    x: Any,
    y: Any,
    *,
    loss: Any,
    metrics: Sequence[Any] | None = ("accuracy",),
    batch_size: int | None = None,
):
    """Loss and metrics of the ensemble of the last k snapshots, k = 1..M.

    Each member predicts once; the ensembles average the last k members'
    predictions (oldest to newest order, as `snapshot_paths`), and Keras
    computes the loss and metrics from them, resolved as `compile` would.

    Args:
        models_or_paths: members, oldest first (e.g. `snapshot_paths`),
            each with a single output.
        x, y: validation data (NumPy arrays or what `predict` accepts).
        loss: a Keras loss (name or object) to evaluate, e.g.
            `"sparse_categorical_crossentropy"`.
        metrics: Keras metrics as for `compile` (default `("accuracy",)`;
            `None` or `()` for the loss only).
        batch_size: prediction and evaluation batch size (default 32).

    Returns:
        A `pandas.DataFrame` with one row per k: `num_snapshots`, `loss`
        and one column per metric.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = np.random.default_rng(1).integers(0, 3, size=32)
    >>> def member():
    ...     return keras.Sequential(
    ...         [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> members = [member(), member(), member()]  # oldest first
    >>> table = evaluate_snapshot_ensembles(
    ...     members, x, y, loss="sparse_categorical_crossentropy")
    >>> list(table.columns)
    ['num_snapshots', 'loss', 'accuracy']
    >>> table["num_snapshots"].tolist()  # the ensembles of the last 1, 2, 3
    [1, 2, 3]
    """
    import pandas as pd

    members = _load_members(models_or_paths)
    if batch_size is not None:
        batch_size = _checks.check_int("batch_size", batch_size)
    if metrics is not None and (
        isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence)
    ):
        raise _checks.invalid("metrics", "None or a list of Keras metrics", metrics)
    for member in members:
        if len(member.outputs) != 1:
            raise _checks.invalid(
                "models_or_paths",
                "single-output models",
                f"{member.name} with {len(member.outputs)} outputs",
            )
    predictions = [
        np.asarray(member.predict(x, batch_size=batch_size, verbose=0))
        for member in members
    ]
    shape = predictions[0].shape[1:]
    if any(p.shape[1:] != shape for p in predictions):
        raise _checks.invalid(
            "models_or_paths", "models with the same output shape",
            [p.shape[1:] for p in predictions],
        )
    # A model with no weights that passes predictions through lets Keras
    # compute the loss and metrics exactly as compile/evaluate would.
    passthrough_input = keras.Input(shape=shape, name="predictions")
    passthrough = keras.Model(
        passthrough_input, keras.layers.Identity()(passthrough_input)
    )
    passthrough.compile(loss=loss, metrics=list(metrics or []))
    rows = []
    for count in range(1, len(predictions) + 1):
        averaged = np.mean(predictions[-count:], axis=0)
        scores = passthrough.evaluate(
            averaged, y, batch_size=batch_size, verbose=0, return_dict=True
        )
        scores = {name: float(value) for name, value in scores.items()}
        rows.append({"num_snapshots": count, "loss": scores.pop("loss"), **scores})
    return pd.DataFrame(rows)
