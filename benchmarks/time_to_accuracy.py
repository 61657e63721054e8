"""Time to accuracy: each classification recipe's defaults against a naive baseline.

For the mlp (digits as 64 features), cnn (8x8x1 images), rnn (an LSTM on 8
rows of 8 pixels) and gmlp (2x2 patches) recipes: the recipe's default
configuration (model, optimizer, learning-rate schedule, batch size,
`steps_per_execution`, and `jit_compile` where the recipe sets it), read
from the recipe's own flags, and its input
pipeline (`Dataset.batches` of `recipes.common.data`), against the same
architecture (the same builder options) trained the way most tutorials do it:
`compile(optimizer="adam")` and `fit` on the arrays with its defaults (batch
32, `steps_per_execution=1`). Same data (the
recipes' digits split, seed 0), same target validation accuracy; a callback
records the wall time at each epoch's end and stops training when the target
is reached.

Both variants are compiled once and warmed up (a one-epoch `fit` on a few
batches, including a partial last batch, and the whole validation split, so
the tracing or XLA compilation of every step shape is done); each run then
starts from the same fresh weights for both variants (seed = run number)
and a reset optimizer, and runs alternate between the variants in one
process. Figures: median over
runs of the seconds from `fit` to the epoch that first reaches the target,
the ratio naive / recipe, and the one-off warm-up (trace/compile) time.

Both backends, each in its own worker process.

Run:
    python -m benchmarks.time_to_accuracy
    python -m benchmarks.time_to_accuracy --recipes mlp cnn --repeats 7
"""

from __future__ import annotations

import argparse
import ast
import importlib
import math
from unittest import mock

from benchmarks import _common

NAME = "time_to_accuracy"
# A naive run stops (unfinished: the figures become lower bounds) once it
# has taken this many times the recipe's time: enough to tell a 2x goal.
NAIVE_TIME_LIMIT = 2.5
# Recipe -> (data view, target validation accuracy). Targets sit a little
# under each recipe's documented test accuracy, and both variants reach them.
RECIPES = {
    "mlp": ("flat", 0.97),
    "cnn": ("image", 0.97),
    "rnn": ("sequence", 0.94),
    "gmlp": ("image", 0.95),
}


class _Captured(Exception):
    pass


def recipe_jit_compile(name: str) -> bool | str:
    """The recipe's `jit_compile` (its `jit_compile()` where it has one, as
    the gmlp does), else Keras' default."""
    module = importlib.import_module(f"recipes.{name}")
    return module.jit_compile() if hasattr(module, "jit_compile") else "auto"


def recipe_defaults(name: str) -> argparse.Namespace:
    """The recipe's default flags, parsed by its own parser (nothing is trained)."""
    module = importlib.import_module(f"recipes.{name}")
    original = argparse.ArgumentParser.parse_args
    captured = {}

    def capture(parser, args=None, namespace=None):
        captured["args"] = original(parser, [], namespace)
        raise _Captured

    with mock.patch.object(argparse.ArgumentParser, "parse_args", capture):
        try:
            module.main([])
        except _Captured:
            pass
    return captured["args"]


def _model_options(name: str, flags: argparse.Namespace) -> tuple[str, dict]:
    """The zoo model and builder options that the recipe's default run builds."""
    if name == "mlp":
        return "mlp", dict(
            hidden_units=flags.hidden_units,
            activation=flags.activation,
            dropout_rate=flags.dropout_rate,
            batch_norm=None if flags.batch_norm == "none" else flags.batch_norm,
            residual=flags.residual,
            output_activation="softmax",
        )
    if name == "cnn":
        module = importlib.import_module("recipes.cnn")
        augmentation = [a for a in flags.augmentation if a != "none"]
        return flags.model, dict(
            filters=flags.filters,
            blocks_per_stage=flags.blocks_per_stage,
            residual=flags.residual,
            batch_norm=None if flags.batch_norm == "none" else flags.batch_norm,
            batch_norm_momentum=flags.batch_norm_momentum,
            dropout_rate=flags.dropout_rate,
            augmentation={a: module.AUGMENTATIONS[a] for a in augmentation} or None,
        )
    if name == "rnn":
        return flags.model, dict(
            units=flags.units,
            dropout=flags.dropout,
            recurrent_dropout=flags.recurrent_dropout,
            bidirectional=flags.bidirectional,
            task="classification",
        )
    if name == "gmlp":
        return flags.model, dict(
            patch_size=flags.patch_size,
            d_model=flags.d_model,
            d_ffn=flags.d_ffn,
            num_blocks=flags.num_blocks,
            dropout_rate=flags.dropout_rate,
            drop_path_rate=flags.drop_path_rate,
        )
    raise ValueError(
        f"Invalid value for argument `recipe`: expected one of {list(RECIPES)}. "
        f"Received: recipe={name!r}"
    )


def _recipe_optimizer(name: str, flags: argparse.Namespace, train_samples: int):
    """The optimizer the recipe's default run compiles with."""
    import keras

    if name == "mlp":
        return keras.optimizers.Adam(flags.learning_rate)
    steps_per_epoch = math.ceil(train_samples / flags.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        flags.learning_rate, decay_steps=flags.epochs * steps_per_epoch
    )
    if name == "gmlp":
        return keras.optimizers.AdamW(schedule, weight_decay=flags.weight_decay)
    return keras.optimizers.Adam(schedule)


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument(
        "--recipes", nargs="+", choices=tuple(RECIPES), default=list(RECIPES)
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per variant")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="FLAG=VALUE", dest="overrides",
        help="try other recipe defaults, e.g. --set batch_size=256 learning_rate=0.003 "
        "(flag names as the recipe's argparse dest)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


class _Variant:
    """A compiled, warmed-up model and how `fit` is called for one variant."""

    def __init__(self, label, build, optimizer, batch_size, spe, epochs, data,
                 pipeline=False, jit_compile="auto"):
        import dataclasses

        import keras

        self.label, self.batch_size, self.epochs = label, batch_size, epochs
        self.model = build()
        self.model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=spe,
            jit_compile=jit_compile,
        )
        # Warm-up: one full and one partial training batch (the recipe's
        # pipeline drops the partial one) and the whole validation split (in
        # the batches each variant uses), so every step shape is traced now.
        train = batch_size + len(data.x_train) % batch_size
        # The recipe's input pipeline (recipes.common.data's Dataset.batches) or fit's defaults.
        def inputs(data) -> dict:
            if pipeline:
                train, validation = data.batches(batch_size, seed=0)
                return {"x": train, "validation_data": validation}
            return {"x": data.x_train, "y": data.y_train, "batch_size": batch_size,
                    "validation_data": (data.x_val, data.y_val)}

        self.inputs = inputs
        few = dataclasses.replace(data, x_train=data.x_train[:train],
                                  y_train=data.y_train[:train])
        elapsed = _common.timer()
        self.model.fit(**self.inputs(few), epochs=1, verbose=0)
        self.warm_up_seconds = elapsed()
        self.keras = keras

    def reset(self, weights) -> None:
        """Fresh weights and optimizer state (the learning rate itself kept)."""
        ops = self.keras.ops
        self.model.set_weights(weights)
        for variable in self.model.optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(ops.zeros(variable.shape, variable.dtype))

    def run(self, data, target: float, time_limit: float = math.inf) -> dict:
        """Trains until validation accuracy reaches `target`, the epoch budget
        runs out, or an epoch ends after `time_limit` seconds."""
        keras = self.keras
        epoch_ends, accuracies = [], []

        class StopAtTarget(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                epoch_ends.append(elapsed())
                accuracies.append(float(logs["val_accuracy"]))
                if accuracies[-1] >= target or epoch_ends[-1] > time_limit:
                    self.model.stop_training = True

        elapsed = _common.timer()
        self.model.fit(
            **self.inputs(data), epochs=self.epochs, callbacks=[StopAtTarget()], verbose=0
        )
        reached = bool(accuracies) and accuracies[-1] >= target
        epoch_times = [b - a for a, b in zip([0.0] + epoch_ends, epoch_ends)]
        return {
            "seconds": epoch_ends[-1] if reached else None,
            "epochs": len(epoch_ends) if reached else None,
            "seconds_run": epoch_ends[-1],
            "epochs_run": len(epoch_ends),
            "epoch_seconds": _common.median(epoch_times),
            "best_val_accuracy": max(accuracies),
        }


def _overrides(pairs: list[str], flags: argparse.Namespace) -> dict:
    """`["batch_size=256", ...]` as a dict of typed values, for flags the recipe has."""
    result = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if not text or not hasattr(flags, key):
            raise ValueError(
                "Invalid value for argument `set`: expected FLAG=VALUE with one of the "
                f"recipe's flags {sorted(vars(flags))}. Received: set={pair!r}"
            )
        try:
            result[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            result[key] = text
    return result


def _lower_median(runs: list[dict], key: str) -> tuple[float | None, bool]:
    """Median of `key` over runs, with unfinished runs counted at what they ran
    (`seconds_run`, `epochs_run`): a lower bound when any run is unfinished."""
    values = [r[key] if r[key] is not None else r[key + "_run"] for r in runs]
    return _common.median(values), any(r[key] is None for r in runs)


def _measure_recipe(name: str, args, keras, zoo, data_module) -> dict:
    view, target = RECIPES[name]
    flags = recipe_defaults(name)
    overrides = _overrides(args.overrides, flags)
    vars(flags).update(overrides)
    data = data_module.load_dataset("digits", view=view, seed=0)
    if args.quick:
        data = data.subsample(train=200, evaluation=64)
        flags.epochs = 2
    model_name, options = _model_options(name, flags)

    def build():
        return zoo.build(model_name, input_shape=data.input_shape,
                         num_outputs=data.num_outputs, **options)

    keras.utils.set_random_seed(0)
    variants = {
        "recipe": _Variant(
            "recipe", build, _recipe_optimizer(name, flags, len(data.x_train)),
            flags.batch_size, flags.steps_per_execution, flags.epochs, data,
            pipeline=True, jit_compile=recipe_jit_compile(name),
        ),
        "naive": _Variant("naive", build, "adam", 32, 1, flags.epochs, data),
    }
    runs = {label: [] for label in variants}
    for repeat in range(args.repeats):
        keras.utils.set_random_seed(1000 + repeat)
        weights = build().get_weights()  # the same start for both variants
        order = list(variants) if repeat % 2 == 0 else list(variants)[::-1]
        for label in order:
            limit = math.inf
            if label == "naive":
                done = [r["seconds"] for r in runs["recipe"] if r["seconds"]]
                if done:
                    limit = NAIVE_TIME_LIMIT * (done[-1] if order[0] == "recipe"
                                                else _common.median(done))
            keras.utils.set_random_seed(1000 + repeat)
            variants[label].reset(weights)
            run = variants[label].run(data, target, limit)
            runs[label].append(run)
            print(f"  {name} {label:6s} run {repeat}: "
                  + (f"{run['seconds']:.2f} s, {run['epochs']} epochs" if run["seconds"]
                     else f"not reached in {run['epochs_run']} epochs "
                          f"({run['seconds_run']:.1f} s)"), flush=True)
    entry = {"target": target, "model": model_name, "options": _plain(options),
             "max_epochs": flags.epochs, "naive_time_limit": NAIVE_TIME_LIMIT,
             "overrides": overrides}
    for label, variant in variants.items():
        seconds, seconds_bound = _lower_median(runs[label], "seconds")
        epochs, epochs_bound = _lower_median(runs[label], "epochs")
        entry[label] = {
            "batch_size": variant.batch_size,
            "steps_per_execution": variant.model.steps_per_execution,
            "optimizer": type(variant.model.optimizer).__name__,
            "learning_rate_schedule": not isinstance(
                variant.model.optimizer.learning_rate, keras.Variable),
            "warm_up_seconds": variant.warm_up_seconds,
            "reached": sum(r["seconds"] is not None for r in runs[label]),
            "runs_count": len(runs[label]),
            "median_seconds": seconds,
            "seconds_lower_bound": seconds_bound,
            "median_epochs": epochs,
            "epochs_lower_bound": epochs_bound,
            "epoch_seconds": _common.median(r["epoch_seconds"] for r in runs[label]),
            "runs": runs[label],
        }
    # Paired: median over runs of naive / recipe seconds (a lower bound where
    # a naive run stopped unfinished); undefined if the recipe missed the target.
    if all(r["seconds"] is not None for r in runs["recipe"]):
        entry["speedup"] = _common.median(
            (n["seconds"] or n["seconds_run"]) / r["seconds"]
            for r, n in zip(runs["recipe"], runs["naive"])
        )
        entry["speedup_lower_bound"] = entry["naive"]["seconds_lower_bound"]
    else:
        entry["speedup"], entry["speedup_lower_bound"] = None, False
    entry["speedup_per_epoch"] = (
        entry["naive"]["epoch_seconds"] / entry["recipe"]["epoch_seconds"]
    )
    return entry


def work(args) -> dict:
    import keras

    import zoo
    from recipes.common import data as data_module

    _common.quiet_keras()
    info = _common.machine()
    restore = None
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        # As the recipes do (recipes.common.runtime.setup): repeatable runs. Put
        # back as found afterwards (this may be a test process).
        if not tf_config.is_op_determinism_enabled():
            tf.config.experimental.enable_op_determinism()
            restore = tf_config.disable_op_determinism
    try:
        results = {name: _measure_recipe(name, args, keras, zoo, data_module)
                   for name in args.recipes}
    finally:
        if restore:
            restore()
    info["load_average_end"] = _common.load_average()
    return {"backend": keras.backend.backend(), "machine": info,
            "repeats": args.repeats, "recipes": results}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.worker:
        return _common.worker_main(args, work)
    passed = ["--repeats", str(args.repeats), "--recipes", *args.recipes]
    passed += ["--set", *args.overrides] if args.overrides else []
    passed += ["--quick"] if args.quick else []
    results = _common.run_workers(NAME, passed, args.backends, work, _parse)
    data = {"machine": _common.machine(), "backends": results}
    _common.save(NAME, args.output_dir, data, _markdown(data))
    return data


def _seconds(entry: dict) -> str:
    value = entry["median_seconds"]
    if entry["reached"] == 0:
        return f"not reached ({value:.1f})"
    return ("≥ " if entry["seconds_lower_bound"] else "") + f"{value:.2f}"


def _epochs(entry: dict) -> str:
    return ("≥ " if entry["epochs_lower_bound"] else "") + f"{entry['median_epochs']:g}"


def _describe_variant(entry: dict, overrides: dict | None = None) -> str:
    schedule = " + cosine decay" if entry["learning_rate_schedule"] else ""
    text = (f"{entry['optimizer']}{schedule}, batch {entry['batch_size']}, "
            f"spe {entry['steps_per_execution']}")
    if overrides:
        text += " (set: " + ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    return text


def _markdown(data: dict) -> str:
    lines = [
        "# Time to accuracy",
        "",
        "`python -m benchmarks.time_to_accuracy`. Each classification recipe's "
        "default configuration (read from its flags: model, optimizer and schedule, "
        "batch size, `steps_per_execution`) and input pipeline "
        "(`Dataset.batches` of `recipes.common.data`: cached, prefetched `tf.data` "
        "under TensorFlow, full batches of the arrays under JAX) against a naive "
        "baseline written the way tutorials do it: the same model (same builder options), "
        "`compile(optimizer=\"adam\")`, `fit` on the arrays with its "
        "defaults (batch 32, `steps_per_execution=1`). Same digits split (the "
        "recipes', seed 0: 1257 train, 270 validation), same target validation "
        "accuracy; training stops at the first epoch that reaches it. Both variants "
        "are compiled and warmed up once (tracing/XLA compilation of every step "
        "shape: the warm-up column, paid once per process), then runs alternate "
        "between them, each run starting from the same fresh weights for both. "
        "Seconds: median over runs, from `fit` to the end of the epoch that reached "
        "the target; speed-up: median over runs of naive / recipe. A naive run "
        f"stops unfinished after {NAIVE_TIME_LIMIT:g}× the recipe's time (or at the "
        "recipe's epoch budget); its figures then are lower bounds (≥). TensorFlow "
        "runs with op determinism on, as the recipes set it.",
    ]
    for backend, result in data["backends"].items():
        rows = []
        for name, entry in result["recipes"].items():
            recipe, naive = entry["recipe"], entry["naive"]
            speedup = entry.get("speedup")
            rows.append([
                name,
                f"{entry['target']:.2f}",
                _describe_variant(recipe, entry.get("overrides")),
                _seconds(recipe),
                _seconds(naive),
                "–" if speedup is None else
                f"**{'≥ ' if entry['speedup_lower_bound'] else ''}{speedup:.2f}×**",
                f"{_epochs(recipe)} / {_epochs(naive)}",
                f"{1000 * recipe['epoch_seconds']:.0f} / "
                f"{1000 * naive['epoch_seconds']:.0f}",
                f"{recipe['warm_up_seconds']:.1f} / {naive['warm_up_seconds']:.1f}",
                f"{recipe['reached']}/{recipe['runs_count']} / "
                f"{naive['reached']}/{naive['runs_count']}",
            ])
        lines += [
            "",
            f"## {backend}",
            "",
            _common.describe(result["machine"], [backend])
            + f" {result['repeats']} runs per variant.",
            "",
            _common.table(
                ["recipe", "target", "recipe defaults", "recipe s", "naive s",
                 "speed-up", "epochs (recipe / naive)", "ms per epoch (r / n)",
                 "warm-up s (r / n)", "reached (r / n)"],
                rows, "lrlrrrrrrr",
            ),
        ]
        goal = [name for name, e in result["recipes"].items()
                if e.get("speedup") is not None and e["speedup"] >= 2]
        lines += ["", f"Goal (at least 2× faster than naive): met by "
                  f"{', '.join(goal) if goal else 'none'} of "
                  f"{', '.join(result['recipes'])}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
