"""Whole command: each recipe's default run as a user waits for it, against a tutorial.

What a user waits for is the whole process, from the shell prompt to the
artifacts written: interpreter, imports, data, compilation, training,
evaluation, saving. For mlp, cnn, rnn and gmlp this times `python -m
recipes.<name>` (default flags, seed 0, bundled digits, a fresh output
folder) beside `python benchmarks/tutorials/<name>.py`, the tutorial-style
Keras script a user would otherwise copy (same digits split; it stops as
soon as its validation accuracy reaches its target, which favours it), as
whole processes, on TensorFlow and on JAX. Each round runs every command
once (per backend: recipe, its rerun, tutorial), the backends' order
alternating between rounds; the figures are medians over the rounds.

On JAX the recipe runs twice per round: "cold" (the first run on a
machine: XLA compiles every step, the round's fresh compile cache, standing
in for the user's `~/.keras/jax_cache`, is empty) and "rerun" (the same
command again into another output folder, as every later run on that
machine: it loads what the first run compiled). TensorFlow has no such
cache, so its reruns would only repeat the cold figure. Tutorials keep
Keras' defaults: no compile cache.

The ratios divide the tutorial's seconds on TensorFlow (Keras' default
backend: what a copied tutorial runs on) by the recipe's; the same-backend
ratio is there too. Test accuracy comes from each process's `metrics.json`.
CPU time lost to other tenants (steal, from /proc/stat) is reported.

`--quick` checks that it runs: one round, the recipes with `--smoke`, two
processes at a time (its timings are no results).

Run:
    python -m benchmarks.whole_command
    python -m benchmarks.whole_command --recipes mlp cnn --repeats 5  # others kept
"""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import _common

NAME = "whole_command"
TUTORIALS = _common.HERE / "tutorials"
RECIPES = ("mlp", "cnn", "rnn", "gmlp")
# The goal: the default command in at most half the tutorial's time.
GOAL = 2.0


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def _steal() -> tuple[int, int]:
    """(steal, total) CPU jiffies so far, or zeros where /proc/stat is absent."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def _command(kind: str, recipe: str, folder: Path, quick: bool) -> tuple[list[str], Path]:
    """The process for `kind` ("tutorial", or "recipe" and "rerun") and its run folder."""
    if kind == "tutorial":
        run = folder / "tutorial"
        return [sys.executable, str(TUTORIALS / f"{recipe}.py"), str(run)], run
    return [sys.executable, "-m", f"recipes.{recipe}", "--output-dir", str(folder / kind),
            "--quiet", *(["--smoke"] if quick else [])], folder / kind / recipe


def run_process(command: list[str], backend: str,
                compile_cache: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of one process; JAX's compile cache in `compile_cache`."""
    env = _common.worker_environment(backend)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if compile_cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(compile_cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = _common.timer()
    completed = subprocess.run(command, cwd=_common.ROOT, env=env, capture_output=True,
                               text=True)
    wall = elapsed()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} ({backend}) failed:\n"
                           f"{completed.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _variants(recipe: str, backends: list[str]) -> list[tuple[str, str]]:
    """(kind, backend) pairs timed for `recipe`: a rerun only where it differs."""
    result = []
    for backend in backends:
        result.append(("recipe", backend))
        if backend == "jax":
            result.append(("rerun", backend))
        result.append(("tutorial", backend))
    return result


def _round(recipe: str, variants, quick: bool) -> dict:
    """Every variant once; a rerun follows its cold run, with its compile cache.
    One process at a time; --quick, where timings are no results, a few (a
    rerun still after its cold run)."""
    times = {}
    with tempfile.TemporaryDirectory(prefix="whole-command-") as root:
        folders = {backend: Path(root) / backend for _, backend in variants}

        def measure(kind: str, backend: str) -> None:
            folder = folders[backend]
            command, run = _command(kind, recipe, folder, quick)
            cache = folder / "jax_cache" if kind != "tutorial" else None
            wall, cpu = run_process(command, backend, cache)
            metrics = json.loads((run / "metrics.json").read_text())
            print(f"[{NAME}] {recipe} {kind} {backend}: {wall:.1f} s, test accuracy "
                  f"{metrics.get('test_accuracy', float('nan')):.3f}", flush=True)
            times[f"{kind} {backend}"] = {
                "wall": wall, "cpu": cpu,
                "test_accuracy": metrics.get("test_accuracy"),
                "epochs": metrics.get("epochs_trained"),
            }

        def run_chain(chain: list[tuple[str, str]]) -> None:
            for kind, backend in chain:
                measure(kind, backend)

        chains: list[list[tuple[str, str]]] = []  # a rerun with its cold run
        for kind, backend in variants:
            if kind == "rerun" and chains:
                chains[-1].append((kind, backend))
            else:
                chains.append([(kind, backend)])
        _common.run_jobs([functools.partial(run_chain, chain) for chain in chains],
                         _common.QUICK_PROCESSES if quick else 1)
    return {f"{kind} {backend}": times[f"{kind} {backend}"] for kind, backend in variants}


def _rotated(items: list, shift: int) -> list:
    shift %= len(items)
    return items[shift:] + items[:shift]


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.worker:
        raise SystemExit("benchmarks.whole_command runs its processes itself: no --worker")
    info = _common.machine()
    steal_start = _steal()
    results = {}
    for recipe in args.recipes:
        print(f"[{NAME}] {recipe} ...", flush=True)
        variants = _variants(recipe, args.backends)
        rounds = []
        for repeat in range(args.repeats):
            # Rotate whole backend groups, so that a rerun still follows its cold run.
            groups = [[v for v in variants if v[1] == b] for b in args.backends]
            order = [v for group in _rotated(groups, repeat) for v in group]
            rounds.append(_round(recipe, order, args.quick))
        results[recipe] = {
            name: {
                "wall_median": _common.median([r[name]["wall"] for r in rounds]),
                "wall_range": [min(r[name]["wall"] for r in rounds),
                               max(r[name]["wall"] for r in rounds)],
                "cpu_median": _common.median([r[name]["cpu"] for r in rounds]),
                "test_accuracy": _common.median([r[name]["test_accuracy"] for r in rounds]),
                "epochs": _common.median([r[name]["epochs"] for r in rounds]),
            }
            for name in rounds[0]
        }
    steal_end = _steal()
    total = steal_end[1] - steal_start[1]
    info["steal_share"] = (steal_end[0] - steal_start[0]) / total if total else None
    info["load_average_end"] = _common.load_average()
    # Recipes not run this time keep their last results (and their machine note).
    previous = _common.load_json(NAME, args.output_dir) or {}
    kept = {name: entry for name, entry in previous.get("results", {}).items()
            if name not in results}
    data = {"machine": info, "repeats": args.repeats, "backends": args.backends,
            "default_backends": {name: default_backend(name) for name in {**kept, **results}},
            "results": {**kept, **results},
            "measured": {**previous.get("measured", {}),
                         **{name: info["date"] for name in results}}}
    _common.save(NAME, args.output_dir, data, markdown(data))
    return data


def default_backend(recipe: str) -> str:
    """The backend `python -m recipes.<recipe>` picks when nothing says otherwise."""
    from benchmarks import time_to_accuracy

    saved = os.environ.pop("KERAS_BACKEND", None)
    try:
        return time_to_accuracy.recipe_defaults(recipe).backend
    finally:
        if saved is not None:
            os.environ["KERAS_BACKEND"] = saved


def _ratio(tutorial: float, recipe: float) -> str:
    return f"{tutorial / recipe:.2f}×"


def markdown(data: dict) -> str:
    info = data["machine"]
    defaults = data["default_backends"]
    lines = [
        "# Whole command",
        "",
        "`python -m benchmarks.whole_command`. " + _common.describe(info, data["backends"]),
    ]
    if info.get("steal_share") is not None:
        lines[-1] += (f" Other tenants took {100 * info['steal_share']:.0f}% of the CPU "
                      "time during the runs (steal): absolute seconds are inflated; the "
                      "ratios come from alternating runs.")
    measured = data.get("measured", {})
    if len(set(measured.values())) > 1:
        lines[-1] += " Recipes measured at: " + ", ".join(
            f"`{name}` {when}" for name, when in measured.items()) + "."
    lines += [
        "",
        f"Each command as a whole process (interpreter to artifacts written), "
        f"{data['repeats']} rounds, the backends' order alternating; median wall seconds "
        "(range), CPU "
        "seconds, test accuracy. (default): the recipe's default backend. "
        "*cold*: the first run on the machine (an empty compile cache); *rerun*: the same "
        "command again into another output folder, as every later run (JAX loads the "
        "steps the first run compiled from the user's compile cache). Speed-up: the tutorial's "
        "seconds on TensorFlow (Keras' default backend) divided by the recipe's; "
        "in brackets against the tutorial on the recipe's backend.",
        "",
    ]
    rows, verdicts = [], []
    for recipe, entries in data["results"].items():
        default = defaults[recipe]
        reference = entries.get("tutorial tensorflow")
        for name, entry in entries.items():
            kind, backend = name.split()
            label = {"recipe": "recipe, cold", "rerun": "recipe, rerun",
                     "tutorial": "tutorial"}[kind]
            same = entries.get(f"tutorial {backend}")
            speedup = ""
            if kind != "tutorial" and reference:
                speedup = _ratio(reference["wall_median"], entry["wall_median"])
                if same and backend != "tensorflow":
                    speedup += f" ({_ratio(same['wall_median'], entry['wall_median'])})"
            low, high = entry["wall_range"]
            rows.append([
                f"`{recipe}`", label, f"`{backend}`" + (" (default)" if
                                                        kind != "tutorial" and backend == default
                                                        else ""),
                f"{entry['wall_median']:.1f} ({low:.1f}–{high:.1f})",
                f"{entry['cpu_median']:.1f}",
                f"{entry['test_accuracy']:.3f}", f"{entry['epochs']:g}", speedup,
            ])
        if reference and f"recipe {default}" in entries:
            best = min(entries[f"{k} {default}"]["wall_median"]
                       for k in ("recipe", "rerun") if f"{k} {default}" in entries)
            cold = entries[f"recipe {default}"]["wall_median"]
            accurate = (entries[f"recipe {default}"]["test_accuracy"]
                        >= reference["test_accuracy"])
            if reference["wall_median"] / cold >= GOAL:
                met = "met, the first run included"
            elif reference["wall_median"] / best >= GOAL:
                met = "met from the second run on, not by the first run"
            else:
                met = "not met"
            verdicts.append(
                f"- `{recipe}`: {_ratio(reference['wall_median'], cold)} cold, "
                f"{_ratio(reference['wall_median'], best)} at best, against the tutorial on "
                f"TensorFlow (goal {GOAL:g}×: {met}); "
                f"test accuracy {entries[f'recipe {default}']['test_accuracy']:.3f} against "
                f"{reference['test_accuracy']:.3f} "
                f"({'equal or better' if accurate else 'lower'})."
            )
    lines.append(_common.table(
        ["recipe", "command", "backend", "wall s", "CPU s", "test accuracy", "epochs",
         "speed-up"],
        rows, "lllrrrrr",
    ))
    if verdicts:
        lines += ["", *verdicts]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
