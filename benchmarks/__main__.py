"""Runs every benchmark and writes benchmarks/RESULTS.md: `python -m benchmarks`.

In order: start-up, throughput scaling, time to accuracy (each on both
backends, in worker processes), then the callback-overhead benchmark
(`benchmarks/callbacks_overhead.py`) once per backend, writing
`results/callbacks_overhead.md` (TensorFlow) and
`results/callbacks_overhead_jax.md`, with 7 rounds instead of its own 15
(run it alone for those). RESULTS.md is assembled from the results files, so
a benchmark left out keeps its last results.

Run:
    python -m benchmarks                        # everything, about 10 minutes
    python -m benchmarks --only startup throughput
    python -m benchmarks --skip callbacks_overhead --backends tensorflow
    python -m benchmarks --quick --output-dir /tmp/bench   # seconds: does it run?
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks import _common

BENCHMARKS = ("startup", "throughput", "time_to_accuracy", "callbacks_overhead")
# The callback-overhead script's settings here: 7 rounds (its own default is
# 15) keep the whole suite near 10 minutes; --quick only checks that it runs.
CALLBACKS_FULL = ["--repeats", "7"]
CALLBACKS_QUICK = ["--repeats", "1", "--epochs", "2", "--samples", "512"]


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[1:]).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS)
    )
    parser.add_argument("--skip", nargs="+", choices=BENCHMARKS, default=[])
    parser.add_argument("--backends", nargs="+", choices=_common.ALL_BACKENDS,
                        default=list(_common.BACKENDS))
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings: checks that it runs"
    )
    parser.add_argument("--output-dir", type=Path, default=_common.RESULTS_DIR)
    return parser.parse_args(argv)


def callbacks_overhead(backends, output_dir: Path, quick: bool = False) -> dict:
    """Runs benchmarks/callbacks_overhead.py once per backend, in fresh processes."""
    script = _common.HERE / "callbacks_overhead.py"
    if not script.exists():
        print("[callbacks_overhead] callbacks_overhead.py not found: skipped")
        return {}
    provenance = {}
    for backend in backends:
        print(f"[callbacks_overhead] backend {backend} ...", flush=True)
        suffix = "" if backend == "tensorflow" else f"_{backend}"
        output = Path(output_dir) / f"callbacks_overhead{suffix}.md"
        info = _common.machine()
        command = [sys.executable, "-m", "benchmarks.callbacks_overhead"]
        command += ["--output", str(output)]
        command += CALLBACKS_QUICK if quick else CALLBACKS_FULL
        completed = subprocess.run(
            command, cwd=_common.ROOT, env=_common.worker_environment(backend),
            capture_output=True, text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"benchmarks.callbacks_overhead failed on {backend}:\n"
                + completed.stderr[-3000:]
            )
        info["load_average_end"] = _common.load_average()
        provenance[backend] = info
    path = Path(output_dir) / "callbacks_overhead_runs.json"
    previous = {}
    if path.exists():
        previous = json.loads(path.read_text())
    _common.write_atomic(path, json.dumps({**previous, **provenance}, indent=1) + "\n")
    return provenance


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    chosen = [name for name in args.only if name not in args.skip]
    common = ["--backends", *args.backends, "--output-dir", str(args.output_dir)]
    common += ["--quick"] if args.quick else []
    elapsed = _common.timer()
    for name in chosen:
        start = elapsed()
        if name == "callbacks_overhead":
            callbacks_overhead(args.backends, args.output_dir, args.quick)
        else:
            module = __import__(f"benchmarks.{name}", fromlist=["main"])
            module.main(common)
        print(f"[{name}] done in {elapsed() - start:.0f} s", flush=True)
    print(f"Wrote {_common.write_summary(args.output_dir)}")
    print(f"All benchmarks: {elapsed():.0f} s")


if __name__ == "__main__":
    main()
