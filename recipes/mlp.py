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

README's recipe table gives the accuracy and time of the default run.

Next steps: `python -m recipes.tune --model mlp` searches depth, width,
activation, dropout and batch-norm placement; `--activation selu` shows a
self-normalising network.
"""

from __future__ import annotations

from recipes.common import flags, training
from recipes.common.data import load_data
from recipes.common.runs import Run

# How each task is trained: output activation, loss, metrics.
TASKS = {
    "classification": ("softmax", "sparse_categorical_crossentropy", ["accuracy"]),
    "multilabel": ("sigmoid", "binary_crossentropy", ["binary_accuracy"]),
    "regression": ("linear", "mean_squared_error", ["mean_absolute_error"]),
}


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=200, batch_size=64, learning_rate=2e-3,
                          auto_learning_rate=True)
    flags.add_data_flags(parser, ("digits", "wine", "breast_cancer"))
    flags.add_training_flags(parser)  # --schedule, --ema, --l1/--l2, --distribute...
    flags.add_ensemble_flag(parser)  # --ensemble K

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument(
        "--hidden-units", type=flags.positive_int, nargs="+", default=[512, 256]
    )
    model_flags.add_argument(
        "--activation",
        default="relu",
        choices=("relu", "leaky_relu", "elu", "selu", "gelu", "swish", "mish"),
    )
    model_flags.add_argument("--dropout-rate", type=flags.rate, default=0.3)
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="none")
    model_flags.add_argument("--residual", action="store_true", help="skip connections")
    model_flags.add_argument(
        "--patience", type=flags.positive_int, default=5,
        help="epochs without a lower validation loss before stopping",
    )
    args = parser.parse_args(argv)
    # JAX by default (README, "Backends"); seeds set; the run folder runs/mlp/.
    run = Run(args, "mlp", backend="jax")

    import keras

    import zoo
    from recipes.common import evaluation

    # ## Data
    # A --csv table goes through a `keras.utils.FeatureSpace` fitted on its
    # training rows (normalised numbers, one-hot categories with an
    # out-of-vocabulary bucket, filled gaps): `data.preprocessing`.
    data = load_data(args)
    print(data.summary())

    # ## Model
    output_activation, loss, metrics = TASKS[data.task]
    if args.ensemble > 1:  # K independent models, averaged (members/ holds each run)
        return training.train_ensemble(main, argv, run, data, loss=loss, metrics=metrics)
    with run.distributed():  # --distribute: built and compiled data-parallel
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
    # --schedule, then early stopping, then the history log and the backup
    # that lets the same command resume an interrupted run.
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
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    figures = {}
    if data.task == "classification":
        _, figures = evaluation.classifier(model, data)  # the confusion matrix
    # The model, history, metrics and plots; for a --csv run also its
    # FeatureSpace, so `python -m recipes.predict` can apply it to new rows.
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data)


if __name__ == "__main__":
    flags.run(main)
