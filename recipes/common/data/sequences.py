"""Your sequences: UCR/UEA `.ts` files, wide or long CSV tables, `.npz` arrays.

`read_sequences` reads and checks any of the four (a problem: one `ValueError`
naming the file, the series and the value). `load_sequences` makes a `Dataset`:
gaps linearly interpolated within their series (edges: the nearest value),
channels standardised with the training split's mean and std (real steps
only), unequal lengths padded at the end with `PAD_VALUE` and masked
(`Dataset.mask_value`). `Dataset.sequences` holds what was fitted (`Run.save`
writes it to `run.json`); `prepare_sequences` applies it to new series:

```python
data = load_sequences("JapaneseVowels_TRAIN.ts", test_path="JapaneseVowels_TEST.ts")
x_new = prepare_sequences(read_sequences("new.ts", labels=False), data.sequences)
```

Formats, by suffix: `.ts` (the UCR/UEA archive's, read by sktime: uni- or
multivariate, unequal lengths, `?` missing); `.csv`, `.tsv`, `.txt` wide (one
series per row: the `target` label, the other columns its steps in order;
empty trailing cells end a shorter series; `?` or `NaN` is missing) or long
(with `id_column`: one row per step, the series id, an optional `time_column`
to sort by, the `target`, one column per channel); `.npz` (`x` of shape
`(series, steps[, channels])`, `y` one label per series; trailing steps NaN
in every channel are padding).
"""

from __future__ import annotations

import csv
import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recipes.common.data import tables
from recipes.common.data.splits import Dataset, invalid, split

FORMATS = (".ts", ".csv", ".tsv", ".txt", ".npz")
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": None}  # None: sniffed
MISSING = ("", "?", "nan", "na", "null")  # CSV cells, any case
PAD_VALUE = 0.0
VALIDATION_SIZE = 0.15
MIN_SERIES = 10


@dataclasses.dataclass
class RawSequences:
    """One file's series as read (`read_sequences`): `series`, one float64 array
    `(steps, channels)` each, NaN where missing; `labels`, text as in the file
    (or `None`); `ids` (long CSV) or positions, the `id_name` column in
    predictions; `channels` names; `where`, how errors name each series."""

    path: Path
    series: list[np.ndarray]
    labels: list[str] | None
    ids: list
    id_name: str
    channels: list[str]
    where: list[str]


def _problem(path: Path, where: str, text: str) -> ValueError:
    return ValueError(f"Sequences file {str(path)!r}, {where}: {text}")


def _check_column(frame, name: str | None, argument: str, path: Path) -> None:
    if name is None or name not in frame.columns:
        raise ValueError(
            f"Invalid value for argument `{argument}`: expected a column of sequences file "
            f"{str(path)!r}. Columns: {', '.join(map(str, frame.columns))}. "
            f"Received: {argument}={name!r}")


def _label_text(value) -> str:
    """A label as text: whole numbers without `.0`; NaN and `None` as `""`."""
    if isinstance(value, float) and (np.isnan(value) or value.is_integer()):
        return "" if np.isnan(value) else str(int(value))
    return "" if value is None else str(value).strip()


def read_sequences(path: str | Path, *, target: str | None = None,
                   id_column: str | None = None, time_column: str | None = None,
                   channels: Sequence[str] | None = None, labels: bool = True) -> RawSequences:
    """Reads and checks the series of a `.ts`, CSV/TSV (wide or long) or `.npz` file.

    Args:
        path: the file; its suffix picks the format.
        target: CSV: the label column (`.ts` and `.npz` files carry theirs).
        id_column: CSV: the series id column; the file is then long.
        time_column: long CSV: what to sort steps by (numbers, else text).
        channels: long CSV: the value columns (default: all the others).
        labels: whether every series needs a label (training).
    """
    path, suffix = Path(path), Path(path).suffix.lower()
    if not path.is_file() or suffix not in FORMATS:
        raise invalid("sequences", f"an existing {', '.join(FORMATS)} file", str(path))
    if time_column is not None and id_column is None:
        raise invalid("time", "--id with it (a long CSV's series id column)", time_column)
    if suffix == ".ts":
        raw = _read_ts(path)
    elif suffix == ".npz":
        raw = _read_npz(path, labels)
    elif id_column is not None:
        raw = _read_long(path, target, id_column, time_column, channels, labels)
    else:
        raw = _read_wide(path, target, labels)
    for values, where in zip(raw.series, raw.where):
        empty = [name for i, name in enumerate(raw.channels) if np.isnan(values[:, i]).all()]
        if empty:
            channel = f" in channel(s) {', '.join(map(repr, empty))}" if len(values) else ""
            raise _problem(path, where, f"the series has no values{channel}.")
        for value in values[np.isinf(values)][:1]:
            raise _problem(path, where, f"infinite value {float(value)}.")
    if labels and raw.labels is None:
        raise ValueError(f"Sequences file {str(path)!r} has no labels (training needs them).")
    for label, where in zip(raw.labels if labels else [], raw.where):
        if label == "":
            raise _problem(path, where, "missing label.")
    return raw


def _read_ts(path: Path) -> RawSequences:
    # sktime's parser (`load_from_tsfile` adds a conversion, and fails on unlabelled files).
    from sktime.datasets import load_from_tsfile_to_dataframe

    try:
        loaded = load_from_tsfile_to_dataframe(str(path), replace_missing_vals_with="NaN")
    except (OSError, ValueError, TypeError, IndexError, KeyError) as error:
        raise ValueError(f"Sequences file {str(path)!r} cannot be read as a .ts file: "
                         f"{error}") from None
    frame, labels = loaded if isinstance(loaded, tuple) else (loaded, None)
    series, where = [], [f"series {index}" for index in range(len(frame))]
    for index, row in enumerate(frame.itertuples(index=False)):
        lengths = sorted({len(cell) for cell in row})
        if len(lengths) > 1:
            raise _problem(path, where[index], f"its channels differ in length ({lengths}).")
        series.append(np.column_stack([np.asarray(cell, dtype="float64") for cell in row]))
    labels = None if labels is None else [_label_text(label) for label in labels]
    return RawSequences(path, series, labels, list(range(len(series))), "index",
                        [str(name) for name in frame.columns], where)


def _read_text(path: Path):
    """Every cell of a CSV/TSV file as stripped text (`""` where empty)."""
    import pandas as pd

    separator = SEPARATORS[path.suffix.lower()]
    try:
        frame = pd.read_csv(path, sep=separator, engine="python" if separator is None else "c",
                            dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"Sequences file {str(path)!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"Sequences file {str(path)!r} cannot be parsed: {error}") from None
    if frame.empty:
        raise ValueError(f"Sequences file {str(path)!r} has a header but no rows.")
    return frame.fillna("").apply(lambda column: column.str.strip())


def _numbers(cells, path: Path, where: list[str]) -> np.ndarray:
    """Text cells as float64, `MISSING` as NaN; other text is a `ValueError`."""
    import pandas as pd

    gaps = cells.apply(lambda column: column.str.lower().isin(MISSING)).to_numpy()
    numbers = cells.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")
    bad = np.argwhere(np.isnan(numbers) & ~gaps)
    if len(bad):
        row, column = bad[0]
        raise _problem(path, f"{where[row]}, column {str(cells.columns[column])!r}",
                       f"non-numeric value {cells.iat[row, column]!r}.")
    return numbers


def _read_wide(path: Path, target: str | None, labels: bool) -> RawSequences:
    frame = _read_text(path)
    if labels:
        _check_column(frame, target, "target", path)
    text = frame.pop(target).tolist() if target in frame.columns else None
    where = [f"line {row + 2}" for row in range(len(frame))]  # the header is line 1
    numbers, filled = _numbers(frame, path, where), frame.to_numpy() != ""
    series = []
    for row, cells in enumerate(filled):
        length = int(np.flatnonzero(cells)[-1]) + 1 if cells.any() else 0
        if not cells[:length].all():
            gap = int(np.flatnonzero(~cells[:length])[0])
            after = gap + int(np.flatnonzero(cells[gap:])[0])
            raise _problem(path, where[row], (
                f"empty cell in column {str(frame.columns[gap])!r} followed by "
                f"{frame.iat[row, after]!r} in column {str(frame.columns[after])!r} (a "
                "ragged row): only trailing cells may be empty; mark a missing value '?'."))
        series.append(numbers[row, :length, None])
    return RawSequences(path, series, text, list(range(len(series))), "index", ["value"], where)


def _read_long(path, target, id_column, time_column, channels, labels) -> RawSequences:
    import pandas as pd

    frame = _read_text(path)
    for name, argument in ((id_column, "id"), (time_column, "time"), (target, "target")):
        if name is not None or (argument == "target" and labels):
            _check_column(frame, name, argument, path)
    if channels is None:
        channels = [c for c in frame.columns if c not in (id_column, time_column, target)]
    lacking = [name for name in channels if name not in frame.columns]
    if lacking or not channels:
        raise ValueError(
            f"Sequences file {str(path)!r} lacks the value column(s) "
            f"{', '.join(map(repr, lacking)) or '(none besides the id, time and target)'}. "
            f"Columns: {', '.join(map(str, frame.columns))}")
    keys = frame[id_column]
    where = [f"series {key!r} (line {row + 2})" for row, key in enumerate(keys)]
    for row in np.flatnonzero(keys == "")[:1]:
        raise _problem(path, f"line {row + 2}", f"no series id in column {id_column!r}.")
    numbers = _numbers(frame[list(channels)], path, where)
    if time_column is not None:
        numeric = pd.to_numeric(frame[time_column], errors="coerce")
        order = (numeric if numeric.notna().all() else frame[time_column]).to_numpy()
    ids, rows_of = list(dict.fromkeys(keys)), keys.groupby(keys, sort=False).indices
    has_labels = target is not None and target in frame.columns
    series, text = [], [] if has_labels else None
    for key in ids:
        rows = rows_of[key]
        if time_column is not None:
            rows = rows[np.argsort(order[rows], kind="stable")]
        series.append(numbers[rows])
        if has_labels:
            found = [label for label in dict.fromkeys(frame[target].to_numpy()[rows]) if label]
            if len(found) > 1:
                raise _problem(path, f"series {key!r}", f"its rows differ in column {target!r}: "
                               f"{', '.join(map(repr, found[:3]))}.")
            text.append(found[0] if found else "")
    return RawSequences(path, series, text, ids, id_column, [str(c) for c in channels],
                        [f"series {key!r}" for key in ids])


def _read_npz(path: Path, labels: bool) -> RawSequences:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Sequences file {str(path)!r} cannot be read as .npz: {error}") from None
    lacking = [name for name in ("x", "y") if name not in arrays and (labels or name == "x")]
    if lacking:
        raise ValueError(f"Sequences file {str(path)!r} lacks the array(s) {lacking}; it "
                         f"holds {list(arrays)}. Expected `x` (series, steps[, channels]) "
                         "and `y`, one label per series.")
    return from_arrays(arrays["x"], arrays.get("y"), name=str(path))


def from_arrays(x, y=None, *, name: str = "<arrays>") -> RawSequences:
    """`RawSequences` of arrays as an `.npz` holds them: `x` `(series, steps[,
    channels])` (trailing steps NaN in every channel: padding), or a list of
    `(steps[, channels])` arrays; `y` one label per series, or `None`."""
    path = Path(name)
    if isinstance(x, (list, tuple)):
        series = [np.asarray(s, dtype="float64").reshape(len(s), -1) for s in x]
    else:
        x = np.asarray(x)
        if x.ndim not in (2, 3) or not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"Sequences file {str(path)!r}: `x` must be numbers of shape "
                             f"(series, steps[, channels]); got {x.dtype} {x.shape}.")
        x = x.astype("float64").reshape(*x.shape[:2], -1)
        real = [np.flatnonzero(~np.isnan(s).all(axis=-1)) for s in x]
        series = [s[: int(r[-1]) + 1 if len(r) else 0] for s, r in zip(x, real)]
    widths = sorted({s.shape[1] for s in series})
    if len(widths) > 1:
        raise ValueError(f"Sequences {str(path)!r}: the series differ in channels ({widths}).")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(series):
            raise ValueError(f"Sequences file {str(path)!r}: `x` holds {len(series)} series "
                             f"but `y` has shape {y.shape}; expected one label per series.")
        y = [_label_text(label) for label in y.tolist()]
    channels = [f"channel_{i}" for i in range(widths[0] if widths else 1)]
    return RawSequences(path, series, y, list(range(len(series))), "index", channels,
                        [f"series {index}" for index in range(len(series))])


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """`values` `(steps, channels)` with each channel's NaNs linearly
    interpolated within the series; at the edges, the nearest value."""
    filled = np.array(values, dtype="float64")
    steps = np.arange(len(filled))
    for channel in range(filled.shape[1]):
        gaps = np.isnan(filled[:, channel])
        if gaps.any():
            filled[gaps, channel] = np.interp(steps[gaps], steps[~gaps], filled[~gaps, channel])
    return filled


def prepare_sequences(raw: RawSequences, fields: dict[str, Any]) -> np.ndarray:
    """Model inputs of `raw` by a run's fitted preprocessing (`Dataset.sequences`):
    gaps filled, channels standardised with the training mean and std, padded at
    the end to the training length. Returns float32 `(series, steps, channels)`.
    A `ValueError` for another channel count, or a series the model cannot read
    (longer; or of another length, where training had one and no mask)."""
    trained = fields["channels"]
    if len(raw.channels) != len(trained):
        raise ValueError(
            f"Sequences file {str(raw.path)!r} has {len(raw.channels)} channel(s) "
            f"({', '.join(raw.channels)}); the training file {fields['file']!r} has "
            f"{len(trained)} ({', '.join(trained)}).")
    steps, mean, std = fields["steps"], np.asarray(fields["mean"]), np.asarray(fields["std"])
    x = np.full((len(raw.series), steps, len(trained)), fields["pad_value"], dtype="float32")
    for index, (values, where) in enumerate(zip(raw.series, raw.where)):
        if len(values) > steps or (fields["mask_value"] is None and len(values) != steps):
            rule = "at most" if fields["mask_value"] is not None else "exactly"
            raise _problem(raw.path, where, (
                f"the series has {len(values)} steps; the model reads series of {rule} "
                f"{steps} steps (the training series' length)."))
        x[index, : len(values)] = (fill_gaps(values) - mean) / std
    return x


def infer_task(labels: Sequence[str], path: Path) -> str:
    """`"classification"` or `"regression"` by `--csv`'s rule (`tables.infer_task`):
    text, or integers with at most 20 distinct values, are classes; other
    numbers a regression target. Fewer than 2 classes is a `ValueError`."""
    import pandas as pd

    text = pd.Series(list(labels), dtype=object)
    numbers = pd.to_numeric(text, errors="coerce")
    task = tables.infer_task(numbers if numbers.notna().all() else text.astype(str))
    if task == "classification" and text.nunique() < 2:
        raise ValueError(f"Sequences file {str(path)!r}: every series has the label "
                         f"{text.iloc[0]!r}; classification needs two classes or more.")
    return task


def load_sequences(path: str | Path, *, target: str | None = None,
                   id_column: str | None = None, time_column: str | None = None,
                   test_path: str | Path | None = None, seed: int = 0) -> Dataset:
    """Your labelled sequences as a `Dataset` of padded, standardised arrays.

    The task is inferred from the labels as `load_csv` infers it. Without
    `test_path`, a stratified 70/15/15 split (`splits.split`); with it, that
    file is the test split and 15% of `path` (stratified) the validation one.
    `target`, `id_column`, `time_column`: as for `read_sequences`.

    Returns: a `Dataset`, `x` float32 `(series, steps, channels)`, `mask_value`
    `PAD_VALUE` where lengths differ (else `None`), `sequences` what was fitted.
    """
    from sklearn.model_selection import train_test_split

    path, suffix = Path(path), Path(path).suffix.lower()
    for name, value in (("target", target), ("id", id_column), ("time", time_column)):
        if value is not None and suffix in (".ts", ".npz"):
            raise invalid(name, f"no --{name} with a {suffix} file (it holds its labels; "
                          "--target, --id, --time name CSV columns)", value)
    reading = dict(target=target, id_column=id_column, time_column=time_column)
    train = read_sequences(path, **reading)
    if len(train.series) < MIN_SERIES:
        raise ValueError(f"Sequences file {str(path)!r} has {len(train.series)} series; "
                         f"need {MIN_SERIES} or more.")
    test = None if test_path is None else read_sequences(
        test_path, **reading, channels=train.channels if id_column else None)
    labels, column = train.labels + (test.labels if test else []), target or "label"
    task = infer_task(labels, path)
    if task == "classification":
        class_names, y = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        y, class_names = y.astype("int64"), [str(name) for name in class_names]
    else:
        y, class_names = np.asarray(labels, dtype="float32").reshape(-1, 1), [column]
    y_train, y_test = y[: len(train.series)], y[len(train.series):]
    positions = np.arange(len(train.series))
    if test is None:  # stratified 70/15/15
        i_train, y_fit, i_val, y_val, i_test, y_test = split(
            positions, y_train, seed=seed, stratify=task == "classification")
    else:  # the official test split: only a validation split is taken here
        _, counts = np.unique(y_train, return_counts=True)
        strata = y_train if task == "classification" and counts.min() >= 2 else None
        i_train, i_val, y_fit, y_val = train_test_split(
            positions, y_train, test_size=VALIDATION_SIZE, random_state=seed, stratify=strata)
    fitted = np.concatenate([fill_gaps(train.series[i]) for i in i_train])  # real steps only
    std = fitted.std(axis=0)
    lengths = {len(s) for s in train.series + (test.series if test else [])}
    fields = {
        "file": str(path), "task": task, "format": suffix[1:] if suffix in (".ts", ".npz")
        else "long csv" if id_column else "wide csv",
        "channels": train.channels, "mean": fitted.mean(axis=0).tolist(),
        "std": np.where(std > 0, std, 1.0).tolist(), "steps": max(lengths),
        "pad_value": PAD_VALUE, "mask_value": PAD_VALUE if len(lengths) > 1 else None,
        "target": target, "id_column": id_column, "time_column": time_column,
    }
    x = prepare_sequences(train, fields)
    x_test = x[i_test] if test is None else prepare_sequences(test, fields)
    return Dataset.from_split(
        str(path), task, (x[i_train], y_fit, x[i_val], y_val, x_test, y_test),
        num_outputs=len(class_names) if task == "classification" else 1,
        class_names=class_names, feature_names=list(train.channels),
        mask_value=fields["mask_value"], sequences=fields)
