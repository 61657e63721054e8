"""Throughput scaling: training samples per second against batch size and width.

For the zoo MLP (64 features, the mlp recipe's widths) and CNN (8x8x1 images,
the cnn recipe's architecture), times training steps (`fit` on random data,
Adam, sparse categorical cross-entropy with an accuracy metric, as the
recipes compile) at batch sizes 32 to 1024 with `steps_per_execution=8`
(and 1, at batch 64), then against model width at one batch size. Every
configuration is first warmed up (a short `fit` traces/compiles the step at
its batch size); then, in rounds, each configuration trains one epoch
(`fit`, a callback timing the epoch) in rotating order, so that load from
other processes spreads over all of them. The figure: the median over
rounds of samples/s.

In the same rounds, a large dense float32 matmul (`keras.ops.matmul`,
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
    return _common.parse_with_repeats(__doc__, argv, help="timed rounds (one epoch each)")


def _build(model: str, width: tuple[int, int]):
    import zoo

    if model == "mlp":  # recipes/mlp.py's architecture at the default width
        return zoo.build(
            "mlp", input_shape=(64,), num_outputs=10, hidden_units=width,
            dropout_rate=0.3,
        )
    return zoo.build(  # recipes/cnn.py's architecture at the default width
        "cnn", input_shape=(8, 8, 1), num_outputs=10, filters=width, residual=True,
        batch_norm="before", dropout_rate=0.2,
    )


def gemm_shapes(model, batch_size: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of each Dense and Conv2D layer's forward product at `batch_size`.

    A Dense layer multiplies (batch × positions, inputs) by (inputs, units); a
    convolution is the same product on its im2col matrix: batch × output
    positions rows, kernel height × width × input channels deep, filters wide.
    """
    import keras

    def layers(layer):
        for sub in getattr(layer, "layers", []):
            yield sub
            yield from layers(sub)

    shapes = []
    for layer in layers(model):
        if isinstance(layer, keras.layers.Dense):
            positions = math.prod(layer.input.shape[1:-1])
            shapes.append((batch_size * positions, *layer.kernel.shape))
        elif isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            *window, filters = layer.kernel.shape
            shapes.append((batch_size * height * width, math.prod(window), filters))
    return shapes


def training_flops_per_sample(model) -> float:
    """3 x a forward pass's FLOPs for one sample (`zoo.count_flops`: 2 per
    multiply-add of the Dense and convolution layers): 6 x the multiply-adds."""
    import zoo

    return 3.0 * zoo.count_flops(model)


class _Matmul:
    """A large float32 matmul: this machine's attainable dense FLOP rate."""

    def __init__(self, size: int):
        import keras
        import numpy as np

        rng = np.random.default_rng(0)
        self.size, self.keras = size, keras
        self.a, self.b = (
            keras.ops.convert_to_tensor(rng.normal(size=(size, size)).astype("float32"))
            for _ in range(2)
        )
        self.seconds = []
        for _ in range(3):  # warm-up (JAX compiles the op for this shape)
            self.once()

    def once(self) -> float:
        elapsed = _common.timer()
        product = self.keras.ops.matmul(self.a, self.b)
        self.keras.ops.convert_to_numpy(product[0, 0])  # waits for the result
        return elapsed()

    def time(self) -> None:
        self.seconds.append(self.once())

    def result(self) -> dict:
        flops = 2.0 * self.size**3
        return {
            "size": self.size,
            "seconds": self.seconds,
            "gflops": flops / _common.median(self.seconds) / 1e9,
            "gflops_best": flops / min(self.seconds) / 1e9,
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
        self.keras = keras


class _Configuration:
    """A warm model at one batch size; `time()` runs and times one epoch."""

    def __init__(self, bench: _Bench, batch_size: int, quick: bool = False):
        import numpy as np

        self.bench, self.batch_size = bench, batch_size
        steps = max(MIN_STEPS, math.ceil(EPOCH_FLOPS / bench.flops / batch_size))
        if quick:
            steps = MIN_STEPS
        elif steps > bench.spe:
            steps = math.ceil(steps / bench.spe) * bench.spe  # whole executions
        self.steps, self.samples = steps, steps * batch_size
        rng = np.random.default_rng(0)
        self.x = rng.random((self.samples, *bench.shape), dtype="float32")
        self.y = rng.integers(0, 10, self.samples)
        self.seconds = []
        # Warm-up at this batch size: traces (TensorFlow) or compiles (JAX).
        warm = min(self.samples, 2 * bench.spe * batch_size)
        elapsed = _common.timer()
        bench.model.fit(self.x[:warm], self.y[:warm], batch_size=batch_size, epochs=1,
                        verbose=0)
        self.warm_up_seconds = elapsed()

    def time(self) -> None:
        seconds = self.seconds

        class EpochTimer(self.bench.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.elapsed = _common.timer()

            def on_epoch_end(self, epoch, logs=None):
                seconds.append(self.elapsed())

        self.bench.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1,
                             verbose=0, callbacks=[EpochTimer()])

    def result(self) -> dict:
        bench = self.bench
        per_second = [self.samples / t for t in self.seconds]
        rate = _common.median(per_second)
        return {
            "model": bench.name,
            "width": list(bench.width),
            "batch_size": self.batch_size,
            "steps_per_execution": bench.spe,
            "steps_per_epoch": self.steps,
            "params": int(bench.model.count_params()),
            "flops_per_sample": bench.flops,
            "samples_per_second": rate,
            "ms_per_step": 1000.0 * self.batch_size / rate,
            "gflops": rate * bench.flops / 1e9,
            "warm_up_seconds": self.warm_up_seconds,
            "runs": per_second,
        }


def work(args) -> dict:
    """Warms every configuration up, then times one epoch of each per round,
    in rotating order, so that load from other processes spreads evenly."""
    import keras

    _common.quiet_keras()
    info = _common.machine()
    matmul = _Matmul(512 if args.quick else MATMUL_SIZE)
    configurations = []
    for model_name in ("mlp",) if args.quick else ("mlp", "cnn"):
        default = DEFAULT_WIDTH[model_name]
        widths = MLP_WIDTHS if model_name == "mlp" else CNN_WIDTHS
        batch_sizes, spe_batch = BATCH_SIZES, SPE_BATCH
        if args.quick:  # the narrowest MLP, one batch size: checks that it runs
            default, widths, batch_sizes, spe_batch = widths[0], [], (32,), 32
        bench = _Bench(model_name, default, 8)
        configurations += [_Configuration(bench, b, args.quick) for b in batch_sizes]
        bench = _Bench(model_name, default, 1)
        configurations.append(_Configuration(bench, spe_batch, args.quick))
        for width in widths:
            if tuple(width) == default and WIDTH_BATCH in batch_sizes:
                continue  # measured above
            bench = _Bench(model_name, width, 8)
            configurations.append(_Configuration(bench, WIDTH_BATCH, args.quick))
    timed = [matmul, *configurations]
    for repeat in range(max(args.repeats, 1)):
        shift = repeat % len(timed)
        for item in timed[shift:] + timed[:shift]:
            item.time()
    matmul = matmul.result()
    print(f"  matmul {matmul['size']}: {matmul['gflops']:.1f} GFLOP/s", flush=True)
    rows = [configuration.result() for configuration in configurations]
    for row in rows:
        row["fraction_of_matmul"] = row["gflops"] / matmul["gflops"]
        print(f"  {row['model']} {tuple(row['width'])} batch {row['batch_size']} "
              f"spe {row['steps_per_execution']}: {row['samples_per_second']:9.0f} "
              f"samples/s (warm-up {row['warm_up_seconds']:.1f} s)", flush=True)
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
    passed = ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    return _common.main_per_backend(NAME, args, passed, work, _parse, _markdown)


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
        "recipes compile. Every configuration is warmed up first (a short `fit` "
        "traces or compiles the step at its batch size); then, in rounds, each "
        "trains one epoch in rotating order (about "
        f"{EPOCH_FLOPS / 1e9:.0f} GFLOP of work, at least {MIN_STEPS} steps). "
        "Samples/s: median over rounds. \"% of matmul\": the training FLOP rate "
        "(6 × the multiply-adds of the Dense and Conv2D layers per sample) as a "
        f"share of a {MATMUL_SIZE}×{MATMUL_SIZE} float32 `keras.ops.matmul` timed "
        "once per round in the same process (median): what this machine attains "
        "on dense compute. Low at small batches and rising with the batch: "
        "per-step overhead; where it levels off, the model is compute-bound.",
        "",
    ]
    for backend, result in results.items():
        matmul = result["matmul"]
        lines.append(
            f"- `{backend}`: " + _common.describe(result["machine"])
            + f" {result['repeats']} rounds. Matmul "
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
