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
STEPS_PER_EXECUTION = (1, 8)
MLP_WIDTHS = (64, 256, 1024, 2048)  # hidden_units=(w, w)
CNN_WIDTHS = (8, 16, 32, 64)  # filters=(w, 2w)
WIDTH_BATCH = 128
# One epoch does about this many training FLOPs (at least `MIN_STEPS` steps),
# so each timed epoch lasts about a tenth of a second or more.
EPOCH_FLOPS = 4e9
MIN_STEPS = 8
MATMUL_SIZE = 2048


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per configuration")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def _build(model: str, width: int | None = None):
    import zoo

    if model == "mlp":  # recipes/mlp.py's architecture
        hidden = (512, 256) if width is None else (width, width)
        return zoo.build(
            "mlp", input_shape=(64,), num_outputs=10, hidden_units=hidden, dropout_rate=0.3
        )
    filters = (32, 64) if width is None else (width, 2 * width)
    return zoo.build(  # recipes/cnn.py's architecture
        "cnn", input_shape=(8, 8, 1), num_classes=10, filters=filters, residual=True,
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


def _measure(model_name, batch_size, spe, repeats, width=None, quick=False):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = _build(model_name, width)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=spe,
    )
    flops = training_flops_per_sample(model)
    steps = max(MIN_STEPS, math.ceil(EPOCH_FLOPS / flops / batch_size))
    steps = MIN_STEPS if quick else math.ceil(steps / 8) * 8  # whole executions
    samples = steps * batch_size
    rng = np.random.default_rng(0)
    shape = (64,) if model_name == "mlp" else (8, 8, 1)
    x = rng.random((samples, *shape), dtype="float32")
    y = rng.integers(0, 10, samples)

    times = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.elapsed = _common.timer()

        def on_epoch_end(self, epoch, logs=None):
            times.append(self.elapsed())

    # Warm-up: traces (TensorFlow) or compiles (JAX) the train step.
    model.fit(x[: spe * batch_size * 2], y[: spe * batch_size * 2], batch_size=batch_size,
              epochs=1, verbose=0)
    times.clear()
    model.fit(x, y, batch_size=batch_size, epochs=repeats, verbose=0, callbacks=[EpochTimer()])
    per_second = [samples / t for t in times]
    rate = _common.median(per_second)
    return {
        "model": model_name,
        "width": width,
        "batch_size": batch_size,
        "steps_per_execution": spe,
        "steps_per_epoch": steps,
        "params": int(model.count_params()),
        "flops_per_sample": flops,
        "samples_per_second": rate,
        "ms_per_step": 1000.0 * batch_size / rate,
        "gflops": rate * flops / 1e9,
        "runs": per_second,
    }


def work(args) -> dict:
    import keras

    _common.quiet_keras()
    info = _common.machine()
    matmul = _matmul(512 if args.quick else MATMUL_SIZE, args.repeats)
    print(f"  matmul {matmul['size']}: {matmul['gflops']:.1f} GFLOP/s", flush=True)
    batch_sizes = BATCH_SIZES[:2] if args.quick else BATCH_SIZES
    batch_rows, width_rows = [], []
    for model_name in ("mlp", "cnn"):
        for batch_size in batch_sizes:
            for spe in STEPS_PER_EXECUTION:
                row = _measure(model_name, batch_size, spe, args.repeats, quick=args.quick)
                batch_rows.append(row)
                print(f"  {model_name} batch {batch_size:4d} spe {spe}: "
                      f"{row['samples_per_second']:9.0f} samples/s", flush=True)
    for model_name, widths in (("mlp", MLP_WIDTHS), ("cnn", CNN_WIDTHS)):
        for width in widths[:2] if args.quick else widths:
            row = _measure(model_name, WIDTH_BATCH, 8, args.repeats, width=width,
                           quick=args.quick)
            width_rows.append(row)
            print(f"  {model_name} width {width:4d}: {row['samples_per_second']:9.0f} "
                  f"samples/s", flush=True)
    for row in batch_rows + width_rows:
        row["fraction_of_matmul"] = row["gflops"] / matmul["gflops"]
    info["load_average_end"] = _common.load_average()
    return {
        "backend": keras.backend.backend(),
        "machine": info,
        "repeats": args.repeats,
        "matmul": matmul,
        "batch": batch_rows,
        "width": width_rows,
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


def _architecture(model, width=None):
    if model == "mlp":
        hidden = "512→256" if width is None else f"{width}→{width}"
        return f"MLP 64→{hidden}→10"
    filters = "32, 64" if width is None else f"{width}, {2 * width}"
    return f"CNN filters ({filters})"


def _markdown(data: dict) -> str:
    lines = [
        "# Throughput scaling",
        "",
        "`python -m benchmarks.throughput`. Training steps of the zoo MLP (the mlp "
        "recipe's 64→512→256→10, dropout 0.3) and CNN (the cnn recipe's residual "
        "network on 8×8×1, filters 32 and 64, batch norm, dropout 0.2) on random data, "
        "Adam, sparse categorical cross-entropy and accuracy. Samples/s: median over "
        "the timed epochs of one `fit` on a warm model (each epoch at least "
        f"{MIN_STEPS} steps and about {EPOCH_FLOPS / 1e9:.0f} GFLOP of work). "
        "GFLOP/s counts 6 × the multiply-adds of the Dense and Conv2D layers per "
        "sample; \"% of matmul\" compares it with a "
        f"{MATMUL_SIZE}×{MATMUL_SIZE} float32 `keras.ops.matmul` timed in the same "
        "process (median of at least 5 after warm-up), this machine's attainable "
        "rate for dense compute.",
    ]
    for backend, result in data["backends"].items():
        matmul = result["matmul"]
        lines += [
            "",
            f"## {backend}",
            "",
            _common.describe(result["machine"], [backend]) + f" {result['repeats']} "
            "timed epochs per configuration.",
            "",
            f"Dense matmul {matmul['size']}×{matmul['size']} float32: "
            f"**{matmul['gflops']:.1f} GFLOP/s** (median; best {matmul['gflops_best']:.1f}).",
            "",
        ]
        for model in ("mlp", "cnn"):
            rows = [r for r in result["batch"] if r["model"] == model]
            if not rows:
                continue
            spes = sorted({r["steps_per_execution"] for r in rows})
            header = ["batch"]
            for spe in spes:
                header += [f"samples/s (spe {spe})", f"ms/step (spe {spe})"]
            header += ["GFLOP/s (spe 8)", "% of matmul", "spe 8 / spe 1"]
            table_rows = []
            for batch in sorted({r["batch_size"] for r in rows}):
                by_spe = {
                    r["steps_per_execution"]: r for r in rows if r["batch_size"] == batch
                }
                row = [batch]
                for spe in spes:
                    row += [f"{by_spe[spe]['samples_per_second']:,.0f}",
                            f"{by_spe[spe]['ms_per_step']:.2f}"]
                last = by_spe[spes[-1]]
                gain = (last["samples_per_second"] / by_spe[spes[0]]["samples_per_second"])
                row += [f"{last['gflops']:.1f}", f"{100 * last['fraction_of_matmul']:.0f}%",
                        f"{gain:.2f}×"]
                table_rows.append(row)
            first = rows[0]
            lines += [
                f"{_architecture(model)}: {first['params']:,} parameters, "
                f"{first['flops_per_sample'] / 1e6:.2f} MFLOP per training sample.",
                "",
                _common.table(header, table_rows),
                "",
            ]
        width_rows = result["width"]
        if width_rows:
            lines += [
                f"Against width, batch {WIDTH_BATCH}, `steps_per_execution=8`:",
                "",
                _common.table(
                    ["model", "parameters", "MFLOP/sample", "samples/s", "ms/step",
                     "GFLOP/s", "% of matmul"],
                    [
                        [_architecture(r["model"], r["width"]), f"{r['params']:,}",
                         f"{r['flops_per_sample'] / 1e6:.2f}",
                         f"{r['samples_per_second']:,.0f}", f"{r['ms_per_step']:.2f}",
                         f"{r['gflops']:.1f}", f"{100 * r['fraction_of_matmul']:.0f}%"]
                        for r in width_rows
                    ],
                ),
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
