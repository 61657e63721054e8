"""Every recipe's default run, measured: the figures README's recipe table quotes.

Runs each recipe's default command (seed 0, the recipe's default backend,
which run.json records; `--backend` forces one; bundled data) as a
whole process, one after the other, reads the `metrics.json` it leaves and
times it from start to artifacts written. Writes `results/recipes.json` and
`results/recipes.md`, then rewrites, from those results, the result and
wall-time cells of README's recipe table and its performance block. So a
figure in README is always one this script measured (the recipes'
docstrings quote none: they point to README's table);
`tests/benchmarks/test_recipe_figures.py` checks that README matches the
results and that each run was measured on the backend it uses.

Run:
    python -m benchmarks.recipes                  # every run, about 10 minutes
    python -m benchmarks.recipes --only mlp cnn   # some recipes (others kept)
    python -m benchmarks.recipes --readme-only    # rewrite README from the results
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _common

NAME = "recipes"
README = _common.ROOT / "README.md"


@dataclasses.dataclass(frozen=True)
class Run:
    """One measured command: `python -m recipes.<recipe> <flags>`.

    `summary` is a `str.format` template over the run's metrics: the text
    README's table shows.
    """

    recipe: str
    flags: tuple[str, ...]
    summary: str

    @property
    def key(self) -> str:
        return " ".join((self.recipe, *self.flags))


RUNS = (
    Run("mlp", (), "digits test accuracy {test_accuracy:.3f}, {epochs_trained} epochs"),
    Run("autoencoder", (), "test MSE {test_mse:.4f} per pixel "
        "(always the mean digit: {test_mse_mean_sample:.3f})"),
    Run("denoising_autoencoder", (), "MSE of the noisy inputs {test_noisy_input_mse:.3f}, "
        "denoised {test_denoised_mse:.4f}"),
    Run("denoising_autoencoder", ("--model", "autoencoder"),
        "the same network trained on clean digits: denoised {test_denoised_mse:.4f}"),
    Run("conv_autoencoder", (), "test MSE {test_mse:.4f} per pixel "
        "(always the mean image: {test_mse_mean_image:.3f})"),
    Run("vae", (), "test negative ELBO {test_negative_elbo:.1f} nats per image "
        "({elbo_samples}-sample estimate) = reconstruction {test_reconstruction_loss:.1f} "
        "+ KL {test_kl_loss:.2f}"),
    Run("cnn", (), "digits test accuracy {test_accuracy:.3f}, {epochs_trained} epochs"),
    Run("cnn", ("--augmentation", "translation"),
        "with translation: {test_accuracy:.3f}"),
    Run("cnn", ("--augmentation", "rotation", "translation", "zoom"),
        "with rotation, translation and zoom: {test_accuracy:.3f}"),
    Run("cnn", ("--tta", "8"), "test accuracy {test_accuracy:.3f}; averaged over 8 "
        "augmented copies (test-time augmentation) {test_accuracy_tta:.3f}"),
    Run("rnn", (), "digit rows, LSTM: test accuracy {test_accuracy:.3f}"),
    Run("rnn", ("--cell", "gru"), "digit rows, GRU: test accuracy {test_accuracy:.3f}"),
    Run("rnn", ("--task", "forecast"), "sunspots forecast: test MAE {test_mae:.1f} "
        "(naive last value: {naive_mae:.1f})"),
    Run("gmlp", (), "digits test accuracy {test_accuracy:.3f}, {epochs_trained} epochs"),
    Run("siamese", (), "test pair accuracy {test_pair_accuracy:.3f}, "
        "ROC AUC {test_roc_auc:.3f}"),
    Run("siamese", ("--distance", "cosine", "--margin", "0.5"),
        "test pair accuracy {test_pair_accuracy:.3f}, ROC AUC {test_roc_auc:.3f}"),
    Run("transfer_learning", (), "test accuracy on 5-9 from 10 examples per class: "
        "feature extraction {feature_extraction_test_accuracy:.3f}, fine-tuning "
        "{fine_tuning_test_accuracy:.3f}, from scratch {from_scratch_test_accuracy:.3f}"),
    Run("transfer_learning", ("--global-pooling", "avg"),
        "feature extraction {feature_extraction_test_accuracy:.3f}"),
    Run("transfer_learning", ("--examples-per-class", "50"),
        "50 examples per class: fine-tuning {fine_tuning_test_accuracy:.3f}, "
        "from scratch {from_scratch_test_accuracy:.3f}"),
    Run("lr_finder", (), "valley suggestion {suggested_lr_valley:.1e}; "
        "test accuracy {test_accuracy:.3f}"),
    Run("sgdr", (), "CNN, {cycles_completed} restart cycles; test accuracy {test_accuracy:.3f}"),
    Run("snapshot_ensemble", (), "final model {test_accuracy:.3f}, ensemble of the "
        "5 snapshots {ensemble_test_accuracy:.3f}"),
    Run("snapshot_ensemble", ("--swa", "--model", "cnn"), "cnn: final model {test_accuracy:.3f}, "
        "ensemble {ensemble_test_accuracy:.3f}, SWA of the snapshots {swa_test_accuracy:.3f}"),
)


def summary(run: Run, metrics: dict) -> str:
    return run.summary.format(**metrics)


def seconds(value: float) -> str:
    return f"~{value:.0f} s"


# ## Measuring


def measure(run: Run, workdir: Path, backend: str | None = None) -> dict:
    """Runs one default command in a fresh process (its own default backend
    unless `backend`); its metrics, backend and wall time."""
    out = workdir / run.key.replace(" ", "_")
    command = [sys.executable, "-m", f"recipes.{run.recipe}", *run.flags,
               "--quiet", "--seed", "0", "--output-dir", str(out),
               *(["--backend", backend] if backend else [])]
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["JAX_COMPILATION_CACHE_DIR"] = str(out / "jax_cache")  # a first run: all compiled
    started = time.perf_counter()
    result = subprocess.run(command, cwd=_common.ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    metrics = json.loads((out / run.recipe / "metrics.json").read_text())
    used = json.loads((out / run.recipe / "run.json").read_text())["backend"]
    print(f"[recipes] {run.key} ({used}): {summary(run, metrics)}; {wall:.1f} s", flush=True)
    return {"command": f"python -m recipes.{run.key}", "metrics": metrics,
            "backend": used, "wall_seconds": round(wall, 2)}


def markdown(results: dict) -> str:
    rows = [
        [f"`{entry['command']}`", f"`{entry.get('backend', 'tensorflow')}`",
         summary(run_of(key), entry["metrics"]), f"{entry['wall_seconds']:.0f}"]
        for key, entry in results["runs"].items()
    ]
    return "\n".join([
        "# Recipe default runs",
        "",
        "Each recipe's default command, seed 0, on its default backend, bundled data, "
        "run one at a time as a whole process (wall time from start to artifacts "
        "written, the backend's import included; on JAX a first run with an empty "
        "compile cache, so every step is compiled). Written by `python -m "
        "benchmarks.recipes`; README's recipe table quotes these figures.",
        "",
        _common.describe(results["machine"],
                         sorted({entry.get("backend", "tensorflow")
                                 for entry in results["runs"].values()})),
        "",
        _common.table(["command", "backend", "result", "wall s"], rows, "lllr"),
    ])


def run_of(key: str) -> Run:
    return next(run for run in RUNS if run.key == key)


# ## The documents


def readme_cells(results: dict) -> dict[str, tuple[str, str]]:
    """Recipe name -> (result cell, wall-time cell) of README's table."""
    cells: dict[str, tuple[list[str], list[str]]] = {}
    for key, entry in results["runs"].items():
        run = run_of(key)
        texts, times = cells.setdefault(run.recipe, ([], []))
        flags = f"`{' '.join(run.flags)}`: " if run.flags else ""
        texts.append(flags + summary(run, entry["metrics"]))
        times.append(seconds(entry["wall_seconds"]))
    return {name: ("; ".join(texts), " / ".join(times)) for name, (texts, times) in cells.items()}


def rewrite_readme(text: str, cells: dict[str, tuple[str, str]]) -> str:
    lines = []
    for line in text.splitlines():
        match = re.match(r"\| `(\w+)` \|", line)
        cell = line.split(" | ")
        if match and match.group(1) in cells and len(cell) == 5:
            result, wall = cells[match.group(1)]
            line = " | ".join(cell[:3] + [result, wall + " |"])
        lines.append(line)
    return "\n".join(lines) + "\n"


HEADLINE = re.compile(
    r"(<!-- benchmarks-headline:begin -->\n).*?(<!-- benchmarks-headline:end -->)", re.S
)


def rewrite_headline(text: str, results_dir: Path = _common.RESULTS_DIR) -> str:
    """README's performance block: the headline table of benchmarks/RESULTS.md."""
    lines = [line for line in _common.headline(results_dir) if not line.startswith("#")]
    block = "\n".join(lines).strip()
    return HEADLINE.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text, count=1)


def write_readme(results: dict) -> None:
    text = rewrite_readme(README.read_text(), readme_cells(results))
    README.write_text(rewrite_headline(text))
    print("Rewrote README's recipe table and performance block")


# ## Main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipes",
                                     description=__doc__.splitlines()[0])
    recipes = sorted({run.recipe for run in RUNS})
    parser.add_argument("--only", nargs="+", choices=recipes, default=recipes)
    parser.add_argument("--readme-only", action="store_true",
                        help="rewrite README from the saved results; measure nothing")
    parser.add_argument("--output-dir", type=Path, default=_common.RESULTS_DIR)
    parser.add_argument("--backend", choices=_common.ALL_BACKENDS, default=None,
                        help="force one backend (default: each recipe's own)")
    args = parser.parse_args(argv)
    results = _common.load_json(NAME, args.output_dir) or {"runs": {}}
    results.pop("backend", None)  # each run records its own
    results.pop("fingerprints", None)  # older results fingerprinted the recipes' code
    if not args.readme_only:
        results["machine"] = _common.machine()
        with tempfile.TemporaryDirectory(prefix="recipe-runs-") as workdir:
            for run in RUNS:
                if run.recipe in args.only:
                    results["runs"][run.key] = measure(run, Path(workdir), args.backend)
        # In RUNS order, whatever was measured when.
        results["machine"]["load_average_end"] = _common.load_average()
        results["runs"] = {run.key: results["runs"][run.key]
                           for run in RUNS if run.key in results["runs"]}
        _common.save(NAME, args.output_dir, results, markdown(results))
    if args.output_dir.resolve() == _common.RESULTS_DIR.resolve():
        write_readme(results)
    return results


if __name__ == "__main__":
    main()
