"""Training across processes: the cluster a run belongs to, joining it, who writes.

A `--distribute` run is one process of several when its environment names a
cluster, the way each backend's own engine reads it:

- JAX: Keras' variables (those `keras.distribution.initialize` reads):
  `KERAS_DISTRIBUTION_JOB_ADDRESSES` (every process's `host:port`, comma-
  separated; the first is the coordinator), `KERAS_DISTRIBUTION_PROCESS_ID`
  and, optionally, `KERAS_DISTRIBUTION_NUM_PROCESSES`.
- TensorFlow: `TF_CONFIG` (`{"cluster": {"worker": [...]}, "task": {"type":
  "worker", "index": i}}`), what `tf.distribute.MultiWorkerMirroredStrategy`
  reads.

`from_environment` checks the variables and says what is wrong in one line
(a `ValueError`, exit status 2) before anything waits on the network;
`join` starts JAX's distributed runtime, giving up after a timeout instead of
waiting for ever. Process 0 is the chief: it alone writes the run folder.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

JAX_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID")
# How long a process waits for the others (and JAX for a lost one) by default.
TIMEOUT_SECONDS = 60

_joined: dict[str, Cluster] = {}
_strategy: dict[str, Any] = {}  # TensorFlow's multi-worker strategy, while it trains


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The processes of one data-parallel run.

    Attributes:
        addresses: every process's `host:port`, in process order.
        index: this process's place among them (0: the chief).
        variable: the environment variable that named the cluster.
    """

    addresses: tuple[str, ...]
    index: int
    variable: str

    @property
    def count(self) -> int:
        """How many processes train together."""
        return len(self.addresses)

    @property
    def chief(self) -> bool:
        """Whether this process is the chief (process 0), the one that writes."""
        return self.index == 0


def _invalid(variable: str, value, expected: str) -> ValueError:
    return ValueError(f"Invalid value for environment variable `{variable}`: {expected}. "
                      f"Received: {variable}={value!r}")


def _address(variable: str, address: str) -> str:
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        raise _invalid(variable, address, "expected host:port addresses")
    return f"{host}:{port}"


def _index(variable: str, value, count: int) -> int:
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise _invalid(variable, value, "expected a whole number") from None
    if not 0 <= index < count:
        raise _invalid(variable, value, f"expected a process index from 0 to {count - 1} "
                                        f"({count} processes)")
    return index


def _jax_cluster(environ: Mapping[str, str]) -> Cluster | None:
    addresses_text, count_text, index_text = (environ.get(name) for name in JAX_VARIABLES)
    if not addresses_text:
        named = [name for name in JAX_VARIABLES[1:] if environ.get(name)]
        if named:
            raise ValueError(f"`{named[0]}` is set but `KERAS_DISTRIBUTION_JOB_ADDRESSES` is "
                             "not: set it to every process's host:port, comma-separated "
                             "(the first is the coordinator).")
        return None
    addresses = tuple(_address(JAX_VARIABLES[0], part) for part in addresses_text.split(","))
    if len(addresses) == 1:  # one process: nothing to join
        return None
    if count_text is not None and count_text.strip() != str(len(addresses)):
        raise _invalid(JAX_VARIABLES[1], count_text,
                       f"expected {len(addresses)}, the number of KERAS_DISTRIBUTION_JOB_"
                       "ADDRESSES")
    if index_text is None:
        raise ValueError("`KERAS_DISTRIBUTION_JOB_ADDRESSES` names several processes but "
                         "`KERAS_DISTRIBUTION_PROCESS_ID` is not set: set it to this "
                         f"process's index, 0 to {len(addresses) - 1}.")
    return Cluster(addresses, _index(JAX_VARIABLES[2], index_text, len(addresses)),
                   JAX_VARIABLES[0])


def _tensorflow_cluster(environ: Mapping[str, str]) -> Cluster | None:
    text = environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
        workers = config.get("cluster", {}).get("worker", [])
        task = config.get("task", {})
    except (ValueError, AttributeError):
        raise _invalid("TF_CONFIG", text, 'expected JSON such as {"cluster": {"worker": '
                                          '[...]}, "task": {"type": "worker", "index": 0}}'
                       ) from None
    if not isinstance(workers, list) or len(workers) < 2:
        return None
    if set(config["cluster"]) != {"worker"} or task.get("type") != "worker":
        raise _invalid("TF_CONFIG", text, 'expected a cluster of "worker" tasks only and '
                                          'a task of type "worker"')
    addresses = tuple(_address("TF_CONFIG", str(worker)) for worker in workers)
    return Cluster(addresses, _index("TF_CONFIG", task.get("index"), len(addresses)),
                   "TF_CONFIG")


def from_environment(backend: str, environ: Mapping[str, str] = os.environ) -> Cluster | None:
    """The cluster `environ` names for `backend`, or `None` for a single process.

    Raises:
        ValueError: a variable is missing, malformed or out of range (naming
            it and its value).

    Example:

    >>> cluster = from_environment("jax", {
    ...     "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
    ...     "KERAS_DISTRIBUTION_PROCESS_ID": "1"})
    >>> cluster.count, cluster.index, cluster.chief
    (2, 1, False)
    """
    if backend == "jax":
        return _jax_cluster(environ)
    return _tensorflow_cluster(environ)


def _wait_for(address: str, what: str, timeout: float) -> None:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ValueError(
                    f"{what} did not answer within {timeout:g} s: start that process "
                    "too (the same command), or correct the address."
                ) from None
            time.sleep(0.5)


def join(cluster: Cluster, backend: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
    """Joins the other processes of `cluster` (once per process).

    On JAX: `jax.distributed.initialize` (what `keras.distribution.initialize`
    calls) with the coordinator at the first address, after checking that it
    answers within `timeout`; the processes' CPU devices then talk through
    JAX's CPU collectives (gloo), so the same run works without accelerators.
    A process that dies stops the others within about `timeout` (JAX's
    heartbeat; its coordination service ends them, exit status 134).
    On TensorFlow nothing happens here: `MultiWorkerMirroredStrategy`
    connects the workers when `runtime.distributed` makes it.

    Raises:
        ValueError: the coordinator did not answer within `timeout`.
    """
    if backend in _joined:
        if _joined[backend] != cluster:
            raise ValueError(f"This process already joined the cluster {_joined[backend]}; "
                             f"it cannot join another. Received: {cluster}")
        return
    if backend == "jax":
        import jax

        if not cluster.chief:
            _wait_for(cluster.addresses[0], f"The coordinator {cluster.addresses[0]} (the first "
                      f"of `{cluster.variable}`)", timeout)
        jax.distributed.initialize(
            coordinator_address=cluster.addresses[0], num_processes=cluster.count,
            process_id=cluster.index, initialization_timeout=int(timeout),
            heartbeat_timeout_seconds=int(timeout))
    _joined[backend] = cluster


def multi_worker_strategy(cluster: Cluster, *, timeout: float = TIMEOUT_SECONDS):
    """TensorFlow's `MultiWorkerMirroredStrategy` for `cluster`, once every
    worker has started it.

    TensorFlow waits for the other workers without a timeout, inside C++
    code that holds the interpreter (no exception, no signal handler can
    run). A process waits at most `timeout` seconds: a line says so first,
    and `faulthandler`'s watchdog thread (which needs no interpreter) ends
    the process, exit status 1, if a worker does not come.

    Keras 3.15's TensorFlow trainer calls the strategy's `reduce` with a
    batch (a tuple) when it first builds the model, and with `axis=0` on
    scalar metrics; the strategy takes one value at a time and a scalar has
    no axis 0, and `fit` fails ("Attempt to convert a value (PerReplica...)",
    "Invalid reduction dimension 0"). The subclass here reduces a structure
    value by value, a scalar over the replicas, which is what Keras means
    (tests/recipes/common/test_cluster.py runs it on two workers).
    """
    import tensorflow as tf

    class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(tensor):
                scalar = all(part.shape.rank == 0
                             for part in self.experimental_local_results(tensor))
                return super(KerasMultiWorkerStrategy, self).reduce(
                    reduce_op, tensor, None if scalar else axis)

            return tf.nest.map_structure(one, value)

    print(f"Waiting up to {timeout:g} s for the {cluster.count} workers of `{cluster.variable}` "
          f"({', '.join(cluster.addresses)}); without them this process stops (exit status 1).",
          flush=True)
    with open(os.devnull, "w") as nowhere:
        faulthandler.dump_traceback_later(timeout, exit=True, file=nowhere)
        try:
            strategy = KerasMultiWorkerStrategy(
                communication_options=tf.distribute.experimental.CommunicationOptions(
                    timeout_seconds=timeout))
        finally:
            faulthandler.cancel_dump_traceback_later()
    _strategy["tensorflow"] = strategy
    return strategy


def same_everywhere(value: int, what: str) -> None:
    """Checks that every process of a JAX cluster holds the same `value`.

    A collective (`jax.experimental.multihost_utils.process_allgather`):
    every process calls it at the same point. Nothing happens in one
    process, or on TensorFlow, whose workers connect later.

    Raises:
        ValueError: the processes disagree (their values in process order).
    """
    if "jax" not in _joined:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    values = np.asarray(multihost_utils.process_allgather(np.int32(value))).ravel().tolist()
    if len(set(values)) > 1:
        raise ValueError(f"The processes disagree on {what}. Received: {values} "
                         "(process 0 first)")


def lost_process(error: BaseException) -> bool:
    """Whether `error` says another process of the run stopped (TensorFlow's
    collectives: unavailable, aborted or timed out). JAX ends the process
    itself when it loses one."""
    if joined() is None or "tensorflow" not in sys.modules:
        return False
    import tensorflow as tf

    return isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError,
                              tf.errors.DeadlineExceededError))


def joined() -> Cluster | None:
    """The cluster this process joined, or `None` (one process)."""
    return next(iter(_joined.values()), None)


def data_shard() -> tuple[int, int, int]:
    """`(process index, process count, device count)` for the data a process feeds.

    Under a JAX `keras.distribution.DataParallel` of several processes, each
    process feeds its own slice of every global batch (the engine assembles
    them: `jax.make_array_from_process_local_data`), and every batch splits
    evenly over all the devices. TensorFlow's multi-worker strategy splits
    the global batches itself, but evenly only: `(0, 1, replicas)` while it
    trains (`multi_worker_strategy` until `release`). Otherwise `(0, 1, 1)`.
    """
    import keras

    if "tensorflow" in _strategy:
        return 0, 1, _strategy["tensorflow"].num_replicas_in_sync
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 0, 1, 1
    import jax

    devices = keras.distribution.distribution().device_mesh.devices.size
    return jax.process_index(), jax.process_count(), int(devices)


def batching(count: int, batch_size: int, *, shuffle: bool, what: str = "samples"
             ) -> tuple[int, int]:
    """`(samples, batch size)` for a split of `count` samples fed to `fit` or
    `evaluate` (`shuffle`: training): under `--distribute` on JAX or across
    TensorFlow workers (`data_shard`), every batch splits evenly over the
    devices. Training takes full batches only (of at most `count` samples),
    so `batch_size` must be a multiple of the devices; evaluation leaves out
    the last `count % devices` samples, saying so.

    >>> batching(270, 512, shuffle=False)
    (270, 270)
    """
    devices = data_shard()[2]
    if shuffle and batch_size % devices:
        raise ValueError(f"Invalid value for argument `batch_size`: expected a multiple of "
                         f"the {devices} devices --distribute trains on. "
                         f"Received: batch_size={batch_size}")
    if not shuffle and count % devices:
        print(f"Evaluating {count - count % devices} of {count} {what}: each batch splits "
              f"evenly over the {devices} devices.")
        count -= count % devices
    size = max(1, min(batch_size, count))
    return count, max(devices, size - size % devices)


def process_slices(dataset):
    """A `tf.data.Dataset` of `(x, y)` batches cut to this process's slice of
    every batch (`data_shard`); `dataset` itself for one process."""
    process, processes, _ = data_shard()
    if processes == 1:
        return dataset
    import tensorflow as tf

    def this_process(x, y):
        part = tf.shape(y)[0] // processes
        return x[process * part:(process + 1) * part], y[process * part:(process + 1) * part]

    return dataset.map(this_process)


def release() -> None:
    """Ends data-parallel feeding across TensorFlow workers (`data_shard`):
    training is over, and each process evaluates a copy of its own."""
    _strategy.pop("tensorflow", None)
