"""`recipes.common.flags`: the shared parser, its types, refusals and the command line."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.common import flags

ROOT = Path(__file__).resolve().parents[3]


def make_parser(**options):
    parser = flags.parser("Demo: a recipe.\n\nMore text.", epochs=10, batch_size=32,
                          learning_rate=1e-3, **options)
    flags.add_training_flags(parser, schedule="cosine")
    flags.add_data_flags(parser, ("digits", "wine"), images=True)
    flags.add_ensemble_flag(parser)
    return parser


def test_defaults_and_groups():
    args = make_parser().parse_args([])
    assert (args.epochs, args.batch_size, args.learning_rate) == (10, 32, 1e-3)
    assert args.backend is None and args.schedule == "cosine" and args.ensemble == 1
    assert args.dataset == "digits" and args.image_size == [32, 32] and args.csv is None


def test_smoke_caps_the_epochs_at_parse_time():
    parser = make_parser()
    assert parser.parse_args(["--smoke"]).epochs == flags.SMOKE_EPOCHS
    assert parser.parse_args(["--smoke", "--epochs", "1"]).epochs == 1
    assert parser.parse_args(["--epochs", "7"]).epochs == 7


def test_auto_learning_rate_only_where_the_recipe_takes_it(capsys):
    args = make_parser(auto_learning_rate=True).parse_args(["--learning-rate", "auto"])
    assert args.learning_rate == "auto" and args.suggestion == "valley"
    with pytest.raises(SystemExit):
        make_parser().parse_args(["--learning-rate", "auto"])
    assert "--learning-rate: invalid positive_float value: 'auto'" in capsys.readouterr().err


@pytest.mark.parametrize("kind, text, expected", [
    (flags.positive_int, "3", 3), (flags.non_negative_int, "0", 0),
    (flags.positive_float, "0.5", 0.5), (flags.non_negative_float, "0", 0.0),
    (flags.rate, "0.25", 0.25), (flags.ema_momentum, "0.9", 0.9),
    (flags.learning_rate_or_auto, "auto", "auto"), (flags.learning_rate_or_auto, "1e-3", 1e-3),
])
def test_types_accept(kind, text, expected):
    assert kind(text) == expected


@pytest.mark.parametrize("kind, text", [
    (flags.positive_int, "0"), (flags.non_negative_int, "-1"), (flags.positive_float, "0"),
    (flags.non_negative_float, "-0.1"), (flags.rate, "1"), (flags.ema_momentum, "1"),
    (flags.positive_float, "nan"),
])
def test_types_refuse(kind, text):
    with pytest.raises(argparse.ArgumentTypeError, match=text):
        kind(text)


def test_split_seed_defaults_to_the_seed():
    assert flags.split_seed(argparse.Namespace(seed=3, split_seed=None)) == 3
    assert flags.split_seed(argparse.Namespace(seed=3, split_seed=0)) == 0


def test_refuse_unused_names_every_flag_set_and_only_those():
    parser = make_parser()
    parser.add_argument("--filters", type=int, nargs="+", default=[8])
    parser.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True)
    flags.refuse_unused(parser, parser.parse_args([]), ["filters", "residual"], why="x")
    flags.refuse_unused(parser, parser.parse_args(["--filters", "8"]), ["filters"], why="x")
    with pytest.raises(ValueError, match=r"argument `filters`: --filters, --no-residual do not "
                                         r"apply to --model gmlp\. Received: filters=\[4\], "
                                         r"residual=False"):
        flags.refuse_unused(parser, parser.parse_args(["--filters", "4", "--no-residual"]),
                            ["filters", "residual"], why="--model gmlp")


def test_run_prints_a_mistake_as_one_line_and_exits_with_status_2(tmp_path):
    (tmp_path / "my_recipe.py").write_text(
        "from recipes.common import flags\n"
        "def main(argv):\n"
        "    raise ValueError('Invalid value for argument `x`: expected 1. Received: x=2')\n"
        "if __name__ == '__main__':\n"
        "    flags.run(main)\n"
    )
    result = subprocess.run([sys.executable, "my_recipe.py"], cwd=tmp_path, text=True,
                            capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 2
    assert result.stderr == ("my_recipe.py: error: Invalid value for argument `x`: "
                             "expected 1. Received: x=2\n")
