"""Image files: checked with Pillow, listed, and read by a `tf.data` pipeline.

The file-level part of `images` (which holds the folder, its split and its
batches): `check_image` tells a readable image from anything else without
decoding it, `list_images` lists a folder, and `file_dataset` decodes files
in parallel into batches, resized, optionally cached in memory or on disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# What `tf.io.decode_image` reads (the formats of Keras' own image loader).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
DECODED_FORMATS = ("BMP", "GIF", "JPEG", "PNG")  # Pillow's names for them
CHANNELS = {"grayscale": 1, "rgb": 3}


def check_image(path: Path) -> tuple[str | None, str | None]:
    """`(mode, None)` for a readable image file, `(None, reason)` otherwise.

    Reads the header and verifies the file's structure with Pillow (for PNG
    its checksums) without decoding the pixels, checks that the format is
    one `tf.io.decode_image` reads (whatever the file's name), and decodes a
    JPEG at 1/8 scale (its data is what a half-downloaded file lacks).
    """
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return None, f"not an image file ({path.suffix or 'no extension'})"
    try:
        with Image.open(path) as image:
            mode, kind = image.mode, image.format
            image.verify()
        if kind not in DECODED_FORMATS:
            return None, f"a {kind} file, which tf.io.decode_image does not read"
        if kind == "JPEG":  # verify() skips JPEG's data: decode it, at 1/8 scale
            with Image.open(path) as image:
                image.draft(image.mode, (image.width // 8 + 1, image.height // 8 + 1))
                image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return None, f"unreadable ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    return mode, None


def decode(contents, *, image_size: tuple[int, int], color_mode: str):
    """Raw file bytes to a float32 image in [0, 255] of `image_size` (a tf op).

    Any mode is converted: decoded as RGB (grayscale repeated, alpha dropped,
    palettes expanded), then to one channel for `"grayscale"`; resized with
    bilinear interpolation, as `keras.layers.Resizing` does.
    """
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    if color_mode == "grayscale":
        image = tf.image.rgb_to_grayscale(image)
    image = tf.image.resize(image, image_size)
    image.set_shape((*image_size, CHANNELS[color_mode]))
    return image


def file_dataset(
    files: list[str],
    labels=None,
    *,
    image_size: tuple[int, int],
    color_mode: str,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    cache: str | None = None,
    drop_remainder: bool = False,
):
    """The `tf.data` pipeline of image files: `(images, labels)` batches, or
    images only when `labels` is `None`; with `drop_remainder`, full batches
    only; `cache` a file name for tf.data's cache on disk, `""` to keep the
    decoded images in memory. See `ImageFolder.dataset`."""
    import tensorflow as tf

    items = (files,) if labels is None else (files, np.asarray(labels, dtype="int64"))
    dataset = tf.data.Dataset.from_tensor_slices(items)
    if shuffle and cache is None:  # file names only: the buffer costs bytes per image
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def load(path, *label):
        image = decode(tf.io.read_file(path), image_size=image_size, color_mode=color_mode)
        return (image, *label)

    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache is not None:
        dataset = dataset.cache(cache)
        if shuffle:  # in memory the buffer holds the cached images, not copies
            buffer = len(files) if cache == "" else 1024
            dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if labels is None:
        dataset = dataset.map(lambda image: image)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def list_images(path: Path) -> list[Path]:
    """Every file under `path` (recursively), sorted; hidden files left out."""
    return sorted(
        file for file in path.rglob("*")
        if file.is_file() and not any(part.startswith(".") for part in file.relative_to(path).parts)
    )
