"""CNN: classify the digits as 8x8 images with a (residual) convolutional network.

Shows a small convolutional network on tiny images: two stages of residual
convolution blocks with batch norm before the activation, global average
pooling, dropout, a cosine learning-rate decay computed inside the graph,
and early stopping that restores the best weights. Residual connections,
batch-norm placement and augmentation are flags. Augmentation keeps the
label: a few degrees of rotation, sub-pixel shifts and zoom, never flips (a
mirrored 2 is not a 2). It is off by default because on 8x8 digits it costs
accuracy (measured below): resampling an 8x8 image blurs most of its
pixels; on larger images of your own it usually helps.

Run:
    python -m recipes.cnn
    python -m recipes.cnn --no-residual --batch-norm after
    python -m recipes.cnn --augmentation rotation translation zoom
    python -m recipes.cnn --images my_photos/ --image-size 64 64   # one folder per class
    python -m recipes.cnn --model gmlp                             # another zoo image model

Expected on the bundled data (default flags, seed 0, JAX / TensorFlow,
measured by `python -m benchmarks.recipes`): digits test accuracy 1.000, 8
epochs, ~8 s in all; `--augmentation translation`: with translation: 0.989,
~10 s in all; `--augmentation rotation translation zoom`: with rotation,
translation and zoom: 0.989, ~10 s in all; `--tta 8`: test accuracy 1.000;
averaged over 8 augmented copies (test-time augmentation) 0.907, ~11 s in
all.

Next steps: `python -m recipes.tune --model cnn` searches depth, width,
residual and batch-norm placement; `python -m recipes.transfer_learning`
reuses this network's `"features"` sub-model on new classes.
"""

from __future__ import annotations

import argparse

from recipes.common import cli

# Label-preserving transformations for digits, as fractions (see zoo.cnn).
AUGMENTATIONS = {"rotation": 0.03, "translation": 0.1, "zoom": 0.1}


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=8, batch_size=64, learning_rate=3e-3, backend="jax")
    cli.add_data_flags(parser, ("digits",), csv=False, images=True)
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="cnn", help="any zoo image classifier")
    model_flags.add_argument("--filters", type=cli.positive_int, nargs="+", default=[32, 64])
    model_flags.add_argument("--blocks-per-stage", type=cli.positive_int, default=1)
    model_flags.add_argument(
        "--residual", action=argparse.BooleanOptionalAction, default=True, help="skip connections"
    )
    model_flags.add_argument("--batch-norm", choices=("none", "before", "after"), default="before")
    model_flags.add_argument(
        "--batch-norm-momentum", type=cli.rate, default=0.9,
        help="of batch norm's moving statistics; 0.9 suits few steps per epoch",
    )
    model_flags.add_argument("--dropout-rate", type=cli.rate, default=0.2)
    model_flags.add_argument("--drop-path-rate", type=cli.rate, default=0.0,
                             help="stochastic depth on the residual blocks (last block's rate)")
    model_flags.add_argument(
        "--augmentation",
        nargs="+",
        choices=(*AUGMENTATIONS, "none"),
        default=["none"],
        help="random transforms in training, e.g. rotation translation zoom (default: none)",
    )
    model_flags.add_argument("--patience", type=cli.positive_int, default=15)
    model_flags.add_argument("--tta", type=cli.non_negative_int, default=0,
                             help="also report test accuracy averaged over N augmented copies")
    cli.add_training_flags(parser, schedule="cosine")  # --schedule, --ema, --learning-rate auto
    cli.add_ensemble_flag(parser)  # --ensemble K
    args = parser.parse_args(argv)
    if not cli.backend_chosen(args) and (set(args.augmentation) - {"none"} or args.tta):
        # Keras' random image transforms run several times slower under JAX
        # on a CPU than under TensorFlow (README, "Backends").
        args.backend = "tensorflow"
    cli.setup(args)

    import keras

    import zoo
    from recipes.common import datasets, images

    cli.model_spec(args, task="classification", input_kind="image", kind="image classifier")

    # ## Data
    # --images streams the folder's files in batches (never all in memory).
    data = cli.load_data(args, view="image", stream=True)
    print(f"{data.name}: {len(data.y_train)} train, {len(data.y_val)} validation, "
          f"{len(data.y_test)} test images of shape {data.input_shape}, "
          f"{data.num_outputs} classes")

    # ## Model
    if args.ensemble > 1:  # K independent models, averaged (members/ holds each run)
        return cli.train_ensemble(main, argv, args, "cnn", data,
                                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if args.model == "cnn":
        augmentation = [name for name in args.augmentation if name != "none"]
        options = dict(
            filters=args.filters,
            blocks_per_stage=args.blocks_per_stage,
            residual=args.residual,
            batch_norm=None if args.batch_norm == "none" else args.batch_norm,
            batch_norm_momentum=args.batch_norm_momentum,
            dropout_rate=args.dropout_rate,
            drop_path_rate=args.drop_path_rate,
            augmentation={name: AUGMENTATIONS[name] for name in augmentation} or None,
        )
    else:  # Another zoo image classifier, with its own default architecture.
        options = {}
    # Built and compiled in the --distribute scope: data-parallel on every device.
    with cli.distributed(args):
        model = zoo.build(
            args.model, input_shape=data.input_shape, num_outputs=data.num_outputs, **options,
            **cli.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        if args.images:  # Raw images of any size in: resizing and pixel scaling inside.
            model = images.with_preprocessing(model, data)
        # Backed up each epoch: after a crash, the same command resumes the run.
        out = cli.start_run(args, "cnn")
        cli.find_learning_rate(args, model, data, out, loss="sparse_categorical_crossentropy")
        model.compile(
            optimizer=cli.optimizer(args, keras.optimizers.Adam),  # with --ema: use_ema=True
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=args.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # --schedule (default cosine: one cosine decay to zero over --epochs, in
    # the graph, per step), then early stopping and the resumable backup.
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
    from recipes.common import evaluation

    # Test metrics (with --tta N also averaged over N augmented copies), the
    # confusion matrix and twenty test images, mistakes first.
    metrics, figures = evaluation.image_classifier(model, data, tta=args.tta, seed=args.seed)
    metrics["epochs_trained"] = len(history.history["loss"])
    print("Test:", cli.format_metrics(metrics))
    images.save(out, data)  # class names, image size and mode, for recipes.predict
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics, figures=figures)


if __name__ == "__main__":
    cli.run(main)
