"""Overhead of the training callbacks, measured side by side in one process.

Times the same model and data trained with no callback, with `SGDR` and with
`SnapshotEnsemble`, alternating the order of the runs, on steady-state
epochs (the first epoch, which traces the train function, is left out) and
without the time spent writing snapshots. Then times a 100-step LR range
test (`LRFinder.find`, including its state snapshot and restore) against
100 plain training steps (`fit` on the same 100 batches) on a warm model.
Reports medians and their ratios, prints them and writes a Markdown table.

Goals (issue 4): SGDR and SnapshotEnsemble at most 3% slower than no
callback, the finder at most 15% slower than plain training.

Run:
    python -m benchmarks.callbacks_overhead
    python -m benchmarks.callbacks_overhead --repeats 9 --epochs 8
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
    parser.add_argument("--repeats", type=int, default=7, help="runs per variant")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run")
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

    num_snapshots = max(1, args.epochs // 2)
    folder = tempfile.mkdtemp(prefix="snapshots-")

    def run(variant):
        model = build()
        timer = EpochTimer()
        extra = []
        if variant == "SGDR":
            extra = [callbacks.SGDR(0.05, cycle_epochs=2, cycle_mult=1)]
        elif variant == "SnapshotEnsemble":
            extra = [TimedSnapshots(num_snapshots, 0.05, directory=folder, keep=1)]
        model.fit(
            x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
            callbacks=extra + [timer],
        )
        saves = extra[0].save_seconds if variant == "SnapshotEnsemble" else {}
        # One sample per steady-state epoch: seconds per step, wall and CPU.
        wall = [
            (seconds - saves.get(epoch, (0.0, 0.0))[0]) / steps_per_epoch
            for epoch, seconds in enumerate(timer.seconds)
            if epoch > 0
        ]
        cpu = [
            (seconds - saves.get(epoch, (0.0, 0.0))[1]) / steps_per_epoch
            for epoch, seconds in enumerate(timer.cpu_seconds)
            if epoch > 0
        ]
        return wall, cpu, sum(wall_save for wall_save, _ in saves.values())

    variants = ["none", "SGDR", "SnapshotEnsemble"]
    per_step = {variant: [] for variant in variants}
    cpu_per_step = {variant: [] for variant in variants}
    save_time = []
    run("none")  # warm-up: imports, first traces
    for repeat in range(args.repeats):
        shift = repeat % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            wall, cpu, saves = run(variant)
            per_step[variant].extend(wall)
            cpu_per_step[variant].extend(cpu)
            if variant == "SnapshotEnsemble":
                save_time.append(saves)

    # LR range test against the same number of plain steps, on a warm model.
    finder_steps = min(100, steps_per_epoch)
    plain_x, plain_y = x[: finder_steps * args.batch_size], y[: finder_steps * args.batch_size]
    model = build()
    model.fit(plain_x, plain_y, batch_size=args.batch_size, epochs=1, verbose=0)

    def plain():
        start = time.perf_counter()
        model.fit(plain_x, plain_y, batch_size=args.batch_size, epochs=1, verbose=0)
        return time.perf_counter() - start

    def finder():
        start = time.perf_counter()
        callbacks.LRFinder(1e-6, 10.0, finder_steps).find(
            model, x, y, batch_size=args.batch_size, seed=0
        )
        return time.perf_counter() - start

    finder(), plain()  # warm-up
    finder_times, plain_times = [], []
    for repeat in range(args.repeats):
        order = [(finder, finder_times), (plain, plain_times)]
        for function, times in order if repeat % 2 == 0 else order[::-1]:
            times.append(function())

    medians = {variant: statistics.median(values) for variant, values in per_step.items()}
    ratios = {variant: medians[variant] / medians["none"] for variant in variants}
    cpu_medians = {v: statistics.median(values) for v, values in cpu_per_step.items()}
    cpu_ratios = {v: cpu_medians[v] / cpu_medians["none"] for v in variants}
    finder_ratio = statistics.median(finder_times) / statistics.median(plain_times)
    table = _table(
        args, keras, medians, ratios, per_step, cpu_medians, cpu_ratios, save_time,
        finder_steps, finder_times, plain_times, finder_ratio,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    temporary = args.output + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(table)
    os.replace(temporary, args.output)
    print(table)
    print(f"SGDR / none:             {ratios['SGDR']:.3f} (CPU {cpu_ratios['SGDR']:.3f})")
    print(
        f"SnapshotEnsemble / none: {ratios['SnapshotEnsemble']:.3f} "
        f"(CPU {cpu_ratios['SnapshotEnsemble']:.3f})"
    )
    print(f"LRFinder / plain steps:  {finder_ratio:.3f}")
    return {
        "sgdr_ratio": ratios["SGDR"],
        "snapshot_ratio": ratios["SnapshotEnsemble"],
        "finder_ratio": finder_ratio,
    }


def _spread(values, scale=1.0):
    low, high = min(values) * scale, max(values) * scale
    return f"{low:.3f}–{high:.3f}"


def _table(
    args, keras, medians, ratios, per_step, cpu_medians, cpu_ratios, save_time,
    finder_steps, finder_times, plain_times, finder_ratio,
):
    ms = 1000.0
    lines = [
        "# Callback overhead",
        "",
        f"`python -m benchmarks.callbacks_overhead` — Keras {keras.__version__}, "
        f"backend `{keras.backend.backend()}`, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}.",
        "",
        f"MLP 32→128→128→10 (zoo `mlp`), SGD with momentum, {args.samples} samples, "
        f"batch {args.batch_size} ({args.samples // args.batch_size} steps per epoch), "
        f"{args.epochs} epochs per run, {args.repeats} runs per variant in rotating "
        "order. Time per step of every steady-state epoch (the first epoch of a run, "
        "which traces the train function, left out; snapshot writes subtracted): "
        "wall-clock and this process's CPU time, medians over all such epochs.",
        "",
        "| variant | wall ms/step (median) | wall range | wall ratio | "
        "CPU ms/step (median) | CPU ratio |",
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
        f"Snapshot writes (excluded above): median {statistics.median(save_time):.2f} s "
        "per run.",
        "",
        f"LR range test: `LRFinder(num_steps={finder_steps}).find(...)` against "
        f"`fit` on the same {finder_steps} batches, warm model, {args.repeats} runs each "
        "in alternating order.",
        "",
        "| run | median s | range s | ratio |",
        "|---|---:|---:|---:|",
        f"| {finder_steps} plain steps | {statistics.median(plain_times):.3f} | "
        f"{_spread(plain_times)} | 1.000 |",
        f"| LR range test | {statistics.median(finder_times):.3f} | "
        f"{_spread(finder_times)} | {finder_ratio:.3f} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
