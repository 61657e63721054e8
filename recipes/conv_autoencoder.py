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
    python -m recipes.conv_autoencoder --model autoencoder --hidden-units 128 64   # dense
    python -m recipes.conv_autoencoder --images my_photos/ --image-size 32 32 --filters 32 64 128

README's recipe table gives the test MSE (and the mean image's) and the time
of the default run.

Next steps: `python -m recipes.vae` turns the decoder into a generator;
`python -m recipes.tune --model conv_autoencoder` searches the code size,
stages and width.
"""

from __future__ import annotations

from recipes.common import flags
from recipes.common.data import EVALUATION_BATCH_SIZE, array_batches, load_data
from recipes.common.runs import Run

MODELS = ("conv_autoencoder", "autoencoder")
# The flag that shapes only the other model: refused, not ignored.
UNUSED_FLAGS = {"conv_autoencoder": ["hidden_units"], "autoencoder": ["filters"]}


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    flags.add_data_flags(parser, ("digits",), csv=False, images=True)

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="conv_autoencoder", help=" or ".join(MODELS))
    model_flags.add_argument("--latent-dim", type=flags.positive_int, default=8)
    model_flags.add_argument(
        "--filters", type=flags.positive_int, nargs="+", default=[32, 64],
        help="channels of each stride-2 stage (conv_autoencoder)",
    )
    model_flags.add_argument(
        "--hidden-units", type=flags.positive_int, nargs="+", default=[128, 64],
        help="dense layer widths (--model autoencoder)",
    )
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="none")
    model_flags.add_argument("--patience", type=flags.positive_int, default=10)
    flags.add_distribute_flags(parser)
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        raise ValueError(f"Invalid value for argument `model`: expected one of: "
                         f"{', '.join(MODELS)}. Received: model={args.model!r}")
    flags.refuse_unused(parser, args, UNUSED_FLAGS[args.model], why=f"--model {args.model}")
    # TensorFlow by default: `Conv2DTranspose` runs several times slower on
    # JAX on a CPU (README, "Backends"); seeds set; the run folder
    # runs/conv_autoencoder/.
    run = Run(args, "conv_autoencoder", backend="tensorflow")

    import keras

    import zoo
    from recipes.common import evaluation, plots

    # ## Data
    # The digits as 8x8x1 images, or --images loaded into memory, pixels in [0, 1].
    data = load_data(args, view="image")
    print(data.summary())

    # ## Model
    if args.model == "conv_autoencoder":
        architecture = dict(filters=args.filters)
    else:  # a dense autoencoder on the same images (it flattens them)
        architecture = dict(hidden_units=args.hidden_units)
    with run.distributed():  # --distribute: built and compiled data-parallel
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
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"reconstructions": figure})


if __name__ == "__main__":
    flags.run(main)
