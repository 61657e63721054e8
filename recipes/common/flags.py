"""The flags every recipe shares, their argparse types, and the command line.

Nothing here imports Keras or TensorFlow, so `--help` and `python -m recipes`
answer at once. A recipe builds its parser with `parser()`, adds the groups
it takes (`add_data_flags`, `add_sequence_flags`, `add_training_flags`,
`add_ensemble_flag`) and its own model flags, then runs under `run(main)` from the command line.

Example:

>>> from recipes.common import flags
>>> parser = flags.parser("Demo: a recipe.", epochs=3, batch_size=32, learning_rate=1e-3)
>>> args = parser.parse_args(["--epochs", "5"])
>>> args.epochs, args.batch_size, args.backend
(5, 32, None)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
SCHEDULES = ("constant", "cosine", "one_cycle", "sgdr", "plateau")
MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16")
SUGGESTIONS = ("valley", "steep", "minimum", "slide")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def ema_momentum(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a momentum in (0, 1), got {text}")
    return value


def learning_rate_or_auto(text: str) -> float | str:
    """`--learning-rate`: a positive number, or `auto` (the range test picks it)."""
    return "auto" if text == "auto" else positive_float(text)


SMOKE_EPOCHS = 2


class RecipeParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose `--smoke` caps `--epochs` at `SMOKE_EPOCHS`."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if getattr(parsed, "smoke", False):
            parsed.epochs = min(parsed.epochs, SMOKE_EPOCHS)
        return parsed


def parser(
    doc: str,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    steps_per_execution: int = 8,
    auto_learning_rate: bool = False,
    tensorboard: bool = True,
) -> RecipeParser:
    """An `ArgumentParser` with the flags every recipe shares.

    Args:
        doc: the recipe's module docstring: its first line is the summary
            that `python -m recipes` lists, the rest the epilog of `--help`.
        epochs, batch_size, learning_rate, steps_per_execution: the
            recipe's defaults.
        auto_learning_rate: whether `--learning-rate auto` is accepted (the
            recipe then calls `training.find_learning_rate`), with
            `--suggestion`.
        tensorboard: whether `--tensorboard` is offered (a recipe that
            trains through `Run.callbacks()`, which logs it).

    `--backend` defaults to `None`: `$KERAS_BACKEND`, else the backend the
    recipe prefers (see `runtime.choose_backend`).
    """
    summary, _, rest = doc.strip().partition("\n")
    result = RecipeParser(
        description=summary,
        epilog=rest.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = result.add_argument_group("training")
    group.add_argument("--epochs", type=positive_int, default=epochs)
    group.add_argument("--batch-size", type=positive_int, default=batch_size)
    group.add_argument(
        "--learning-rate",
        type=learning_rate_or_auto if auto_learning_rate else positive_float,
        default=learning_rate,
        help="or auto: the LRFinder range test's --suggestion, then train"
        if auto_learning_rate else None,
    )
    if auto_learning_rate:
        group.add_argument(
            "--suggestion", choices=SUGGESTIONS, default="valley",
            help="which LRFinder suggestion --learning-rate auto takes (fastai's: valley)",
        )
    group.add_argument(
        "--steps-per-execution", type=positive_int, default=steps_per_execution,
        help="training steps run per call into the compiled graph (fewer Python round trips)",
    )
    group.add_argument("--seed", type=int, default=0, help="seeds data split, weights, shuffling")
    group.add_argument(
        "--split-seed", type=int, default=None,
        help="seeds the train/validation/test split only (default: --seed)",
    )
    group.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="Keras backend (default: $KERAS_BACKEND, else the recipe's choice)",
    )
    output = result.add_argument_group("output")
    output.add_argument("--output-dir", type=Path, default=Path("runs"))
    output.add_argument(
        "--smoke", action="store_true", help="a few hundred samples, 1-2 epochs: a quick check"
    )
    output.add_argument("--quiet", action="store_true", help="no progress bars")
    output.add_argument(
        "--verbose", action="store_true",
        help="TensorFlow's and XLA's own C++ log lines too (default: left out)",
    )
    output.add_argument(
        "--restart", action="store_true",
        help="start over instead of resuming an interrupted run in the same folder",
    )
    if tensorboard:
        output.add_argument(
            "--tensorboard", action="store_true",
            help="log each epoch's losses, metrics and learning rate in <run folder>/logs/ "
                 "for TensorBoard (tensorboard --logdir runs/); a resume continues the curves",
        )
    output.add_argument(
        "--compile-cache", default=None, metavar="DIR",
        help="JAX: keep compiled steps in DIR, so that a later run of the same model "
             "skips XLA compilation (default: $JAX_COMPILATION_CACHE_DIR, else "
             "$KERAS_HOME/jax_cache, ~/.keras/jax_cache; 'none': off)",
    )
    return result


def add_distribute_flags(parser) -> None:
    """Adds `--distribute`, `--cluster-timeout` and `--cpu-devices` (see
    `runtime.distributed` and `cluster`) to an argument group, or to a
    parser's group "devices"."""
    group = (parser.add_argument_group("devices")
             if isinstance(parser, argparse.ArgumentParser) else parser)
    group.add_argument(
        "--distribute", action="store_true",
        help="data-parallel on every device (JAX: keras.distribution.DataParallel; "
             "TensorFlow: tf.distribute.MirroredStrategy), across processes when "
             "KERAS_DISTRIBUTION_JOB_ADDRESSES (JAX) or TF_CONFIG (TensorFlow) names several "
             "(README, \"Across machines\"); --batch-size is the global batch",
    )
    group.add_argument(
        "--cluster-timeout", type=positive_float, default=60.0, metavar="SECONDS",
        help="across processes: how long to wait for the others to start, and for a "
             "lost one before stopping (default 60)",
    )
    group.add_argument(
        "--cpu-devices", type=positive_int, default=None, metavar="N",
        help="split the CPU into N devices (to try --distribute without accelerators)",
    )


def add_training_flags(parser: argparse.ArgumentParser, *, schedule: str = "constant") -> None:
    """Adds `--schedule` (default `schedule`), `add_distribute_flags`,
    `--mixed-precision`, `--l1`, `--l2` and `--ema` (see `training`)."""
    group = parser.add_argument_group("training techniques")
    group.add_argument(
        "--schedule", choices=SCHEDULES, default=schedule,
        help="learning-rate schedule: constant; cosine (one cosine over all epochs); "
             "one_cycle (Smith's, peak --learning-rate); sgdr (warm restarts, 10-epoch "
             f"first cycle, doubling); plateau (halve on a val_loss plateau) (default {schedule})",
    )
    add_distribute_flags(group)
    group.add_argument(
        "--mixed-precision", nargs="?", const="auto", default=None,
        choices=("auto", *MIXED_POLICIES),
        help="compute in 16 bits, keep float32 weights (Keras' mixed-precision policy); "
             "auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bfloat16 "
             "instructions (AVX-512 BF16 or AMX)",
    )
    group.add_argument("--l1", type=non_negative_float, default=0.0,
                       help="L1 penalty on every kernel (with --l2: elastic net)")
    group.add_argument("--l2", type=non_negative_float, default=0.0,
                       help="L2 penalty on every kernel")
    group.add_argument(
        "--ema", type=ema_momentum, nargs="?", const=0.99, default=None, metavar="MOMENTUM",
        help="Polyak averaging: Keras' optimizer use_ema (default momentum 0.99); "
             "validation and the saved model use the averaged weights",
    )


def add_ensemble_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--ensemble K` (see `training.train_ensemble`)."""
    parser.add_argument_group("training techniques").add_argument(
        "--ensemble", type=positive_int, default=1, metavar="K",
        help="train K models (seeds --seed..--seed+K-1, the same split) and save their "
             "average as one model",
    )


def add_data_flags(
    parser: argparse.ArgumentParser,
    datasets: tuple[str, ...] = ("digits",),
    *,
    csv: bool = True,
    images: bool = False,
) -> None:
    """`--dataset` for the bundled data and `--train-size`; with `csv`,
    `--csv PATH --target COLUMN` (`--task`, `--missing`); with `images`,
    `--images FOLDER` (`--test-images`, `--image-size`, `--color-mode`,
    `--memory-cache`, `--cache`)."""
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=datasets, default=datasets[0])
    group.add_argument(
        "--train-size", type=positive_int, default=None, metavar="N",
        help="train on the first N samples of the training split only (the split is kept)",
    )
    if images:
        group.add_argument(
            "--images", type=Path, help="your own images: a folder with one sub-folder per class"
        )
        group.add_argument(
            "--test-images", type=Path, metavar="FOLDER",
            help="your held-out images, the same class sub-folders: the test split (then "
                 "--images splits 90/10 into training and validation; else 80/10/10)")
        group.add_argument("--image-size", type=positive_int, nargs=2, default=[32, 32])
        group.add_argument(
            "--color-mode", choices=("auto", "grayscale", "rgb"), default="auto",
            help="auto: grayscale if every image is, else rgb; other modes are converted")
        group.add_argument(
            "--memory-cache", type=non_negative_int, default=1024, metavar="MB",
            help="keep the decoded training and validation --images in memory up to this "
                 "size (0: decode them every epoch)")
        group.add_argument(
            "--cache", type=Path,
            help="a folder to cache decoded --images in (later epochs and runs read it), "
                 "instead of memory")
    if csv:
        group.add_argument("--csv", type=Path, help="your own table (header row) instead")
        group.add_argument("--target", help="target column of --csv (several: a,b for multi-label)")
        group.add_argument(
            "--task", choices=("classification", "regression", "multilabel"),
            help="override the task inferred from --target",
        )
        group.add_argument(
            "--missing", choices=("fill", "error"), default="fill",
            help="empty cells of --csv: fill (median + indicator; text: own category) or error",
        )


def add_sequence_flags(parser: argparse.ArgumentParser, *, target: bool = True) -> None:
    """`--sequences PATH [--test-sequences PATH]`, your own labelled series
    (`recipes.common.data.sequences`), with `--target`, `--id` and `--time`
    naming a CSV file's columns (`target=False`: `add_data_flags` added
    `--target` already)."""
    group = parser.add_argument_group("your sequences")
    group.add_argument(
        "--sequences", type=Path, metavar="PATH",
        help="your series: .ts (UCR/UEA), wide CSV/TSV (one series per row), long CSV "
             "(one row per step, with --id) or .npz (x, y)",
    )
    group.add_argument("--test-sequences", type=Path, metavar="PATH",
                       help="the official test split of --sequences (default: 15%% of it)")
    if target:
        group.add_argument("--target", metavar="COLUMN", help="label column of a CSV --sequences")
    group.add_argument("--id", metavar="COLUMN",
                       help="series id column: --sequences is a long CSV (a row per step)")
    group.add_argument("--time", metavar="COLUMN",
                       help="long CSV: the column to sort each series' steps by")


def split_seed(args: argparse.Namespace) -> int:
    """The seed of the data split: `--split-seed`, else `--seed`."""
    value = getattr(args, "split_seed", None)
    return args.seed if value is None else value


def refuse_unused(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Iterable[str], *, why: str
) -> None:
    """A `ValueError` naming the flags among `names` (dests) set to other than
    their defaults: flags that do not apply, `why` says to what.

    Example:

    >>> p = parser("Demo.", epochs=1, batch_size=1, learning_rate=1.0)
    >>> _ = p.add_argument("--filters", type=int, default=8)
    >>> refuse_unused(p, p.parse_args(["--filters", "4"]), ["filters"], why="--model gmlp")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for argument `filters`: --filters does not apply to ...
    """
    unused = [name for name in names if getattr(args, name) != parser.get_default(name)]
    if unused:
        flags = ", ".join(
            f"--{'no-' if getattr(args, name) is False else ''}{name.replace('_', '-')}"
            for name in unused)
        received = ", ".join(f"{name}={getattr(args, name)!r}" for name in unused)
        verb = "does" if len(unused) == 1 else "do"
        raise ValueError(
            f"Invalid value for argument `{unused[0]}`: {flags} {verb} not apply to {why}. "
            f"Received: {received}"
        )


def _program() -> str:
    """`recipes.cnn` for `python -m recipes.cnn`; `my_cnn.py` for a copied script."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.removesuffix(".__main__")
    return Path(sys.argv[0]).name


def run(main: Callable[[list[str] | None], dict]) -> None:
    """Runs a recipe's `main` from the command line.

    A `ValueError` (a mistake in the flags or the data) prints one line on
    stderr and exits with status 2, as argparse does; no traceback. Ctrl-C
    prints one line and exits with status 130. Across processes, losing
    another process of the run prints one line and exits with status 1.
    """
    from recipes.common import cluster

    try:
        main(None)
    except ValueError as error:
        print(f"{_program()}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as error:
        if not cluster.lost_process(error):
            raise
        print(f"{_program()}: error: another process of this run stopped ("
              f"{str(error).strip().splitlines()[-1]}). Run the same commands again to resume "
              "from the last backup.", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(130) from None
