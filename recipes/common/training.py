"""How a recipe trains: the model check, optimizer, schedules, LR finder, ensembles.

Each function takes what it needs and returns what it derives; none changes
`args`. Import after the `Run` is made (they import Keras or the zoo).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from typing import Any

from recipes.common import cluster
from recipes.common.runs import Run, recorded_flags


def model_spec(
    args: argparse.Namespace,
    *,
    task: str | None = None,
    input_kind: str | None = None,
    kind: str = "model",
    flag: str = "--model",
    data_flags: bool = True,
):
    """The zoo spec of `args.model`, checked before any data is loaded.

    `--model` must name a zoo model of `task` and `input_kind` (either left
    out: any), described as `kind` in the error. With `data_flags`, `--csv`
    needs a vector model and `--images` an image model.
    """
    import zoo

    fits = [name for name in zoo.list_models()
            if task in (None, zoo.get_spec(name).task)
            and input_kind in (None, zoo.get_spec(name).input_kind)]
    if args.model not in fits:
        raise ValueError(
            f"Invalid value for argument `model`: expected a zoo {kind} for {flag}, "
            f"one of: {', '.join(fits)}. Received: model={args.model!r}"
        )
    spec = zoo.get_spec(args.model)
    csv, images = getattr(args, "csv", None), getattr(args, "images", None)
    wrong_csv = csv and spec.input_kind != "vector"
    if data_flags and (wrong_csv or (images and spec.input_kind != "image")):
        raise ValueError(
            "Invalid value for argument `model`: --csv needs a vector model (mlp) and "
            f"--images an image model (cnn, gmlp). Received: model={args.model!r}"
        )
    return spec


def penalties(args: argparse.Namespace) -> dict[str, float]:
    """`zoo.build`'s `l1` and `l2` from `--l1` and `--l2` (kernel_regularizer)."""
    return {"l1": getattr(args, "l1", 0.0), "l2": getattr(args, "l2", 0.0)}


def optimizer(args: argparse.Namespace, learning_rate: float, optimizer_class=None, **options):
    """`optimizer_class(learning_rate, **options)` (default Adam), with `--ema`
    as Keras' own `use_ema=True, ema_momentum=...`."""
    import keras

    optimizer_class = optimizer_class or keras.optimizers.Adam
    ema = getattr(args, "ema", None)
    if ema is not None:
        options.update(use_ema=True, ema_momentum=ema)
    return optimizer_class(learning_rate, **options)


def find_learning_rate(
    args: argparse.Namespace, model, data, run: Run, *, loss, optimizer_class=None, **options
) -> float:
    """The learning rate to train with: `--learning-rate`, or for `auto`
    the LR finder's `--suggestion` (fastai's "lr_find, then train").

    For `auto`, runs `callbacks.LRFinder` (Smith's range test, 100 steps
    from 1e-7 to 10) on `model` with `optimizer_class(**options)` and
    `loss`, on the training split; the finder leaves the weights as they
    were. The rate is printed and recorded in `run.json`
    (`learning_rate_found`), where a resumed run finds it again. Compile the
    model (again) afterwards.
    """
    if args.learning_rate != "auto":
        return args.learning_rate
    if cluster.joined():
        raise ValueError("Invalid value for argument `learning_rate`: the LR finder runs in "
                         "one process; run it there (--learning-rate auto without the cluster "
                         "variables) and pass the rate it prints. Received: learning_rate='auto'")
    import keras

    import callbacks

    found = run.info().get("learning_rate_found")
    if run.resumed_epoch is not None and found:
        print(f"Learning rate found by the interrupted run: {found:.2e}")
        return float(found)
    optimizer_class = optimizer_class or keras.optimizers.Adam
    model.compile(optimizer=optimizer_class(1e-3, **options), loss=loss, steps_per_execution=1)
    finder = callbacks.LRFinder()
    if hasattr(data, "x_train"):  # arrays
        finder.find(model, data.x_train, data.y_train, batch_size=args.batch_size,
                    shuffle=True, seed=args.seed)
    else:  # a streamed image folder: its tf.data pipeline shuffles itself
        train, _ = data.batches(args.batch_size, seed=args.seed)
        finder.find(model, train, shuffle=False)
    rate = finder.suggestion(args.suggestion)
    print(f"Learning rate from the range test ({args.suggestion}): {rate:.2e}")
    run.record(learning_rate_found=rate, learning_rate_suggestion=args.suggestion)
    return rate


def schedule_callbacks(args: argparse.Namespace, learning_rate: float, *, patience: int = 10
                       ) -> list:
    """The callbacks of `--schedule` and `--ema`, to go before the others.

    `cosine` is `callbacks.SGDR` with one cycle over all epochs, `one_cycle`
    is `callbacks.OneCycle(learning_rate)`, `sgdr` is `callbacks.SGDR`
    (cycles of 10, 20, 40... epochs), `plateau` is Keras'
    `ReduceLROnPlateau` (halve after `patience // 3` epochs without a
    better val_loss). `--ema` adds Keras' `SwapEMAWeights(swap_on_epoch=True)`:
    validation and the callbacks after it (early stopping's best weights)
    see the averaged weights, which are saved.
    """
    import keras

    import callbacks

    chosen = []
    name = getattr(args, "schedule", "constant")
    if name == "cosine":
        chosen.append(callbacks.SGDR(learning_rate, cycle_epochs=args.epochs, cycle_mult=1))
    elif name == "one_cycle":
        chosen.append(callbacks.OneCycle(learning_rate))
    elif name == "sgdr":
        chosen.append(callbacks.SGDR(learning_rate, cycle_epochs=min(10, args.epochs)))
    elif name == "plateau":
        chosen.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, patience // 3)))
    if getattr(args, "ema", None) is not None:
        chosen.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    return chosen


def train_ensemble(
    main: Callable[[list[str] | None], dict],
    argv: list[str] | None,
    run: Run,
    data,
    *,
    loss,
    metrics: list,
) -> dict[str, Any]:
    """`--ensemble K`: K runs of the recipe's `main`, then one model averaging them.

    Member `i` is `main(argv)` with `--seed` + i, the split of `--seed`
    (`--split-seed`) and its own run folder, `members/seed_<seed>/`, so each
    member resumes as any run does and a finished one is not trained again
    (unless the flags changed). The members' average
    (`callbacks.build_ensemble`) is then this run's `model.keras`, evaluated
    on the test split with `loss` and `metrics`; `members.csv` holds each
    member's test metrics. Independent ensembles cost K trainings: compare
    them at equal compute.
    """
    import json

    import pandas as pd

    import callbacks
    from recipes.common import artifacts
    from recipes.common.flags import split_seed

    args, recipe, folder = run.args, run.recipe, run.folder
    if cluster.joined():
        raise ValueError("Invalid value for argument `ensemble`: an ensemble trains its members "
                         "one after another in one process; across processes train one model. "
                         f"Received: ensemble={args.ensemble}")
    if run.info().get("flags") != recorded_flags(args) and (folder / "members").is_dir():
        shutil.rmtree(folder / "members")  # another ensemble's members
    run.record()
    argv = list(sys.argv[1:] if argv is None else argv)
    rows, paths = [], []
    for index in range(args.ensemble):
        seed = args.seed + index
        member = folder / "members" / f"seed_{seed}"
        if (member / recipe / "metrics.json").is_file():
            print(f"Ensemble member {index + 1}/{args.ensemble} (seed {seed}): already trained")
            result = json.loads((member / recipe / "metrics.json").read_text())
        else:
            print(f"Ensemble member {index + 1}/{args.ensemble} (seed {seed})...")
            result = main([*argv, "--ensemble", "1", "--seed", str(seed), "--split-seed",
                           str(split_seed(args)), "--output-dir", str(member), "--quiet"])
        rows.append({"member": index + 1, "seed": seed,
                     **{k: v for k, v in result.items() if k.startswith("test_")}})
        paths.append(member / recipe / "model.keras")
    ensemble = callbacks.build_ensemble(paths)
    ensemble.compile(loss=loss, metrics=metrics)
    results = ensemble.evaluate(data.test_batches(), return_dict=True, verbose=0)
    table = pd.DataFrame(rows)
    artifacts.write_csv(folder / "members.csv", table)
    print(f"Members:\n{table.to_string(index=False, float_format='%.4f')}")
    summary = {f"test_{name}": value for name, value in results.items()}
    summary["ensemble_size"] = args.ensemble
    for column in table.columns.drop(["member", "seed"]):
        summary[f"members_mean_{column}"] = float(table[column].mean())
        summary[f"members_std_{column}"] = float(table[column].std(ddof=0))
    return run.save(model=ensemble, metrics=summary, data=data)
