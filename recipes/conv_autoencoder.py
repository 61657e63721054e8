"""Convolutional autoencoder: compress digit images (or your own) with convolutions.

Shows a convolutional autoencoder on images: strided `Conv2D` stages halve
the 8x8 digits twice, a dense layer makes an 8-number code, and the decoder
mirrors the encoder with `Conv2DTranspose` stages back to 8x8 pixels in
[0, 1] (sigmoid output, binary cross-entropy). Reports the reconstruction
error per pixel on test data, next to the error of always predicting the
mean training image, and plots originals above their reconstructions.
`--model autoencoder` trains a dense autoencoder on the same images for
comparison; `--images` takes a folder of your own pictures (one sub-folder
per class; the side must be divisible by 2 per stage).

Run:
    python -m recipes.conv_autoencoder
    python -m recipes.conv_autoencoder --latent-dim 4 --filters 16 32
    python -m recipes.conv_autoencoder --model autoencoder   # dense, same code size
    python -m recipes.conv_autoencoder --images my_photos/ --image-size 32 32 --filters 32 64 128

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): test MSE 0.0132 per pixel (always the mean
image: 0.074), ~17 s in all.

Next steps: `python -m recipes.vae` turns the decoder into a generator;
`python -m recipes.tune --model conv_autoencoder` searches the code size,
stages and width.
"""

from __future__ import annotations

from recipes.common import cli

MODELS = ("conv_autoencoder", "autoencoder")


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    cli.add_data_flags(parser, ("digits",), csv=False, images=True)
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="conv_autoencoder", help=" or ".join(MODELS))
    model_flags.add_argument("--latent-dim", type=cli.positive_int, default=8)
    model_flags.add_argument(
        "--filters", type=cli.positive_int, nargs="+", default=[32, 64],
        help="channels of each stride-2 stage (conv_autoencoder)",
    )
    model_flags.add_argument(
        "--hidden-units", type=cli.positive_int, nargs="+", default=[128, 64],
        help="dense layer widths (--model autoencoder)",
    )
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="none")
    model_flags.add_argument("--patience", type=cli.positive_int, default=10)
    args = parser.parse_args(argv)
    cli.setup(args)

    import keras

    import zoo
    from recipes.common import evaluation, plots

    cli.check_model(args.model, MODELS)

    # ## Data
    data = cli.load_data(args, view="image")
    print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
          f"{len(data.x_test)} test images of shape {data.input_shape}")

    # ## Model
    if args.model == "conv_autoencoder":
        architecture = dict(filters=args.filters)
    else:  # a dense autoencoder on the same images (it flattens them)
        architecture = dict(hidden_units=args.hidden_units)
    model = zoo.build(
        args.model,
        input_shape=data.input_shape,
        latent_dim=args.latent_dim,
        batch_norm=None if args.batch_norm == "none" else args.batch_norm,
        output_activation="sigmoid",  # pixels in [0, 1]
        **architecture,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.MeanSquaredError(name="mse")],
        steps_per_execution=args.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # The input is its own target.
    # Backed up each epoch: after a crash, the same command resumes the run.
    out = cli.start_run(args, "conv_autoencoder")
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
    errors = evaluation.pixel_errors(data.x_test, reconstructions)
    metrics = {f"test_{name}": value for name, value in errors.items()}
    # A baseline: always answer the mean training image.
    mean_image = data.x_train.mean(axis=0, keepdims=True)
    metrics["test_mse_mean_image"] = evaluation.pixel_errors(
        data.x_test, mean_image, bce=False
    )["mse"]
    metrics["epochs_trained"] = len(history.history["loss"])
    figure = plots.image_grid(
        {"original": data.x_test[:10], "reconstruction": reconstructions[:10]}
    )
    print("Test:", cli.format_metrics(metrics))
    return cli.save_artifacts(
        out, model=model, history=history, metrics=metrics, figures={"reconstructions": figure}
    )


if __name__ == "__main__":
    cli.run(main)
