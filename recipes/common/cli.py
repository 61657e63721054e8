"""Command-line plumbing shared by every recipe: flags, set-up, artifacts.

Nothing here imports TensorFlow or Keras at module level, so `--help` and
`python -m recipes` answer at once; `setup()` picks the backend and imports.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

BACKENDS = ("tensorflow", "jax")


def default_backend(environ=os.environ, preferred: str | None = None) -> str:
    """`$KERAS_BACKEND` if set, else the recipe's `preferred` backend when it is
    installed, else TensorFlow (Keras' own default).

    The mlp, cnn, rnn and gmlp recipes prefer JAX: their whole command is
    faster on it (benchmarks/results/whole_command.md). JAX is not
    every recipe's default because it is not faster for every one (README,
    "Backends").
    """
    import importlib.util

    chosen = environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    if preferred and importlib.util.find_spec(preferred) is not None:
        return preferred
    return "tensorflow"


class _RecipeDefault(str):
    """A `--backend` value the recipe picked: neither the user (`--backend`)
    nor `$KERAS_BACKEND` chose it (see `backend_chosen`)."""


def backend_chosen(args: argparse.Namespace) -> bool:
    """Whether `--backend` or `$KERAS_BACKEND` chose `args.backend`.

    A recipe whose best backend depends on its flags (the cnn: JAX, but
    TensorFlow for augmentation) changes only a backend nobody chose.
    """
    return not isinstance(args.backend, _RecipeDefault)


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


def parser(
    doc: str,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    steps_per_execution: int | None = 8,
    backend: str | None = None,
) -> argparse.ArgumentParser:
    """An `ArgumentParser` with the flags every recipe shares.

    The recipe's module docstring gives the description; its first line is
    the summary that `python -m recipes` lists. `backend`: the recipe's
    preferred backend when `$KERAS_BACKEND` is unset (see `default_backend`).
    """
    summary, _, rest = doc.strip().partition("\n")
    result = argparse.ArgumentParser(
        description=summary,
        epilog=rest.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = result.add_argument_group("training")
    group.add_argument("--epochs", type=positive_int, default=epochs)
    group.add_argument("--batch-size", type=positive_int, default=batch_size)
    group.add_argument("--learning-rate", type=positive_float, default=learning_rate)
    group.add_argument(
        "--steps-per-execution",
        type=positive_int,
        default=steps_per_execution,
        help="training steps run per call into the compiled graph (fewer Python round trips)"
             + ("" if steps_per_execution else "; default: the recipe picks"),
    )
    group.add_argument(
        "--seed", type=int, default=0, help="seeds data split, weights and shuffling"
    )
    group.add_argument(
        "--split-seed", type=int, default=None,
        help="seeds the train/validation/test split only (default: --seed)",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default_backend(preferred=backend) if os.environ.get("KERAS_BACKEND")
        else _RecipeDefault(default_backend(preferred=backend)),
        help="Keras backend (default: $KERAS_BACKEND, else "
             f"{backend + ' when installed, else ' if backend else ''}tensorflow)",
    )
    output = result.add_argument_group("output")
    output.add_argument("--output-dir", type=Path, default=Path("runs"))
    output.add_argument(
        "--smoke", action="store_true", help="a few hundred samples, 1-2 epochs: a quick check"
    )
    output.add_argument("--quiet", action="store_true", help="no progress bars")
    output.add_argument(
        "--restart", action="store_true",
        help="start over instead of resuming an interrupted run in the same folder",
    )
    output.add_argument(
        "--compile-cache", default=None, metavar="DIR",
        help="JAX: keep compiled steps in DIR, so that a later run of the same model "
             "skips XLA compilation (default: $JAX_COMPILATION_CACHE_DIR, else "
             "$KERAS_HOME/jax_cache, ~/.keras/jax_cache; 'none': off)",
    )
    return result


SCHEDULES = ("constant", "cosine", "one_cycle", "sgdr", "plateau")
MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16")


def ema_momentum(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a momentum in (0, 1), got {text}")
    return value


def learning_rate_or_auto(text: str) -> float | str:
    """`--learning-rate`: a positive number, or `auto` (the range test picks it)."""
    return "auto" if text == "auto" else positive_float(text)


def add_training_flags(
    parser: argparse.ArgumentParser, *, schedule: str = "constant", auto_learning_rate=True
) -> None:
    """Adds `--schedule` (default `schedule`), `--ema [MOMENTUM]`, `--l1` and
    `--l2` (`penalties`), and with
    `auto_learning_rate` lets `--learning-rate` be `auto`, with
    `--suggestion` (see `optimizer`, `schedule_callbacks`, `find_learning_rate`)."""
    group = parser.add_argument_group("training techniques")
    if auto_learning_rate:
        for action in parser._actions:  # argparse keeps no public handle on an option
            if action.dest == "learning_rate":
                action.type = learning_rate_or_auto
                action.help = "or auto: the LRFinder range test's --suggestion, then train"
        group.add_argument(
            "--suggestion", choices=("valley", "steep", "minimum", "slide"), default="valley",
            help="which LRFinder suggestion --learning-rate auto takes (fastai's: valley)",
        )
    group.add_argument(
        "--schedule", choices=SCHEDULES, default=schedule,
        help="learning-rate schedule: constant; cosine (one cosine over all epochs); "
             "one_cycle (Smith's, peak --learning-rate); sgdr (warm restarts, 10-epoch "
             f"first cycle, doubling); plateau (halve on a val_loss plateau) (default {schedule})",
    )
    group.add_argument(
        "--distribute", action="store_true",
        help="data-parallel on every local device (JAX: keras.distribution.DataParallel; "
             "TensorFlow: tf.distribute.MirroredStrategy); --batch-size is the global batch",
    )
    group.add_argument(
        "--cpu-devices", type=positive_int, default=None, metavar="N",
        help="split the CPU into N devices (to try --distribute without accelerators)",
    )
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


def penalties(args: argparse.Namespace) -> dict[str, float]:
    """`zoo.build`'s `l1` and `l2` from `--l1` and `--l2` (kernel_regularizer)."""
    return {"l1": getattr(args, "l1", 0.0), "l2": getattr(args, "l2", 0.0)}


def optimizer(args: argparse.Namespace, optimizer_class=None, **options):
    """`optimizer_class(--learning-rate, **options)` (default Adam), with
    `--ema` as Keras' own `use_ema=True, ema_momentum=...`."""
    import keras

    optimizer_class = optimizer_class or keras.optimizers.Adam
    if args.learning_rate == "auto":
        raise ValueError("Invalid value for argument `learning_rate`: expected a number; "
                         "for 'auto' call cli.find_learning_rate(...) before cli.optimizer. "
                         "Received: learning_rate='auto'")
    ema = getattr(args, "ema", None)
    if ema is not None:
        options.update(use_ema=True, ema_momentum=ema)
    return optimizer_class(args.learning_rate, **options)


def find_learning_rate(
    args: argparse.Namespace, model, data, out: Path, *, loss, optimizer_class=None, **options
) -> float:
    """`--learning-rate auto`: fastai's "lr_find, then train".

    Runs `callbacks.LRFinder` (Smith's range test, 100 steps from 1e-7 to
    10) on `model` with `optimizer_class(**options)` and `loss`, on the
    training split; the finder leaves the weights as they were. Sets
    `args.learning_rate` to its `--suggestion`, prints it and records it in
    `run.json` (`learning_rate_found`), where a resumed run finds it again.
    Any other `--learning-rate` is returned as it is. Compile the model
    (again) afterwards.
    """
    if args.learning_rate != "auto":
        return args.learning_rate
    import keras

    import callbacks
    from recipes.common import datasets

    info = run_info(out)
    if backup_epoch(out) is not None and info.get("learning_rate_found"):
        args.learning_rate = float(info["learning_rate_found"])
        print(f"Learning rate found by the interrupted run: {args.learning_rate:.2e}")
        return args.learning_rate
    optimizer_class = optimizer_class or keras.optimizers.Adam
    model.compile(optimizer=optimizer_class(1e-3, **options), loss=loss, steps_per_execution=1)
    inputs = datasets.fit_inputs(data, batch_size=args.batch_size, seed=args.seed,
                                 full_batches=False)  # the finder takes arrays or tf.data
    finder = callbacks.LRFinder()
    finder.find(model, inputs["x"], inputs.get("y"), batch_size=inputs.get("batch_size"),
                shuffle="y" in inputs, seed=args.seed)  # a tf.data pipeline shuffles itself
    args.learning_rate = finder.suggestion(args.suggestion)
    print(f"Learning rate from the range test ({args.suggestion}): {args.learning_rate:.2e}")
    update_run_info(out, learning_rate_found=args.learning_rate,
                    learning_rate_suggestion=args.suggestion)
    return args.learning_rate


def schedule_callbacks(args: argparse.Namespace, *, patience: int = 10) -> list:
    """The callbacks of `--schedule` and `--ema`, to go before the others.

    `cosine` is `callbacks.SGDR` with one cycle over all epochs, `one_cycle`
    is `callbacks.OneCycle(--learning-rate)`, `sgdr` is `callbacks.SGDR`
    (cycles of 10, 20, 40... epochs), `plateau` is Keras'
    `ReduceLROnPlateau` (halve after `patience // 3` epochs without a
    better val_loss). `--ema` adds Keras' `SwapEMAWeights(swap_on_epoch=True)`:
    validation and the callbacks after it see the averaged weights, so
    early stopping restores the best epoch's averages, which are saved (put
    it before `EarlyStopping`; a resumed run's backup holds the averages in
    the model's place, so resuming an `--ema` run swaps the two once).
    """
    import keras

    import callbacks

    chosen = []
    name = getattr(args, "schedule", "constant")
    if name == "cosine":
        chosen.append(callbacks.SGDR(args.learning_rate, cycle_epochs=args.epochs, cycle_mult=1))
    elif name == "one_cycle":
        chosen.append(callbacks.OneCycle(args.learning_rate))
    elif name == "sgdr":
        chosen.append(callbacks.SGDR(args.learning_rate, cycle_epochs=min(10, args.epochs)))
    elif name == "plateau":
        chosen.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, patience // 3)))
    if getattr(args, "ema", None) is not None:
        # swap_on_epoch: the averages are in the model at every epoch's end,
        # so the callbacks after this one (early stopping's best weights,
        # restored at the end) see and keep them, not the raw weights.
        chosen.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    return chosen


def add_data_flags(
    result: argparse.ArgumentParser,
    datasets: tuple[str, ...] = ("digits",),
    *,
    csv: bool = True,
    images: bool = False,
) -> None:
    """`--dataset` for the bundled data; `--csv PATH --target COLUMN` or
    `--images FOLDER` for yours."""
    group = result.add_argument_group("data")
    group.add_argument("--dataset", choices=datasets, default=datasets[0])
    group.add_argument(
        "--train-size", type=positive_int, default=None, metavar="N",
        help="train on the first N samples of the training split only (the split is kept)",
    )
    if images:
        group.add_argument(
            "--images", type=Path, help="your own images: a folder with one sub-folder per class"
        )
        group.add_argument("--image-size", type=positive_int, nargs=2, default=[32, 32])
        group.add_argument("--color-mode", choices=("grayscale", "rgb"), default="rgb",
                           help="images of other modes are converted")
        group.add_argument("--cache", type=Path,
                           help="a folder to cache decoded --images in (later epochs read it)")
    if csv:
        group.add_argument("--csv", type=Path, help="your own table (header row) instead")
        group.add_argument("--target", help="target column of --csv (several: a,b for multi-label)")
        group.add_argument(
            "--task",
            choices=("classification", "regression", "multilabel"),
            help="override the task inferred from --target",
        )
        group.add_argument(
            "--missing",
            choices=("fill", "error"),
            default="fill",
            help="empty cells of --csv: fill (median + indicator; text: own category) or error",
        )


def setup(args: argparse.Namespace) -> None:
    """Selects the backend, quiets TensorFlow, seeds everything.

    Call before importing Keras: the backend is fixed by the first import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != args.backend:
            raise ValueError(
                f"Invalid value for argument `backend`: Keras is already imported "
                f"with the {keras.backend.backend()!r} backend in this process. "
                f"Received: backend={args.backend!r}"
            )
    os.environ["KERAS_BACKEND"] = args.backend
    cpu_devices = getattr(args, "cpu_devices", None)
    if cpu_devices and args.backend == "jax":  # read when JAX starts, so set before
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={cpu_devices}")
    keras = import_keras()

    from recipes.common import artifacts

    with artifacts.tensorflow_left_alone():  # under JAX: seeds no TensorFlow
        keras.utils.set_random_seed(args.seed)
    if args.backend == "jax":
        compilation_cache(args)
    if getattr(args, "mixed_precision", None):
        args.mixed_precision = mixed_precision(args.mixed_precision)
    if args.backend == "tensorflow":
        import tensorflow as tf

        if cpu_devices:  # before TensorFlow's runtime starts
            cpu = tf.config.list_physical_devices("CPU")[0]
            if len(tf.config.get_logical_device_configuration(cpu) or [None]) != cpu_devices:
                try:
                    tf.config.set_logical_device_configuration(
                        cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
                except RuntimeError:  # the runtime started: devices are fixed for life
                    raise ValueError(
                        f"Invalid value for argument `cpu_devices`: TensorFlow already runs "
                        f"on {len(tf.config.list_logical_devices('CPU'))} CPU devices in this "
                        f"process. Received: cpu_devices={cpu_devices}") from None
        # Bit-for-bit repeatable runs on the CPU: same seed, same history.
        tf.config.experimental.enable_op_determinism()
    if args.smoke:
        args.epochs = min(args.epochs, 2)


# Keras' submodules that import a heavy package the recipes do not need when
# Keras starts: keras.wrappers imports scikit-learn (and SciPy),
# keras.visualization imports matplotlib.pyplot.
KERAS_LAZY_SUBMODULES = (
    "keras.wrappers", "keras.src.wrappers", "keras.visualization", "keras.src.visualization",
)


def import_keras() -> ModuleType:
    """`import keras`, with `KERAS_LAZY_SUBMODULES` loaded on first use.

    Keras imports every submodule when it starts, and two of them import
    scikit-learn and matplotlib.pyplot: this import takes about half as
    long as `import keras` on JAX, and a quarter less on TensorFlow
    (benchmarks/results/startup.md). Keras has no switch for that, so this
    imports Keras with those submodules behind the standard library's
    `importlib.util.LazyLoader`: `keras.wrappers.SKLearnClassifier` and
    `keras.visualization` still work, loading on their first attribute
    access. Returns the `keras` module.
    """
    import importlib.abc
    import importlib.machinery
    import importlib.util

    if "keras" in sys.modules:
        return sys.modules["keras"]

    class LazySubmodules(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name not in KERAS_LAZY_SUBMODULES:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None and spec.loader is not None:
                spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec

    finder = LazySubmodules()
    sys.meta_path.insert(0, finder)
    try:
        import keras
    finally:
        sys.meta_path.remove(finder)
    return keras


def _cpu_has_bfloat16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def mixed_precision(policy: str) -> str:
    """Sets Keras' global dtype policy for `--mixed-precision`; returns its name.

    Layers then compute in 16 bits and keep float32 weights; the zoo's
    output layers stay float32 (`dtype="float32"`), as Keras' guide asks.
    `auto` picks `mixed_float16` when a GPU is visible, else
    `mixed_bfloat16` if the CPU has bfloat16 instructions; on a CPU without
    them 16-bit compute is emulated and slower than float32, so `auto` is
    refused there (name a policy to use it anyway). Under `mixed_float16`
    Keras wraps the optimizer in a `LossScaleOptimizer` itself at
    `compile()`; bfloat16 has float32's range and needs no loss scaling.
    """
    import keras

    if policy == "auto":
        if _gpu_visible():
            policy = "mixed_float16"
        elif _cpu_has_bfloat16():
            policy = "mixed_bfloat16"
        else:
            raise ValueError(
                "Invalid value for argument `mixed_precision`: no GPU is visible and this "
                "CPU has no bfloat16 instructions (avx512_bf16, amx_bf16), where 16-bit "
                "compute is slower than float32. Name a policy to use it anyway. "
                "Received: mixed_precision='auto'"
            )
    keras.mixed_precision.set_global_policy(policy)
    print(f"Mixed precision: Keras policy {policy!r}")
    return policy


def _gpu_visible() -> bool:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# JAX evicts the least recently used compiled steps beyond this size.
COMPILE_CACHE_BYTES = 1 << 30


def keras_home() -> Path:
    """Keras' folder for the user's files: `$KERAS_HOME`, else `~/.keras`
    (`/tmp/.keras` where the home folder is read-only), as Keras decides it
    (`keras.src.backend.config`; Keras keeps the accessor private)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def compilation_cache(args: argparse.Namespace) -> Path | None:
    """Turns on JAX's persistent compilation cache, one per user.

    XLA compiles each step function of a run (the train, test and predict
    steps, the weight initialisers) when the run starts: on this project's
    small models that is a third of the whole command or more (see
    benchmarks/RESULTS.md, "Whole command"). JAX can keep the compiled code
    on disk, keyed by the computation, the devices and the JAX version, so a
    later run of the same model (a rerun, a resume, a run into another
    output folder, a tuning trial, `recipes.predict`) loads it instead. The
    folder is the user's, not the run's, so that only the first run of a
    model on a machine compiles: `--compile-cache` if given, else
    `$JAX_COMPILATION_CACHE_DIR`, else `jax_cache` in Keras' home folder
    (`keras_home()`). JAX only caches compilations over 1 s by default;
    here every one is kept, and the least recently used are evicted past
    `COMPILE_CACHE_BYTES` (1 GiB). Returns the folder, or `None` when off
    (`--compile-cache none`).
    """
    import jax

    choice = getattr(args, "compile_cache", None)
    if choice is not None and choice.lower() == "none":
        return None
    if choice is None:
        choice = os.environ.get("JAX_COMPILATION_CACHE_DIR") or keras_home() / "jax_cache"
    from jax.experimental.compilation_cache import compilation_cache as jax_cache

    folder = Path(choice)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", COMPILE_CACHE_BYTES)
    # JAX fixes the folder at its first compilation: a second run in the same
    # process (a notebook, --ensemble's members) would keep the first one's.
    jax_cache.reset_cache()
    return folder


def distributed(args: argparse.Namespace):
    """The context to build and compile the model in: `--distribute` or not.

    With `--distribute`, training is data-parallel on every local device,
    through the engine of the backend: on JAX, `keras.distribution.
    DataParallel` over `keras.distribution.list_devices()` (set for the whole
    process; with `KERAS_DISTRIBUTION_JOB_ADDRESSES` and friends set, after
    `keras.distribution.initialize()` for several hosts); on TensorFlow, the
    scope of a `tf.distribute.MirroredStrategy` (a `MultiWorkerMirroredStrategy`
    when `TF_CONFIG` names several workers). Each batch of `--batch-size` is
    split across the devices. Prints the devices. On TensorFlow it sets
    `--steps-per-execution` to 1 (Keras' multi-step loop fails under the
    strategy). Without `--distribute`: a no-op.

    Use as `with cli.distributed(args): model = ...; model.compile(...)`.
    """
    import contextlib

    if not getattr(args, "distribute", False):
        return contextlib.nullcontext()
    import keras

    if keras.backend.backend() == "jax":
        if keras.distribution.distribution() is None:
            if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"):
                keras.distribution.initialize()
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            print(f"Data-parallel on {len(devices)} devices: {', '.join(map(str, devices))}")
        return contextlib.nullcontext()
    if keras.backend.backend() != "tensorflow":
        raise ValueError("Invalid value for argument `distribute`: expected the jax or "
                         f"tensorflow backend. Received: backend={keras.backend.backend()!r}")
    if not getattr(args, "_distributed", False):
        args._distributed = True
        if "strategy" not in _TF_STRATEGY:
            import json

            import tensorflow as tf

            cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
            if len(cluster.get("worker", [])) > 1:
                _TF_STRATEGY["strategy"] = tf.distribute.MultiWorkerMirroredStrategy()
            else:
                devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                    d.name for d in tf.config.list_logical_devices("CPU")]
                _TF_STRATEGY["strategy"] = tf.distribute.MirroredStrategy(devices)
        strategy = _TF_STRATEGY["strategy"]
        print(f"Data-parallel on {strategy.num_replicas_in_sync} devices: "
              f"{', '.join(strategy.extended.worker_devices)}")
        if args.steps_per_execution > 1:
            # Keras' multi-step loop fails under MirroredStrategy here (TF 2.21:
            # "You must feed a value for placeholder tensor"): one step per call.
            print(f"--steps-per-execution {args.steps_per_execution} -> 1 under "
                  "tf.distribute")
            args.steps_per_execution = 1
    return _TF_STRATEGY["strategy"].scope()


# One tf.distribute strategy per process: a second MirroredStrategy in the
# same process (a second recipe run in a notebook or a test) reuses the
# collective ops' instance keys of the first and fails with "Shape mismatch
# in the collective instance".
_TF_STRATEGY: dict[str, Any] = {}


def check_model(name: str, compatible: tuple[str, ...]) -> str:
    """`name` if this recipe can train it, else a `ValueError` listing what it can."""
    if name not in compatible:
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo model this recipe "
            f"trains for --model, one of: {', '.join(compatible)}. Received: model={name!r}"
        )
    return name


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

    fits = [
        name
        for name in zoo.list_models()
        if task in (None, zoo.get_spec(name).task)
        and input_kind in (None, zoo.get_spec(name).input_kind)
    ]
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


def split_seed(args: argparse.Namespace) -> int:
    """The seed of the data split: `--split-seed`, else `--seed`."""
    value = getattr(args, "split_seed", None)
    return args.seed if value is None else value


def add_ensemble_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--ensemble K` (see `train_ensemble`)."""
    parser.add_argument_group("training techniques").add_argument(
        "--ensemble", type=positive_int, default=1, metavar="K",
        help="train K models (seeds --seed..--seed+K-1, the same split) and save their "
             "average as one model",
    )


def train_ensemble(
    main: Callable[[list[str] | None], dict],
    argv: list[str] | None,
    args: argparse.Namespace,
    recipe: str,
    data,
    *,
    loss,
    metrics: list,
) -> dict[str, Any]:
    """`--ensemble K`: K runs of `main`, then one model averaging them.

    Member `i` is `main(argv)` with `--seed` + i, the split of `--seed`
    (`--split-seed`) and its own run folder, `members/seed_<seed>/`, so each
    member resumes as any run does and a finished one is not trained again
    (unless the flags changed). The members' average
    (`callbacks.build_ensemble`: their outputs averaged) is then saved as
    this run's `model.keras` and evaluated on the test split with `loss` and
    `metrics`; `members.csv` holds each member's test metrics beside it.
    Independent ensembles cost K trainings: compare them at equal compute.
    """
    import json
    import shutil

    import pandas as pd

    import callbacks
    from recipes.common import artifacts, datasets, images, tables

    out = output_dir(args, recipe)
    if changed_flags(args, out) and (out / "members").is_dir():
        shutil.rmtree(out / "members")  # another ensemble's members
    update_run_info(out, recipe=recipe, **run_fields(args))
    argv = list(sys.argv[1:] if argv is None else argv)
    rows, paths = [], []
    for index in range(args.ensemble):
        seed = args.seed + index
        member = out / "members" / f"seed_{seed}"
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
    results = ensemble.evaluate(**datasets.evaluation_inputs(data), return_dict=True, verbose=0)
    table = pd.DataFrame(rows)
    artifacts.write_csv(out / "members.csv", table)
    print(f"Members:\n{table.to_string(index=False, float_format='%.4f')}")
    summary = {f"test_{name}": value for name, value in results.items()}
    summary["ensemble_size"] = args.ensemble
    for column in table.columns.drop(["member", "seed"]):
        summary[f"members_mean_{column}"] = float(table[column].mean())
        summary[f"members_std_{column}"] = float(table[column].std(ddof=0))
    print(f"Ensemble of {args.ensemble}:", format_metrics(summary))
    images.save(out, data)  # class names (and an image folder's size and mode)
    if not isinstance(data, images.ImageFolder):
        tables.save(out, data)  # a --csv table's preprocessing, for recipes.predict
    return save_artifacts(out, model=ensemble, metrics=summary)


def load_data(
    args: argparse.Namespace, *, view: str = "flat", labels: bool = True, stream: bool = False
):
    """The bundled `--dataset`, `--images`, or `--csv` with `--target`; smaller with --smoke.

    Args:
        args: the parsed flags.
        view: how the bundled digits are shaped: `"flat"`, `"image"` or
            `"sequence"` (`datasets.view_for(input_kind)` maps a zoo model's
            input kind to its view).
        labels: `False` for models that need no labels (autoencoders): then
            `--csv` without `--target` makes every column a feature, and with
            `--target` that column is left out of the features.
        stream: `--images` as an `images.ImageFolder` (file lists read in
            batches by `tf.data`, `--cache` honoured) instead of arrays.
    """
    from recipes.common import datasets

    csv = getattr(args, "csv", None)
    images = getattr(args, "images", None)
    if csv is not None and not labels:
        data = datasets.load_table(
            csv, exclude=args.target, seed=split_seed(args),
            missing=getattr(args, "missing", "error"),
        )
    elif images is not None and stream:
        from recipes.common import images as image_folders

        data = image_folders.load_folder(
            images, image_size=args.image_size, color_mode=args.color_mode, seed=split_seed(args),
            cache=args.cache,
        )
        for note in data.notes():
            print(note)
    elif images is not None:
        data = datasets.load_image_folder(
            images, image_size=args.image_size, color_mode=args.color_mode, seed=split_seed(args)
        )
    elif csv is not None:
        if not args.target:
            raise ValueError(
                "Invalid value for argument `target`: expected the target column "
                f"name of --csv {str(csv)!r}. Received: target=None"
            )
        data = datasets.load_csv(
            csv, args.target, task=args.task, seed=split_seed(args),
            missing=getattr(args, "missing", "fill"),
        )
    elif getattr(args, "target", None):
        raise ValueError(
            "Invalid value for argument `target`: it needs --csv. "
            f"Received: target={args.target!r}"
        )
    else:
        data = datasets.load_dataset(args.dataset, view=view, seed=split_seed(args))
    train_size = getattr(args, "train_size", None)
    if train_size is not None:  # a smaller training set; validation and test unchanged
        data = data.subsample(train=train_size, evaluation=len(data.y_val) + len(data.y_test))
    if args.smoke:
        data = data.subsample(train=300, evaluation=100)
    return data


def format_metrics(metrics: dict[str, Any]) -> str:
    """`name=value, ...` for printing: integers (epochs, counts) as integers,
    other numbers with 4 decimals.

    Example:

    >>> format_metrics({"test_accuracy": 0.98765, "epochs_trained": 35})
    'test_accuracy=0.9877, epochs_trained=35'
    """
    import numbers

    def text(value: Any) -> str:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return str(int(value))
        if isinstance(value, numbers.Real):
            return f"{float(value):.4f}"
        return str(value)

    return ", ".join(f"{name}={text(value)}" for name, value in metrics.items())


RUN_FILE = "run.json"
BACKUP_DIR = "backup"
# Flags that do not change what a run computes: a resume may change them.
UNCHECKED_FLAGS = ("quiet", "output_dir", "restart", "backend", "compile_cache")


def run_info(out: Path) -> dict[str, Any]:
    """The run folder's `run.json` (recipe, flags, seed, versions, ...), or `{}`."""
    import json

    path = Path(out) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_run_info(out: Path, **fields: Any) -> dict[str, Any]:
    """Merges `fields` (task, class names, feature schema, ...) into `run.json`, atomically."""
    from recipes.common import artifacts

    info = {**run_info(out), **{key: _plain(value) for key, value in fields.items()}}
    artifacts.write_json(Path(out) / RUN_FILE, info)
    return info


def _versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("keras", "tensorflow", "jax", "numpy", "pandas", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {key: _plain(value) for key, value in sorted(vars(args).items())
            if key not in UNCHECKED_FLAGS and not key.startswith("_")}


def run_fields(args: argparse.Namespace) -> dict[str, Any]:
    """What `run.json` records of a command: its flags, seed, backend and package versions."""
    return {"flags": _flags(args), "seed": args.seed, "backend": args.backend,
            "versions": _versions()}


def backup_epoch(out: Path) -> int | None:
    """The epochs an interrupted run in `out` completed (from its training
    backup), or `None` if no run is unfinished there."""
    import json

    path = Path(out) / BACKUP_DIR / "training_metadata.json"
    if not path.is_file():
        return None
    return int(json.loads(path.read_text())["epoch"])


def changed_flags(args: argparse.Namespace, out: Path) -> list[str]:
    """The flags (names) whose values differ from those `run.json` in `out` records."""
    before, now = run_info(out).get("flags", {}), _flags(args)
    return sorted(key for key in set(before) | set(now) if before.get(key) != now.get(key))


def start_run(args: argparse.Namespace, recipe: str) -> Path:
    """The run folder `<output-dir>/<recipe>/`, ready to train or to resume.

    A run that was interrupted (killed, crashed) leaves its training backup
    there. Run the same command again and it resumes from the last completed
    epoch (`resumable_callbacks` does the restoring); `--restart` discards
    the backup and starts over. Flags that differ from the interrupted run's
    are refused, naming them, since the backup belongs to those flags.
    Writes `run.json`: recipe, flags, seed, backend and package versions.
    """
    import shutil

    out = output_dir(args, recipe)
    done = backup_epoch(out)
    if done is not None and args.restart:
        shutil.rmtree(out / BACKUP_DIR)
        (out / "history.csv").unlink(missing_ok=True)
        print(f"Restarting {recipe}: the interrupted run's backup was discarded.")
    elif done is not None:
        before, now = run_info(out).get("flags", {}), _flags(args)
        changed = changed_flags(args, out)
        if changed:
            differences = ", ".join(
                f"--{key.replace('_', '-')} {before.get(key)!r} -> {now.get(key)!r}"
                for key in changed
            )
            raise ValueError(
                f"{out} holds an interrupted {recipe} run with other flags ({differences}). "
                "Run it again with the same flags to resume it, or add --restart to start over."
            )
        print(f"Resuming {recipe} from epoch {done} of {args.epochs}")
    update_run_info(out, recipe=recipe, **run_fields(args))
    return out


# Backups may cost at most this share of training time (see resumable_callbacks).
BACKUP_OVERHEAD = 0.05


def resumable_callbacks(out: Path, *, initial_epoch: int = 0) -> list:
    """`[HistoryLog(out / "history.csv"), <backup in out / "backup">]`.

    `initial_epoch`: for a `fit` that continues an earlier one of the same
    run (a second training phase, `fit(initial_epoch=...)`): the history
    keeps the earlier epochs' rows.

    Add them to `fit`'s callbacks: the training state (weights, optimizer
    state and step, hence in-graph schedules) is backed up at epoch ends with
    Keras' own `BackupAndRestore` and restored when the same command runs
    again; the backup is deleted once `fit` completes. `history.csv` grows
    by one row per epoch as it ends.

    A backup (`save_weights`) has a fixed cost that is large next to a small
    model's epoch (for the mlp recipe, a large share of the run when taken
    every epoch). So an epoch's end is backed up only once training
    since the last backup has taken 20
    times (1 / `BACKUP_OVERHEAD`) as long as that backup did: for large
    models every epoch, for the smallest every few epochs, a few seconds of
    training at most lost to a crash.
    """
    import keras

    history = _history_log_class()(
        Path(out) / "history.csv", Path(out) / BACKUP_DIR, initial_epoch=initial_epoch
    )
    backup = keras.callbacks.BackupAndRestore(str(Path(out) / BACKUP_DIR))
    return [history, _throttled_class()(backup, BACKUP_OVERHEAD)]


@functools.cache
def _throttled_class():
    import time

    import keras

    class ThrottledBackup(keras.callbacks.Callback):
        """Forwards to a `BackupAndRestore`, skipping epoch-end backups that
        would make backing up cost more than `overhead` of the training time."""

        def __init__(self, backup, overhead: float):
            super().__init__()
            self.backup, self.overhead = backup, overhead

        def set_model(self, model):
            super().set_model(model)
            self.backup.set_model(model)

        def set_params(self, params):
            super().set_params(params)
            self.backup.set_params(params)

        def on_train_begin(self, logs=None):
            self.backup.on_train_begin(logs)
            self._last, self._wait = time.perf_counter(), 0.0

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self._last < self._wait:
                return
            started = time.perf_counter()
            self.backup.on_epoch_end(epoch, logs)
            self._last = time.perf_counter()
            self._wait = (self._last - started) / self.overhead

        def on_train_end(self, logs=None):
            self.backup.on_train_end(logs)

    return ThrottledBackup


@functools.cache
def _history_log_class():
    import keras

    class HistoryLog(keras.callbacks.Callback):
        """Writes `history.csv` as each epoch ends, continuous across resumes.

        Keras' `CSVLogger(append=True)` appends, but cannot drop the rows of
        epochs a resumed run repeats (those after the last backup), nor hand
        `fit`'s `History` the epochs before the resume; this does both. It
        must come before `BackupAndRestore` in the callbacks list, so an epoch
        is logged before it is backed up: a crash between the two repeats
        that epoch on resume, and its row is replaced, never doubled.
        """

        def __init__(self, path: Path, backup_dir: Path, *, initial_epoch: int = 0):
            super().__init__()
            self.path, self.backup_dir = Path(path), Path(backup_dir)
            self.initial_epoch = initial_epoch
            self.rows: list[dict[str, Any]] = []

        def on_train_begin(self, logs=None):
            import pandas as pd

            done = max(backup_epoch(self.backup_dir.parent) or 0, self.initial_epoch)
            self.earlier = []
            if done and self.path.is_file():
                frame = pd.read_csv(self.path)
                self.earlier = frame[frame["epoch"] <= done].to_dict("records")
            self.rows = list(self.earlier)

        def on_epoch_end(self, epoch, logs=None):
            import pandas as pd

            from recipes.common import artifacts

            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
            self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
            artifacts.write_csv(self.path, pd.DataFrame(self.rows))

        def on_train_end(self, logs=None):
            # fit's History holds only the epochs of this call: make it the
            # whole run's, as logged.
            history = getattr(self.model, "history", None)
            if history is None or not self.earlier:
                return
            keys = [key for key in self.rows[-1] if key != "epoch"]
            history.history = {key: [row.get(key) for row in self.rows] for key in keys}
            history.epoch = [row["epoch"] - 1 for row in self.rows]

    return HistoryLog


def __getattr__(name: str):
    # HistoryLog subclasses keras.callbacks.Callback: built on first use, so
    # importing this module does not import Keras.
    if name == "HistoryLog":
        return _history_log_class()
    raise AttributeError(name)


def output_dir(args: argparse.Namespace, recipe: str) -> Path:
    """`<output-dir>/<recipe>/`, created."""
    path = Path(args.output_dir) / recipe
    path.mkdir(parents=True, exist_ok=True)
    return path


def verbose(args: argparse.Namespace) -> int | str:
    return 0 if args.quiet else "auto"


def history_frame(history):
    """A `keras.callbacks.History` (or its dict) as a DataFrame with an epoch column."""
    import pandas as pd

    logs = getattr(history, "history", history)
    frame = pd.DataFrame({key: [float(v) for v in values] for key, values in logs.items()})
    frame.insert(0, "epoch", range(1, len(frame) + 1))
    return frame


def save_artifacts(
    out: Path,
    *,
    model=None,
    history=None,
    metrics: dict[str, Any],
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Writes `model.keras`, `history.csv`, `metrics.json` and PNGs, atomically.

    A TensorFlow `--csv` run also gets `inference.keras`, the model with its
    preprocessing inside (raw columns in; `tables.save_inference_model`).

    The training-curves plot is drawn from the history. PNGs in `out` that
    this run did not draw (an earlier run's, with other flags) are removed,
    so the folder describes one run. Returns `metrics`.
    """
    from recipes.common import artifacts, plots, tables

    figures = dict(figures or {})
    if history is not None:
        frame = history_frame(history)
        artifacts.write_csv(out / "history.csv", frame)
        figures.setdefault("training_curves", plots.training_curves(frame))
    if model is not None:
        artifacts.save_model(model, out / "model.keras")
        tables.save_inference_model(out, model)
    for name, figure in figures.items():
        artifacts.save_figure(figure, out / f"{name}.png")
    for stale in out.glob("*.png"):  # drawn by an earlier run with other flags
        if stale.stem not in figures:
            stale.unlink()
    metrics = {key: _plain(value) for key, value in metrics.items()}
    artifacts.write_json(out / "metrics.json", metrics)
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    print(f"Artifacts in {out}/: {', '.join(written)}")
    return metrics


def _plain(value: Any) -> Any:
    """JSON-friendly: numpy scalars to floats, containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int, type(None))):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _program() -> str:
    """`recipes.cnn` for `python -m recipes.cnn`; `my_cnn.py` for a copied script."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.removesuffix(".__main__")
    return Path(sys.argv[0]).name


def run(main: Callable[[list[str] | None], dict]) -> None:
    """Runs a recipe's `main` from the command line.

    A `ValueError` (a mistake in the flags or the data) prints one line on
    stderr and exits with status 2, as argparse does; no traceback. A run
    that finished leaves through `exit_now()` when the recipe is the program
    itself (`python -m recipes.mlp`, `python my_recipe.py`), not code run
    inside another one (`runpy`, a notebook's `%run`, a profiler).
    """
    try:
        main(None)
    except ValueError as error:
        print(f"{_program()}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(130) from None
    if _is_the_program(main):
        exit_now()


def _is_the_program(main: Callable) -> bool:
    """Whether `main`'s module is what this interpreter was started to run."""
    names = getattr(main, "__globals__", {})
    if names.get("__name__") != "__main__" or sys.flags.interactive:
        return False
    argv = list(getattr(sys, "orig_argv", []))
    spec = names.get("__spec__")
    if "-m" in argv:  # python [options] -m NAME: the first -m is the program
        at = argv.index("-m")
        return spec is not None and argv[at + 1:at + 2] == [spec.name]
    script = names.get("__file__")
    return script is not None and any(
        os.path.abspath(arg) == os.path.abspath(script) for arg in argv[1:])


def exit_now(status: int = 0) -> None:
    """Ends a finished command: flushes stdout and stderr, runs the exit
    handlers (`atexit`: logging, JAX's and TensorFlow's own), then leaves
    with `os._exit`, skipping the interpreter's teardown of every module.

    That teardown frees what the process is about to give back anyway, and
    with JAX or TensorFlow loaded it takes long enough to show in a short
    run's whole command (`benchmarks.whole_command` times the process to
    its end). Call it only when every file is written and closed, as at
    the end of `run()`.
    """
    import atexit

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # what a normal exit runs first; then no teardown
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
