"""LR finder: run the learning-rate range test, then train with the rate it suggests.

Shows the range test (Smith 2017, as fastai's `lr_find`): a short mock
training sweeps the learning rate exponentially from 1e-6 to 10, one rate per
batch, records the loss, and puts the model and optimizer back exactly as they
were. The four suggestions read off the smoothed loss curve (valley, steep,
minimum, slide) are printed, plotted and saved, and the model is then trained
with the one you pick (`--suggestion`, default valley) under early stopping.

Run:
    python -m recipes.lr_finder
    python -m recipes.lr_finder --suggestion steep
    python -m recipes.lr_finder --model cnn                  # digits as 8x8 images
    python -m recipes.lr_finder --model lstm                 # digits as rows of pixels
    python -m recipes.lr_finder --csv my_table.csv --target label
    python -m recipes.lr_finder --learning-rate 1e-3         # compare with a rate of your own

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): valley suggestion 9.3e-04; test accuracy
0.985, ~13 s in all.

Next steps: `python -m recipes.sgdr --max-lr <suggestion>` uses the rate as
the peak of warm restarts; `python -m recipes.snapshot_ensemble` turns one
run into an ensemble.
"""

from __future__ import annotations

from recipes.common import cli

# How each zoo input kind sees the digits.
SUGGESTIONS = ("valley", "steep", "minimum", "slide")


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=100, batch_size=64, learning_rate=1.0)
    parser.set_defaults(learning_rate=None)  # None: train with the suggestion
    cli.add_data_flags(parser, ("digits", "wine", "breast_cancer"), images=True)
    # ## Hyperparameters
    flags = parser.add_argument_group("range test")
    flags.add_argument("--model", default="mlp", help="any zoo classifier (mlp, cnn, lstm...)")
    flags.add_argument("--start-lr", type=cli.positive_float, default=1e-6)
    flags.add_argument("--end-lr", type=cli.positive_float, default=10.0)
    flags.add_argument("--num-steps", type=cli.positive_int, default=100, help="rates tried")
    flags.add_argument("--suggestion", choices=SUGGESTIONS, default="valley",
                       help="the rate to train with (--learning-rate overrides it)")
    flags.add_argument("--patience", type=cli.positive_int, default=10)
    args = parser.parse_args(argv)
    cli.setup(args)
    if args.smoke:
        args.num_steps = min(args.num_steps, 40)

    import keras

    import callbacks
    import zoo
    from recipes.common import artifacts, datasets

    spec = cli.model_spec(args, task="classification", kind="classifier")

    # ## Data
    data = cli.load_data(args, view=datasets.view_for(spec.input_kind))
    if data.task != "classification":
        raise ValueError("Invalid value for argument `task`: expected a classification "
                         f"target. Received: task={data.task!r}")
    print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
          f"{len(data.x_test)} test samples of shape {data.input_shape}, "
          f"{data.num_outputs} classes")

    # ## Model
    # The mlp of recipes/mlp.py; other models keep their zoo defaults.
    options = dict(hidden_units=(512, 256), dropout_rate=0.3) if args.model == "mlp" else {}
    model = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=data.num_outputs, **options
    )
    # The range test sets the rate from Python before every step, so it needs
    # one step per execution and a float learning rate.
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=1,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # The range test: ends with the model and optimizer exactly as they began.
    finder = callbacks.LRFinder(args.start_lr, args.end_lr, args.num_steps)
    finder.find(model, data.x_train, data.y_train, batch_size=args.batch_size, seed=args.seed)
    suggestions = {method: finder.suggestion(method) for method in SUGGESTIONS}
    print("Suggested learning rates:", ", ".join(f"{k}={v:.2e}" for k, v in suggestions.items()))
    learning_rate = args.learning_rate or suggestions[args.suggestion]
    print(f"Training with learning rate {learning_rate:.2e}")

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
    )
    # Backed up each epoch: after a crash, the same command resumes the run
    # (the range test runs again first; it gives the same suggestion).
    out = cli.start_run(args, "lr_finder")
    callbacks_list = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *cli.resumable_callbacks(out),
    ]
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=callbacks_list,
        verbose=cli.verbose(args),
    )

    # ## Evaluate
    results = model.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    metrics["learning_rate"] = learning_rate
    metrics["suggestion"] = "--learning-rate" if args.learning_rate else args.suggestion
    metrics.update({f"suggested_lr_{k}": v for k, v in suggestions.items()})
    print("Test:", cli.format_metrics(results))
    # The loss against the rate, every suggestion a dashed line.
    figure = finder.plot(method=args.suggestion)
    axis = figure.axes[0]
    for index, (method, rate) in enumerate(suggestions.items()):
        axis.axvline(rate, color=f"C{index + 1}", ls="--", lw=1, label=f"{method} {rate:.1e}")
    axis.legend(loc="best", fontsize=8)
    artifacts.write_csv(out / "lr_finder.csv", finder.results)
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics,
                               figures={"lr_finder": figure})


if __name__ == "__main__":
    cli.run(main)
