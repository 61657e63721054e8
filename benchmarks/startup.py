"""Start-up: how long the CLI and the heavy imports take, in fresh processes.

Times `python -m recipes` (the listing) and `python -m recipes.mlp --help`
as a user sees them (wall time of the whole process, interpreter start
included; `python -c pass` alongside for scale), and the import time of
TensorFlow, Keras on each backend and JAX (measured inside the process
around the import). The recipes do a plain `import keras`, so the Keras
figures are what a recipe's start pays for it. Every command runs once
untimed (disk cache), then in rounds in rotating order; the figures are
medians over the rounds. Also checks that the listing and --help import
neither TensorFlow nor Keras.

Goal (issue 7): the listing answers in under 0.5 s.

Run:
    python -m benchmarks.startup
    python -m benchmarks.startup --repeats 11
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks import _common

NAME = "startup"

# Process -> (argv after the interpreter, KERAS_BACKEND or None). The
# import processes import the backend, then Keras, and print both times.
PROCESSES = {
    "python -c pass": (["-c", "pass"], None),
    "listing": (["-m", "recipes"], None),
    "help": (["-m", "recipes.mlp", "--help"], None),
    "tensorflow": (["import tensorflow", "import keras"], "tensorflow"),
    "jax": (["import jax", "import keras"], "jax"),
}
# Figure -> (process, what); what is "wall" (the whole process, as a user
# waits for it) or the index of the import timed inside the process (the
# Keras figure includes its backend's import before it).
FIGURES = {
    "python -c pass": ("python -c pass", "wall"),
    "listing": ("listing", "wall"),
    "help": ("help", "wall"),
    "import tensorflow": ("tensorflow", 0),
    "import keras (tensorflow)": ("tensorflow", 1),
    "import jax": ("jax", 0),
    "import keras (jax)": ("jax", 1),
}
LABELS = {
    "python -c pass": "`python -c pass` (interpreter alone)",
    "listing": "`python -m recipes` (the listing)",
    "help": "`python -m recipes.mlp --help`",
    "import tensorflow": "`import tensorflow`",
    "import keras (tensorflow)": "`import keras`, TensorFlow backend (TF included)",
    "import jax": "`import jax`",
    "import keras (jax)": "`import keras`, JAX backend (JAX included)",
}
HEAVY = ("tensorflow", "keras", "jax")

# Runs statements and prints the seconds from the start to the end of each.
_TIMED = (
    "import time\n"
    "start, ends = time.perf_counter(), []\n"
    "for statement in {!r}:\n"
    "    exec(statement)\n"
    "    ends.append(time.perf_counter() - start)\n"
    "print(*ends)\n"
)
# Runs a module as __main__ and reports which heavy packages it imported.
_PROBE = (
    "import runpy, sys, io, contextlib\n"
    "sys.argv = {argv!r}\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    try:\n"
    "        runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    "    except SystemExit:\n"
    "        pass\n"
    "print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
)


def _parse(argv):
    return _common.parse_with_repeats(__doc__, argv)


def _run(name: str) -> list[float]:
    """Wall seconds of the process, then the cumulative import times inside it."""
    argv, backend = PROCESSES[name]
    env = _common.worker_environment(backend or "tensorflow")
    if backend is None:
        env.pop("KERAS_BACKEND", None)
    else:
        argv = ["-c", _TIMED.format(argv)]
    elapsed = _common.timer()
    completed = subprocess.run(
        [sys.executable, *argv], cwd=_common.ROOT, env=env,
        capture_output=True, text=True,
    )
    wall = elapsed()
    if completed.returncode != 0:
        raise RuntimeError(f"{name!r} failed:\n{completed.stderr[-2000:]}")
    if backend is None:
        return [wall]
    return [wall] + [float(t) for t in completed.stdout.split()]


def _heavy_imports(module: str, argv: list[str]) -> list[str]:
    code = _PROBE.format(argv=argv, module=module, heavy=HEAVY)
    env = _common.worker_environment("tensorflow")
    env.pop("KERAS_BACKEND", None)
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=_common.ROOT, env=env,
        capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"probe of {module} failed:\n{completed.stderr[-2000:]}")
    output = completed.stdout.strip().splitlines()
    return [m for m in (output[-1] if output else "").split(",") if m]


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    info = _common.machine()
    # --quick leaves out the (slow) import timings; --backends picks which.
    names = [
        name for name, (_, backend) in PROCESSES.items()
        if backend is None or (not args.quick and backend in args.backends)
    ]
    for name in names:  # untimed: fills the disk cache
        _run(name)
    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_run(name))
    times = {
        figure: [run[0] if what == "wall" else run[1 + what] for run in runs[process]]
        for figure, (process, what) in FIGURES.items()
        if process in runs
    }
    imports = {
        "listing": _heavy_imports("recipes", ["recipes"]),
        "help": _heavy_imports("recipes.mlp", ["recipes.mlp", "--help"]),
    }
    info["load_average_end"] = _common.load_average()
    figures = {
        name: {"median": _common.median(values), "min": min(values),
               "max": max(values), "runs": values}
        for name, values in times.items()
    }
    data = {
        "machine": info,
        "repeats": args.repeats,
        "figures": figures,
        "heavy_imports": imports,
    }
    _common.save(NAME, args.output_dir, data, _markdown(data))
    return data


def _markdown(data: dict) -> str:
    figures = data["figures"]
    rows = []
    for name, figure in figures.items():
        if name not in FIGURES:  # a figure an older version measured
            continue
        wall = FIGURES[name][1] == "wall"
        what = "whole process" if wall else "import, inside the process"
        rows.append([
            LABELS[name], what, f"{figure['median']:.3f}",
            f"{figure['min']:.3f}–{figure['max']:.3f}",
        ])
    imported = data["heavy_imports"]
    listing = figures.get("listing", {}).get("median")
    verdict = (
        f"**Goal met**: the listing answers in {listing:.2f} s (goal < 0.5 s)."
        if listing is not None and listing < 0.5
        else f"**Goal missed**: the listing takes {listing:.2f} s (goal < 0.5 s)."
    )

    def names(found):
        return ", ".join(found) if found else "none of TensorFlow, Keras, JAX"

    return "\n".join([
        "# Start-up",
        "",
        "`python -m benchmarks.startup`. " + _common.describe(data["machine"]),
        "",
        f"Each command in a fresh process, once untimed (disk cache), then "
        f"{data['repeats']} rounds in rotating order; seconds, median and range.",
        "",
        _common.table(["command", "timed", "median s", "range s"], rows, "llrr"),
        "",
        verdict,
        f"Heavy packages imported by the listing: {names(imported['listing'])}; "
        f"by `--help`: {names(imported['help'])}. (TensorFlow imports Keras "
        "during its own import, so the two TensorFlow figures are nearly equal.)",
    ])


if __name__ == "__main__":
    main()
