"""Search: random, Hyperband and Bayesian search on the same space and epoch budget.

`python -m recipes.tune --model mlp` on the bundled digits, once per searcher
and seed, each search a process of its own, one at a time:

- `hyperband`: `--max-epochs 9 --factor 3`; its budget is the epochs its
  trials train (a trial that continues another trains from
  `initial_epoch` to `epochs`), read back from its `results.csv`.
- `random` and `bayesian`: `--epochs 9` per trial and as many trials as
  fit in that budget (`budget // 9`, at least 2); Bayesian optimisation
  after `--initial-points 3` random trials (keras-tuner's default, 3 per
  hyperparameter, would leave every trial of this budget random).

Early stopping is off (`--patience` = the most epochs a model trains), so a
trial trains exactly its epochs and the budgets are equal. Reported per
searcher: the best validation accuracy (mean ± std over the seeds), trials,
epochs spent and wall time (the whole process), and in the figure the best
validation accuracy so far against epochs spent and against the seconds
the trials took (`run.json`'s `elapsed_seconds`, in trial order).

Writes `results/search.json`, `.md` and `.png`; in the default folder,
RESULTS.md and README's search block (between `<!-- benchmarks-search:begin -->`
and `<!-- benchmarks-search:end -->`).

Run:
    python -m benchmarks.search              # 3 searchers x 3 seeds: ~20 minutes on 2 cores
    python -m benchmarks.search --seeds 1 --max-epochs 3
    python -m benchmarks.search --redraw     # md and png from the json
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _common

NAME = "search"
README = _common.ROOT / "README.md"
SEARCHERS = ("random", "hyperband", "bayesian")
MODEL = "mlp"
MAX_EPOCHS = 9
FACTOR = 3
SEEDS = 3
INITIAL_POINTS = 3
OBJECTIVE = "val_accuracy"


# ## Pure helpers


def trials(results: list[dict], epochs_per_trial: int | None) -> list[dict]:
    """A search's completed trials in the order they ran (trial ids count
    up), each with the epochs it trained: Hyperband's `epochs -
    initial_epoch`, else `epochs_per_trial`."""
    done = [row for row in results if row.get("status") == "COMPLETED"]
    done.sort(key=lambda row: int(row["trial_id"]))
    for row in done:
        if epochs_per_trial is None:
            row["trained_epochs"] = int(row["epochs"]) - int(row["initial_epoch"])
        else:
            row["trained_epochs"] = epochs_per_trial
    return done


def budget_trials(hyperband_epochs: int, epochs_per_trial: int) -> int:
    """Trials of `epochs_per_trial` that fit in Hyperband's epochs (at least 2).

    >>> budget_trials(75, 9)
    8
    >>> budget_trials(5, 9)
    2
    """
    return max(2, hyperband_epochs // epochs_per_trial)


def curve(trial_rows: list[dict]) -> dict[str, list[float]]:
    """Best score so far against cumulative epochs and trial seconds."""
    epochs, seconds, best = [], [], []
    spent, elapsed, top = 0, 0.0, -math.inf
    for row in trial_rows:
        spent += row["trained_epochs"]
        elapsed += float(row["elapsed_seconds"])
        top = max(top, float(row["score"]))
        epochs.append(spent)
        seconds.append(round(elapsed, 3))
        best.append(top)
    return {"epochs": epochs, "seconds": seconds, "best": best}


def mean_std(values) -> tuple[float, float]:
    values = [float(v) for v in values]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(runs: list[dict]) -> list[dict]:
    """One row per searcher: best score, trials, epochs and wall seconds
    (mean, std over the seeds that ran)."""
    rows = []
    for searcher in SEARCHERS:
        group = [run for run in runs if run["searcher"] == searcher]
        if not group:
            continue
        ran = [run for run in group if run.get("error") is None]
        row = {"searcher": searcher, "runs": len(group), "ran": len(ran),
               "error": next((run["error"] for run in group if run.get("error")), None)}
        for key in ("best_score", "trials", "epochs", "wall_seconds"):
            row[key], row[key + "_std"] = mean_std(run[key] for run in ran)
        rows.append(row)
    return rows


# ## Tables and the figure


def _cell(row: dict, key: str, digits: int) -> str:
    if not row["ran"]:
        return "–"
    return f"{row[key]:.{digits}f} ± {row[key + '_std']:.{digits}f}"


def summary_table(data: dict) -> str:
    settings = data["settings"]
    rows = [[f"`{row['searcher']}`", f"{row['ran']}",
             _cell(row, "best_score", 4) if row["ran"] else f"did not run: {row['error']}",
             _cell(row, "trials", 1), _cell(row, "epochs", 1), _cell(row, "wall_seconds", 1)]
            for row in data["summary"]]
    return _common.table(["searcher", "seeds", f"best {settings['objective']}", "trials",
                          "epochs spent", "wall s"], rows, "lrrrrr")


def readme_block(data: dict) -> str:
    settings = data["settings"]
    return "\n".join([
        f"Written by `python -m benchmarks.search` ([full results](benchmarks/results/"
        f"{NAME}.md)): `--model {settings['model']}` on the digits, Hyperband "
        f"`--max-epochs {settings['max_epochs']} --factor {settings['factor']}`, random and "
        "Bayesian given the whole trials that fit in Hyperband's epochs, no early stopping, "
        "mean ± std over seeds "
        f"{', '.join(map(str, settings['seeds']))} ({data['machine']['cpus']} CPU cores).",
        "",
        summary_table(data),
        "",
        f"![best score so far against epochs and seconds](benchmarks/results/{NAME}.png)",
    ])


def markdown(data: dict) -> str:
    settings = data["settings"]
    return "\n".join([
        "# Search: random, Hyperband and Bayesian on one budget",
        "",
        f"`python -m benchmarks.search`. `python -m recipes.tune --model {settings['model']}` "
        f"on the bundled digits, seeds {', '.join(map(str, settings['seeds']))}: Hyperband "
        f"with `--max-epochs {settings['max_epochs']} --factor {settings['factor']}`; random "
        f"and Bayesian (`--initial-points {settings['initial_points']}`) with "
        f"`--epochs {settings['max_epochs']}` per trial and the trials that fit in the epochs "
        "Hyperband spent with the same seed. Early stopping off, so every trial trains its "
        f"epochs. Score: the best trial's {settings['objective']} (mean ± std over the "
        "seeds); wall: the whole `recipes.tune` process.",
        "",
        _common.describe(data["machine"], settings.get("backends_used")),
        "",
        summary_table(data),
        "",
        f"![best score so far against epochs and seconds]({NAME}.png)",
        "",
        "The figure: each search's best validation accuracy so far, against the epochs "
        "its trials trained (left) and the seconds they took (right), one line per seed.",
    ])


def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(SEARCHERS, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), squeeze=False)
    for run in (r for r in data["runs"] if r.get("error") is None):
        label = run["searcher"] if run["seed"] == data["settings"]["seeds"][0] else None
        for ax, x in zip(axes[0], ("epochs", "seconds")):
            ax.step(run["curve"][x], run["curve"]["best"], where="post", alpha=0.8,
                    color=colours[run["searcher"]], label=label)
    for ax, label in zip(axes[0], ("epochs spent", "seconds of training")):
        ax.set_xlabel(label)
        ax.set_ylabel(f"best {data['settings']['objective']} so far")
        ax.grid(True, alpha=0.3)
    _common.save_panels(fig, axes[0], path, ncol=3, bottom=0.1, dpi=110)


# ## Measuring


def run_search(searcher: str, seed: int, workdir: Path, *, backend: str, max_epochs: int,
               factor: int, max_trials: int | None, initial_points: int) -> dict:
    """One `recipes.tune` search as a process: its trials, budget and wall time."""
    directory = workdir / f"{searcher}-{seed}"
    command = [sys.executable, "-m", "recipes.tune", "--model", MODEL, "--search", searcher,
               "--seed", str(seed), "--backend", backend, "--quiet",
               "--directory", str(directory),
               "--objective", OBJECTIVE, "--patience", str(max_epochs)]
    if searcher == "hyperband":
        command += ["--max-epochs", str(max_epochs), "--factor", str(factor)]
    else:
        command += ["--epochs", str(max_epochs), "--max-trials", str(max_trials)]
    if searcher == "bayesian":
        command += ["--initial-points", str(initial_points)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=_common.ROOT, capture_output=True, text=True,
                               env=_common.worker_environment(backend))
    wall = time.perf_counter() - started
    row = {"searcher": searcher, "seed": seed, "wall_seconds": round(wall, 2),
           "command": "python -m recipes.tune " + " ".join(command[3:]).replace(
               str(workdir), "<tmp>")}
    results_file = directory / MODEL / "results.csv"
    if completed.returncode != 0 or not results_file.is_file():
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        row["error"] = lines[-1][:300] if lines else f"exit status {completed.returncode}"
        print(f"[{NAME}] {searcher} seed {seed}: failed: {row['error']}", flush=True)
        return row
    import pandas as pd

    frame = pd.read_csv(results_file, dtype={"trial_id": str})
    done = trials(frame.to_dict("records"), None if searcher == "hyperband" else max_epochs)
    row.update(error=None, trials=len(done), epochs=sum(r["trained_epochs"] for r in done),
               best_score=max(float(r["score"]) for r in done), curve=curve(done),
               backend=backend)
    print(f"[{NAME}] {searcher} seed {seed}: best {OBJECTIVE} {row['best_score']:.4f}, "
          f"{row['trials']} trials, {row['epochs']} epochs, {wall:.1f} s", flush=True)
    return row


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"default {SEEDS}")
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS,
                        help=f"the most epochs one model trains (default {MAX_EPOCHS})")
    parser.add_argument("--factor", type=int, default=FACTOR)
    parser.add_argument("--redraw", action="store_true",
                        help=f"rewrite {NAME}.md and .png from the saved {NAME}.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.max_epochs = 1, 2
    for name in ("seeds", "max_epochs", "factor"):
        if getattr(args, name) < (2 if name == "factor" else 1):
            parser.error(f"--{name.replace('_', '-')}: too small. "
                         f"Received: {getattr(args, name)}")
    return args


def _save(data: dict, output_dir: Path) -> None:
    figure(data, Path(output_dir) / f"{NAME}.png")
    _common.save(NAME, output_dir, data, markdown(data))
    settings = data["settings"]
    default = Path(output_dir).resolve() == _common.RESULTS_DIR.resolve()
    # README quotes a full run with the benchmark's defaults only.
    full = (not settings["quick"] and len(settings["seeds"]) == SEEDS
            and (settings["max_epochs"], settings["factor"]) == (MAX_EPOCHS, FACTOR))
    if default and full:
        before = README.read_text()
        text = _common.rewrite_block(before, NAME, readme_block(data))
        if text is None:
            print(f"README.md has no <!-- benchmarks-{NAME}:begin/end --> block")
        elif text != before:
            README.write_text(text)
            print(f"Rewrote README's {NAME} block")


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.redraw:
        data = _common.load_json(NAME, args.output_dir)
        if data is None:
            raise SystemExit(f"--redraw: no {NAME}.json in {args.output_dir}")
        _save(data, args.output_dir)
        return data
    info, elapsed = _common.machine(), _common.timer()
    runs = []
    # recipes.tune's own default backend (TensorFlow) unless --backends names one.
    options = {"backend": args.backends[0], "max_epochs": args.max_epochs,
               "factor": args.factor, "initial_points": INITIAL_POINTS}
    with tempfile.TemporaryDirectory(prefix="search-") as folder:
        for seed in range(args.seeds):
            hyperband = run_search("hyperband", seed, Path(folder), max_trials=None, **options)
            runs.append(hyperband)
            if hyperband.get("error"):
                continue
            count = budget_trials(hyperband["epochs"], args.max_epochs)
            for searcher in ("random", "bayesian"):
                runs.append(run_search(searcher, seed, Path(folder), max_trials=count,
                                       **options))
    info["load_average_end"] = _common.load_average()
    data = {
        "machine": info,
        "settings": {"model": MODEL, "seeds": list(range(args.seeds)),
                     "max_epochs": args.max_epochs, "factor": args.factor,
                     "initial_points": INITIAL_POINTS, "objective": OBJECTIVE,
                     "quick": args.quick,
                     "backends_used": sorted({r["backend"] for r in runs if r.get("backend")})},
        "total_seconds": round(elapsed(), 1),
        "runs": runs,
        "summary": summarize(runs),
    }
    _save(data, args.output_dir)
    return data


if __name__ == "__main__":
    main()
