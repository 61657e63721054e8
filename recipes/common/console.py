"""A console a person can read: TensorFlow's and XLA's C++ log lines left out.

TensorFlow writes its C++ log lines ("Could not find cuda drivers on your
machine", "failed call to cuInit", ...) to the process's standard error
directly, below Python. `TF_CPP_MIN_LOG_LEVEL=3` silences those written
after start-up; the ones written while TensorFlow's libraries load come
before its logger reads that setting ("All log messages before
absl::InitializeLog() is called are written to STDERR"). `native_logs_dropped`
catches those: while it runs, file descriptor 2 goes to a temporary file, and
afterwards every line but the C++ logger's is written on to standard error.

`runtime.setup` uses both unless `--verbose` is given or
`$TF_CPP_MIN_LOG_LEVEL` is set (the user's own choice is kept). Level 3 also
hides TensorFlow's C++ error lines during training, and a process that dies
inside the block (an abort while TensorFlow loads) takes the captured lines
with it: when something fails without a clear message, run again with
`--verbose`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# A line of the C++ logger (absl's format: severity and date, time (before
# the logger is set up: 00:00 and the seconds since 1970), thread, file:line]),
# or absl's notice that it writes to stderr before it is set up.
CPP_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def wants_native_logs(verbose: bool, environ=os.environ) -> bool:
    """Whether TensorFlow's C++ log lines are shown: `--verbose`, or the
    user set `$TF_CPP_MIN_LOG_LEVEL` themselves.

    >>> wants_native_logs(False, environ={})
    False
    >>> wants_native_logs(False, environ={"TF_CPP_MIN_LOG_LEVEL": "0"})
    True
    """
    return verbose or "TF_CPP_MIN_LOG_LEVEL" in environ


def drop_native_lines(text: bytes) -> bytes:
    """`text` without the C++ logger's lines.

    >>> drop_native_lines(b"I0000 00:00:1796647521.183053   12429 cudart_stub.cc:31] No GPU\\n"
    ...                   b"E1207 12:40:31.032207   10201 cuda_platform.cc:52] cuInit\\n"
    ...                   b"UserWarning: kept\\n")
    b'UserWarning: kept\\n'
    """
    lines = text.splitlines(keepends=True)
    return b"".join(line for line in lines if not CPP_LOG_LINE.match(line))


@contextlib.contextmanager
def native_logs_dropped(enabled: bool = True) -> Iterator[None]:
    """Leaves out the C++ log lines written to standard error inside the block.

    Everything else written there (Python's warnings and tracebacks) is
    written on to it when the block ends, also when it raises.
    """
    if not enabled:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no standard error (a daemon): nothing to filter
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            # Back to where it was written: file descriptor 2.
            os.write(2, drop_native_lines(captured.read()))
