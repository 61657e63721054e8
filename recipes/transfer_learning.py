"""Transfer learning: a CNN pretrained on digits 0-4 learns 5-9 from a few examples.

Shows the Keras transfer-learning workflow on a small labelled budget. A CNN
is pretrained on digits 0-4; its `"features"` sub-model (the convolutions
and the pooling) then learns digits 5-9 from only `--examples-per-class`
labelled images each, in three ways, all tested on the same 5-9 test images:
  (a) feature extraction: the pretrained base frozen, a new softmax head;
  (b) fine-tuning: then the base unfrozen and trained on at a learning rate
      ten times lower, its BatchNormalization layers kept in inference mode
      (their moving statistics stay those of the pretraining data);
  (c) from scratch: the same architecture, same budget, same total epochs.
It prints the table of the three test accuracies and saves it as
comparison.csv and comparison.png; model.keras is the fine-tuned model
(pretrained.keras and feature_extraction.keras are saved too). The cnn's
features are flattened by default: on 8x8 images, global average pooling
throws away where strokes are, and a frozen head on those features learns
much less (`--global-pooling avg`, measured below).

Run:
    python -m recipes.transfer_learning
    python -m recipes.transfer_learning --examples-per-class 50
    python -m recipes.transfer_learning --images my_photos/ --image-size 32 32
        # the first half of the class folders pretrains, the second half is new

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): test accuracy on 5-9 from 10 examples per
class: feature extraction 0.933, fine-tuning 0.933, from scratch 0.881, ~28
s in all; `--global-pooling avg`: feature extraction 0.336, ~24 s in all;
`--examples-per-class 50`: 50 examples per class: fine-tuning 0.985, from
scratch 0.985, ~29 s in all.

Next steps: vary `--examples-per-class` to find where training from scratch
catches up; `python -m recipes.cnn` trains the same network on all ten digits.
"""

from __future__ import annotations

from recipes.common import cli


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


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=10, batch_size=16, learning_rate=3e-3)
    cli.add_data_flags(parser, ("digits",), csv=False, images=True)
    # ## Hyperparameters
    flags = parser.add_argument_group("model")
    flags.add_argument("--model", default="cnn", help="a zoo CNN with 'features'")
    flags.add_argument("--global-pooling", choices=("flatten", "avg", "max"),
                       default="flatten", help="cnn features; flatten keeps positions")
    flags.add_argument("--pretrain-epochs", type=cli.positive_int, default=10)
    flags.add_argument("--fine-tune-epochs", type=cli.positive_int, default=10,
                       help="fine-tuning epochs, after --epochs of feature extraction")
    flags.add_argument("--examples-per-class", type=cli.positive_int, default=10,
                       help="labelled training images of each new class")
    args = parser.parse_args(argv)
    cli.setup(args)
    if args.smoke:
        args.pretrain_epochs = min(args.pretrain_epochs, 2)
        args.fine_tune_epochs = min(args.fine_tune_epochs, 2)

    import keras
    import numpy as np
    import pandas as pd
    from keras import layers

    import zoo

    if models_with_features([args.model]) != [args.model]:
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo image classifier with "
            "a 'features' sub-model for --model, one of: "
            f"{', '.join(models_with_features())}. Received: model={args.model!r}"
        )

    # ## Data
    data = cli.load_data(args, view="image")
    if data.num_outputs < 4:
        raise ValueError(
            "Invalid value for argument `images`: expected at least 4 classes (half "
            "to pretrain on, half to transfer to). "
            f"Received: images={data.name!r} ({data.num_outputs} classes)"
        )
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
    def compiled(model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=args.steps_per_execution,
        )
        return model

    options = {"global_pooling": args.global_pooling} if args.model == "cnn" else {}
    pretrained = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=len(source), **options
    )
    compiled(pretrained, args.learning_rate)

    # ## Train
    from recipes.common import artifacts

    out = cli.output_dir(args, "transfer_learning")
    fit = dict(batch_size=args.batch_size, verbose=cli.verbose(args))
    print("Pretraining on the first classes...")
    pretrained.fit(x_source, y_source, validation_data=(x_source_val, y_source_val),
                   epochs=args.pretrain_epochs, **fit)
    artifacts.save_model(pretrained, out / "pretrained.keras")

    # (a) Feature extraction: freeze the base, train a new head on the budget.
    base = pretrained.get_layer("features")
    base.trainable = False
    inputs = keras.Input(shape=data.input_shape, name="images")
    # training=False, as in the Keras transfer-learning guide. In Keras 3, fit()'s
    # training=True still reaches the base (keras-team/keras#20285), so (b) also
    # freezes the BatchNormalization layers: a frozen one runs in inference mode.
    x = base(inputs, training=False)
    outputs = layers.Dense(len(target), activation="softmax", name="predictions")(x)
    model = compiled(keras.Model(inputs, outputs, name="transfer"), args.learning_rate)
    print("Feature extraction: frozen base, new head...")
    extraction = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                           epochs=args.epochs, **fit)
    results = {"feature extraction": model.evaluate(x_test, y_test, verbose=0)}
    artifacts.save_model(model, out / "feature_extraction.keras")

    # (b) Fine-tuning: unfreeze the base but not its BatchNormalization layers,
    # recompile (trainable flags changed) with a 10x lower learning rate.
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    compiled(model, args.learning_rate / 10)
    print("Fine-tuning: base unfrozen, learning rate / 10...")
    tuning = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                       initial_epoch=args.epochs,
                       epochs=args.epochs + args.fine_tune_epochs, **fit)
    results["fine-tuning"] = model.evaluate(x_test, y_test, verbose=0)

    # (c) From scratch: the same architecture, budget and total epochs.
    scratch = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=len(target), **options
    )
    compiled(scratch, args.learning_rate)
    print("From scratch: same architecture, budget and epochs...")
    scratch_history = scratch.fit(x_small, y_small, validation_data=(x_val, y_val),
                                  epochs=args.epochs + args.fine_tune_epochs, **fit)
    results["from scratch"] = scratch.evaluate(x_test, y_test, verbose=0)

    # ## Evaluate
    from recipes.common import plots

    comparison = pd.DataFrame(
        [(name, accuracy, loss) for name, (loss, accuracy) in results.items()],
        columns=["approach", "test_accuracy", "test_loss"],
    )
    print(f"\nTest accuracy on {', '.join(target)}, trained on "
          f"{args.examples_per_class} labelled examples per class:")
    print(comparison.to_string(index=False, float_format="%.4f"))
    artifacts.write_csv(out / "comparison.csv", comparison)
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
        "scratch_training_curves": plots.training_curves(
            cli.history_frame(scratch_history)
        ),
    }
    return cli.save_artifacts(
        out, model=model, history=history, metrics=metrics, figures=figures
    )


if __name__ == "__main__":
    cli.run(main)
