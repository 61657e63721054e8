"""VAE: a variational autoencoder that generates new digits from a 2-D latent space.

Shows a convolutional variational autoencoder (Kingma & Welling 2014): the
encoder gives each digit a Gaussian in a 2-D latent space, a sample from it
goes through the decoder, and the loss is the negative evidence lower bound
(ELBO), reconstruction (binary cross-entropy summed over the pixels) plus the
KL divergence to the prior N(0, I), both in nats per image. Early stopping
watches `val_loss`: that loss on the validation digits with one draw of z per
digit (an unbiased, noisy estimate; with --kl-weight, the weighted objective).

On test data it reports the negative ELBO averaged over 20 draws of z per
digit (`test_negative_elbo`; `elbo_samples` says how many; the KL term counts
once whatever --kl-weight, so it stays the bound) and its two parts, the
expected reconstruction loss (`test_reconstruction_loss`) and the exact KL
(`test_kl_loss`). Under its own name, `test_posterior_mean_reconstruction_loss`
decodes each digit's posterior mean instead, the deterministic reconstruction
that `predict()` returns and the plots show: not part of the ELBO, not a
bound; the per-pixel errors are this reconstruction's. Plots digits generated
by decoding draws from the prior, the test digits' latent means coloured by
class (a PCA projection when `--latent-dim` > 2), and originals above their
posterior-mean reconstructions.

Run:
    python -m recipes.vae
    python -m recipes.vae --latent-dim 8            # the latent plot becomes a PCA projection
    python -m recipes.vae --kl-weight 4             # a beta-VAE (Higgins et al. 2017)
    python -m recipes.vae --dense                   # dense encoder and decoder
    python -m recipes.vae --elbo-samples 100        # a tighter estimate of the test ELBO
    python -m recipes.vae --images my_photos/ --image-size 32 32 --conv-filters 32 64 128

README's recipe table gives the test negative ELBO, its two parts and the
time of the default run.

Next steps: decode a straight line between two digits' latent means to morph
one into the other; `python -m recipes.tune --model vae` searches the latent
size and layers.
"""

from __future__ import annotations

from recipes.common import flags
from recipes.common.data import EVALUATION_BATCH_SIZE, array_batches, load_data
from recipes.common.runs import Run

MODELS = ("vae",)


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=100, batch_size=64, learning_rate=2e-3)
    flags.add_data_flags(parser, ("digits",), csv=False, images=True)

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="vae", help=" or ".join(MODELS))
    model_flags.add_argument("--latent-dim", type=flags.positive_int, default=2)
    model_flags.add_argument(
        "--conv-filters", type=flags.positive_int, nargs="+", default=[32, 64],
        help="channels of each stride-2 convolution stage",
    )
    model_flags.add_argument("--dense", action="store_true", help="no convolutions")
    model_flags.add_argument("--hidden-units", type=flags.positive_int, nargs="+", default=[128])
    model_flags.add_argument(
        "--kl-weight", type=float, default=1.0, help="1: the ELBO; > 1: a beta-VAE"
    )
    model_flags.add_argument("--patience", type=flags.positive_int, default=10)
    model_flags.add_argument(
        "--elbo-samples", type=flags.positive_int, default=20,
        help="draws of z per test digit for the test negative ELBO",
    )
    flags.add_distribute_flags(parser)
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        raise ValueError(f"Invalid value for argument `model`: expected one of: "
                         f"{', '.join(MODELS)}. Received: model={args.model!r}")
    if args.dense:  # --conv-filters shapes the convolutions only: refused, not ignored
        flags.refuse_unused(parser, args, ["conv_filters"], why="--dense")
    # TensorFlow by default: `Conv2DTranspose` runs several times slower on
    # JAX on a CPU (README, "Backends"); seeds set; the run folder runs/vae/.
    run = Run(args, "vae", backend="tensorflow")

    import keras
    import numpy as np

    import zoo
    from recipes.common import evaluation, plots
    from zoo.vae import ReconstructionLoss, negative_elbo, posterior_mean_reconstruction_loss

    # ## Data
    # The digits as 8x8x1 images, or --images loaded into memory, pixels in [0, 1].
    data = load_data(args, view="image")
    print(data.summary())

    # ## Model
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model,
            input_shape=data.input_shape,
            latent_dim=args.latent_dim,
            conv_filters=None if args.dense else args.conv_filters,
            hidden_units=args.hidden_units,
            output_activation="sigmoid",  # pixels in [0, 1]: a Bernoulli decoder
            kl_weight=args.kl_weight,
            seed=args.seed,
        )
        # The KL term is added by the model itself; the compiled loss is the
        # reconstruction part, summed over pixels so the total is the -ELBO.
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss=ReconstructionLoss("bernoulli"),
            steps_per_execution=run.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # val_loss samples z, as training does: a one-sample estimate of the
    # objective on the validation digits, the figure early stopping watches.
    # Then the history log and the backup that lets the same command resume.
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
    # The negative ELBO on test data, in nats per image: the reconstruction
    # term averaged over --elbo-samples draws of z per digit, plus the KL term.
    elbo = negative_elbo(model, data.x_test, num_samples=args.elbo_samples, seed=args.seed)
    metrics = {f"test_{name}": float(values.mean()) for name, values in elbo.items()}
    metrics["elbo_samples"] = args.elbo_samples
    # Decoding the posterior mean instead (what predict() does): a figure of
    # its own, not the ELBO. The per-pixel errors are this reconstruction's.
    metrics["test_posterior_mean_reconstruction_loss"] = float(
        posterior_mean_reconstruction_loss(model, data.x_test).mean()
    )
    z_mean, _ = model.get_layer("encoder").predict(data.x_test, verbose=0)
    reconstructions = model.predict(data.x_test, verbose=0)
    errors = evaluation.pixel_errors(data.x_test, reconstructions)
    metrics.update({f"test_{name}_per_pixel": value for name, value in errors.items()})
    metrics["epochs_trained"] = len(history.history["loss"])

    # Generation: decode draws from the prior N(0, I).
    z = np.random.default_rng(args.seed).normal(size=(30, args.latent_dim)).astype("float32")
    samples = model.get_layer("decoder").predict(z, verbose=0)
    # The latent space: the posterior means of the test images.
    figures = {
        "generated": plots.image_grid(
            {f"from the prior {i + 1}-{i + 10}": samples[i : i + 10] for i in (0, 10, 20)}
        ),
        "latent_space": plots.embedding_scatter(
            z_mean, data.y_test, data.class_names, title="latent means of the test images"
        ),
        "reconstructions": plots.image_grid(
            {"original": data.x_test[:10], "reconstruction": reconstructions[:10]}
        ),
    }
    return run.save(model=model, history=history, metrics=metrics, figures=figures)


if __name__ == "__main__":
    flags.run(main)
