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

README's recipe table gives the pair accuracy, ROC AUC and time of these runs.

Next steps: `python -m recipes.tune --model siamese` searches the embedding
width and depth and the distance; load embedding.keras and classify new
digits by their nearest labelled neighbour.
"""

from __future__ import annotations

from recipes.common import flags, training
from recipes.common.data import EVALUATION_BATCH_SIZE, array_batches, load_data
from recipes.common.runs import Run

# The flags that shape the zoo's siamese network; another --model has its own.
SIAMESE_FLAGS = ("embedding_dim", "hidden_units", "filters", "distance")


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
    parser = flags.parser(__doc__, epochs=40, batch_size=128, learning_rate=1e-3)
    flags.add_data_flags(parser, ("digits",), csv=True, images=True)
    flags.add_training_flags(parser)  # --schedule, --ema, --l1/--l2, --distribute...

    # ## Hyperparameters
    model_flags = parser.add_argument_group("model")
    model_flags.add_argument("--model", default="siamese", help="any zoo similarity model")
    model_flags.add_argument(
        "--view",
        choices=("flat", "image"),
        default="flat",
        help="digits as 64 features (MLP embedding) or 8x8 images (CNN embedding)",
    )
    model_flags.add_argument("--embedding-dim", type=flags.positive_int, default=16)
    model_flags.add_argument(
        "--hidden-units", type=flags.positive_int, nargs="+", default=[128, 64],
        help="the MLP embedding's widths (flat inputs: the digits' flat view, --csv)",
    )
    model_flags.add_argument(
        "--filters", type=flags.positive_int, nargs="+", default=[32, 64],
        help="the CNN embedding's filters (images: --view image, --images)",
    )
    model_flags.add_argument("--distance", choices=("euclidean", "cosine"), default="euclidean")
    model_flags.add_argument("--margin", type=flags.positive_float, default=1.0)
    model_flags.add_argument(
        "--pairs",
        type=flags.positive_int,
        default=10000,
        help="training pairs; validation and test get a fifth as many each",
    )
    model_flags.add_argument("--patience", type=flags.positive_int, default=5)
    args = parser.parse_args(argv)
    # Images (--view image, --images) get a CNN embedding, flat inputs an MLP:
    # the other's flags are refused, not ignored; another --model takes none.
    view = "image" if args.images else args.view
    if args.model != "siamese":
        flags.refuse_unused(parser, args, SIAMESE_FLAGS, why=f"--model {args.model}")
    elif view == "image" and not args.csv:
        flags.refuse_unused(parser, args, ["hidden_units"], why="images (a CNN embedding)")
    else:
        flags.refuse_unused(parser, args, ["filters"], why="flat inputs (an MLP embedding)")
    # TensorFlow unless $KERAS_BACKEND or --backend says otherwise; seeds set;
    # the run folder runs/siamese/.
    run = Run(args, "siamese")

    import keras
    import numpy as np
    from sklearn.metrics import roc_auc_score

    import zoo
    from zoo.siamese import contrastive_loss, make_pairs

    training.model_spec(args, task="similarity", kind="similarity model", data_flags=False)

    # ## Data
    data = load_data(args, view=view)
    if data.task != "classification":
        raise ValueError(
            "Invalid value for argument `target`: expected a class column (pairs are "
            f"same-class or not). Received: target={args.target!r} ({data.task})"
        )
    print(data.summary())
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
    print(f"Pairs: {len(train_labels)} train, {len(val_labels)} validation, "
          f"{len(test_labels)} test (half same-class)")

    # ## Model
    options = {}  # another zoo similarity model: its own default architecture
    if args.model == "siamese":
        options = dict(
            embedding_dim=args.embedding_dim,
            hidden_units=args.hidden_units,
            filters=args.filters,
            distance=args.distance,
        )
    with run.distributed():  # --distribute: built and compiled data-parallel
        model = zoo.build(
            args.model, input_shape=data.input_shape, **options,
            **training.penalties(args),  # --l1, --l2: kernel_regularizer on every kernel
        )
        model.compile(
            optimizer=training.optimizer(args, args.learning_rate),  # Adam; --ema: use_ema=True
            loss=contrastive_loss(margin=args.margin),
            steps_per_execution=run.steps_per_execution,
        )
    if not args.quiet:
        model.summary()

    # ## Train
    # --schedule, then early stopping, then the history log and the backup
    # that lets the same command resume an interrupted run.
    callbacks = [
        *training.schedule_callbacks(args, args.learning_rate, patience=args.patience),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.patience, restore_best_weights=True
        ),
        *run.callbacks(),
    ]
    # Batches of `((left, right), label)`, shuffled with the seed.
    train = array_batches((train_left, train_right), train_labels, args.batch_size,
                          shuffle=True, seed=args.seed)
    validation = array_batches((val_left, val_right), val_labels, EVALUATION_BATCH_SIZE)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=run.verbose,
    )

    # ## Evaluate
    model = run.local_model(model)  # after --distribute: a copy on this process's devices
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
    # The embedding network on its own: what you reuse for retrieval,
    # clustering or few-shot classification.
    artifacts.save_model(embedding, run.folder / "embedding.keras")
    # The model, history, metrics and plots; the class names and, for a --csv
    # table, its fitted preprocessing (the embedding takes preprocessed rows).
    return run.save(model=model, history=history, metrics=metrics, figures=figures, data=data,
                    task="similarity")


if __name__ == "__main__":
    flags.run(main)
