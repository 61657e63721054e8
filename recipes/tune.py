"""Tune: keras-tuner random, Hyperband or Bayesian search over any zoo model,
resumable and distributed.

Searches the `search_space(hp, ...)` that sits next to each zoo model
(architecture, regularisation, activation) plus the optimizer, a log-sampled
learning rate and the batch size, on the bundled data in the shape the model
eats (digits as vectors, 8x8 images, 8-step sequences or pairs), your CSV
(vector models) or your sequences (sequence models: `.ts`, wide or long CSV,
`.npz`; unequal lengths padded and masked, as in recipes.rnn).
Every trial becomes a row of `<directory>/<project>/results.csv`, best first,
with `results.png` (score against each hyperparameter) beside it.

`--search random` (the default) trains `--max-trials` random draws of the
space for up to `--epochs` each; `--search bayesian` too, but after
`--initial-points` random trials a Gaussian process fitted to the scores so
far picks each next one; `--search hyperband` trains many models for a few
epochs and the best of them longer, up to `--max-epochs` (default: --epochs),
a later round continuing an earlier trial's weights: its number of trials
follows from `--max-epochs` and `--factor`, so it takes no `--max-trials`.
Early stopping (`--patience`) ends any trial sooner.
`--tensorboard` logs each trial's curves and hyperparameters in
`<directory>/<project>/logs/` (`tensorboard --logdir tuning/mlp/logs`: the
HParams tab compares the trials).

Run:
    python -m recipes.tune --model mlp --max-trials 20
    python -m recipes.tune --model mlp --search hyperband --max-epochs 27
    python -m recipes.tune --model mlp --search bayesian --max-trials 40
    python -m recipes.tune --model cnn --retrain-best   # + best_model.keras, test metrics
    python -m recipes.tune --model mlp --max-trials 20  # again: resumes; --overwrite restarts
    python -m recipes.tune --model mlp --csv churn.csv --target churn --retrain-best
    python -m recipes.predict tuning/mlp --csv next_month.csv  # the retrained best
    python -m recipes.tune --model fcn1d --sequences train.ts --retrain-best
    python -m recipes.predict tuning/fcn1d --sequences new.ts
    # One chief (serves the search) and workers (run trials); across machines,
    # give the chief's address and share --directory:
    python -m recipes.tune --model mlp --chief 127.0.0.1:8000 &
    python -m recipes.tune --model mlp --worker 127.0.0.1:8000 --worker-id 0 &
    python -m recipes.tune --model mlp --worker 127.0.0.1:8000 --worker-id 1

README's "Hyperparameter search" section describes the outputs, resume, and
the chief and workers. `--batch-size` and `--learning-rate` fix what is
otherwise tuned. gMLP presets (gmlp_tiny...) are fixed ImageNet
configurations: search `--model gmlp`.

Next steps: `python -m recipes.<model>` trains one model by hand; pass the
best trial's hyperparameters from results.csv as its flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.common import flags, runtime

BEST_MODEL = "best_model.keras"
LOGS_DIR = "logs"  # --tensorboard: <project>/logs/<trial id>/execution<N>/
SEARCHES = ("random", "hyperband", "bayesian")  # as tuning.SEARCHES (imports Keras)


def address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8000`) for --chief and --worker."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:8000, got {text!r}")
    return host, int(port)


def compile_settings(spec, data):
    """Loss, metrics and default objective for the model's task."""
    import zoo

    if data.task == "classification":
        return "sparse_categorical_crossentropy", ["accuracy"], "val_accuracy"
    if data.task == "multilabel":
        return "binary_crossentropy", ["binary_accuracy"], "val_binary_accuracy"
    if data.task == "regression":
        return "mean_squared_error", ["mean_absolute_error"], "val_loss"
    if data.task == "similarity":
        return zoo.siamese.contrastive_loss(margin=1.0), [], "val_loss"
    if spec.builder is zoo.vae.build_vae:
        # The negative ELBO: reconstruction summed over pixels, plus the KL term.
        distribution = "bernoulli" if data.unit_range else "gaussian"
        return zoo.vae.ReconstructionLoss(distribution), [], "val_loss"
    return "mean_squared_error", [], "val_loss"  # autoencoders


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; impossible combinations are usage errors (exit status 2)."""
    # No `Run`: keras-tuner trains the trials; its own --tensorboard is below.
    parser = flags.parser(__doc__, epochs=20, batch_size=64, learning_rate=1e-3,
                          tensorboard=False)
    # Unset, the batch size and learning rate are tuned; tuning writes to --directory.
    parser.set_defaults(batch_size=None, learning_rate=None, output_dir=None)
    flags.add_data_flags(parser, ("digits", "wine", "breast_cancer"))
    # --sequences, --test-sequences, --id, --time; --target (above) names the
    # label column of --csv or of a CSV --sequences.
    flags.add_sequence_flags(parser, target=False)
    search = parser.add_argument_group("search")
    search.add_argument("--model", required=True, help="a zoo model: see zoo.list_models()")
    search.add_argument(
        "--search", choices=SEARCHES, default="random",
        help="random (default): --max-trials random draws, each up to --epochs; "
             "bayesian: the same, but after --initial-points random trials a Gaussian "
             "process fitted to the scores so far picks each next trial; hyperband: "
             "many models for a few epochs, the best of them longer (a later round "
             "continues a trial's weights), up to --max-epochs; --max-epochs and "
             "--factor set its number of trials")
    search.add_argument("--max-trials", type=flags.positive_int,
                        help="random, bayesian: trials in the whole search, resumed runs "
                             "included (default 10); not for hyperband")
    search.add_argument("--max-epochs", type=flags.positive_int,
                        help="hyperband: the most epochs one model trains, over its "
                             "rounds (keras-tuner's max_epochs; default: --epochs)")
    search.add_argument("--factor", type=flags.positive_int,
                        help="hyperband: each round keeps 1/FACTOR of the models and "
                             "trains them FACTOR times longer (default 3, at least 2)")
    search.add_argument("--initial-points", type=flags.positive_int, metavar="N",
                        help="bayesian: random trials before the Gaussian process "
                             "guides the search (default: 3 per hyperparameter)")
    search.add_argument(
        "--objective",
        help="NAME or NAME:min|max (default: val_accuracy for classifiers, else val_loss)",
    )
    search.add_argument("--executions-per-trial", type=flags.positive_int, default=1)
    search.add_argument("--patience", type=flags.positive_int, default=5,
                        help="early stopping patience within a trial")
    search.add_argument("--directory", type=Path, default=Path("tuning"))
    search.add_argument("--project-name", help="default: the model name")
    search.add_argument("--overwrite", action="store_true", help="start over, do not resume")
    search.add_argument("--retrain-best", action="store_true",
                        help="retrain the best on train+validation, test it, save it")
    search.add_argument(
        "--tensorboard", action="store_true",
        help="log each trial's losses and metrics per epoch and its hyperparameters "
             "(HParams) in <directory>/<project>/logs/<trial id>/ for TensorBoard "
             "(tensorboard --logdir tuning/mlp/logs); a worker logs the trials it runs; "
             "not part of the search: add or drop it when resuming")
    distributed = parser.add_argument_group("distributed (keras-tuner's chief and workers)")
    roles = distributed.add_mutually_exclusive_group()
    roles.add_argument("--chief", type=address, metavar="HOST:PORT",
                       help="serve the search here (0.0.0.0:PORT: on every interface)")
    roles.add_argument("--worker", type=address, metavar="HOST:PORT",
                       help="run trials for the chief at HOST:PORT")
    distributed.add_argument("--worker-id", type=flags.non_negative_int, metavar="N")
    distributed.add_argument("--chief-timeout", type=flags.positive_float, default=120.0,
                             help="seconds a worker waits for the chief (default 120)")
    args = parser.parse_args(argv)
    if args.output_dir is not None:
        parser.error("--output-dir is not used: results go to --directory/--project-name")
    if (args.worker is None) != (args.worker_id is None):
        parser.error("--worker HOST:PORT and --worker-id N go together")
    if args.worker is not None and (args.overwrite or args.retrain_best):
        parser.error("--overwrite and --retrain-best are for the chief: a worker only runs trials")
    if args.search == "hyperband":
        if args.max_trials is not None:
            parser.error("--max-trials does not apply to --search hyperband: its trials "
                         "follow from --max-epochs and --factor")
        if args.factor is not None and args.factor < 2:
            parser.error("--factor: expected an integer of at least 2")
        args.max_epochs = args.max_epochs or args.epochs
        if args.smoke:
            args.max_epochs = min(args.max_epochs, flags.SMOKE_EPOCHS)
        args.factor = args.factor or 3
    else:
        for flag in ("max_epochs", "factor"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag.replace('_', '-')} is for --search hyperband; "
                             f"--search {args.search} trains each trial up to --epochs")
        args.max_trials = args.max_trials or 10
    if args.initial_points is not None and args.search != "bayesian":
        parser.error("--initial-points is for --search bayesian")
    return args


def make_hypermodel(spec, data, args):
    """The zoo model's search space, compiled with a tuned optimizer and
    learning rate; the batch size is tuned too and applied in `fit()`."""
    import keras
    import keras_tuner

    loss, metrics, _ = compile_settings(spec, data)
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
    }

    class ZooHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            model = spec.search_space(hp, **data.fixed)
            optimizer = hp.Choice("optimizer", list(optimizers))
            learning_rate = args.learning_rate or hp.Float(
                "learning_rate", 1e-4, 1e-2, sampling="log"
            )
            if args.batch_size is None:
                hp.Choice("batch_size", [32, 64, 128])  # applied in fit()
            model.compile(
                optimizer=optimizers[optimizer](learning_rate),
                loss=loss,
                metrics=metrics,
                steps_per_execution=runtime.steps_per_execution(args),
            )
            return model

        def fit(self, hp, model, *fit_args, **fit_kwargs):
            batch_size = args.batch_size or hp.get("batch_size")
            return model.fit(*fit_args, batch_size=batch_size, **fit_kwargs)

    return ZooHyperModel(name=spec.name)


def make_tuner(args, hypermodel, **kwargs):
    """keras-tuner's tuner for `--search`, resumable (`recipes.common.tuning.search`)."""
    from recipes.common import tuning

    if args.search == "hyperband":
        return tuning.ResumableHyperband(
            hypermodel, max_epochs=args.max_epochs, factor=args.factor, **kwargs
        )
    if args.search == "bayesian":
        return tuning.ResumableBayesianOptimization(
            hypermodel, max_trials=args.max_trials,
            num_initial_points=args.initial_points, **kwargs
        )
    return tuning.ResumableRandomSearch(hypermodel, max_trials=args.max_trials, **kwargs)


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    args = parse_args(argv)
    # Backend (--backend, else $KERAS_BACKEND, else TensorFlow) and seeds; no
    # `Run`: keras-tuner keeps the search's state and resumes it.
    backend = runtime.setup(args)
    verbose = 0 if args.quiet else "auto"

    import shutil

    import grpc
    import keras

    from recipes.common import artifacts, runs, tuning
    from recipes.common.history import history_frame

    role = tuning.resolve_role(args)
    spec = tuning.searchable_spec(args.model)
    project_dir = args.directory / (args.project_name or args.model)

    # ## Data
    data = tuning.load_task_data(args, spec)
    *_, default_objective = compile_settings(spec, data)
    objective = tuning.parse_objective(args.objective or default_objective)

    # ## Model: the zoo's search space, compiled with a tuned optimizer
    hypermodel = make_hypermodel(spec, data, args)

    # Everything is checked before anything is written.
    space, reported = tuning.dry_run(hypermodel, data)
    if objective.name not in reported:
        raise ValueError(
            f"Invalid value for argument `objective`: model {args.model!r} reports "
            f"{', '.join(reported)}. Received: objective={objective.name!r}"
        )
    search_description = {
        "model": args.model,
        "data": data.description,
        "fixed": data.fixed,
        "objective": f"{objective.name}:{objective.direction}",
        "epochs": args.epochs,
        "executions_per_trial": args.executions_per_trial,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "patience": args.patience,
        "search_space": space,
    }
    # A random search keeps its old fingerprint; another search kind adds its own.
    if args.search == "hyperband":
        del search_description["epochs"]
        search_description.update(search="hyperband", max_epochs=args.max_epochs,
                                  factor=args.factor)
    elif args.search == "bayesian":
        search_description.update(search="bayesian", initial_points=args.initial_points)
    if role.kind == "worker":
        if (project_dir / tuning.FINGERPRINT_FILE).is_file():  # a directory shared with the chief
            tuning.check_fingerprint(project_dir, search_description)
        print(f"Worker {role.tuner_id}: waiting up to {args.chief_timeout:g} s "
              f"for the chief at {role.address}", flush=True)
        tuning.check_chief(role, space, timeout=args.chief_timeout)
    else:
        if not args.overwrite:
            tuning.check_fingerprint(project_dir, search_description)
        if role.kind == "chief":
            tuning.check_port_free(role)
        if args.overwrite and project_dir.exists():
            shutil.rmtree(project_dir)
        tuning.write_fingerprint(project_dir, search_description)

    # ## Search
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor=objective.name, mode=objective.direction, patience=args.patience
        ),
    ]
    if args.tensorboard:
        # keras-tuner gives each trial (each execution) its own folder under
        # log_dir, with its hyperparameters for the HParams dashboard
        # (ResumableTuner._configure_tensorboard_dir). Not in the fingerprint.
        callbacks.append(keras.callbacks.TensorBoard(
            log_dir=project_dir / LOGS_DIR, write_graph=False
        ))
    with tuning.role_environment(role, chief_timeout=args.chief_timeout):
        tuner = make_tuner(
            args,
            hypermodel,
            objective=objective,
            seed=args.seed + 1,  # keras-tuner draws a random seed for 0
            role=role,
            executions_per_trial=args.executions_per_trial,
            directory=str(args.directory),
            project_name=project_dir.name,
        )
        try:
            tuner.search(
                *data.train,
                validation_data=data.validation,
                # Hyperband replaces it with each trial's tuner/initial_epoch and tuner/epochs.
                epochs=args.epochs,
                callbacks=callbacks,
                verbose=verbose,
            )
        except grpc.RpcError as error:
            raise ValueError(
                f"Lost the chief at {role.address}: {error.code().name}. Restart this "
                "worker with the same --worker-id to pick up its trial again."
            ) from None
    if role.kind == "worker":
        print(f"Worker {role.tuner_id} ran trials: {', '.join(tuner.trials_run) or 'none'}")
        return {"trials_run": len(tuner.trials_run)}

    # ## Results
    table = tuning.write_results(tuner)
    completed = table[table["status"] == "COMPLETED"]
    if not args.quiet:
        print(table.head(10).to_string(index=False))
    print(f"{len(completed)} completed trials; table and plot in {project_dir}/")
    summary = {"completed_trials": len(completed), "trials": len(table)}
    if len(completed):
        summary["best_trial_id"] = completed["trial_id"].iloc[0]
        summary[f"best_{objective.name}"] = float(completed["score"].iloc[0])
    if not args.retrain_best:
        return summary

    # ## Retrain the best on train + validation, evaluate on test
    if not len(completed):
        raise ValueError("No completed trial to retrain: run the search first.")
    best = tuner.oracle.get_trial(summary["best_trial_id"])
    # The best epoch of its trial; for a Hyperband trial that continued another
    # one's weights, counted from the start of the first (results_table).
    best_epoch = float(completed["best_epoch"].iloc[0])
    epochs = int(best_epoch) if best_epoch > 0 else int(best.best_step or 0) + 1  # not NaN
    keras.backend.clear_session()
    model = hypermodel.build(best.hyperparameters)
    x = tuning.concatenate(data.train[0], data.validation[0])
    y = tuning.concatenate(data.train[1], data.validation[1])
    history = hypermodel.fit(
        best.hyperparameters, model, x, y, epochs=epochs, verbose=verbose
    )
    results = model.evaluate(*data.test, return_dict=True, verbose=0)
    summary.update({f"test_{name}": float(value) for name, value in results.items()})
    summary["retrain_epochs"] = epochs
    print("Test:", runs.format_metrics(results))
    artifacts.save_model(model, project_dir / BEST_MODEL)
    if data.task != "similarity":
        # run.json (task, class names, schema) and the preprocessing, as `Run.save`
        # records it: for --csv `preprocessing.keras`, for --sequences their fitted
        # statistics; `python -m recipes.predict <directory>/<project> --csv new.csv`
        # (or `--sequences new.ts`) applies it.
        from recipes.common.data import features

        runs.update_run_info(
            project_dir, recipe="tune", model=args.model, model_file=BEST_MODEL,
            flags=runs.recorded_flags(args), seed=args.seed, backend=backend,
            versions=runs.versions(), task=data.task,
            class_names=list(data.source.class_names), images=None,
            sequences=data.source.sequences,
            **features.save_preprocessing(project_dir, data.source),
        )
        features.save_inference_model(project_dir, model, runs.run_info(project_dir))
    artifacts.write_csv(project_dir / "best_history.csv", history_frame(history))
    artifacts.write_json(
        project_dir / "best_metrics.json",
        {**summary, "hyperparameters": {  # not Hyperband's schedule (results.csv has it)
            name: value for name, value in best.hyperparameters.values.items()
            if not name.startswith("tuner/")}},
    )
    return summary


if __name__ == "__main__":
    flags.run(main)
