"""recipes.common.cluster: the cluster a run belongs to, and a run across
two local processes (one CPU device each) as README's "Across machines" has it."""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from recipes.common import cluster, console, runtime

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ["confusion_matrix.png", "history.csv", "metrics.json", "model.keras", "run.json",
             "training_curves.png"]
SIAMESE_ARTIFACTS = ["distances.png", "embedding.keras", "embedding.png", "history.csv",
                     "metrics.json", "model.keras", "run.json", "training_curves.png"]


def _jax(addresses="10.0.0.1:1234,10.0.0.2:1234", index="1", **more):
    environ = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": addresses,
               "KERAS_DISTRIBUTION_PROCESS_ID": index, **more}
    return {key: value for key, value in environ.items() if value is not None}


def _tf_config(workers, index, kind="worker"):
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                     "task": {"type": kind, "index": index}})}


def test_jax_cluster_from_keras_variables():
    found = cluster.from_environment("jax", _jax(KERAS_DISTRIBUTION_NUM_PROCESSES="2"))
    assert found == cluster.Cluster(("10.0.0.1:1234", "10.0.0.2:1234"), 1,
                                    "KERAS_DISTRIBUTION_JOB_ADDRESSES")
    assert (found.count, found.chief) == (2, False)
    assert cluster.from_environment("jax", _jax(index="0")).chief
    assert cluster.from_environment("jax", {}) is None
    assert cluster.from_environment("jax", _jax(addresses="10.0.0.1:1234", index="0")) is None


def test_tensorflow_cluster_from_tf_config():
    found = cluster.from_environment("tensorflow", _tf_config(["a:1", "b:2", "c:3"], 2))
    assert (found.addresses, found.index, found.variable) == (("a:1", "b:2", "c:3"), 2,
                                                             "TF_CONFIG")
    assert cluster.from_environment("tensorflow", _tf_config(["a:1"], 0)) is None
    assert cluster.from_environment("tensorflow", {}) is None


@pytest.mark.parametrize("environ, message", [
    (_jax(index=None), "`KERAS_DISTRIBUTION_PROCESS_ID` is not set"),
    (_jax(index="2"), r"from 0 to 1 \(2 processes\). Received: KERAS_DISTRIBUTION_PROCESS_ID='2'"),
    (_jax(index="one"), "whole number. Received: KERAS_DISTRIBUTION_PROCESS_ID='one'"),
    (_jax(KERAS_DISTRIBUTION_NUM_PROCESSES="3"),
     "expected 2.*Received: KERAS_DISTRIBUTION_NUM_PROCESSES='3'"),
    (_jax(addresses="10.0.0.1,10.0.0.2"),
     "host:port.*Received: KERAS_DISTRIBUTION_JOB_ADDRESSES='10.0.0.1'"),
    ({"KERAS_DISTRIBUTION_PROCESS_ID": "0"},
     "`KERAS_DISTRIBUTION_PROCESS_ID` is set but `KERAS_DISTRIBUTION_JOB_ADDRESSES` is not"),
])
def test_a_misconfigured_jax_cluster_is_named(environ, message):
    with pytest.raises(ValueError, match=message):
        cluster.from_environment("jax", environ)


@pytest.mark.parametrize("environ, message", [
    ({"TF_CONFIG": "{cluster"}, r"expected JSON.*Received: TF_CONFIG='\{cluster'"),
    (_tf_config(["a:1", "b:2"], 5), "from 0 to 1"),
    (_tf_config(["a:1", "b:2"], 0, kind="chief"), 'a task of type "worker"'),
])
def test_a_misconfigured_tf_config_is_named(environ, message):
    with pytest.raises(ValueError, match=message):
        cluster.from_environment("tensorflow", environ)


def test_a_cluster_without_distribute_is_refused(monkeypatch):
    """Without --distribute, each process would train its own model into the same folder."""
    backend = keras.backend.backend()
    environ = _jax(index="0") if backend == "jax" else _tf_config(["a:1", "b:2"], 0)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    args = argparse.Namespace(backend=backend, seed=0, cpu_devices=None, mixed_precision=None,
                              compile_cache=None, distribute=False)
    with pytest.raises(ValueError, match=f"`{next(iter(environ))}` names 2 processes: add "
                                         "--distribute"):
        runtime.setup(args)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _recipe(name, out, backend, *flags, env=None):
    """`recipes.<name> --distribute` as a process of its own (its temporary
    files in `out/tmp`)."""
    (Path(out) / "tmp").mkdir(parents=True, exist_ok=True)
    env = {"TMPDIR": str(Path(out) / "tmp"), **(env or {})}
    # As a user runs it: without the suite's TF_CPP_MIN_LOG_LEVEL (conftest).
    user = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.Popen(
        [sys.executable, "-m", f"recipes.{name}", "--backend", backend, "--distribute",
         "--quiet", "--output-dir", str(out), "--cluster-timeout", "10", *flags],
        cwd=ROOT, env={**user, **env}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _mlp(out, backend, *flags, env=None):
    return _recipe("mlp", out, backend, "--dropout-rate", "0", "--batch-size", "64", *flags,
                   env=env)


def _two_processes(out, backend, *flags, recipe=_mlp):
    """README's two commands, one per process, on 127.0.0.1."""
    addresses = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    if backend == "jax":
        environ = [{"KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(addresses),
                    "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                    "KERAS_DISTRIBUTION_PROCESS_ID": str(index)} for index in range(2)]
    else:
        environ = [_tf_config(addresses, index) for index in range(2)]
    return [recipe(out, backend, *flags, env=env) for env in environ]


def _finish(process, timeout=240):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def _weights(folder, recipe="mlp"):
    import zoo  # noqa: F401 (registers the siamese model's layers)

    return keras.saving.load_model(folder / recipe / "model.keras").get_weights()


def _siamese(out, backend, *flags, env=None):
    return _recipe("siamese", out, backend, "--smoke", *flags, env=env)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_processes_train_one_model_and_only_the_chief_writes(tmp_path, backend):
    """One epoch on two processes equals one process with the same global
    batch and seed: one model trained on all the data, not two models on
    halves. The reference runs the same input pipeline (on TensorFlow a
    tf.distribute one, which shuffles in another order than the plain one):
    on JAX one device; on TensorFlow two virtual devices, so that it also
    checks MirroredStrategy, which splits each batch over a machine's
    devices, against one model. On JAX the siamese recipe: a two-input model
    fed its pairs (a tuple of arrays, each process its slice of every batch),
    and a quiet console: none of the C++ log lines of TensorFlow (which Keras
    loads) or of JAX's distributed runtime."""
    pytest.importorskip(backend)
    name, start = ("siamese", _siamese) if backend == "jax" else ("mlp", _mlp)
    processes = _two_processes(tmp_path / "two", backend, "--epochs", "1", recipe=start)
    results = [_finish(process) for process in processes]
    for status, output in results:
        assert status == 0, output[-3000:]
        assert "Data-parallel on 2 processes x 1 device(s)" in output
        assert "cudart_stub" not in output and "absl::InitializeLog" not in output, output
        assert console.drop_native_lines(output.encode()) == output.encode(), output
    artifacts = sorted(p.name for p in (tmp_path / "two" / name).iterdir())
    assert artifacts == (ARTIFACTS if name == "mlp" else SIAMESE_ARTIFACTS)
    assert f"process 0 writes them in {tmp_path / 'two' / name}/" in results[1][1]
    assert not list((tmp_path / "two" / "tmp").glob("process1-*")), "scratch left behind"

    devices = "2" if backend == "tensorflow" else "1"
    status, output = _finish(start(tmp_path / "one", backend, "--epochs", "1",
                                   "--cpu-devices", devices))
    assert status == 0, output[-3000:]
    assert f"Data-parallel on {devices} device" in output
    for two, one in zip(_weights(tmp_path / "two", name), _weights(tmp_path / "one", name),
                        strict=True):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
    history = [pd.read_csv(tmp_path / folder / name / "history.csv") for folder in ("two", "one")]
    pd.testing.assert_frame_equal(*history, rtol=1e-5)
    two, one = (json.loads((tmp_path / folder / name / "metrics.json").read_text())
                for folder in ("two", "one"))
    assert two == pytest.approx(one, rel=1e-5)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_a_killed_process_stops_the_job_and_both_resume(tmp_path, backend):
    """JAX's heartbeat or TensorFlow's collective timeout (--cluster-timeout
    10) stops the chief; the same commands resume from its backup (a process
    that sees another run folder is refused: tests/recipes/common/test_runs.py)."""
    pytest.importorskip(backend)
    flags = ("--epochs", "5", "--patience", "100")
    chief, other = _two_processes(tmp_path, backend, *flags)
    history = tmp_path / "mlp" / "history.csv"
    deadline = time.monotonic() + 180
    while not (history.exists() and len(pd.read_csv(history)) >= 2):
        assert time.monotonic() < deadline and chief.poll() is None, chief.communicate()[0]
        time.sleep(0.2)
    other.send_signal(signal.SIGKILL)
    other.wait()
    status, output = _finish(chief, timeout=60)
    if backend == "tensorflow":  # JAX's coordination service aborts the process itself
        assert status == 1
        assert output.strip().splitlines()[-1].startswith(
            "recipes.mlp: error: another process of this run stopped ("), output[-2000:]
    assert status != 0
    done = len(pd.read_csv(history))
    assert 2 <= done < 5 and (tmp_path / "mlp" / "backup").is_dir()
    results = [_finish(process) for process in _two_processes(tmp_path, backend, *flags)]
    for status, output in results:
        assert status == 0, output[-3000:]
        assert "Resuming mlp from epoch" in output
    assert pd.read_csv(history)["epoch"].tolist() == list(range(1, 6))
    assert not (tmp_path / "mlp" / "backup").exists()


@pytest.mark.subprocess
def test_an_unreachable_coordinator_is_one_line_not_a_hang(tmp_path):
    pytest.importorskip("jax")
    process = _mlp(tmp_path, "jax", "--cluster-timeout", "2", env={
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{_free_port()},127.0.0.1:1",
        "KERAS_DISTRIBUTION_PROCESS_ID": "1"})
    status, output = _finish(process, timeout=60)
    assert status == 2
    assert output.strip().splitlines()[-1].startswith(
        "recipes.mlp: error: The coordinator 127.0.0.1:")
    assert "(the first of `KERAS_DISTRIBUTION_JOB_ADDRESSES`) did not answer within 2 s" in output
    assert not (tmp_path / "mlp").exists()


def test_what_runs_in_one_process_only_is_refused_across_processes(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from recipes.common import training

    monkeypatch.setattr(cluster, "joined", lambda: cluster.Cluster(("a:1", "b:2"), 0, "X"))
    with pytest.raises(ValueError, match="the LR finder runs in one process"):
        training.find_learning_rate(argparse.Namespace(learning_rate="auto"), None, None, None,
                                    loss="mse")
    run = SimpleNamespace(args=argparse.Namespace(ensemble=3), recipe="mlp", folder=tmp_path)
    with pytest.raises(ValueError, match="argument `ensemble`.*Received: ensemble=3"):
        training.train_ensemble(None, None, run, None, loss="mse", metrics=[])


@pytest.mark.subprocess
def test_a_tensorflow_worker_alone_stops_after_the_timeout(tmp_path):
    """TensorFlow waits for its peers without a timeout: the watchdog ends it."""
    pytest.importorskip("tensorflow")
    process = _mlp(tmp_path, "tensorflow", "--cluster-timeout", "3",
                   env=_tf_config([f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"], 0))
    status, output = _finish(process, timeout=120)
    assert status == 1, output[-2000:]
    assert "Waiting up to 3 s for the 2 workers of `TF_CONFIG` (127.0.0.1:" in output
    assert not (tmp_path / "mlp").exists()
