"""RNN: an LSTM or GRU reads digit rows as sequences, or forecasts the yearly sunspots.

Shows the recurrent layers of Keras on two tasks. Classification: each 8x8
digit is a sequence of 8 rows of 8 pixels, read top to bottom. Forecasting
(`--task forecast`): the bundled yearly sunspot numbers (1700-2008), each
window of 12 years predicting the next, split in time order (no
look-ahead), scored in sunspots against the naive forecast "next year =
this year". Input dropout (0.1 by default) and recurrent (variational)
dropout are flags; note that `--recurrent-dropout` takes the layer off the
fused cuDNN kernel on a GPU.

Your sequences (`--sequences`: UCR/UEA `.ts`, wide CSV, long CSV with `--id`,
`.npz`) are classified, or regressed where the target is numeric with many
values; unequal lengths are padded and masked, and `recipes.predict` applies
the run to new files. `--model` takes any zoo sequence model (`fcn1d`,
`resnet1d`, `inception_time` too). With `--sequences` the defaults are 200
epochs of batch 16 at a rate of 1e-3, patience 30.

Run:
    python -m recipes.rnn                          # LSTM on digit rows
    python -m recipes.rnn --cell gru --bidirectional
    python -m recipes.rnn --task forecast          # yearly sunspots
    python -m recipes.rnn --task forecast --cell gru --dropout 0 --recurrent-dropout 0.1
    python -m recipes.rnn --task forecast --csv my_series.csv --column sales --window 24
    python -m recipes.rnn --sequences Vowels_TRAIN.ts --test-sequences Vowels_TEST.ts
    python -m recipes.rnn --sequences steps.csv --id patient --time t --target outcome
    python -m recipes.predict runs/rnn --sequences new.ts

README's recipe table gives the accuracy, the forecast error and the time
of the default runs.

Next steps: `python -m recipes.tune --model lstm` searches depth, width,
dropout and bidirectionality; stack layers with `--units 64 32`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.common import flags, training
from recipes.common.data import SUNSPOTS, load_data, load_series
from recipes.common.runs import Run

# How each task is trained (the zoo's task sets the output activation): loss, metrics.
LOSSES = {
    "classification": ("sparse_categorical_crossentropy", ["accuracy"]),
    "regression": ("mean_squared_error", ["mean_absolute_error"]),
}
# With --sequences, unless given: archives such as UCR/UEA hold tens to
# hundreds of series, a few steps of 16 an epoch, so more epochs at a lower
# rate, and more patience. Chosen by `python -m benchmarks.sequences`
# (README, "Your sequences"); 40 epochs of batch 64 leave GunPoint at chance.
SEQUENCE_DEFAULTS = {"epochs": 200, "batch_size": 16, "learning_rate": 1e-3, "patience": 30}
# The flags of one task only: refused with the other, not ignored.
FORECAST_FLAGS = ("csv", "column", "window")
CLASSIFICATION_FLAGS = ("train_size", "sequences", "test_sequences", "target", "id", "time")
# The recurrent models' own flags (lstm, gru): refused for the others.
RECURRENT_FLAGS = ("units", "dropout", "recurrent_dropout", "bidirectional")


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=40, batch_size=64, learning_rate=1e-2,
                          auto_learning_rate=True)
    flags.add_data_flags(parser, ("digits",), csv=False)  # --train-size (classification)
    flags.add_sequence_flags(parser)  # --sequences, --test-sequences, --target, --id, --time
    flags.add_training_flags(parser, schedule="cosine")  # --schedule, --ema, --distribute...
    task_flags = parser.add_argument_group("task")
    task_flags.add_argument("--task", choices=("classification", "forecast"),
                            default="classification")
    task_flags.add_argument("--csv", type=Path, help="your series to forecast (default: sunspots)")
    task_flags.add_argument("--column", help="series column of --csv (default: the last)")
    task_flags.add_argument("--window", type=flags.positive_int, default=12,
                            help="past values seen")

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--cell", "--model", dest="model", metavar="NAME", default="lstm",
                             help="lstm or gru (a zoo sequence model)")
    model_flags.add_argument("--units", type=flags.positive_int, nargs="+", default=[64],
                             help="one recurrent layer per value, e.g. 64 32")
    # Input dropout 0.1: without it the LSTM memorises the training digits
    # (training loss near zero) and scores lower on the test digits.
    # Recurrent dropout scores a little higher still, but trains slower on a
    # CPU and gives up cuDNN on a GPU. The sunspots, one value per step, do
    # a little better with `--dropout 0`.
    model_flags.add_argument("--dropout", type=flags.rate, default=0.1, help="of layer inputs")
    model_flags.add_argument("--recurrent-dropout", type=flags.rate, default=0.0,
                             help="of the recurrent state")
    model_flags.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                             default=False)
    model_flags.add_argument("--patience", type=flags.positive_int, default=15)
    if parser.parse_known_args(argv)[0].sequences:  # other defaults for your sequences
        parser.set_defaults(**SEQUENCE_DEFAULTS)
    args = parser.parse_args(argv)
    forecasting = args.task == "forecast"
    if forecasting:
        flags.refuse_unused(parser, args, CLASSIFICATION_FLAGS, why="--task forecast")
    else:  # e.g. --csv without --task forecast: refused, not ignored
        flags.refuse_unused(parser, args, FORECAST_FLAGS,
                            why="--task classification; add --task forecast")
    # JAX by default: the whole command is faster on it (README, "Backends").
    run = Run(args, "rnn", backend="jax")

    import keras
    import numpy as np

    import zoo
    from recipes.common import evaluation, plots

    spec = training.model_spec(args, input_kind="sequence", kind="sequence model",
                               flag="--cell/--model", data_flags=False)  # --csv: a series here
    recurrent = spec.builder is zoo.build_rnn  # lstm, gru; not the convolutional models
    if not recurrent:
        flags.refuse_unused(parser, args, RECURRENT_FLAGS, why=f"--model {args.model}")

    # ## Data
    if forecasting:
        # Windows of --window standardised values -> the next value, split in
        # time order; `data.scale` undoes the standardisation.
        data = load_series(args.csv, args.column, window=args.window)
        times, time_label = _target_times(args.csv or SUNSPOTS, len(data.x_test))
        if args.smoke:
            data = data.subsample(train=300, evaluation=100)
    else:  # 8 rows (steps) of 8 pixels, or --sequences: padded, standardised
        data = load_data(args, view="sequence")
    print(data.summary())

    # ## Model
    task = "regression" if forecasting else data.task
    loss, metrics = LOSSES[task]
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model,  # "lstm", "gru", or another zoo sequence model
            input_shape=data.input_shape,
            num_outputs=data.num_outputs,
            task=task,
            **{name: getattr(args, name) for name in RECURRENT_FLAGS if recurrent},  # lstm, gru
            mask_value=data.mask_value,  # unequal lengths: padded steps masked
            **training.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        # --learning-rate auto: the LR finder's suggestion; else the flag.
        learning_rate = training.find_learning_rate(args, model, data, run, loss=loss)
        model.compile(
            optimizer=training.optimizer(args, learning_rate),  # Adam; --ema: use_ema=True
            loss=loss,
            metrics=metrics,
            steps_per_execution=run.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # --schedule (default cosine: one cosine decay to zero over --epochs, in
    # the graph, per step), early stopping, then the history log and the
    # backup that lets the same command resume an interrupted run.
    callbacks = [
        *training.schedule_callbacks(args, learning_rate, patience=args.patience),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *run.callbacks(),
    ]
    train, validation = data.batches(args.batch_size, seed=args.seed)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=run.verbose,
    )

    # ## Evaluate
    model = run.local_model(model)  # after --distribute: a copy on this process's devices
    metrics = {"epochs_trained": len(history.history["loss"])}
    if forecasting:
        # In the series' units, against the naive forecast: the last value seen.
        mean, std = data.scale
        actual = data.y_test[:, 0] * std + mean
        forecasts = {
            "test": model.predict(data.test_batches(), verbose=0)[:, 0] * std + mean,
            "naive": data.x_test[:, -1, 0] * std + mean,
        }
        for key, forecast in forecasts.items():
            error = forecast - actual
            metrics[f"{key}_mae"] = float(np.mean(np.abs(error)))
            metrics[f"{key}_rmse"] = float(np.sqrt(np.mean(error**2)))
        figures = {"forecast": plots.forecast(
            times[: len(actual)],
            actual,
            {f"{args.model} forecast": forecasts["test"],
             "naive (last value)": forecasts["naive"]},
            xlabel=time_label,
            ylabel=data.class_names[0],
        )}
    else:
        results = model.evaluate(data.test_batches(), return_dict=True, verbose=0)
        metrics.update({f"test_{name}": value for name, value in results.items()})
        # The confusion matrix (classification).
        figures = evaluation.classifier(model, data)[1] if task == "classification" else {}
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data)


def _target_times(path: Path, count: int) -> tuple[list, str]:
    """The times of a series' last `count` values, for the forecast plot: the
    CSV's first column (e.g. the year) when it has two or more, else steps."""
    import pandas as pd

    frame = pd.read_csv(path)
    if frame.shape[1] < 2:
        return list(range(count)), "test step"
    return frame.iloc[-count:, 0].to_list(), str(frame.columns[0])


if __name__ == "__main__":
    flags.run(main)
