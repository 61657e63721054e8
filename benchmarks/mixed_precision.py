"""Mixed precision: `mixed_bfloat16` against float32 on this CPU, speed and accuracy.

Speed: the recipes' mlp, cnn and gmlp architectures (default flags), each
built twice, under Keras' `float32` and `mixed_bfloat16` global policies,
compiled as the recipes compile them (Adam, sparse categorical
cross-entropy, accuracy). Each is warmed up (its step traced or compiled),
then in rounds, in rotating order, trains one epoch of random data at batch
256; the figure is the median samples/s over the rounds, and the ratio
mixed / float32. Both backends, each in its own worker process.

Accuracy: the mlp and cnn recipes' default runs on JAX (their default
backend), with and without `--mixed-precision
mixed_bfloat16`, as whole processes: test accuracy, epochs and wall seconds.

`--quick` checks that it runs: the smallest model of each kind (mlp 32-16,
cnn of one stage of 4 filters, gmlp of one block), one step of warm-up and
one timed step, one round; recipe runs with `--smoke`.

Run:
    python -m benchmarks.mixed_precision
    python -m benchmarks.mixed_precision --backends jax --repeats 7
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks import _common, throughput, whole_command
from benchmarks.throughput import training_flops_per_sample

NAME = "mixed_precision"
POLICIES = ("float32", "mixed_bfloat16")
MODELS = ("mlp", "cnn", "gmlp")
BATCH_SIZE = 256
STEPS = 16
ACCURACY_RECIPES = ("mlp", "cnn")
ACCURACY_BACKEND = "jax"


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
    parser.add_argument("--skip-accuracy", action="store_true",
                        help="only the speed table (no recipe runs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


# --quick: the smallest model of each kind (tracing dominates a quick run).
QUICK_WIDTH = {"mlp": (32, 16), "cnn": (4,)}
QUICK_GMLP = dict(d_model=16, d_ffn=32, num_blocks=1)


def _build(model: str, quick: bool = False):
    """The recipe's default architecture (throughput's for the mlp and cnn);
    with `quick`, the smallest of its kind."""
    import zoo

    if model in throughput.DEFAULT_WIDTH:
        widths = QUICK_WIDTH if quick else throughput.DEFAULT_WIDTH
        return throughput._build(model, widths[model])
    sizes = QUICK_GMLP if quick else dict(d_model=64, d_ffn=128, num_blocks=4)
    return zoo.build("gmlp", input_shape=(8, 8, 1), num_outputs=10, patch_size=2,
                     dropout_rate=0.1, drop_path_rate=0.1, **sizes)


class _Configuration:
    """One model under one policy, compiled and warm; `time()` trains one epoch."""

    def __init__(self, model: str, policy: str, quick: bool):
        import keras
        import numpy as np

        keras.mixed_precision.set_global_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            self.model = _build(model, quick)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        self.model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        self.name, self.policy, self.keras = model, policy, keras
        self.compute_dtype = self.model.layers[-2].compute_dtype
        shape = (64,) if model == "mlp" else (8, 8, 1)
        self.samples = (1 if quick else STEPS) * BATCH_SIZE
        rng = np.random.default_rng(0)
        self.x = rng.random((self.samples, *shape), dtype="float32")
        self.y = rng.integers(0, 10, self.samples)
        self.flops = training_flops_per_sample(self.model)
        self.model.fit(self.x, self.y, batch_size=BATCH_SIZE, epochs=1, verbose=0)  # warm-up
        self.seconds = []

    def time(self) -> None:
        elapsed = _common.timer()
        self.model.fit(self.x, self.y, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        self.seconds.append(elapsed())

    def result(self) -> dict:
        rate = _common.median([self.samples / s for s in self.seconds])
        return {"model": self.name, "policy": self.policy,
                "compute_dtype": self.compute_dtype, "samples_per_second": rate,
                "gflops": rate * self.flops / 1e9}


def work(args) -> dict:
    _common.quiet_keras()
    configurations = [_Configuration(m, p, args.quick) for m in MODELS for p in POLICIES]
    for repeat in range(args.repeats):
        shift = repeat % len(configurations)
        for configuration in configurations[shift:] + configurations[:shift]:
            configuration.time()
    return {"rows": [c.result() for c in configurations]}


def _recipe_run(recipe: str, mixed: bool, quick: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="mixed-precision-") as folder:
        command = [sys.executable, "-m", f"recipes.{recipe}", "--output-dir", folder, "--quiet",
                   *(["--mixed-precision", "mixed_bfloat16"] if mixed else []),
                   *(["--smoke"] if quick else [])]
        # A first run: an empty compile cache, not the user's.
        wall, _ = whole_command.run_process(command, ACCURACY_BACKEND,
                                            Path(folder) / "jax_cache")
        metrics = json.loads((Path(folder) / recipe / "metrics.json").read_text())
    return {"recipe": recipe, "mixed": mixed, "wall": wall,
            "test_accuracy": metrics["test_accuracy"], "epochs": metrics["epochs_trained"]}


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    if args.worker:
        _common.worker_main(args, work)
        return {}
    info = _common.machine()
    argv = ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    backends = _common.run_workers(NAME, argv, args.backends, work, _parse)
    accuracy = [] if args.skip_accuracy else [
        _recipe_run(recipe, mixed, args.quick)
        for recipe in ACCURACY_RECIPES for mixed in (False, True)
    ]
    info["load_average_end"] = _common.load_average()
    data = {"machine": info, "repeats": args.repeats, "backends": backends,
            "accuracy": accuracy, "accuracy_backend": ACCURACY_BACKEND}
    _common.save(NAME, args.output_dir, data, markdown(data))
    return data


def markdown(data: dict) -> str:
    info = data["machine"]
    lines = [
        "# Mixed precision",
        "",
        "`python -m benchmarks.mixed_precision`. "
        + _common.describe(info, list(data["backends"])),
        "",
        f"Training samples/s at batch {BATCH_SIZE}, median over {data['repeats']} rounds "
        "(one epoch each, rotating order), of the recipes' default architectures under "
        "Keras' `float32` and `mixed_bfloat16` policies (output layer float32 in both).",
        "",
    ]
    rows = []
    for backend, result in data["backends"].items():
        by_key = {(r["model"], r["policy"]): r for r in result["rows"]}
        for model in MODELS:
            full, mixed = by_key[(model, "float32")], by_key[(model, "mixed_bfloat16")]
            rows.append([f"`{model}`", f"`{backend}`",
                         f"{full['samples_per_second']:,.0f}",
                         f"{mixed['samples_per_second']:,.0f}",
                         f"{mixed['samples_per_second'] / full['samples_per_second']:.2f}×"])
    lines.append(_common.table(
        ["model", "backend", "float32 samples/s", "mixed_bfloat16 samples/s",
         "mixed / float32"], rows))
    if data["accuracy"]:
        lines += ["", f"Default recipe runs, backend `{data['accuracy_backend']}`, seed 0, "
                  "whole process:", ""]
        rows = [[f"`{r['recipe']}`", "mixed_bfloat16" if r["mixed"] else "float32",
                 f"{r['test_accuracy']:.3f}", str(r["epochs"]), f"{r['wall']:.1f}"]
                for r in data["accuracy"]]
        lines.append(_common.table(["recipe", "policy", "test accuracy", "epochs", "wall s"],
                                   rows, "llrrr"))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
