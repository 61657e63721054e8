"""The data `recipes.tune` searches on, shaped for what a zoo model takes.

`load_task_data` gives the bundled digits as vectors, 8x8 images, 8-step
sequences or pairs, a CSV for vector models, or your `--sequences` for
sequence models; `dry_run` builds the default model once to learn the search
space and the metrics an objective may name.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np

from recipes.common.data import load_data, view_for


def searchable_spec(name: str):
    """The registry spec of `name`; a clear error for presets without a search space."""
    import zoo

    spec = zoo.get_spec(name)
    if spec.search_space is None:
        family = [
            other
            for other in zoo.list_models()
            if zoo.get_spec(other).builder is spec.builder
            and zoo.get_spec(other).search_space is not None
        ]
        hint = f" Search its family instead: --model {family[0]}." if family else ""
        raise ValueError(
            f"Invalid value for argument `model`: {name!r} is a fixed preset "
            f"with no search space ({spec.description}).{hint} "
            f"Received: model={name!r}"
        )
    return spec


@dataclasses.dataclass
class TaskData:
    """Train, validation and test `(x, y)` pairs and the builder's fixed arguments.

    Attributes:
        task: `"classification"`, `"multilabel"`, `"regression"`,
            `"reconstruction"` or `"similarity"`.
        fixed: builder arguments that are not tuned (`input_shape`, ...).
        description: where the data came from (part of the fingerprint).
        unit_range: every input lies in [0, 1].
        source: the `data.Dataset` the splits came from (its class
            names, and for a CSV its fitted preprocessing and schema).
    """

    task: str
    train: tuple[Any, np.ndarray]
    validation: tuple[Any, np.ndarray]
    test: tuple[Any, np.ndarray]
    fixed: dict[str, Any]
    description: dict[str, Any]
    unit_range: bool
    source: Any = None


def _check_sources(args, spec) -> None:
    """A `ValueError` for data flags that `spec`'s input kind cannot take."""
    import zoo

    name, sequences = spec.name, getattr(args, "sequences", None)
    if sequences is not None:
        if spec.input_kind != "sequence":
            models = [m for m in zoo.list_models() if zoo.get_spec(m).input_kind == "sequence"]
            raise ValueError(
                f"Invalid value for argument `sequences`: model {name!r} takes "
                f"{spec.input_kind} inputs; --sequences suits the sequence models "
                f"({', '.join(models)}). Received: sequences={str(sequences)!r}, model={name!r}"
            )
        # --sequences is the data; its task is inferred from its labels, its gaps filled.
        unused = {"csv": args.csv is not None, "dataset": args.dataset != "digits",
                  "task": args.task is not None, "missing": args.missing != "fill"}
        for flag in [flag for flag, given in unused.items() if given][:1]:
            value = getattr(args, flag)
            value = str(value) if isinstance(value, Path) else value
            raise ValueError(f"Invalid value for argument `{flag}`: --{flag} does not apply "
                             f"to --sequences. Received: {flag}={value!r}")
        return
    for flag in ("test_sequences", "id", "time"):
        if getattr(args, flag, None) is not None:
            raise ValueError(f"Invalid value for argument `{flag}`: it needs --sequences. "
                             f"Received: {flag}={getattr(args, flag)!r}")
    if args.target is not None and args.csv is None:
        raise ValueError("Invalid value for argument `target`: it needs --csv or --sequences. "
                         f"Received: target={args.target!r}")
    if spec.input_kind != "vector" and (args.csv is not None or args.dataset != "digits"):
        source = f"csv={str(args.csv)!r}" if args.csv is not None else f"dataset={args.dataset!r}"
        mine = " or your --sequences" if spec.input_kind == "sequence" else ""
        raise ValueError(
            f"Invalid value for argument `dataset`: model {name!r} takes "
            f"{spec.input_kind} inputs; only the bundled digits{mine} come in that "
            f"shape (--csv and tables suit vector models such as mlp). Received: {source}"
        )


def load_task_data(args, spec) -> TaskData:
    """The data for `spec`'s input kind and task, smaller with `--smoke`.

    Vectors: `--dataset` or `--csv`; images (8x8x1) and pairs
    (`zoo.siamese.make_pairs`): the bundled digits; sequences: the digits
    (8 steps of 8 pixels) or `--sequences` (padded to the longest; then
    `mask_value` is fixed for the builder). Reconstruction targets are the
    inputs.
    """
    name = spec.name
    _check_sources(args, spec)
    data = load_data(args, view=view_for(spec.input_kind))
    parameters = inspect.signature(spec.builder).parameters
    fixed: dict[str, Any] = {"input_shape": tuple(data.input_shape)}
    if data.mask_value is not None:  # unequal lengths: the padded steps are masked
        fixed["mask_value"] = data.mask_value
    unit_range = bool(data.x_train.min() >= 0 and data.x_train.max() <= 1)
    splits = [(data.x_train, data.y_train), (data.x_val, data.y_val), (data.x_test, data.y_test)]
    task = spec.task
    if spec.task == "classification":
        task = data.task
        fixed["num_outputs"] = data.num_outputs
        if task != "classification":
            if "output_activation" not in parameters:
                raise ValueError(
                    f"Invalid value for argument `task`: model {name!r} only "
                    f"classifies. Received: task={task!r}"
                )
            fixed["output_activation"] = "sigmoid" if task == "multilabel" else "linear"
    elif spec.task == "reconstruction":
        splits = [(x, x) for x, _ in splits]
        if not unit_range and "output_activation" in parameters:
            fixed["output_activation"] = "linear"  # standardised table features
    elif spec.task == "similarity":
        from zoo.siamese import make_pairs

        pairs = []
        for index, (x, y) in enumerate(splits):
            (left, right), same = make_pairs(x, y, num_pairs=2 * len(x), seed=args.seed + index)
            pairs.append(([left, right], same))
        splits = pairs
    if "seed" in parameters:
        fixed["seed"] = args.seed
    description = {
        "dataset": None if args.csv is not None else args.dataset,
        "csv": None if args.csv is None else str(Path(args.csv).resolve()),
        "target": args.target,
        "task": args.task,
        "smoke": bool(args.smoke),
        "seed": args.seed,
    }
    if getattr(args, "sequences", None) is not None:  # the files, the columns read
        description.update(
            dataset=None, sequences=str(Path(args.sequences).resolve()),
            test_sequences=args.test_sequences and str(Path(args.test_sequences).resolve()),
            id=args.id, time=args.time,
        )
    return TaskData(task, *splits, fixed=fixed, description=description,
                    unit_range=unit_range, source=data)


def concatenate(first, second):
    """Joins two inputs (arrays, or lists of arrays for pairs) along the samples."""
    if isinstance(first, list):
        return [np.concatenate([a, b]) for a, b in zip(first, second)]
    return np.concatenate([first, second])


def parse_objective(text: str):
    """`"val_accuracy"` or `"val_loss:min"` as a `keras_tuner.Objective`."""
    name, _, direction = text.partition(":")
    if direction and direction not in ("min", "max"):
        raise ValueError(
            "Invalid value for argument `objective`: expected NAME or NAME:min or "
            f"NAME:max. Received: objective={text!r}"
        )
    if not direction:
        from keras_tuner.engine import metrics_tracking

        direction = metrics_tracking.infer_metric_direction(name)
        if direction is None and name.endswith("loss"):
            direction = "min"
    if direction is None:
        raise ValueError(
            "Invalid value for argument `objective`: cannot tell whether "
            f"{name!r} is better high or low; write {name}:max or {name}:min. "
            f"Received: objective={text!r}"
        )
    return keras_tuner.Objective(name, direction)


def dry_run(hypermodel, data: TaskData) -> tuple[list[dict], list[str]]:
    """Builds the default model once: the search space and every metric it reports.

    Returns:
        `(space, names)`: the hyperparameter declarations (for the
        fingerprint) and the names an objective may take (`loss`, `val_loss`,
        ...), from an evaluation of two samples.
    """
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    x, y = data.train
    x = [part[:2] for part in x] if isinstance(x, list) else x[:2]
    logs = model.evaluate(x, y[:2], return_dict=True, verbose=0)
    del model
    keras.backend.clear_session()
    names = sorted(logs) + sorted(f"val_{name}" for name in logs)
    return hp.get_config()["space"], names
