"""Overhead of the training callbacks, measured side by side in one process.

Times the same model and data trained with no callback, with `SGDR` and with
`SnapshotEnsemble`: one warm model per variant, rounds of short fits in
rotating order, steady-state epochs only (a fit's first epoch, which traces
the train function, is left out) and without the time spent writing
snapshots. Then times a 100-step LR range test (`LRFinder.find`, including
its state snapshot and restore) against 100 plain training steps (`fit` on
100 batches) on a warm model. Ratios are medians over rounds of the ratio
within a round, wall-clock and CPU time of this process (steadier when
other processes share the machine). Prints them and writes a Markdown table.

Goals (issue 4): SGDR and SnapshotEnsemble at most 3% slower than no
callback, the finder at most 15% slower than plain training.

Run:
    python -m benchmarks.callbacks_overhead
    python -m benchmarks.callbacks_overhead --repeats 31 --epochs 4
    KERAS_BACKEND=jax python -m benchmarks.callbacks_overhead
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

RESULTS = os.path.join(os.path.dirname(__file__), "results", "callbacks_overhead.md")


def _parse(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=15, help="rounds of runs")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default=RESULTS, help="Markdown results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np

    import callbacks
    import zoo

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
        def __init__(self):
            super().__init__()
            self.seconds = []

            self.cpu_seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._cpu_start = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu_start)

    class TimedSnapshots(callbacks.SnapshotEnsemble):
        """Records the seconds spent writing each snapshot, per epoch."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.save_seconds = {}

        def on_epoch_begin(self, epoch, logs=None):
            self._timed_epoch = epoch
            super().on_epoch_begin(epoch, logs)

        def _save_snapshot(self, index):
            start, cpu_start = time.perf_counter(), time.process_time()
            path = super()._save_snapshot(index)
            wall, cpu = self.save_seconds.get(self._timed_epoch, (0.0, 0.0))
            self.save_seconds[self._timed_epoch] = (
                wall + time.perf_counter() - start,
                cpu + time.process_time() - cpu_start,
            )
            return path

    folder = tempfile.mkdtemp(prefix="snapshots-")
    variants = ["none", "SGDR", "SnapshotEnsemble"]
    models = {variant: build() for variant in variants}
    for model in models.values():  # warm-up: imports, first traces
        model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)

    def run(variant):
        """One fit of `epochs` epochs; per-step seconds of the later epochs."""
        timer = EpochTimer()
        extra = []
        if variant == "SGDR":
            extra = [callbacks.SGDR(0.05, cycle_epochs=1, cycle_mult=2)]
        elif variant == "SnapshotEnsemble":
            extra = [TimedSnapshots(1, 0.05, directory=folder, keep=1)]
        models[variant].fit(
            x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
            callbacks=extra + [timer],
        )
        saves = extra[0].save_seconds if variant == "SnapshotEnsemble" else {}
        wall = sum(
            seconds - saves.get(epoch, (0.0, 0.0))[0]
            for epoch, seconds in enumerate(timer.seconds)
            if epoch > 0
        )
        cpu = sum(
            seconds - saves.get(epoch, (0.0, 0.0))[1]
            for epoch, seconds in enumerate(timer.cpu_seconds)
            if epoch > 0
        )
        steps = (args.epochs - 1) * steps_per_epoch
        return wall / steps, cpu / steps, sum(w for w, _ in saves.values())

    per_step = {variant: [] for variant in variants}
    cpu_per_step = {variant: [] for variant in variants}
    save_time = []
    for repeat in range(args.repeats):
        shift = repeat % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            wall, cpu, saves = run(variant)
            per_step[variant].append(wall)
            cpu_per_step[variant].append(cpu)
            if variant == "SnapshotEnsemble":
                save_time.append(saves)

    # LR range test against the same number of plain steps, on a warm model.
    finder_steps = min(100, steps_per_epoch)
    used = finder_steps * args.batch_size
    plain_x, plain_y = x[:used], y[:used]
    model = models["none"]

    def plain():
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(
            plain_x,
            plain_y,
            batch_size=args.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        return time.perf_counter() - start, time.process_time() - cpu_start

    def finder():
        start, cpu_start = time.perf_counter(), time.process_time()
        callbacks.LRFinder(1e-6, 10.0, finder_steps).find(
            model, x, y, batch_size=args.batch_size, seed=0
        )
        return time.perf_counter() - start, time.process_time() - cpu_start

    finder(), plain()  # warm-up
    finder_times, plain_times = [], []
    for repeat in range(args.repeats):
        order = [(finder, finder_times), (plain, plain_times)]
        for function, times in order if repeat % 2 == 0 else order[::-1]:
            times.append(function())

    def paired(samples, variant):
        """Median over rounds of variant / none, timed next to each other."""
        return statistics.median(
            a / b for a, b in zip(samples[variant], samples["none"])
        )

    medians = {v: statistics.median(values) for v, values in per_step.items()}
    ratios = {variant: paired(per_step, variant) for variant in variants}
    cpu_medians = {v: statistics.median(values) for v, values in cpu_per_step.items()}
    cpu_ratios = {v: paired(cpu_per_step, v) for v in variants}
    finder_ratio = statistics.median(
        f[0] / p[0] for f, p in zip(finder_times, plain_times)
    )
    finder_cpu_ratio = statistics.median(
        f[1] / p[1] for f, p in zip(finder_times, plain_times)
    )
    table = _table(
        args, keras, medians, ratios, per_step, cpu_medians, cpu_ratios, save_time,
        finder_steps, finder_times, plain_times, finder_ratio, finder_cpu_ratio,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    temporary = args.output + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(table)
    os.replace(temporary, args.output)
    print(table)
    print(
        f"SGDR / none:             {ratios['SGDR']:.3f} "
        f"(CPU {cpu_ratios['SGDR']:.3f})"
    )
    print(
        f"SnapshotEnsemble / none: {ratios['SnapshotEnsemble']:.3f} "
        f"(CPU {cpu_ratios['SnapshotEnsemble']:.3f})"
    )
    print(f"LRFinder / plain steps:  {finder_ratio:.3f} (CPU {finder_cpu_ratio:.3f})")
    return {
        "sgdr_ratio": ratios["SGDR"],
        "snapshot_ratio": ratios["SnapshotEnsemble"],
        "finder_ratio": finder_ratio,
        "sgdr_cpu_ratio": cpu_ratios["SGDR"],
        "snapshot_cpu_ratio": cpu_ratios["SnapshotEnsemble"],
        "finder_cpu_ratio": finder_cpu_ratio,
    }


def _spread(values, scale=1.0):
    low, high = min(values) * scale, max(values) * scale
    return f"{low:.3f}–{high:.3f}"


def _table(
    args, keras, medians, ratios, per_step, cpu_medians, cpu_ratios, save_time,
    finder_steps, finder_times, plain_times, finder_ratio, finder_cpu_ratio,
):
    ms = 1000.0
    lines = [
        "# Callback overhead",
        "",
        f"`python -m benchmarks.callbacks_overhead` — Keras {keras.__version__}, "
        f"backend `{keras.backend.backend()}`, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}.",
        "",
        f"MLP {args.features}→128→128→10 (zoo `mlp`), SGD with momentum, "
        f"{args.samples} samples, batch {args.batch_size} "
        f"({args.samples // args.batch_size} steps per epoch). One warm model per "
        f"variant; {args.repeats} rounds, each fitting every variant for "
        f"{args.epochs} epochs in rotating order (SGDR: cycles of 1 epoch doubling; "
        "SnapshotEnsemble: one snapshot per fit). Time per step over each fit's "
        "epochs after the first (which traces the train function again for the "
        "schedules), snapshot writes subtracted. Ratios are medians over rounds of "
        "variant / none within the same round, wall-clock and this process's CPU "
        "time.",
        "",
        "| variant | wall ms/step (median) | wall range | wall ratio to none | "
        "CPU ms/step (median) | CPU ratio to none |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, seconds in medians.items():
        lines.append(
            f"| {variant} | {seconds * ms:.3f} | {_spread(per_step[variant], ms)} | "
            f"{ratios[variant]:.3f} | {cpu_medians[variant] * ms:.3f} | "
            f"{cpu_ratios[variant]:.3f} |"
        )
    lines += [
        "",
        "Snapshot writes (excluded above): median "
        f"{statistics.median(save_time):.3f} s each.",
        "",
        f"LR range test: `LRFinder(num_steps={finder_steps}).find(...)` (state "
        f"snapshot, shuffled copy of the batches it uses, sweep, restore) against "
        f"`fit(..., shuffle=False)` on {finder_steps} batches, warm model, "
        f"{args.repeats} rounds in alternating order; ratio: median over rounds.",
        "",
        "| run | wall s (median) | wall range | wall ratio to plain | CPU s (median) "
        "| CPU ratio to plain |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, times, wall_ratio, cpu_ratio in (
        (f"{finder_steps} plain steps", plain_times, 1.0, 1.0),
        ("LR range test", finder_times, finder_ratio, finder_cpu_ratio),
    ):
        wall = [t[0] for t in times]
        cpu = [t[1] for t in times]
        lines.append(
            f"| {name} | {statistics.median(wall):.3f} | {_spread(wall)} | "
            f"{wall_ratio:.3f} | {statistics.median(cpu):.3f} | {cpu_ratio:.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
