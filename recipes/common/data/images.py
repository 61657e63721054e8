"""Your image folders, streamed from disk: listing, split, `tf.data` pipelines.

(The files themselves, their checks and their pipeline: `image_files`.)

`load_folder(path)` lists a folder with one sub-folder per class, checks
each file's header with Pillow without decoding it, and splits the file list
80/10/10, stratified and seeded (the same split on every run and on resume);
with `test_path`, your own held-out folder is the test split and the folder
splits 90/10. Grayscale folders stay one channel (`color_mode="auto"`). The
images are read in batches by a `tf.data` pipeline (`ImageFolder.dataset`:
decoded in parallel, resized, batched, prefetched), which keeps the decoded
training and validation images in memory when they fit `memory_cache` bytes
(later epochs decode nothing) and otherwise streams them from disk every
epoch, optionally through a cache on disk; it feeds `fit` on any backend.
Scaling and resizing belong to the model: `with_preprocessing(model, data)`
puts `Resizing` and `Rescaling(1 / 255)` in front of it, so the saved model
takes raw images of any size, as `recipes.predict --images` feeds it.

Why not `keras.utils.image_dataset_from_directory` alone: it splits the
folder itself (random, unstratified, no test split) and fails mid-epoch with
a TensorFlow trace on a corrupt file. Here a bad file is named and skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from recipes.common import cluster
from recipes.common.data.image_files import (
    CHANNELS,
    IMAGE_EXTENSIONS,
    check_image,
    file_dataset,
    list_images,
)
from recipes.common.data.splits import invalid, split

COLOR_MODES = ("auto", *CHANNELS)
# Pillow's modes that are already `color_mode` (anything else is converted).
_NATIVE_MODES = {"grayscale": ("L", "I", "I;16", "1"), "rgb": ("RGB",)}
# Default split fractions: validation, and test when no test folder is given.
VAL_SIZE, TEST_SIZE = 0.1, 0.1
# Decoded training and validation images up to this many bytes stay in memory.
MEMORY_CACHE = 1 << 30
# Test batches of a streamed image folder: decoded images, so fewer at once.
STREAMED_EVALUATION_BATCH_SIZE = 256


@dataclasses.dataclass
class ImageFolder:
    """A split folder of image files, read in batches (see `load_folder`).

    Attributes:
        name: the folder.
        files_train, files_val, files_test: image paths of each split.
        y_train, y_val, y_test: their class indices (int64 arrays).
        class_names: the class sub-folders' names, sorted.
        image_size: `(height, width)` images are resized to.
        color_mode: `"grayscale"` or `"rgb"`; other modes are converted.
        skipped: `(path, reason)` of each file left out.
        converted: counts of the Pillow modes that were converted.
        cache: folder of the on-disk cache of decoded images, or `None`.
        memory_cache: bytes of decoded training and validation images kept
            in memory at most (0: none); beyond it they are read every epoch.
        test_folder: the folder the test split comes from, when it is not
            `name`'s.
    """

    name: str
    files_train: list[str]
    y_train: np.ndarray
    files_val: list[str]
    y_val: np.ndarray
    files_test: list[str]
    y_test: np.ndarray
    class_names: list[str]
    image_size: tuple[int, int]
    color_mode: str = "rgb"
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    converted: dict[str, int] = dataclasses.field(default_factory=dict)
    cache: Path | None = None
    memory_cache: int = MEMORY_CACHE
    test_folder: str | None = None
    task: str = "classification"

    @property
    def num_outputs(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return CHANNELS[self.color_mode]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape the model's layers after `Resizing` see."""
        return (*self.image_size, self.channels)

    def subsample(self, train: int, evaluation: int) -> ImageFolder:
        """The first `train` training and `evaluation` val/test files (for --smoke)."""
        return dataclasses.replace(
            self,
            files_train=self.files_train[:train],
            y_train=self.y_train[:train],
            files_val=self.files_val[:evaluation],
            y_val=self.y_val[:evaluation],
            files_test=self.files_test[:evaluation],
            y_test=self.y_test[:evaluation],
        )

    def notes(self) -> list[str]:
        """Lines about the files skipped and the images converted, if any."""
        lines = []
        if self.converted:
            modes = ", ".join(f"{count} {mode}" for mode, count in sorted(self.converted.items()))
            lines.append(f"Converted to {self.color_mode} as they are read: {modes} images.")
        if self.skipped:
            shown = "; ".join(f"{path}: {reason}" for path, reason in self.skipped[:3])
            more = f"; and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            lines.append(f"Skipped {len(self.skipped)} files of {self.name} ({shown}{more}).")
        return lines

    def summary(self) -> str:
        """One line: the sizes of the splits, the image shape and the classes."""
        test = f" (from {self.test_folder})" if self.test_folder else ""
        where = "in memory" if self.in_memory() else "streamed from disk"
        return (f"{self.name}: {len(self.y_train)} train, {len(self.y_val)} validation, "
                f"{len(self.y_test)} test images{test} of shape {self.input_shape}, "
                f"{self.num_outputs} classes; decoded images {where}")

    def decoded_bytes(self) -> int:
        """Bytes of the training and validation images once decoded (float32)."""
        pixels = int(np.prod(self.input_shape))
        return 4 * pixels * (len(self.files_train) + len(self.files_val))

    def in_memory(self) -> bool:
        """Whether the decoded training and validation images stay in memory:
        when they fit `memory_cache` and no cache on disk is asked for."""
        return self.cache is None and 0 < self.decoded_bytes() <= self.memory_cache

    def image_fields(self) -> dict[str, Any]:
        """What `run.json` records for `recipes.predict --images`."""
        return {"image_size": list(self.image_size), "color_mode": self.color_mode,
                "folder": self.name, "test_folder": self.test_folder}

    def batches(self, batch_size: int, *, seed: int = 0) -> tuple[Any, Any]:
        """`(train, validation)` `tf.data` pipelines for `model.fit(train,
        validation_data=validation)`; the training files reshuffled every epoch."""
        return (self.dataset("train", batch_size=batch_size, shuffle=True, seed=seed),
                self.dataset("val", batch_size=batch_size))

    def test_batches(self, batch_size: int = STREAMED_EVALUATION_BATCH_SIZE):
        """The test split's pipeline in file order (predictions line up with
        `y_test`), for `model.evaluate(...)` and `model.predict(...)`."""
        return self.dataset("test", batch_size=batch_size)

    def test_images(self, indices) -> np.ndarray:
        """Test images `indices` in [0, 1], decoded, for plots."""
        return self.images("test", indices)

    def dataset(
        self, split: str, *, batch_size: int, shuffle: bool = False, seed: int = 0
    ):
        """A `tf.data.Dataset` of `(images, labels)` batches of one split.

        Images are float32 pixel values in [0, 255], resized to `image_size`.
        The training and validation splits are cached on disk with `cache`,
        else decoded once and kept in memory when they fit `memory_cache`
        (`in_memory()`), else decoded every epoch. With `shuffle`, the order
        changes every epoch (seeded): the file list is shuffled before
        decoding, or the decoded images after the cache (all of them in
        memory; in a buffer of 1,024 from a cache on disk).
        """
        files, labels = self.split(split)
        count, size = cluster.batching(len(files), batch_size, shuffle=shuffle, what="images")
        if self.cache is not None:
            cache = self._cache_file(split, files[:count])
        elif split != "test" and self.in_memory():
            cache = ""  # tf.data's cache in memory
        else:
            cache = None
        dataset = file_dataset(
            files[:count], labels[:count], image_size=self.image_size,
            color_mode=self.color_mode, batch_size=size, shuffle=shuffle, seed=seed,
            cache=cache, drop_remainder=shuffle and cluster.data_shard()[2] > 1,
        )
        return cluster.process_slices(dataset)  # under --distribute across processes

    def split(self, split: str) -> tuple[list[str], np.ndarray]:
        if split not in ("train", "val", "test"):
            raise invalid("split", "'train', 'val' or 'test'", split)
        return getattr(self, f"files_{split}"), getattr(self, f"y_{split}")

    def images(self, split: str, indices) -> np.ndarray:
        """The images `indices` of `split`, decoded and resized (for plots)."""
        files, labels = self.split(split)
        chosen = [files[int(i)] for i in indices]
        batches = file_dataset(chosen, labels[np.asarray(indices, dtype=int)],
                               image_size=self.image_size, color_mode=self.color_mode,
                               batch_size=max(len(chosen), 1))
        return np.concatenate([x for x, _ in batches.as_numpy_iterator()]) / 255.0

    def _cache_file(self, split: str, files: list[str]) -> str:
        # One cache per split, file list, size and mode: a stale one is never read.
        key = hashlib.sha1(
            "\n".join([*files, str(self.image_size), self.color_mode]).encode()
        ).hexdigest()[:12]
        path = Path(self.cache) / f"{split}-{key}"
        path.parent.mkdir(parents=True, exist_ok=True)
        # A run killed while writing the cache leaves a lock file that makes
        # tf.data refuse the cache; the half-written cache has no index and
        # is rewritten.
        for lock in path.parent.glob(f"{path.name}*.lockfile"):
            lock.unlink()
        return str(path)


def _class_folders(path: Path, argument: str) -> list[Path]:
    """The class sub-folders of `path`, sorted; a clear error without two."""
    if not path.is_dir():
        raise invalid(argument, "a folder with one sub-folder of images per class", str(path))
    classes = sorted(child for child in path.iterdir()
                     if child.is_dir() and not child.name.startswith("."))
    if not classes:
        raise ValueError(
            f"Image folder {str(path)!r} has no class sub-folders; put each "
            "class's images in a sub-folder named after the class."
        )
    if len(classes) == 1 and argument == "images":
        raise ValueError(
            f"Image folder {str(path)!r} has one class sub-folder only "
            f"({classes[0].name!r}); a classifier needs two or more."
        )
    return classes


def _list_classes(classes: list[Path], labels: dict[str, int], argument: str):
    """`(files, labels, skipped, modes)` of readable images in `classes`."""
    files, found_labels, skipped, modes = [], [], [], Counter()
    for folder in classes:
        found = 0
        for file in list_images(folder):
            mode, reason = check_image(file)
            if reason is not None:
                skipped.append((str(file), reason))
                continue
            files.append(str(file))
            found_labels.append(labels[folder.name])
            modes[mode] += 1
            found += 1
        if not found:
            raise ValueError(
                f"Class folder {str(folder)!r} of --{argument.replace('_', '-')} holds no "
                f"readable images ({', '.join(IMAGE_EXTENSIONS)}); add some or remove the folder."
            )
    return files, np.asarray(found_labels, dtype="int64"), skipped, modes


def load_folder(path: str | Path, *, image_size: tuple[int, int] = (32, 32),
                color_mode: str = "auto", seed: int = 0, cache: str | Path | None = None,
                test_path: str | Path | None = None, memory_cache: int = MEMORY_CACHE,
                val_size: float = VAL_SIZE, test_size: float = TEST_SIZE) -> ImageFolder:
    """Lists and splits a folder of images, one sub-folder per class.

    Files that are not images or that Pillow cannot read are skipped and
    counted (`ImageFolder.skipped`; `notes()` says so); images in
    another colour mode (grayscale among RGB, RGBA, palettes) are converted
    to `color_mode` and counted.

    Args:
        path: folder with one sub-folder of images per class (the class
            name); images may sit in nested folders below it.
        image_size: `(height, width)` the images are resized to.
        color_mode: `"grayscale"`, `"rgb"`, or `"auto"`: grayscale when
            every image is (one channel in, as the files hold it), else rgb.
        seed: seed of the stratified split of the file list.
        cache: a folder for the on-disk cache of decoded images, or `None`.
        test_path: your held-out folder, the same class sub-folders (or
            some of them): the test split. `path` then splits into training
            and `val_size` validation only.
        memory_cache: bytes of decoded training and validation images kept
            in memory at most; 0 streams them from disk every epoch.
        val_size, test_size: fractions of `path` for validation and (without
            `test_path`) test.

    Raises:
        ValueError: a missing folder, no class sub-folders, a single class,
            a class folder without readable images, fewer than 10 images, or
            a test folder with a class `path` lacks; naming the folder.
    """
    path = Path(path)
    if color_mode not in COLOR_MODES:
        raise invalid("color_mode", f"one of {COLOR_MODES}", color_mode)
    classes = _class_folders(path, "images")
    labels = {folder.name: index for index, folder in enumerate(classes)}
    files, y, skipped, modes = _list_classes(classes, labels, "images")
    if len(files) < 10:
        raise ValueError(f"Image folder {str(path)!r} has only {len(files)} readable images; "
                         "need 10 or more.")
    if test_path is None:
        parts = split(np.asarray(files), y, seed=seed, val_size=val_size, test_size=test_size)
    else:
        test_classes = _class_folders(Path(test_path), "test_images")
        unknown = [folder.name for folder in test_classes if folder.name not in labels]
        if unknown:
            raise ValueError(
                f"Invalid value for argument `test_images`: its class sub-folders must be "
                f"classes of --images {str(path)!r} ({', '.join(labels)}). "
                f"Received: {str(test_path)!r} with {', '.join(map(repr, unknown))}")
        test_files, y_test, test_skipped, test_modes = _list_classes(
            test_classes, labels, "test_images")
        skipped, modes = skipped + test_skipped, modes + test_modes
        parts = (*split(np.asarray(files), y, seed=seed, val_size=val_size, test_size=0)[:4],
                 np.asarray(test_files), y_test)
    if color_mode == "auto":
        grayscale = all(mode in _NATIVE_MODES["grayscale"] for mode in modes)
        color_mode = "grayscale" if grayscale else "rgb"
    x_train, y_train, x_val, y_val, x_test, y_test = parts
    return ImageFolder(
        str(path),
        list(x_train), y_train, list(x_val), y_val, list(x_test), y_test,
        class_names=[folder.name for folder in classes],
        image_size=(int(image_size[0]), int(image_size[1])),
        color_mode=color_mode,
        skipped=skipped,
        converted={mode: count for mode, count in modes.items()
                   if mode not in _NATIVE_MODES[color_mode]},
        cache=None if cache is None else Path(cache),
        memory_cache=int(memory_cache),
        test_folder=None if test_path is None else str(test_path),
    )


def with_preprocessing(model, data: ImageFolder, *, name: str | None = None):
    """`model` behind `Resizing(*data.image_size)` and `Rescaling(1 / 255)`.

    The result takes raw images of any size, pixel values in [0, 255], with
    `data.channels` channels: what `file_dataset` and `recipes.predict
    --images` feed it.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(None, None, data.channels), name="images")
    x = layers.Resizing(*data.image_size, name="resize")(inputs)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    return keras.Model(inputs, model(x), name=name or model.name)


def load_image_folder(
    path: str | Path,
    *,
    image_size: tuple[int, int] = (32, 32),
    color_mode: str = "auto",
    seed: int = 0,
    test_path: str | Path | None = None,
):
    """A folder of images, one sub-folder per class, as in-memory arrays.

    For the recipes that need arrays (autoencoders, siamese pairs); the cnn,
    gmlp and transfer-learning recipes stream the folder instead
    (`load_folder`), which this builds on: the same listing, checks,
    conversions and stratified split (80/10/10, or 90/10 with `test_path`
    the test split), then every image decoded and scaled to [0, 1].

    Returns:
        A `splits.Dataset`.
    """
    from recipes.common.data.splits import Dataset

    folder = load_folder(path, image_size=image_size, color_mode=color_mode, seed=seed,
                         test_path=test_path)
    for note in folder.notes():
        print(note)

    def arrays(split):
        files, labels = folder.split(split)
        batches = file_dataset(files, labels, image_size=folder.image_size,
                               color_mode=folder.color_mode, batch_size=256)
        x = np.concatenate([x for x, _ in batches.as_numpy_iterator()]) / 255.0
        return x.astype("float32"), labels

    return Dataset.from_split(
        folder.name,
        "classification",
        (*arrays("train"), *arrays("val"), *arrays("test")),
        num_outputs=folder.num_outputs,
        class_names=folder.class_names,
    )
