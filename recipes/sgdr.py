"""SGDR: train with cosine annealing and warm restarts, and plot the schedule.

Shows SGDR (Loshchilov & Hutter 2017): the learning rate falls along a cosine
from `--max-lr` to `--min-lr` over a cycle, then jumps back up; each cycle is
`--cycle-mult` times longer than the last, and each peak can shrink by
`--max-lr-decay`. The rate is computed inside the compiled train step from
the optimizer's step counter (exact with `steps_per_execution`), and the
plot puts it beside the validation accuracy, restarts marked: each cycle
ends, at its lowest rate, with better accuracy (with `--model mlp` it also
visibly dips after each restart).

Run:
    python -m recipes.sgdr
    python -m recipes.sgdr --cycle-epochs 5 --cycle-mult 1 --epochs 30   # 6 equal cycles
    python -m recipes.sgdr --max-lr 0.1 --min-lr 1e-4 --max-lr-decay 0.7
    python -m recipes.sgdr --model mlp                                   # digits as 64 features
    python -m recipes.sgdr --model mlp --csv my_table.csv --target label

Expected on the bundled data (default flags, seed 0, TensorFlow, measured by
`python -m benchmarks.recipes`): CNN, 4 restart cycles; test accuracy 1.000,
~13 s in all.

Next steps: `python -m recipes.lr_finder` suggests a `--max-lr`;
`python -m recipes.snapshot_ensemble` saves a model at every cycle's end and
averages them.
"""

from __future__ import annotations

from recipes.common import cli

# How each zoo input kind sees the digits.


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = cli.parser(__doc__, epochs=30, batch_size=64, learning_rate=0.05)
    cli.add_data_flags(parser, ("digits",), images=True)
    # ## Hyperparameters
    flags = parser.add_argument_group("SGDR")
    flags.add_argument("--model", default="cnn", help="any zoo classifier (cnn, mlp, lstm...)")
    flags.add_argument("--max-lr", type=cli.positive_float,
                       help="peak rate of the first cycle (default: --learning-rate)")
    flags.add_argument("--min-lr", type=float, default=0.0, help="the rate cycles anneal to")
    flags.add_argument("--cycle-epochs", type=cli.positive_int, default=2,
                       help="length of the first cycle")
    flags.add_argument("--cycle-mult", type=cli.positive_int, default=2,
                       help="each cycle is this many times longer than the last")
    flags.add_argument("--max-lr-decay", type=float, default=1.0,
                       help="factor in (0, 1] applied to the peak at each restart")
    args = parser.parse_args(argv)
    cli.setup(args)

    import keras
    import numpy as np

    import callbacks
    import zoo
    from recipes.common import datasets, plots

    spec = cli.model_spec(args, task="classification", kind="classifier")

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
    # SGD with Nesterov momentum, as in the paper; SGDR replaces the rate
    # given here while fit() runs.
    model.compile(
        optimizer=keras.optimizers.SGD(momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=args.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    sgdr = callbacks.SGDR(
        args.max_lr or args.learning_rate,
        min_lr=args.min_lr,
        cycle_epochs=args.cycle_epochs,
        cycle_mult=args.cycle_mult,
        max_lr_decay=args.max_lr_decay,
    )
    # Backed up each epoch: after a crash, the same command resumes the run,
    # and the schedule continues from the restored optimizer step.
    out = cli.start_run(args, "sgdr")
    history = model.fit(
        **datasets.fit_inputs(data, batch_size=args.batch_size, seed=args.seed),
        epochs=args.epochs,
        callbacks=[sgdr, *cli.resumable_callbacks(out)],
        verbose=cli.verbose(args),
    )

    # ## Evaluate
    results = model.evaluate(data.x_test, data.y_test, return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["cycles_completed"] = len(sgdr.cycle_ends)
    print(f"Cycles end after epochs {sgdr.cycle_ends}; test:",
          cli.format_metrics(results))
    # The rate at every training step (T_cur advances every batch) and the
    # validation accuracy at every epoch's end.
    steps_per_epoch = int(np.ceil(len(data.x_train) / args.batch_size))
    step_epochs = np.arange(args.epochs * steps_per_epoch) / steps_per_epoch
    figure = plots.learning_rate_and_metric(
        step_epochs,
        [sgdr.learning_rate_at(epoch) for epoch in step_epochs],
        np.arange(1, len(history.history["loss"]) + 1),
        history.history["val_accuracy"],
        metric="validation accuracy",
        restarts=[end for end in sgdr.cycle_ends if end < args.epochs],
    )
    return cli.save_artifacts(out, model=model, history=history, metrics=metrics,
                               figures={"learning_rate": figure})


if __name__ == "__main__":
    cli.run(main)
