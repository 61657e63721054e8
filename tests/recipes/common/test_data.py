"""`recipes.common.data`: bundled datasets, CSV tables, image folders as
arrays, the split, and the batches `fit` and `evaluate` get."""

import argparse

import keras
import numpy as np
import pytest

from recipes.common import data as datasets
from recipes.common.data import splits


@pytest.mark.parametrize(
    "view, shape", [("flat", (64,)), ("image", (8, 8, 1)), ("sequence", (8, 8))]
)
def test_digits_views(view, shape):
    data = datasets.load_dataset("digits", view=view, seed=0)
    assert data.input_shape == shape
    assert data.num_outputs == 10
    total = len(data.x_train) + len(data.x_val) + len(data.x_test)
    assert total == 1797
    assert 0.0 <= data.x_train.min() and data.x_train.max() == 1.0


def test_split_is_stratified_and_deterministic():
    first = datasets.load_dataset("digits", seed=3)
    second = datasets.load_dataset("digits", seed=3)
    other = datasets.load_dataset("digits", seed=4)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert not np.array_equal(first.y_test, other.y_test)
    for labels in (first.y_train, first.y_val, first.y_test):
        shares = np.bincount(labels, minlength=10) / len(labels)
        np.testing.assert_allclose(shares, 0.1, atol=0.02)


def test_bundled_digits_are_scikit_learns():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    x, y = datasets.load_digits()
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    data = datasets.load_dataset("digits")
    assert data.class_names == [str(name) for name in reference.target_names]
    assert data.feature_names == list(reference.feature_names)


@pytest.mark.parametrize("seed", [0, 7])
def test_split_is_two_calls_of_scikit_learns_train_test_split(seed):
    from sklearn.model_selection import train_test_split

    x = np.arange(200.0)[:, None]
    y = np.repeat(np.arange(4), 50)
    x_train, y_train, x_val, y_val, x_test, y_test = datasets.split(x, y, seed=seed)
    x_rest, expected_test, y_rest, _ = train_test_split(
        x, y, test_size=0.15, random_state=seed, stratify=y)
    expected_train, expected_val = train_test_split(
        x_rest, test_size=0.15 / 0.85, random_state=seed, stratify=y_rest)
    np.testing.assert_array_equal(x_test, expected_test)
    np.testing.assert_array_equal(x_train, expected_train)
    np.testing.assert_array_equal(x_val, expected_val)
    assert all(np.ptp(np.bincount(part)) <= 1 for part in (y_train, y_val, y_test))  # stratified


def test_split_of_text_labels_is_stratified_and_rare_classes_are_not():
    x = np.arange(40.0)[:, None]
    y = np.array(list("ab") * 20)
    parts = datasets.split(x, y, seed=0)
    assert sum(len(part) for part in parts[::2]) == 40
    assert all(set(labels) == {"a", "b"} for labels in parts[1::2])
    rare = np.array([0] * 38 + [1] * 2)  # a class of 2 cannot be stratified 3 ways
    assert sum(len(part) for part in datasets.split(x, rare, seed=0)[::2]) == 40


@pytest.mark.parametrize("name, classes", [("wine", 3), ("breast_cancer", 2)])
def test_tables_are_standardised_on_train_only(name, classes):
    data = datasets.load_dataset(name)
    assert data.num_outputs == classes
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-3)
    assert not np.allclose(data.x_test.mean(axis=0), 0, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "mnist"}, "Invalid value for argument `dataset`.*'mnist'"),
        ({"view": "video"}, "Invalid value for argument `view`.*'video'"),
        ({"name": "wine", "view": "image"}, "Invalid value for argument `view`.*wine"),
    ],
)
def test_load_dataset_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.load_dataset(**kwargs)


def write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def table(rows=40, *, label=lambda i: "yes" if i % 2 else "no", colour=True):
    lines = ["size,colour,label" if colour else "size,label"]
    for i in range(rows):
        fields = [str(i * 0.5)] + (["red" if i % 3 else "blue"] if colour else [])
        lines.append(",".join(fields + [str(label(i))]))
    return "\n".join(lines) + "\n"


def test_csv_classification_with_categorical_feature(tmp_path):
    data = datasets.load_csv(write(tmp_path, table()), "label")
    assert data.task == "classification"
    assert data.class_names == ["no", "yes"]
    # size + one-hot colour (out-of-vocabulary, blue, red), from Keras' FeatureSpace
    assert data.input_shape == (4,)
    assert [c["kind"] for c in data.schema["columns"]] == ["numeric", "text"]
    np.testing.assert_allclose(data.x_train[:, -1].mean(), 0, atol=1e-5)  # size normalised
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 40


def test_csv_regression_inferred_and_forced(tmp_path):
    path = write(tmp_path, table(label=lambda i: i * 1.5))
    assert datasets.load_csv(path, "label").task == "regression"
    integers = write(tmp_path, table(label=lambda i: i % 4), name="ints.csv")
    assert datasets.load_csv(integers, "label").task == "classification"
    assert datasets.load_csv(integers, "label", task="regression").task == "regression"


def test_csv_multilabel(tmp_path):
    lines = ["x,a,b"] + [f"{i},{i % 2},{(i // 2) % 2}" for i in range(30)]
    data = datasets.load_csv(write(tmp_path, "\n".join(lines)), "a,b")
    assert data.task == "multilabel"
    assert data.y_train.shape[1] == 2


@pytest.mark.parametrize(
    "text, target, match",
    [
        (None, "label", "Invalid value for argument `csv`.*missing.csv"),
        ("", "label", "is empty"),
        ("size,label\n", "label", "no rows"),
        (table(), "price", "Target column 'price' not found.*Columns: size, colour, label"),
        ("label\n1\n2\n", "label", "no feature columns"),
        (
            "size,label\n1,a\nbig,b\n3,a\n", "label",
            "column 'size': non-numeric value 'big' at line 3",
        ),
        ("size,label\n1,a\n2,a\n", "label", "at least 2 classes"),
        ("size,a,b\n1,0,1\n2,2,0\n", "a,b", "column 'a': multi-label.*line 3"),
        ("m/s,m_s,label\n1,2,a\n3,4,b\n", "label",
         r"columns \['m/s', 'm_s'\] would be the same model input \(Keras names cannot "
         r"hold '/', read as '_'\): rename them"),
    ],
)
def test_bad_csv_is_named(tmp_path, text, target, match):
    path = tmp_path / "missing.csv" if text is None else write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        datasets.load_csv(path, target)


def test_missing_error_keeps_the_refusal(tmp_path):
    path = write(tmp_path, "size,label\n1,a\n,b\n3,a\n")
    with pytest.raises(ValueError, match="column 'size': missing value at line 3"):
        datasets.load_csv(path, "label", missing="error")
    with pytest.raises(ValueError, match="argument `missing`.*'guess'"):
        datasets.load_csv(path, "label", missing="guess")


def test_bad_csv_task_arguments(tmp_path):
    path = write(tmp_path, table())
    with pytest.raises(ValueError, match="Invalid value for argument `task`.*'poetry'"):
        datasets.load_csv(path, "label", task="poetry")
    with pytest.raises(ValueError, match="argument `task`.*one target column"):
        datasets.load_csv(path, "label", task="multilabel")
    with pytest.raises(ValueError, match="regression target must be numeric; found 'no'"):
        datasets.load_csv(path, "label", task="regression")


def test_too_many_categories(tmp_path):
    lines = ["name,label"] + [f"n{i},{i % 2}" for i in range(60)]
    with pytest.raises(ValueError, match="column 'name'.*60 distinct values"):
        datasets.load_csv(write(tmp_path, "\n".join(lines)), "label")


def test_bundled_sunspots_series_is_split_in_time_order():
    data = datasets.load_series(window=10)
    assert data.input_shape == (10, 1)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 309 - 10
    mean, std = data.scale
    # Undo the scaling: the first target is the 11th year, 1710 (3 sunspots).
    assert data.y_train[0, 0] * std + mean == pytest.approx(3.0, abs=1e-3)
    # Each window's last value is the previous window's target: no look-ahead.
    assert data.x_train[1, -1, 0] == data.y_train[0, 0]
    np.testing.assert_allclose(data.x_val[0, -1, 0], data.y_train[-1, 0])


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        (None, {}, "argument `csv`"),
        ("t,v\n" + "\n".join(f"{i},{i}" for i in range(40)), {"column": "w"}, "'w' not found"),
        ("t,v\n1,2\n2,x\n" + "\n".join(f"{i},{i}" for i in range(40)), {}, "'x' at line 3"),
        ("t,v\n1,2\n2,3\n", {}, "too few"),
        ("t,v\n1,2\n", {"window": 0}, "argument `window`"),
    ],
)
def test_bad_series(tmp_path, text, kwargs, match):
    path = tmp_path / "nothing.csv" if text is None else write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        datasets.load_series(path, **kwargs)


def test_image_folder(tmp_path):
    import keras

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(10):
            keras.utils.save_img(tmp_path / label / f"{i}.png", rng.uniform(0, 255, (12, 10, 3)))
    data = datasets.load_image_folder(tmp_path, image_size=(8, 8), color_mode="grayscale")
    assert data.input_shape == (8, 8, 1)
    assert data.class_names == ["cats", "dogs"]
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 20
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_bad_image_folder(tmp_path):
    with pytest.raises(ValueError, match="argument `images`"):
        datasets.load_image_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="no class sub-folders"):
        datasets.load_image_folder(tmp_path)


def _passes(batches, count):
    """`count` passes over `(x, y)` batches as `fit` makes them (a tf.data
    pipeline on TensorFlow is iterated again; a PyDataset on JAX is indexed
    and told each epoch's end): each a list of numpy `(x, y)` batches."""
    passes = []
    for _ in range(count):
        if hasattr(batches, "element_spec"):
            passes.append(list(batches.as_numpy_iterator()))
        else:
            passes.append([batches[index] for index in range(len(batches))])
            batches.on_epoch_end()
    return passes


def _epochs(dataset, count):
    """The labels of `count` passes over `dataset`, in order, as lists."""
    return [[int(label) for _, y in batches for label in np.asarray(y)]
            for batches in _passes(dataset, count)]


def test_test_batches_take_a_bundled_split_in_one_batch_in_order():
    data = datasets.load_dataset("digits")
    (batches,) = _passes(data.test_batches(), 1)
    assert len(batches) == 1 and datasets.EVALUATION_BATCH_SIZE >= len(data.x_test)
    x, y = batches[0]
    np.testing.assert_array_equal(x, data.x_test)
    np.testing.assert_array_equal(y, data.y_test)
    (small,) = _passes(data.test_batches(batch_size=100), 1)
    assert [len(y) for _, y in small] == [100, 100, 70]


def test_shuffled_array_batches_drop_a_new_remainder_every_epoch():
    x = np.arange(10.0)[:, None]
    y = np.arange(10)
    epochs = _passes(splits.array_batches(x, y, 4, shuffle=True, seed=1), 3)
    for seen in epochs:
        assert len(seen) == 2
        assert all(len(bx) == len(by) == 4 and (bx[:, 0] == by).all() for bx, by in seen)
    labels = [np.concatenate([by for _, by in seen]) for seen in epochs]
    assert all(len(set(epoch)) == 8 for epoch in labels)
    assert not np.array_equal(labels[0], labels[1])
    (again,) = _passes(splits.array_batches(x, y, 4, shuffle=True, seed=1), 1)
    np.testing.assert_array_equal(np.concatenate([by for _, by in again]), labels[0])
    (few,) = _passes(splits.array_batches(x[:3], y[:3], 4, shuffle=True), 1)
    assert len(few) == 1 and len(few[0][0]) == 3  # fewer samples than a batch: one batch


def test_array_batches_of_several_inputs_on_either_backend():
    """A tf.data pipeline on TensorFlow (its strategies split it over devices
    and workers themselves), a PyDataset on JAX."""
    x, y = np.arange(10)[:, None] * 1.0, np.arange(10)
    batches = splits.array_batches((x, 2 * x), y, 4)
    assert hasattr(batches, "element_spec") == (keras.backend.backend() == "tensorflow")
    (seen,) = _passes(batches, 1)
    assert [len(labels) for _, labels in seen] == [4, 4, 2]
    for (left, right), labels in seen:
        np.testing.assert_array_equal(left[:, 0], labels)
        np.testing.assert_array_equal(right[:, 0], 2 * labels)


def test_training_batches_reshuffle_every_epoch_and_repeat_with_the_seed():
    data = datasets.load_dataset("digits", seed=0).subsample(train=50, evaluation=20)
    data.y_train = np.arange(len(data.x_train))  # to tell the samples apart
    train, validation = data.batches(16, seed=7)
    first, second = _epochs(train, 2)
    again = _epochs(data.batches(16, seed=7)[0], 2)
    assert again == [first, second]  # same seed, same order
    assert first != second  # reshuffled between epochs
    assert len(set(first)) == len(first)  # no sample twice
    assert _epochs(validation, 1)[0] == [int(label) for label in data.y_val]  # in order


def _flags(**overrides):
    values = dict(csv=None, images=None, target=None, seed=0, split_seed=None, smoke=False,
                  train_size=None, dataset="digits")
    return argparse.Namespace(**{**values, **overrides})


def test_load_data_picks_the_bundled_data_and_shrinks_it_for_smoke_and_train_size():
    full = datasets.load_data(_flags(), view="image")
    assert full.input_shape == (8, 8, 1) and len(full.x_train) == 1257
    smoke = datasets.load_data(_flags(smoke=True))
    assert (len(smoke.x_train), len(smoke.x_val), len(smoke.x_test)) == (300, 100, 100)
    fewer = datasets.load_data(_flags(train_size=100))
    assert len(fewer.x_train) == 100 and len(fewer.x_test) == len(full.x_test)
    other = datasets.load_data(_flags(split_seed=5))
    assert not np.array_equal(other.y_test, full.y_test)


def test_load_data_names_a_target_without_a_table():
    with pytest.raises(ValueError, match="argument `target`: it needs --csv"):
        datasets.load_data(_flags(target="label"))


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="JAX's processes feed their slices (tests/test_backends.py runs it)")
def test_array_batches_feed_each_process_its_slice_of_every_batch(monkeypatch):
    """Two processes of one device each: process 1 gets the second half of
    each global batch, in the order one process would; evaluation batches
    leave out the odd sample (every batch splits over the 2 devices).
    TensorFlow's strategy slices the batches itself."""
    from recipes.common import cluster

    x, y = np.arange(10)[:, None] * 1.0, np.arange(10)
    whole = splits.array_batches(x, y, 4, shuffle=True, seed=3)
    monkeypatch.setattr(cluster, "data_shard", lambda: (1, 2, 2))
    part = splits.array_batches((x, x), y, 4, shuffle=True, seed=3)
    assert len(part) == len(whole) == 2
    for index in range(2):
        (left, right), labels = part[index]
        np.testing.assert_array_equal(labels, whole[index][1][2:])
        np.testing.assert_array_equal(left[:, 0], labels)
    evaluation = splits.array_batches(x[:9], y[:9], 4)
    assert [batch[1].tolist() for batch in evaluation] == [[2, 3], [6, 7]]
    with pytest.raises(ValueError, match="multiple of the 2 devices.*batch_size=5"):
        splits.array_batches(x, y, 5, shuffle=True)
