"""Autoencoder: compress the digits (or your own table) to 8 numbers and back.

Shows a dense autoencoder fit on batches of `(x, x)`: the encoder squeezes each
8x8 digit (64 pixels in [0, 1]) through an 8-number code and the decoder
rebuilds it. Sigmoid output with binary cross-entropy for pixels; for your own
table, standardised features with a linear output and mean squared error.
Reports the reconstruction error per pixel on test data, next to the error of
always predicting the mean training digit, and plots originals above their
reconstructions. The encoder and decoder are sub-models you can reuse:
`model.get_layer("encoder")` gives the codes.

Run:
    python -m recipes.autoencoder
    python -m recipes.autoencoder --latent-dim 2 --hidden-units 256 128
    python -m recipes.autoencoder --model denoising_autoencoder   # corrupted inputs in training
    python -m recipes.autoencoder --csv my_table.csv                 # every column a feature
    python -m recipes.autoencoder --csv my_table.csv --target label  # leave `label` out
    python -m recipes.predict runs/autoencoder --csv new_rows.csv    # reconstruction errors

README's recipe table gives the test MSE (and the mean digit's) and the time
of the default run.

Next steps: `python -m recipes.denoising_autoencoder` cleans corrupted
digits; `python -m recipes.conv_autoencoder` uses convolutions;
`python -m recipes.vae` generates new digits; `python -m recipes.tune
--model autoencoder` searches the code size, depth and width.
"""

from __future__ import annotations

from recipes.common import flags
from recipes.common.data import EVALUATION_BATCH_SIZE, array_batches, load_data
from recipes.common.runs import Run

# The zoo models this recipe trains (both dense, both take the same flags).
MODELS = ("autoencoder", "denoising_autoencoder")


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    flags.add_data_flags(parser, ("digits",))

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="autoencoder", help=" or ".join(MODELS))
    model_flags.add_argument("--latent-dim", type=flags.positive_int, default=8)
    model_flags.add_argument(
        "--hidden-units", type=flags.positive_int, nargs="+", default=[128, 64]
    )
    model_flags.add_argument(
        "--activation", default="relu", choices=("relu", "elu", "selu", "gelu", "swish", "mish")
    )
    model_flags.add_argument("--patience", type=flags.positive_int, default=10)
    flags.add_distribute_flags(parser)
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        raise ValueError(f"Invalid value for argument `model`: expected one of: "
                         f"{', '.join(MODELS)}. Received: model={args.model!r}")
    # TensorFlow by default (README, "Backends"); seeds set; the run folder
    # runs/autoencoder/.
    run = Run(args, "autoencoder", backend="tensorflow")

    import keras

    import zoo
    from recipes.common import evaluation, plots

    # ## Data
    # Digits as 8x8x1 images (the model flattens them), or your table's rows:
    # with `labels=False` every --csv column is a feature, but --target's,
    # encoded by a `keras.utils.FeatureSpace` fitted on the training rows.
    data = load_data(args, view="image", labels=False)
    images = len(data.input_shape) == 3
    print(data.summary())

    # ## Model
    # Pixels in [0, 1]: sigmoid output, binary cross-entropy per pixel.
    # Standardised table features: linear output, mean squared error.
    if images:
        output_activation, loss = "sigmoid", "binary_crossentropy"
    else:
        output_activation, loss = "linear", "mean_squared_error"
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model,
            input_shape=data.input_shape,
            latent_dim=args.latent_dim,
            hidden_units=args.hidden_units,
            activation=args.activation,
            output_activation=output_activation,
            # The zoo's default noise (see recipes.denoising_autoencoder for flags).
            **({"seed": args.seed} if args.model == "denoising_autoencoder" else {}),
        )
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss=loss,
            metrics=[keras.metrics.MeanSquaredError(name="mse")],
            steps_per_execution=run.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # The input is its own target: batches of `(x, x)`, shuffled with the
    # seed. Early stopping, then the history log and the backup that lets
    # the same command resume an interrupted run.
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *run.callbacks(),
    ]
    train = array_batches(data.x_train, data.x_train, args.batch_size, shuffle=True,
                          seed=args.seed)
    validation = array_batches(data.x_val, data.x_val, EVALUATION_BATCH_SIZE)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=run.verbose,
    )

    # ## Evaluate
    model = run.local_model(model)  # after --distribute: a copy on this process's devices
    reconstructions = model.predict(data.x_test, verbose=0)
    errors = evaluation.pixel_errors(data.x_test, reconstructions, bce=images)
    metrics = {f"test_{name}": value for name, value in errors.items()}
    # A baseline: always answer the mean training sample.
    mean_sample = data.x_train.mean(axis=0, keepdims=True)
    metrics["test_mse_mean_sample"] = evaluation.pixel_errors(
        data.x_test, mean_sample, bce=False
    )["mse"]
    metrics["epochs_trained"] = len(history.history["loss"])
    if images:
        figure = plots.image_grid(
            {"original": data.x_test[:10], "reconstruction": reconstructions[:10]}
        )
    else:
        figure = plots.bar_chart(
            evaluation.feature_errors(data.x_test, reconstructions, data.feature_names),
            ylabel="test MSE (standardised)",
            title="worst-reconstructed features",
        )
    # The model, history, metrics and plot; for a --csv run also its
    # FeatureSpace, so `python -m recipes.predict` gives new rows' errors.
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"reconstructions": figure}, data=data, task="reconstruction")


if __name__ == "__main__":
    flags.run(main)
