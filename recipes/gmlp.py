"""gMLP: classify the digits as 2x2 patches with an MLP that gates across patches.

Shows gMLP (Liu et al. 2021, "Pay Attention to MLPs") on tiny images: each
8x8 digit is cut into 16 patches of 2x2 pixels, each patch becomes a token,
and blocks of channel MLPs with a spatial gating unit mix information across
tokens: no convolutions after the patch embedding, no attention. Trained with
AdamW, a cosine learning-rate decay computed inside the graph, dropout and
stochastic depth, and early stopping that restores the best weights.

Run:
    python -m recipes.gmlp
    python -m recipes.gmlp --patch-size 4 --num-blocks 6
    python -m recipes.gmlp --images my_photos/ --image-size 32 32 --patch-size 4
    python -m recipes.gmlp --patch-size 1   # every pixel a token: 64 tokens, slower
    python -m recipes.gmlp --model gmlp_tiny --images my_photos/ --image-size 64 64

README's recipe table gives the accuracy and time of the default run.

Next steps: `python -m recipes.tune --model gmlp` searches patch size, width,
depth and regularisation; compare with `python -m recipes.cnn` on the same
split.
"""

from __future__ import annotations

from recipes.common import evaluation, flags, training
from recipes.common.data import load_data
from recipes.common.runs import Run

# The flags that shape the zoo's gmlp. A preset (gmlp_tiny, gmlp_small,
# gmlp_base) keeps its widths and depth but takes the patch size and the
# regularisation; another --model has its own architecture.
GMLP_FLAGS = ("patch_size", "d_model", "d_ffn", "num_blocks", "dropout_rate", "drop_path_rate")
PRESET_FLAGS = ("patch_size", "dropout_rate", "drop_path_rate")


def jit_compile() -> bool | str:
    """`compile`'s `jit_compile` for this model: XLA off on TensorFlow.

    Keras compiles with XLA where every layer supports it. TensorFlow's own
    kernels run the gMLP's training step faster than XLA's on the CPU
    (`python -m benchmarks.step_profile`, "without XLA"); JAX always uses XLA.
    """
    import keras

    return False if keras.backend.backend() == "tensorflow" else "auto"


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    # 15 epochs and a peak rate of 5e-3, decayed to zero over them: tuned on
    # the digits (`python -m benchmarks.whole_command`); a lower rate left
    # the model underfitted, more dropout or drop path cost accuracy.
    parser = flags.parser(__doc__, epochs=15, batch_size=64, learning_rate=5e-3,
                          auto_learning_rate=True)
    flags.add_data_flags(parser, ("digits",), csv=False, images=True)
    flags.add_training_flags(parser, schedule="cosine")  # --schedule, --ema, --distribute...
    flags.add_ensemble_flag(parser)  # --ensemble K

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument(
        "--model", default="gmlp", help="gmlp, a preset (gmlp_tiny...) or a zoo image classifier"
    )
    model_flags.add_argument("--patch-size", type=flags.positive_int, default=2)
    model_flags.add_argument("--d-model", type=flags.positive_int, default=64)
    model_flags.add_argument("--d-ffn", type=flags.positive_int, default=128, help="even")
    model_flags.add_argument("--num-blocks", type=flags.positive_int, default=4)
    model_flags.add_argument("--dropout-rate", type=flags.rate, default=0.1)
    model_flags.add_argument("--drop-path-rate", type=flags.rate, default=0.1)
    model_flags.add_argument("--weight-decay", type=flags.rate, default=0.05,
                             help="AdamW's decoupled weight decay")
    model_flags.add_argument("--patience", type=flags.positive_int, default=15)
    model_flags.add_argument("--tta", type=flags.non_negative_int, default=0,
                             help="also report test accuracy averaged over N augmented copies")
    args = parser.parse_args(argv)
    # e.g. --model gmlp_tiny --d-model 32, or --model cnn --patch-size 4:
    # refused, not ignored.
    if args.model.startswith("gmlp_"):
        unused = [name for name in GMLP_FLAGS if name not in PRESET_FLAGS]
        flags.refuse_unused(parser, args, unused, why=f"the preset --model {args.model}")
    elif args.model != "gmlp":
        flags.refuse_unused(parser, args, GMLP_FLAGS, why=f"--model {args.model}")
    # JAX by default: the whole command is faster on it (README, "Backends").
    run = Run(args, "gmlp", backend="jax")

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
    if args.model == "gmlp":
        options = dict(
            patch_size=args.patch_size,
            d_model=args.d_model,
            d_ffn=args.d_ffn,
            num_blocks=args.num_blocks,
            dropout_rate=args.dropout_rate,
            drop_path_rate=args.drop_path_rate,
        )
    elif args.model.startswith("gmlp_"):  # a preset keeps its widths and depth
        options = dict(patch_size=args.patch_size, dropout_rate=args.dropout_rate,
                       drop_path_rate=args.drop_path_rate)
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model, input_shape=data.input_shape, num_outputs=data.num_outputs, **options,
            **training.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        if args.images:  # raw images of any size in: resizing and pixel scaling inside
            model = images.with_preprocessing(model, data)
        # --learning-rate auto: the LR finder's suggestion (with AdamW); else the flag.
        learning_rate = training.find_learning_rate(
            args, model, data, run, loss="sparse_categorical_crossentropy",
            optimizer_class=keras.optimizers.AdamW, weight_decay=args.weight_decay,
        )
        model.compile(
            # AdamW; --ema: use_ema=True
            optimizer=training.optimizer(args, learning_rate, keras.optimizers.AdamW,
                                         weight_decay=args.weight_decay),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=run.steps_per_execution,
            jit_compile=jit_compile(),  # TensorFlow: its own kernels, faster here than XLA
        )
    if not args.quiet:
        model.summary()

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
    # step_by_step: under JAX, --images' test batches do not pile up in memory.
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0,
                             callbacks=evaluation.step_by_step())
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["epochs_trained"] = len(history.history["loss"])
    # With --tta N also the accuracy averaged over N augmented copies; the
    # confusion matrix and twenty test images, mistakes first.
    tta_metrics, figures = evaluation.image_classifier(model, data, tta=args.tta, seed=args.seed)
    metrics.update(tta_metrics)
    # The model, history, metrics and plots; class names, and for --images
    # the image size and colour mode, for `python -m recipes.predict`.
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data)


if __name__ == "__main__":
    flags.run(main)
