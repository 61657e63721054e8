"""`recipes.common.artifacts`: every write lands whole or not at all."""

import json

import keras
import pandas as pd
import pytest

from recipes.common import artifacts, plots


def test_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    artifacts.write_json(path, {"b": 1, "a": 0.5})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": 1}
    assert path.read_text().startswith('{\n  "a"')  # sorted, indented
    artifacts.write_csv(tmp_path / "t.csv", pd.DataFrame({"x": [1, 2]}))
    assert pd.read_csv(tmp_path / "t.csv")["x"].tolist() == [1, 2]
    figure, axis = plots.subplots(figsize=(2, 2))
    axis.plot([0, 1])
    artifacts.save_figure(figure, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    artifacts.save_model(model, tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").output_shape == (None, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.keras", "plot.png", "sub", "t.csv"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "run.json"
    artifacts.write_json(path, {"epoch": 1})
    with pytest.raises(RuntimeError), artifacts.atomic_path(path) as temporary:
        temporary.write_text('{"epoch": 2')  # half written, then the crash
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
