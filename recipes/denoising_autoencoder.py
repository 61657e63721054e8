"""Denoising autoencoder: learn to clean corrupted digits (or your own table).

Shows the denoising criterion of Vincent et al. (2010): the zoo model's
`Corruption` layer adds noise to its input in training only, and the loss
compares the reconstruction with the clean sample, so the network must learn
what digits look like rather than copy pixels. Validation and test inputs get
the same corruption, drawn once with a fixed seed, so early stopping and the
report measure denoising. Reports the error of the noisy inputs against the
error of the denoised outputs (per pixel, against the clean test digits), and
plots originals / noisy / denoised. `--model autoencoder` trains the same
network on clean inputs only: the baseline that shows what the corruption in
training buys (it is still validated and tested on the noisy inputs).

Run:
    python -m recipes.denoising_autoencoder
    python -m recipes.denoising_autoencoder --noise-type salt_and_pepper --noise-level 0.2
    python -m recipes.denoising_autoencoder --noise-type masking --noise-level 0.4
    python -m recipes.denoising_autoencoder --model autoencoder   # no corruption in training
    python -m recipes.denoising_autoencoder --csv my_table.csv    # standardised features
    python -m recipes.predict runs/denoising_autoencoder --csv new_rows.csv

README's recipe table gives the noisy and denoised errors and the time of
the default run and of `--model autoencoder`.

Next steps: compare the noise types and levels; use the trained encoder
(`model.get_layer("encoder")`) as a feature extractor for a classifier;
`python -m recipes.tune --model denoising_autoencoder` also tunes the noise.
"""

from __future__ import annotations

from recipes.common import flags
from recipes.common.data import EVALUATION_BATCH_SIZE, array_batches, load_data
from recipes.common.runs import Run

MODELS = ("denoising_autoencoder", "autoencoder")
NOISE_SEED = 1234  # validation and test corruption: the same draw for every run


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    flags.add_data_flags(parser, ("digits",))

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="denoising_autoencoder", help=" or ".join(MODELS))
    model_flags.add_argument(
        "--noise-type", default="gaussian", choices=("gaussian", "masking", "salt_and_pepper")
    )
    model_flags.add_argument(
        "--noise-level",
        type=flags.positive_float,
        default=0.3,
        help="standard deviation for gaussian, else the fraction of corrupted pixels",
    )
    model_flags.add_argument("--latent-dim", type=flags.positive_int, default=16)
    model_flags.add_argument(
        "--hidden-units", type=flags.positive_int, nargs="+", default=[128, 64]
    )
    model_flags.add_argument("--patience", type=flags.positive_int, default=10)
    flags.add_distribute_flags(parser)
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        raise ValueError(f"Invalid value for argument `model`: expected one of: "
                         f"{', '.join(MODELS)}. Received: model={args.model!r}")
    # TensorFlow by default (README, "Backends"); seeds set; the run folder
    # runs/denoising_autoencoder/.
    run = Run(args, "denoising_autoencoder", backend="tensorflow")

    import keras

    import zoo
    from recipes.common import evaluation, plots
    from zoo.autoencoder import Corruption

    # The noise of the validation and test inputs (for either --model). Made
    # first: it checks the noise settings (a rate must be < 1) before any
    # data is loaded.
    corruption = Corruption(args.noise_type, args.noise_level, seed=NOISE_SEED)

    # ## Data
    # Digits as 8x8x1 images (the model flattens them), or your table's rows
    # (every column a feature but --target's), standardised.
    data = load_data(args, view="image", labels=False)
    images = len(data.input_shape) == 3
    noisy_val = keras.ops.convert_to_numpy(corruption(data.x_val, training=True))
    noisy_test = keras.ops.convert_to_numpy(corruption(data.x_test, training=True))
    print(f"{data.summary()}; {args.noise_type} noise {args.noise_level}")

    # ## Model
    if images:  # pixels in [0, 1]
        output_activation, loss = "sigmoid", "binary_crossentropy"
    else:  # standardised table features
        output_activation, loss = "linear", "mean_squared_error"
    # The training noise: the model's own corruption layer, active in fit only.
    noise = dict(noise_type=args.noise_type, noise_level=args.noise_level, seed=args.seed)
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model,
            input_shape=data.input_shape,
            latent_dim=args.latent_dim,
            hidden_units=args.hidden_units,
            output_activation=output_activation,
            **(noise if args.model == "denoising_autoencoder" else {}),
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
    # Clean targets; the model corrupts its own training inputs. Validation
    # feeds noisy inputs, so early stopping keeps the best denoiser. Then the
    # history log and the backup that lets the same command resume.
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *run.callbacks(),
    ]
    train = array_batches(data.x_train, data.x_train, args.batch_size, shuffle=True,
                          seed=args.seed)
    validation = array_batches(noisy_val, data.x_val, EVALUATION_BATCH_SIZE)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=run.verbose,
    )

    # ## Evaluate
    model = run.local_model(model)  # after --distribute: a copy on this process's devices
    denoised = model.predict(noisy_test, verbose=0)
    noisy_errors = evaluation.pixel_errors(data.x_test, noisy_test, bce=False)
    denoised_errors = evaluation.pixel_errors(data.x_test, denoised, bce=images)
    metrics = {"test_noisy_input_mse": noisy_errors["mse"]}
    metrics.update({f"test_denoised_{name}": value for name, value in denoised_errors.items()})
    metrics["epochs_trained"] = len(history.history["loss"])
    if images:
        figure = plots.image_grid(
            {"original": data.x_test[:10], "noisy": noisy_test[:10], "denoised": denoised[:10]}
        )
    else:
        figure = plots.bar_chart(
            evaluation.feature_errors(data.x_test, denoised, data.feature_names),
            ylabel="test MSE after denoising",
            title="worst-denoised features",
        )
    # The model, history, metrics and plot; for a --csv run also its
    # FeatureSpace, so `python -m recipes.predict` gives new rows' errors.
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"denoising": figure}, data=data, task="reconstruction")


if __name__ == "__main__":
    flags.run(main)
