"""The figures README and the recipe docstrings quote are the measured ones.

`python -m benchmarks.recipes` measures every recipe's default run and writes
`benchmarks/results/recipes.json`; these tests check, without training, that
every run was measured, that README's recipe table, its performance block
and every recipe's "Expected" paragraph say exactly what the results say, and
that no recipe's code changed since its figures were measured.
"""

import pytest

from benchmarks import _common
from benchmarks import recipes as figures

RESULTS = _common.load_json(figures.NAME)
RECIPES = sorted({run.recipe for run in figures.RUNS})
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

    from recipes.common import cli

    def stop(args):
        raise _SetUp(args.backend)

    monkeypatch.delenv("KERAS_BACKEND")  # what a user's shell without it gets
    monkeypatch.setattr(cli, "setup", stop)
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


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_code_is_the_code_that_was_measured(recipe):
    assert RESULTS["fingerprints"][recipe] == figures.code_fingerprint(recipe), (
        f"recipes/{recipe}.py changed since its figures were measured: " + RERUN.format(recipe)
    )


@pytest.mark.parametrize("recipe", RECIPES)
def test_docstring_quotes_the_results(recipe):
    source = (figures.RECIPES_DIR / f"{recipe}.py").read_text()
    paragraph = figures.docstring_paragraph(recipe, RESULTS)
    assert paragraph in source, (
        f"recipes/{recipe}.py's docstring does not quote its results; "
        "run `python -m benchmarks.recipes --docs-only`"
    )
    assert figures.rewrite_docstring(source, paragraph) == source


def test_readme_quotes_the_results():
    text = figures.README.read_text()
    assert figures.rewrite_readme(text, figures.readme_cells(RESULTS)) == text
    assert figures.rewrite_headline(text) == text
    for recipe, (result, wall) in figures.readme_cells(RESULTS).items():
        assert f"| {result} | {wall} |" in text, recipe


def test_summaries_print_integers_as_integers():
    run = figures.run_of("mlp")
    text = figures.summary(run, {"test_accuracy": 0.98765, "epochs_trained": 26})
    assert text == "digits test accuracy 0.988, 26 epochs"


def test_docstring_paragraph_is_replaced_in_place():
    source = '"""Title.\n\nExpected old figures\nover two lines.\n\nNext steps: more.\n"""\n'
    rewritten = figures.rewrite_docstring(source, "Expected new.")
    assert rewritten == '"""Title.\n\nExpected new.\n\nNext steps: more.\n"""\n'
    added = figures.rewrite_docstring('"""Title.\n\nNext steps: more.\n"""\n', "Expected x.")
    assert added == '"""Title.\n\nExpected x.\n\nNext steps: more.\n"""\n'
