"""The figures README quotes are the measured ones.

`python -m benchmarks.recipes` measures every recipe's default run and writes
`benchmarks/results/recipes.json`; these tests check, without training, that
every run was measured, on the backend a default run uses, and that README's
recipe table and its performance block say exactly what the results say.
"""

import pytest

from benchmarks import _common
from benchmarks import recipes as figures

RESULTS = _common.load_json(figures.NAME)
RERUN = "run `python -m benchmarks.recipes --only {}` to measure it again"


def test_every_run_was_measured():
    assert RESULTS is not None, "no results: run `python -m benchmarks.recipes`"
    assert list(RESULTS["runs"]) == [run.key for run in figures.RUNS]


class _SetUp(Exception):
    pass


def backend_of(run, monkeypatch) -> str:
    """The backend `python -m recipes.<run>` sets up, in a shell without
    `$KERAS_BACKEND` (the cnn's depends on its flags); nothing is trained."""
    import importlib

    from recipes.common import runtime

    def stop(args, *, backend=None):
        # What `Run(args, name, backend=preferred)` would set up, then no further.
        raise _SetUp(runtime.choose_backend(args.backend, backend))

    monkeypatch.delenv("KERAS_BACKEND")  # what a user's shell without it gets
    monkeypatch.setattr(runtime, "setup", stop)
    with pytest.raises(_SetUp) as set_up:
        importlib.import_module(f"recipes.{run.recipe}").main(list(run.flags))
    return set_up.value.args[0]


@pytest.mark.parametrize("key", [run.key for run in figures.RUNS])
def test_figures_are_on_the_backend_the_run_uses(key, monkeypatch):
    run = figures.run_of(key)
    used = backend_of(run, monkeypatch)
    measured = RESULTS["runs"][key].get("backend")
    assert measured == used, (
        f"`python -m recipes.{key}` was measured on {measured}, a run uses {used}: "
        + RERUN.format(run.recipe)
    )


def test_readme_quotes_the_results():
    text = figures.README.read_text()
    rewrite = "run `python -m benchmarks.recipes --readme-only` to rewrite README"
    assert figures.rewrite_readme(text, figures.readme_cells(RESULTS)) == text, rewrite
    assert figures.rewrite_headline(text) == text, rewrite
    for recipe, (result, wall) in figures.readme_cells(RESULTS).items():
        assert f"| {result} | {wall} |" in text, recipe


def test_summaries_print_integers_as_integers():
    run = figures.run_of("mlp")
    text = figures.summary(run, {"test_accuracy": 0.98765, "epochs_trained": 26})
    assert text == "digits test accuracy 0.988, 26 epochs"


def test_readme_quotes_the_real_images_results():
    from benchmarks import real_images

    results = _common.load_json(real_images.NAME)
    assert results is not None, "no results: run `python -m benchmarks.real_images`"
    text = real_images.README.read_text()
    block = real_images.readme_block(results)
    assert _common.rewrite_block(text, real_images.NAME, block) == text, \
        "run `python -m benchmarks.real_images` to rewrite README"
    assert block in text
