"""Step profile: where the cnn's and the gmlp's training step spends its time.

The throughput benchmark shows the compute-bound models (the cnn, and the
gmlp of `benchmarks.mixed_precision`) reaching well under a large matmul's
FLOP rate. This takes one training step of each, the recipes' default
architectures at batch 256 (where the step is compute-bound), apart, on
each backend, in one process per backend:

- **the default training step** (Adam, sparse categorical cross-entropy,
  accuracy, as the recipes compile; Keras' default `jit_compile`: XLA on
  both backends);
- **forward only** (`predict` at the same batch): the backward pass's share;
- **without** batch norm, dropout (and stochastic depth) or the residual
  connections, and **all three off**: what the memory-bound element-wise
  layers around the convolutions cost;
- on TensorFlow, **without XLA** (`jit_compile=False`): TensorFlow's own
  kernels instead of XLA's fused ones;
- **the model's GEMMs as plain matmuls**: every Dense and Conv2D layer's
  forward product (a convolution as its im2col matrix: batch × positions
  rows, kernel height × width × input channels deep, output channels wide)
  and its two backward products, timed as `keras.ops.matmul` of those
  shapes. This is the FLOP rate these layer shapes allow at best, against
  the 2048² matmul's.

Every variant is compiled and warmed up first; then, in rounds, each trains
(or predicts) one epoch of random data in rotating order; figures are
medians over the rounds. GFLOP/s counts 6 × the multiply-adds of the Dense
and Conv2D layers per training sample (2 × forward only), as
`benchmarks.throughput` does.

`--quick` checks that it runs: the cnn's training step and forward pass
only, a cnn of one stage of 4 filters, batch 32, two steps, one round.

Run:
    python -m benchmarks.step_profile
    python -m benchmarks.step_profile --backends jax --repeats 7
"""

from __future__ import annotations

from benchmarks import _common
from benchmarks.throughput import MATMUL_SIZE, _Matmul, gemm_shapes, training_flops_per_sample

NAME = "step_profile"
BATCH_SIZE = 256
STEPS = 16  # per timed epoch
CNN = dict(filters=(32, 64), residual=True, batch_norm="before", dropout_rate=0.2)
GMLP = dict(patch_size=2, d_model=64, d_ffn=128, num_blocks=4, dropout_rate=0.1,
            drop_path_rate=0.1)  # benchmarks.mixed_precision's, the recipe's defaults
# Variant -> (model, builder options over the defaults, forward only, jit_compile).
VARIANTS = {
    "cnn": {
        "training step": ({}, False, "auto"),
        "forward only": ({}, True, "auto"),
        "without batch norm": ({"batch_norm": None}, False, "auto"),
        "without dropout": ({"dropout_rate": 0.0}, False, "auto"),
        "without residual connections": ({"residual": False}, False, "auto"),
        "convolutions and head only": (
            {"batch_norm": None, "dropout_rate": 0.0, "residual": False}, False, "auto"),
        "without XLA": ({}, False, False),
    },
    "gmlp": {
        "training step": ({}, False, "auto"),
        "forward only": ({}, True, "auto"),
        "without dropout and stochastic depth": (
            {"dropout_rate": 0.0, "drop_path_rate": 0.0}, False, "auto"),
        "without XLA": ({}, False, False),
    },
}
# --quick: two variants of the cnn, of one stage of 4 filters (tracing dominates there).
QUICK = {"cnn": ("training step", "forward only")}
QUICK_OPTIONS = {"cnn": {"filters": (4,)}}


def _parse(argv):
    return _common.parse_with_repeats(__doc__, argv)


def _build(model: str, options: dict):
    import zoo

    defaults = CNN if model == "cnn" else GMLP
    return zoo.build(model, input_shape=(8, 8, 1), num_outputs=10, **{**defaults, **options})


class _Variant:
    """One compiled, warm model; `time()` trains (or predicts) one epoch."""

    def __init__(self, model: str, label: str, batch_size: int, steps: int,
                 base: dict | None = None):
        import keras
        import numpy as np

        options, self.forward, jit_compile = VARIANTS[model][label]
        keras.utils.set_random_seed(0)
        self.model = _build(model, {**(base or {}), **options})
        self.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                           metrics=["accuracy"], jit_compile=jit_compile)
        self.name, self.label, self.batch_size = model, label, batch_size
        self.samples = steps * batch_size
        rng = np.random.default_rng(0)
        self.x = rng.random((self.samples, 8, 8, 1), dtype="float32")
        self.y = rng.integers(0, 10, self.samples)
        training = training_flops_per_sample(self.model)
        self.flops = training / 3 if self.forward else training
        self.seconds = []
        self.once()  # warm-up: traces (TensorFlow) or compiles (JAX) the step

    def once(self) -> float:
        elapsed = _common.timer()
        if self.forward:
            self.model.predict(self.x, batch_size=self.batch_size, verbose=0)
        else:
            self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, verbose=0)
        return elapsed()

    def time(self) -> None:
        self.seconds.append(self.once())

    def result(self) -> dict:
        rate = _common.median([self.samples / s for s in self.seconds])
        return {"model": self.name, "variant": self.label, "forward_only": self.forward,
                "samples_per_second": rate, "ms_per_step": 1000.0 * self.batch_size / rate,
                "gflops": rate * self.flops / 1e9}


class _Gemms:
    """The model's Dense and Conv2D products, forward and backward, as matmuls."""

    def __init__(self, model: str, batch_size: int, base: dict | None = None):
        import keras
        import numpy as np

        self.keras, self.name = keras, model
        rng = np.random.default_rng(0)
        shapes = gemm_shapes(_build(model, base or {}), batch_size)
        # Forward X·W (m×k by k×n), then the gradients dY·Wᵀ (m×n by n×k)
        # and Xᵀ·dY (k×m by m×n).
        products = [p for m, k, n in shapes for p in ((m, k, n), (m, n, k), (k, m, n))]
        self.pairs = [
            tuple(keras.ops.convert_to_tensor(rng.random(size, dtype="float32"))
                  for size in ((m, k), (k, n)))
            for m, k, n in products
        ]
        self.flops = sum(2.0 * m * k * n for m, k, n in products)
        self.shapes = [list(shape) for shape in shapes]
        self.seconds = []
        for _ in range(2):  # warm-up (JAX compiles each shape)
            self.once()

    def once(self) -> float:
        elapsed = _common.timer()
        last = None
        for a, b in self.pairs:
            last = self.keras.ops.matmul(a, b)
        self.keras.ops.convert_to_numpy(last[0, 0])  # waits for the results
        return elapsed()

    def time(self) -> None:
        self.seconds.append(self.once())

    def result(self) -> dict:
        return {"model": self.name, "variant": "its GEMMs as plain matmuls",
                "shapes": self.shapes, "gflops": self.flops / _common.median(self.seconds) / 1e9}


def work(args) -> dict:
    """Warms every variant up, then times each once per round, in rotating order."""
    import keras

    _common.quiet_keras()
    info = _common.machine()
    batch_size, steps = (32, 2) if args.quick else (BATCH_SIZE, STEPS)
    matmul = _Matmul(512 if args.quick else MATMUL_SIZE)
    variants = QUICK if args.quick else {model: tuple(v) for model, v in VARIANTS.items()}
    items = []
    for model, labels in variants.items():
        base = QUICK_OPTIONS.get(model, {}) if args.quick else {}
        for label in labels:
            if label == "without XLA" and keras.backend.backend() != "tensorflow":
                continue  # JAX always compiles with XLA
            items.append(_Variant(model, label, batch_size, steps, base))
        items.append(_Gemms(model, batch_size, base))
    timed = [matmul, *items]
    for repeat in range(max(args.repeats, 1)):
        shift = repeat % len(timed)
        for item in timed[shift:] + timed[:shift]:
            item.time()
    matmul = matmul.result()
    rows = [item.result() for item in items]
    for row in rows:
        row["fraction_of_matmul"] = row["gflops"] / matmul["gflops"]
        print(f"  {row['model']} {row['variant']}: {row['gflops']:.1f} GFLOP/s "
              f"({100 * row['fraction_of_matmul']:.0f}% of matmul)", flush=True)
    info["load_average_end"] = _common.load_average()
    return {"backend": keras.backend.backend(), "machine": info, "repeats": args.repeats,
            "batch_size": batch_size, "matmul": matmul, "rows": rows}


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    passed = ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    return _common.main_per_backend(NAME, args, passed, work, _parse, markdown)


def markdown(data: dict) -> str:
    lines = ["# Step profile", "",
             "`python -m benchmarks.step_profile`. One training step of the recipes' "
             "default cnn and gmlp taken apart (see the module docstring): variants "
             "of the step, and the model's GEMMs alone as plain matmuls of the same "
             "shapes, forward and backward. GFLOP/s: 6 × the multiply-adds of the "
             "Dense and Conv2D layers per training sample (2 × forward only); "
             "% of matmul: against a 2048² float32 matmul in the same rounds; step "
             "time: against the default training step (lower: that part costs the "
             "difference)."]
    for backend, result in data["backends"].items():
        matmul = result["matmul"]
        lines += ["", f"## `{backend}`", "",
                  _common.describe(result["machine"]) + f" Batch {result['batch_size']}, "
                  f"{result['repeats']} rounds; matmul {matmul['size']}²: "
                  f"**{matmul['gflops']:.1f} GFLOP/s**.", ""]
        rows = []
        for row in result["rows"]:
            base = next(r for r in result["rows"]
                        if r["model"] == row["model"] and r["variant"] == "training step")
            step = ms = "–"
            if "ms_per_step" in row:
                ms = f"{row['ms_per_step']:.1f}"
                step = f"{row['ms_per_step'] / base['ms_per_step']:.2f}×"
            rows.append([f"`{row['model']}`", row["variant"], ms, f"{row['gflops']:.1f}",
                         f"{100 * row['fraction_of_matmul']:.0f}%", step])
        lines.append(_common.table(
            ["model", "variant", "ms/step", "GFLOP/s", "% of matmul", "step time"],
            rows, "llrrrr"))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
