"""Who runs a search: one process (`single`), or keras-tuner's chief and workers.

Roles come from `--chief` / `--worker` or keras-tuner's `KERASTUNER_*`
environment variables. The chief serves the oracle over gRPC; a worker
checks it can reach the chief and that both search the same space.

keras-tuner has no public API for its chief's gRPC service, the client's
time-out, or the chief check: this module is the one place that imports
them from `keras_tuner.src` (tests/recipes/test_tune.py pins what it uses).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import keras_tuner

ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@dataclasses.dataclass(frozen=True)
class Role:
    """`kind` is `"single"`, `"chief"` or `"worker"`; `tuner_id` as keras-tuner sees it."""

    kind: str
    host: str | None = None
    port: int | None = None
    tuner_id: str = "tuner0"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{self.port}"


def resolve_role(args) -> Role:
    """From `--chief` / `--worker --worker-id`, else from `KERASTUNER_*` variables."""
    if args.chief is not None:
        return Role("chief", *args.chief, tuner_id="chief")
    if args.worker is not None:
        return Role("worker", *args.worker, tuner_id=f"worker{args.worker_id}")
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return Role("single")
    missing = [name for name in ENVIRONMENT if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"KERASTUNER_ORACLE_IP is set but {', '.join(missing)} is not: "
            "set all three variables, or use --chief HOST:PORT / --worker HOST:PORT."
        )
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            "Invalid value for variable `KERASTUNER_ORACLE_PORT`: expected a port "
            f"number. Received: KERASTUNER_ORACLE_PORT={port!r}"
        )
    tuner_id = os.environ["KERASTUNER_TUNER_ID"]
    kind = "chief" if "chief" in tuner_id else "worker"
    role = Role(kind, os.environ["KERASTUNER_ORACLE_IP"], int(port), tuner_id)
    if kind == "worker" and (args.overwrite or args.retrain_best):
        raise ValueError(
            "--overwrite and --retrain-best are for the chief: a worker only runs trials."
        )
    return role


def is_chief_oracle() -> bool:
    """Whether this process is keras-tuner's chief (it serves the oracle): its
    `KERASTUNER_*` variables (`role_environment`) name a chief."""
    from keras_tuner.src.distribute import utils

    return utils.is_chief_oracle()


@contextlib.contextmanager
def role_environment(role: Role, *, chief_timeout: float) -> Iterator[None]:
    """Sets keras-tuner's variables for the role (and its RPC timeout), then restores them."""
    from keras_tuner.src.distribute import oracle_client

    saved = {name: os.environ.get(name) for name in ENVIRONMENT}
    saved_timeout = oracle_client.TIMEOUT
    if role.kind != "single":
        os.environ["KERASTUNER_TUNER_ID"] = role.tuner_id
        os.environ["KERASTUNER_ORACLE_IP"] = str(role.host)
        os.environ["KERASTUNER_ORACLE_PORT"] = str(role.port)
        # keras-tuner waits an hour for each call to a silent chief; wait this long.
        oracle_client.TIMEOUT = chief_timeout
    try:
        yield
    finally:
        oracle_client.TIMEOUT = saved_timeout
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_port_free(role: Role) -> None:
    """The chief's address can be listened on (checked before anything is written)."""
    family = socket.AF_INET6 if ":" in str(role.host) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((role.host, role.port))
        except OSError as error:
            raise ValueError(
                f"Invalid value for argument `chief`: cannot listen on "
                f"{role.address} ({error.strerror}). Received: chief={role.address!r}"
            ) from None


def same_space(first: list[dict] | Any, second: list[dict] | Any) -> bool:
    """Whether two search spaces declare the same hyperparameters.

    Order and defaults are ignored: keras-tuner's gRPC messages group the
    hyperparameters by type and fill in missing defaults.
    """

    def declarations(space):
        if isinstance(space, keras_tuner.HyperParameters):
            space = space.get_config()["space"]
        return sorted(
            json.dumps(
                {
                    "class_name": item["class_name"],
                    "config": {k: v for k, v in item["config"].items() if k != "default"},
                },
                sort_keys=True,
                default=str,
            )
            for item in space
        )

    return declarations(first) == declarations(second)


def check_chief(role: Role, space: list[dict], *, timeout: float) -> None:
    """Waits up to `timeout` s for the chief; its search space must be this worker's."""
    import grpc
    from keras_tuner.src import protos

    # gRPC's reconnect backoff grows to 120 s by default: a worker that waited
    # long would join minutes after the chief starts, when other workers may
    # have run every trial. Retry at least once a second instead.
    channel = grpc.insecure_channel(role.address, options=[
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ])
    try:
        response = protos.get_service_grpc().OracleStub(channel).GetSpace(
            protos.get_service().GetSpaceRequest(), wait_for_ready=True, timeout=timeout
        )
    except grpc.RpcError as error:
        raise ValueError(
            f"Could not reach the chief at {role.address} within {timeout:g} s "
            f"({error.code().name}). Start `python -m recipes.tune ... --chief "
            f"{role.address}` first (or raise --chief-timeout), and check the "
            "address and that the port is open."
        ) from None
    finally:
        channel.close()
    chief_space = keras_tuner.HyperParameters.from_proto(response.hyperparameters)
    if not same_space(chief_space, space):
        raise ValueError(
            f"The chief at {role.address} searches a different space than this "
            "worker: start every worker with the chief's --model and model flags."
        )


def serve(oracle, role: Role, *, on_progress, poll_seconds: float = 0.5) -> None:
    """keras-tuner's chief server, polling every `poll_seconds` (not 20 s).

    Returns when every worker has been told to stop and no trial runs.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    # No SO_REUSEPORT: a second chief on the same port must fail, not share it.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)]
    )
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(role.address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ValueError(f"Invalid value for argument `chief`: cannot listen on {role.address}.")
    server.start()
    print(f"Chief serving the search at {role.address}; start workers with "
          f"--worker {role.address} --worker-id N")
    finished = -1
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll_seconds)
            if len(oracle.end_order) != finished:
                finished = len(oracle.end_order)
                on_progress()
    finally:
        server.stop(grace=2)
