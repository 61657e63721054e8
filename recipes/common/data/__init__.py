"""The data a recipe trains on: bundled, your CSV table, image folder or sequences.

`load_data(args)` picks what the flags ask for and returns a `Dataset`
(split arrays) or an `images.ImageFolder` (files streamed from disk); both
answer `summary()`, `batches(batch_size)` for `fit` and `test_batches()`
for `evaluate` and `predict`.

Modules, in the one direction they import each other: `splits` (`Dataset`,
`split`), `features` (a table's `FeatureSpace`), `tables` (CSV files),
`sequences` (`.ts`, wide or long CSV, `.npz` series), `image_files`
(checked, decoded image files), `images` (image folders), `bundled` (the
data that ships with the project).
Nothing here imports Keras or TensorFlow at import time.
"""

from __future__ import annotations

import argparse

from recipes.common.data.bundled import (
    INPUT_VIEWS,
    SUNSPOTS,
    load_dataset,
    load_digits,
    load_series,
    view_for,
)
from recipes.common.data.images import ImageFolder, load_folder, load_image_folder
from recipes.common.data.sequences import (
    RawSequences,
    load_sequences,
    prepare_sequences,
    read_sequences,
)
from recipes.common.data.splits import EVALUATION_BATCH_SIZE, Dataset, array_batches, split
from recipes.common.data.tables import load_csv, load_table, read_csv
from recipes.common.flags import split_seed

__all__ = [
    "EVALUATION_BATCH_SIZE", "INPUT_VIEWS", "SUNSPOTS", "Dataset", "ImageFolder",
    "array_batches",
    "RawSequences", "load_csv", "load_data", "load_dataset", "load_digits", "load_folder",
    "load_image_folder", "load_sequences", "load_series", "load_table", "prepare_sequences",
    "read_csv", "read_sequences", "split", "view_for",
]

SMOKE_TRAIN, SMOKE_EVALUATION = 300, 100


def load_data(
    args: argparse.Namespace, *, view: str = "flat", labels: bool = True, stream: bool = False,
    color_mode: str | None = None,
) -> Dataset | ImageFolder:
    """The bundled `--dataset`, `--images`, `--csv` with `--target`, or
    `--sequences` (`--test-sequences`, `--target`, `--id`, `--time`: see
    `load_sequences`); smaller with `--smoke` or `--train-size`.

    Args:
        args: the parsed flags.
        view: how the bundled digits are shaped: `"flat"`, `"image"` or
            `"sequence"` (`view_for(input_kind)` maps a zoo model's input
            kind to its view).
        labels: `False` for models that need no labels (autoencoders): then
            `--csv` without `--target` makes every column a feature, and with
            `--target` that column is left out of the features.
        stream: `--images` as an `ImageFolder` (files read in batches by
            `tf.data`, `--memory-cache` and `--cache` honoured) instead of
            arrays.
        color_mode: `--images` in this colour mode, whatever `--color-mode`
            says (e.g. `"rgb"` for a pretrained backbone).
    """
    csv, images = getattr(args, "csv", None), getattr(args, "images", None)
    target, seed = getattr(args, "target", None), split_seed(args)
    sequences = getattr(args, "sequences", None)
    if sequences is not None:
        data = load_sequences(sequences, target=target, id_column=args.id,
                              time_column=args.time, test_path=args.test_sequences, seed=seed)
    elif csv is not None and not labels:
        data = load_table(csv, exclude=target, seed=seed, missing=getattr(args, "missing", "error"))
    elif images is not None and stream:
        data = load_folder(images, image_size=args.image_size,
                           color_mode=color_mode or args.color_mode, seed=seed,
                           cache=args.cache, test_path=args.test_images,
                           memory_cache=args.memory_cache * 2**20)
        for note in data.notes():
            print(note)
    elif images is not None:
        data = load_image_folder(images, image_size=args.image_size,
                                 color_mode=color_mode or args.color_mode, seed=seed,
                                 test_path=args.test_images)
    elif csv is not None:
        if not target:
            raise ValueError("Invalid value for argument `target`: expected the target column "
                             f"name of --csv {str(csv)!r}. Received: target=None")
        data = load_csv(csv, target, task=args.task, seed=seed,
                        missing=getattr(args, "missing", "fill"))
    else:
        needs = "--sequences" if hasattr(args, "sequences") else "--csv"
        for name in ("target", "test_sequences", "id", "time"):
            if getattr(args, name, None) is not None:
                raise ValueError(f"Invalid value for argument `{name}`: it needs {needs}. "
                                 f"Received: {name}={getattr(args, name)!r}")
        data = load_dataset(args.dataset, view=view, seed=seed)
    train_size = getattr(args, "train_size", None)
    if train_size is not None:  # a smaller training set; validation and test unchanged
        data = data.subsample(train=train_size, evaluation=len(data.y_val) + len(data.y_test))
    if args.smoke:
        data = data.subsample(train=SMOKE_TRAIN, evaluation=SMOKE_EVALUATION)
    return data
