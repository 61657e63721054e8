"""Transfer learning: reuse a CNN trained on digits 0-4 to learn 5-9 from a few examples.

Shows the Keras transfer-learning workflow on a small labelled budget. A CNN
is pretrained on digits 0-4; its `"features"` sub-model (convolutions and
global pooling) then learns digits 5-9 from only `--examples-per-class`
labelled images each, in three ways, all tested on the same 5-9 test images:
  (a) feature extraction: the pretrained base frozen, a new softmax head;
  (b) fine-tuning: then the base unfrozen and trained on, at a learning rate
      ten times lower, with its BatchNormalization layers kept in inference
      mode (their moving statistics stay those of the pretraining data);
  (c) from scratch: the same architecture, same budget, same total epochs.
It prints the table of the three test accuracies, saves it as
comparison.csv and comparison.png, and saves the fine-tuned model as
model.keras (pretrained.keras and feature_extraction.keras too).

Run:
    python -m recipes.transfer_learning
    python -m recipes.transfer_learning --examples-per-class 50
    python -m recipes.transfer_learning --images my_photos/ --image-size 32 32
        # first half of the class folders pretrains, the second half is the new task

Expected on the bundled digits (default flags, 2 CPU cores): MEASURE.

Next steps: vary `--examples-per-class` to see where training from scratch
catches up; `python -m recipes.cnn` trains the same network on all ten digits.
"""

from __future__ import annotations

from recipes import _cli


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = _cli.parser(__doc__, epochs=30, batch_size=64, learning_rate=1e-3)
    _cli.add_data_flags(parser, ("digits",), csv=False, images=True)
    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="cnn",
                             help="a zoo image classifier with a 'features' sub-model")
    model_flags.add_argument("--pretrain-epochs", type=_cli.positive_int, default=20)
    model_flags.add_argument("--fine-tune-epochs", type=_cli.positive_int, default=30,
                             help="after the --epochs of feature extraction")
    model_flags.add_argument("--examples-per-class", type=_cli.positive_int, default=20,
                             help="labelled training images per new class")
    args = parser.parse_args(argv)
    _cli.setup(args)
    if args.smoke:
        args.pretrain_epochs = min(args.pretrain_epochs, 2)
        args.fine_tune_epochs = min(args.fine_tune_epochs, 2)

    import keras
    import numpy as np
    import pandas as pd
    from keras import layers

    import zoo

    image_models = [
        name for name in zoo.list_models()
        if zoo.get_spec(name).input_kind == "image" and zoo.get_spec(name).task == "classification"
    ]
    if args.model not in image_models:
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo image classifier "
            f"for --model, one of: {', '.join(image_models)}. Received: model={args.model!r}"
        )

    # ## Data
    data = _cli.load_data(args, view="image")
    if data.num_outputs < 4:
        raise ValueError(
            "Invalid value for argument `images`: expected at least 4 classes (half "
            f"to pretrain, half to transfer to). Received: {data.num_outputs} classes in {data.name}"
        )
    half = data.num_outputs // 2  # digits: pretrain on 0-4, transfer to 5-9
    source, target = data.class_names[:half], data.class_names[half:]

    def part(x, y, classes):  # the samples of some classes, labels renumbered from 0
        keep = np.isin(y, classes)
        return x[keep], y[keep] - classes[0]

    source_classes, target_classes = list(range(half)), list(range(half, data.num_outputs))
    x_source, y_source = part(data.x_train, data.y_train, source_classes)
    x_source_val, y_source_val = part(data.x_val, data.y_val, source_classes)
    x_target, y_target = part(data.x_train, data.y_train, target_classes)
    x_val, y_val = part(data.x_val, data.y_val, target_classes)
    x_test, y_test = part(data.x_test, data.y_test, target_classes)
    # The small labelled budget: the first `examples_per_class` of each new class.
    rng = np.random.default_rng(args.seed)
    budget = np.concatenate([
        rng.permutation(np.flatnonzero(y_target == label))[: args.examples_per_class]
        for label in range(len(target))
    ])
    x_small, y_small = x_target[budget], y_target[budget]
    print(f"{data.name}: pretrain on classes {', '.join(source)} ({len(x_source)} images); "
          f"transfer to {', '.join(target)} with {len(x_small)} labelled images, "
          f"{len(x_test)} test images")

    # ## Model
    def compile_model(model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=args.steps_per_execution,
        )
        return model

    pretrained = zoo.build(args.model, input_shape=data.input_shape, num_classes=len(source))
    if "features" not in [layer.name for layer in pretrained.layers]:
        with_features = [
            name for name in image_models
            if "features" in [layer.name for layer in zoo.build(name, **zoo.get_spec(name).example).layers]
        ]
        raise ValueError(
            "Invalid value for argument `model`: expected a zoo image classifier with "
            f"a 'features' sub-model for --model, one of: {', '.join(with_features)}. "
            f"Received: model={args.model!r}"
        )
    compile_model(pretrained, args.learning_rate)

    # ## Train
    fit = dict(batch_size=args.batch_size, verbose=_cli.verbose(args))
    print("Pretraining on the source classes...")
    pretrained.fit(x_source, y_source, validation_data=(x_source_val, y_source_val),
                   epochs=args.pretrain_epochs, **fit)
    from recipes import _io

    out = _cli.output_dir(args, "transfer_learning")
    _io.save_model(pretrained, out / "pretrained.keras")

    # (a) Feature extraction: freeze the base, train a new head on the budget.
    base = pretrained.get_layer("features")
    base.trainable = False
    inputs = keras.Input(shape=data.input_shape, name="images")
    # training=False as in the Keras transfer-learning guide. In Keras 3, fit()'s
    # training=True still reaches the base (keras-team/keras#20285), so below the
    # BatchNormalization layers are also kept frozen, which runs them in inference mode.
    features = base(inputs, training=False)
    outputs = layers.Dense(len(target), activation="softmax", name="predictions")(features)
    model = compile_model(keras.Model(inputs, outputs, name="transfer"), args.learning_rate)
    print("Feature extraction (frozen base, new head)...")
    extraction = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                           epochs=args.epochs, **fit)
    results = {"feature extraction": model.evaluate(x_test, y_test, return_dict=True, verbose=0)}
    _io.save_model(model, out / "feature_extraction.keras")

    # (b) Fine-tuning: unfreeze the base except BatchNormalization, 10x lower rate.
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False  # inference mode: moving statistics stay put
    compile_model(model, args.learning_rate / 10)  # recompile: trainable flags changed
    print("Fine-tuning (base unfrozen, learning rate / 10)...")
    tuning = model.fit(x_small, y_small, validation_data=(x_val, y_val),
                       initial_epoch=args.epochs, epochs=args.epochs + args.fine_tune_epochs, **fit)
    results["fine-tuning"] = model.evaluate(x_test, y_test, return_dict=True, verbose=0)

    # (c) From scratch: same architecture, same budget, same total epochs.
    scratch = compile_model(
        zoo.build(args.model, input_shape=data.input_shape, num_classes=len(target)),
        args.learning_rate,
    )
    print("From scratch (same architecture, budget and epochs)...")
    scratch_history = scratch.fit(x_small, y_small, validation_data=(x_val, y_val),
                                  epochs=args.epochs + args.fine_tune_epochs, **fit)
    results["from scratch"] = scratch.evaluate(x_test, y_test, return_dict=True, verbose=0)

    # ## Evaluate
    from recipes import _plots

    comparison = pd.DataFrame(
        [{"approach": name, "test_accuracy": r["accuracy"], "test_loss": r["loss"]}
         for name, r in results.items()]
    )
    print(f"\nDigits {', '.join(target)} from {args.examples_per_class} examples per class:")
    print(comparison.to_string(index=False, float_format="%.4f"))
    _io.write_csv(out / "comparison.csv", comparison)
    metrics = {
        f"{name.replace(' ', '_').replace('-', '_')}_test_accuracy": r["accuracy"]
        for name, r in results.items()
    }
    metrics["examples_per_class"] = args.examples_per_class
    history = {key: extraction.history[key] + tuning.history[key] for key in tuning.history}
    figures = {
        "comparison": _plots.bar_chart(
            dict(zip(comparison["approach"], comparison["test_accuracy"])),
            ylabel=f"test accuracy on {target[0]}-{target[-1]}",
            title=f"{args.examples_per_class} labelled examples per class",
        ),
        "scratch_training_curves": _plots.training_curves(_cli.history_frame(scratch_history)),
    }
    return _cli.save_artifacts(out, model=model, history=history, metrics=metrics, figures=figures)


if __name__ == "__main__":
    _cli.run(main)
