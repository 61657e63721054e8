"""The results of a search: one table row per trial, best first, and its plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recipes.common import artifacts

RESULTS_FILE = "results.csv"
PLOT_FILE = "results.png"
RUN_FILE = "run.json"
# Hyperband's schedule, which keras-tuner keeps among a trial's hyperparameter
# values: its own columns, not hyperparameters.
HYPERBAND_COLUMNS = {
    "tuner/bracket": "bracket",
    "tuner/round": "round",
    "tuner/initial_epoch": "initial_epoch",
    "tuner/epochs": "epochs",
    "tuner/trial_id": "from_trial_id",
}


def results_table(project_dir: Path, objective) -> Any:
    """Every trial of a project as one row, the best first.

    Read from each `trial_<id>/trial.json` (the source of truth: keras-tuner
    1.4.8's chief can leave `oracle.json` listing a finished trial as
    running), plus the `run.json` this recipe writes beside it.

    Columns: `trial_id`, `status`, `score`, `best_epoch` (1-based; for a
    Hyperband trial that continued another's best weights, counted from the
    start of the first trial of that chain: the epochs a retrain from scratch
    takes), `elapsed_seconds`,
    `tuner_id`, for Hyperband `bracket`, `round`, `initial_epoch`, `epochs`
    and `from_trial_id` (the trial whose weights it continued, if any), then
    every hyperparameter, then the best epoch's metrics.
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
        values = dict(state["hyperparameters"]["values"])
        if "tuner/bracket" in values:  # a Hyperband trial
            row.update({column: values.pop(name, None)
                        for name, column in HYPERBAND_COLUMNS.items()})
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
    # keras-tuner's best_step counts from the trial's own first epoch: add the
    # epochs of the weights it started from (its parent's best epoch, and so on).
    best_epochs = {row["trial_id"]: row["best_epoch"] for row, _, _ in rows}
    for row, _, _ in rows:
        parent, seen = row.get("from_trial_id"), {row["trial_id"]}
        while row["best_epoch"] is not None and parent is not None and parent not in seen:
            seen.add(parent)
            earlier = best_epochs.get(parent)
            row["best_epoch"] = None if earlier is None else row["best_epoch"] + earlier
            parent = next((r.get("from_trial_id") for r, _, _ in rows
                           if r["trial_id"] == parent), None)
    columns = ["trial_id", "status", "score", "best_epoch", "elapsed_seconds", "tuner_id"]
    if any("bracket" in row for row, _, _ in rows):
        columns += list(HYPERBAND_COLUMNS.values())
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
    if "bracket" in frame:  # integers (pandas would widen a column with gaps to float)
        for column in ("bracket", "round", "initial_epoch", "epochs"):
            frame[column] = frame[column].astype("Int64")
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
    import matplotlib.ticker

    from recipes.common.plots import subplots

    names = frame.attrs.get("hyperparameters", [])
    done = frame[frame["status"] == "COMPLETED"]
    declared = {item["config"]["name"]: item for item in space or []}
    columns = min(4, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    figure, axes = subplots(
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
