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

README's recipe table gives the suggested rate, the accuracy and the time of
the default run.

Next steps: `python -m recipes.sgdr --max-lr <suggestion>` uses the rate as
the peak of warm restarts; `python -m recipes.snapshot_ensemble` turns one
run into an ensemble; `--learning-rate auto` on the mlp, cnn and rnn recipes
runs this test before training.
"""

from __future__ import annotations

from recipes.common import flags, training
from recipes.common.data import load_data, view_for
from recipes.common.runs import Run

SUGGESTIONS = flags.SUGGESTIONS  # valley, steep, minimum, slide
SMOKE_STEPS = 40  # --smoke: at most this many rates tried


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=100, batch_size=64, learning_rate=1.0)
    parser.set_defaults(learning_rate=None)  # None: train with the suggestion
    flags.add_data_flags(parser, ("digits", "wine", "breast_cancer"), images=True)

    # ## Hyperparameters
    test_flags = parser.add_argument_group("range test")
    test_flags.add_argument("--model", default="mlp",
                            help="any zoo classifier (mlp, cnn, lstm...)")
    test_flags.add_argument("--start-lr", type=flags.positive_float, default=1e-6)
    test_flags.add_argument("--end-lr", type=flags.positive_float, default=10.0)
    test_flags.add_argument("--num-steps", type=flags.positive_int, default=100,
                            help="rates tried")
    test_flags.add_argument("--suggestion", choices=SUGGESTIONS, default="valley",
                            help="the rate to train with (--learning-rate overrides it)")
    test_flags.add_argument("--patience", type=flags.positive_int, default=10)
    args = parser.parse_args(argv)
    num_steps = min(args.num_steps, SMOKE_STEPS) if args.smoke else args.num_steps
    # Keras' default backend (TensorFlow) unless --backend or $KERAS_BACKEND.
    run = Run(args, "lr_finder")

    import keras

    import callbacks
    import zoo
    from recipes.common import artifacts

    spec = training.model_spec(args, task="classification", kind="classifier")
    # The sweep's arguments, checked before any data is loaded.
    finder = callbacks.LRFinder(args.start_lr, args.end_lr, num_steps)

    # ## Data
    # The digits as the model reads them: 64 features, an 8x8 image or 8 rows.
    data = load_data(args, view=view_for(spec.input_kind))
    if data.task != "classification":
        raise ValueError("Invalid value for argument `task`: expected a classification "
                         f"target. Received: task={data.task!r}")
    print(data.summary())

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
    # The range test, on the training split: it ends with the model and
    # optimizer exactly as they began.
    finder.find(model, data.x_train, data.y_train, batch_size=args.batch_size, seed=args.seed)
    suggestions = {method: finder.suggestion(method) for method in SUGGESTIONS}
    print("Suggested learning rates:", ", ".join(f"{k}={v:.2e}" for k, v in suggestions.items()))
    learning_rate = args.learning_rate or suggestions[args.suggestion]
    print(f"Training with learning rate {learning_rate:.2e}")

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=run.steps_per_execution,
    )
    # Early stopping, then the history log and the backup that lets the same
    # command resume an interrupted run (the range test runs again first; it
    # gives the same suggestion).
    train, validation = data.batches(args.batch_size, seed=args.seed)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=args.patience, restore_best_weights=True
            ),
            *run.callbacks(),
        ],
        verbose=run.verbose,
    )

    # ## Evaluate
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    metrics["learning_rate"] = learning_rate
    metrics["suggestion"] = "--learning-rate" if args.learning_rate else args.suggestion
    metrics.update({f"suggested_lr_{k}": v for k, v in suggestions.items()})
    # The loss against the rate, every suggestion a dashed line; the sweep's table.
    figure = finder.plot(method=args.suggestion)
    axis = figure.axes[0]
    for index, (method, rate) in enumerate(suggestions.items()):
        axis.axvline(rate, color=f"C{index + 1}", ls="--", lw=1, label=f"{method} {rate:.1e}")
    axis.legend(loc="best", fontsize=8)
    artifacts.write_csv(run.folder / "lr_finder.csv", finder.results)
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"lr_finder": figure}, data=data)


if __name__ == "__main__":
    flags.run(main)
