"""CNN: classify the digits as 8x8 images with a (residual) convolutional network.

Shows a small convolutional network on tiny images: two stages of residual
convolution blocks with batch norm before the activation, global average
pooling, dropout, a cosine learning-rate decay computed inside the graph,
and early stopping that restores the best weights. Residual connections,
batch-norm placement and augmentation are flags. Augmentation keeps the
label: a few degrees of rotation, sub-pixel shifts and zoom, never flips (a
mirrored 2 is not a 2). It is off by default because on 8x8 digits it costs
accuracy (README's table): resampling an 8x8 image blurs most of its
pixels; on larger images of your own it usually helps. On your images
(`--images`) a stem first halves images of 24 pixels and more (`--stem`),
grayscale folders stay one channel, and `--test-images` names your
held-out folder.

Run:
    python -m recipes.cnn
    python -m recipes.cnn --no-residual --batch-norm after
    python -m recipes.cnn --augmentation rotation translation zoom
    python -m recipes.cnn --images my_photos/ --image-size 64 64   # one folder per class
    python -m recipes.cnn --images train/ --test-images test/ --image-size 28 28
    python -m recipes.cnn --model gmlp                             # another zoo image model

README's recipe table gives the accuracy and time of these runs.

Next steps: `python -m recipes.tune --model cnn` searches depth, width,
residual and batch-norm placement; `python -m recipes.transfer_learning`
reuses this network's `"features"` sub-model on new classes.
"""

from __future__ import annotations

import argparse

from recipes.common import evaluation, flags, training
from recipes.common.data import load_data
from recipes.common.runs import Run

# Label-preserving transformations for digits, as fractions (see zoo.cnn).
AUGMENTATIONS = {"rotation": 0.03, "translation": 0.1, "zoom": 0.1}
# The flags that shape the zoo's cnn; another --model has its own architecture.
CNN_FLAGS = ("filters", "blocks_per_stage", "residual", "batch_norm", "batch_norm_momentum",
             "dropout_rate", "drop_path_rate", "augmentation", "stem")


def stem(text: str) -> str | int:
    """`--stem`: `auto` or how many times to halve the images first."""
    return text if text == "auto" else flags.non_negative_int(text)


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=8, batch_size=64, learning_rate=3e-3,
                          auto_learning_rate=True)
    flags.add_data_flags(parser, ("digits",), csv=False, images=True)
    flags.add_training_flags(parser, schedule="cosine")  # --schedule, --ema, --distribute...
    flags.add_ensemble_flag(parser)  # --ensemble K

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="cnn", help="any zoo image classifier")
    model_flags.add_argument("--filters", type=flags.positive_int, nargs="+", default=[32, 64])
    model_flags.add_argument(
        "--stem", type=stem, default="auto",
        help="halve the images this many times before the first stage (auto: until the "
             "shorter side is under 24 pixels, e.g. 28x28 once, 64x64 twice; 8x8 never)")
    model_flags.add_argument("--blocks-per-stage", type=flags.positive_int, default=1)
    model_flags.add_argument(
        "--residual", action=argparse.BooleanOptionalAction, default=True, help="skip connections"
    )
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="before")
    model_flags.add_argument(
        "--batch-norm-momentum", type=flags.rate, default=0.9,
        help="of batch norm's moving statistics; 0.9 suits few steps per epoch",
    )
    model_flags.add_argument("--dropout-rate", type=flags.rate, default=0.2)
    model_flags.add_argument("--drop-path-rate", type=flags.rate, default=0.0,
                             help="stochastic depth on the residual blocks (last block's rate)")
    model_flags.add_argument(
        "--augmentation",
        nargs="+",
        choices=(*AUGMENTATIONS, "none"),
        default=["none"],
        help="random transforms in training, e.g. rotation translation zoom (default: none)",
    )
    model_flags.add_argument("--patience", type=flags.positive_int, default=15)
    model_flags.add_argument("--tta", type=flags.non_negative_int, default=0,
                             help="also report test accuracy averaged over N augmented copies")
    args = parser.parse_args(argv)
    if args.model != "cnn":  # e.g. --model gmlp --filters 8: refused, not ignored
        flags.refuse_unused(parser, args, CNN_FLAGS, why=f"--model {args.model}")
    augmentation = [name for name in args.augmentation if name != "none"]
    # JAX by default; TensorFlow for your images, whose whole run and
    # training measured faster there than on JAX or torch
    # (benchmarks.real_images), and for
    # augmentation, whose random image transforms run several times slower
    # under JAX (README, "Backends").
    tensorflow = augmentation or args.tta or args.images
    run = Run(args, "cnn", backend="tensorflow" if tensorflow else "jax")

    import keras

    import zoo
    from recipes.common.data import images

    training.model_spec(args, task="classification", input_kind="image",
                        kind="image classifier")

    # ## Data
    # --images streams the folder's files in batches (never all in memory).
    data = load_data(args, view="image", stream=True)
    print(data.summary())

    # ## Model
    if args.ensemble > 1:  # K independent models, averaged (members/ holds each run)
        return training.train_ensemble(main, argv, run, data,
                                       loss="sparse_categorical_crossentropy",
                                       metrics=["accuracy"])
    options = {}  # another zoo image classifier: its own default architecture
    if args.model == "cnn":
        options = dict(
            filters=args.filters,
            blocks_per_stage=args.blocks_per_stage,
            residual=args.residual,
            batch_norm=None if args.batch_norm == "none" else args.batch_norm,
            batch_norm_momentum=args.batch_norm_momentum,
            dropout_rate=args.dropout_rate,
            drop_path_rate=args.drop_path_rate,
            augmentation={name: AUGMENTATIONS[name] for name in augmentation} or None,
            stem=args.stem,
        )
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model, input_shape=data.input_shape, num_outputs=data.num_outputs, **options,
            **training.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        if args.images:  # raw images of any size in: resizing and pixel scaling inside
            model = images.with_preprocessing(model, data)
        # --learning-rate auto: the LR finder's suggestion; else the flag.
        learning_rate = training.find_learning_rate(
            args, model, data, run, loss="sparse_categorical_crossentropy")
        model.compile(
            optimizer=training.optimizer(args, learning_rate),  # Adam; --ema: use_ema=True
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=run.steps_per_execution,
        )
    if not args.quiet:
        model.summary()
    print(f"{zoo.count_flops(model) / 1e6:.2f} million FLOPs per image (forward pass)")

    # ## Train
    # --schedule (default cosine: one cosine decay to zero over --epochs, in
    # the graph, per step), early stopping, then the history log and the
    # backup that lets the same command resume an interrupted run.
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
    # step_by_step: under JAX, a streamed folder's batches do not pile up in memory.
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0,
                             callbacks=evaluation.step_by_step())
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    # With --tta N also the accuracy averaged over N augmented copies; the
    # confusion matrix and twenty test images, mistakes first.
    tta_metrics, figures = evaluation.image_classifier(model, data, tta=args.tta, seed=args.seed)
    metrics.update(tta_metrics)
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data)


if __name__ == "__main__":
    flags.run(main)
