"""Plumbing for `recipes.tune`: data per model kind, roles, resume, results.

- `load_task_data`: the bundled data (or a CSV) shaped for what a zoo model
  eats: digit vectors, 8x8 images, 8-step sequences or pairs.
- `ResumableRandomSearch`: `keras_tuner` random search that resumes exactly,
  writes a per-trial `run.json` (who ran it, how long), clears the Keras
  session between trials, and serves the chief's oracle over gRPC.
- Roles: one process (`single`), or keras-tuner's `chief` and `worker`s,
  configured through the `KERASTUNER_*` environment variables.
- The search fingerprint (refuses to resume a different search), the results
  table read from every trial's `trial.json`, and its plot.

Import after `cli.setup()`: this module imports Keras and keras-tuner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import inspect
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.distribute import utils as distribute_utils
from keras_tuner.src.engine import trial as trial_module

from recipes.common import artifacts, cli, datasets

FINGERPRINT_FILE = "fingerprint.json"
RESULTS_FILE = "results.csv"
PLOT_FILE = "results.png"
RUN_FILE = "run.json"
ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


# ## Models and data


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
    """

    task: str
    train: tuple[Any, np.ndarray]
    validation: tuple[Any, np.ndarray]
    test: tuple[Any, np.ndarray]
    fixed: dict[str, Any]
    description: dict[str, Any]
    unit_range: bool


def load_task_data(args, spec) -> TaskData:
    """The data for `spec`'s input kind and task, smaller with `--smoke`.

    Vectors: `--dataset` or `--csv`; images (8x8x1), sequences (8 steps of 8
    pixels) and pairs (`zoo.siamese.make_pairs`): the bundled digits.
    Reconstruction targets are the inputs.
    """
    name = spec.name
    if spec.input_kind != "vector" and (args.csv is not None or args.dataset != "digits"):
        source = f"csv={str(args.csv)!r}" if args.csv is not None else f"dataset={args.dataset!r}"
        raise ValueError(
            f"Invalid value for argument `dataset`: model {name!r} takes "
            f"{spec.input_kind} inputs; only the bundled digits come in that "
            f"shape (--csv and tables suit vector models such as mlp). Received: {source}"
        )
    data = cli.load_data(args, view=datasets.view_for(spec.input_kind))
    parameters = inspect.signature(spec.builder).parameters
    fixed: dict[str, Any] = {"input_shape": tuple(data.input_shape)}
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
    return TaskData(task, *splits, fixed=fixed, description=description, unit_range=unit_range)


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
        from keras_tuner.src.engine import metrics_tracking

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


# ## Fingerprint: never resume a different search


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def fingerprint(description: dict[str, Any]) -> str:
    text = json.dumps(_plain(description), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_fingerprint(project_dir: Path, description: dict[str, Any]) -> None:
    """Raises `ValueError` if `project_dir` holds a different search.

    A project without a fingerprint but with keras-tuner state was not made
    by this recipe (or by an older version of it): refused too.
    """
    path = project_dir / FINGERPRINT_FILE
    advice = (
        "Re-run with --overwrite to start over, or choose another --project-name."
    )
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("fingerprint") != fingerprint(description):
            before, after = stored.get("search", {}), _plain(description)
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            raise ValueError(
                f"Project {str(project_dir)!r} holds a different search "
                f"(changed: {', '.join(changed) or 'fingerprint'}); it cannot be "
                f"resumed with these flags. {advice}"
            )
    elif (project_dir / "oracle.json").exists():
        raise ValueError(
            f"Project {str(project_dir)!r} holds a keras-tuner search without a "
            f"{FINGERPRINT_FILE}, so it cannot be checked. {advice}"
        )


def write_fingerprint(project_dir: Path, description: dict[str, Any]) -> None:
    artifacts.write_json(
        project_dir / FINGERPRINT_FILE,
        {"fingerprint": fingerprint(description), "search": _plain(description)},
    )


# ## Roles: one process, or a chief and workers


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

    channel = grpc.insecure_channel(role.address)
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


def _serve(oracle, role: Role, *, on_progress, poll_seconds: float = 0.5) -> None:
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


# ## The tuner


class ResumableRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose resume trusts each trial's `trial.json`.

    keras-tuner 1.4.8 re-queues every trial that `oracle.json` lists as
    ongoing. The chief saves `oracle.json` before it drops the trial that
    just ended, so its last trial stays "ongoing" there although its
    `trial.json` says COMPLETED, and a resume would run it again. Here
    finished trials leave the queue, and a trial a crash left RUNNING joins it
    even if `oracle.json` was saved before the trial started.
    """

    def reload(self):
        super().reload()
        queue = [
            trial_id
            for trial_id in self._retry_queue
            if self.trials[trial_id].status not in FINISHED
        ]
        for trial_id, trial in sorted(self.trials.items()):
            if trial.status == trial_module.TrialStatus.RUNNING and trial_id not in queue:
                queue.append(trial_id)
        self._retry_queue = queue

    @property
    def finished(self) -> bool:
        """No trial left to start or to re-run."""
        return (
            self.max_trials is not None
            and len(self.trials) >= self.max_trials
            and not self._retry_queue
            and not self.ongoing_trials
        )


class ResumableRandomSearch(keras_tuner.Tuner):
    """`keras_tuner.RandomSearch` for one process, a chief or a worker.

    Adds, per trial, `trial_<id>/run.json` (tuner id, status, elapsed
    seconds: keras-tuner keeps neither), a cleared Keras session, and an
    up-to-date results table (one process; the chief writes it as trials end).

    Args:
        hypermodel: a `keras_tuner.HyperModel`.
        objective: a `keras_tuner.Objective`.
        max_trials: trials in the whole search, resumed runs included.
        seed: the oracle's seed.
        role: a `Role`.
        **kwargs: `directory`, `project_name`, `executions_per_trial`.
    """

    def __init__(self, hypermodel, *, objective, max_trials, seed, role: Role, **kwargs):
        oracle = ResumableRandomSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed
        )
        # The recipe handles --overwrite itself: a worker must never delete a
        # directory it shares with the chief.
        super().__init__(oracle=oracle, hypermodel=hypermodel, overwrite=False, **kwargs)
        self.role = role
        self.trials_run: list[str] = []
        self._started: dict[str, float] = {}

    def search(self, *fit_args, **fit_kwargs):
        if not distribute_utils.is_chief_oracle():
            return super().search(*fit_args, **fit_kwargs)
        self.oracle.verbose = fit_kwargs.get("verbose", 1)
        self.save()
        if self.oracle.finished:
            print("The search is complete: no trial left to run.")
            return None
        _serve(self.oracle, self.role, on_progress=lambda: write_results(self, plot=False))
        # keras-tuner saved oracle.json before dropping the last ongoing trial.
        self.oracle.save()
        return None

    def on_trial_begin(self, trial):
        self._started[trial.trial_id] = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        started = self._started.pop(trial.trial_id, None)
        elapsed = None if started is None else round(time.perf_counter() - started, 3)
        # Written before the chief hears of the end, so its table finds it.
        artifacts.write_json(
            Path(self.get_trial_dir(trial.trial_id)) / RUN_FILE,
            {
                "trial_id": trial.trial_id,
                "tuner_id": self.tuner_id,
                "status": trial.status,
                "elapsed_seconds": elapsed,
                "host": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        self.trials_run.append(trial.trial_id)
        # Free this trial's graphs and models before the next one is built.
        keras.backend.clear_session()
        if keras.backend.backend() == "jax":
            import jax

            jax.clear_caches()  # compiled steps of models that no longer exist
        gc.collect()
        super().on_trial_end(trial)
        if self.role.kind == "single":
            write_results(self, plot=False)


# ## Results


def results_table(project_dir: Path, objective) -> Any:
    """Every trial of a project as one row, the best first.

    Read from each `trial_<id>/trial.json` (the source of truth: keras-tuner
    1.4.8's chief can leave `oracle.json` listing a finished trial as
    running), plus the `run.json` this recipe writes beside it.

    Columns: `trial_id`, `status`, `score`, `best_epoch` (1-based), `elapsed_seconds`,
    `tuner_id`, then every hyperparameter, then the best epoch's metrics.
    Completed trials come first, sorted by score in the objective's direction.
    """
    import pandas as pd

    rows, hp_names, metric_names = [], [], []
    for path in sorted(Path(project_dir).glob("trial_*/trial.json")):
        state = json.loads(path.read_text())
        run_path = path.with_name(RUN_FILE)
        run = json.loads(run_path.read_text()) if run_path.is_file() else {}
        best_step = state.get("best_step")
        row = {
            "trial_id": state["trial_id"],
            "status": state["status"],
            "score": state["score"] if state["status"] == "COMPLETED" else None,
            "best_epoch": None if best_step is None or state["status"] != "COMPLETED"
            else int(best_step) + 1,
            "elapsed_seconds": run.get("elapsed_seconds"),
            "tuner_id": run.get("tuner_id"),
        }
        values = state["hyperparameters"]["values"]
        for name in values:
            if name not in hp_names:
                hp_names.append(name)
        metrics = {}
        for name, history in state["metrics"]["metrics"].items():
            observations = history["observations"]
            if not observations:
                continue
            # keras-tuner reports each metric once, at the best epoch.
            chosen = next(
                (o for o in observations if o["step"] == best_step), observations[-1]
            )
            value = chosen["value"]
            metrics[name] = float(np.mean(value)) if isinstance(value, list) else value
            if name not in metric_names:
                metric_names.append(name)
        rows.append((row, values, metrics))
    columns = ["trial_id", "status", "score", "best_epoch", "elapsed_seconds", "tuner_id"]
    hp_columns = [name if name not in columns else f"hp_{name}" for name in hp_names]
    metric_columns = [
        name if name not in columns + hp_columns else f"metric_{name}" for name in metric_names
    ]
    records = []
    for row, values, metrics in rows:
        record = dict(row)
        record.update({c: values.get(n) for c, n in zip(hp_columns, hp_names)})
        record.update({c: metrics.get(n) for c, n in zip(metric_columns, metric_names)})
        records.append(record)
    frame = pd.DataFrame(records, columns=columns + hp_columns + metric_columns)
    frame["trial_id"] = frame["trial_id"].astype(str)
    frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
    completed = frame["status"] == "COMPLETED"
    best_first = frame[completed].sort_values(
        "score", ascending=objective.direction == "min", kind="stable"
    )
    frame = pd.concat([best_first, frame[~completed].sort_values("trial_id")])
    frame.attrs["hyperparameters"] = hp_columns
    return frame.reset_index(drop=True)


def results_plot(frame, objective, space: list[dict] | None = None):
    """The score of each completed trial against each hyperparameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    names = frame.attrs.get("hyperparameters", [])
    done = frame[frame["status"] == "COMPLETED"]
    declared = {item["config"]["name"]: item for item in space or []}
    columns = min(4, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False
    )
    for axis in axes.flat[len(names):]:
        axis.axis("off")
    for axis, name in zip(axes.flat, names):
        item = declared.get(name, {"class_name": "", "config": {}})
        choices = item["config"].get("values")
        if item["class_name"] == "Boolean":
            choices = [False, True]
        values = done[name].tolist()
        numeric = all(
            isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values
        )
        if choices is not None and not (numeric and item["config"].get("ordered")):
            # Categories at fixed positions, in the declared order.
            labels = [str(choice) for choice in choices]
            positions = [labels.index(str(v)) if str(v) in labels else np.nan for v in values]
            axis.scatter(positions, done["score"], alpha=0.8)
            axis.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
            axis.set_xlim(-0.5, len(labels) - 0.5)
        else:
            axis.scatter(np.asarray(values, dtype=float), done["score"], alpha=0.8)
            if item["config"].get("sampling") == "log":
                axis.set_xscale("log")
                axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlabel(name)
        axis.set_ylabel(objective.name)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{objective.name} ({objective.direction}) of {len(done)} completed trials")
    figure.tight_layout()
    return figure


def write_results(tuner, *, plot: bool = True):
    """Writes `results.csv` (and `results.png`) in the project folder, atomically.

    During a search a `trial.json` may be caught mid-write; that update is
    skipped (the next one, or the final one, completes it).
    """
    project_dir = Path(tuner.project_dir)
    objective = tuner.oracle.objective
    try:
        frame = results_table(project_dir, objective)
    except (json.JSONDecodeError, KeyError):
        if plot:
            raise
        return None
    artifacts.write_csv(project_dir / RESULTS_FILE, frame)
    if plot:
        space = tuner.oracle.get_space().get_config()["space"]
        artifacts.save_figure(results_plot(frame, objective, space), project_dir / PLOT_FILE)
    return frame
