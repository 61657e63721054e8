"""Where a recipe runs: the backend, seeds, devices, precision, distribution.

`setup(args, backend=...)` comes first (the `Run` object calls it), before
anything imports Keras: Keras fixes its backend when it is first imported.
Only public APIs of Keras, JAX and TensorFlow are used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from recipes.common import cluster, console
from recipes.common.flags import BACKENDS

# JAX evicts the least recently used compiled steps beyond this size.
COMPILE_CACHE_BYTES = 1 << 30


def choose_backend(chosen: str | None, preferred: str | None = None, environ=os.environ) -> str:
    """The backend a run uses: `chosen` (`--backend`) if given, else
    `$KERAS_BACKEND`, else `preferred` when it is installed, else TensorFlow.

    Example:

    >>> choose_backend("jax", environ={"KERAS_BACKEND": "tensorflow"})
    'jax'
    >>> choose_backend(None, "tensorflow", environ={})
    'tensorflow'
    """
    if chosen:
        return chosen
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    if preferred and importlib.util.find_spec(preferred) is not None:
        return preferred
    return "tensorflow"


def setup(args: argparse.Namespace, *, backend: str | None = None) -> str:
    """Selects the backend, quiets TensorFlow, seeds everything; returns the backend.

    Args:
        args: the parsed flags (`--backend`, `--seed`, `--cpu-devices`,
            `--mixed-precision`, `--compile-cache`); not modified.
        backend: the recipe's preferred backend when neither `--backend`
            nor `$KERAS_BACKEND` names one.

    Raises:
        ValueError: Keras is already imported in this process (a notebook)
            with another backend than the one asked for; `--distribute` or
            `--cpu-devices` on torch.
    """
    name = choose_backend(args.backend, backend)
    if name not in BACKENDS:
        raise ValueError(f"Invalid value for argument `backend`: expected one of {BACKENDS}. "
                         f"Received: backend={name!r}")
    if name == "torch":
        refused = [flag for flag, value in (("--distribute", getattr(args, "distribute", False)),
                                            ("--cpu-devices", getattr(args, "cpu_devices", None)))
                   if value]
        if refused:
            raise ValueError(
                f"Invalid value for argument `backend`: {' and '.join(refused)} run on JAX "
                "(keras.distribution) or TensorFlow (tf.distribute); on torch the recipes train "
                "on one device. Received: backend='torch'")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ValueError(
                f"Invalid value for argument `backend`: Keras is already imported with the "
                f"{keras.backend.backend()!r} backend in this process (restart the notebook's "
                f"kernel, or pass --backend {keras.backend.backend()}). Received: backend={name!r}"
            )
    # TensorFlow's C++ log lines: shown with --verbose or the user's own
    # $TF_CPP_MIN_LOG_LEVEL, else left out (see `console`).
    quiet = not console.wants_native_logs(getattr(args, "verbose", False))
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["KERAS_BACKEND"] = name
    cpu_devices = getattr(args, "cpu_devices", None)
    if cpu_devices and name == "jax" and "jax" not in sys.modules:  # read when JAX starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={cpu_devices}")
    processes = cluster.from_environment(name)
    if processes and not getattr(args, "distribute", False):
        raise ValueError(f"`{processes.variable}` names {processes.count} processes: add "
                         "--distribute to train one model across them (or unset it).")
    # Keras' set_random_seed seeds TensorFlow too, loading it on either backend.
    with console.native_logs_dropped(quiet):
        if processes:  # before JAX starts its runtime
            timeout = getattr(args, "cluster_timeout", cluster.TIMEOUT_SECONDS)
            cluster.join(processes, name, timeout=timeout)
        import keras

        keras.utils.set_random_seed(args.seed)
        if name == "jax":
            compilation_cache(getattr(args, "compile_cache", None))
        elif name == "tensorflow":
            _tensorflow_devices(cpu_devices)
    if quiet:  # and TensorFlow's Python warnings (e.g. tune's retracing notices)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    # The recipes' batches shuffle themselves (seeded, `data.batches`): `fit`
    # warns that its own `shuffle=True` (the default) does not apply to them.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored",
                            category=UserWarning)
    if quiet and Path("/proc/driver/nvidia/version").exists() and not gpu_visible():
        print(f"Note: this machine has an NVIDIA driver, but {name} sees no GPU; training "
              "runs on the CPU (README, \"Set-up\", says which packages use the GPU; "
              "--verbose shows the backend's own messages).")
    if getattr(args, "mixed_precision", None):
        mixed_precision(args.mixed_precision)
    return name


def _tensorflow_devices(cpu_devices: int | None) -> None:
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


def _cpu_has_bfloat16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_visible() -> bool:
    """Whether the backend sees a GPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def mixed_precision(policy: str) -> str:
    """Sets Keras' global dtype policy for `--mixed-precision`; returns its name.

    Layers then compute in 16 bits and keep float32 weights; the zoo's
    output layers stay float32, as Keras' guide asks. `auto` picks
    `mixed_float16` when a GPU is visible, else `mixed_bfloat16` if the CPU
    has bfloat16 instructions; on a CPU without them 16-bit compute is
    emulated and slower than float32, so `auto` is refused there (name a
    policy to use it anyway).
    """
    import keras

    if policy == "auto":
        if gpu_visible():
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


def keras_home() -> Path:
    """Keras' folder for the user's files: `$KERAS_HOME`, else `~/.keras`
    (`/tmp/.keras` where the home folder is read-only), the rule Keras uses."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def compilation_cache(choice: str | None = None) -> Path | None:
    """Turns on JAX's persistent compilation cache, one per user.

    XLA compiles each step function when a run starts; JAX can keep the
    compiled code on disk, keyed by the computation, the devices and the JAX
    version, so a later run of the same model (a rerun, a resume, a tuning
    trial, `recipes.predict`) loads it instead. The folder: `choice`
    (`--compile-cache`) if given, else `$JAX_COMPILATION_CACHE_DIR`, else
    `jax_cache` in `keras_home()`; `"none"` turns it off. Every compilation
    is kept; the least recently used are evicted past `COMPILE_CACHE_BYTES`.
    Returns the folder, or `None` when off.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache as jax_cache

    if choice is not None and choice.lower() == "none":
        return None
    folder = Path(choice or os.environ.get("JAX_COMPILATION_CACHE_DIR")
                  or keras_home() / "jax_cache")
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", COMPILE_CACHE_BYTES)
    # JAX fixes the folder at its first compilation: a second run in the same
    # process (a notebook, --ensemble's members) would keep the first one's.
    jax_cache.reset_cache()
    return folder


# One tf.distribute strategy per process: a second MirroredStrategy in the
# same process (a second run in a notebook or a test) reuses the collective
# ops' instance keys of the first and fails ("Shape mismatch in the
# collective instance").
_TF_STRATEGY: dict[str, Any] = {}


def distributed(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The context to build and compile the model in: `--distribute` or not.

    With `--distribute`, training is data-parallel on every device, through
    the backend's own engine: on JAX, `keras.distribution.DataParallel` over
    `keras.distribution.list_devices()`, set for the process (every device
    of every process when the run is one of several: `recipes.common.
    cluster`); on TensorFlow, the scope of a `tf.distribute.MirroredStrategy`
    (a `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several
    workers). Each batch of `--batch-size` is split across the devices.
    Without `--distribute`: a context that does nothing.
    """
    if not getattr(args, "distribute", False):
        return contextlib.nullcontext()
    import keras

    processes = cluster.joined()
    if keras.backend.backend() == "jax":
        if keras.distribution.distribution() is None:
            devices = keras.distribution.list_devices()
            # Across processes each one feeds its own slice of every batch
            # (`cluster.data_shard`), so Keras must not shard it again.
            keras.distribution.set_distribution(keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=processes is None))
            where = (f"{processes.count} processes x {len(devices) // processes.count} "
                     "device(s)" if processes else f"{len(devices)} devices")
            print(f"Data-parallel on {where}: {', '.join(map(str, devices))}")
        return contextlib.nullcontext()
    if "strategy" not in _TF_STRATEGY:
        import tensorflow as tf

        if processes:
            _TF_STRATEGY["strategy"] = cluster.multi_worker_strategy(
                processes, timeout=getattr(args, "cluster_timeout", cluster.TIMEOUT_SECONDS))
        else:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                d.name for d in tf.config.list_logical_devices("CPU")]
            _TF_STRATEGY["strategy"] = tf.distribute.MirroredStrategy(devices)
        strategy = _TF_STRATEGY["strategy"]
        if processes:
            print(f"Data-parallel on {processes.count} processes x "
                  f"{strategy.num_replicas_in_sync // processes.count} device(s) (process "
                  f"{processes.index}: {', '.join(strategy.extended.worker_devices)})")
        else:
            print(f"Data-parallel on {strategy.num_replicas_in_sync} devices: "
                  f"{', '.join(strategy.extended.worker_devices)}")
    return _TF_STRATEGY["strategy"].scope()


def local_model(model):
    """`model`, or after `--distribute` training (on JAX, or across TensorFlow
    workers) a copy of it that lives on this process alone.

    A model trained under a `keras.distribution` holds arrays spread over
    every device of every process, and one trained by several TensorFlow
    workers runs each step with all of them: every batch must split evenly
    over the devices, and on JAX `predict`'s outputs are not this process's
    to read. The copy (saved and loaded back through
    `keras.models.load_model`: compiled, with its optimizer state) lives on
    this process's default device, and takes batches of any size; the
    distribution is turned off. Elsewhere: `model` itself.
    """
    import keras

    jax_distributed = (keras.backend.backend() == "jax"
                       and keras.distribution.distribution() is not None)
    if not jax_distributed and cluster.data_shard()[2] == 1:
        return model
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        model.save(path)
        if jax_distributed:
            keras.distribution.set_distribution(None)
        cluster.release()
        return keras.models.load_model(path)


def steps_per_execution(args: argparse.Namespace) -> int:
    """`--steps-per-execution`, or 1 on the torch backend (which runs one
    step per call and refuses more) and under `tf.distribute` (`--distribute`
    on TensorFlow), where Keras' multi-step loop fails (TF 2.21: "You must
    feed a value for placeholder tensor")."""
    import keras

    if keras.backend.backend() == "torch":  # Keras' torch trainer runs one step per call
        return 1
    if getattr(args, "distribute", False) and keras.backend.backend() == "tensorflow":
        return 1
    return args.steps_per_execution
