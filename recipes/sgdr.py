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

README's recipe table gives the restart cycles, the accuracy and the time of
the default run.

Next steps: `python -m recipes.lr_finder` suggests a `--max-lr`;
`python -m recipes.snapshot_ensemble` saves a model at every cycle's end and
averages them.
"""

from __future__ import annotations

from recipes.common import flags, training
from recipes.common.data import load_data, view_for
from recipes.common.runs import Run


def main(argv: list[str] | None = None) -> dict:
    # ## Setup
    parser = flags.parser(__doc__, epochs=30, batch_size=64, learning_rate=0.05)
    flags.add_data_flags(parser, ("digits",), images=True)

    # ## Hyperparameters
    sgdr_flags = parser.add_argument_group("SGDR")
    sgdr_flags.add_argument("--model", default="cnn",
                            help="any zoo classifier (cnn, mlp, lstm...)")
    sgdr_flags.add_argument("--max-lr", type=flags.positive_float,
                            help="peak rate of the first cycle (default: --learning-rate)")
    sgdr_flags.add_argument("--min-lr", type=float, default=0.0,
                            help="the rate cycles anneal to")
    sgdr_flags.add_argument("--cycle-epochs", type=flags.positive_int, default=2,
                            help="length of the first cycle")
    sgdr_flags.add_argument("--cycle-mult", type=flags.positive_int, default=2,
                            help="each cycle is this many times longer than the last")
    sgdr_flags.add_argument("--max-lr-decay", type=float, default=1.0,
                            help="factor in (0, 1] applied to the peak at each restart")
    args = parser.parse_args(argv)
    # Keras' default backend (TensorFlow) unless --backend or $KERAS_BACKEND.
    run = Run(args, "sgdr")

    import keras
    import numpy as np

    import callbacks
    import zoo
    from recipes.common import plots

    spec = training.model_spec(args, task="classification", kind="classifier")
    # The schedule, its arguments checked before any data is loaded.
    sgdr = callbacks.SGDR(
        args.max_lr or args.learning_rate,
        min_lr=args.min_lr,
        cycle_epochs=args.cycle_epochs,
        cycle_mult=args.cycle_mult,
        max_lr_decay=args.max_lr_decay,
    )

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
    # SGD with Nesterov momentum, as in the paper; SGDR replaces the rate
    # given here while fit() runs.
    model.compile(
        optimizer=keras.optimizers.SGD(momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=run.steps_per_execution,
    )
    if not args.quiet:
        model.summary()

    # ## Train
    # SGDR, then the history log and the backup that lets the same command
    # resume an interrupted run (the schedule continues from the restored
    # optimizer step).
    train, validation = data.batches(args.batch_size, seed=args.seed)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[sgdr, *run.callbacks()],
        verbose=run.verbose,
    )

    # ## Evaluate
    results = model.evaluate(data.test_batches(), return_dict=True, verbose=0)
    metrics = {f"test_{name}": value for name, value in results.items()}
    metrics["cycles_completed"] = len(sgdr.cycle_ends)
    print(f"Cycles end after epochs {sgdr.cycle_ends}")
    # The rate at every training step (T_cur advances every batch) and the
    # validation accuracy at every epoch's end.
    steps_per_epoch = len(train)
    step_epochs = np.arange(args.epochs * steps_per_epoch) / steps_per_epoch
    figure = plots.learning_rate_and_metric(
        step_epochs,
        [sgdr.learning_rate_at(epoch) for epoch in step_epochs],
        np.arange(1, len(history.history["loss"]) + 1),
        history.history["val_accuracy"],
        metric="validation accuracy",
        restarts=[end for end in sgdr.cycle_ends if end < args.epochs],
    )
    return run.save(model=model, history=history, metrics=metrics,
                    figures={"learning_rate": figure}, data=data)


if __name__ == "__main__":
    flags.run(main)
