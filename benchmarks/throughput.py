"""Throughput scaling: training samples per second against batch size and width.

For the zoo MLP (64 features, the mlp recipe's widths) and CNN (8x8x1 images,
the cnn recipe's architecture), times training steps (`fit` on random data,
Adam, sparse categorical cross-entropy with an accuracy metric, as the
recipes compile) at batch sizes 32 to 1024, with `steps_per_execution` 1
and 8, then against model width at one batch size. Each configuration gets a
warm model (a first short `fit` traces/compiles the step), then one `fit` of
several epochs whose per-epoch times a callback records: the figure is the
median samples/s over those epochs.

In the same process, a large dense float32 matmul (`keras.ops.matmul`,
2048x2048, after warm-up) gives the FLOP rate this machine attains; each
configuration's training GFLOP/s (6 x multiply-adds per sample: forward,
and twice that backward; Dense and Conv2D layers counted) is shown as a
fraction of it. A small fraction at small batches that grows with the batch
is per-step overhead; where it flattens, the model is compute-bound.

Both backends, each in its own worker process.

Run:
    python -m benchmarks.throughput
    python -m benchmarks.throughput --backends tensorflow --repeats 7
"""

from __future__ import annotations

import math

from benchmarks import _common

NAME = "throughput"
BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
SPE_BATCH = 64  # steps_per_execution 1 against 8 at the recipes' batch size
MLP_WIDTHS = ((32, 16), (128, 64), (512, 256), (2048, 1024))  # hidden_units
CNN_WIDTHS = ((8, 16), (16, 32), (32, 64), (64, 128))  # filters
DEFAULT_WIDTH = {"mlp": (512, 256), "cnn": (32, 64)}  # the recipes' architectures
WIDTH_BATCH = 128
# Each timed epoch does about this many training FLOPs, and at least
# `MIN_STEPS` steps (rounded up to whole executions when longer than one).
EPOCH_FLOPS = 3e9
MIN_STEPS = 2
MATMUL_SIZE = 2048


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed epochs per configuration"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def _build(model: str, width: tuple[int, int]):
    import zoo

    if model == "mlp":  # recipes/mlp.py's architecture at the default width
        return zoo.build(
            "mlp", input_shape=(64,), num_outputs=10, hidden_units=width,
            dropout_rate=0.3,
        )
    return zoo.build(  # recipes/cnn.py's architecture at the default width
        "cnn", input_shape=(8, 8, 1), num_classes=10, filters=width, residual=True,
        batch_norm="before", dropout_rate=0.2,
    )


def training_flops_per_sample(model) -> float:
    """6 x the multiply-adds of Dense and Conv2D layers for one sample."""
    import keras

    def layers(layer):
        for sub in getattr(layer, "layers", []):
            yield sub
            yield from layers(sub)

    macs = 0
    for layer in layers(model):
        if isinstance(layer, keras.layers.Dense):
            positions = math.prod(layer.input.shape[1:-1])
            macs += positions * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            macs += height * width * math.prod(layer.kernel.shape)
    return 6.0 * macs


def _matmul(size: int, repeats: int) -> dict:
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.normal(size=(size, size)).astype("float32"))
    b = keras.ops.convert_to_tensor(rng.normal(size=(size, size)).astype("float32"))

    def once():
        elapsed = _common.timer()
        product = keras.ops.matmul(a, b)
        keras.ops.convert_to_numpy(product[0, 0])  # waits for the result
        return elapsed()

    for _ in range(3):
        once()
    seconds = [once() for _ in range(max(repeats, 5))]
    flops = 2.0 * size**3
    return {
        "size": size,
        "seconds": seconds,
        "gflops": flops / _common.median(seconds) / 1e9,
        "gflops_best": flops / min(seconds) / 1e9,
    }


class _Bench:
    """One compiled model, timed at several batch sizes."""

    def __init__(self, model_name: str, width: tuple[int, int], spe: int):
        import keras

        keras.utils.set_random_seed(0)
        self.name, self.width, self.spe = model_name, width, spe
        self.model = _build(model_name, width)
        self.model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=spe,
        )
        self.flops = training_flops_per_sample(self.model)
        self.shape = (64,) if model_name == "mlp" else (8, 8, 1)

    def measure(self, batch_size: int, repeats: int, quick: bool = False) -> dict:
        import keras
        import numpy as np

        steps = max(MIN_STEPS, math.ceil(EPOCH_FLOPS / self.flops / batch_size))
        if quick:
            steps = MIN_STEPS
        elif steps > self.spe:
            steps = math.ceil(steps / self.spe) * self.spe  # whole executions
        samples = steps * batch_size
        rng = np.random.default_rng(0)
        x = rng.random((samples, *self.shape), dtype="float32")
        y = rng.integers(0, 10, samples)
        times = []

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.elapsed = _common.timer()

            def on_epoch_end(self, epoch, logs=None):
                times.append(self.elapsed())

        # Warm-up at this batch size: traces (TensorFlow) or compiles (JAX).
        warm = min(samples, 2 * self.spe * batch_size)
        compile_time = _common.timer()
        self.model.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0)
        compile_time = compile_time()
        self.model.fit(x, y, batch_size=batch_size, epochs=repeats, verbose=0,
                       callbacks=[EpochTimer()])
        per_second = [samples / t for t in times]
        rate = _common.median(per_second)
        return {
            "model": self.name,
            "width": list(self.width),
            "batch_size": batch_size,
            "steps_per_execution": self.spe,
            "steps_per_epoch": steps,
            "params": int(self.model.count_params()),
            "flops_per_sample": self.flops,
            "samples_per_second": rate,
            "ms_per_step": 1000.0 * batch_size / rate,
            "gflops": rate * self.flops / 1e9,
            "warm_up_seconds": compile_time,
            "runs": per_second,
        }


def work(args) -> dict:
    import keras

    _common.quiet_keras()
    info = _common.machine()
    matmul = _matmul(512 if args.quick else MATMUL_SIZE, args.repeats)
    print(f"  matmul {matmul['size']}: {matmul['gflops']:.1f} GFLOP/s", flush=True)
    batch_sizes = BATCH_SIZES
    spe_batch = SPE_BATCH
    rows = []

    def report(row, what):
        rows.append(row)
        print(f"  {row['model']} {what}: {row['samples_per_second']:9.0f} samples/s "
              f"(warm-up {row['warm_up_seconds']:.1f} s)", flush=True)

    for model_name in ("mlp",) if args.quick else ("mlp", "cnn"):
        default = DEFAULT_WIDTH[model_name]
        widths = MLP_WIDTHS if model_name == "mlp" else CNN_WIDTHS
        if args.quick:  # the narrowest MLP, one batch size: checks that it runs
            default, widths, batch_sizes, spe_batch = widths[0], [], (32,), 32
        bench = _Bench(model_name, default, 8)
        for batch_size in batch_sizes:
            row = bench.measure(batch_size, args.repeats, args.quick)
            report(row, f"batch {batch_size}")
        bench = _Bench(model_name, default, 1)
        row = bench.measure(spe_batch, args.repeats, args.quick)
        report(row, f"batch {spe_batch} spe 1")
        for width in widths:
            if tuple(width) == default and WIDTH_BATCH in batch_sizes:
                continue  # measured above
            bench = _Bench(model_name, width, 8)
            row = bench.measure(WIDTH_BATCH, args.repeats, args.quick)
            report(row, f"width {width}")
    for row in rows:
        row["fraction_of_matmul"] = row["gflops"] / matmul["gflops"]
    info["load_average_end"] = _common.load_average()
    return {
        "backend": keras.backend.backend(),
        "machine": info,
        "repeats": args.repeats,
        "matmul": matmul,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.worker:
        return _common.worker_main(args, work)
    passed = ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    results = _common.run_workers(NAME, passed, args.backends, work, _parse)
    data = {"machine": _common.machine(), "backends": results}
    _common.save(NAME, args.output_dir, data, _markdown(data))
    return data


def _architecture(model: str, width) -> str:
    if model == "mlp":
        return f"MLP 64→{width[0]}→{width[1]}→10"
    return f"CNN filters ({width[0]}, {width[1]})"


def _find(rows, model, width, batch, spe):
    for row in rows:
        if (row["model"], tuple(row["width"]), row["batch_size"],
                row["steps_per_execution"]) == (model, tuple(width), batch, spe):
            return row
    return None


def _cells(row, matmul_gflops=None):
    if row is None:
        return ["–", "–", "–"]
    return [f"{row['samples_per_second']:,.0f}", f"{row['ms_per_step']:.2f}",
            f"{100 * row['fraction_of_matmul']:.0f}%"]


def _markdown(data: dict) -> str:
    results = data["backends"]
    backends = list(results)
    lines = [
        "# Throughput scaling",
        "",
        "`python -m benchmarks.throughput`. Training steps of the zoo MLP (the mlp "
        "recipe's 64→512→256→10, dropout 0.3) and CNN (the cnn recipe's residual "
        "network on 8×8×1 images: filters 32 and 64, batch norm, dropout 0.2) on "
        "random data: Adam, sparse categorical cross-entropy and accuracy, as the "
        "recipes compile. Samples/s: median over the timed epochs of one `fit` on a "
        "warm model (a short `fit` first traces or compiles the step at that batch "
        f"size; each epoch about {EPOCH_FLOPS / 1e9:.0f} GFLOP of work, at least "
        f"{MIN_STEPS} steps). \"% of matmul\": the training FLOP rate (6 × the "
        "multiply-adds of the Dense and Conv2D layers per sample) as a share of a "
        f"{MATMUL_SIZE}×{MATMUL_SIZE} float32 `keras.ops.matmul` timed in the same "
        "process after warm-up (median of at least 5): what this machine attains "
        "on dense compute. Low at small batches and rising with the batch: "
        "per-step overhead; where it levels off, the model is compute-bound.",
        "",
    ]
    for backend, result in results.items():
        matmul = result["matmul"]
        lines.append(
            f"- `{backend}`: " + _common.describe(result["machine"])
            + f" {result['repeats']} timed epochs per configuration. Matmul "
            f"{matmul['size']}² float32: **{matmul['gflops']:.1f} GFLOP/s** "
            f"(median; best {matmul['gflops_best']:.1f})."
        )
    for model in ("mlp", "cnn"):
        default = DEFAULT_WIDTH[model]
        any_row = next(
            (r for res in results.values() for r in res["rows"]
             if r["model"] == model and tuple(r["width"]) == default), None)
        if any_row is None:
            continue
        header = ["batch"]
        for backend in backends:
            header += [f"{backend} samples/s", "ms/step", "% of matmul"]
        batches = sorted({
            r["batch_size"] for res in results.values() for r in res["rows"]
            if r["model"] == model and tuple(r["width"]) == default
            and r["steps_per_execution"] == 8
        })
        rows = []
        for batch in batches:
            row = [batch]
            for backend in backends:
                row += _cells(_find(results[backend]["rows"], model, default, batch, 8))
            rows.append(row)
        spe_row = [f"{SPE_BATCH}, spe 1"]
        for backend in backends:
            found = _find(results[backend]["rows"], model, default, SPE_BATCH, 1)
            spe_row += _cells(found)
        rows.append(spe_row)
        lines += [
            "",
            f"## {_architecture(model, default)} against batch size",
            "",
            f"{any_row['params']:,} parameters, "
            f"{any_row['flops_per_sample'] / 1e6:.2f} MFLOP per training sample; "
            "`steps_per_execution=8` except the last row.",
            "",
            _common.table(header, rows),
        ]
        gains = []
        for backend in backends:
            eight = _find(results[backend]["rows"], model, default, SPE_BATCH, 8)
            one = _find(results[backend]["rows"], model, default, SPE_BATCH, 1)
            if eight and one:
                gain = eight["samples_per_second"] / one["samples_per_second"]
                gains.append(f"{backend} {gain:.2f}×")
        if gains:
            lines += ["", f"`steps_per_execution` 8 against 1 at batch {SPE_BATCH}: "
                      + ", ".join(gains) + "."]
    header = ["model", "parameters", "MFLOP/sample"]
    for backend in backends:
        header += [f"{backend} samples/s", "ms/step", "% of matmul"]
    rows = []
    for model, widths in (("mlp", MLP_WIDTHS), ("cnn", CNN_WIDTHS)):
        for width in widths:
            found = {b: _find(results[b]["rows"], model, width, WIDTH_BATCH, 8)
                     for b in backends}
            some = next((r for r in found.values() if r), None)
            if some is None:
                continue
            row = [_architecture(model, width), f"{some['params']:,}",
                   f"{some['flops_per_sample'] / 1e6:.2f}"]
            for backend in backends:
                row += _cells(found[backend])
            rows.append(row)
    if rows:
        lines += [
            "",
            f"## Against width (batch {WIDTH_BATCH}, `steps_per_execution=8`)",
            "",
            _common.table(header, rows),
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
