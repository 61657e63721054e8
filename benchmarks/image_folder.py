"""Image folders: peak memory of streaming the files from disk against decoding them all.

Writes synthetic class folders of PNG files into a temporary directory (3
classes, 96x96 RGB: a square, a disc or a bar of random place, size and
colour on Gaussian noise; seeded), of 2,000 and 8,000 images; the smaller
folder holds the first images of the larger (hard links). For each folder
and backend, in fresh processes, measures the peak resident memory
(`ru_maxrss` of the process itself, reported by a small wrapper as it exits,
and also just before the images are read and, for the recipe, when `fit`
returns):

- streamed (recipes.cnn): the whole recipe, `python -m recipes.cnn --images
  DIR --image-size 64 64 --epochs 1 --batch-size 64 --filters 8 16
  --memory-cache 0 --quiet` (files decoded every epoch: the recipe keeps
  decoded images in memory only up to `--memory-cache`, 1 GiB by default)
  (listing, `fit` reading the files in batches through `tf.data`, evaluation
  and prediction on the test split, plots, saved model); small filters keep
  the run short, since the memory at stake is the data's, not the model's;
- in-memory arrays: `recipes.common.data.load_image_folder(DIR,
  image_size=(64, 64))`, the loader of the recipes that need arrays (and
  what `recipes.cnn --images` used before it streamed): every image decoded
  into float32 arrays, after importing Keras and TensorFlow as the recipe
  does; loading only, no training;
- streamed test split only: the recipe's evaluation alone (`model.evaluate`
  over `data.test_batches()`, batches of 256, as recipes.cnn calls it, then
  `evaluation.image_classifier`: `predict` over the same batches, and the
  figures; an untrained model of the same shape) over the two folders' test
  splits (300 and 1,200 files) and one 4 times the larger (4,800: the test
  split of a 32,000-image folder). The evaluation pipeline's prefetch buffers
  hold a few batches of 256 decoded images, which a 300-image split never
  fills: these rows tell that one-off rise in the recipe's peak from 2,000 to
  8,000 images from a peak that keeps growing with the split (under JAX, Keras
  dispatches steps asynchronously, so the `tf.data` iterator could run ahead
  of the computation and the queued batches stay in memory: the prediction
  waits for each batch there, `evaluation.step_by_step`).

Also records wall time (whole process, interpreter start included) and the
time of the part that reads the images: `fit` for the recipe (timed by the
wrapper around `keras.Model.fit`, validation included), the load for the
arrays, evaluate + predict for the test splits. Images/s: recipe = training
images x epochs / fit seconds; arrays = images decoded / load seconds; test
splits = 2 x files / seconds. Each figure is one run (peak RSS varies by
about 10% between identical runs).

Run:
    python -m benchmarks.image_folder                        # both backends, ~10 minutes
    python -m benchmarks.image_folder --backends tensorflow  # ~4 minutes
    python -m benchmarks.image_folder --sizes 1000 4000 16000
    python -m benchmarks.image_folder --quick                # ~1 minute a backend: does it run?

`--quick` checks that it runs: folders of 150 and 300 images of 24x24
pixels, resized to 16x16, filters 4 (one stage), the largest test split
only, and two processes at a time (its timings are no results).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import _common

NAME = "image_folder"
CLASSES = ("square", "disc", "bar")
MARKER = "IMAGE_FOLDER_BENCHMARK "
STREAMED, IN_MEMORY = "streamed (recipes.cnn)", "in-memory arrays"
FIT_END = "streamed (recipes.cnn), peak as fit ends"
EVALUATION = "streamed test split only (evaluate + predict)"
# Test splits measured alone: those of the folders, and one this many times
# the largest (the test split of a folder that much larger).
EVALUATION_FACTOR = 4

# Runs a recipe as `python -m`, timing `fit`, and prints the process's peak
# resident memory (KiB on Linux) as it exits, even through SystemExit.
_RECIPE = """\
import json, resource, runpy, sys, time
start = time.perf_counter()
report = {{}}
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import keras  # the backend comes from KERAS_BACKEND, as the recipe asks for
_fit = keras.Model.fit
def fit(self, *args, **kwargs):
    report["peak_kib_before_fit"] = peak()
    began = time.perf_counter()
    try:
        return _fit(self, *args, **kwargs)
    finally:
        report["timed_seconds"] = time.perf_counter() - began
        report["peak_kib_after_fit"] = peak()
keras.Model.fit = fit
sys.argv = {argv!r}
status = 0
try:
    runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    status = exit.code
finally:
    report["inside_seconds"] = time.perf_counter() - start
    report["peak_kib"] = peak()
    print({marker!r} + json.dumps(report), flush=True)
sys.exit(status)
"""
# Imports Keras and TensorFlow (as the recipe does), then loads a folder into
# arrays with recipes.common.data.load_image_folder, and prints the same report.
_ARRAYS = """\
import json, resource, sys, time
start = time.perf_counter()
report = {{}}
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import keras, tensorflow
from recipes.common.data import load_image_folder
report["peak_kib_before_load"] = peak()
began = time.perf_counter()
data = load_image_folder({folder!r}, image_size={image_size!r})
report["timed_seconds"] = time.perf_counter() - began
arrays = [data.x_train, data.x_val, data.x_test]
report["array_bytes"] = sum(a.nbytes for a in arrays)
report["decoded"] = sum(len(a) for a in arrays)
report["train_images"] = len(data.x_train)
report["inside_seconds"] = time.perf_counter() - start
report["peak_kib"] = peak()
print({marker!r} + json.dumps(report), flush=True)
"""
# The recipe's evaluation alone: the model (untrained), then the calls
# recipes.cnn makes (model.evaluate, then evaluation.image_classifier: predict,
# figures) over a test split of `count` files of a folder.
_PROBE = """\
import dataclasses, json, resource, sys, time
start = time.perf_counter()
report = {{}}
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import keras, numpy as np
import zoo
from recipes.common import evaluation
from recipes.common.data import images
keras.utils.set_random_seed(0)
folder = images.load_folder({folder!r}, image_size={image_size!r})
files = folder.files_test + folder.files_val + folder.files_train
labels = np.concatenate([folder.y_test, folder.y_val, folder.y_train])
data = dataclasses.replace(folder, files_test=files[:{count}], y_test=labels[:{count}])
model = zoo.build("cnn", input_shape=data.input_shape, num_outputs=data.num_outputs,
                  filters={filters!r})
model = images.with_preprocessing(model, data)
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
report["peak_kib_before"] = peak()
began = time.perf_counter()
model.evaluate(data.test_batches(), return_dict=True, verbose=0)
evaluation.image_classifier(model, data)
report["timed_seconds"] = time.perf_counter() - began
report["inside_seconds"] = time.perf_counter() - start
report["peak_kib"] = peak()
print({marker!r} + json.dumps(report), flush=True)
"""


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000],
                        help="images per folder (the first and last are compared)")
    parser.add_argument("--source-size", type=int, default=96,
                        help="side of the generated PNG files, pixels")
    parser.add_argument("--image-size", type=int, nargs=2, default=[64, 64],
                        metavar=("H", "W"), help="what the images are resized to")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--filters", type=int, nargs="+", default=[8, 16])
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.source_size, args.image_size = [150, 300], 24, [16, 16]
        args.filters = [4]  # one stage: tracing, not the data, dominates a quick run
    args.sizes = sorted(set(args.sizes))
    return args


# ## The folders


def write_folder(folder: Path, count: int, *, size: int, seed: int = 0) -> None:
    """`count` PNG files, class `i % 3` for image `i`, in one sub-folder per class.

    Each image: Gaussian noise (mean 100, sd 30) with a brighter shape of
    random centre, size and colour: a square, a disc or a horizontal bar.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size]
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        label = index % len(CLASSES)
        image = rng.normal(100.0, 30.0, (size, size, 3))
        centre_row, centre_column = rng.uniform(0.3, 0.7, 2) * size
        radius = rng.uniform(0.15, 0.3) * size
        dy, dx = np.abs(rows - centre_row), np.abs(columns - centre_column)
        if label == 0:
            mask = (dy < radius) & (dx < radius)
        elif label == 1:
            mask = dy**2 + dx**2 < radius**2
        else:
            mask = (dy < radius / 3) & (dx < radius * 1.5)
        image[mask] += rng.uniform(60.0, 120.0, 3)
        pixels = np.clip(image, 0, 255).astype(np.uint8)
        path = folder / CLASSES[label] / f"{index:05d}.png"
        Image.fromarray(pixels).save(path, compress_level=1)


def subset(source: Path, folder: Path, count: int) -> None:
    """The first `count` images of `source` (by index), hard-linked into `folder`."""
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        name = CLASSES[index % len(CLASSES)]
        target = folder / name / f"{index:05d}.png"
        try:
            os.link(source / name / f"{index:05d}.png", target)
        except OSError:  # another file system
            shutil.copyfile(source / name / f"{index:05d}.png", target)


def folder_bytes(folder: Path) -> int:
    return sum(file.stat().st_size for file in folder.rglob("*.png"))


# ## Measuring


def _measure(code: str, backend: str, label: str) -> tuple[dict, float, str]:
    """Runs `code` in a fresh process: its report, wall seconds and stdout."""
    env = _common.worker_environment(backend)
    elapsed = _common.timer()
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=_common.ROOT, env=env,
        capture_output=True, text=True,
    )
    wall = elapsed()
    reports = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    if completed.returncode != 0 or not reports:
        raise RuntimeError(
            f"{label} ({backend}) failed with exit status {completed.returncode}:\n"
            f"{completed.stdout[-1500:]}\n{completed.stderr[-3000:]}"
        )
    report = json.loads(reports[-1][len(MARKER):])
    return report, wall, completed.stdout


def streamed(folder: Path, count: int, backend: str, args, out: Path) -> dict:
    flags = [
        "--images", str(folder), "--image-size", *map(str, args.image_size),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--filters", *map(str, args.filters), "--backend", backend,
        "--memory-cache", "0",  # streamed every epoch: the memory bound measured here
        "--quiet", "--seed", "0", "--output-dir", str(out),
    ]
    code = _RECIPE.format(argv=["recipes.cnn", *flags], module="recipes.cnn", marker=MARKER)
    report, wall, stdout = _measure(code, backend, f"recipes.cnn on {count} images")
    metrics = json.loads((out / "cnn" / "metrics.json").read_text())
    train = int(re.search(r"(\d+) train, ", stdout).group(1))  # the recipe's own line
    shutil.rmtree(out, ignore_errors=True)
    return _row(STREAMED, backend, count, report, wall, {
        "command": "python -m recipes.cnn " + " ".join(flags[2:]).replace(str(out), "TMP"),
        "train_images": train,
        "images_per_second": train * args.epochs / report["timed_seconds"],
        "timed": "fit",
        "peak_rss_mib_before": report["peak_kib_before_fit"] / 1024,
        "peak_rss_mib_after_fit": report["peak_kib_after_fit"] / 1024,
        "test_images": int(re.search(r"(\d+) test images", stdout).group(1)),
        "test_accuracy": metrics.get("test_accuracy"),
    })


def in_memory(folder: Path, count: int, backend: str, args) -> dict:
    code = _ARRAYS.format(folder=str(folder), image_size=tuple(args.image_size), marker=MARKER)
    report, wall, _ = _measure(code, backend, f"load_image_folder on {count} images")
    return _row(IN_MEMORY, backend, count, report, wall, {
        "command": f"data.load_image_folder(DIR, image_size={tuple(args.image_size)})",
        "train_images": report["train_images"],
        "images_per_second": report["decoded"] / report["timed_seconds"],
        "timed": "load",
        "peak_rss_mib_before": report["peak_kib_before_load"] / 1024,
        "array_mib": report["array_bytes"] / 2**20,
    })


def evaluation(folder: Path, count: int, backend: str, args) -> dict:
    code = _PROBE.format(folder=str(folder), count=count, image_size=tuple(args.image_size),
                         filters=list(args.filters), marker=MARKER)
    report, wall, _ = _measure(code, backend, f"evaluation over {count} images")
    return _row(EVALUATION, backend, count, report, wall, {
        "command": "model.evaluate(data.test_batches()), then "
                   "evaluation.image_classifier(model, data): predict, batch 256, "
                   "and the figures",
        "images_per_second": 2 * count / report["timed_seconds"],
        "timed": "evaluate + predict",
        "peak_rss_mib_before": report["peak_kib_before"] / 1024,
    })


def _row(loader, backend, count, report, wall, extra) -> dict:
    return {
        "loader": loader,
        "backend": backend,
        "images": count,
        "peak_rss_mib": report["peak_kib"] / 1024,
        "wall_seconds": wall,
        "timed_seconds": report.get("timed_seconds"),
        **extra,
    }


def growth(rows: list[dict]) -> list[dict]:
    """Peak RSS from each size to the next, per loader (and, streamed, at fit's
    end too) and backend."""
    series = [(STREAMED, STREAMED, "peak_rss_mib"), (FIT_END, STREAMED, "peak_rss_mib_after_fit"),
              (IN_MEMORY, IN_MEMORY, "peak_rss_mib"), (EVALUATION, EVALUATION, "peak_rss_mib")]
    found = []
    for label, loader, key in series:
        for backend in dict.fromkeys(row["backend"] for row in rows):
            peaks = sorted((row["images"], row[key]) for row in rows
                           if row["loader"] == loader and row["backend"] == backend)
            for (small, before), (large, after) in zip(peaks, peaks[1:]):
                found.append({
                    "loader": label, "backend": backend, "small": small, "large": large,
                    "peak_rss_mib_small": before, "peak_rss_mib_large": after,
                    "ratio": after / before, "growth_mib": after - before,
                    "growth_kib_per_image": (after - before) * 1024 / (large - small),
                })
    return found


def _processes(args) -> int:
    return _common.QUICK_PROCESSES if args.quick else 1


def _reporting(job):
    return lambda: _report(job())


def _report(row: dict) -> dict:
    print(f"[{NAME}] {row['loader']}, {row['backend']}, {row['images']} images: peak "
          f"{row['peak_rss_mib']:.0f} MiB, {row['wall_seconds']:.1f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    info = _common.machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="image-folder-") as work:
        work = Path(work)
        largest = work / f"images-{args.sizes[-1]}"
        elapsed = _common.timer()
        write_folder(largest, args.sizes[-1], size=args.source_size)
        folders = {args.sizes[-1]: largest}
        for count in args.sizes[:-1]:
            folders[count] = work / f"images-{count}"
            subset(largest, folders[count], count)
        print(f"[{NAME}] wrote {args.sizes[-1]} PNG files "
              f"({folder_bytes(largest) / 2**20:.0f} MiB) in {elapsed():.1f} s", flush=True)
        for backend in args.backends:
            print(f"[{NAME}] backend {backend} ...", flush=True)
            jobs = []
            for count in args.sizes:
                jobs += [functools.partial(streamed, folders[count], count, backend, args,
                                           work / f"run-{count}"),
                         functools.partial(in_memory, folders[count], count, backend, args)]
            # One process at a time (--quick: a few, timings are no results there).
            rows += _common.run_jobs([_reporting(job) for job in jobs], _processes(args))
            # The test splits alone (15% of the files: the largest folder holds
            # EVALUATION_FACTOR times its test split). --quick: the largest only.
            tests = sorted({row["test_images"] for row in rows
                            if row["loader"] == STREAMED and row["backend"] == backend})
            counts = [*tests, EVALUATION_FACTOR * tests[-1]]
            for count in counts[-1:] if args.quick else counts:
                rows.append(_report(evaluation(largest, count, backend, args)))
        files = {count: folder_bytes(folder) for count, folder in folders.items()}
    info["load_average_end"] = _common.load_average()
    data = {
        "machine": info,
        "settings": {
            "sizes": args.sizes, "classes": len(CLASSES), "source_size": args.source_size,
            "image_size": args.image_size, "epochs": args.epochs,
            "batch_size": args.batch_size, "filters": args.filters,
            "png_mib": {str(count): size / 2**20 for count, size in files.items()},
        },
        "rows": rows,
        "growth": growth(rows),
    }
    _common.save(NAME, args.output_dir, data, _markdown(data))
    return data


def _markdown(data: dict) -> str:
    settings = data["settings"]
    height, width = settings["image_size"]

    def mib(value):
        return "–" if value is None else f"{value:,.0f}"

    rows = [
        [row["loader"], f"`{row['backend']}`", f"{row['images']:,}",
         mib(row["peak_rss_mib"]), mib(row["peak_rss_mib_before"]),
         mib(row.get("peak_rss_mib_after_fit")), f"{row['wall_seconds']:.1f}",
         f"{row['timed']} {row['timed_seconds']:.1f}", f"{row['images_per_second']:,.0f}"]
        for row in data["rows"]
    ]
    growth_rows = [
        [g["loader"], f"`{g['backend']}`", f"{g['small']:,} → {g['large']:,}",
         f"{g['peak_rss_mib_small']:,.0f} → {g['peak_rss_mib_large']:,.0f}",
         f"{g['ratio']:.2f}×", f"{g['growth_mib']:+,.0f}", f"{g['growth_kib_per_image']:+.1f}"]
        for g in data["growth"]
    ]
    png = ", ".join(f"{int(n):,} images = {size:.0f} MiB"
                    for n, size in sorted(settings["png_mib"].items(), key=lambda i: int(i[0])))
    filters = " ".join(map(str, settings["filters"]))
    image_kib = height * width * 3 * 4 / 1024
    return "\n".join([
        "# Image folders: streamed against in-memory",
        "",
        "`python -m benchmarks.image_folder`. " + _common.describe(data["machine"]),
        "",
        f"Synthetic folders of {settings['classes']} classes of "
        f"{settings['source_size']}x{settings['source_size']} RGB PNG files ({png}), "
        f"resized to {height}x{width} ({image_kib:.0f} KiB per image as float32). "
        "Each row is one fresh process, run once; peak RSS is its own `ru_maxrss` at "
        "exit, \"before\" the same just before the images are read, \"as fit ends\" "
        "the same when `fit` returns. Wall s: the whole process, interpreter start "
        "included. \"As fit ends\" tells training from the evaluation after it; the "
        "test-split rows tell whether the evaluation's peak keeps rising past the "
        "folders' splits.",
        "",
        "- **Streamed (recipes.cnn)**: the whole recipe, `python -m recipes.cnn --images "
        f"DIR --image-size {height} {width} --epochs {settings['epochs']} --batch-size "
        f"{settings['batch_size']} --filters {filters} --quiet` (listing, fit, evaluation "
        "and prediction on the test split, plots, saved model); \"before\" = as `fit` "
        "starts; images/s = training images x epochs / seconds of `fit` (validation "
        "included).",
        "- **In-memory arrays**: `data.load_image_folder(DIR, image_size="
        f"({height}, {width}))` after `import keras, tensorflow`: every image decoded to "
        "float32 arrays, no training; \"before\" = after the imports; images/s = all "
        "images decoded / seconds of the load.",
        "- **Streamed test split only**: the recipe's evaluation alone (an untrained "
        "model of the same shape, then `evaluate` over `data.test_batches()` as "
        "recipes.cnn calls it and `evaluation.image_classifier`: `predict` over the same "
        "batches of 256, waiting for each batch under JAX, and the figures), over test "
        "splits of the folders' sizes and of a folder "
        f"{EVALUATION_FACTOR}x the largest; images = test files; images/s = 2 x files / "
        "seconds of both.",
        "",
        _common.table(
            ["loader", "backend", "images", "peak RSS MiB", "before MiB",
             "as fit ends MiB", "wall s", "timed part, s", "images/s"],
            rows, "llrrrrrrr",
        ),
        "",
        "Peak RSS from one size to the next:",
        "",
        _common.table(
            ["loader", "backend", "images", "peak RSS MiB", "ratio", "growth MiB",
             "KiB per extra image"],
            growth_rows, "llrrrrr",
        ),
    ])


if __name__ == "__main__":
    main()
