"""`recipes.common.console`: TensorFlow's C++ log lines left out, the rest kept."""

import os
import sys

import pytest

from recipes.common import console

NATIVE = (b"WARNING: All log messages before absl::InitializeLog() is called are written "
          b"to STDERR\n"
          b"I0000 00:00:1796647521.183053   12429 cudart_stub.cc:31] Could not find cuda drivers\n")


def test_native_lines_written_below_python_are_dropped_and_the_rest_kept(capfd):
    with console.native_logs_dropped():
        os.write(2, NATIVE + b"a line of our own\n")
        print("a Python warning", file=sys.stderr)
    # (pytest's capture takes Python's line past file descriptor 2: order aside)
    assert sorted(capfd.readouterr().err.splitlines()) == ["a Python warning",
                                                           "a line of our own"]


def test_what_was_written_is_passed_on_when_the_block_raises(capfd):
    with pytest.raises(RuntimeError), console.native_logs_dropped():
        os.write(2, NATIVE + b"Traceback: the import failed\n")
        raise RuntimeError
    assert capfd.readouterr().err == "Traceback: the import failed\n"


def test_disabled_or_without_stderr_it_writes_through(capfd, monkeypatch):
    with console.native_logs_dropped(enabled=False):
        os.write(2, NATIVE)
    assert capfd.readouterr().err == NATIVE.decode()
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, some embedded hosts
    with console.native_logs_dropped():
        os.write(2, NATIVE + b"kept\n")
    monkeypatch.undo()
    assert capfd.readouterr().err == "kept\n"
