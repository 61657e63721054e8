"""The tuning recipe: results table, retrain, resume, fingerprint, chief and workers,
for random search and for --search hyperband and bayesian.

In-process runs share one small search (2 trials, 1 epoch, --smoke data),
and the Hyperband tests one small Hyperband search (5 trials of 1-2 epochs),
both with --tensorboard;
the kill-and-resume test kills a real process and resumes here, and the
chief (here) and its two workers (real processes) talk over 127.0.0.1 only;
the processes are always killed in a `finally`.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import keras_tuner
import pandas as pd
import pytest

import zoo
from recipes import predict, tune
from recipes.common import tuning
from recipes.common.data import load_sequences
from tests.recipes.common.test_sequences import series, write_ts

# One xdist worker runs this module: its tests share expensive runs.
pytestmark = pytest.mark.xdist_group("tune")

ROOT = Path(__file__).resolve().parents[2]
FLAGS = ["--model", "mlp", "--smoke", "--quiet", "--epochs", "1", "--steps-per-execution", "1"]
METRICS = ["accuracy", "loss", "val_accuracy", "val_loss"]
TIMEOUT = 420  # seconds for a whole subprocess run on a busy 2-core machine


def read_results(project_dir):
    return pd.read_csv(project_dir / "results.csv",
                       dtype={"trial_id": str, "tuner_id": str, "from_trial_id": str})


def snapshot(directory):
    return {
        str(path.relative_to(directory)): path.stat().st_mtime_ns
        for path in sorted(Path(directory).rglob("*"))
    }


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def searched(tmp_path_factory):
    """One tiny search (2 trials: the fewest to order) with --retrain-best
    and --tensorboard: (directory, summary)."""
    directory = tmp_path_factory.mktemp("tuning")
    summary = tune.main([*FLAGS, "--max-trials", "2", "--directory", str(directory),
                         "--retrain-best", "--tensorboard"])
    return directory, summary


# ## The results table and the retrained model


@pytest.mark.slow
def test_results_table_has_every_trial_best_first(searched):
    directory, summary = searched
    project = directory / "mlp"
    table = read_results(project)
    space = keras_tuner.HyperParameters()
    zoo.get_spec("mlp").search_space(space, input_shape=(64,), num_outputs=10)
    hyperparameters = [hp.name for hp in space.space] + ["optimizer", "learning_rate", "batch_size"]
    assert list(table.columns) == [
        "trial_id", "status", "score", "best_epoch", "elapsed_seconds", "tuner_id",
        *hyperparameters, *METRICS,
    ]
    assert len(table) == 2 and sorted(table["trial_id"]) == ["0", "1"]
    assert (table["status"] == "COMPLETED").all()
    assert (table["tuner_id"] == "tuner0").all()
    assert (table["elapsed_seconds"] > 0).all() and (table["best_epoch"] == 1).all()
    assert list(table["score"]) == sorted(table["score"], reverse=True)  # val_accuracy: max
    assert (table["score"] == table["val_accuracy"]).all()
    assert summary["completed_trials"] == 2
    assert summary["best_trial_id"] == table["trial_id"][0]
    assert summary["best_val_accuracy"] == pytest.approx(table["score"][0])
    assert (project / "results.png").stat().st_size > 0
    assert not [p for p in project.rglob(".*")], "temporary files left behind"


@pytest.mark.slow
def test_retrain_best_saves_the_model_and_its_test_metrics(searched):
    directory, summary = searched
    project = directory / "mlp"
    metrics = json.loads((project / "best_metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    best = read_results(project).iloc[0]
    assert metrics["hyperparameters"]["units"] == best["units"]
    assert metrics["retrain_epochs"] == best["best_epoch"]
    model = keras.saving.load_model(project / "best_model.keras", safe_mode=True)
    assert model.output_shape == (None, 10)
    # The saved model is the one tested: its accuracy on the same test split.
    args = tune.parse_args([*FLAGS, "--directory", str(directory)])
    x_test, y_test = tuning.load_task_data(args, tuning.searchable_spec("mlp")).test
    predicted = model.predict(x_test, verbose=0).argmax(axis=-1)
    assert metrics["test_accuracy"] == pytest.approx((predicted == y_test).mean(), abs=1e-6)
    info = json.loads((project / "run.json").read_text())
    assert info["recipe"] == "tune" and info["model_file"] == "best_model.keras"
    assert info["task"] == "classification" and info["class_names"] == [str(d) for d in range(10)]
    assert info["backend"] == keras.backend.backend() and info["flags"]["model"] == "mlp"
    assert len(pd.read_csv(project / "best_history.csv")) == metrics["retrain_epochs"]


# ## Resume and the fingerprint


@pytest.mark.slow
def test_rerun_resumes_and_more_trials_extend_the_search(searched, tmp_path):
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    project = tmp_path / "mlp"
    runs = {p.parent.name: p.read_text() for p in project.glob("trial_*/run.json")}
    # The search ran with --tensorboard: an output flag, not part of the search.
    assert "tensorboard" not in json.loads((project / tuning.FINGERPRINT_FILE).read_text())[
        "search"]
    summary = tune.main([*FLAGS, "--max-trials", "2", "--directory", str(tmp_path)])
    assert summary["completed_trials"] == 2
    assert {p.parent.name: p.read_text() for p in project.glob("trial_*/run.json")} == runs

    summary = tune.main([*FLAGS, "--max-trials", "3", "--directory", str(tmp_path)])
    table = read_results(project)
    assert summary["completed_trials"] == 3
    assert sorted(table["trial_id"]) == ["0", "1", "2"]


@pytest.mark.slow
def test_a_changed_search_is_refused_and_overwrite_starts_over(searched, tmp_path):
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"holds a different search \(changed: epochs\)"):
        tune.main([*FLAGS, "--epochs", "2", "--directory", str(tmp_path)])
    with pytest.raises(ValueError, match=r"changed: .*model.*search_space.*--overwrite"):
        tune.main(
            [*FLAGS, "--model", "autoencoder", "--project-name", "mlp",
             "--directory", str(tmp_path)]
        )
    assert snapshot(tmp_path) == before

    summary = tune.main(
        [*FLAGS, "--max-trials", "1", "--directory", str(tmp_path), "--overwrite",
         "--batch-size", "32"]
    )
    table = read_results(tmp_path / "mlp")
    assert summary["completed_trials"] == 1 and list(table["trial_id"]) == ["0"]
    assert "batch_size" not in table  # fixed by the flag, not tuned


def test_a_project_without_fingerprint_is_refused(tmp_path):
    (tmp_path / "mlp").mkdir()
    (tmp_path / "mlp" / "oracle.json").write_text("{}")
    with pytest.raises(ValueError, match="without a fingerprint.json.*--overwrite"):
        tune.main([*FLAGS, "--directory", str(tmp_path)])


@pytest.mark.slow
def test_resume_reruns_interrupted_trials_only(searched, tmp_path):
    # keras-tuner 1.4.8's chief leaves the trial that ended last listed as
    # ongoing in oracle.json; a crash can leave a RUNNING trial.json that
    # oracle.json does not list yet.
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    project = tmp_path / "mlp"
    oracle_state = json.loads((project / "oracle.json").read_text())
    oracle_state["ongoing_trials"] = {"chief-worker": "1"}
    (project / "oracle.json").write_text(json.dumps(oracle_state))
    trial = json.loads((project / "trial_0" / "trial.json").read_text())
    trial.update(status="RUNNING", score=None)
    (project / "trial_0" / "trial.json").write_text(json.dumps(trial))

    objective = keras_tuner.Objective("val_accuracy", "max")
    upstream = keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=2)
    upstream._set_project_dir(str(tmp_path), "mlp")
    upstream.reload()
    assert upstream._retry_queue == ["1"]  # would re-run a finished trial, not trial 0

    oracle = tuning.ResumableRandomSearchOracle(objective=objective, max_trials=2)
    oracle._set_project_dir(str(tmp_path), "mlp")
    oracle.reload()
    assert oracle._retry_queue == ["0"]

    table = tuning.results_table(project, objective)
    assert dict(zip(table["trial_id"], table["status"])) == {"1": "COMPLETED", "0": "RUNNING"}
    assert table["status"].iloc[-1] == "RUNNING" and pd.isna(table["score"].iloc[-1])


# ## --tensorboard: keras-tuner's per-trial logs and HParams sessions


def trial_logs(project, trial_id):
    """`(sessions, curves)` of a trial's `logs/<trial_id>/execution0/`, as
    TensorBoard reads them: `sessions`, each HParams session start written
    there as `{name: value}` (plus its group name under `"trial_id"`);
    `curves`, `{(split, tag): [(step, value), ...]}` of every scalar."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2
    from tensorboard.util import tensor_util

    folder = project / tune.LOGS_DIR / trial_id / "execution0"
    reader = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    reader.Reload()
    tag = metadata.SESSION_START_INFO_TAG
    content = reader.PluginTagToContent(metadata.PLUGIN_NAME)[tag]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {name: getattr(value, value.WhichOneof("kind"))
               for name, value in start.hparams.items()}
    sessions = [{**hparams, "trial_id": start.group_name}] * len(reader.Tensors(tag))
    curves = {}
    for split in ("train", "validation"):
        split_reader = EventAccumulator(str(folder / split), size_guidance={"tensors": 0})
        split_reader.Reload()
        for name in split_reader.Tags()["tensors"]:
            curves[split, name] = [
                (event.step, float(tensor_util.make_ndarray(event.tensor_proto)))
                for event in split_reader.Tensors(name)]
    return sessions, curves


def assert_logs_match_results(project, table, hyperparameters, epochs):
    """Each trial of `table` has one HParams session with its row's
    hyperparameters, and its curves one point per epoch in `epochs[trial]`,
    with its row's metrics at its best epoch."""
    for _, row in table.iterrows():
        sessions, curves = trial_logs(project, row["trial_id"])
        assert len(sessions) == 1, f"trial {row['trial_id']}: {len(sessions)} sessions"
        assert sessions[0] == pytest.approx(
            {"trial_id": row["trial_id"], **{name: row[name] for name in hyperparameters}})
        for (split, tag), column in {("train", "epoch_loss"): "loss",
                                     ("train", "epoch_accuracy"): "accuracy",
                                     ("validation", "epoch_loss"): "val_loss",
                                     ("validation", "epoch_accuracy"): "val_accuracy"}.items():
            points = curves[split, tag]
            assert [step for step, _ in points] == list(epochs[row["trial_id"]]), (split, tag)
            best = dict(points)[int(row["best_epoch"]) - 1]
            assert best == pytest.approx(row[column], rel=1e-6), (split, tag)


@pytest.mark.slow
def test_tensorboard_logs_each_trial_and_a_rerun_replaces_its_logs(searched, tmp_path):
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    project = tmp_path / "mlp"
    table = read_results(project)
    hyperparameters = list(table.columns[6:-len(METRICS)])
    assert {"units", "optimizer", "learning_rate", "batch_size"} <= set(hyperparameters)
    assert sorted(p.name for p in (project / "logs").iterdir()) == ["0", "1"]
    assert_logs_match_results(project, table, hyperparameters, {"0": [0], "1": [0]})

    # As a kill during trial 1 leaves it (no metrics yet: keras-tuner reports
    # them as the trial ends; its logs stand in for the killed attempt's):
    # the resume re-runs it from the start, logging in a fresh folder.
    oracle_state = json.loads((project / "oracle.json").read_text())
    oracle_state["ongoing_trials"] = {"tuner0": "1"}
    (project / "oracle.json").write_text(json.dumps(oracle_state))
    trial = json.loads((project / "trial_1" / "trial.json").read_text())
    trial.update(status="RUNNING", score=None, best_step=None, metrics={"metrics": {}})
    (project / "trial_1" / "trial.json").write_text(json.dumps(trial))
    before = snapshot(project / "logs" / "0")
    run = (project / "trial_1" / "run.json").read_text()
    summary = tune.main([*FLAGS, "--max-trials", "2", "--directory", str(tmp_path),
                         "--tensorboard"])  # resumed, not refused: not in the fingerprint
    assert summary["completed_trials"] == 2
    assert (project / "trial_1" / "run.json").read_text() != run  # trial 1 ran again
    assert snapshot(project / "logs" / "0") == before  # trial 0 did not
    table = read_results(project)
    assert (table["status"] == "COMPLETED").all()
    assert_logs_match_results(project, table, hyperparameters, {"0": [0], "1": [0]})


def spawn(log_dir, name, *flags):
    """`python -m recipes.tune` in the background, output in `<log_dir>/<name>.log`."""
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "recipes.tune", *FLAGS, *flags],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    process.log = log
    return process


def stop(*processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        process.log.close()


def wait_for(condition, processes, what):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        for process in processes:
            if process.poll() is not None:
                log = Path(process.log.name).read_text()[-3000:]
                raise AssertionError(f"exited ({process.returncode}) before {what}:\n{log}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def interrupted_if_one_fails(processes, what):
    """Runs the block in this (the main) thread, interrupting it (an
    `AssertionError` with the log) if one of `processes` exits with an error,
    or when TIMEOUT has passed: a chief here would otherwise wait forever for
    a worker that died."""
    done, failures, main = threading.Event(), [], threading.main_thread().ident

    def watch():
        deadline = time.monotonic() + TIMEOUT
        while not done.wait(0.2):
            failed = [process for process in processes if process.poll() not in (None, 0)]
            if failed:
                log = Path(failed[0].log.name).read_text()[-3000:]
                failures.append(f"exited ({failed[0].returncode}) before {what}:\n{log}")
            elif time.monotonic() > deadline:
                failures.append(f"timed out waiting for {what}")
            else:
                continue
            signal.pthread_kill(main, signal.SIGUSR1)
            return

    def interrupt(signum, frame):
        raise AssertionError(failures[0])

    previous = signal.signal(signal.SIGUSR1, interrupt)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        try:
            done.set()
            watcher.join()
        finally:
            signal.signal(signal.SIGUSR1, previous)


def trial_status(project, trial_id):
    try:
        return json.loads((project / f"trial_{trial_id}" / "trial.json").read_text())["status"]
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.subprocess
def test_kill_during_a_trial_then_resume(tmp_path):
    flags = ["--max-trials", "2", "--epochs", "2", "--directory", str(tmp_path)]
    project = tmp_path / "mlp"
    first = spawn(tmp_path, "first", *flags)
    try:
        wait_for(lambda: trial_status(project, "1") == "RUNNING", [first], "trial 1 to start")
        os.kill(first.pid, signal.SIGKILL)
    finally:
        stop(first)
    assert trial_status(project, "0") == "COMPLETED"
    assert trial_status(project, "1") == "RUNNING", "killed after the trial ended"

    # The same command again (here: resuming needs no fresh process).
    summary = tune.main([*FLAGS, *flags])
    assert summary["completed_trials"] == 2
    table = read_results(project)
    assert sorted(table["trial_id"]) == ["0", "1"]  # no duplicates, no extra trials
    assert (table["status"] == "COMPLETED").all()
    ran = {p.parent.name: json.loads(p.read_text())["pid"] for p in project.glob("*/run.json")}
    assert ran == {"trial_0": first.pid, "trial_1": os.getpid()}  # only trial 1 ran again


@pytest.mark.slow
@pytest.mark.subprocess
def test_one_chief_and_two_workers(tmp_path):
    """Hyperband, the search whose trials depend on each other: a later round
    waits for the trials of the round before it, run by either worker.
    Random and Bayesian searches go through the same chief's service
    (keras-tuner's oracle), with trials that wait for nothing."""
    address = f"127.0.0.1:{free_port()}"
    flags = [*HYPERBAND, "--directory", str(tmp_path)]
    workers = [
        spawn(tmp_path, f"worker{i}", *flags, "--worker", address, "--worker-id", str(i),
              "--chief-timeout", str(TIMEOUT))
        for i in range(2)
    ]
    try:
        # Both workers wait for the chief, so both get a trial when it starts.
        wait_for(
            lambda: all("waiting up to" in Path(w.log.name).read_text() for w in workers),
            workers, "the workers to wait for the chief",
        )
        # The chief runs here (it only serves the search): it returns when
        # both workers have been told to stop and no trial runs.
        with interrupted_if_one_fails(workers, "the search ended"):
            summary = tune.main([*FLAGS, *flags, "--chief", address])
        for worker in workers:
            code = worker.wait(timeout=TIMEOUT)
            assert code == 0, Path(worker.log.name).read_text()[-3000:]
    finally:
        stop(*workers)
    expected = sorted(SCHEDULE)
    assert summary["completed_trials"] == len(expected)
    project = tmp_path / "mlp"
    table = read_results(project)
    assert sorted(table["trial_id"]) == expected
    assert (table["status"] == "COMPLETED").all() and table["score"].notna().all()
    assert set(table["tuner_id"]) == {"worker0", "worker1"}
    # keras-tuner's schedule, in whichever order the workers asked.
    schedule = [(row.bracket, row.round, row.initial_epoch, row.epochs)
                for row in table.itertuples()]
    assert sorted(schedule) == sorted(SCHEDULE.values())
    (later,) = table[table["round"] == 1].itertuples()
    first_round = table[(table["bracket"] == later.bracket) & (table["round"] == 0)]
    assert str(later.from_trial_id).zfill(4) in set(first_round["trial_id"])
    assert json.loads((project / "oracle.json").read_text())["ongoing_trials"] == {}


# ## --search hyperband and bayesian

HYPERBAND = ["--search", "hyperband", "--max-epochs", "2", "--factor", "2"]
# keras-tuner's Hyperband for max_epochs 2, factor 2: bracket 1 trains two
# models 1 epoch, then the better one to epoch 2; bracket 0 two models 2 epochs.
# trial: (bracket, round, initial_epoch, epochs); ids padded as keras-tuner pads them.
SCHEDULE = {"0000": (1, 0, 0, 1), "0001": (1, 0, 0, 1), "0002": (1, 1, 1, 2),
            "0003": (0, 0, 0, 2), "0004": (0, 0, 0, 2)}


@pytest.fixture(scope="session")
def hyperband_searched(tmp_path_factory):
    """One tiny Hyperband search (the 5 trials above) with --retrain-best."""
    directory = tmp_path_factory.mktemp("hyperband")
    summary = tune.main([*FLAGS, *HYPERBAND, "--directory", str(directory), "--retrain-best",
                         "--tensorboard"])
    return directory, summary


def optimizer_steps(project, trial_id):
    """The optimizer's step count in a trial's best-epoch checkpoint."""
    import h5py

    with h5py.File(project / f"trial_{trial_id}" / "checkpoint.weights.h5") as weights:
        return int(weights["optimizer/vars/0"][()])


@pytest.mark.slow
def test_hyperband_results_follow_its_schedule(hyperband_searched):
    directory, summary = hyperband_searched
    project = directory / "mlp"
    table = read_results(project)
    assert list(table.columns[:11]) == [
        "trial_id", "status", "score", "best_epoch", "elapsed_seconds", "tuner_id",
        "bracket", "round", "initial_epoch", "epochs", "from_trial_id",
    ]
    assert not [column for column in table.columns if column.startswith("tuner/")]
    assert (table["status"] == "COMPLETED").all() and summary["completed_trials"] == 5
    rows = table.set_index("trial_id")
    assert {trial: tuple(int(v) for v in rows.loc[trial, ["bracket", "round", "initial_epoch",
                                                          "epochs"]])
            for trial in rows.index} == SCHEDULE
    # Round 1 continues the better of round 0, with its hyperparameters.
    parent = max(["0000", "0001"], key=lambda trial: rows.loc[trial, "score"])
    assert rows.loc["0002", "from_trial_id"] == parent
    assert rows.loc[rows.index != "0002", "from_trial_id"].isna().all()
    names = list(table.columns[11:-len(METRICS)])  # the hyperparameters
    assert {"units", "optimizer", "learning_rate", "batch_size"} <= set(names)
    assert rows.loc["0002", names].equals(rows.loc[parent, names])
    # It trained one epoch from its parent's weights and optimizer state: its
    # best epoch counts from the parent's start, its optimizer ran on.
    assert rows.loc["0002", "best_epoch"] == 2
    # Each trial's best epoch lies within the epochs its round trained.
    assert (rows["initial_epoch"] < rows["best_epoch"]).all()
    assert (rows["best_epoch"] <= rows["epochs"]).all()
    assert (rows.loc[["0000", "0001"], "best_epoch"] == 1).all()
    assert optimizer_steps(project, "0002") == 2 * optimizer_steps(project, parent)
    # --retrain-best trains the best for its best epoch (from scratch).
    metrics = json.loads((project / "best_metrics.json").read_text())
    assert summary["best_trial_id"] == table["trial_id"][0]
    assert metrics["retrain_epochs"] == table["best_epoch"][0]
    assert len(pd.read_csv(project / "best_history.csv")) == metrics["retrain_epochs"]
    assert set(metrics["hyperparameters"]) == set(names)  # not Hyperband's tuner/*
    assert (project / "best_model.keras").is_file()
    # --tensorboard: each trial's epochs (0-based) and hyperparameters, not tuner/*.
    epochs = {trial: range(schedule[2], schedule[3]) for trial, schedule in SCHEDULE.items()}
    assert_logs_match_results(project, table, names, epochs)


@pytest.mark.slow
def test_hyperband_resume_reruns_the_interrupted_trial_only(hyperband_searched, tmp_path):
    shutil.copytree(hyperband_searched[0], tmp_path, dirs_exist_ok=True)
    project = tmp_path / "mlp"
    flags = [*FLAGS, *HYPERBAND, "--directory", str(tmp_path)]
    before = {p.parent.name: p.read_text() for p in project.glob("trial_*/run.json")}
    assert tune.main(flags)["completed_trials"] == 5  # finished: nothing runs
    assert {p.parent.name: p.read_text() for p in project.glob("trial_*/run.json")} == before

    # As a kill during trial 0002 (the one that continues a round-0 trial) leaves it.
    oracle_state = json.loads((project / "oracle.json").read_text())
    oracle_state["ongoing_trials"] = {"tuner0": "0002"}
    (project / "oracle.json").write_text(json.dumps(oracle_state))
    trial = json.loads((project / "trial_0002" / "trial.json").read_text())
    parent = trial["hyperparameters"]["values"]["tuner/trial_id"]
    trial.update(status="RUNNING", score=None, best_step=None)
    (project / "trial_0002" / "trial.json").write_text(json.dumps(trial))
    (project / "trial_0002" / "run.json").unlink()

    summary = tune.main(flags)
    table = read_results(project)
    assert summary["completed_trials"] == 5 and sorted(table["trial_id"]) == sorted(SCHEDULE)
    assert (table["status"] == "COMPLETED").all()
    after = {p.parent.name: p.read_text() for p in project.glob("trial_*/run.json")}
    assert {name: text for name, text in after.items() if name != "trial_0002"} == {
        name: text for name, text in before.items() if name != "trial_0002"}
    rerun = table.set_index("trial_id").loc["0002"]
    assert rerun["from_trial_id"] == parent and rerun["best_epoch"] == 2
    assert optimizer_steps(project, "0002") == 2 * optimizer_steps(project, parent)


def test_hyperband_trials_name_the_bracket_they_join(tmp_path):
    # With workers, round 1 of bracket 1 can start after bracket 0 has: keras-
    # tuner 1.4.8 would label it bracket 0 (the newest); results.csv says 1.
    space = keras_tuner.HyperParameters()
    space.Int("units", 8, 64, step=8)
    oracle = tuning.ResumableHyperbandOracle(
        objective=keras_tuner.Objective("val_loss", "min"), max_epochs=2, factor=2, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "hyperband")
    oracle.update_space(space)

    def end(trial_id, loss):
        oracle.update_trial(trial_id, {"val_loss": loss})
        trial = oracle.get_trial(trial_id)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)

    first, second = oracle.create_trial("worker0"), oracle.create_trial("worker1")
    end(first.trial_id, 0.5)
    third = oracle.create_trial("worker0")  # round 1 waits for the second: bracket 0 starts
    end(second.trial_id, 0.2)
    fourth = oracle.create_trial("worker1")
    labels = {trial.trial_id: (trial.hyperparameters.values["tuner/bracket"],
                               trial.hyperparameters.values["tuner/round"])
              for trial in (first, second, third, fourth)}
    assert labels == {"0000": (1, 0), "0001": (1, 0), "0002": (0, 0), "0003": (1, 1)}
    assert fourth.hyperparameters.values["tuner/trial_id"] == second.trial_id  # the better


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, changed",
    [
        (["--search", "bayesian"], "search"),
        (["--search", "hyperband", "--max-epochs", "1"], "epochs, factor, max_epochs, search"),
    ],
)
def test_a_changed_search_kind_is_refused(searched, tmp_path, flags, changed):
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    stored = json.loads((tmp_path / "mlp" / tuning.FINGERPRINT_FILE).read_text())
    assert "search" not in stored["search"]  # a random search: its fingerprint as before
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"different search \(changed: {changed}\)"):
        tune.main([*FLAGS, *flags, "--directory", str(tmp_path)])
    assert snapshot(tmp_path) == before


# ## keras-tuner's private names that roles.py and search.py rely on


def private(module, *names):
    """`keras_tuner.src.<module>`, failing clearly where it or one of `names` is gone."""
    import importlib

    where = f"keras_tuner.src.{module}"
    advice = (f"keras-tuner {keras_tuner.__version__} moved or removed it; "
              "recipes/common/tuning/roles.py imports it (keras-tuner has no public API "
              "for it): adapt roles.py to this version")
    try:
        found = importlib.import_module(where)
    except ImportError as error:
        pytest.fail(f"{where}: {error}. {advice}.", pytrace=False)
    missing = [name for name in names if not hasattr(found, name)]
    if missing:
        pytest.fail(f"{where} has no {', '.join(missing)}. {advice}.", pytrace=False)
    return found


def test_keras_tuner_private_names_that_roles_relies_on(monkeypatch):
    from concurrent import futures

    import grpc

    oracle_client = private("distribute.oracle_client", "TIMEOUT")
    protos = private("protos", "get_service", "get_service_grpc")
    oracle_chief = private("distribute.oracle_chief", "OracleServicer", "exit_chief")
    utils = private("distribute.utils", "is_chief_oracle")
    service_grpc = protos.get_service_grpc()
    for name in ("OracleStub", "OracleServicer", "add_OracleServicer_to_server"):
        assert hasattr(service_grpc, name), f"protos.get_service_grpc() has no {name}"
    assert hasattr(protos.get_service(), "GetSpaceRequest")

    # utils.is_chief_oracle() reads KERASTUNER_*; role_environment sets them and
    # oracle_client.TIMEOUT (the client's wait for the chief), then restores all.
    for name in tuning.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    default_timeout = oracle_client.TIMEOUT
    assert isinstance(default_timeout, (int, float)) and not utils.is_chief_oracle()
    chief = tuning.Role("chief", "127.0.0.1", 8000, tuner_id="chief")
    with tuning.role_environment(chief, chief_timeout=7.5):
        assert utils.is_chief_oracle() and os.environ["KERASTUNER_ORACLE_PORT"] == "8000"
        assert oracle_client.TIMEOUT == 7.5
    worker = tuning.Role("worker", "127.0.0.1", 8000, tuner_id="worker0")
    with tuning.role_environment(worker, chief_timeout=7.5):
        assert not utils.is_chief_oracle() and os.environ["KERASTUNER_TUNER_ID"] == "worker0"
    assert oracle_client.TIMEOUT == default_timeout and not utils.is_chief_oracle()
    assert not [name for name in os.environ if name.startswith("KERASTUNER_")]

    # The chief's servicer answers the worker's GetSpace through OracleStub
    # (check_chief) with the oracle's space; exit_chief: no trial, no tuner left.
    space = keras_tuner.HyperParameters()
    space.Int("units", 8, 64, step=8)
    space.Choice("optimizer", ["adam", "rmsprop"])
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_loss", "min"), max_trials=1
    )
    oracle.update_space(space)
    servicer = oracle_chief.OracleServicer(oracle)
    assert servicer.stop_triggered is False
    assert oracle_chief.exit_chief(oracle) is True
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    service_grpc.add_OracleServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        role = tuning.Role("worker", "127.0.0.1", port, tuner_id="worker0")
        tuning.check_chief(role, space.get_config()["space"], timeout=30)  # the same space
        other = keras_tuner.HyperParameters()
        other.Int("units", 8, 128, step=8)
        with pytest.raises(ValueError, match="searches a different space"):
            tuning.check_chief(role, other.get_config()["space"], timeout=30)
    finally:
        server.stop(grace=None)


def test_keras_tuner_private_names_that_search_relies_on():
    # --tensorboard: ResumableTuner overrides the hook that Tuner.run_trial
    # calls on its copies of the callbacks before each execution, and keeps
    # keras-tuner's folder per trial and execution.
    import inspect

    advice = (f"keras-tuner {keras_tuner.__version__} changed its TensorBoard integration; "
              "adapt ResumableTuner._configure_tensorboard_dir in "
              "recipes/common/tuning/search.py to this version")
    run_trial = inspect.getsource(keras_tuner.Tuner.run_trial)
    assert "self._configure_tensorboard_dir(callbacks, trial, execution)" in run_trial, advice
    hook = inspect.signature(keras_tuner.Tuner._configure_tensorboard_dir)
    assert list(hook.parameters) == ["self", "callbacks", "trial", "execution"], advice
    folder = keras_tuner.Tuner._get_tensorboard_dir(None, "logs", "0001", 2)
    assert folder == os.path.join("logs", "0001", "execution2"), advice
    assert tuning.ResumableTuner._configure_tensorboard_dir is not (
        keras_tuner.Tuner._configure_tensorboard_dir)
    # Atomic saves: ResumableTuner.save and the oracles' save and _save_trial
    # write the files keras-tuner's own write in place, from the same state.
    advice = (f"keras-tuner {keras_tuner.__version__} changed how it saves a search; adapt "
              "ResumableTuner.save and _ResumableOracle.save/_save_trial in "
              "recipes/common/tuning/search.py to this version")
    tuner_save = inspect.getsource(keras_tuner.Tuner.save)
    assert "self.oracle.save()" in tuner_save and "self._is_worker()" in tuner_save, advice
    assert "super().save(self._get_tuner_fname())" in tuner_save, advice
    oracle_save = inspect.getsource(keras_tuner.Oracle.save)
    assert "super().save(self._get_oracle_fname())" in oracle_save, advice
    save_trial = inspect.getsource(keras_tuner.Oracle._save_trial)
    assert 'trial.save(os.path.join(self._get_trial_dir(trial_id), "trial.json"))' in (
        save_trial), advice
    stateful = next(cls for cls in keras_tuner.Tuner.__mro__ if cls.__name__ == "Stateful")
    stateful_save = inspect.getsource(stateful.save)
    assert "utils.save_json(fname, self.get_state())" in stateful_save, advice


# ## Your sequences


SEQUENCE_FLAGS = [*FLAGS, "--model", "fcn1d"]


@pytest.mark.slow
def test_a_bayesian_search_on_your_sequences_retrains_and_predicts(tmp_path):
    # Two channels, unequal lengths (6 to 10 steps), string labels, `?` gaps.
    train = write_ts(tmp_path / "train.ts", *series(count=40))
    test_values, test_labels = series(count=12, seed=1)
    test = write_ts(tmp_path / "test.ts", test_values, test_labels)
    # 1 random trial, then the Gaussian process proposes the second.
    flags = [*SEQUENCE_FLAGS, "--sequences", str(train), "--test-sequences", str(test),
             "--search", "bayesian", "--initial-points", "1", "--max-trials", "2",
             "--directory", str(tmp_path)]
    summary = tune.main([*flags, "--retrain-best"])
    project = tmp_path / "fcn1d"
    table = read_results(project)
    assert summary["completed_trials"] == len(table) == 2
    assert sorted(table["trial_id"]) == ["0", "1"] and "bracket" not in table
    assert (table["status"] == "COMPLETED").all() and table["score"].notna().all()
    assert table[METRICS].notna().all().all()
    assert json.loads((project / "oracle.json").read_text())["num_initial_points"] == 1
    search = json.loads((project / tuning.FINGERPRINT_FILE).read_text())["search"]
    assert (search["search"], search["initial_points"]) == ("bayesian", 1)
    assert search["fixed"]["input_shape"] == [10, 2] and search["fixed"]["mask_value"] == 0.0
    assert search["data"]["sequences"] == str(train.resolve())
    assert search["data"]["test_sequences"] == str(test.resolve())

    # The retrained best: padded steps masked, run.json as recipes.rnn writes it.
    model = keras.saving.load_model(project / "best_model.keras", safe_mode=True)
    assert model.input_shape == (None, 10, 2) and model.output_shape == (None, 2)
    assert any(isinstance(layer, keras.layers.Masking) for layer in model.layers)
    info = json.loads((project / "run.json").read_text())
    assert info["task"] == "classification" and info["class_names"] == ["cat", "dog"]
    assert info["sequences"]["channels"] == ["dim_0", "dim_1"]
    assert (info["sequences"]["steps"], info["sequences"]["mask_value"]) == (10, 0.0)
    assert info["flags"]["sequences"] == str(train)
    # Its test accuracy is the saved model's on the official test file.
    data = load_sequences(train, test_path=test)
    predicted = model.predict(data.x_test, verbose=0)
    assert summary["test_accuracy"] == pytest.approx(
        (predicted.argmax(-1) == data.y_test).mean(), abs=1e-6)

    # recipes.predict reads new series with the search's preprocessing.
    output = tmp_path / "predictions.csv"
    report = predict.main([str(project), "--sequences", str(test), "--output", str(output)])
    written = pd.read_csv(output)
    assert list(written.columns) == ["index", "prediction", "probability_cat",
                                     "probability_dog"]
    assert report["rows"] == 12 and written["index"].tolist() == list(range(12))
    assert written["prediction"].tolist() == [["cat", "dog"][k] for k in predicted.argmax(-1)]

    # The same command resumes (nothing to run); another file is another search.
    assert tune.main(flags)["completed_trials"] == 2
    other = shutil.copy(train, tmp_path / "other.ts")
    before = snapshot(project)
    with pytest.raises(ValueError, match=r"holds a different search \(changed: data\)"):
        tune.main([*flags, "--sequences", str(other)])
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "model, flags, message",
    [
        ("mlp", ["--sequences", "train.ts"],
         r"argument `sequences`: model 'mlp' takes vector inputs; --sequences suits the "
         r"sequence models \(.*fcn1d.*\)\. Received: sequences='train.ts', model='mlp'"),
        ("lstm", ["--csv", "table.csv", "--target", "label"],
         r"model 'lstm' takes sequence inputs; only the bundled digits or your --sequences "
         r"come in that shape"),
        ("fcn1d", ["--sequences", "train.ts", "--task", "regression"],
         r"argument `task`: --task does not apply to --sequences"),
        ("fcn1d", ["--sequences", "train.ts", "--dataset", "wine"],
         r"argument `dataset`: --dataset does not apply to --sequences"),
        ("fcn1d", ["--id", "patient"], r"argument `id`: it needs --sequences"),
        ("fcn1d", ["--target", "label"], r"argument `target`: it needs --csv or --sequences"),
    ],
)
def test_sequence_flags_the_model_or_data_cannot_take(model, flags, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        tune.main([*FLAGS, "--model", model, *flags, "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_sequences_with_a_vector_model_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    argv = ["recipes.tune", "--model", "mlp", "--sequences", "train.ts",
            "--directory", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as raised:
        tune.flags.run(tune.main)
    assert raised.value.code == 2
    assert "error: Invalid value for argument `sequences`: model 'mlp'" in capsys.readouterr().err


# ## Bad input: clear messages, nothing written


def test_unknown_model_lists_the_known_names(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown model name: 'nope'. Known models: .*mlp"):
        tune.main(["--model", "nope", "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_a_preset_without_search_space_points_to_its_family(tmp_path):
    with pytest.raises(ValueError, match=r"'gmlp_tiny' is a fixed preset.*--model gmlp\."):
        tune.main(["--model", "gmlp_tiny", "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-trials", "0"], "--max-trials: expected a positive integer"),
        (["--worker", "127.0.0.1:1"], "--worker HOST:PORT and --worker-id N go together"),
        (["--worker-id", "1"], "--worker HOST:PORT and --worker-id N go together"),
        (["--worker", "localhost"], "--worker: expected HOST:PORT"),
        (["--chief", "127.0.0.1:1", "--worker", "127.0.0.1:1"], "not allowed with"),
        (["--worker", "127.0.0.1:1", "--worker-id", "0", "--overwrite"], "are for the chief"),
        (["--output-dir", "runs"], "--output-dir is not used"),
        (["--search", "hyperband", "--max-trials", "5"],
         "error: --max-trials does not apply to --search hyperband: its trials follow from "
         "--max-epochs and --factor"),
        (["--search", "grid"], "argument --search: invalid choice: 'grid'"),
        (["--max-epochs", "9"], "--max-epochs is for --search hyperband"),
        (["--search", "bayesian", "--factor", "2"], "--factor is for --search hyperband"),
        (["--search", "hyperband", "--factor", "1"], "--factor: expected an integer of at"),
        (["--initial-points", "3"], "--initial-points is for --search bayesian"),
    ],
)
def test_bad_flags_are_usage_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as raised:
        tune.main(["--model", "mlp", *flags])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "objective, message",
    [
        ("val_auc", r"model 'mlp' reports accuracy, loss, val_accuracy, val_loss\. "
                    r"Received: objective='val_auc'"),
        ("val_loss:up", r"expected NAME or NAME:min or NAME:max"),
    ],
)
def test_an_objective_the_model_does_not_report(objective, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        tune.main([*FLAGS, "--objective", objective, "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_a_model_family_that_needs_other_data_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"model 'cnn' takes image inputs.*dataset='wine'"):
        tune.main([*FLAGS, "--model", "cnn", "--dataset", "wine", "--directory", str(tmp_path)])


def test_an_unreachable_chief_times_out_with_a_clear_message(tmp_path):
    flags = ["--worker", f"127.0.0.1:{free_port()}", "--worker-id", "0", "--chief-timeout", "1"]
    message = r"Could not reach the chief at 127\.0\.0\.1:\d+ within 1 s"
    with pytest.raises(ValueError, match=message):
        tune.main([*FLAGS, *flags, "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())
    assert not [name for name in os.environ if name.startswith("KERASTUNER_")]


def test_a_busy_chief_port_is_refused_before_anything_is_written(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = (
            rf"Invalid value for argument `chief`: cannot listen on 127\.0\.0\.1:{port} "
            r"\(Address already in use\)"
        )
        with pytest.raises(ValueError, match=message):
            tune.main([*FLAGS, "--chief", f"127.0.0.1:{port}", "--directory", str(tmp_path)])
    assert not list(tmp_path.iterdir())


# ## Every model with a search space


SEARCHABLE = [name for name in zoo.list_models() if zoo.get_spec(name).search_space is not None]


@pytest.mark.parametrize("name", SEARCHABLE)
def test_every_searchable_model_builds_compiles_and_reports_its_objective(name):
    # A full one-trial search of every model is a measurement (see the report);
    # here each model's data, search space, loss and objective are checked.
    args = tune.parse_args([*FLAGS, "--model", name])
    spec = tuning.searchable_spec(name)
    data = tuning.load_task_data(args, spec)
    hypermodel = tune.make_hypermodel(spec, data, args)
    space, reported = tuning.dry_run(hypermodel, data)
    *_, objective = tune.compile_settings(spec, data)
    assert objective in reported
    names = [item["config"]["name"] for item in space]
    assert {"optimizer", "learning_rate", "batch_size"} <= set(names)
    assert len(names) > 3, "the model's own hyperparameters"
    # A worker compares its space with the chief's, received over gRPC.
    hp = keras_tuner.HyperParameters.from_config({"space": space, "values": {}})
    assert tuning.same_space(space, keras_tuner.HyperParameters.from_proto(hp.to_proto()))
