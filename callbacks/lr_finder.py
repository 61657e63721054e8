"""The learning-rate range test (Smith, 2017), as popularised by fastai.

A short mock training sweeps the learning rate exponentially from tiny to
huge, one rate per optimizer step, and records the loss of every batch; the
loss falls, flattens, then blows up. A good learning rate sits on the steep
part of the descent, well before the minimum. Afterwards the model's weights
and the optimizer's state and learning rate are put back exactly, so the
test leaves no trace on the training that follows.

Suggestions follow fastai's `lr_find` (fastai/callback/schedule.py): they
read the smoothed losses, leaving out the first tenth of the requested steps
and the last five recorded ones.

- `valley`: from the longest run of decreasing loss, the point about two
  thirds of the way down (fastai's default).
- `steep`: where the loss falls fastest per unit of log learning rate.
- `minimum`: a tenth of the rate at the lowest loss.
- `slide`: slides a window of `lr_diff` steps back from the end until the
  loss gradient at both ends agrees within `threshold`.

Reference:
    - Smith, 2017, "Cyclical Learning Rates for Training Neural Networks".
    - Howard & Gugger, 2020, "fastai: A Layered API for Deep Learning".
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from callbacks import _checks, schedules
from callbacks._optimizer import target_optimizer

SUGGESTION_METHODS = ("valley", "steep", "minimum", "slide")
_COLUMNS = ("step", "learning_rate", "loss", "smoothed_loss")


# Suggestions (fastai's definitions) ---------------------------------------------


def valley(lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, tuple]:
    """The rate two thirds of the way down the longest valley.

    The valley is the longest strictly decreasing subsequence of `losses`
    (as fastai finds it, which ties ends to the first longest run found);
    the suggestion is the point at `start + int(n/3) + int(n/6)`, `n` being
    its length in steps.

    Returns:
        `(suggested_lr, (lr, loss))`, the second pair the point to mark.
    """
    count = len(losses)
    longest = [1] * count
    start = end = 0
    for i in range(1, count):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end = i
                start = end - longest[end]
    third = (end - start) / 3
    # fastai's `start` is one before the valley's first point; with a valley
    # of two points the index would be -1 (the last rate): clamp it to 0.
    index = max(start + int(third) + int(third / 2), 0)
    return float(lrs[index]), (float(lrs[index]), float(losses[index]))


def steep(lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, tuple]:
    """The rate where the loss falls fastest against log learning rate."""
    lrs_array = np.asarray(lrs, dtype="float64")
    losses_array = np.asarray(losses, dtype="float64")
    slopes = np.diff(losses_array) / np.diff(np.log(lrs_array))
    index = int(np.argmin(slopes))
    return float(lrs_array[index]), (
        float(lrs_array[index]),
        float(losses_array[index]),
    )


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, tuple]:
    """A tenth of the rate at the lowest loss (marked at the lowest loss)."""
    index = int(np.argmin(np.asarray(losses, dtype="float64")))
    return float(lrs[index]) / 10.0, (float(lrs[index]), float(losses[index]))


def slide(
    lrs: Sequence[float],
    losses: Sequence[float],
    *,
    lr_diff: int = 15,
    threshold: float = 0.005,
    adjust_value: float = 1.0,
) -> tuple[float, tuple]:
    """fastai's interval slide rule.

    A window whose right end starts at the last point and whose left end is
    `lr_diff` steps earlier slides left while the loss gradients at its two
    ends differ by more than `threshold`; the suggestion is the rate at the
    left end where it stops, times `adjust_value`. `lr_diff` shrinks to fit
    short sweeps.
    """
    losses_array = np.asarray(losses, dtype="float64")
    lrs_array = np.asarray(lrs, dtype="float64")
    gradient = np.gradient(losses_array)
    lr_diff = min(lr_diff, len(losses_array) - 1)
    right = -1
    left = right - lr_diff
    local_min_lr = lrs_array[left]
    while (
        left >= -len(losses_array)
        and abs(gradient[right] - gradient[left]) > threshold
    ):
        local_min_lr = lrs_array[left]
        right -= 1
        left -= 1
    suggestion = float(local_min_lr) * adjust_value
    loss = float(np.interp(np.log10(suggestion), np.log10(lrs_array), losses_array))
    return suggestion, (suggestion, loss)


_SUGGESTERS = {"valley": valley, "steep": steep, "minimum": minimum, "slide": slide}


class LRFinder(keras.callbacks.Callback):
    """The learning-rate range test: sweep, record, restore, suggest.

    For every optimizer step `k` the rate is `start_lr * (end_lr /
    start_lr) ** (k / (num_steps - 1))`; the finder records it, the loss of
    that batch (recovered from Keras' running mean of the epoch, which is
    what `logs["loss"]` holds) and an exponentially smoothed, bias-corrected
    loss. It stops after `num_steps` steps, when the smoothed loss exceeds
    `divergence_factor` times the best so far, or when the loss is NaN or
    infinite. When training ends it restores every model variable (weights,
    batch-norm statistics, random seed state) and every optimizer variable
    (step counter, momentums, learning rate) to their values at the start.

    Use `find()`, or pass the finder to `fit(callbacks=[...])` with enough
    epochs to cover `num_steps` batches (it stops training itself).

    Requirements: the optimizer must hold a float learning rate (a
    `LearningRateSchedule` cannot be swept; compile with a float for the
    test) and the model must be compiled with `steps_per_execution=1`: the
    rate is set from Python before each step, and Keras calls callbacks only
    once per execution. Batch losses are recovered assuming the batches of
    an epoch have equal size, which `find()` ensures by dropping the
    remainder.

    Args:
        start_lr: the first step's rate.
        end_lr: the last step's rate (greater than `start_lr`).
        num_steps: number of steps (and rates) in the sweep, at least 2.
        smoothing: `beta` of the smoothed loss, in [0, 1) (0: none).
        divergence_factor: stop when the smoothed loss exceeds this
            multiple (> 1) of its best value.

    Example:

    >>> import os, tempfile
    >>> import keras
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(32, 4)).astype("float32")
    >>> y = x @ rng.normal(size=(4, 3)).astype("float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
    >>> finder = LRFinder(1e-4, 1e-1, num_steps=12).find(model, x, y, batch_size=8)
    >>> list(finder.results.columns)
    ['step', 'learning_rate', 'loss', 'smoothed_loss']
    >>> finder.results["learning_rate"].round(5).tolist()  # 1e-4 to 1e-1
    [0.0001, 0.00019, 0.00035, 0.00066, 0.00123, 0.00231, 0.00433, 0.00811,
     0.0152, 0.02848, 0.05337, 0.1]
    >>> 1e-4 <= finder.suggestion() <= 1e-1  # "valley" (or "steep", "minimum", "slide")
    True
    >>> float(model.optimizer.learning_rate)  # the model is as it was
    0.01
    >>> directory = tempfile.mkdtemp()
    >>> figure = finder.plot(os.path.join(directory, "lr_find.png"))
    >>> finder.results.to_csv(os.path.join(directory, "lr_find.csv"), index=False)

    Reference:
        - Smith, 2017, "Cyclical Learning Rates for Training Neural
          Networks".
    """

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_steps: int = 100,
        *,
        smoothing: float = 0.98,
        divergence_factor: float = 4.0,
    ):
        super().__init__()
        self.start_lr, self.end_lr, self.num_steps = schedules.check_sweep_arguments(
            start_lr, end_lr, num_steps
        )
        self.smoothing = _checks.check_real(
            "smoothing", smoothing, lambda v: 0 <= v < 1, "a float in [0, 1)"
        )
        self.divergence_factor = _checks.check_real(
            "divergence_factor", divergence_factor, lambda v: 1 < v < math.inf,
            "a finite number > 1",
        )
        self.diverged = False
        self._records: list[tuple[int, float, float, float]] = []
        self._saved = None

    # Results --------------------------------------------------------------

    @property
    def results(self):
        """One row per step: `step`, `learning_rate`, `loss`, `smoothed_loss`."""
        import pandas as pd

        return pd.DataFrame(self._records, columns=list(_COLUMNS))

    def _suggestion_data(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._records:
            raise RuntimeError(
                "LRFinder has no results yet: run finder.find(model, x, y, ...) "
                "or model.fit(..., callbacks=[finder]) first."
            )
        records = np.asarray(self._records, dtype="float64")
        lrs, smoothed = records[:, 1], records[:, 3]
        finite = np.isfinite(smoothed)
        usable = len(smoothed) if finite.all() else int(np.argmin(finite))
        skip_start = self.num_steps // 10
        trimmed = slice(skip_start, min(usable, len(smoothed) - 5))
        if trimmed.stop - trimmed.start < 2:
            trimmed = slice(0, usable)
        if trimmed.stop - trimmed.start < 2:
            raise RuntimeError(
                f"LRFinder recorded only {usable} finite losses, too few to "
                "suggest a learning rate: lower start_lr or raise num_steps."
            )
        return lrs[trimmed], smoothed[trimmed]

    def suggestion(self, method: str = "valley") -> float:
        """A learning rate read off the sweep.

        Args:
            method: `"valley"` (default), `"steep"`, `"minimum"` or
                `"slide"`, with fastai's definitions (see the module
                docstring).

        Returns:
            The suggested learning rate, a float.
        """
        _checks.check_choice("method", method, SUGGESTION_METHODS)
        lrs, losses = self._suggestion_data()
        return _SUGGESTERS[method](lrs, losses)[0]

    def plot(
        self, path: str | os.PathLike | None = None, *, method: str | None = "valley"
    ):
        """Loss against learning rate (log scale), the suggestion marked.

        Draws the batch losses faintly and the smoothed loss on top, leaving
        out the last five steps as fastai does (the divergence squashes the
        rest of the curve).

        Args:
            path: where to save a PNG (written atomically); `None` to only
                return the figure.
            method: the suggestion to mark, or `None` for none.

        Returns:
            A `matplotlib.figure.Figure` (not attached to pyplot).
        """
        if method is not None:
            _checks.check_choice("method", method, SUGGESTION_METHODS)
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise _checks.invalid("path", "None or a file path", path)
        from matplotlib.figure import Figure

        records = self.results
        if records.empty:
            self._suggestion_data()  # raises the "run it first" error
        shown = records.iloc[: max(len(records) - 5, 2)].replace(
            [np.inf, -np.inf], np.nan
        )
        figure = Figure(figsize=(6.4, 4.0), layout="constrained")
        axes = figure.subplots()
        axes.plot(
            shown["learning_rate"], shown["loss"], color="0.7", lw=1, label="batch loss"
        )
        axes.plot(
            shown["learning_rate"], shown["smoothed_loss"], color="C0", label="smoothed"
        )
        if method is not None:
            lrs, losses = self._suggestion_data()
            value, (marker_lr, marker_loss) = _SUGGESTERS[method](lrs, losses)
            axes.plot(
                [marker_lr], [marker_loss], "o", color="C3",
                label=f"{method}: {value:.2e}",
            )
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("loss")
        axes.set_title("Learning-rate range test")
        axes.legend(loc="best")
        if path is not None:
            _save_figure(figure, os.fspath(path))
        return figure

    # The sweep ------------------------------------------------------------

    def find(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        *,
        batch_size: int | None = None,
        sample_weight: Any = None,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: int | str = 0,
    ) -> LRFinder:
        """Runs the sweep on `model` (compiled) and restores it afterwards.

        With NumPy arrays (or lists/dicts of them), it trains on
        `min(num_steps, len(x) // batch_size)` full batches, shuffled once
        with its own generator (`seed`), for as many epochs as `num_steps`
        needs; the global random state is left alone, so training afterwards
        is exactly what it would have been. Other data (a TensorFlow dataset,
        a `keras.utils.PyDataset`, a generator) is used as is, for as many
        epochs as `num_steps` needs when its length is known, else for one
        epoch of `num_steps` batches (its batches should have equal sizes).

        Args:
            model: a compiled `keras.Model`.
            x, y, sample_weight: training data, as for `fit`.
            batch_size: batch size for arrays (default 32).
            shuffle: shuffle arrays before the sweep.
            seed: seed of the shuffle (`None`: a fresh one).
            verbose: passed to `fit`.

        Returns:
            The finder, for `finder.find(...).suggestion()`.
        """
        if not isinstance(model, keras.Model):
            raise _checks.invalid("model", "a keras.Model", model)
        if not getattr(model, "compiled", False) or model.optimizer is None:
            raise ValueError(
                "Invalid value for argument `model`: expected a compiled model "
                "(call model.compile(optimizer, loss) first). "
                f"Received: model={model.name!r} (not compiled)"
            )
        if batch_size is not None:
            batch_size = _checks.check_int("batch_size", batch_size)
        _checks.check_bool("shuffle", shuffle)
        seed = _checks.check_seed("seed", seed)
        if _is_array_structure(x):
            batch_size = batch_size or 32
            data, steps = _sweep_arrays(
                (x, y, sample_weight),
                batch_size=batch_size,
                num_steps=self.num_steps,
                shuffle=shuffle,
                seed=seed,
            )
            fit_kwargs = dict(
                x=data[0],
                y=data[1],
                sample_weight=data[2],
                batch_size=batch_size,
                epochs=math.ceil(self.num_steps / steps),
                shuffle=False,
            )
        else:
            fit_kwargs = dict(
                x=x, y=y, sample_weight=sample_weight, batch_size=batch_size
            )
            try:
                batches = len(x)
            except TypeError:  # unknown or infinite length
                batches = 0
            if batches:
                fit_kwargs["epochs"] = math.ceil(self.num_steps / batches)
            else:
                fit_kwargs.update(epochs=1, steps_per_epoch=self.num_steps)
        try:
            model.fit(callbacks=[self], verbose=verbose, **fit_kwargs)
        finally:
            self._restore(model)
        return self

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        steps_per_execution = getattr(model, "steps_per_execution", 1) or 1
        if steps_per_execution != 1:
            raise ValueError(
                "Invalid value for argument `steps_per_execution`: LRFinder "
                "expected a model compiled with steps_per_execution=1 (it sets "
                "the rate before every step, and Keras calls callbacks once per "
                "execution). Recompile for the test. "
                f"Received: steps_per_execution={steps_per_execution}"
            )
        optimizer = model.optimizer
        rate = target_optimizer(optimizer).learning_rate  # the variable itself, for a float rate
        if not isinstance(rate, keras.Variable):
            raise ValueError(
                "Invalid value for argument `learning_rate`: LRFinder expected "
                "an optimizer created with a float learning_rate, which it can "
                "sweep. Received an optimizer whose learning_rate is "
                f"{type(rate).__name__}: compile with a float learning rate for "
                "the test."
            )
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        self._restore(model)  # a previous run that stopped on an exception
        variables = list(model.variables) + list(optimizer.variables)
        self._saved = [(v, ops.convert_to_numpy(v)) for v in variables]
        self._rate_variable = rate
        self._rates = [
            schedules.exponential_sweep(
                step,
                start_lr=self.start_lr,
                end_lr=self.end_lr,
                num_steps=self.num_steps,
            )
            for step in range(self.num_steps)
        ]
        self._records = []
        self.diverged = False
        self._step = 0
        self._average = 0.0
        self._best = math.inf

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._previous_mean = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._step >= self.num_steps:
            return
        self._current_rate = self._rates[self._step]
        # On JAX, reading `self.model` first syncs the train state into the
        # variables, so that the next step reads the new rate from them.
        _ = self.model
        self._rate_variable.assign(self._current_rate)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._step >= self.num_steps:
            return
        # logs["loss"] is the mean over the epoch's batches so far.
        mean = float(logs["loss"])
        loss = (batch + 1) * mean - batch * self._previous_mean
        self._previous_mean = mean
        beta = self.smoothing
        self._average = beta * self._average + (1.0 - beta) * loss
        smoothed = self._average / (1.0 - beta ** (self._step + 1))
        self._records.append((self._step, self._current_rate, loss, smoothed))
        self._step += 1
        if math.isfinite(smoothed) and smoothed < self._best:
            self._best = smoothed
        limit = self.divergence_factor * self._best
        if not math.isfinite(loss) or not smoothed <= limit:
            self.diverged = True
            self._model.stop_training = True
        elif self._step >= self.num_steps:
            self._model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self._restore(self.model)

    def _restore(self, model) -> None:
        if self._saved is None:
            return
        for variable, value in self._saved:
            variable.assign(value)
        self._saved = None


def _is_array_structure(data: Any) -> bool:
    leaves = keras.tree.flatten(data)
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)


def _sweep_arrays(data, *, batch_size: int, num_steps: int, shuffle: bool, seed):
    """The samples the sweep trains on: full batches only, shuffled once."""
    names = ("x", "y", "sample_weight")
    lengths = {}
    for name, part in zip(names, data):
        if part is None:
            continue
        if not _is_array_structure(part):
            raise _checks.invalid(name, "NumPy arrays, like x", type(part).__name__)
        for leaf in keras.tree.flatten(part):
            lengths.setdefault(len(leaf), name)
    if len(lengths) != 1:
        raise _checks.invalid(
            "y", "arrays with as many samples as x", f"lengths {sorted(lengths)}"
        )
    num_samples = next(iter(lengths))
    steps = min(num_steps, num_samples // batch_size)
    if steps == 0:
        raise _checks.invalid(
            "batch_size", f"at most the number of samples ({num_samples})", batch_size
        )
    used = steps * batch_size
    if shuffle:
        index = np.random.default_rng(seed).permutation(num_samples)[:used]
    else:
        index = slice(0, used)
    data = tuple(
        None if part is None else keras.tree.map_structure(lambda a: a[index], part)
        for part in data
    )
    return data, steps


def _save_figure(figure, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1] or ".png"
    handle, temporary = tempfile.mkstemp(
        prefix=".lr_find-", suffix=suffix, dir=directory
    )
    os.close(handle)
    try:
        figure.savefig(temporary, format=suffix.lstrip(".") or "png")
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
