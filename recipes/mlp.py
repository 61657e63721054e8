"""MLP: classify the digits (or your own table) with a multilayer perceptron.

Shows the recipe pattern every other recipe follows: a zoo builder, an
explicit `compile()`, early stopping on validation loss with the best weights
restored, and a test-set report. Batch norm (before or after the
activation), dropout, skip connections and the activation (ReLU, SELU with
AlphaDropout, GELU, swish, Mish...) are flags.

Run:
    python -m recipes.mlp
    python -m recipes.mlp --dataset wine --activation selu
    python -m recipes.mlp --csv my_table.csv --target label
    python -m recipes.mlp --csv my_table.csv --target a,b   # multi-label
    python -m recipes.mlp --schedule one_cycle --ema         # one-cycle rate, Polyak averaging
    python -m recipes.predict runs/mlp --csv new_rows.csv    # apply a --csv run

Expected on the bundled data (default flags, seed 0, JAX, measured by
`python -m benchmarks.recipes`): digits test accuracy 0.974, 19 epochs, ~5 s
in all.

Next steps: `python -m recipes.tune --model mlp` searches depth, width,
activation, dropout and batch-norm placement; `--activation selu` shows a
self-normalising network.
"""

from __future__ import annotations

from recipes.common import cli

# How each task is trained: output activation, loss, metrics.
TASKS = {
    "classification": ("softmax", "sparse_categorical_crossentropy", ["accuracy"]),
    "multilabel": ("sigmoid", "binary_crossentropy", ["binary_accuracy"]),
    "regression": ("linear", "mean_squared_error", ["mean_absolute_error"]),
}


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    # JAX by default: the whole command is faster on it (README, "Backends").
    parser = cli.parser(__doc__, epochs=200, batch_size=64, learning_rate=2e-3, backend="jax")
    cli.add_data_flags(parser, ("digits", "wine", "breast_cancer"))
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument(
        "--hidden-units", type=cli.positive_int, nargs="+", default=[512, 256]
    )
    model_flags.add_argument(
        "--activation",
        default="relu",
        choices=("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "mish"),
    )
    model_flags.add_argument("--dropout-rate", type=cli.rate, default=0.3)
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="none")
    model_flags.add_argument("--residual", action="store_true", help="skip connections")
    model_flags.add_argument(
        "--patience", type=cli.positive_int, default=5,
        help="epochs without a lower validation loss before stopping (README, Performance)",
    )
    cli.add_training_flags(parser)  # --schedule, --ema, --learning-rate auto
    cli.add_ensemble_flag(parser)  # --ensemble K
    args = parser.parse_args(argv)
    cli.setup(args)

    import keras
    import numpy as np

    import zoo
    from recipes.common import datasets, tables

    # ## Data
    # A --csv table goes through a `keras.utils.FeatureSpace` fitted on its
    # training rows (normalised numbers, one-hot categories with an
    # out-of-vocabulary bucket, filled gaps): `data.preprocessing`.
    data = cli.load_data(args)
    print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
          f"{len(data.x_test)} test samples, {data.input_shape[0]} features, task {data.task}")

    # ## Model
    output_activation, loss, metrics = TASKS[data.task]
    if args.ensemble > 1:  # K independent models, averaged (members/ holds each run)
        return cli.train_ensemble(main, argv, args, "mlp", data, loss=loss, metrics=metrics)
    # Built and compiled in the --distribute scope: data-parallel on every device.
    with cli.distributed(args):
        model = zoo.build(
            "mlp",
            input_shape=data.input_shape,
            num_outputs=data.num_outputs,
            hidden_units=args.hidden_units,
            activation=args.activation,
            dropout_rate=args.dropout_rate,
            batch_norm=None if args.batch_norm == "none" else args.batch_norm,
            residual=args.residual,
            output_activation=output_activation,
            **cli.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        # Backed up each epoch: after a crash, the same command resumes the run.
        out = cli.start_run(args, "mlp")
        cli.find_learning_rate(args, model, data, out, loss=loss)  # --learning-rate auto
        model.compile(
            optimizer=cli.optimizer(args, keras.optimizers.Adam),  # with --ema: use_ema=True
            loss=loss,
            metrics=metrics,
            steps_per_execution=args.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
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
    results = model.evaluate(**datasets.evaluation_inputs(data), return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    figures = {}
    if data.task == "classification":
        from recipes.common import plots

        test = datasets.evaluation_inputs(data)
        predicted = np.argmax(
            model.predict(test["x"], batch_size=test["batch_size"], verbose=0), axis=-1)
        figures["confusion_matrix"] = plots.confusion_matrix(
            data.y_test, predicted, data.class_names
        )
    print("Test:", cli.format_metrics(metrics))
    # A --csv run keeps its FeatureSpace (preprocessing.keras) and schema
    # (run.json), so `python -m recipes.predict` can apply it to new rows.
    tables.save(out, data)
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics, figures=figures)


if __name__ == "__main__":
    cli.run(main)
