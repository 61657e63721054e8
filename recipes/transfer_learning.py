"""Transfer learning: a pretrained network learns new classes from a few examples.

Shows the Keras transfer-learning workflow on a small labelled budget, in
the two steps of the notes: feature extraction (the pretrained base frozen,
a new softmax head trained), then fine-tuning (the top `--fine-tune-layers`
layers of the base unfrozen, trained at a learning rate
`--fine-tune-lr-factor` times lower, BatchNormalization kept in inference
mode: its moving statistics stay those of the pretraining data).

On the bundled digits (offline): a CNN is pretrained on digits 0-4; its
`"features"` sub-model then learns digits 5-9 from only
`--examples-per-class` labelled images each, in three ways, all tested on
the same 5-9 test images: (a) feature extraction, (b) fine-tuning, (c) from
scratch (same architecture, budget and total epochs). It prints the table
of the three test accuracies and saves it as comparison.csv and
comparison.png; model.keras is the fine-tuned model (pretrained.keras and
feature_extraction.keras are saved too). The cnn's features are flattened
by default: on 8x8 images, global average pooling throws away where strokes
are, and a frozen head on those features learns much less
(`--global-pooling avg`; README's recipe table).

On your photos: `--images FOLDER --backbone NAME --weights imagenet|PATH|none`
takes a `keras.applications` network (mobilenet_v3_small, efficientnet_b0,
resnet50_v2; its input preprocessing inside the model), trains a new head
for `--head-epochs` with the backbone frozen, then fine-tunes. The folder
is streamed from disk; the saved model takes raw images of any size
(`python -m recipes.predict runs/transfer_learning --images new/`), and an
interrupted run resumes in the phase it was in. `--weights imagenet`
downloads the ImageNet weights once (Keras caches them); a weights file
loads offline; `none` starts from random weights. Which setting fits
(README, "Transfer learning"): little data like ImageNet's photos:
`--fine-tune-epochs 0` (the head only); much data: fine-tune the top
layers (`--fine-tune-layers 20`), or all of them if your images differ
from ImageNet's (medical, satellite) and you have many.

Run:
    python -m recipes.transfer_learning
    python -m recipes.transfer_learning --examples-per-class 50
    python -m recipes.transfer_learning --images my_photos/ --backbone mobilenet_v3_small \
        --weights imagenet --image-size 160 160 --fine-tune-layers 20

README's recipe table gives the three test accuracies and the time of these
runs.

Next steps: vary `--examples-per-class` to find where training from scratch
catches up; `python -m recipes.cnn` trains the same network on all ten digits.
"""

from __future__ import annotations

import argparse

from recipes.common import flags
from recipes.common.data import load_data
from recipes.common.runs import Run

# The flags of the digits comparison, and those of --images --backbone
# (--tensorboard logs its two phases as one run; the comparison trains four models).
DIGITS_FLAGS = ("model", "global_pooling", "pretrain_epochs", "examples_per_class")
BACKBONE_FLAGS = ("dropout_rate", "tta", "tensorboard")


def layer_count(text: str) -> int | None:
    """`--fine-tune-layers`: a positive number of layers, or `all` (`None`)."""
    return None if text == "all" else flags.positive_int(text)


def models_with_features(candidates: list[str] | None = None) -> list[str]:
    """The zoo image classifiers (among `candidates`, default all) whose model
    has a `"features"` sub-model; builds each builder's small example once."""
    import zoo

    names, found = [], {}  # found: builder -> has "features" (presets share one)
    for name in zoo.list_models() if candidates is None else candidates:
        if name not in zoo.list_models():
            continue
        spec = zoo.get_spec(name)
        if (spec.input_kind, spec.task) != ("image", "classification"):
            continue
        if spec.builder not in found:
            model = spec.builder(**spec.example)
            found[spec.builder] = "features" in [layer.name for layer in model.layers]
        if found[spec.builder]:
            names.append(name)
    return names


def fine_tune_backbone(args: argparse.Namespace, run: Run, *, fine_tune_epochs: int) -> dict:
    """`--images FOLDER --backbone NAME`: a pretrained `keras.applications`
    network learns your classes: head first, then fine-tuning; resumable."""
    import keras
    from keras import layers

    from recipes.common import artifacts, backbones, evaluation
    from recipes.common.runs import recorded_flags

    weights = None if args.weights == "none" else args.weights
    backbones.check(args.backbone, image_size=args.image_size, weights=weights)
    # One step per call: tracing a large backbone's multi-step loop costs
    # more than the Python round trips it saves.
    steps_per_execution = run.steps_per_execution or 1

    # ## Data
    # The folder's files, streamed in batches; grayscale files as RGB, which
    # the backbone was pretrained on.
    data = load_data(args, view="image", stream=True, color_mode="rgb")
    print(data.summary())

    # ## Model
    # Raw images -> Resizing -> backbone (its preprocessing inside) -> new head.
    backbone = backbones.build(args.backbone, image_size=data.image_size, weights=weights)
    inputs = keras.Input(shape=(None, None, 3), name="images")
    x = layers.Resizing(*data.image_size, name="resize")(inputs)
    # training=False: batch norm in inference mode (see the digits path in main).
    x = backbone(x, training=False)
    x = layers.Dropout(args.dropout_rate, name="head_dropout")(x)
    outputs = layers.Dense(data.num_outputs, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=f"{args.backbone}_transfer")

    # ## Train
    # Two phases; a rerun after a kill resumes the phase it was in: run.json
    # records the phase, feature_extraction.keras the head trained in the first.
    info = run.info()
    resume_fine_tuning = (info.get("phase") == "fine-tuning" and not args.restart
                          and info.get("flags") == recorded_flags(args)
                          and (run.folder / "feature_extraction.keras").is_file())
    train, validation = data.batches(args.batch_size, seed=args.seed)
    history = None
    if not resume_fine_tuning:
        # (a) Feature extraction: the backbone frozen, a new head trained.
        run.record(phase="feature-extraction")
        backbone.trainable = False
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        print(f"Feature extraction: {args.backbone} frozen, new head...")
        history = model.fit(
            train,
            validation_data=validation,
            epochs=args.epochs,
            callbacks=run.callbacks(),
            verbose=run.verbose,
        )
        artifacts.save_model(model, run.folder / "feature_extraction.keras")
        run.record(phase="fine-tuning")
    else:
        print("Resuming at fine-tuning: the head trained in the interrupted run is loaded.")
        model.load_weights(run.folder / "feature_extraction.keras")
    if fine_tune_epochs:
        # (b) Fine-tuning: the top --fine-tune-layers of the backbone unfrozen
        # (batch norm kept frozen), recompiled (trainable flags changed) with
        # a learning rate --fine-tune-lr-factor times lower; epochs numbered on.
        unfrozen = backbones.set_fine_tuning(backbone, args.fine_tune_layers)
        model.compile(
            optimizer=keras.optimizers.Adam(args.learning_rate / args.fine_tune_lr_factor),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        print(f"Fine-tuning: {unfrozen} layers of {args.backbone} unfrozen (batch norm "
              f"frozen), learning rate / {args.fine_tune_lr_factor:g}...")
        # history.csv keeps the feature-extraction epochs; `history` holds them all.
        history = model.fit(
            train,
            validation_data=validation,
            initial_epoch=args.epochs,
            epochs=args.epochs + fine_tune_epochs,
            callbacks=run.callbacks(initial_epoch=args.epochs),
            verbose=run.verbose,
        )

    # ## Evaluate
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0,
                             callbacks=evaluation.step_by_step())
    metrics = {f"test_{name}": value for name, value in results.items()}
    # With --tta N also the accuracy averaged over N augmented copies; the
    # confusion matrix and twenty test images, mistakes first.
    tta_metrics, figures = evaluation.image_classifier(model, data, tta=args.tta, seed=args.seed)
    metrics.update(tta_metrics)
    run.record(phase="done", backbone=args.backbone, weights=args.weights)
    if history is None:  # resumed after fine-tuning had finished: the logged epochs
        import pandas as pd

        history = pd.read_csv(run.folder / "history.csv").drop(columns="epoch").to_dict("list")
    # The model, history, metrics and plots; class names, image size and
    # colour mode, for `python -m recipes.predict --images`.
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data)


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    # --steps-per-execution: by default 8 on the digits, 1 with a --backbone.
    parser = flags.parser(__doc__, epochs=10, batch_size=16, learning_rate=3e-3,
                          steps_per_execution=None)
    flags.add_data_flags(parser, ("digits",), csv=False, images=True)

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="cnn", help="a zoo CNN with 'features'")
    model_flags.add_argument("--global-pooling", choices=("flatten", "avg", "max"),
                             default="flatten", help="cnn features; flatten keeps positions")
    model_flags.add_argument("--pretrain-epochs", type=flags.positive_int, default=10)
    model_flags.add_argument("--head-epochs", type=flags.positive_int, dest="epochs",
                             default=argparse.SUPPRESS,
                             help="feature-extraction epochs (= --epochs)")
    model_flags.add_argument("--fine-tune-epochs", type=flags.non_negative_int, default=10,
                             help="fine-tuning epochs after the head's; 0: no fine-tuning")
    model_flags.add_argument("--fine-tune-layers", type=layer_count, default=None,
                             help="top layers of the base to unfreeze (default: all)")
    model_flags.add_argument("--fine-tune-lr-factor", type=flags.positive_float, default=10.0,
                             help="fine-tuning learning rate: --learning-rate / this")
    model_flags.add_argument("--examples-per-class", type=flags.positive_int, default=10,
                             help="labelled training images of each new class")
    model_flags.add_argument("--backbone", help="--images: a keras.applications network, "
                             "mobilenet_v3_small, efficientnet_b0 or resnet50_v2")
    model_flags.add_argument("--weights", help="--backbone's weights: imagenet (downloads "
                             "once), a weights file, or none")
    model_flags.add_argument("--dropout-rate", type=flags.rate, default=0.2,
                             help="--backbone's head")
    model_flags.add_argument("--tta", type=flags.non_negative_int, default=0,
                             help="--backbone: also test with N augmented copies averaged")
    args = parser.parse_args(argv)
    # --smoke: at most 2 epochs in each phase (parse_args caps --epochs).
    smoke = flags.SMOKE_EPOCHS if args.smoke else None
    pretrain_epochs = min(args.pretrain_epochs, smoke or args.pretrain_epochs)
    fine_tune_epochs = min(args.fine_tune_epochs, smoke or args.fine_tune_epochs)
    with_backbone = (args.images, args.backbone, args.weights) != (None, None, None)
    if with_backbone:
        if None in (args.images, args.backbone, args.weights):
            raise ValueError(
                "Invalid value for argument `backbone`: --images, --backbone and --weights "
                "go together (e.g. --images photos/ --backbone mobilenet_v3_small --weights "
                f"imagenet). Received: images={args.images}, backbone={args.backbone!r}, "
                f"weights={args.weights!r}"
            )
        if args.color_mode == "grayscale":
            raise ValueError(
                "Invalid value for argument `color_mode`: a --backbone takes rgb images "
                f"(grayscale files are converted). Received: color_mode={args.color_mode!r}")
        flags.refuse_unused(parser, args, DIGITS_FLAGS, why=f"--backbone {args.backbone}")
    else:
        flags.refuse_unused(parser, args, BACKBONE_FLAGS,
                            why="the digits comparison (they go with --backbone)")
        if args.model != "cnn":
            flags.refuse_unused(parser, args, ["global_pooling"], why=f"--model {args.model}")
        if not fine_tune_epochs:
            raise ValueError("Invalid value for argument `fine_tune_epochs`: the digits "
                             "comparison needs 1 or more (0 goes with --backbone). "
                             "Received: fine_tune_epochs=0")
    # TensorFlow unless $KERAS_BACKEND or --backend says otherwise; the run
    # folder runs/transfer_learning/.
    run = Run(args, "transfer_learning")
    if with_backbone:
        return fine_tune_backbone(args, run, fine_tune_epochs=fine_tune_epochs)

    import keras
    import numpy as np
    import pandas as pd
    from keras import layers

    import zoo
    from recipes.common import artifacts, backbones, plots
    from recipes.common.history import history_frame

    if models_with_features([args.model]) != [args.model]:
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo image classifier with "
            "a 'features' sub-model for --model, one of: "
            f"{', '.join(models_with_features())}. Received: model={args.model!r}"
        )
    steps_per_execution = run.steps_per_execution or 8

    # ## Data
    data = load_data(args, view="image")
    half = data.num_outputs // 2  # digits: pretrain on 0-4, transfer to 5-9
    source, target = data.class_names[:half], data.class_names[half:]

    def select(x, y, first, stop):  # samples of classes first..stop-1, renumbered
        keep = (y >= first) & (y < stop)
        return x[keep], y[keep] - first

    x_source, y_source = select(data.x_train, data.y_train, 0, half)
    x_source_val, y_source_val = select(data.x_val, data.y_val, 0, half)
    x_target, y_target = select(data.x_train, data.y_train, half, data.num_outputs)
    x_val, y_val = select(data.x_val, data.y_val, half, data.num_outputs)
    x_test, y_test = select(data.x_test, data.y_test, half, data.num_outputs)
    # The small labelled budget: `examples_per_class` random images of each class.
    rng = np.random.default_rng(args.seed)
    budget = np.concatenate([
        rng.permutation(np.flatnonzero(y_target == label))[: args.examples_per_class]
        for label in range(len(target))
    ])
    x_small, y_small = x_target[budget], y_target[budget]
    print(f"{data.name}: pretrain on classes {', '.join(source)} ({len(x_source)} "
          f"images); transfer to {', '.join(target)} with {len(x_small)} labelled "
          f"images; test on {len(x_test)}")

    # ## Model
    # The zoo's cnn, pretrained on the first classes. Each model below is
    # compiled with Adam; the fine-tuning phase at a lower rate.
    options = {"global_pooling": args.global_pooling} if args.model == "cnn" else {}
    pretrained = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=len(source), **options
    )
    pretrained.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )

    # ## Train
    run.record()  # run.json: flags, seed, backend, versions
    fit = dict(batch_size=args.batch_size, verbose=run.verbose)
    print("Pretraining on the first classes...")
    pretrained.fit(x_source, y_source, validation_data=(x_source_val, y_source_val),
                   epochs=pretrain_epochs, **fit)
    artifacts.save_model(pretrained, run.folder / "pretrained.keras")

    # (a) Feature extraction: freeze the base, train a new head on the budget.
    base = pretrained.get_layer("features")
    base.trainable = False
    inputs = keras.Input(shape=data.input_shape, name="images")
    # training=False, as in the Keras transfer-learning guide. In Keras 3, fit()'s
    # training=True still reaches the base (keras-team/keras#20285), so (b) also
    # freezes the BatchNormalization layers: a frozen one runs in inference mode.
    x = base(inputs, training=False)
    outputs = layers.Dense(len(target), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="transfer")
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    print("Feature extraction: frozen base, new head...")
    extraction = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                           epochs=args.epochs, **fit)
    results = {"feature extraction": model.evaluate(x_test, y_test, verbose=0)}
    artifacts.save_model(model, run.folder / "feature_extraction.keras")

    # (b) Fine-tuning: unfreeze the base (its top --fine-tune-layers) but not
    # its BatchNormalization layers, recompile (trainable flags changed) with
    # a learning rate --fine-tune-lr-factor (10) times lower.
    backbones.set_fine_tuning(base, args.fine_tune_layers)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate / args.fine_tune_lr_factor),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    print(f"Fine-tuning: base unfrozen, learning rate / {args.fine_tune_lr_factor:g}...")
    tuning = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                       initial_epoch=args.epochs,
                       epochs=args.epochs + fine_tune_epochs, **fit)
    results["fine-tuning"] = model.evaluate(x_test, y_test, verbose=0)

    # (c) From scratch: the same architecture, budget and total epochs.
    scratch = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=len(target), **options
    )
    scratch.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    print("From scratch: same architecture, budget and epochs...")
    scratch_history = scratch.fit(x_small, y_small, validation_data=(x_val, y_val),
                                  epochs=args.epochs + fine_tune_epochs, **fit)
    results["from scratch"] = scratch.evaluate(x_test, y_test, verbose=0)

    # ## Evaluate
    # Each approach's [loss, accuracy] on the same test images of the new classes.
    comparison = pd.DataFrame(
        [(name, accuracy, loss) for name, (loss, accuracy) in results.items()],
        columns=["approach", "test_accuracy", "test_loss"],
    )
    print(f"\nTest accuracy on {', '.join(target)}, trained on "
          f"{args.examples_per_class} labelled examples per class:")
    print(comparison.to_string(index=False, float_format="%.4f"))
    artifacts.write_csv(run.folder / "comparison.csv", comparison)
    metrics = {
        f"{name.replace(' ', '_').replace('-', '_')}_test_accuracy": accuracy
        for name, (loss, accuracy) in results.items()
    }
    metrics["examples_per_class"] = args.examples_per_class
    # model.keras's history: feature extraction, then fine-tuning, epochs continued.
    history = {k: extraction.history[k] + tuning.history[k] for k in tuning.history}
    figures = {
        "comparison": plots.bar_chart(
            dict(zip(comparison["approach"], comparison["test_accuracy"])),
            ylabel=f"test accuracy on {target[0]}-{target[-1]}",
            title=f"{args.examples_per_class} labelled examples per class",
        ),
        "scratch_training_curves": plots.training_curves(history_frame(scratch_history)),
    }
    # model.keras is the fine-tuned model: it labels the new classes (for
    # `python -m recipes.predict`, which reads them from run.json).
    run.record(task="classification", class_names=target)
    return run.save(model=model, history=history, metrics=metrics, figures=figures)


if __name__ == "__main__":
    flags.run(main)
