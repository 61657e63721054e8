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

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): final model 0.978, ensemble of the 5
snapshots 0.985, ~11 s in all; `--swa --model cnn`: cnn: final model 0.996,
ensemble 0.996, SWA of the snapshots 0.993, ~24 s in all.

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

from recipes.common import cli

# How each zoo input kind sees the digits.


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=50, batch_size=64, learning_rate=0.01)
    cli.add_data_flags(parser, ("digits",), images=True)
    # ## Hyperparameters
    flags = parser.add_argument_group("snapshot ensemble")
    flags.add_argument("--model", default="mlp", help="any zoo classifier (mlp, cnn, lstm...)")
    flags.add_argument("--num-snapshots", type=cli.positive_int, default=5,
                       help="M cycles and snapshots; --epochs must be a multiple of it")
    flags.add_argument("--swa", action="store_true",
                       help="also average the snapshots' weights into one model (SWA)")
    args = parser.parse_args(argv)
    cli.setup(args)
    if args.smoke:
        args.num_snapshots = min(args.num_snapshots, args.epochs)

    import keras

    import callbacks
    import zoo
    from recipes.common import artifacts, datasets, plots

    spec = cli.model_spec(args, task="classification", kind="classifier")
    if args.epochs % args.num_snapshots:
        raise ValueError(
            "Invalid value for argument `epochs`: expected a multiple of --num-snapshots "
            f"({args.num_snapshots}), so that every cycle ends at an epoch's end. "
            f"Received: epochs={args.epochs}"
        )

    # ## Data
    data = cli.load_data(args, view=datasets.view_for(spec.input_kind))
    if data.task != "classification":
        raise ValueError("Invalid value for argument `task`: expected a classification "
                         f"target. Received: task={data.task!r}")
    print(f"{data.name}: {len(data.x_train)} train, {len(data.x_val)} validation, "
          f"{len(data.x_test)} test samples of shape {data.input_shape}, "
          f"{data.num_outputs} classes")

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
        steps_per_execution=args.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # Backed up each epoch: after a crash, the same command resumes the run
    # and keeps the snapshots it had saved.
    out = cli.start_run(args, "snapshot_ensemble")
    if cli.backup_epoch(out) is None:  # a fresh run: drop an earlier run's snapshots
        for stale in (out / "snapshots").glob("snapshot_*.keras"):
            stale.unlink()
    snapshots = callbacks.SnapshotEnsemble(
        args.num_snapshots, args.learning_rate, directory=out / "snapshots"
    )
    history = model.fit(
        **datasets.fit_inputs(data, batch_size=args.batch_size, seed=args.seed),
        epochs=args.epochs,
        callbacks=[snapshots, *cli.resumable_callbacks(out)],
        verbose=cli.verbose(args),
    )

    # ## Evaluate
    results = model.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    # Ensembles of the last k snapshots, k = 1..M, on the test data.
    table = callbacks.evaluate_snapshot_ensembles(
        snapshots.snapshot_paths, data.x_test, data.y_test,
        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
    )
    table["accuracy_vs_single"] = table["accuracy"] - results["accuracy"]
    print(f"Test accuracy of the ensemble of the last k snapshots (single final model: "
          f"{results['accuracy']:.4f}):\n{table.to_string(index=False, float_format='%.4f')}")
    # All M snapshots as one model that averages their probabilities, saved
    # uncompiled (for inference; compile it to evaluate, as here).
    ensemble = callbacks.build_ensemble(snapshots.snapshot_paths)
    artifacts.save_model(ensemble, out / "ensemble.keras")
    ensemble.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ensemble_results = ensemble.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
    metrics.update({f"ensemble_test_{k}": v for k, v in ensemble_results.items()})
    metrics.update({f"ensemble_of_{row.num_snapshots}_test_accuracy": row.accuracy
                    for row in table.itertuples()})
    if args.swa:
        # SWA (Izmailov et al. 2018): the snapshots' *weights* averaged into one
        # model, its batch-norm statistics recomputed on the training data.
        swa = callbacks.build_swa(snapshots.snapshot_paths, batch_norm_data=data.x_train,
                                  batch_size=args.batch_size)
        artifacts.save_model(swa, out / "swa.keras")
        swa.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        swa_results = swa.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
        metrics.update({f"swa_test_{k}": v for k, v in swa_results.items()})
        print(f"SWA of the {len(snapshots.snapshot_paths)} snapshots: test accuracy "
              f"{swa_results['accuracy']:.4f}")
    artifacts.write_csv(out / "ensemble_table.csv", table)
    figure = plots.ensemble_curve(table, results["accuracy"])
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics,
                               figures={"ensemble_table": figure})


if __name__ == "__main__":
    cli.run(main)
