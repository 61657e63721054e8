"""Autoencoder: compress the digits (or your own table) to 8 numbers and back.

Shows a dense autoencoder trained with `fit(x, x)`: the encoder squeezes each
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

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): test MSE 0.0137 per pixel (always the mean
digit: 0.074), ~13 s in all.

Next steps: `python -m recipes.denoising_autoencoder` cleans corrupted
digits; `python -m recipes.conv_autoencoder` uses convolutions;
`python -m recipes.vae` generates new digits; `python -m recipes.tune
--model autoencoder` searches the code size, depth and width.
"""

from __future__ import annotations

from recipes.common import cli

MODELS = ("autoencoder", "denoising_autoencoder")


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    cli.add_data_flags(parser, ("digits",))
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="autoencoder", help=" or ".join(MODELS))
    model_flags.add_argument("--latent-dim", type=cli.positive_int, default=8)
    model_flags.add_argument(
        "--hidden-units", type=cli.positive_int, nargs="+", default=[128, 64]
    )
    model_flags.add_argument(
        "--activation", default="relu", choices=("relu", "elu", "selu", "gelu", "swish", "mish")
    )
    model_flags.add_argument("--patience", type=cli.positive_int, default=10)
    args = parser.parse_args(argv)
    cli.setup(args)

    import keras

    import zoo
    from recipes.common import evaluation, plots, tables

    cli.check_model(args.model, MODELS)

    # ## Data
    # Digits as 8x8x1 images (the model flattens them), or your table's rows.
    data = cli.load_data(args, view="image", labels=False)
    images = len(data.input_shape) == 3
    print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
          f"{len(data.x_test)} test samples of shape {data.input_shape}")

    # ## Model
    # Pixels in [0, 1]: sigmoid output, binary cross-entropy per pixel.
    # Standardised table features: linear output, mean squared error.
    if images:
        output_activation, loss = "sigmoid", "binary_crossentropy"
    else:
        output_activation, loss = "linear", "mean_squared_error"
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
        steps_per_execution=args.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # The input is its own target.
    # Backed up each epoch: after a crash, the same command resumes the run.
    out = cli.start_run(args, "autoencoder")
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *cli.resumable_callbacks(out),
    ]
    history = model.fit(
        data.x_train,
        data.x_train,
        validation_data=(data.x_val, data.x_val),
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=callbacks,
        verbose=cli.verbose(args),
    )

    # ## Evaluate
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
    print("Test:", cli.format_metrics(metrics))
    # For --csv: the fitted preprocessing and schema, for recipes.predict.
    tables.save(out, data, task="reconstruction")
    return cli.save_artifacts(
        out, model=model, history=history, metrics=metrics, figures={"reconstructions": figure}
    )


if __name__ == "__main__":
    cli.run(main)
