"""Sequences: the rnn recipe on UCR/UEA sets against published and sktime figures.

On the UCR/UEA sets that ship inside sktime's wheel, with their official
train/test splits (GunPoint, ItalyPowerDemand; JapaneseVowels: multivariate,
unequal lengths), each model (`lstm`, `gru`, `fcn1d`, `resnet1d`) is trained
by the recipe's own command with its defaults, once per seed, as a whole
process, one at a time:

    python -m recipes.rnn --sequences X_TRAIN.ts --test-sequences X_TEST.ts \\
        --model M --seed S --quiet --output-dir TMP

Wall time: the whole command (imports, reading the files, on JAX a first run
with an empty compile cache, training, evaluation, artifacts written); test
accuracy and epochs trained: the run's `metrics.json`; the flags it ran with:
its `run.json`. Beside each: Ismail Fawaz et al.'s (2019) published mean
accuracy (and std over their 10 runs) for the same set and architecture
(`PUBLISHED`), and the peer a user would pick instead: sktime's Keras
`FCNClassifier` and `ResNetClassifier` with their default settings (2,000
and 1,500 epochs), each run as a whole process on TensorFlow on the same
splits and machine, so the table shows the accuracy and the wall-time ratio.

Writes `results/sequences.json`, `.md` and `.png`; in the default folder,
README's sequences block (between `<!-- benchmarks-sequences:begin -->` and
`<!-- benchmarks-sequences:end -->`) and RESULTS.md.

Run:
    python -m benchmarks.sequences              # 3 sets x 4 models x 3 seeds + peers: hours
    python -m benchmarks.sequences --datasets GunPoint --seeds 1 --skip-peers
    python -m benchmarks.sequences --peer-epochs 200     # peers shorter (labelled: not default)
    python -m benchmarks.sequences --flags "--epochs 200 --batch-size 16"  # exploratory
    python -m benchmarks.sequences --redraw              # md, png, README from the json
    python -m benchmarks.sequences --quick --output-dir /tmp/seq   # seconds: does it run?
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import _common

NAME = "sequences"
README = _common.ROOT / "README.md"
DATASETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels")
MODELS = ("lstm", "gru", "fcn1d", "resnet1d")
SEEDS = 3
PEER_SEEDS = 1
QUICK_DATASET = "ItalyPowerDemand"
QUICK_EPOCHS = 2
# sktime's Keras classifiers (sktime.classification.deep_learning) and the
# zoo architecture each implements.
PEERS = {"fcn1d": "FCNClassifier", "resnet1d": "ResNetClassifier"}

# Ismail Fawaz, Forestier, Weber, Idoumghar & Muller (2019), "Deep learning for
# time series classification: a review": mean test accuracy (%) and its standard
# deviation over 10 runs, per set and architecture, as published in the authors'
# repository github.com/hfawaz/dl-4-tsc (commit eb2953eed95bc74dabf4ea61794dc16e5f6f8f1f):
#   results/results-uea-avg-std.csv  (UCR/UEA 2015 archive; rows "Gun_Point",
#                                     "ItalyPowerDemand", "ArrowHead", "OSULeaf")
#   results/results-mts-avg-std.csv  (Baydogan's MTS archive; row "JapaneseVowels")
# columns FCN and ResNet (cells "mean(std)"). Their FCN trained 2,000 epochs
# (batch min(16, N/10)), their ResNet 1,500 (batch min(64, N/10)), Adam with
# ReduceLROnPlateau on the training loss (classifiers/fcn.py, resnet.py). They
# report no LSTM or GRU: those cells say "not published".
PUBLISHED_SOURCE = ("hfawaz/dl-4-tsc, results/results-uea-avg-std.csv (UCR/UEA) and "
                    "results/results-mts-avg-std.csv (JapaneseVowels)")
PUBLISHED = {
    ("GunPoint", "fcn1d"): (100.0, 0.0),
    ("GunPoint", "resnet1d"): (99.1, 0.7),
    ("ItalyPowerDemand", "fcn1d"): (96.1, 0.3),
    ("ItalyPowerDemand", "resnet1d"): (96.3, 0.4),
    ("JapaneseVowels", "fcn1d"): (99.3, 0.2),
    ("JapaneseVowels", "resnet1d"): (99.2, 0.3),
    ("ArrowHead", "fcn1d"): (84.3, 1.5),
    ("ArrowHead", "resnet1d"): (84.5, 1.2),
    ("OSULeaf", "fcn1d"): (97.7, 0.9),
    ("OSULeaf", "resnet1d"): (97.9, 0.8),
}
PAPER_EPOCHS = {"fcn1d": 2000, "resnet1d": 1500}


# ## Pure helpers


def mean_spread(values) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1, as the paper's std over its
    runs; 0 for one value); `(nan, nan)` for none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def published(dataset: str, model: str) -> tuple[float, float] | None:
    """Fawaz et al.'s (mean, std) test accuracy in %, or `None` (not published)."""
    return PUBLISHED.get((dataset, model))


def goal(accuracy_percent: float, reference: tuple[float, float] | None) -> str:
    """'met' when the mean is within the published spread or better (at least
    the published mean minus its std), else 'not met (−x.x points)'."""
    if reference is None:
        return "not published"
    if accuracy_percent != accuracy_percent:
        return "–"
    mean, std = reference
    shortfall = mean - std - accuracy_percent
    if shortfall <= 1e-9:
        return "met"
    return f"not met (−{mean - accuracy_percent:.1f} points)"


def dataset_files(name: str) -> tuple[Path, Path]:
    """The `<name>_TRAIN.ts` and `_TEST.ts` files sktime's wheel ships (no network)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("The sequences benchmark reads the UCR/UEA sets shipped with "
                         "sktime: install it (pip install sktime).")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    files = folder / name / f"{name}_TRAIN.ts", folder / name / f"{name}_TEST.ts"
    if not all(path.is_file() for path in files):
        shipped = sorted(p.parent.name for p in folder.glob("*/*_TRAIN.ts"))
        raise ValueError(f"Invalid value for argument `datasets`: expected a set shipped "
                         f"with sktime ({', '.join(shipped)}). Received: datasets={name!r}")
    return files


def _percent(value: float) -> float:
    return 100.0 * value


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (dataset, kind, model, backend): accuracy (%), epochs and
    wall seconds as mean and std over the seeds that ran, the published figure
    and the goal; failed runs counted and their first error kept."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run["dataset"], run["kind"], run["model"], run.get("backend"))
        groups.setdefault(key, []).append(run)
    rows = []
    for (dataset, kind, model, backend), group in groups.items():
        ran = [r for r in group if r.get("error") is None]
        accuracy = mean_spread(_percent(r["test_accuracy"]) for r in ran)
        reference = published(dataset, model)
        row = {
            "dataset": dataset, "kind": kind, "model": model, "backend": backend,
            "peer": group[0].get("peer"), "runs": len(group), "ran": len(ran),
            "seeds": [r["seed"] for r in group],
            "accuracy": accuracy[0], "accuracy_std": accuracy[1],
            "epochs": mean_spread(r["epochs"] for r in ran)[0],
            "epochs_std": mean_spread(r["epochs"] for r in ran)[1],
            "wall_seconds": mean_spread(r["wall_seconds"] for r in ran)[0],
            "wall_seconds_std": mean_spread(r["wall_seconds"] for r in ran)[1],
            "published": list(reference) if reference else None,
            "goal": goal(accuracy[0], reference) if ran else "–",
            "error": next((r["error"] for r in group if r.get("error")), None),
        }
        if kind == "peer":
            row["peer_epochs"] = group[0].get("epochs_setting")
            row["peer_default_epochs"] = group[0].get("default_epochs")
        rows.append(row)
    return rows


def comparisons(summary: list[dict]) -> list[dict]:
    """Recipe against sktime's peer of the same architecture, per dataset:
    accuracies and the wall-time ratio peer / recipe (> 1: the recipe is faster)."""
    rows = []
    for peer in (r for r in summary if r["kind"] == "peer"):
        for recipe in (r for r in summary if r["kind"] == "recipe"
                       and r["dataset"] == peer["dataset"] and r["model"] == peer["model"]):
            ratio = None
            if peer["ran"] and recipe["ran"] and recipe["wall_seconds"] > 0:
                ratio = peer["wall_seconds"] / recipe["wall_seconds"]
            rows.append({"dataset": peer["dataset"], "model": peer["model"],
                         "peer": peer["peer"], "backend": recipe["backend"],
                         "recipe": recipe, "sktime": peer, "wall_ratio": ratio})
    return rows


# ## Tables


def _first_sentence(error: str | None) -> str:
    return (error or "").split(". ")[0].rstrip(".")


def _mean_cell(row: dict, key: str) -> str:
    """'mean ± std', or 'value (1 run)': one run has no spread."""
    if row["ran"] == 1:
        return f"{row[key]:.1f} (1 run)"
    return f"{row[key]:.1f} ± {row[key + '_std']:.1f}"


def _accuracy_cell(row: dict) -> str:
    if not row["ran"]:
        return f"did not run: {_first_sentence(row['error'])}"
    text = _mean_cell(row, "accuracy")
    if row["ran"] < row["runs"]:
        text += (f" ({row['runs'] - row['ran']} of {row['runs']} failed: "
                 f"{_first_sentence(row['error'])})")
    return text


def _published_cell(row: dict) -> str:
    if not row["published"]:
        return "not published"
    mean, std = row["published"]
    return f"{mean:.1f} ± {std:.1f} ({PAPER_EPOCHS[row['model']]:,} epochs)"


def _label(row: dict) -> str:
    if row["kind"] == "recipe":
        backend = f", `{row['backend']}`" if row.get("backend") else ""
        return f"`{row['model']}` (recipe{backend})"
    return f"sktime `{row['peer']}`"


def _epochs_cell(row: dict) -> str:
    if not row["ran"]:
        return "–"
    if row["kind"] == "peer":
        default = row.get("peer_default_epochs")
        if row.get("peer_epochs") not in (None, default):
            default = f"{default:,}" if default else "?"
            return f"{row['peer_epochs']:,} (`--peer-epochs`, not the default {default})"
        return f"{row['epochs']:,.0f} (default)"
    return f"{row['epochs']:.0f} ± {row['epochs_std']:.0f}"


def _wall_cell(row: dict) -> str:
    if not row["ran"]:
        return "–"
    return _mean_cell(row, "wall_seconds")


def accuracy_table(summary: list[dict]) -> str:
    rows = [[row["dataset"], _label(row), f"{row['ran']}", _accuracy_cell(row),
             _published_cell(row), row["goal"], _epochs_cell(row), _wall_cell(row)]
            for row in summary]
    return _common.table(
        ["set", "model", "runs", "test accuracy %", "Fawaz et al. 2019 %", "goal",
         "epochs", "wall s"], rows, "llrrrlrr")


def comparison_table(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        recipe, peer = row["recipe"], row["sktime"]
        ratio = "–" if row["wall_ratio"] is None else f"**{row['wall_ratio']:.1f}×**"
        lines.append([
            row["dataset"], f"`{row['model']}` / `{row['peer']}`",
            _accuracy_cell(recipe), _accuracy_cell(peer),
            _wall_cell(recipe), _wall_cell(peer), ratio])
    return _common.table(
        ["set", "recipe / sktime", "recipe accuracy %", "sktime accuracy %",
         "recipe wall s", "sktime wall s", "wall ratio (sktime / recipe)"],
        lines, "llrrrrr")


def _settings_text(settings: dict) -> str:
    used = settings.get("recipe_flags") or {}
    keys = ("epochs", "batch_size", "learning_rate", "schedule", "patience",
            "steps_per_execution")
    text = ", ".join(f"{k.replace('_', ' ')} {used[k]}" for k in keys if k in used)
    if settings.get("flags"):
        return (f"**Exploratory: recipe flags `{settings['flags']}` added to its "
                f"defaults** (as run: {text})")
    return f"the recipe's defaults (as its run.json records them: {text})"


def _peer_seeds_text(settings: dict) -> str:
    seeds = settings.get("peer_seeds", settings["seeds"])
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def markdown(data: dict) -> str:
    settings = data["settings"]
    lines = [
        "# Sequences: UCR/UEA sets, official splits",
        "",
        "`python -m benchmarks.sequences`. Each model trained by `python -m recipes.rnn "
        "--sequences X_TRAIN.ts --test-sequences X_TEST.ts --model M --seed S` with "
        f"{_settings_text(settings)}; 15% of the training file held out for validation "
        "and early stopping, the official test file scored once. Seeds "
        f"{', '.join(map(str, settings['seeds']))}; mean ± sample std over them. "
        "Wall time: the whole command, one run at a time (imports, data, on JAX a "
        "first run with an empty compile cache, training, evaluation, artifacts). "
        f"Published: Ismail Fawaz et al. 2019, mean ± std over 10 runs ({PUBLISHED_SOURCE}; "
        "FCN 2,000 and ResNet 1,500 epochs); goal: the recipe's mean within that spread "
        "or better. sktime: `FCNClassifier` / `ResNetClassifier` "
        "(`sktime.classification.deep_learning`, Keras on TensorFlow), "
        f"`random_state` = seed ({_peer_seeds_text(settings)}), each fit and scored in "
        "a process of its own, wall time of that whole process.",
        "",
        _common.describe(data["machine"], settings.get("backends_used")),
    ]
    if settings.get("quick"):
        lines += ["", f"**--quick**: {QUICK_EPOCHS} epochs; these figures check that "
                  "it runs, nothing more (runs two at a time)."]
    lines += ["", accuracy_table(data["summary"])]
    compared = comparisons(data["summary"])
    if compared:
        lines += ["", "## Against sktime's classifiers", "", comparison_table(compared)]
    lines += ["", f"![test accuracy against wall time]({NAME}.png)", "",
              "The figure: mean test accuracy against mean wall seconds per run (log "
              "scale), bars one std over the seeds; grey bands: the published mean ± std."]
    return "\n".join(lines)


def headline_rows(data: dict) -> list[list[str]]:
    """Rows for RESULTS.md's headline: per set, recipe against sktime's peer
    (wall seconds; the accuracies in the label)."""
    if data["settings"].get("quick") or data["settings"].get("flags"):
        return []
    rows = []
    for row in comparisons(data["summary"]):
        recipe, peer = row["recipe"], row["sktime"]
        if row["wall_ratio"] is None:
            continue
        epochs = f"{peer['peer_epochs']:,} epochs" if peer.get("peer_epochs") else "defaults"
        rows.append([
            f"{row['dataset']}: `{row['model']}` recipe vs sktime `{row['peer']}` "
            f"({epochs}), wall s (test accuracy {recipe['accuracy']:.1f}% vs "
            f"{peer['accuracy']:.1f}%)",
            f"{recipe['wall_seconds']:.1f}", f"{peer['wall_seconds']:.1f}",
            f"{row['wall_ratio']:.1f}×"])
    return rows


def readme_block(data: dict) -> str:
    return "\n".join([
        "Written by `python -m benchmarks.sequences` ("
        "[full results](benchmarks/results/sequences.md)): the rnn recipe's defaults on "
        "the UCR/UEA sets shipped with sktime, official splits, mean ± std over seeds "
        f"{', '.join(map(str, data['settings']['seeds']))}, against Ismail Fawaz et al.'s "
        "published accuracy (mean ± std over their 10 runs) and sktime's own Keras "
        f"classifiers at their defaults ({_peer_seeds_text(data['settings'])}) on the "
        f"same machine ({data['machine']['cpus']} CPU cores).",
        "",
        accuracy_table(data["summary"]),
        "",
        *([comparison_table(comparisons(data["summary"])), ""]
          if comparisons(data["summary"]) else []),
        f"![test accuracy against wall time](benchmarks/results/{NAME}.png)",
    ])


def rewrite_readme(text: str, data: dict) -> str | None:
    """README with its sequences block rewritten; `None` when it has no block."""
    return _common.rewrite_block(text, NAME, readme_block(data))


# ## The figure


def figure(data: dict, path: Path) -> None:
    """Test accuracy (mean, std bars) against wall seconds (log), a panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    summary = [r for r in data["summary"] if r["ran"]]
    datasets = list(dict.fromkeys(r["dataset"] for r in data["summary"]))
    colours = dict(zip(MODELS, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(7.5, 5.6 * len(datasets)), 5.2),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for row in (r for r in summary if r["dataset"] == dataset):
            recipe = row["kind"] == "recipe"
            ax.errorbar(row["wall_seconds"], row["accuracy"], xerr=row["wall_seconds_std"],
                        yerr=row["accuracy_std"], marker="o" if recipe else "s",
                        markerfacecolor=None if recipe else "white",
                        color=colours.get(row["model"], "black"), linestyle="none",
                        capsize=3, markersize=8,
                        label=f"{row['model']} (recipe)" if recipe
                        else f"sktime {row['peer']}")
        for model in ("fcn1d", "resnet1d"):
            reference = published(dataset, model)
            if reference:
                mean, std = reference
                ax.axhspan(mean - std, mean + std, color="grey", alpha=0.15)
                ax.axhline(mean, color=colours[model], linewidth=0.9, linestyle="--",
                           label=f"{model}: published mean")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel("wall seconds per run (log scale)")
        ax.set_ylabel("test accuracy %")
        ax.set_title(dataset)
        ax.grid(True, which="both", alpha=0.3)
    _common.save_panels(fig, axes[0], path, ncol=3, bottom=0.18, dpi=110)


# ## Measuring


def _environment(backend: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    if backend:
        env["KERAS_BACKEND"] = backend
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_common.ROOT),
                                                      env.get("PYTHONPATH")]))
    return env


def _failure(completed: subprocess.CompletedProcess) -> str:
    """The last meaningful line of a failed process's output: its error."""
    lines = [line.strip() for line in (completed.stderr or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"exit status {completed.returncode}"


def run_recipe(dataset: str, model: str, seed: int, backend: str | None, flags: list[str],
               workdir: Path) -> dict:
    """`python -m recipes.rnn --sequences ...` as a whole process: its metrics and wall time."""
    train, test = dataset_files(dataset)
    out = workdir / f"{dataset}-{model}-{backend or 'default'}-{seed}"
    command = [sys.executable, "-m", "recipes.rnn", "--sequences", str(train),
               "--test-sequences", str(test), "--model", model, "--seed", str(seed),
               "--quiet", "--output-dir", str(out), *flags,
               *(["--backend", backend] if backend else [])]
    env = _environment(None)
    env["JAX_COMPILATION_CACHE_DIR"] = str(out / "jax_cache")  # a first run: all compiled
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=_common.ROOT, env=env, capture_output=True,
                               text=True)
    wall = time.perf_counter() - started
    row = {"kind": "recipe", "dataset": dataset, "model": model, "seed": seed,
           "command": "python -m recipes.rnn " + shlex.join(command[3:]).replace(
               str(train.parent.parent), "<sktime data>"), "wall_seconds": round(wall, 2)}
    if completed.returncode != 0:
        row.update(error=_failure(completed), backend=backend)
        print(f"[{NAME}] {dataset} {model} seed {seed}: failed: {row['error']}", flush=True)
        return row
    metrics = json.loads((out / "rnn" / "metrics.json").read_text())
    info = json.loads((out / "rnn" / "run.json").read_text())
    row.update(test_accuracy=metrics["test_accuracy"], epochs=metrics["epochs_trained"],
               backend=info.get("backend", backend), flags=info.get("flags", {}), error=None)
    print(f"[{NAME}] {dataset} {model} ({row['backend']}) seed {seed}: test accuracy "
          f"{row['test_accuracy']:.3f}, {row['epochs']} epochs, {wall:.1f} s", flush=True)
    return row


def run_peer(dataset: str, model: str, seed: int, epochs: int | None, workdir: Path) -> dict:
    """sktime's classifier for `model`'s architecture, defaults (or `epochs`),
    fit and scored in a TensorFlow process of its own."""
    train, test = dataset_files(dataset)
    result = workdir / f"peer-{dataset}-{model}-{seed}.json"
    command = [sys.executable, "-m", "benchmarks.sequences", "--peer", PEERS[model],
               "--peer-data", str(train), str(test), "--peer-seed", str(seed),
               "--json", str(result), *(["--peer-epochs", str(epochs)] if epochs else [])]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=_common.ROOT, env=_environment("tensorflow"),
                               capture_output=True, text=True)
    wall = time.perf_counter() - started
    row = {"kind": "peer", "dataset": dataset, "model": model, "peer": PEERS[model],
           "seed": seed, "backend": "tensorflow", "wall_seconds": round(wall, 2),
           "epochs_setting": epochs}
    if result.is_file():
        row.update(json.loads(result.read_text()))
    else:
        row["error"] = _failure(completed)
    if row.get("error"):
        print(f"[{NAME}] {dataset} sktime {PEERS[model]} seed {seed}: did not run: "
              f"{row['error']}", flush=True)
    else:
        row["epochs_setting"] = row["epochs"]
        print(f"[{NAME}] {dataset} sktime {PEERS[model]} seed {seed}: test accuracy "
              f"{row['test_accuracy']:.3f}, {row['epochs']} epochs, {wall:.1f} s", flush=True)
    return row


def peer_worker(name: str, train: Path, test: Path, seed: int, epochs: int | None) -> dict:
    """In the peer's process: fit sktime's `name` on `train`, score `test`."""
    import numpy as np

    result: dict[str, Any] = {"error": None}
    try:
        from sktime.classification import deep_learning
        from sktime.datasets import load_from_tsfile

        estimator = getattr(deep_learning, name)
        result["default_epochs"] = inspect.signature(estimator).parameters["n_epochs"].default
        x_train, y_train = load_from_tsfile(str(train))
        x_test, y_test = load_from_tsfile(str(test))
        options = {"random_state": seed}
        if epochs:
            options["n_epochs"] = epochs
        classifier = estimator(**options)
        result["epochs"] = classifier.n_epochs
        result["batch_size"] = classifier.batch_size
        elapsed = _common.timer()
        classifier.fit(x_train, y_train)
        result["fit_seconds"] = round(elapsed(), 2)
        predicted = classifier.predict(x_test)
        result["test_accuracy"] = float(np.mean(np.asarray(predicted) == np.asarray(y_test)))
        import sktime

        result["sktime"] = sktime.__version__
    except Exception as error:  # noqa: BLE001 - recorded: the table says why it did not run
        message = str(error).strip().splitlines()
        result["error"] = f"{type(error).__name__}: {message[0] if message else ''}"[:300]
        result["traceback"] = traceback.format_exc()[-3000:]
    return result


# ## Main


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.set_defaults(backends=None)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS),
                        help=f"sets shipped with sktime (default: {' '.join(DATASETS)})")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seeds", type=int, default=SEEDS,
                        help=f"seeds 0..N-1 per model (default {SEEDS})")
    parser.add_argument("--peer-seeds", type=int, default=PEER_SEEDS,
                        help=f"seeds 0..N-1 per sktime classifier (default {PEER_SEEDS}: "
                             "at their default epochs one fit takes up to an hour)")
    parser.add_argument("--skip-peers", action="store_true",
                        help="no sktime classifiers")
    parser.add_argument("--peer-epochs", type=int, default=None, metavar="N",
                        help="sktime's classifiers train N epochs instead of their "
                             "defaults (2,000 / 1,500); the table says so")
    parser.add_argument("--flags", default="",
                        help="exploratory: extra recipe flags, e.g. \"--epochs 200 "
                             "--batch-size 16\" (the table says so; README is not rewritten)")
    parser.add_argument("--redraw", action="store_true",
                        help=f"rewrite {NAME}.md, .png (and README) from the saved {NAME}.json")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--peer-data", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--peer-seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("seeds", "peer_seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive count. "
                         f"Received: {getattr(args, name)}")
    if args.quick:
        args.datasets = [QUICK_DATASET] if args.datasets == list(DATASETS) else args.datasets[:1]
        args.seeds = args.peer_seeds = 1
        args.peer_epochs = args.peer_epochs or QUICK_EPOCHS
    return args


def _save(data: dict, output_dir: Path) -> None:
    data["figure"] = f"{NAME}.png"
    figure(data, Path(output_dir) / f"{NAME}.png")
    _common.save(NAME, output_dir, data, markdown(data))
    settings = data["settings"]
    default = Path(output_dir).resolve() == _common.RESULTS_DIR.resolve()
    # README quotes a full run with the recipe's and the peers' defaults only.
    full = (not settings.get("quick") and not settings.get("flags")
            and not settings.get("skip_peers") and settings.get("peer_epochs") is None
            and settings["datasets"] == list(DATASETS) and settings["models"] == list(MODELS))
    if default and full:
        from benchmarks import recipes as figures

        before = README.read_text()
        text = rewrite_readme(before, data)
        if text is None:
            print("README.md has no <!-- benchmarks-sequences:begin/end --> block: the "
                  "sequences section is not rewritten")
            text = before
        # The headline quotes these results too (benchmarks.recipes writes that block).
        text = figures.rewrite_headline(text)
        if text != before:
            README.write_text(text)
            print("Rewrote README's sequences block and performance block")


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.peer:  # internal: one sktime fit in this (TensorFlow) process
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        result = peer_worker(args.peer, *args.peer_data, args.peer_seed, args.peer_epochs)
        if args.json:
            args.json.write_text(json.dumps(result))
        return result
    if args.redraw:
        data = _common.load_json(NAME, args.output_dir)
        if data is None:
            raise SystemExit(f"--redraw: no {NAME}.json in {args.output_dir}")
        _save(data, args.output_dir)
        return data
    for dataset in args.datasets:
        dataset_files(dataset)  # a wrong name fails here, before any run
    flags = shlex.split(args.flags) + (["--epochs", str(QUICK_EPOCHS)] if args.quick else [])
    seeds = list(range(args.seeds))
    backends = args.backends or [None]  # None: the recipe's own default backend
    elapsed = _common.timer()
    info = _common.machine()
    jobs = []
    with tempfile.TemporaryDirectory(prefix="sequences-") as folder:
        workdir = Path(folder)
        for dataset in args.datasets:
            for model in args.models:
                for backend in backends:
                    jobs += [lambda d=dataset, m=model, s=seed, b=backend:
                             run_recipe(d, m, s, b, flags, workdir) for seed in seeds]
                if model in PEERS and not args.skip_peers:
                    jobs += [lambda d=dataset, m=model, s=seed:
                             run_peer(d, m, s, args.peer_epochs, workdir)
                             for seed in range(args.peer_seeds)]
        runs = _common.run_jobs(jobs, _common.QUICK_PROCESSES if args.quick else 1)
    info["load_average_end"] = _common.load_average()
    recipe_flags = next((r["flags"] for r in runs if r.get("flags")), {})
    data = {
        "machine": info,
        "settings": {
            "quick": args.quick, "datasets": args.datasets, "models": args.models,
            "seeds": seeds, "backends": args.backends,
            "backends_used": sorted({r["backend"] for r in runs
                                     if r["kind"] == "recipe" and r.get("backend")}),
            "flags": args.flags.strip(),
            "recipe_flags": {k: recipe_flags.get(k) for k in (
                "epochs", "batch_size", "learning_rate", "schedule", "patience",
                "steps_per_execution") if k in recipe_flags},
            "skip_peers": args.skip_peers, "peer_epochs": args.peer_epochs,
            "peer_seeds": list(range(args.peer_seeds)),
        },
        "published_source": PUBLISHED_SOURCE,
        "total_seconds": round(elapsed(), 1),
        "runs": runs,
        "summary": summarize(runs),
    }
    _save(data, args.output_dir)
    return data


if __name__ == "__main__":
    main()
