"""Image folders streamed from disk: listing, split, checks, pipelines, preprocessing, TTA."""

import re
from pathlib import Path

import numpy as np
import pytest

from recipes.common import evaluation
from recipes.common.data import images


def write_images(folder, count, *, size=(10, 12), mode="RGB", seed=0, start=0, ext="png"):
    """`count` noise images of `size` (height, width) in `folder`; their paths."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shape = (*size, 3) if mode == "RGB" else size
    paths = []
    for i in range(start, start + count):
        path = folder / f"{i:03d}.{ext}"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        paths.append(path)
    return paths


def make_folder(root, classes=("cats", "dogs"), *, per_class=10, size=(10, 12), seed=0):
    for index, name in enumerate(classes):
        write_images(root / name, per_class, size=size, seed=seed + index)
    return root


def pil_pixels(path, mode="RGB"):
    """An independent decode: Pillow, converted to `mode`, float32 (H, W, C)."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert(mode), dtype="float32")
    return pixels[..., None] if pixels.ndim == 2 else pixels


def batches(dataset):
    """Every (images, labels) batch of one pass, as numpy arrays."""
    return [(np.asarray(x), np.asarray(y)) for x, y in dataset]


def concat(dataset):
    parts = batches(dataset)
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def fingerprints(dataset):
    """One number per image of one pass (noise images: all different), in order."""
    return [float(v) for x, _ in dataset
            for v in np.asarray(x, dtype="float64").sum(axis=(1, 2, 3))]


def all_files(data):
    return data.files_train + data.files_val + data.files_test


# -- load_folder: listing and split -------------------------------------------


def test_load_folder_sorted_classes_and_a_stratified_split_of_every_file(tmp_path):
    root = make_folder(tmp_path / "pets", ("zebra", "ant", "moth"), per_class=10)
    data = images.load_folder(root, image_size=(8, 6))
    assert data.class_names == ["ant", "moth", "zebra"]
    assert data.num_outputs == 3
    assert data.name == str(root)
    assert data.image_size == (8, 6) and data.color_mode == "rgb"
    assert data.input_shape == (8, 6, 3) and data.channels == 3
    assert data.cache is None and data.task == "classification"
    assert data.skipped == [] and data.converted == {} and data.notes() == []
    assert data.test_folder is None

    files = all_files(data)
    expected = sorted(str(p) for p in root.rglob("*.png"))
    assert len(files) == len(set(files)) == 30  # each file exactly once
    assert sorted(files) == expected
    assert (len(data.files_train), len(data.files_val), len(data.files_test)) == (24, 3, 3)
    for split in ("train", "val", "test"):
        paths, labels = data.split(split)
        assert labels.dtype == np.int64 and len(labels) == len(paths)
        names = [Path(p).relative_to(root).parts[0] for p in paths]
        assert names == [data.class_names[label] for label in labels]  # labels follow folders
    # stratified 80/10/10: every class in each split, 8/1/1 of each
    np.testing.assert_array_equal(np.bincount(data.y_train, minlength=3), [8, 8, 8])
    np.testing.assert_array_equal(np.bincount(data.y_val, minlength=3), [1, 1, 1])
    np.testing.assert_array_equal(np.bincount(data.y_test, minlength=3), [1, 1, 1])


def test_a_held_out_folder_is_the_test_split_and_the_folder_splits_90_10(tmp_path):
    root = make_folder(tmp_path / "train", ("ant", "moth"), per_class=20)
    held_out = tmp_path / "test"
    write_images(held_out / "moth", 3, seed=5)  # some of the classes only
    data = images.load_folder(root, test_path=held_out, seed=1)
    assert data.test_folder == str(held_out)
    assert sorted(data.files_test) == sorted(str(p) for p in held_out.rglob("*.png"))
    assert data.y_test.tolist() == [1, 1, 1]  # moth: the training folder's index
    assert (len(data.files_train), len(data.files_val)) == (36, 4)
    np.testing.assert_array_equal(np.bincount(data.y_val), [2, 2])
    assert sorted(data.files_train + data.files_val) == sorted(
        str(p) for p in root.rglob("*.png"))
    assert "3 test images (from " in data.summary()
    assert data.image_fields()["test_folder"] == str(held_out)

    write_images(held_out / "wasp", 2)
    with pytest.raises(ValueError, match=re.escape(
            "argument `test_images`: its class sub-folders must be classes of --images "
            f"'{root}' (ant, moth). Received: '{held_out}' with 'wasp'")):
        images.load_folder(root, test_path=held_out)
    with pytest.raises(ValueError, match="argument `test_images`.*Received: .*nope"):
        images.load_folder(root, test_path=tmp_path / "nope")


def test_auto_color_mode_keeps_a_grayscale_folder_one_channel(tmp_path):
    gray = tmp_path / "gray"
    for name in ("a", "b"):
        write_images(gray / name, 6, size=(5, 5), mode="L")
    data = images.load_folder(gray, image_size=(5, 5))
    assert data.color_mode == "grayscale" and data.input_shape == (5, 5, 1)
    assert data.converted == {}
    x, _ = concat(data.dataset("train", batch_size=4))
    np.testing.assert_array_equal(x, np.stack([pil_pixels(p, "L") for p in data.files_train]))

    write_images(gray / "a", 1, size=(5, 5), mode="RGB", start=50)  # one colour image
    mixed = images.load_folder(gray, image_size=(5, 5))
    assert mixed.color_mode == "rgb" and mixed.converted == {"L": 12}
    assert images.load_folder(gray, color_mode="grayscale").converted == {"RGB": 1}


def test_split_is_the_same_for_a_seed_and_differs_for_another(tmp_path):
    root = make_folder(tmp_path, per_class=15)
    first = images.load_folder(root, seed=3)
    second = images.load_folder(root, seed=3)
    other = images.load_folder(root, seed=4)
    assert first.files_test == second.files_test and first.files_train == second.files_train
    np.testing.assert_array_equal(first.y_train, second.y_train)
    assert set(first.files_test) != set(other.files_test)
    assert sorted(all_files(first)) == sorted(all_files(other))


def test_nested_folders_are_included_and_hidden_files_ignored(tmp_path):
    root = make_folder(tmp_path, per_class=5)
    deep = write_images(tmp_path / "cats" / "indoor" / "sofa", 3, seed=7)
    write_images(tmp_path / "dogs" / "park", 2, seed=8)
    write_images(tmp_path / "cats" / ".thumbnails", 2, seed=9)  # hidden folder
    write_images(tmp_path / ".ipynb_checkpoints", 2, seed=10)  # hidden: not a class
    (tmp_path / "cats" / ".hidden.png").write_bytes((deep[0]).read_bytes())
    (tmp_path / "README.png").write_bytes((deep[0]).read_bytes())  # not in a class folder
    data = images.load_folder(root)
    assert data.class_names == ["cats", "dogs"]
    files = all_files(data)
    assert len(files) == 15
    assert {str(p) for p in deep} <= set(files)
    assert not [f for f in files if "/." in f or "README" in f]
    assert data.skipped == []  # hidden files are not even counted as skipped
    labels = dict(zip(files, np.concatenate([data.y_train, data.y_val, data.y_test]), strict=True))
    assert all(labels[str(p)] == 0 for p in deep)


def _missing(root):
    return root / "nope"


def _no_classes(root):
    write_images(root, 3)  # images but no sub-folders
    (root / ".git").mkdir()
    return root


def _one_class(root):
    write_images(root / "only", 12)
    (root / ".cache").mkdir()
    return root


def _class_without_images(root):
    write_images(root / "cats", 12)
    (root / "dogs").mkdir()
    (root / "dogs" / "notes.txt").write_text("no images here")
    return root


def _too_few(root):
    return make_folder(root, per_class=3)


@pytest.mark.parametrize(
    "build, match",
    [
        (_missing, "argument `images`.*{root}/nope"),
        (_no_classes, "Image folder '{root}' has no class sub-folders"),
        (_one_class, "Image folder '{root}' has one class sub-folder only \\('only'\\)"),
        (_class_without_images, "Class folder '{root}/dogs' .*no readable images"),
        (_too_few, "Image folder '{root}' has only 6 readable images; need 10 or more"),
    ],
)
def test_load_folder_rejects_bad_folders(tmp_path, build, match):
    path = build(tmp_path)
    with pytest.raises(ValueError, match=match.format(root=re.escape(str(tmp_path)))):
        images.load_folder(path)


def test_load_folder_rejects_invalid_color_mode_and_split(tmp_path):
    root = make_folder(tmp_path)
    with pytest.raises(ValueError, match="argument `color_mode`.*Received: color_mode='rgba'"):
        images.load_folder(root, color_mode="rgba")
    data = images.load_folder(root)
    with pytest.raises(ValueError, match="argument `split`.*'validation'"):
        data.dataset("validation", batch_size=4)
    with pytest.raises(ValueError, match="argument `split`"):
        data.images("training", [0])


# -- skipped and converted files ----------------------------------------------


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    root = make_folder(tmp_path, per_class=10)
    text = root / "cats" / "notes.txt"
    text.write_text("a cat")
    good = (root / "dogs" / "000.png").read_bytes()
    assert len(good) > 300  # noise: the truncation cuts the pixel data
    truncated = root / "dogs" / "broken.png"
    truncated.write_bytes(good[:100])
    data = images.load_folder(root)
    assert len(all_files(data)) == 20
    assert str(text) not in all_files(data) and str(truncated) not in all_files(data)
    reasons = dict(data.skipped)
    assert set(reasons) == {str(text), str(truncated)}
    assert reasons[str(text)] == "not an image file (.txt)"
    assert reasons[str(truncated)].startswith("unreadable (")
    (note,) = data.notes()
    assert note.startswith(f"Skipped 2 files of {root}")
    assert str(truncated) in note and "not an image file" in note


def test_notes_show_three_skipped_files_and_count_the_rest(tmp_path):
    root = make_folder(tmp_path)
    for i in range(5):
        (root / "cats" / f"{i}.txt").write_text("x")
    (note,) = images.load_folder(root).notes()
    assert note.startswith("Skipped 5 files") and note.endswith("; and 2 more).")


def test_grayscale_among_rgb_is_converted_and_noted(tmp_path):
    root = make_folder(tmp_path, per_class=10, size=(8, 8))
    (gray,) = write_images(root / "cats", 1, size=(8, 8), mode="L", seed=5, start=50)
    data = images.load_folder(root, image_size=(8, 8))
    assert data.converted == {"L": 1}
    (note,) = data.notes()
    assert note == "Converted to rgb as they are read: 1 L images."
    assert str(gray) in all_files(data)
    # decoded as RGB: the gray value in every channel
    one = next(iter(images.file_dataset([str(gray)], image_size=(8, 8), color_mode="rgb",
                                        batch_size=1)))
    np.testing.assert_array_equal(np.asarray(one)[0], pil_pixels(gray, "RGB"))
    # read as grayscale, the RGB files are the converted ones
    as_gray = images.load_folder(root, image_size=(8, 8), color_mode="grayscale")
    assert as_gray.converted == {"RGB": 20}
    assert as_gray.notes() == ["Converted to grayscale as they are read: 20 RGB images."]


# -- ImageFolder.dataset ------------------------------------------------------


def test_dataset_batches_equal_an_independent_decode_in_file_order(tmp_path):
    root = make_folder(tmp_path, per_class=15, size=(10, 12))  # height 10, width 12
    data = images.load_folder(root, image_size=(10, 12))
    parts = batches(data.dataset("test", batch_size=2))
    assert [len(y) for _, y in parts] == [2, 1]
    for x, y in parts:
        assert x.dtype == np.float32 and x.shape[1:] == (10, 12, 3)
        assert y.dtype == np.int64
    x, y = concat(data.dataset("test", batch_size=4))
    np.testing.assert_array_equal(y, data.y_test)  # in file order
    expected = np.stack([pil_pixels(path) for path in data.files_test])
    np.testing.assert_array_equal(x, expected)  # same size: no resize
    assert x.min() >= 0 and x.max() <= 255 and x.max() > 1  # raw pixels, not scaled


def test_dataset_resizes_and_reads_grayscale(tmp_path):
    root = make_folder(tmp_path, per_class=10, size=(10, 12))
    data = images.load_folder(root, image_size=(5, 7))
    x, _ = concat(data.dataset("val", batch_size=8))
    assert x.shape == (len(data.files_val), 5, 7, 3) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 255
    gray = images.load_folder(root, image_size=(10, 12), color_mode="grayscale")
    assert gray.input_shape == (10, 12, 1) and gray.channels == 1
    x, y = concat(gray.dataset("train", batch_size=8))
    assert x.shape == (16, 10, 12, 1)
    np.testing.assert_array_equal(y, gray.y_train)
    expected = np.stack([pil_pixels(path, "L") for path in gray.files_train])
    np.testing.assert_allclose(x, expected, atol=1.0)  # Pillow's and TF's luma differ by rounding


def test_shuffle_changes_order_every_epoch_and_repeats_with_the_seed(tmp_path):
    root = make_folder(tmp_path, per_class=15, size=(8, 8))
    data = images.load_folder(root, image_size=(8, 8))
    plain = fingerprints(data.dataset("train", batch_size=8))
    dataset = data.dataset("train", batch_size=8, shuffle=True, seed=5)
    first, second = fingerprints(dataset), fingerprints(dataset)
    assert len(set(plain)) == len(plain) == len(data.files_train) == 24
    assert sorted(first) == sorted(second) == sorted(plain)  # each image once
    assert first != second and first != plain
    fresh = data.dataset("train", batch_size=8, shuffle=True, seed=5)
    assert [fingerprints(fresh), fingerprints(fresh)] == [first, second]
    assert fingerprints(data.dataset("train", batch_size=8, shuffle=True, seed=6)) != first


def test_file_dataset_without_labels_gives_images_only(tmp_path):
    paths = [str(p) for p in write_images(tmp_path, 3, size=(6, 6))]
    (x,) = [np.asarray(batch) for batch in
            images.file_dataset(paths, image_size=(6, 6), color_mode="rgb", batch_size=3)]
    np.testing.assert_array_equal(x, np.stack([pil_pixels(p) for p in paths]))


def test_decoded_images_stay_in_memory_when_they_fit(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=10, size=(8, 8))
    data = images.load_folder(root, image_size=(8, 8))
    assert data.decoded_bytes() == 4 * 8 * 8 * 3 * 18 and data.in_memory()
    assert "decoded images in memory" in data.summary()
    fits = data.decoded_bytes()
    assert images.load_folder(root, image_size=(8, 8), memory_cache=fits).in_memory()
    assert not images.load_folder(root, image_size=(8, 8), memory_cache=fits - 1).in_memory()
    assert not images.load_folder(root, image_size=(8, 8), cache=tmp_path / "c").in_memory()
    assert "streamed from disk" in images.load_folder(root, memory_cache=0).summary()
    train = data.dataset("train", batch_size=4, shuffle=True, seed=1)
    one = fingerprints(train)
    for path in data.files_train:  # later epochs decode nothing: the files are not read
        Path(path).unlink()
    two = fingerprints(train)
    assert len(one) == 16 and sorted(one) == sorted(two) and one != two  # reshuffled


def test_cache_is_written_reread_and_a_stale_lock_removed(tmp_path):
    root = make_folder(tmp_path / "pets", per_class=10, size=(8, 8))
    cache = tmp_path / "cache"
    data = images.load_folder(root, image_size=(8, 8), cache=cache)
    assert data.cache == cache
    dataset = data.dataset("val", batch_size=2)
    first = batches(dataset)
    written = sorted(p.name for p in cache.iterdir())
    assert any(name.startswith("val-") and name.endswith(".index") for name in written)
    assert not [name for name in written if name.endswith(".lockfile")]
    second = batches(dataset)
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    # a fresh pipeline reads the cache: the files are no longer decoded
    for path in data.files_val:
        Path(path).unlink()
    again = batches(data.dataset("val", batch_size=2))
    np.testing.assert_array_equal(np.concatenate([x for x, _ in again]),
                                  np.concatenate([x for x, _ in first]))

    # a run killed while writing leaves `<cache>_0.lockfile`: the next dataset() removes it
    name = Path(data._cache_file("train", data.files_train))
    lock = name.parent / f"{name.name}_0.lockfile"
    lock.touch()
    other = cache / "elsewhere_0.lockfile"  # another cache's lock is left alone
    other.touch()
    train = data.dataset("train", batch_size=4, shuffle=True, seed=1)
    assert not lock.exists() and other.exists()
    one, two = fingerprints(train), fingerprints(train)
    assert len(one) == 16 and sorted(one) == sorted(two) and one != two  # shuffled after the cache
    # another size or mode is another cache file
    assert images.load_folder(root, image_size=(6, 6), cache=cache)._cache_file(
        "train", data.files_train) != str(name)


# -- subsample, images, inputs ------------------------------------------------


def test_subsample_and_images(tmp_path):
    root = make_folder(tmp_path, per_class=15, size=(10, 12))
    data = images.load_folder(root, image_size=(10, 12))
    small = data.subsample(train=5, evaluation=2)
    assert small.files_train == data.files_train[:5] and len(small.y_train) == 5
    assert small.files_val == data.files_val[:2] and len(small.y_val) == 2
    assert small.files_test == data.files_test[:2]
    np.testing.assert_array_equal(small.y_test, data.y_test[:2])
    assert small.class_names == data.class_names and small.input_shape == (10, 12, 3)
    assert len(data.files_train) == 24  # the original is unchanged
    pictures = data.images("test", [2, 0])
    assert pictures.shape == (2, 10, 12, 3)
    assert 0.0 <= pictures.min() and pictures.max() <= 1.0
    expected = np.stack([pil_pixels(data.files_test[i]) for i in (2, 0)]) / 255.0
    np.testing.assert_allclose(pictures, expected, atol=1e-6)
    np.testing.assert_array_equal(data.test_images([2, 0]), pictures)


def test_batches_and_test_batches_of_a_folder(tmp_path):
    data = images.load_folder(make_folder(tmp_path, per_class=15, size=(8, 8)), image_size=(8, 8))
    train, validation = data.batches(4, seed=2)
    x, y = concat(train)
    assert sorted(y) == sorted(data.y_train) and x.shape == (24, 8, 8, 3)
    assert fingerprints(train) != fingerprints(train)  # reshuffled every epoch
    _, y_val = concat(validation)
    np.testing.assert_array_equal(y_val, data.y_val)  # in file order
    parts = batches(data.test_batches(batch_size=2))
    assert [len(y) for _, y in parts] == [2, 1]
    np.testing.assert_array_equal(np.concatenate([y for _, y in parts]), data.y_test)


# -- with_preprocessing, and what a run records of a folder ------------------


def test_with_preprocessing_takes_raw_images_of_any_size_and_saves(tmp_path):
    import keras
    from keras import layers

    data = images.load_folder(make_folder(tmp_path / "pets", size=(8, 8)), image_size=(8, 8))
    inner = keras.Sequential(
        [keras.Input((8, 8, 3)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
         layers.Dense(2, activation="softmax")], name="inner",
    )
    model = images.with_preprocessing(inner, data)
    assert model.name == "inner"
    assert images.with_preprocessing(inner, data, name="outer").name == "outer"
    rng = np.random.default_rng(0)
    raw = {size: rng.uniform(0, 255, (2, *size, 3)).astype("float32")
           for size in ((20, 30), (8, 8))}
    resize = keras.layers.Resizing(8, 8)
    outputs = {}
    for size, x in raw.items():
        outputs[size] = np.asarray(model.predict(x, verbose=0))
        expected = np.asarray(inner.predict(np.asarray(resize(x)) / 255.0, verbose=0))
        assert outputs[size].shape == (2, 2)
        np.testing.assert_allclose(outputs[size], expected, atol=1e-5)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for size, x in raw.items():
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), outputs[size],
                                   atol=1e-6)


def test_with_preprocessing_grayscale_takes_one_channel(tmp_path):
    import keras
    from keras import layers

    root = make_folder(tmp_path, size=(8, 8))
    data = images.load_folder(root, image_size=(6, 6), color_mode="grayscale")
    inner = keras.Sequential([keras.Input((6, 6, 1)), layers.Flatten(), layers.Dense(2)])
    model = images.with_preprocessing(inner, data)
    assert tuple(model.input_shape) == (None, None, None, 1)
    x, _ = concat(data.dataset("test", batch_size=4))
    assert model.predict(x, verbose=0).shape == (len(x), 2)


def test_a_run_saved_with_a_folder_records_its_images_in_run_json(tmp_path):
    import keras

    from recipes.common import flags, runs
    from recipes.common.data import load_dataset

    root = make_folder(tmp_path / "pets", ("b", "a"), size=(8, 8))
    data = images.load_folder(root, image_size=(8, 6), color_mode="grayscale")
    assert data.image_fields() == {"image_size": [8, 6], "color_mode": "grayscale",
                                   "folder": str(root), "test_folder": None}
    parser = flags.parser("Demo.", epochs=1, batch_size=4, learning_rate=1e-3)
    args = parser.parse_args(["--output-dir", str(tmp_path / "runs"), "--quiet"])
    run = runs.Run(args, "cnn", backend=keras.backend.backend())
    run.save(metrics={}, data=data)
    info = run.info()
    assert info["recipe"] == "cnn"  # merged with the run's own fields
    assert info["task"] == "classification"
    assert info["class_names"] == ["a", "b"]
    assert info["images"]["image_size"] == [8, 6]
    assert info["images"]["color_mode"] == "grayscale"
    assert info["images"]["folder"] == str(root)
    # a later run on the bundled arrays clears `images`
    run.save(metrics={}, data=load_dataset("digits", view="image"))
    info = run.info()
    assert info["images"] is None
    assert info["class_names"] == [str(i) for i in range(10)]
    assert info["task"] == "classification" and info["recipe"] == "cnn"


# -- predict and test-time augmentation ---------------------------------------


def _model(constant=False):
    import keras
    from keras import layers

    if constant:
        return keras.Sequential([
            keras.Input((8, 8, 3)), layers.Flatten(),
            layers.Dense(3, kernel_initializer="zeros",
                         bias_initializer=keras.initializers.Constant([0.1, 0.2, 0.7])),
        ])
    return keras.Sequential([
        keras.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ])


def _tta_by_hand(model, batch_list, tta, seed):
    augment = evaluation.tta_augmentation(seed)
    outputs = []
    for batch in batch_list:
        total = np.asarray(model.predict_on_batch(batch), dtype="float64")
        for _ in range(tta):
            total += np.asarray(model.predict_on_batch(np.asarray(augment(batch, training=True))))
        outputs.append(total / (tta + 1))
    return np.concatenate(outputs)


def _tiny_images(count=10):
    return np.random.default_rng(1).uniform(0, 1, (count, 8, 8, 3)).astype("float32")


def test_predict_without_tta_is_model_predict():
    model, x = _model(), _tiny_images()
    result = evaluation.predict(model, x, tta=0, batch_size=4)
    assert result.shape == (10, 3)
    np.testing.assert_allclose(result, model.predict(x, verbose=0), atol=1e-6)


def test_predict_tta_averages_seeded_augmentations_of_arrays_and_datasets():
    import tensorflow as tf

    model, x = _model(), _tiny_images()
    plain = model.predict(x, verbose=0)
    result = evaluation.predict(model, x, tta=3, batch_size=4, seed=7)
    assert result.shape == (10, 3) and result.dtype == np.float32
    expected = _tta_by_hand(model, [x[0:4], x[4:8], x[8:10]], 3, 7)
    np.testing.assert_allclose(result, expected, atol=1e-6)
    assert not np.allclose(result, plain, atol=1e-4)  # the augmentations do something
    np.testing.assert_allclose(result.sum(axis=1), 1, atol=1e-5)  # still probabilities
    # the same seed gives the same result; another seed another one
    np.testing.assert_array_equal(evaluation.predict(model, x, tta=3, batch_size=4, seed=7), result)
    assert not np.allclose(evaluation.predict(model, x, tta=3, batch_size=4, seed=8), result)

    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(10))).batch(3)
    from_dataset = evaluation.predict(model, dataset, tta=2, seed=0)
    expected = _tta_by_hand(model, [x[0:3], x[3:6], x[6:9], x[9:]], 2, 0)
    np.testing.assert_allclose(from_dataset, expected, atol=1e-6)
    np.testing.assert_allclose(evaluation.predict(model, dataset), plain, atol=1e-6)
    images_only = tf.data.Dataset.from_tensor_slices(x).batch(3)
    np.testing.assert_allclose(evaluation.predict(model, images_only, tta=2, seed=0), expected,
                               atol=1e-6)


def test_predict_tta_of_a_constant_model_is_the_plain_prediction():
    model, x = _model(constant=True), _tiny_images(5)
    plain = evaluation.predict(model, x)
    np.testing.assert_allclose(plain, np.tile([0.1, 0.2, 0.7], (5, 1)), atol=1e-6)
    np.testing.assert_allclose(evaluation.predict(model, x, tta=4, batch_size=2), plain, atol=1e-6)


def test_predict_rejects_negative_tta():
    with pytest.raises(ValueError, match="argument `tta`.*Received: tta=-1"):
        evaluation.predict(None, np.zeros((1, 8, 8, 3)), tta=-1)


# -- check_image --------------------------------------------------------------


def _png(path):
    write_images(path.parent, 1, size=(8, 8))[0].rename(path)


def _gray_png(path):
    write_images(path.parent, 1, size=(8, 8), mode="L")[0].rename(path)


def _jpeg(path):
    write_images(path.parent, 1, size=(8, 8), ext="jpg")[0].rename(path)


def _text(path):
    path.write_text("not an image")


@pytest.mark.parametrize(
    "name, write, mode, reason",
    [
        ("good.png", _png, "RGB", None),
        ("upper.PNG", _png, "RGB", None),
        ("gray.png", _gray_png, "L", None),
        ("photo.jpg", _jpeg, "RGB", None),
        ("photo.jpeg", _jpeg, "RGB", None),
        ("fake.png", _text, None, r"unreadable \(UnidentifiedImageError: cannot identify"),
        ("notes.txt", _text, None, r"not an image file \(\.txt\)"),
        ("noext", _text, None, r"not an image file \(no extension\)"),
    ],
)
def test_check_image(tmp_path, name, write, mode, reason):
    path = tmp_path / "files" / name
    path.parent.mkdir()
    write(path)
    got_mode, got_reason = images.check_image(path)
    assert got_mode == mode
    if reason is None:
        assert got_reason is None
    else:
        assert re.match(reason, got_reason)


# -- images.load_image_folder (arrays) ----------------------------------------


def test_load_image_folder_arrays_leave_out_skipped_files(tmp_path, capsys):
    root = make_folder(tmp_path, per_class=10, size=(10, 12))
    (root / "cats" / "broken.png").write_bytes((root / "cats" / "000.png").read_bytes()[:100])
    data = images.load_image_folder(root, image_size=(10, 12), seed=2)
    assert "Skipped 1 files" in capsys.readouterr().out
    folder = images.load_folder(root, image_size=(10, 12), seed=2)
    assert data.class_names == ["cats", "dogs"] and data.num_outputs == 2
    assert data.input_shape == (10, 12, 3) and data.task == "classification"
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 20
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        files, labels = folder.split(split)
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_array_equal(y, labels)
        np.testing.assert_allclose(x, np.stack([pil_pixels(f) for f in files]) / 255.0,
                                   atol=1e-6)


# -- files Pillow accepts that tf.io.decode_image cannot read are skipped ----


def test_a_truncated_jpeg_is_skipped(tmp_path):
    root = make_folder(tmp_path, per_class=10, size=(8, 8))
    (photo,) = write_images(tmp_path / "scratch", 1, size=(64, 64), ext="jpg")
    broken = root / "cats" / "broken.jpg"
    broken.write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    data = images.load_folder(root, image_size=(8, 8))
    assert str(broken) in dict(data.skipped)
    for split in ("train", "val", "test"):  # and every remaining file decodes
        list(data.dataset(split, batch_size=4))


def test_a_tiff_named_png_is_skipped(tmp_path):
    from PIL import Image

    root = make_folder(tmp_path, per_class=10, size=(8, 8))
    tiff = root / "cats" / "scan.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tiff, format="TIFF")
    data = images.load_folder(root, image_size=(8, 8))
    assert str(tiff) in dict(data.skipped)
