"""`Dataset` (split arrays and what a model needs to know) and the split itself.

Splits are stratified and deterministic for a seed: scikit-learn's
`train_test_split`, twice. A `Dataset` hands `fit`, `evaluate` and
`predict` their batches (`batches()`, `test_batches()`), the same calls an
`images.ImageFolder` answers for a folder streamed from disk.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

TASKS = ("classification", "regression", "multilabel")
# Validation, test and prediction batches of arrays: the bundled splits (270
# samples) fit in one, so validation, `evaluate` and `predict` each run one
# step of one shape, which JAX compiles once for all three.
EVALUATION_BATCH_SIZE = 512


def invalid(name: str, expected: str, value) -> ValueError:
    """Keras' wording for a bad argument value."""
    return ValueError(
        f"Invalid value for argument `{name}`: expected {expected}. Received: {name}={value!r}"
    )


@dataclasses.dataclass
class Dataset:
    """Train, validation and test arrays plus what a model needs to know.

    Attributes:
        name: dataset name, or the CSV path.
        task: `"classification"`, `"regression"`, `"multilabel"` or
            `"reconstruction"` (no labels).
        num_outputs: classes, labels or regression targets.
        class_names: names of the classes (classification) or target columns.
        feature_names: column names of the features, where they have names.
        scale: `(mean, std)` of a standardised series target, to undo it.
        preprocessing: for a CSV table, the `keras.utils.FeatureSpace` fitted
            on its training split (raw columns to `x`); else `None`.
        schema: for a CSV table, its columns' kinds, medians and categories
            and the target (`recipes.common.data.features`); else `None`.
        mask_value: for padded sequences of unequal lengths, the value of
            the padded steps, for the model's `mask_value`; else `None`.
        sequences: for your sequences, their fitted preprocessing (channels,
            mean and std, padding, column names: `recipes.common.data.sequences`),
            which `Run.save` writes to `run.json`; else `None`.
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_outputs: int
    class_names: list[str]
    feature_names: list[str] = dataclasses.field(default_factory=list)
    scale: tuple[float, float] | None = None
    preprocessing: Any = None
    schema: dict[str, Any] | None = None
    mask_value: float | None = None
    sequences: dict[str, Any] | None = None

    @classmethod
    def from_split(cls, name: str, task: str, parts: tuple, **fields) -> Dataset:
        """A `Dataset` from `split()`'s six arrays and the remaining fields."""
        x_train, y_train, x_val, y_val, x_test, y_test = parts
        return cls(name, task, x_train, y_train, x_val, y_val, x_test, y_test, **fields)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> str:
        """One line: the sizes of the splits, the input shape and the task."""
        outputs = (f"{self.num_outputs} classes" if self.task == "classification"
                   else f"task {self.task}")
        return (f"{self.name}: {len(self.x_train)} train, {len(self.x_val)} validation, "
                f"{len(self.x_test)} test samples of shape {self.input_shape}, {outputs}")

    def subsample(self, train: int, evaluation: int) -> Dataset:
        """The first `train` training and `evaluation` val/test samples (for --smoke)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train[:train], y_train=self.y_train[:train],
            x_val=self.x_val[:evaluation], y_val=self.y_val[:evaluation],
            x_test=self.x_test[:evaluation], y_test=self.y_test[:evaluation],
        )

    def image_fields(self) -> None:
        """What `run.json` records of an image folder: nothing, for arrays."""
        return None

    def batches(self, batch_size: int, *, seed: int = 0) -> tuple[Any, Any]:
        """`(train, validation)` for `model.fit(train, validation_data=validation)`.

        Both are `array_batches`: the training batches are full ones only,
        reshuffled every epoch (seeded), so JAX compiles the training step
        once; validation batches hold `EVALUATION_BATCH_SIZE` samples, in order.
        """
        return (array_batches(self.x_train, self.y_train, batch_size, shuffle=True, seed=seed),
                array_batches(self.x_val, self.y_val, EVALUATION_BATCH_SIZE))

    def test_batches(self, batch_size: int = EVALUATION_BATCH_SIZE):
        """The test split in order, for `model.evaluate(...)` and `model.predict(...)`."""
        return array_batches(self.x_test, self.y_test, batch_size)

    def test_images(self, indices) -> np.ndarray:
        """Test inputs `indices`, for plots."""
        return self.x_test[np.asarray(indices, dtype=int)]


def array_batches(x, y, batch_size: int, *, shuffle: bool = False, seed: int = 0):
    """Arrays as batches of `(x, y)` for `fit`, `evaluate` and `predict`
    (`x` an array, or a tuple of arrays for a model of several inputs).

    With `shuffle`: full batches only, in a new seeded order every epoch.
    Under JAX each batch shape is a step that XLA compiles, and an epoch's
    last partial batch would be a second one: dropping it (a random
    `len(x) % batch_size` samples each epoch) compiles the step once.
    Keras' `fit` has no `drop_remainder` for arrays, hence this. Without
    `shuffle`: every sample, in order (validation, test, prediction).

    On TensorFlow this is a `tf.data.Dataset` (`shuffle(seed=...)`, then
    `batch(drop_remainder=...)`), which TensorFlow's strategies split over
    devices and workers themselves. On JAX it is a `keras.utils.PyDataset`:
    under `--distribute` every batch splits evenly over the devices
    (`cluster.batching`), and across processes each process yields its own
    slice of every batch, of the same batches in the same order as one
    process would.
    """
    import keras

    from recipes.common import cluster

    process, processes, _ = cluster.data_shard()
    count, size = cluster.batching(len(y), batch_size, shuffle=shuffle)

    def take(arrays, chosen):
        return tuple(a[chosen] for a in arrays) if isinstance(arrays, tuple) else arrays[chosen]

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        first = slice(0, count)  # evaluation may leave out `len(y) - count` (cluster.batching)
        batches = tf.data.Dataset.from_tensor_slices((take(x, first), y[first]))
        if shuffle:
            batches = batches.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        return batches.batch(size, drop_remainder=shuffle).prefetch(tf.data.AUTOTUNE)

    class _ArrayBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(count) if shuffle else np.arange(count)

        def __len__(self):
            whole, rest = divmod(count, size)
            return whole if shuffle else whole + bool(rest)

        def __getitem__(self, index):
            chosen = self.order[index * size:(index + 1) * size]
            if processes > 1:  # this process's slice of the batch
                part = len(chosen) // processes
                chosen = chosen[process * part:(process + 1) * part]
            return take(x, chosen), y[chosen]

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(count)

    return _ArrayBatches()


def split(x, y, *, seed: int, stratify: bool = True, val_size=0.15, test_size=0.15):
    """Deterministic train/validation/test split (70/15/15 by default).

    Two calls of scikit-learn's `train_test_split` (test, then validation
    from the rest), stratified when every class has 3 or more samples;
    `test_size=0` leaves the test split empty (a test set of its own).

    Returns:
        `x_train, y_train, x_val, y_val, x_test, y_test`.
    """
    from sklearn.model_selection import train_test_split

    def strata(labels, fraction):
        """`labels` when every class has 3 or more samples and the split
        holds one of each (scikit-learn's conditions); else unstratified."""
        if not stratify:
            return None
        _, counts = np.unique(labels, return_counts=True)
        enough = math.ceil(fraction * len(labels)) >= len(counts)
        return labels if counts.min() >= 3 and enough else None

    if test_size == 0:
        x_rest, x_test, y_rest, y_test = x, x[:0], y, y[:0]
    else:
        x_rest, x_test, y_rest, y_test = train_test_split(
            x, y, test_size=test_size, random_state=seed, stratify=strata(y, test_size))
    fraction = val_size / (1 - test_size)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=fraction, random_state=seed,
        stratify=strata(y_rest, fraction))
    return x_train, y_train, x_val, y_val, x_test, y_test


def standardize(x_train, *others):
    """Zero mean, unit variance with statistics of `x_train` only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple(((part - mean) / std).astype("float32") for part in (x_train, *others))
