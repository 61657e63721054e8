"""Snapshot ensemble: train once, save M snapshots, average them into one model.

Shows snapshot ensembles (Huang et al. 2017, "Train 1, get M for free"): the
learning rate follows M cycles of cosine annealing, each restarting at the
peak; at the end of every cycle, where the rate is lowest, a snapshot is
saved. The table compares, on the test data, the ensemble of the last k
snapshots (k = 1..M; k = 1 is the single final model) by averaging their
predicted probabilities; all M are then saved as one `.keras` model.

Run:
    python -m recipes.snapshot_ensemble
    python -m recipes.snapshot_ensemble --num-snapshots 3 --epochs 30
    python -m recipes.snapshot_ensemble --model cnn               # digits as 8x8 images
    python -m recipes.snapshot_ensemble --swa                     # and their weights averaged
    python -m recipes.snapshot_ensemble --csv my_table.csv --target label

README's recipe table gives the final model's and the ensembles' accuracy
and the time of these runs.

`--swa` also averages the snapshots' weights into one model (stochastic
weight averaging, Izmailov et al. 2018: `callbacks.build_swa`, batch-norm
statistics recomputed on the training data), saved as `swa.keras`: one
model's cost at prediction time instead of M.

Artifacts: `snapshots/snapshot_01.keras`..., `ensemble.keras` (all snapshots
in one model: `keras.saving.load_model(path, safe_mode=True)`),
`ensemble_table.csv` and `.png`, and `model.keras`, the single final model.

Next steps: `python -m recipes.sgdr` shows the warm-restart schedule these
cycles come from; `callbacks.SnapshotEnsemble(..., sgdr=sgdr)` snapshots at
SGDR's cycle ends instead.
"""

from __future__ import annotations

from recipes.common import flags, training
from recipes.common.data import load_data, view_for
from recipes.common.runs import Run


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=50, batch_size=64, learning_rate=0.01)
    flags.add_data_flags(parser, ("digits",), images=True)

    # ## Hyperparameters
    ensemble_flags = parser.add_argument_group("snapshot ensemble")
    ensemble_flags.add_argument("--model", default="mlp",
                                help="any zoo classifier (mlp, cnn, lstm...)")
    ensemble_flags.add_argument("--num-snapshots", type=flags.positive_int, default=5,
                                help="M cycles and snapshots; --epochs must be a multiple of it")
    ensemble_flags.add_argument("--swa", action="store_true",
                                help="also average the snapshots' weights into one model (SWA)")
    args = parser.parse_args(argv)
    # --smoke trains 2 epochs at most: as many cycles at most.
    num_snapshots = min(args.num_snapshots, args.epochs) if args.smoke else args.num_snapshots
    if args.epochs % num_snapshots:
        raise ValueError(
            "Invalid value for argument `epochs`: expected a multiple of --num-snapshots "
            f"({num_snapshots}), so that every cycle ends at an epoch's end. "
            f"Received: epochs={args.epochs}"
        )
    # Keras' default backend (TensorFlow) unless --backend or $KERAS_BACKEND.
    run = Run(args, "snapshot_ensemble")

    import keras

    import callbacks
    import zoo
    from recipes.common import artifacts, plots

    spec = training.model_spec(args, task="classification", kind="classifier")

    # ## Data
    # The digits as the model reads them: 64 features, an 8x8 image or 8 rows.
    data = load_data(args, view=view_for(spec.input_kind))
    if data.task != "classification":
        raise ValueError("Invalid value for argument `task`: expected a classification "
                         f"target. Received: task={data.task!r}")
    print(data.summary())

    # ## Model
    # The mlp of recipes/mlp.py; other models keep their zoo defaults.
    options = dict(hidden_units=(512, 256), dropout_rate=0.3) if args.model == "mlp" else {}
    model = zoo.build(
        args.model, input_shape=data.input_shape, num_outputs=data.num_outputs, **options
    )
    # Adam rather than the paper's SGD: its steps do not shrink with the
    # gradients, so each restart moves a model that has fitted its training
    # data to a new minimum (with SGD the snapshots here were all alike).
    # The callback drives the rate.
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=run.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # The snapshots, then the history log and the backup that lets the same
    # command resume an interrupted run, keeping the snapshots it had saved.
    if run.resumed_epoch is None:  # a fresh run: drop an earlier run's snapshots
        for stale in (run.folder / "snapshots").glob("snapshot_*.keras"):
            stale.unlink()
    snapshots = callbacks.SnapshotEnsemble(
        num_snapshots, args.learning_rate, directory=run.folder / "snapshots"
    )
    train, validation = data.batches(args.batch_size, seed=args.seed)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[snapshots, *run.callbacks()],
        verbose=run.verbose,
    )

    # ## Evaluate
    # The single final model.
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    # Ensembles of the last k snapshots, k = 1..M, on the test data.
    table = callbacks.evaluate_snapshot_ensembles(
        snapshots.snapshot_paths, data.x_test, data.y_test,
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
    )
    table["accuracy_vs_single"] = table["accuracy"] - results["accuracy"]
    print(f"Test accuracy of the ensemble of the last k snapshots (single final model: "
          f"{results['accuracy']:.4f}):\n{table.to_string(index=False, float_format='%.4f')}")
    metrics.update({f"ensemble_of_{row.num_snapshots}_test_accuracy": row.accuracy
                    for row in table.itertuples()})
    # All M snapshots as one model that averages their probabilities, saved
    # uncompiled (for inference; compile it to evaluate, as here).
    ensemble = callbacks.build_ensemble(snapshots.snapshot_paths)
    artifacts.save_model(ensemble, run.folder / "ensemble.keras")
    ensemble.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ensemble_results = ensemble.evaluate(data.test_batches(), return_dict=True, verbose=0)
    metrics.update({f"ensemble_test_{k}": v for k, v in ensemble_results.items()})
    if args.swa:
        # SWA (Izmailov et al. 2018): the snapshots' *weights* averaged into one
        # model, its batch-norm statistics recomputed on the training data.
        swa = callbacks.build_swa(snapshots.snapshot_paths, batch_norm_data=data.x_train,
                                  batch_size=args.batch_size)
        artifacts.save_model(swa, run.folder / "swa.keras")
        swa.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        swa_results = swa.evaluate(data.test_batches(), return_dict=True, verbose=0)
        metrics.update({f"swa_test_{k}": v for k, v in swa_results.items()})
    artifacts.write_csv(run.folder / "ensemble_table.csv", table)
    figure = plots.ensemble_curve(table, results["accuracy"])
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"ensemble_table": figure}, data=data)


if __name__ == "__main__":
    flags.run(main)
