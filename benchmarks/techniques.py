"""Training techniques side by side: each against the plain recipe, over seeds.

The notes describe several techniques that each recipe exposes as a flag
(EMA, one-cycle, lr_find, SGDR, plateau, snapshot ensembles and SWA,
independent ensembles, test-time augmentation). This benchmark trains each
one on the same task and compares it with the plain recipe under the same
seed, so that a technique is credited only when its gain exceeds the spread
between seeds, and its cost (wall time, epochs) is shown beside it.

Task: the bundled digits with a reduced training set (`--train-size`,
default the first 300 training samples; validation and test splits
unchanged, about 270 each), where techniques differ measurably and a run
takes seconds. Models: the `mlp` and `cnn` recipes, called in this process
(`recipes.<name>.main([...])`, TensorFlow, `--quiet`), each call timed with
`time.perf_counter()` (the whole call: data, LR range test where asked,
training, the recipe's own evaluation and artifacts). Snapshot ensemble and
SWA come from one run of `recipes.snapshot_ensemble --model <m> --swa` (its
defaults: 50 epochs, 5 snapshots); "ensemble of 5" is `--ensemble 5` (five
trainings), and "equal compute" is `--ensemble 5 --epochs E --patience E`
with E = plain's mean epochs / 5; test-time augmentation (cnn) averages
the plain model's predictions over 8 augmented copies.

Every figure is computed here from the saved model of the run folder on the
test split: accuracy, log loss and expected calibration error (15 bins).
Each variant is paired with the plain run of the same seed (same split and
initial weights): the accuracy difference, its spread over seeds, and
whether the mean difference exceeds that spread.

Run:
    python -m benchmarks.techniques                  # seeds 0 1 2, about 20 minutes
    python -m benchmarks.techniques --seeds 0 1 2 3 4 --models cnn
    python -m benchmarks.techniques --quick --output-dir /tmp/bench   # seconds
    python -m benchmarks.techniques --redraw          # the .md and .png from the .json
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _common

NAME = "techniques"
MODELS = ("mlp", "cnn")
# Model -> the data view its recipe trains on.
VIEWS = {"mlp": "flat", "cnn": "image"}
ECE_BINS = 15
TTA_COPIES = 8
ENSEMBLE_SIZE = 5
SEEDS = (0, 1, 2)
TRAIN_SIZE = 300


@dataclasses.dataclass(frozen=True)
class Variant:
    key: str
    label: str
    description: str


VARIANTS = (
    Variant("plain", "plain", "the recipe's defaults (mlp: constant rate and early "
            "stopping; cnn: cosine decay)"),
    Variant("ema", "EMA", "`--ema` (Keras' `use_ema`, momentum 0.99): the saved model"),
    Variant("ema_final", "EMA, final averages", "the same `--ema` run: the optimizer's "
            "averaged weights (saved with the model) put into the model"),
    Variant("one_cycle", "one-cycle", "`--schedule one_cycle`"),
    Variant("lr_find_one_cycle", "lr_find + one-cycle",
            "`--learning-rate auto --schedule one_cycle` (LR range test first)"),
    Variant("sgdr", "SGDR", "`--schedule sgdr`"),
    Variant("plateau", "plateau", "`--schedule plateau`"),
    Variant("snapshot", "snapshot ensemble", "`recipes.snapshot_ensemble --swa`: "
            "`ensemble.keras`, the snapshots' probabilities averaged"),
    Variant("swa", "SWA", "the same snapshot run: `swa.keras`, the snapshots' weights "
            "averaged, batch norm recomputed"),
    Variant("ensemble", f"ensemble of {ENSEMBLE_SIZE}", f"`--ensemble {ENSEMBLE_SIZE}`"),
    Variant("ensemble_equal", f"ensemble of {ENSEMBLE_SIZE}, equal compute",
            f"`--ensemble {ENSEMBLE_SIZE} --epochs E --patience E`"),
    Variant("tta", f"TTA ×{TTA_COPIES}", f"the plain cnn model, predictions averaged over "
            f"{TTA_COPIES} augmented copies"),
)
LABELS = {v.key: v.label for v in VARIANTS}
QUICK_VARIANTS = ("plain", "ema", "ema_final", "snapshot", "swa")


@dataclasses.dataclass(frozen=True)
class Training:
    """One recipe call and the variants (rows) read from its run folder."""

    key: str
    recipe: str
    flags: tuple[str, ...]
    rows: tuple[str, ...]


def trainings(model: str, quick: bool, equal_epochs: int | None = None) -> list[Training]:
    """The recipe calls for `model`, in order (plain first)."""
    plain_rows = ("plain", "tta") if model == "cnn" else ("plain",)
    result = [
        Training("plain", model, (), plain_rows),
        Training("ema", model, ("--ema",), ("ema", "ema_final")),
        Training("one_cycle", model, ("--schedule", "one_cycle"), ("one_cycle",)),
        Training("lr_find_one_cycle", model,
                 ("--learning-rate", "auto", "--schedule", "one_cycle"),
                 ("lr_find_one_cycle",)),
        Training("sgdr", model, ("--schedule", "sgdr"), ("sgdr",)),
        Training("plateau", model, ("--schedule", "plateau"), ("plateau",)),
        Training("snapshot", "snapshot_ensemble", ("--model", model, "--swa"),
                 ("snapshot", "swa")),
        Training("ensemble", model, ("--ensemble", str(ENSEMBLE_SIZE)), ("ensemble",)),
    ]
    if equal_epochs is not None:
        e = str(equal_epochs)
        result.append(Training("ensemble_equal", model, (
            "--ensemble", str(ENSEMBLE_SIZE), "--epochs", e, "--patience", e),
            ("ensemble_equal",)))
    if quick:
        result = [
            dataclasses.replace(t, rows=tuple(r for r in t.rows if r in QUICK_VARIANTS))
            for t in result if t.key in ("plain", "ema", "snapshot")
        ]
        result = [dataclasses.replace(t, flags=t.flags + (
            ("--epochs", "2", "--num-snapshots", "2") if t.recipe == "snapshot_ensemble"
            else ("--epochs", "1"))) for t in result]
    return result


# ## Metrics (plain numpy)


def log_loss(probabilities, labels, eps: float = 1e-7) -> float:
    """Mean negative log probability of the true class (probabilities clipped at `eps`)."""
    p = np.asarray(probabilities, dtype="float64")
    true = p[np.arange(len(p)), np.asarray(labels)]
    return float(np.mean(-np.log(np.clip(true, eps, 1.0))))


def expected_calibration_error(probabilities, labels, bins: int = ECE_BINS) -> float:
    """Expected calibration error over `bins` equal-width confidence bins.

    The confidence of a sample is its largest probability, its prediction
    that class. Bin i holds confidences in (i / bins, (i + 1) / bins] (the
    first bin also holds 0). ECE = sum over bins of (samples in the bin / n)
    * |accuracy in the bin - mean confidence in the bin|; empty bins add 0.

    >>> p = [[0.95, 0.05], [0.95, 0.05], [0.65, 0.35], [0.35, 0.65]]
    >>> round(expected_calibration_error(p, [0, 1, 0, 1]), 6)  # 0.5*0.45 + 0.5*0.35
    0.4
    """
    p = np.asarray(probabilities, dtype="float64")
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == np.asarray(labels)
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for i in range(bins):
        inside = index == i
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            total += inside.mean() * gap
    return float(total)


def scores(probabilities, labels) -> dict[str, float]:
    p = np.asarray(probabilities, dtype="float64")
    return {
        "accuracy": float(np.mean(p.argmax(axis=1) == np.asarray(labels))),
        "log_loss": log_loss(p, labels),
        "ece": expected_calibration_error(p, labels),
    }


def mean_std(values) -> tuple[float, float]:
    """Mean and population standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), statistics.pstdev(values)


def verdict(differences: list[float]) -> str:
    """'helps' / 'hurts' when |mean difference| > the std of the paired differences."""
    if len(differences) < 2:
        return "one seed: no spread"
    mean, std = mean_std(differences)
    if abs(mean) > std and mean != 0:
        return "helps" if mean > 0 else "hurts"
    return "within noise"


# ## Running the recipes


def _epochs(out: Path, metrics: dict) -> int:
    if "epochs_trained" in metrics:
        return int(metrics["epochs_trained"])
    history = out / "history.csv"
    return max(0, len(history.read_text().strip().splitlines()) - 1)


def _member_epochs(out: Path, recipe: str) -> int:
    paths = sorted((out / "members").glob(f"seed_*/{recipe}/metrics.json"))
    return sum(int(json.loads(p.read_text())["epochs_trained"]) for p in paths)


def _call(recipe: str, argv: list[str]) -> tuple[dict, float]:
    """`recipes.<recipe>.main(argv)` with its output captured; metrics, wall seconds."""
    module = importlib.import_module(f"recipes.{recipe}")
    captured = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(captured):
            metrics = module.main(argv)
    except Exception:
        print(captured.getvalue()[-4000:])
        raise
    return metrics, time.perf_counter() - started


def _load(path: Path):
    import keras

    import callbacks  # noqa: F401  (registers the ensemble and SWA layers)
    import zoo  # noqa: F401  (registers the zoo's layers)

    return keras.saving.load_model(path, safe_mode=True)


def _predict(model, x) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0))


def _with_ema_averages(model):
    """`model` with its optimizer's averaged weights (use_ema) put into its variables."""
    optimizer = model.optimizer
    for variable in model.trainable_variables:
        index = optimizer._get_variable_index(variable)
        variable.assign(optimizer._model_variables_moving_average[index])
    return model


def _validated_loss(out: Path) -> float:
    """The best val_loss the run's history recorded (what early stopping kept)."""
    lines = (out / "history.csv").read_text().strip().splitlines()
    column = lines[0].split(",").index("val_loss")
    return min(float(line.split(",")[column]) for line in lines[1:])


def run_training(training: Training, model_name: str, seed: int, settings: dict,
                 workdir: Path, data) -> list[dict]:
    """Trains once and returns one row per variant read from the run folder."""
    from recipes.common import evaluation

    folder = workdir / model_name / training.key / f"seed_{seed}"
    argv = ["--quiet", "--output-dir", str(folder), "--seed", str(seed),
            "--train-size", str(settings["train_size"]), "--backend", settings["backend"],
            *training.flags]
    metrics, wall = _call(training.recipe, argv)
    out = folder / training.recipe
    command = "python -m recipes." + " ".join([training.recipe, *training.flags,
                                                "--seed", str(seed), "--train-size",
                                                str(settings["train_size"])])
    if training.key.startswith("ensemble"):
        epochs = _member_epochs(out, training.recipe)
    else:
        epochs = _epochs(out, metrics)
    info = json.loads((out / "run.json").read_text())
    base = {"model": model_name, "seed": seed, "training": training.key,
            "command": command, "epochs": epochs, "wall_seconds": wall,
            "recipe_learning_rate": info.get("flags", {}).get("learning_rate"),
            "max_epochs": info.get("flags", {}).get("epochs")}
    rows = []
    for variant in training.rows:
        row = {**base, "variant": variant}
        extra_seconds = 0.0
        if variant in ("snapshot", "swa"):
            path = out / ("ensemble.keras" if variant == "snapshot" else "swa.keras")
            row["recipe_test_accuracy"] = metrics.get(
                "ensemble_test_accuracy" if variant == "snapshot" else "swa_test_accuracy")
            row["snapshot_epochs"] = info["flags"]["epochs"]
            row["num_snapshots"] = info["flags"]["num_snapshots"]
            model = _load(path)
            probabilities = _predict(model, data.x_test)
        elif variant == "tta":
            model = _load(out / "model.keras")
            started = time.perf_counter()
            probabilities = evaluation.predict(model, data.x_test, tta=TTA_COPIES, seed=seed)
            extra_seconds = time.perf_counter() - started
            row["tta_seconds"] = extra_seconds
            row["recipe_test_accuracy"] = None
        else:
            model = _load(out / "model.keras")
            row["recipe_test_accuracy"] = metrics.get("test_accuracy")
            if variant == "ema":  # does the saved model hold what was validated?
                val = _predict(model, data.x_val)
                row["saved_val_loss"] = log_loss(val, data.y_val)
                row["best_validated_val_loss"] = _validated_loss(out)
            if variant == "ema_final":
                model = _with_ema_averages(model)
                row["recipe_test_accuracy"] = None
            probabilities = _predict(model, data.x_test)
        if variant == "lr_find_one_cycle":
            row["learning_rate_found"] = info.get("learning_rate_found")
        row["wall_seconds"] = wall + extra_seconds
        row.update(scores(probabilities, data.y_test))
        rows.append(row)
    return rows


def _warm_up(settings: dict, workdir: Path) -> None:
    """One short untimed recipe call: TensorFlow's one-off start-up is not billed
    to the first variant."""
    _call("mlp", ["--quiet", "--output-dir", str(workdir / "warm_up"), "--epochs", "1",
                  "--train-size", "64", "--backend", settings["backend"]])


# ## Summary


def summarize(runs: list[dict], model: str, seeds: list[int], variants: list[str]) -> list[dict]:
    """One row per variant of `model`: means and spreads over seeds, paired with plain."""
    by = {(r["variant"], r["seed"]): r for r in runs if r["model"] == model}
    plain_wall = mean_std([by["plain", s]["wall_seconds"] for s in seeds])[0]
    rows = []
    for variant in variants:
        if variant == "tta" and model != "cnn":
            rows.append({"model": model, "variant": variant, "label": LABELS[variant],
                         "applicable": False, "seeds": []})
            continue
        found = [by[variant, s] for s in seeds if (variant, s) in by]
        if not found:
            continue
        row: dict[str, Any] = {"model": model, "variant": variant, "label": LABELS[variant],
                               "applicable": True, "seeds": [r["seed"] for r in found]}
        for key in ("accuracy", "log_loss", "ece", "epochs", "wall_seconds"):
            row[key], row[key + "_std"] = mean_std([r[key] for r in found])
        row["cost_ratio"] = row["wall_seconds"] / plain_wall
        differences = [r["accuracy"] - by["plain", r["seed"]]["accuracy"] for r in found]
        row["accuracy_difference"], row["accuracy_difference_std"] = mean_std(differences)
        row["accuracy_differences"] = differences
        row["verdict"] = "baseline" if variant == "plain" else verdict(differences)
        if variant == "lr_find_one_cycle":
            rates = [r["learning_rate_found"] for r in found]
            row["learning_rate_found"], row["learning_rate_found_std"] = mean_std(rates)
        rows.append(row)
    return rows


def pareto(rows: list[dict]) -> list[dict]:
    """Variants no other beats on both: at least as accurate and cheaper (or vice versa)."""
    def dominated(a, b):
        return (b["accuracy"] >= a["accuracy"] and b["wall_seconds"] <= a["wall_seconds"]
                and (b["accuracy"] > a["accuracy"] or b["wall_seconds"] < a["wall_seconds"]))
    return sorted((a for a in rows if not any(dominated(a, b) for b in rows if b is not a)),
                  key=lambda r: r["wall_seconds"])


def _names(rows: list[dict]) -> str:
    return "; ".join(r["label"] for r in rows) or "none"


def sentences(rows: list[dict], seeds: list[int]) -> list[str]:
    """The plain-language summary of one model's table, from its numbers."""
    rows = [r for r in rows if r["applicable"]]
    plain = next(r for r in rows if r["variant"] == "plain")
    others = [r for r in rows if r["variant"] != "plain"]
    if not others:
        return []
    best = max(rows, key=lambda r: (r["accuracy"], -r["wall_seconds"]))
    text = [f"Best mean test accuracy: {best['label']}, {best['accuracy']:.3f} against "
            f"plain's {plain['accuracy']:.3f}, at {best['cost_ratio']:.1f}× plain's wall time."]
    if len(seeds) > 1:
        helps = [r for r in others if r["verdict"] == "helps"]
        hurts = [r for r in others if r["verdict"] == "hurts"]
        noise = [r for r in others if r["verdict"] == "within noise"]
        text.append(f"Beyond the seed spread, {len(helps)} of {len(others)} variants help "
                    f"({_names(helps)}), {len(hurts)} hurt ({_names(hurts)}) and "
                    f"{len(noise)} are within noise.")
        if helps:
            cheapest = min(helps, key=lambda r: r["wall_seconds"])
            per_cost = max(helps, key=lambda r: r["accuracy_difference"] / r["cost_ratio"])
            text.append(
                f"The cheapest that helps is {cheapest['label']} "
                f"({cheapest['accuracy_difference']:+.3f} for {cheapest['cost_ratio']:.1f}× "
                f"the compute); the most accuracy gained per unit of compute (gain / cost "
                f"ratio): {per_cost['label']}.")
        else:
            text.append("No variant's gain exceeds the spread between seeds.")
    front = pareto(rows)
    calibrated = min(rows, key=lambda r: r["ece"])
    text.append(f"Not beaten on both accuracy and wall time: {_names(front)}. Lowest "
                f"calibration error: {calibrated['label']} (ECE {calibrated['ece']:.3f}, "
                f"plain {plain['ece']:.3f}).")
    return text


# ## The files


def _pm(mean: float, std: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def model_table(rows: list[dict]) -> str:
    header = ["variant", "test accuracy", "Δ accuracy vs plain", "verdict", "log loss",
              "ECE", "epochs", "wall s", "cost ×"]
    cells = []
    for r in rows:
        if not r["applicable"]:
            cells.append([r["label"]] + ["n/a"] * (len(header) - 1))
            continue
        difference = ("—" if r["variant"] == "plain"
                      else f"{r['accuracy_difference']:+.3f} ± "
                           f"{r['accuracy_difference_std']:.3f}")
        cells.append([
            r["label"], _pm(r["accuracy"], r["accuracy_std"]), difference, r["verdict"],
            _pm(r["log_loss"], r["log_loss_std"]), _pm(r["ece"], r["ece_std"]),
            _pm(r["epochs"], r["epochs_std"], 0), _pm(r["wall_seconds"],
                                                      r["wall_seconds_std"], 1),
            f"{r['cost_ratio']:.1f}",
        ])
    return _common.table(header, cells, "lrrlrrrrr")


def _notes(data: dict, model: str) -> list[str]:
    runs = [r for r in data["runs"] if r["model"] == model]
    notes = []
    plain = [r for r in runs if r["variant"] == "plain"]
    if plain and plain[0]["recipe_learning_rate"] is not None:
        notes.append(f"The recipe's default learning rate: {plain[0]['recipe_learning_rate']:g}.")
    found = [r for r in runs if r["variant"] == "lr_find_one_cycle"]
    if found:
        rates = ", ".join(f"{r['learning_rate_found']:.2e} (seed {r['seed']})" for r in found)
        notes.append(f"lr_find (`learning_rate_found` in run.json) picked {rates}.")
    snapshot = [r for r in runs if r["variant"] == "snapshot"]
    if snapshot:
        notes.append(
            f"Snapshot ensemble and SWA: one run of {snapshot[0]['snapshot_epochs']} epochs, "
            f"{snapshot[0]['num_snapshots']} snapshots (snapshot_ensemble's defaults: its "
            "own peak rate 0.01 and, for --model "
            + ("cnn, the zoo's default cnn: no residual connections, no dropout, batch-norm "
               "momentum 0.99, so not quite recipes/cnn's network)"
               if model == "cnn" else "mlp, recipes/mlp's network: 512-256, dropout 0.3)")
            + "; the two rows share its cost.")
    notes += _one_cycle_notes(runs, model)
    equal = data["settings"].get("equal_compute_epochs", {}).get(model)
    if equal is not None:
        notes.append(f"Equal compute: {ENSEMBLE_SIZE} members of at most {equal['epochs']} "
                     f"epochs each (plain's mean {equal['plain_mean_epochs']:.1f} epochs / "
                     f"{ENSEMBLE_SIZE}, rounded), `--patience {equal['epochs']}`.")
    tta = [r for r in runs if r["variant"] == "tta"]
    if tta:
        seconds = mean_std([r["tta_seconds"] for r in tta])
        notes.append(f"TTA's extra prediction time: {_pm(*seconds, 2)} s, added to plain's.")
    ema = [r for r in runs if r["variant"] == "ema"]
    mismatch = [r for r in ema
                if abs(r["saved_val_loss"] - r["best_validated_val_loss"]) > 1e-3]
    if mismatch:
        pairs = "; ".join(f"seed {r['seed']}: {r['saved_val_loss']:.4f} vs "
                          f"{r['best_validated_val_loss']:.4f}" for r in mismatch)
        notes.append(
            f"**The `--ema` run's saved model is not the model it validated** "
            f"({len(mismatch)} of {len(ema)} seeds): its validation log loss differs from "
            f"the best `val_loss` of its history ({pairs}). Early stopping's "
            "`restore_best_weights` keeps the weights seen at epoch end, outside the EMA "
            "swap, and puts them back after Keras has copied the averages in; so \"EMA\" "
            "is the raw weights of the epoch whose averages validated best, and \"EMA, "
            "final averages\" shows the averaged weights themselves (those of the last "
            "epoch).")
        plain_by_seed = {r["seed"]: r for r in plain}
        same = [r for r in ema if r["seed"] in plain_by_seed
                and r["accuracy"] == plain_by_seed[r["seed"]]["accuracy"]
                and abs(r["log_loss"] - plain_by_seed[r["seed"]]["log_loss"]) < 1e-3]
        if same:
            notes.append(
                f"On {len(same)} of {len(ema)} seeds the saved `--ema` model scores as plain's "
                "does (same test accuracy, log loss within 0.001): the raw weights follow "
                "plain's trajectory (averaging does not change the steps) and the averages "
                "only decide which epoch's raw weights are kept.")
    return notes


def _one_cycle_notes(runs: list[dict], model: str) -> list[str]:
    """Where early stopping ended one-cycle runs before the cycle's end."""
    import inspect

    import callbacks

    notes = []
    pct_start = inspect.signature(callbacks.OneCycle).parameters["pct_start"].default
    for variant in ("one_cycle", "lr_find_one_cycle"):
        found = [r for r in runs if r["variant"] == variant]
        if not found:
            continue
        total = found[0].get("max_epochs")
        if total is None:  # results written before max_epochs was recorded
            from benchmarks import time_to_accuracy

            total = time_to_accuracy.recipe_defaults(model).epochs
        stopped = [r["epochs"] for r in found if r["epochs"] < total]
        if stopped:
            peak = round(pct_start * total)
            notes.append(
                f"{LABELS[variant]}: the cycle is laid out over all {total} epochs (the rate "
                f"rises until epoch {peak}, then anneals); early stopping ended "
                f"{len(stopped)} of {len(found)} runs after "
                f"{', '.join(map(str, stopped))} epochs.")
    return notes


def markdown(data: dict) -> str:
    settings = data["settings"]
    seeds = settings["seeds"]
    lines = [
        "# Training techniques",
        "",
        "`python -m benchmarks.techniques`"
        + (" `--quick` (tiny settings: a check that it runs, not a result)"
           if settings["quick"] else "")
        + ". " + _common.describe(data["machine"], [settings["backend"]])
        + f" Total {data['total_seconds'] / 60:.1f} minutes.",
        "",
        f"Digits, the first {settings['train_size']} training samples (validation "
        f"{settings['validation_size']}, test {settings['test_size']}, unchanged); seeds "
        f"{', '.join(map(str, seeds))}; each recipe called in one process. Figures are "
        "mean ± population std over the seeds, computed from each run's saved model on "
        "the test split: accuracy, log loss (mean −log p of the true class, p clipped at "
        f"1e-7) and ECE ({ECE_BINS} equal-width bins of the largest probability). Epochs: "
        "those trained (ensembles: over all members). Wall s: the whole recipe call "
        "(data, LR range test, training, its own evaluation and artifacts); cost × = "
        "mean wall time / plain's.",
        "",
        "Rule: Δ accuracy is the variant's accuracy minus plain's of the same seed (same "
        "split, same initial weights), mean ± population std over seeds; **helps** / "
        "**hurts** when |mean Δ| > std of the Δs, else **within noise**"
        + (f". This is a lenient rule, not a significance test: with {len(seeds)} seeds "
           f"it passes at a paired t statistic of {math.sqrt(len(seeds) - 1):.2f}"
           if len(seeds) > 1 else " (with one seed there is no spread: no verdict)")
        + f". One test sample is {1 / settings['test_size']:.4f} of accuracy.",
    ]
    for model in settings["models"]:
        rows = [r for r in data["summary"] if r["model"] == model]
        lines += ["", f"## {model}", "", model_table(rows), ""]
        lines += [" ".join(sentences(rows, seeds))]
        notes = _notes(data, model)
        if notes:
            lines += [""] + [f"- {note}" for note in notes]
    lines += ["", "Variants:", ""]
    lines += [f"- {v.label}: {v.description}." for v in VARIANTS
              if v.key in settings["variants"]]
    lines += ["", f"![test accuracy against wall time]({NAME}.png)", "",
              "The figure: mean test accuracy against mean wall seconds (log scale), bars "
              "one std over the seeds. The split changes with the seed, so these bars are "
              "wider than the spread of the paired differences the verdicts use."]
    return "\n".join(lines)


def figure(data: dict, path: Path) -> None:
    """Test accuracy (mean, std bars) against wall seconds (log), a panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    models = data["settings"]["models"]
    markers = dict(zip([v.key for v in VARIANTS], "osD^v<>phX*P"))
    palette = [*plt.get_cmap("tab10").colors, "black", "goldenrod"]
    colours = dict(zip([v.key for v in VARIANTS], palette))
    fig, axes = plt.subplots(1, len(models), figsize=(6.4 * len(models), 5.4), squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = [r for r in data["summary"] if r["model"] == model and r["applicable"]]
        for r in rows:
            ax.errorbar(r["wall_seconds"], r["accuracy"], yerr=r["accuracy_std"],
                        xerr=r["wall_seconds_std"], marker=markers[r["variant"]],
                        color=colours[r["variant"]], linestyle="none", capsize=3,
                        markersize=8, label=r["label"])
        plain = next(r for r in rows if r["variant"] == "plain")
        ax.axhline(plain["accuracy"], color="grey", linewidth=0.8, linestyle="--")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel("wall seconds per run (log scale)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{model}: digits, {data['settings']['train_size']} training samples")
        ax.grid(True, which="both", alpha=0.3)
    _common.save_panels(fig, axes[0], path, ncol=6, bottom=0.12, dpi=120)


# ## Main


def _train_all(plan: list[Training], model: str, seeds: list[int], settings: dict,
               workdir: Path, data: dict) -> list[dict]:
    """Each training of `plan` for each seed, in that order; their rows."""
    import keras

    runs = []
    for training in plan:
        for seed in seeds:
            rows = run_training(training, model, seed, settings, workdir, data[seed])
            keras.backend.clear_session()  # a fresh graph for the next run
            runs += rows
            print(f"[{NAME}] {model} {training.key} seed {seed}: " + ", ".join(
                f"{r['variant']} accuracy {r['accuracy']:.3f}" for r in rows)
                + f"; {rows[0]['epochs']} epochs, {rows[0]['wall_seconds']:.1f} s",
                flush=True)
    return runs


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.set_defaults(backends=["tensorflow"])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE,
                        help=f"training samples (default {TRAIN_SIZE}; --quick: 100)")
    parser.add_argument("--redraw", action="store_true",
                        help=f"rewrite {NAME}.md and .png from the saved {NAME}.json")
    args = parser.parse_args(argv)
    if len(args.backends) != 1:
        parser.error("--backends: one backend per run (the recipes run in this process)")
    if args.quick:
        args.seeds, args.models, args.train_size = args.seeds[:1], ["mlp"], 100
    return args


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.redraw:
        result = _common.load_json(NAME, args.output_dir)
        if result is None:
            raise SystemExit(f"--redraw: no {NAME}.json in {args.output_dir}")
        figure(result, Path(args.output_dir) / f"{NAME}.png")
        _common.save(NAME, args.output_dir, result, markdown(result))
        return result
    elapsed = _common.timer()
    info = _common.machine()
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", args.backends[0])
    from recipes.common.data import load_dataset

    _common.quiet_keras()
    variants = [v.key for v in VARIANTS if not args.quick or v.key in QUICK_VARIANTS]
    settings: dict[str, Any] = {
        "quick": args.quick, "seeds": args.seeds, "models": args.models,
        "train_size": args.train_size, "backend": args.backends[0], "variants": variants,
        "ensemble_size": ENSEMBLE_SIZE, "tta_copies": TTA_COPIES, "ece_bins": ECE_BINS,
        "equal_compute_epochs": {},
    }
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="techniques-") as folder:
        workdir = Path(folder)
        if not args.quick:
            _warm_up(settings, workdir)
        for model in args.models:
            data = {s: load_dataset("digits", view=VIEWS[model], seed=s)
                    for s in args.seeds}
            settings["validation_size"] = len(data[args.seeds[0]].y_val)
            settings["test_size"] = len(data[args.seeds[0]].y_test)
            plan = trainings(model, args.quick)
            runs += _train_all(plan[:1], model, args.seeds, settings, workdir, data)
            if not args.quick:  # plain is done: size the equal-compute ensemble
                plain_epochs = mean_std([r["epochs"] for r in runs if r["model"] == model
                                         and r["variant"] == "plain"])[0]
                epochs = max(1, round(plain_epochs / ENSEMBLE_SIZE))
                settings["equal_compute_epochs"][model] = {
                    "epochs": epochs, "plain_mean_epochs": plain_epochs}
                plan = trainings(model, args.quick, epochs)
            runs += _train_all(plan[1:], model, args.seeds, settings, workdir, data)
    info["load_average_end"] = _common.load_average()
    summary = [row for model in args.models
               for row in summarize(runs, model, args.seeds, variants)]
    result = {"machine": info, "settings": settings, "total_seconds": elapsed(),
              "runs": runs, "summary": summary}
    result["figure"] = f"{NAME}.png"
    figure(result, Path(args.output_dir) / f"{NAME}.png")
    _common.save(NAME, args.output_dir, result, markdown(result))
    return result


if __name__ == "__main__":
    main()
