"""Distribute: training images/s on one process, two processes and two devices.

`python -m recipes.cnn --images DIR --image-size 64 64` (the recipe's own
model and flags otherwise), on a synthetic folder of 64x64 RGB PNGs
(`benchmarks.image_folder.write_folder`: 3 classes, a shape on noise), JAX,
three ways on the same data and global batch:

- `1 process`: the plain command, every core of the machine;
- `1 process x 2 devices`: `--distribute --cpu-devices 2` (XLA splits the
  CPU in two devices; one program, one collective within the process);
- `2 processes`: README's two-process command (`--distribute`,
  `KERAS_DISTRIBUTION_*`, 127.0.0.1), each process pinned to a core of its
  own (`taskset`), gradients all-reduced between the processes through
  JAX's CPU collectives.

Each way runs twice, for 1 and for 1 + `--extra-epochs` epochs, and the
training throughput is the extra epochs' images over the extra `fit`
seconds (timed around `keras.Model.fit` in the process, the chief's for two
processes): start-up, compilation and the first epoch cancel out. Reported
as images/s and as a ratio to one process.

On a CPU all three share the same cores and memory bandwidth: the ratios say
what the collectives and the split cost, not a speed-up. On GPUs each
process or device brings its own accelerator, and the same commands scale
with their number, less the all-reduce of the gradients each step.

Writes `results/distribute.json` and `.md`; in the default folder RESULTS.md
and README's block (between `<!-- benchmarks-distribute:begin -->` and
`<!-- benchmarks-distribute:end -->`).

Run:
    python -m benchmarks.distribute            # ~10 minutes on 2 cores
    python -m benchmarks.distribute --quick    # a tiny folder: does it run?
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import _common, image_folder

NAME = "distribute"
README = _common.ROOT / "README.md"
IMAGES = 1500
IMAGE_SIZE = 64
BATCH_SIZE = 64
EXTRA_EPOCHS = 2
WAYS = ("1 process", "1 process x 2 devices", "2 processes")


def throughput(images: int, epochs: int, short: float, long: float) -> float:
    """Training images/s of the `epochs` a longer run trained beyond a shorter one.

    >>> throughput(1000, 2, short=10.0, long=30.0)
    100.0
    """
    return images * epochs / (long - short)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _commands(way: str) -> list[tuple[list[str], dict[str, str], list[str]]]:
    """The processes of one way: `(command prefix, environment, recipe flags)` each."""
    env = _common.worker_environment("jax")
    if way == "1 process":
        return [([], env, [])]
    if way == "1 process x 2 devices":
        return [([], env, ["--distribute", "--cpu-devices", "2"])]
    addresses = f"127.0.0.1:{_free_port()},127.0.0.1:{_free_port()}"
    return [(["taskset", "-c", str(index % os.cpu_count())],
             {**env, "KERAS_DISTRIBUTION_JOB_ADDRESSES": addresses,
              "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}, ["--distribute"])
            for index in range(2)]


def run_way(way: str, folder: Path, epochs: int, out: Path) -> tuple[float, int]:
    """Runs one way for `epochs`: the chief's seconds in `fit`, and its training images."""
    processes = []
    for prefix, env, flags in _commands(way):
        argv = ["recipes.cnn", "--images", str(folder), "--image-size", str(IMAGE_SIZE),
                str(IMAGE_SIZE), "--batch-size", str(BATCH_SIZE), "--epochs", str(epochs),
                "--quiet", "--backend", "jax", "--cluster-timeout", "60", "--output-dir",
                str(out / f"{way}-{epochs}".replace(" ", "_")), *flags]
        code = image_folder._RECIPE.format(argv=argv, module="recipes.cnn",
                                           marker=image_folder.MARKER)
        processes.append(subprocess.Popen(
            [*prefix, sys.executable, "-c", code], cwd=_common.ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [process.communicate() for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"{way}, {epochs} epochs: exit status {process.returncode}\n"
                               f"{stdout[-1500:]}\n{stderr[-3000:]}")
    chief = outputs[0][0]
    reports = [line for line in chief.splitlines() if line.startswith(image_folder.MARKER)]
    train = int(re.search(r": (\d+) train, ", chief).group(1))  # the data summary line
    return json.loads(reports[-1][len(image_folder.MARKER):])["timed_seconds"], train


def markdown(data: dict) -> str:
    settings = data["settings"]
    rows = [[row["way"], f"{row['images_per_second']:.0f}", f"{row['ratio']:.2f}x",
             f"{row['fit_seconds'][0]:.1f} / {row['fit_seconds'][1]:.1f}"]
            for row in data["rows"]]
    return "\n".join([
        "## Distribute: one process, two devices, two processes",
        "",
        f"recipes.cnn on {settings['images']} synthetic {settings['image_size']}x"
        f"{settings['image_size']} RGB PNGs ({settings['train_images']} train), JAX, batch "
        f"{settings['batch_size']} (global); throughput of {settings['extra_epochs']} extra "
        "epochs (fit seconds of the 1-epoch and the longer run). Two processes: one core each "
        "(taskset), JAX's CPU collectives between them.",
        "",
        _common.describe(data["machine"], ["jax"]),
        "",
        _common.table(["way", "train images/s", "vs 1 process", "fit s (short / long)"], rows,
                      "lrrr"),
    ])


def readme_block(data: dict) -> str:
    rows = {row["way"]: row for row in data["rows"]}
    settings = data["settings"]
    return (
        f"Measured by `python -m benchmarks.distribute` (recipes.cnn, "
        f"{settings['train_images']} training images of {settings['image_size']}x"
        f"{settings['image_size']}, JAX, {_common.cpu_count()} CPU cores): one process trains "
        f"{rows['1 process']['images_per_second']:.0f} images/s, one process on two XLA "
        f"devices {rows['1 process x 2 devices']['ratio']:.2f}x that, two processes of one core "
        f"each {rows['2 processes']['ratio']:.2f}x. On a CPU the three share the same cores, so "
        "the ratios are the cost of splitting the batch and all-reducing the gradients, not a "
        "speed-up; with a GPU per process or device, each brings its own compute and the same "
        "commands scale with their number, less that all-reduce per step "
        "(`benchmarks/results/distribute.md`)."
    )


def _parse(argv):
    parser = _common.parser(__doc__)
    parser.add_argument("--images", type=int, default=IMAGES)
    parser.add_argument("--extra-epochs", type=int, default=EXTRA_EPOCHS)
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.extra_epochs = 90, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    info, elapsed = _common.machine(), _common.timer()
    rows = []
    with tempfile.TemporaryDirectory(prefix="distribute-") as scratch:
        folder = Path(scratch) / "images"
        image_folder.write_folder(folder, args.images, size=IMAGE_SIZE)
        for way in WAYS:
            print(f"[{NAME}] {way} ...", flush=True)
            short, train_images = run_way(way, folder, 1, Path(scratch))
            long, _ = run_way(way, folder, 1 + args.extra_epochs, Path(scratch))
            rows.append({"way": way, "fit_seconds": [round(short, 2), round(long, 2)],
                         "images_per_second": throughput(train_images, args.extra_epochs,
                                                         short, long)})
    for row in rows:
        row["ratio"] = row["images_per_second"] / rows[0]["images_per_second"]
    info["load_average_end"] = _common.load_average()
    data = {"machine": info,
            "settings": {"images": args.images, "train_images": train_images,
                         "image_size": IMAGE_SIZE, "batch_size": BATCH_SIZE,
                         "extra_epochs": args.extra_epochs, "quick": args.quick},
            "total_seconds": round(elapsed(), 1), "rows": rows}
    _common.save(NAME, args.output_dir, data, markdown(data))
    default = Path(args.output_dir).resolve() == _common.RESULTS_DIR.resolve()
    if default and not args.quick:
        text = _common.rewrite_block(README.read_text(), NAME, readme_block(data))
        if text is not None:
            README.write_text(text)
    return data


if __name__ == "__main__":
    main()
