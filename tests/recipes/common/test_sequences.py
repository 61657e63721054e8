"""Your sequences: the four formats read to the same arrays, the preprocessing, every bad input.

The writers here (`series`, `write_ts`, `write_wide`, `write_long`,
`write_npz`) also make the files of tests/recipes/test_rnn_sequences.py.
"""

from pathlib import Path

import numpy as np
import pytest

from recipes.common import data as datasets
from recipes.common.data import sequences
from recipes.common.data.splits import split

SKTIME_DATA = Path(__import__("sktime").__file__).parent / "datasets" / "data"


def series(count=30, channels=2, *, seed=0, lengths=(6, 10), labels=("cat", "dog"), gaps=True):
    """`count` series of `channels` channels and unequal lengths, learnable labels
    (string class names by default), a few NaN gaps (inside and at an edge)."""
    rng = np.random.default_rng(seed)
    values, names = [], []
    for index in range(count):
        label = labels[index % len(labels)]
        steps = np.arange(rng.integers(*lengths, endpoint=True))
        shift = 3.0 * (index % len(labels))
        one = np.stack([np.sin(steps / (2 + c)) * (1 + c) + shift + 10 * c
                        + rng.normal(0, 0.1, len(steps)) for c in range(channels)], axis=-1)
        if gaps and index % 4 == 1:
            one[2, 0] = np.nan  # inside: interpolated
        if gaps and index % 7 == 3:
            one[0, -1] = np.nan  # at the start: the nearest value
        values.append(np.round(one, 4))
        names.append(label)
    return values, names


def _text(value) -> str:
    return "?" if np.isnan(value) else repr(float(value))


def write_ts(path, values, labels, *, classes=None):
    """The UCR/UEA `.ts` format: channels separated by ':', the label last, `?` missing."""
    classes = classes or sorted(set(labels))
    lines = ["@problemName test", "@timeStamps false", "@missing true",
             f"@univariate {'true' if values[0].shape[1] == 1 else 'false'}",
             f"@dimensions {values[0].shape[1]}", "@equalLength false",
             f"@classLabel true {' '.join(classes)}" if labels is not None
             else "@classLabel false", "@data"]
    for index, one in enumerate(values):
        cells = [",".join(_text(v) for v in one[:, c]) for c in range(one.shape[1])]
        lines.append(":".join(cells + ([labels[index]] if labels is not None else [])))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_wide(path, values, labels, *, target="label", separator=","):
    """One univariate series per row: the label first, then the steps; empty trailing cells."""
    width = max(len(one) for one in values)
    lines = [separator.join([target, *[f"t{i}" for i in range(width)]])]
    for one, label in zip(values, labels):
        cells = [_text(v) for v in one[:, 0]] + [""] * (width - len(one))
        lines.append(separator.join([label, *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_long(path, values, labels, *, seed=0):
    """One row per step, each series' steps shuffled (`t` sorts them): `id`, `t`,
    `label` and a column per channel (an empty cell where missing)."""
    rng = np.random.default_rng(seed)
    lines = ["id,t,label," + ",".join(f"c{c}" for c in range(values[0].shape[1]))]
    for index, (one, label) in enumerate(zip(values, labels)):
        for step in rng.permutation(len(one)):
            cells = ["" if np.isnan(v) else repr(float(v)) for v in one[step]]
            lines.append(",".join([f"s{index:02d}", str(step), label, *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_npz(path, values, labels, *, univariate=False):
    """`x` padded at the end with NaN (series, steps[, channels]), `y` the labels."""
    width = max(len(one) for one in values)
    x = np.full((len(values), width, values[0].shape[1]), np.nan)
    for index, one in enumerate(values):
        x[index, : len(one)] = one
    np.savez(path, x=x[..., 0] if univariate else x, y=np.array(labels))
    return path


def assert_same_series(raw, values, labels):
    assert raw.labels == list(labels)
    assert len(raw.series) == len(values)
    for got, expected in zip(raw.series, values):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_reads_the_same_series(tmp_path, channels):
    values, labels = series(channels=channels)
    files = {
        "ts": (write_ts(tmp_path / "a.ts", values, labels), {}),
        "long": (write_long(tmp_path / "a.csv", values, labels),
                 dict(target="label", id_column="id", time_column="t")),
        "npz": (write_npz(tmp_path / "a.npz", values, labels, univariate=channels == 1), {}),
    }
    if channels == 1:
        files["wide"] = (write_wide(tmp_path / "w.csv", values, labels), dict(target="label"))
        files["tsv"] = (write_wide(tmp_path / "w.tsv", values, labels, separator="\t"),
                        dict(target="label"))
        files["txt"] = (write_wide(tmp_path / "w.txt", values, labels, separator=";"),
                        dict(target="label"))  # .txt: the separator is sniffed
    for path, flags in files.values():
        assert_same_series(datasets.read_sequences(path, **flags), values, labels)
    # ... and to the same Dataset: same split, statistics, padding.
    loaded = [datasets.load_sequences(path, **flags, seed=3) for path, flags in files.values()]
    for other in loaded[1:]:
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(other, name), getattr(loaded[0], name))
        assert other.sequences["mean"] == loaded[0].sequences["mean"]
    long = datasets.read_sequences(files["long"][0], target="label", id_column="id",
                                   time_column="t")
    assert long.ids[:2] == ["s00", "s01"] and long.id_name == "id"
    assert long.channels == [f"c{c}" for c in range(channels)]


def test_load_sequences_pads_masks_and_standardises_on_the_training_split(tmp_path):
    values, labels = series(count=40)
    data = datasets.load_sequences(write_ts(tmp_path / "a.ts", values, labels), seed=0)
    assert data.task == "classification" and data.class_names == ["cat", "dog"]
    assert data.x_train.dtype == np.float32 and data.input_shape == (10, 2)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (28, 6, 6)
    assert data.mask_value == 0.0 and data.sequences["mask_value"] == 0.0
    fields = data.sequences
    assert (fields["steps"], fields["pad_value"], fields["channels"]) == (10, 0.0,
                                                                          ["dim_0", "dim_1"])
    # The split is `splits.split`'s, stratified on the classes.
    codes = np.unique(labels, return_inverse=True)[1]
    i_train, y_train, _, _, i_test, y_test = split(np.arange(40), codes, seed=0)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    # The statistics: the training split's real steps only (gaps filled, no padding).
    real = np.concatenate([sequences.fill_gaps(values[i]) for i in i_train])
    np.testing.assert_allclose(fields["mean"], real.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(fields["std"], real.std(axis=0), rtol=1e-6)
    # Standardised real steps (gaps interpolated), then padding of exactly 0.0.
    for part, rows in ((data.x_train, i_train), (data.x_test, i_test)):
        for k, i in enumerate(rows):
            expected = (sequences.fill_gaps(values[i]) - fields["mean"]) / fields["std"]
            np.testing.assert_allclose(part[k, : len(values[i])], expected, rtol=1e-5,
                                       atol=1e-6)
            assert (part[k, len(values[i]):] == 0.0).all()


def test_official_test_file_is_the_test_split_and_stays_out_of_the_statistics(tmp_path):
    values, labels = series(count=40)
    test_values, test_labels = series(count=12, seed=1, lengths=(4, 12))
    test_values = [one * 100 for one in test_values]  # far off: would move the statistics
    data = datasets.load_sequences(
        write_ts(tmp_path / "train.ts", values, labels), seed=0,
        test_path=write_ts(tmp_path / "test.ts", test_values, test_labels))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (34, 6, 12)
    assert data.input_shape == (12, 2)  # padded to the longest series of either file
    np.testing.assert_array_equal(data.y_test, [["cat", "dog"].index(x) for x in test_labels])
    everything = np.concatenate([sequences.fill_gaps(one) for one in values])
    assert np.all(np.abs(np.array(data.sequences["mean"]) - everything.mean(axis=0)) < 1.0)
    # Stratified validation split: both classes in it.
    assert set(data.y_val) == {0, 1}


def test_equal_lengths_are_not_masked_and_the_bundled_archives_load(tmp_path):
    gunpoint = SKTIME_DATA / "GunPoint"
    data = datasets.load_sequences(gunpoint / "GunPoint_TRAIN.ts",
                                   test_path=gunpoint / "GunPoint_TEST.ts")
    assert data.mask_value is None and data.input_shape == (150, 1)
    assert data.class_names == ["1", "2"] and len(data.x_test) == 150
    vowels = SKTIME_DATA / "JapaneseVowels"
    raw = datasets.read_sequences(vowels / "JapaneseVowels_TRAIN.ts")
    assert len(raw.channels) == 12 and len({len(one) for one in raw.series}) > 1


def test_labels_are_kept_as_in_the_file_and_the_task_follows_load_csv(tmp_path):
    values, _ = series(count=20, channels=1)
    zero_padded = ["01", "02"] * 10  # integers: classes, named as written
    data = datasets.load_sequences(write_wide(tmp_path / "a.csv", values, zero_padded),
                                   target="label")
    assert data.task == "classification" and data.class_names == ["01", "02"]
    measured = [f"{0.37 * i + 1.5:.2f}" for i in range(20)]  # many distinct numbers
    data = datasets.load_sequences(write_wide(tmp_path / "b.csv", values, measured),
                                   target="label")
    assert data.task == "regression" and data.num_outputs == 1
    assert data.y_train.dtype == np.float32 and data.y_train.shape[1] == 1
    assert sorted(np.concatenate([data.y_train, data.y_val, data.y_test])[:, 0].round(2)) \
        == sorted(float(m) for m in measured)


def test_fill_gaps_interpolates_inside_and_takes_the_nearest_value_at_the_edges():
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 7.0],
                       [np.nan, 8.0]])
    np.testing.assert_allclose(sequences.fill_gaps(values),
                               [[2, 1], [2, 3], [3, 5], [4, 7], [4, 8]])


def test_prepare_sequences_refuses_what_the_model_cannot_read(tmp_path):
    values, labels = series(count=20)
    data = datasets.load_sequences(write_ts(tmp_path / "a.ts", values, labels))
    longer = sequences.from_arrays([np.zeros((11, 2))], name="new.npz")
    with pytest.raises(ValueError, match=r"'new.npz', series 0: the series has 11 steps; the "
                                         r"model reads series of at most 10 steps"):
        sequences.prepare_sequences(longer, data.sequences)
    equal = datasets.load_sequences(SKTIME_DATA / "GunPoint" / "GunPoint_TRAIN.ts")
    with pytest.raises(ValueError, match="series 0: the series has 11 steps; .* exactly 150"):
        sequences.prepare_sequences(sequences.from_arrays([np.zeros(11)], name="n"),
                                    equal.sequences)


def bad_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "name, text, flags, match",
    [
        ("w.csv", "label,a,b,c\nx,1,2,3\ny,1,,3\n", dict(target="label"),
         r"'.*w.csv', line 3: empty cell in column 'b' followed by '3' in column 'c' "
         r"\(a ragged row\)"),
        ("w.csv", "label,a,b\nx,1,2\ny,,\n", dict(target="label"),
         r"'.*w.csv', line 3: the series has no values"),
        ("w.csv", "label,a,b\nx,1,2\n,3,4\n", dict(target="label"),
         r"'.*w.csv', line 3: missing label"),
        ("w.csv", "label,a,b\nx,1,2\ny,3,heavy\n", dict(target="label"),
         r"'.*w.csv', line 3, column 'b': non-numeric value 'heavy'"),
        ("w.csv", "label,a,b\nx,1,2\n", dict(target="class"),
         r"argument `target`: expected a column of sequences file '.*w.csv'. Columns: label, "
         r"a, b. Received: target='class'"),
        ("w.csv", "label,a,b\nx,1,2\n", {},
         r"argument `target`: .* Received: target=None"),
        ("w.csv", "label,a,b\nx,1,inf\n", dict(target="label"), r"line 2: infinite value inf"),
        ("l.csv", "id,label,v\na,x,1\na,x,2\nb,,3\n", dict(target="label", id_column="id"),
         r"'.*l.csv', series 'b': missing label"),
        ("l.csv", "id,label,v\na,x,1\na,y,2\n", dict(target="label", id_column="id"),
         r"series 'a': its rows differ in column 'label': 'x', 'y'"),
        ("l.csv", "id,label,v\na,x,1\nb,y,?\n", dict(target="label", id_column="id"),
         r"series 'b': the series has no values in channel\(s\) 'v'"),
        ("l.csv", "id,label,v\na,x,1\nb,y,oops\n", dict(target="label", id_column="id"),
         r"series 'b' \(line 3\), column 'v': non-numeric value 'oops'"),
        ("l.csv", "id,label,v\na,x,1\n", dict(target="label", id_column="series"),
         r"argument `id`: expected a column of .* Received: id='series'"),
        ("l.csv", "id,label,v\na,x,1\n", dict(target="label", id_column="id", time_column="t"),
         r"argument `time`: expected a column of .* Received: time='t'"),
        ("l.csv", "id,label,v\na,x,1\n", dict(target="label", time_column="v"),
         r"argument `time`: expected --id with it"),
        ("a.ts", "@problemName t\n@univariate true\n@classLabel true a b\n@data\n1,2:a\n1:2:a\n",
         {}, r"'.*a.ts' cannot be read as a .ts file: "),
        ("a.ts", "", {}, r"'.*a.ts' cannot be read as a .ts file: empty file"),
        ("a.ts", "@problemName t\n@timeStamps false\n@univariate true\n@equalLength false\n"
                 "@classLabel true a b\n@data\n1,2,3:a\n?,?:b\n", {},
         r"'.*a.ts', series 1: the series has no values"),
        ("a.ts", "@problemName t\n@timeStamps false\n@univariate true\n@equalLength false\n"
                 "@classLabel false\n@data\n1,2,3\n", {}, r"'.*a.ts' has no labels"),
        ("a.dat", "1,2\n", {}, r"argument `sequences`: expected an existing .ts, .csv, .tsv, "
                               r".txt, .npz file"),
        ("e.csv", "", dict(target="label"), r"'.*e.csv' is empty"),
    ],
)
def test_bad_input_names_the_file_the_series_and_the_value(tmp_path, name, text, flags, match):
    with pytest.raises(ValueError, match=match):
        datasets.read_sequences(bad_file(tmp_path, name, text), **flags)


def test_bad_npz_files(tmp_path):
    np.savez(tmp_path / "x_only.npz", x=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"'.*x_only.npz' lacks the array\(s\) \['y'\]; it "
                                         r"holds \['x'\]"):
        datasets.read_sequences(tmp_path / "x_only.npz")
    assert len(datasets.read_sequences(tmp_path / "x_only.npz", labels=False).series) == 3
    np.savez(tmp_path / "short_y.npz", x=np.zeros((3, 4)), y=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"`x` holds 3 series but `y` has shape \(2,\)"):
        datasets.read_sequences(tmp_path / "short_y.npz")
    np.savez(tmp_path / "nan_label.npz", x=np.zeros((2, 4)), y=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"'.*nan_label.npz', series 1: missing label"):
        datasets.read_sequences(tmp_path / "nan_label.npz")
    np.savez(tmp_path / "text.npz", x=np.array([["a", "b"]]), y=np.array([1]))
    with pytest.raises(ValueError, match=r"`x` must be numbers of shape"):
        datasets.read_sequences(tmp_path / "text.npz")
    bad_file(tmp_path, "broken.npz", "not a zip")
    with pytest.raises(ValueError, match=r"'.*broken.npz' cannot be read as .npz"):
        datasets.read_sequences(tmp_path / "broken.npz")


def test_load_sequences_refusals(tmp_path):
    values, labels = series(count=20)
    train = write_ts(tmp_path / "train.ts", values, labels)
    one_channel = write_ts(tmp_path / "test.ts", *series(count=4, channels=1))
    with pytest.raises(ValueError, match=r"'.*test.ts' has 1 channel\(s\) \(dim_0\); the "
                                         r"training file '.*train.ts' has 2 \(dim_0, dim_1\)"):
        datasets.load_sequences(train, test_path=one_channel)
    with pytest.raises(ValueError, match=r"argument `target`: expected no --target with a .ts"):
        datasets.load_sequences(train, target="label")
    few = write_ts(tmp_path / "few.ts", values[:5], labels[:5])
    with pytest.raises(ValueError, match=r"'.*few.ts' has 5 series; need 10 or more"):
        datasets.load_sequences(few)
    one_class = write_ts(tmp_path / "one.ts", values, ["cat"] * 20)
    with pytest.raises(ValueError, match=r"every series has the label .cat.; classification"):
        datasets.load_sequences(one_class)


def test_load_data_routes_sequences_and_refuses_their_flags_without_it(tmp_path):
    import argparse

    values, labels = series(count=20)
    flags = dict(sequences=write_ts(tmp_path / "a.ts", values, labels), test_sequences=None,
                 target=None, id=None, time=None, seed=0, split_seed=None, smoke=False,
                 train_size=None, dataset="digits")
    data = datasets.load_data(argparse.Namespace(**flags), view="sequence")
    assert data.sequences["format"] == "ts" and data.input_shape == (10, 2)
    for name in ("target", "test_sequences", "id", "time"):
        wrong = argparse.Namespace(**{**flags, "sequences": None, name: "x"})
        with pytest.raises(ValueError, match=f"argument `{name}`: it needs --sequences"):
            datasets.load_data(wrong)
