"""RNN: an LSTM or GRU reads digit rows as sequences, or forecasts the yearly sunspots.

Shows the recurrent layers of Keras on two tasks. Classification: each 8x8
digit is a sequence of 8 rows of 8 pixels, read top to bottom. Forecasting
(`--task forecast`): the bundled yearly sunspot numbers (1700-2008), each
window of 12 years predicting the next, split in time order (no
look-ahead), scored in sunspots against the naive forecast "next year =
this year". Input dropout (0.1 by default) and recurrent (variational)
dropout are flags; note that `--recurrent-dropout` takes the layer off the
fused cuDNN kernel on a GPU.

Run:
    python -m recipes.rnn                          # LSTM on digit rows
    python -m recipes.rnn --cell gru --bidirectional
    python -m recipes.rnn --task forecast          # yearly sunspots
    python -m recipes.rnn --task forecast --cell gru --dropout 0 --recurrent-dropout 0.1
    python -m recipes.rnn --task forecast --csv my_series.csv --column sales --window 24

Expected on the bundled data (default flags, seed 0, JAX, measured by
`python -m benchmarks.recipes`): digit rows, LSTM: test accuracy 0.963, ~7 s
in all; `--cell gru`: digit rows, GRU: test accuracy 0.985, ~7 s in all;
`--task forecast`: sunspots forecast: test MAE 13.3 (naive last value:
22.5), ~6 s in all.

Next steps: `python -m recipes.tune --model lstm` searches depth, width,
dropout and bidirectionality; stack layers with `--units 64 32`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.common import cli


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    # JAX by default: the whole command is faster on it (README, "Backends").
    parser = cli.parser(__doc__, epochs=40, batch_size=64, learning_rate=1e-2, backend="jax")
    cli.add_data_flags(parser, ("digits",), csv=False)
    task_flags = parser.add_argument_group("task")
    task_flags.add_argument(
        "--task", choices=("classification", "forecast"), default="classification"
    )
    task_flags.add_argument("--csv", type=Path, help="your series to forecast (default: sunspots)")
    task_flags.add_argument("--column", help="series column of --csv (default: the last)")
    task_flags.add_argument("--window", type=cli.positive_int, default=12, help="past values seen")
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument(
        "--cell",
        "--model",
        dest="model",
        metavar="NAME",
        default="lstm",
        help="lstm or gru (a zoo sequence model)",
    )
    model_flags.add_argument("--units", type=cli.positive_int, nargs="+", default=[64])
    # Input dropout 0.1: without it the LSTM memorises the 1257 training
    # digits (training loss 0.003) and the seed-0 split scored 0.948 (seeds
    # 0-4: 0.948-0.981); with it 0.963-0.978. Recurrent dropout 0.1 scored a
    # little higher (0.970-0.985) but trains ~40% slower on a CPU and gives
    # up cuDNN on a GPU. The sunspots, one value per step, do a little better
    # with `--dropout 0` (test MAE 11.9, GRU 11.7).
    model_flags.add_argument("--dropout", type=cli.rate, default=0.1, help="of layer inputs")
    model_flags.add_argument(
        "--recurrent-dropout", type=cli.rate, default=0.0, help="of the recurrent state"
    )
    model_flags.add_argument(
        "--bidirectional", action=argparse.BooleanOptionalAction, default=False
    )
    model_flags.add_argument("--patience", type=cli.positive_int, default=15)
    cli.add_training_flags(parser, schedule="cosine")  # --schedule, --ema, --learning-rate auto
    args = parser.parse_args(argv)
    if args.task == "classification" and (args.csv or args.column):
        raise ValueError(
            "Invalid value for argument `task`: expected 'forecast' with --csv or --column "
            f"(a series to forecast). Received: task={args.task!r}"
        )
    cli.setup(args)

    import keras
    import numpy as np

    import zoo
    from recipes.common import datasets, plots

    cli.model_spec(args, input_kind="sequence", kind="sequence model", flag="--cell/--model",
                    data_flags=False)  # --csv here is a series to forecast

    # ## Data
    if args.task == "forecast":
        data = datasets.load_series(args.csv, args.column, window=args.window)
        times, time_label = _test_times(args.csv or datasets.SUNSPOTS, len(data.x_test))
        if args.smoke:
            data = data.subsample(train=300, evaluation=100)
        print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
              f"{len(data.x_test)} test windows of {args.window} steps -> the next value")
    else:
        data = cli.load_data(args, view="sequence")
        print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
              f"{len(data.x_test)} test sequences of {data.input_shape[0]} steps x "
              f"{data.input_shape[1]} features, {data.num_outputs} classes")

    # ## Model
    forecasting = args.task == "forecast"
    # Built and compiled in the --distribute scope: data-parallel on every device.
    with cli.distributed(args):
        model = zoo.build(
            args.model,
            input_shape=data.input_shape,
            num_outputs=data.num_outputs,
            units=args.units,
            dropout=args.dropout,
            recurrent_dropout=args.recurrent_dropout,
            bidirectional=args.bidirectional,
            task="regression" if forecasting else "classification",
            **cli.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        loss = "mean_squared_error" if forecasting else "sparse_categorical_crossentropy"
        # Backed up each epoch: after a crash, the same command resumes the run.
        out = cli.start_run(args, "rnn")
        cli.find_learning_rate(args, model, data, out, loss=loss)  # --learning-rate auto
        model.compile(
            optimizer=cli.optimizer(args, keras.optimizers.Adam),  # with --ema: use_ema=True
            loss=loss,
            metrics=["mean_absolute_error"] if forecasting else ["accuracy"],
            steps_per_execution=args.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # --schedule (default cosine: one cosine decay to zero over --epochs, in
    # the graph, per step), then early stopping and the resumable backup.
    callbacks = [
        *cli.schedule_callbacks(args, patience=args.patience),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *cli.resumable_callbacks(out),
    ]
    history = model.fit(
        **datasets.fit_inputs(data, batch_size=args.batch_size, seed=args.seed),
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=cli.verbose(args),
    )

    # ## Evaluate
    predictions = model.predict(
        data.x_test, batch_size=datasets.EVALUATION_BATCH_SIZE, verbose=0)
    metrics = {"epochs_trained": len(history.history["loss"])}
    figures = {}
    if forecasting:
        # Back to the series' units; the naive forecast repeats the last value seen.
        mean, std = data.scale
        actual = data.y_test[:, 0] * std + mean
        model_forecast = predictions[:, 0] * std + mean
        naive_forecast = data.x_test[:, -1, 0] * std + mean
        for key, forecast in (("test", model_forecast), ("naive", naive_forecast)):
            error = forecast - actual
            metrics[f"{key}_mae"] = float(np.mean(np.abs(error)))
            metrics[f"{key}_rmse"] = float(np.sqrt(np.mean(error**2)))
        figures["forecast"] = plots.forecast(
            times[: len(actual)],
            actual,
            {f"{args.model} forecast": model_forecast, "naive (last value)": naive_forecast},
            xlabel=time_label,
            ylabel=data.class_names[0],
        )
    else:
        predicted = np.argmax(predictions, axis=-1)
        metrics["test_accuracy"] = float(np.mean(predicted == data.y_test))
        figures["confusion_matrix"] = plots.confusion_matrix(
            data.y_test, predicted, data.class_names
        )
    print("Test:", cli.format_metrics(metrics))
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics, figures=figures)


def _test_times(path, count: int):
    """When the CSV has two or more columns, the first (e.g. years) for the last `count` rows."""
    import pandas as pd

    frame = pd.read_csv(path)
    if frame.shape[1] < 2:
        return list(range(count)), "test step"
    return frame.iloc[-count:, 0].to_list(), str(frame.columns[0])


if __name__ == "__main__":
    cli.run(main)
