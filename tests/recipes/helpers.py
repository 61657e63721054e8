"""Image folders the recipe tests write: one sub-folder of PNGs per class."""

from pathlib import Path

import numpy as np


def image_folder(
    root: Path, classes=("circle", "square"), *, per_class: int = 10, size=(12, 12), seed=0
) -> Path:
    """`per_class` RGB PNGs of `size` in `root/<class>/`, a bright blob whose
    place differs by class (learnable), on noise."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = size
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.uniform(0, 80, (height, width, 3))
            left = (index * width // len(classes))
            pixels[:, left:left + max(width // len(classes), 1)] += 150
            Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(root / name / f"{i}.png")
    return root
