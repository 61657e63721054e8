"""Siamese: learn digit similarity from pairs with the contrastive loss.

Shows metric learning: a siamese network (one embedding network shared by
both inputs, then the distance between the two vectors) trained on pairs of
digits labelled 1 (same class) or 0 (different classes) with the
contrastive loss, which pulls same-class pairs together and pushes other
pairs at least `--margin` apart. It reports pair verification accuracy on
test pairs (a pair is "same" when its distance is at most a threshold chosen
on validation pairs) and the ROC AUC of -distance, and plots the embedding
of the test digits and the distances of same- and different-class pairs.
The embedding network is saved on its own (embedding.keras): it is what you
reuse for retrieval, clustering or few-shot classification.

Run:
    python -m recipes.siamese
    python -m recipes.siamese --distance cosine --margin 0.5
    python -m recipes.siamese --view image        # CNN embedding of 8x8 images
    python -m recipes.siamese --csv my_table.csv --target label
    python -m recipes.siamese --images my_photos/ --image-size 32 32

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): test pair accuracy 0.974, ROC AUC 0.997,
~14 s in all; `--distance cosine --margin 0.5`: test pair accuracy 0.976,
ROC AUC 0.997, ~10 s in all.

Next steps: `python -m recipes.tune --model siamese` searches the embedding
width and depth and the distance; load embedding.keras and classify new
digits by their nearest labelled neighbour.
"""

from __future__ import annotations

from recipes.common import cli


def best_threshold(distances, labels) -> tuple[float, float]:
    """The threshold (a pair is "same" when its distance is at most it) with the
    highest accuracy on these pairs, and that accuracy."""
    import numpy as np

    candidates = np.unique(distances)
    same = distances[None, :] <= candidates[:, None]
    accuracy = np.mean(same == (labels[None, :] == 1), axis=1)
    best = int(np.argmax(accuracy))
    return float(candidates[best]), float(accuracy[best])


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=40, batch_size=128, learning_rate=1e-3)
    cli.add_data_flags(parser, ("digits",), csv=True, images=True)
    # ## Hyperparameters
    flags = parser.add_argument_group("model")
    flags.add_argument("--model", default="siamese", help="any zoo similarity model")
    flags.add_argument(
        "--view",
        choices=("flat", "image"),
        default="flat",
        help="digits as 64 features (MLP embedding) or 8x8 images (CNN embedding)",
    )
    flags.add_argument("--embedding-dim", type=cli.positive_int, default=16)
    flags.add_argument(
        "--hidden-units", type=cli.positive_int, nargs="+", default=[128, 64]
    )
    flags.add_argument("--filters", type=cli.positive_int, nargs="+", default=[32, 64])
    flags.add_argument(
        "--distance", choices=("euclidean", "cosine"), default="euclidean"
    )
    flags.add_argument("--margin", type=cli.positive_float, default=1.0)
    flags.add_argument(
        "--pairs",
        type=cli.positive_int,
        default=10000,
        help="training pairs; validation and test get a fifth as many each",
    )
    flags.add_argument("--patience", type=cli.positive_int, default=5)
    cli.add_training_flags(parser, auto_learning_rate=False)  # --schedule, --ema
    args = parser.parse_args(argv)
    cli.setup(args)

    import keras
    import numpy as np
    from sklearn.metrics import roc_auc_score

    import zoo
    from zoo.siamese import contrastive_loss, make_pairs

    cli.model_spec(args, task="similarity", kind="similarity model", data_flags=False)

    # ## Data
    data = cli.load_data(args, view="image" if args.images else args.view)
    if data.task != "classification":
        raise ValueError(
            "Invalid value for argument `target`: expected a class column (pairs are "
            f"same-class or not). Received: target={args.target!r} ({data.task})"
        )
    num_pairs = min(args.pairs, 1000) if args.smoke else args.pairs
    # Label 1 = same class, 0 = different classes; pairs never cross splits.
    (train_left, train_right), train_labels = make_pairs(
        data.x_train, data.y_train, num_pairs=num_pairs, seed=args.seed
    )
    (val_left, val_right), val_labels = make_pairs(
        data.x_val, data.y_val, num_pairs=max(num_pairs // 5, 2), seed=args.seed + 1
    )
    (test_left, test_right), test_labels = make_pairs(
        data.x_test, data.y_test, num_pairs=max(num_pairs // 5, 2), seed=args.seed + 2
    )
    print(f"{data.name}: {len(train_labels)} train, {len(val_labels)} validation, "
          f"{len(test_labels)} test pairs (half same-class), inputs {data.input_shape}")

    # ## Model
    options = {}
    if args.model == "siamese":
        options = dict(
            embedding_dim=args.embedding_dim,
            hidden_units=args.hidden_units,
            filters=args.filters,
            distance=args.distance,
        )
    # Built and compiled in the --distribute scope: data-parallel on every device.
    with cli.distributed(args):
        model = zoo.build(args.model, input_shape=data.input_shape, **options,
                          **cli.penalties(args))  # --l1, --l2: on every kernel
        model.compile(
            optimizer=cli.optimizer(args, keras.optimizers.Adam),  # with --ema: use_ema=True
            loss=contrastive_loss(margin=args.margin),
            steps_per_execution=args.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # Backed up each epoch: after a crash, the same command resumes the run.
    out = cli.start_run(args, "siamese")
    callbacks = [
        *cli.schedule_callbacks(args, patience=args.patience),  # --schedule, --ema
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *cli.resumable_callbacks(out),
    ]
    history = model.fit(
        [train_left, train_right],
        train_labels,
        validation_data=([val_left, val_right], val_labels),
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=callbacks,
        verbose=cli.verbose(args),
    )

    # ## Evaluate
    from recipes.common import artifacts, plots

    val_distances = model.predict([val_left, val_right], verbose=0).ravel()
    test_distances = model.predict([test_left, test_right], verbose=0).ravel()
    # The threshold is chosen on validation pairs, then applied to test pairs.
    threshold, val_accuracy = best_threshold(val_distances, val_labels)
    test_same = test_distances <= threshold
    metrics = {
        "test_loss": model.evaluate([test_left, test_right], test_labels, verbose=0),
        "test_pair_accuracy": np.mean(test_same == (test_labels == 1)),
        # A small distance means "same": -distance is the score for label 1.
        "test_roc_auc": roc_auc_score(test_labels, -test_distances),
        "threshold": threshold,
        "val_pair_accuracy": val_accuracy,
        "epochs_trained": len(history.history["loss"]),
    }
    embedding = model.get_layer("embedding")
    vectors = embedding.predict(data.x_test, verbose=0)
    figures = {
        "embedding": plots.embedding_scatter(
            vectors, data.y_test, data.class_names, title="test digits, embedded"
        ),
        "distances": plots.distance_histograms(
            test_distances, test_labels, threshold=threshold
        ),
    }
    print("Test:", cli.format_metrics(metrics))
    artifacts.save_model(embedding, out / "embedding.keras")  # what users reuse
    return cli.save_artifacts(
        out, model=model, history=history, metrics=metrics, figures=figures
    )


if __name__ == "__main__":
    cli.run(main)
