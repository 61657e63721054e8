"""Plumbing shared by the benchmarks: machine description, workers, results files.

Nothing here imports Keras. A process has one Keras backend for life, so each
benchmark measures a backend in a worker: a fresh `python -m benchmarks.<name>
--worker --backend B` process, or this process when Keras is already imported
with backend B (as under pytest). Workers hand back JSON; the parent writes
`benchmarks/results/<name>.md` and `<name>.json`, then `benchmarks/RESULTS.md`
from every results file present.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
RESULTS_FILE = HERE / "RESULTS.md"
BACKENDS = ("tensorflow", "jax")  # what `--backends` measures by default
# ... and what it may name: torch where it is installed (requirements-torch.txt).
ALL_BACKENDS = (*BACKENDS, "torch")
# Order of the sections in RESULTS.md.
SECTIONS = ("recipes", "whole_command", "startup", "throughput", "step_profile",
            "time_to_accuracy", "mixed_precision", "techniques", "sequences", "search",
            "distribute", "image_folder", "real_images", "callbacks_overhead")
# The processes measured run as on a user's machine: with Python's bytecode
# caches. Where the environment sets PYTHONDONTWRITEBYTECODE (this project's
# CI machine does), each would compile TensorFlow's and JAX's sources again:
# about 8 s more for a process that imports Keras on TensorFlow, 5 on JAX.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


# ## Machine and versions


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def versions() -> dict[str, str]:
    """Versions of Python and the installed packages, without importing them."""
    found = {"python": platform.python_version()}
    for package in ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def machine() -> dict[str, Any]:
    """What a figure was measured on: processors, memory, versions, date, load."""
    memory = memory_gib()
    return {
        "cpus": cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(memory, 1) if memory else None,
        "platform": f"{platform.system()} {platform.machine()}",
        "versions": versions(),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "load_average": load_average(),
    }


def describe(info: dict[str, Any], backends: list[str] | None = None) -> str:
    """One Markdown paragraph with the machine, versions, date and load."""
    v = info["versions"]
    memory = "memory ?"
    if info.get("memory_gib"):
        memory = f"{info['memory_gib']:.0f} GiB memory"
    load = info.get("load_average")
    load_end = info.get("load_average_end")
    load_text = ""
    if load is not None:
        load_text = f"1-min load average {load:.2f} at the start"
    if load_end is not None:
        load_text += f", {load_end:.2f} at the end"
    parts = [
        f"Measured {info['date']} on {info['cpus']} CPU cores ({info['cpu_model']}), "
        f"{memory}, {info['platform']}",
        f"Python {v['python']}, Keras {v['keras']}, TensorFlow {v['tensorflow']}, "
        f"JAX {v['jax']}" + (f", torch {v['torch']}"
                             if v.get("torch", "not installed") != "not installed" else ""),
    ]
    if backends:
        parts.append("backends: " + ", ".join(f"`{b}`" for b in backends))
    if load_text:
        parts.append(load_text)
    return "; ".join(parts) + "."


# ## Statistics


def median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def timer() -> Callable[[], float]:
    """Returns a function that gives the seconds since `timer()` was called."""
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


# ## Command line and workers


def parser(doc: str) -> argparse.ArgumentParser:
    """Flags every benchmark takes: --quick, --backends, --output-dir, and the
    worker's --worker/--backend/--json (internal)."""
    summary, _, rest = doc.strip().partition("\n")
    result = argparse.ArgumentParser(
        description=summary,
        epilog=rest.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument(
        "--quick", action="store_true", help="tiny settings: checks that it runs"
    )
    result.add_argument(
        "--backends", nargs="+", choices=ALL_BACKENDS, default=list(BACKENDS)
    )
    result.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where <name>.md and <name>.json go (default: benchmarks/results, "
        "which updates benchmarks/RESULTS.md; elsewhere a RESULTS.md goes there)",
    )
    result.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    result.add_argument("--backend", choices=ALL_BACKENDS, help=argparse.SUPPRESS)
    result.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    return result


def parse_with_repeats(doc: str, argv, help: str = "timed rounds") -> argparse.Namespace:
    """`parser(doc)` and `--repeats` (default 5; 1 with `--quick`), parsed."""
    result = parser(doc)
    result.add_argument("--repeats", type=int, default=5, help=help)
    args = result.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def main_per_backend(name: str, args: argparse.Namespace, passed: list[str],
                     work: Callable[[argparse.Namespace], dict],
                     parse: Callable[[list[str]], argparse.Namespace],
                     markdown: Callable[[dict], str]) -> dict:
    """A benchmark's `main` once parsed: `work` in this process (`--worker`),
    or once per backend with the flags `passed`, the results saved."""
    if args.worker:
        return worker_main(args, work)
    results = run_workers(name, passed, args.backends, work, parse)
    data = {"machine": machine(), "backends": results}
    save(name, args.output_dir, data, markdown(data))
    return data


def worker_environment(backend: str) -> dict[str, str]:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = [str(ROOT), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def keras_backend_in_process() -> str | None:
    """The backend of the Keras this process already imported, if any."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()


def run_workers(
    module: str,
    argv: list[str],
    backends: list[str],
    work: Callable[[argparse.Namespace], dict],
    parse: Callable[[list[str]], argparse.Namespace],
) -> dict[str, dict]:
    """Runs `work` once per backend: in this process when Keras is already
    imported with that backend, otherwise in a fresh worker process."""
    results = {}
    for backend in backends:
        print(f"[{module}] backend {backend} ...", flush=True)
        if keras_backend_in_process() == backend:
            args = parse([*argv, "--worker", "--backend", backend])
            results[backend] = work(args)
            continue
        with tempfile.TemporaryDirectory(prefix="benchmark-") as folder:
            path = Path(folder) / "result.json"
            command = [
                sys.executable, "-m", f"benchmarks.{module}", *argv,
                "--worker", "--backend", backend, "--json", str(path),
            ]
            environment = worker_environment(backend)
            completed = subprocess.run(command, cwd=ROOT, env=environment)
            if completed.returncode != 0:
                raise RuntimeError(
                    f"benchmarks.{module} worker for backend {backend} failed "
                    f"(exit status {completed.returncode})"
                )
            results[backend] = json.loads(path.read_text())
    return results


def worker_main(
    args: argparse.Namespace, work: Callable[[argparse.Namespace], dict]
) -> None:
    """Body of `--worker`: measure with this process's backend, write JSON."""
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = work(args)
    if args.json:
        args.json.write_text(json.dumps(result))


# --quick, where timings are no results: fresh processes this many at a time.
QUICK_PROCESSES = 2


def run_jobs(jobs: list[Callable[[], Any]], processes: int = 1) -> list[Any]:
    """Calls `jobs` (each waits for a process of its own) and returns their
    results in order: one after the other, so that none slows another's
    timing, or up to `processes` at a time (threads) where timings do not
    matter (`--quick`). The first failure is raised; jobs not yet started
    are then dropped."""
    processes = max(1, min(processes, cpu_count(), len(jobs)))
    if processes == 1:
        return [job() for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(processes)
    try:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def quiet_keras() -> None:
    """Silences TensorFlow's Python warnings and Keras' progress output."""
    import logging
    import warnings

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


# ## Results files


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def save(name: str, output_dir: Path, data: dict, markdown: str) -> None:
    """Writes `<name>.json` and `<name>.md`; RESULTS.md too for the default folder."""
    output_dir = Path(output_dir)
    write_atomic(output_dir / f"{name}.json", json.dumps(data, indent=1) + "\n")
    write_atomic(output_dir / f"{name}.md", markdown.rstrip() + "\n")
    print(markdown)
    summary = write_summary(output_dir)
    print(f"Wrote {output_dir / (name + '.md')} and {summary}")


def rewrite_block(text: str, name: str, block: str) -> str | None:
    """`text` (README) with what lies between `<!-- benchmarks-<name>:begin -->`
    and `<!-- benchmarks-<name>:end -->` replaced by `block`; `None` when it
    has no such block.

    >>> text = "a\\n<!-- benchmarks-x:begin -->\\nold\\n<!-- benchmarks-x:end -->\\n"
    >>> rewrite_block(text, "x", "new")
    'a\\n<!-- benchmarks-x:begin -->\\nnew\\n<!-- benchmarks-x:end -->\\n'
    """
    begin, end = f"<!-- benchmarks-{name}:begin -->", f"<!-- benchmarks-{name}:end -->"
    pattern = re.compile(rf"({re.escape(begin)}\n).*?({re.escape(end)})", re.S)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text, count=1)


def save_panels(fig, axes, path: Path, *, ncol: int, bottom: float, dpi: int) -> None:
    """One legend under a row of panels (each label once), the figure saved to
    `path` and closed."""
    import matplotlib.pyplot as plt

    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=ncol, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A Markdown table; `align` is one character per column, l or r."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def load_json(name: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    path = Path(results_dir) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _demoted(markdown: str) -> str:
    """Headings one level down, so a results file becomes a RESULTS.md section."""
    lines = []
    for line in markdown.splitlines():
        lines.append("#" + line if line.startswith("#") else line)
    return "\n".join(lines)


def _callbacks_sections(results_dir: Path) -> list[str]:
    """The callback-overhead benchmark's own results files (written by its script)."""
    sections = []
    for backend, path in (
        ("tensorflow", results_dir / "callbacks_overhead.md"),
        ("jax", results_dir / "callbacks_overhead_jax.md"),
    ):
        if not path.exists():
            continue
        text = path.read_text().strip()
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        provenance = load_json("callbacks_overhead_runs", results_dir) or {}
        note = provenance.get(backend)
        header = f"{when:%Y-%m-%d %H:%M %Z}"
        if note:
            header = describe(note)
        else:
            header = (
                f"File written {header} by `python -m benchmarks.callbacks_overhead` "
                f"({cpu_count()} CPU cores, {cpu_model()}, {memory_gib() or 0:.0f} GiB "
                "memory)."
            )
        title, _, rest = text.partition("\n")
        if title.startswith("#") and backend not in title:
            text = f"{title} ({backend}){chr(10)}{rest}"
        sections.append(_demoted(text) + "\n\n" + header)
    return sections


def headline(results_dir: Path = RESULTS_DIR) -> list[str]:
    """The summary table for README: one line per headline figure."""
    rows = []
    startup = load_json("startup", results_dir)
    if startup:
        figures = startup["figures"]
        for key, label in (
            ("listing", "`python -m recipes` (listing), wall s"),
            ("help", "`python -m recipes.mlp --help`, wall s"),
            ("import tensorflow", "`import tensorflow`, s"),
            ("import keras (tensorflow)", "`import keras` (TensorFlow backend), s"),
            ("import jax", "`import jax`, s"),
            ("import keras (jax)", "`import keras` (JAX backend), s"),
        ):
            if key in figures:
                rows.append([label, f"{figures[key]['median']:.2f}", "", ""])
    whole = load_json("whole_command", results_dir)
    if whole:
        for recipe, entries in whole["results"].items():
            default = whole["default_backends"][recipe]
            reference = entries.get("tutorial tensorflow")
            for kind, label in (("recipe", "first run"), ("rerun", "rerun")):
                entry = entries.get(f"{kind} {default}")
                if entry and reference:
                    rows.append([
                        f"whole command, `{recipe}` recipe ({default}, {label}) vs tutorial "
                        "(tensorflow), s",
                        f"{entry['wall_median']:.1f}", f"{reference['wall_median']:.1f}",
                        f"{reference['wall_median'] / entry['wall_median']:.2f}×",
                    ])
    mixed = load_json("mixed_precision", results_dir)
    if mixed:
        for backend, result in mixed["backends"].items():
            by_key = {(r["model"], r["policy"]): r for r in result["rows"]}
            for model in ("cnn", "gmlp"):
                full = by_key.get((model, "float32"))
                half = by_key.get((model, "mixed_bfloat16"))
                if full and half:
                    rows.append([
                        f"{model} training samples/s, mixed_bfloat16 vs float32 ({backend})",
                        f"{half['samples_per_second']:,.0f}",
                        f"{full['samples_per_second']:,.0f}",
                        f"{half['samples_per_second'] / full['samples_per_second']:.2f}×",
                    ])
    tta = load_json("time_to_accuracy", results_dir)
    if tta:
        for backend, result in tta["backends"].items():
            for name, entry in result["recipes"].items():
                recipe, naive = entry["recipe"], entry["naive"]
                rows.append([
                    f"time to val. accuracy {entry['target']:.2f}, {name} recipe "
                    f"vs naive ({backend}), s",
                    _seconds(recipe),
                    _seconds(naive),
                    _ratio(entry.get("speedup"), entry.get("speedup_lower_bound")),
                ])
    throughput = load_json("throughput", results_dir)
    if throughput:
        for backend, result in throughput["backends"].items():
            rows.append([
                f"dense matmul {result['matmul']['size']}² float32 ({backend}), "
                "GFLOP/s",
                f"{result['matmul']['gflops']:.1f}", "", "",
            ])
            for model, width in (("mlp", [512, 256]), ("cnn", [32, 64])):
                scan = [
                    row for row in result["rows"]
                    if row["model"] == model and row["width"] == width
                    and row["steps_per_execution"] == 8
                ]
                best = max(
                    scan, key=lambda row: row["samples_per_second"], default=None
                )
                small = [row for row in scan if row["batch_size"] == 64]
                if best and small:
                    rows.append([
                        f"{model} training samples/s, batch 64 vs best (batch "
                        f"{best['batch_size']}, {backend}); best as % of matmul",
                        f"{small[0]['samples_per_second']:,.0f}",
                        f"{best['samples_per_second']:,.0f}",
                        f"{100 * best['fraction_of_matmul']:.0f}%",
                    ])
    sequences = load_json("sequences", results_dir)
    sequences_note = ""
    if sequences:
        from benchmarks import sequences as sequences_benchmark

        added = sequences_benchmark.headline_rows(sequences)
        rows += added
        if added:
            sequences_note = (" Sequences: the rnn recipe's whole command against "
                              "sktime's classifier of the same architecture, each as a "
                              "process (ratio = sktime / recipe; `benchmarks.sequences`).")
    if not rows:
        return []
    return [
        "## Headline",
        "",
        table(["figure", "value", "compared with", "ratio"], rows, "lrrr"),
        "",
        "Whole command: `python -m recipes.<name>` as a process, against a tutorial-style "
        "script on TensorFlow (ratio = tutorial / recipe; `benchmarks.whole_command`). "
        "Time to accuracy: the recipe's default configuration against the naive "
        "baseline (same model, `fit` defaults); ratio = naive / recipe (higher: "
        "recipe faster). Throughput: batch 64 with `steps_per_execution=8` against "
        "the fastest batch size; the last column is that best rate's training "
        "GFLOP/s as a share of the matmul's." + sequences_note,
    ]


def _seconds(entry: dict) -> str:
    if not entry.get("reached"):
        return "not reached"
    bound = "≥ " if entry.get("seconds_lower_bound") else ""
    return f"{bound}{entry['median_seconds']:.1f}"


def _ratio(value: float | None, lower_bound: bool = False) -> str:
    if value is None or value != value:
        return "–"
    return f"{'≥ ' if lower_bound else ''}{value:.1f}×"


def write_summary(results_dir: Path = RESULTS_DIR) -> Path:
    """Rewrites RESULTS.md from every results file in `results_dir`:
    benchmarks/RESULTS.md for the default folder, else `results_dir/RESULTS.md`."""
    results_dir = Path(results_dir)
    default = results_dir.resolve() == RESULTS_DIR.resolve()
    path = RESULTS_FILE if default else results_dir / "RESULTS.md"
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` (every benchmark) or `python -m "
        "benchmarks.<name>` (one; the others' last results are kept). Each section "
        "says what it measured on, with which versions, when, and how loaded the "
        "machine was: these are 2-core CPU figures, noisy when other processes run, "
        "so compare ratios measured side by side rather than absolute times.",
        "",
    ]
    top = headline(results_dir)
    if top:
        parts += top + [""]
    for name in SECTIONS:
        if name == "callbacks_overhead":
            parts += [s + "\n" for s in _callbacks_sections(results_dir)]
            continue
        section = results_dir / f"{name}.md"
        if section.exists():
            parts += [_demoted(section.read_text().strip()), ""]
    write_atomic(path, "\n".join(parts).rstrip() + "\n")
    return path
