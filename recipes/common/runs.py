"""`Run`: one training run's folder, its records, resume and artifacts.

A recipe makes one `Run` right after parsing its flags:

```python
run = Run(args, "cnn", backend="jax")   # backend and seeds set; folder runs/cnn/
...
with run.distributed():                 # --distribute: data-parallel scope
    model = ...
    model.compile(..., steps_per_execution=run.steps_per_execution)
history = model.fit(..., callbacks=[..., *run.callbacks()], verbose=run.verbose)
model = run.local_model(model)          # --distribute: evaluate a copy on this process
...
run.save(model=model, history=history, metrics=metrics, data=data)
```

The folder `<output-dir>/<recipe>/` holds `run.json` (recipe, flags, seed,
backend, versions, task, class names, feature schema), `history.csv`
(written as each epoch ends), the training backup while the run is
unfinished, with `--tensorboard` the TensorBoard event files in `logs/`,
and after `save` the model, `metrics.json` and the plots. Every write is
atomic (the event files are appended to). Running the same command again
resumes an interrupted run.

Across processes (`--distribute` in a cluster, `recipes.common.cluster`)
only the chief, process 0, writes the folder; the others write into a
scratch folder of their own, removed when they exit, and resume from the
chief's backup.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from recipes.common import artifacts, cluster, runtime

RUN_FILE = "run.json"
# Flags that do not change what a run computes: a resume may change them
# (--tensorboard added on resume: the curves start at the resumed epoch).
UNCHECKED_FLAGS = ("quiet", "verbose", "output_dir", "restart", "backend", "compile_cache",
                   "tensorboard", "cluster_timeout")


def plain(value: Any) -> Any:
    """JSON-friendly: NumPy scalars to numbers, paths to text, containers recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, bool, int, type(None))):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def format_metrics(metrics: dict[str, Any]) -> str:
    """`name=value, ...` for printing: integers as integers, other numbers
    with 4 decimals.

    Example:

    >>> format_metrics({"test_accuracy": 0.98765, "epochs_trained": 35})
    'test_accuracy=0.9877, epochs_trained=35'
    """

    def text(value: Any) -> str:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return str(int(value))
        if isinstance(value, numbers.Real):
            return f"{float(value):.4f}"
        return str(value)

    return ", ".join(f"{name}={text(value)}" for name, value in metrics.items())


def run_info(folder: str | Path) -> dict[str, Any]:
    """A run folder's `run.json`, or `{}`."""
    path = Path(folder) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def update_run_info(folder: str | Path, **fields: Any) -> dict[str, Any]:
    """Merges `fields` into the folder's `run.json`, atomically; returns the whole."""
    info = {**run_info(folder), **{key: plain(value) for key, value in fields.items()}}
    artifacts.write_json(Path(folder) / RUN_FILE, info)
    return info


def recorded_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags `run.json` records and a resume checks."""
    return {key: plain(value) for key, value in sorted(vars(args).items())
            if key not in UNCHECKED_FLAGS}


def versions() -> dict[str, str]:
    """Python's and the main packages' versions, for `run.json`."""
    found = {"python": platform.python_version()}
    for package in ("keras", "tensorflow", "jax", "numpy", "pandas", "scikit-learn"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


class Run:
    """One run of a recipe: its backend, folder, records, resume and artifacts.

    Making a `Run` sets the process up (`runtime.setup`: backend, seeds,
    devices, precision; before Keras is imported) and finds the folder
    `<--output-dir>/<recipe>/`. If a run there was interrupted (its training
    backup is there), the same command resumes it from the last backed-up
    epoch; `--restart` discards the backup; other flags than the
    interrupted run's are refused, naming them.

    Args:
        args: the parsed flags (not modified).
        recipe: the recipe's name, the folder's name.
        backend: the backend the recipe prefers when neither `--backend`
            nor `$KERAS_BACKEND` names one.

    Across processes, only the chief (process 0) writes `folder`: the others
    work in a scratch folder of their own (their `folder`, removed when the
    process exits), which starts with the chief's backup when they resume.

    Attributes:
        folder: the run folder (a scratch folder on a process other than the chief).
        shared_folder: the run folder the chief writes.
        chief: whether this process writes the run folder.
        backend: the Keras backend in use.
        resumed_epoch: the epochs the interrupted run completed, or `None`.
    """

    def __init__(self, args: argparse.Namespace, recipe: str, *, backend: str | None = None):
        self.args, self.recipe = args, recipe
        self.backend = runtime.setup(args, backend=backend)
        processes = cluster.joined()
        self.folder = self.shared_folder = Path(args.output_dir) / recipe
        from recipes.common import history

        self.chief = processes is None or processes.chief
        if not self.chief:
            self._scratch = tempfile.TemporaryDirectory(prefix=f"process{processes.index}-")
            shared, self.folder = self.folder, Path(self._scratch.name) / recipe
            if not args.restart and history.backup_epoch(shared) is not None:
                shutil.copytree(shared / history.BACKUP_DIR, self.folder / history.BACKUP_DIR)
                for name in (RUN_FILE, history.HISTORY_FILE):
                    if (shared / name).exists():
                        shutil.copy2(shared / name, self.folder / name)
        self.resumed_epoch = history.backup_epoch(self.folder)
        if self.resumed_epoch is not None and args.restart:
            shutil.rmtree(self.folder / history.BACKUP_DIR)
            (self.folder / history.HISTORY_FILE).unlink(missing_ok=True)
            self.resumed_epoch = None
            print(f"Restarting {recipe}: the interrupted run's backup was discarded.")
        elif self.resumed_epoch is not None:
            self._check_same_flags()
            print(f"Resuming {recipe} from epoch {self.resumed_epoch} of {args.epochs}")
        cluster.same_everywhere(
            self.resumed_epoch or 0, "the epoch to resume from: every process must see the "
            f"chief's run folder, here {self.shared_folder} (--output-dir on a folder every "
            "machine sees)")
        self._started = False

    def _check_same_flags(self) -> None:
        before, now = self.info().get("flags", {}), recorded_flags(self.args)
        changed = sorted(key for key in set(before) | set(now) if before.get(key) != now.get(key))
        if changed:
            differences = ", ".join(
                f"--{key.replace('_', '-')} {before.get(key)!r} -> {now.get(key)!r}"
                for key in changed
            )
            raise ValueError(
                f"{self.folder} holds an interrupted {self.recipe} run with other flags "
                f"({differences}). Run it again with the same flags to resume it, or add "
                "--restart to start over."
            )

    def info(self) -> dict[str, Any]:
        """The run's `run.json` so far (`{}` before anything is recorded)."""
        return run_info(self.folder)

    def record(self, **fields: Any) -> dict[str, Any]:
        """Adds `fields` to `run.json` (with the flags, seed, backend and versions)."""
        if not self._started:
            self._started = True
            self.folder.mkdir(parents=True, exist_ok=True)
            fields = {"recipe": self.recipe, "flags": recorded_flags(self.args),
                      "seed": self.args.seed, "backend": self.backend,
                      "versions": versions(), **fields}
        return update_run_info(self.folder, **fields)

    @property
    def verbose(self) -> int | str:
        """`fit`'s `verbose`: no progress bars with `--quiet`."""
        return 0 if self.args.quiet else "auto"

    @property
    def steps_per_execution(self) -> int:
        """`compile`'s `steps_per_execution` (see `runtime.steps_per_execution`)."""
        return runtime.steps_per_execution(self.args)

    def distributed(self):
        """The scope to build and compile the model in (`runtime.distributed`)."""
        return runtime.distributed(self.args)

    def local_model(self, model):
        """The model to evaluate and save after `fit` (`runtime.local_model`):
        `model` itself, or after `--distribute` training on JAX or across
        TensorFlow workers a copy on this process alone, which `evaluate`
        and `predict` take batches of any size on."""
        return runtime.local_model(model)

    def callbacks(self, *, initial_epoch: int = 0) -> list:
        """`[HistoryLog, ThrottledBackup]` for `fit`: `history.csv` grows by a
        row per epoch, and the training state is backed up so that the same
        command resumes (see `recipes.common.history`); with `--tensorboard`
        a `TensorBoardLog` after them: each epoch's scalars in `logs/` once
        the backup holds the epoch. Put them last.

        A fresh start (no backup to resume, no `initial_epoch`) removes an
        earlier run's `logs/`, whose curves would otherwise run on into
        this run's.

        Args:
            initial_epoch: for a second `fit` of the same run (a second
                training phase): the history keeps the earlier epochs'
                rows, and `logs/` their curves.
        """
        from recipes.common import history

        self.record()
        if not max(history.backup_epoch(self.folder) or 0, initial_epoch):
            shutil.rmtree(self.folder / history.LOGS_DIR, ignore_errors=True)
        # Across processes every epoch is backed up: saving weights is a
        # collective step there, which all processes must take together.
        backup = history.ThrottledBackup(
            self.folder, overhead=math.inf if cluster.joined() else history.BACKUP_OVERHEAD)
        chosen = [history.HistoryLog(self.folder, initial_epoch=initial_epoch), backup]
        if getattr(self.args, "tensorboard", False):
            chosen.append(history.TensorBoardLog(self.folder, backup=backup))
        return chosen

    def save(
        self,
        *,
        model=None,
        history=None,
        metrics: dict[str, Any],
        figures: dict[str, Any] | None = None,
        data=None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """Writes the artifacts, atomically, prints the metrics; returns them.

        `model.keras`; `history.csv` and the training-curves plot from
        `history`; a PNG per figure (an earlier run's other PNGs are
        removed); `metrics.json`. With `data`: its task (or `task`, where the
        model does something else with the data, such as reconstructing
        it), class names and, for a `--csv` table, its fitted preprocessing
        (`preprocessing.keras`, and on TensorFlow `inference.keras`: raw
        columns in), all that `recipes.predict` needs; for `--images`, the
        image size and colour mode; for `--sequences`, their fitted
        preprocessing (`sequences`: channels, mean and std, padding).
        """
        from recipes.common import plots
        from recipes.common.data import features
        from recipes.common.history import HISTORY_FILE, history_frame

        self.record()
        figures = dict(figures or {})
        if history is not None:
            frame = history_frame(history)
            artifacts.write_csv(self.folder / HISTORY_FILE, frame)
            figures.setdefault("training_curves", plots.training_curves(frame))
        if data is not None:
            self.record(task=task or data.task, class_names=list(data.class_names),
                        images=data.image_fields(), sequences=getattr(data, "sequences", None),
                        **features.save_preprocessing(self.folder, data))
        if model is not None:
            artifacts.save_model(model, self.folder / "model.keras")
            features.save_inference_model(self.folder, model, self.info())
        for name, figure in figures.items():
            artifacts.save_figure(figure, self.folder / f"{name}.png")
        for stale in self.folder.glob("*.png"):  # drawn by an earlier run with other flags
            if stale.stem not in figures:
                stale.unlink()
        metrics = {key: plain(value) for key, value in metrics.items()}
        artifacts.write_json(self.folder / "metrics.json", metrics)
        print("Results:", format_metrics(metrics))
        written = sorted(p.name for p in self.folder.iterdir() if not p.name.startswith("."))
        if self.chief:
            print(f"Artifacts in {self.folder}/: {', '.join(written)}")
        else:
            print(f"Artifacts: process 0 writes them in {self.shared_folder}/")
        return metrics
