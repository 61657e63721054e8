"""The suite's own set-up holds: a module's grouped tests share one worker.

Modules that share one expensive run between their tests (a search, a
transfer-learning comparison) mark themselves `pytest.mark.xdist_group` and
build the run in a session-scoped fixture (tests/conftest.py). If the groups
were ignored, both workers would build each run: pytest 9.2 with
pytest-xdist 3.8 does that silently (pytest-xdist issue 1386), which is why
requirements.txt keeps pytest below 9.2.
"""

import re
import subprocess
import sys

import pytest

GROUPED = '''
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("index", range(4))
def test_grouped(index):
    pass
'''
OTHER = '''
@__import__("pytest").mark.parametrize("index", range(4))
def test_other(index):
    pass
'''


@pytest.mark.subprocess
def test_grouped_tests_run_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_other.py").write_text(OTHER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this repository's settings
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v",
         "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    workers = re.findall(r"\[(gw\d)\] .* PASSED test_grouped\.py::", result.stdout)
    assert len(workers) == 4 and len(set(workers)) == 1, result.stdout
