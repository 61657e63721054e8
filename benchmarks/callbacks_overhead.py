"""Overhead of the training callbacks, measured side by side in one process.

Times the same model and data trained with no callback, with `SGDR` and with
`SnapshotEnsemble`: rounds of fits of a freshly built model, variants in
rotating order. The per-step time of a fit is the median over its epochs
after the first (which compiles the train step: reported apart), without
the time spent writing snapshots. Then times a 100-step LR range test (`LRFinder.find`, including
its state snapshot and restore) against 100 plain training steps (`fit` on
100 batches) on a warm model. Ratios are medians over rounds of the ratio
within a round, for wall-clock time and for this process's CPU time (the
steadier of the two when other jobs share the machine). Prints the table
and writes it to `benchmarks/results/callbacks_overhead.md`.

Goals (issue 4): SGDR and SnapshotEnsemble at most 3% slower per step than
no callback, the finder at most 15% slower than plain training.

Run:
    python -m benchmarks.callbacks_overhead
    python -m benchmarks.callbacks_overhead --repeats 31 --epochs 6
    KERAS_BACKEND=jax python -m benchmarks.callbacks_overhead --output /tmp/jax.md
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time

RESULTS = os.path.join(os.path.dirname(__file__), "results", "callbacks_overhead.md")
VARIANTS = ("none", "SGDR", "SnapshotEnsemble")


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=15, help="rounds of runs")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (>= 2)")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default=RESULTS, help="Markdown results file")
    args = parser.parse_args(argv)
    if args.epochs < 2 or args.repeats < 1:
        parser.error("--epochs must be at least 2 and --repeats at least 1")
    return args


def _median_ratio(pairs) -> float:
    return statistics.median(a / b for a, b in pairs)


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np

    import callbacks
    import zoo

    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, args.features)).astype("float32")
    y = rng.integers(0, 10, size=args.samples)
    steps_per_epoch = args.samples // args.batch_size

    def build():
        keras.utils.set_random_seed(0)
        model = zoo.build(
            "mlp", input_shape=(args.features,), num_outputs=10, hidden_units=(128, 128)
        )
        model.compile(
            keras.optimizers.SGD(0.05, momentum=0.9),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    class EpochTimer(keras.callbacks.Callback):
        """Wall and CPU seconds of every epoch (epoch-level hooks only)."""

        def __init__(self):
            super().__init__()
            self.wall, self.cpu = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._wall, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.wall.append(time.perf_counter() - self._wall)
            self.cpu.append(time.process_time() - self._cpu)

    class TimedSnapshots(callbacks.SnapshotEnsemble):
        """Records the wall and CPU seconds spent writing snapshots, per epoch."""

        def __init__(self, *positional, **keywords):
            super().__init__(*positional, **keywords)
            self.saves = {}

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter(), time.process_time()
            super().on_epoch_end(epoch, logs)
            self.saves[epoch] = (time.perf_counter() - wall, time.process_time() - cpu)

    folder = tempfile.mkdtemp(prefix="snapshots-")
    build().fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up

    def fit(variant):
        """One fit: (wall s/step, CPU s/step, first epoch s, snapshot writes s)."""
        extra = []
        if variant == "SGDR":
            extra = [callbacks.SGDR(0.05, cycle_epochs=1, cycle_mult=2)]
        elif variant == "SnapshotEnsemble":
            extra = [TimedSnapshots(1, 0.05, directory=folder, keep=1)]
        timer = EpochTimer()  # last, so that it times the others' epoch hooks
        model = build()  # fresh: every variant compiles its train step once
        gc.collect()
        model.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=args.epochs,
            verbose=0,
            callbacks=extra + [timer],
        )
        saves = extra[0].saves if variant == "SnapshotEnsemble" else {}
        later = range(1, args.epochs)
        wall = [timer.wall[e] - saves.get(e, (0.0, 0.0))[0] for e in later]
        cpu = [timer.cpu[e] - saves.get(e, (0.0, 0.0))[1] for e in later]
        return (
            statistics.median(wall) / steps_per_epoch,
            statistics.median(cpu) / steps_per_epoch,
            timer.wall[0],
            sum(save[0] for save in saves.values()),
        )

    samples = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats):
        shift = repeat % len(VARIANTS)
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            samples[variant].append(fit(variant))

    # LR range test against the same number of plain steps, on a warm model.
    finder_steps = min(100, steps_per_epoch)
    used = finder_steps * args.batch_size
    model = build()

    def plain():
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(
            x[:used],
            y[:used],
            batch_size=args.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        return time.perf_counter() - wall, time.process_time() - cpu

    def finder():
        wall, cpu = time.perf_counter(), time.process_time()
        callbacks.LRFinder(1e-6, 10.0, finder_steps).find(
            model, x, y, batch_size=args.batch_size, seed=0
        )
        return time.perf_counter() - wall, time.process_time() - cpu

    finder(), plain()  # warm-up
    finder_times, plain_times = [], []
    for repeat in range(args.repeats):
        order = [(finder, finder_times), (plain, plain_times)]
        for function, times in order if repeat % 2 == 0 else order[::-1]:
            times.append(function())

    ratios = {}
    for variant in VARIANTS:
        pairs = list(zip(samples[variant], samples["none"]))
        ratios[variant] = (
            _median_ratio((run[0], none[0]) for run, none in pairs),
            _median_ratio((run[1], none[1]) for run, none in pairs),
        )
    finder_ratios = (
        _median_ratio((f[0], p[0]) for f, p in zip(finder_times, plain_times)),
        _median_ratio((f[1], p[1]) for f, p in zip(finder_times, plain_times)),
    )
    table = _table(
        args,
        keras,
        samples,
        ratios,
        finder_steps,
        finder_times,
        plain_times,
        finder_ratios,
        (load_before, os.getloadavg()[0]),
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    temporary = args.output + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(table)
    os.replace(temporary, args.output)
    print(table)
    for variant in VARIANTS[1:]:
        wall, cpu = ratios[variant]
        print(f"{variant + ' / none:':25} {wall:.3f} wall, {cpu:.3f} CPU")
    print(
        f"{'LRFinder / plain steps:':25} {finder_ratios[0]:.3f} wall, "
        f"{finder_ratios[1]:.3f} CPU"
    )
    return {
        "sgdr_ratio": ratios["SGDR"][0],
        "sgdr_cpu_ratio": ratios["SGDR"][1],
        "snapshot_ratio": ratios["SnapshotEnsemble"][0],
        "snapshot_cpu_ratio": ratios["SnapshotEnsemble"][1],
        "finder_ratio": finder_ratios[0],
        "finder_cpu_ratio": finder_ratios[1],
    }


def _table(
    args,
    keras,
    samples,
    ratios,
    finder_steps,
    finder_times,
    plain_times,
    finder_ratios,
    load,
) -> str:
    def median(values, scale=1.0, digits=3):
        return f"{statistics.median(values) * scale:.{digits}f}"

    lines = [
        "# Callback overhead",
        "",
        f"`python -m benchmarks.callbacks_overhead` with Keras {keras.__version__}, "
        f"backend `{keras.backend.backend()}`, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}; load "
        f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end.",
        "",
        f"MLP {args.features}-128-128-10 (zoo `mlp`), SGD with momentum, "
        f"{args.samples} samples, batch {args.batch_size} "
        f"({args.samples // args.batch_size} steps per epoch). {args.repeats} "
        f"rounds, each fitting a freshly built model with every variant for "
        f"{args.epochs} epochs in rotating order (SGDR: first cycle 1 epoch, "
        "doubling; SnapshotEnsemble: one snapshot per fit). Per step: the median "
        "over a fit's epochs after the first, snapshot writes subtracted. Ratios: "
        "median over rounds of variant / none in the same round.",
        "",
        "| variant | wall ms/step | wall ratio | CPU ms/step | CPU ratio "
        "| first epoch s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, runs in samples.items():
        wall_ratio, cpu_ratio = ratios[variant]
        lines.append(
            f"| {variant} | {median([r[0] for r in runs], 1000)} | {wall_ratio:.3f} "
            f"| {median([r[1] for r in runs], 1000)} | {cpu_ratio:.3f} "
            f"| {median([r[2] for r in runs], digits=2)} |"
        )
    snapshot_writes = [r[3] for r in samples["SnapshotEnsemble"]]
    lines += [
        "",
        f"Snapshot writes (left out above): median {median(snapshot_writes)} s each. "
        "First epoch: includes compiling the train step (with SGDR or "
        "SnapshotEnsemble, after the schedule is installed; on a model that has "
        "trained before, this compilation comes on top of the earlier one).",
        "",
        f"LR range test: `LRFinder(num_steps={finder_steps}).find(...)` (state "
        "snapshot, shuffled copy of the batches it uses, sweep, restore) against "
        f"`fit(..., shuffle=False)` on {finder_steps} batches, on a warm model, "
        f"{args.repeats} rounds in alternating order.",
        "",
        "| run | wall s | wall ratio | CPU s | CPU ratio |",
        "|---|---:|---:|---:|---:|",
        f"| {finder_steps} plain steps | {median([t[0] for t in plain_times])} | 1.000 "
        f"| {median([t[1] for t in plain_times])} | 1.000 |",
        f"| LR range test | {median([t[0] for t in finder_times])} "
        f"| {finder_ratios[0]:.3f} | {median([t[1] for t in finder_times])} "
        f"| {finder_ratios[1]:.3f} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
