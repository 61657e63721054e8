"""The plumbing the recipes share: a small public package, without cycles.

A recipe imports only these modules (and `zoo`, `callbacks`), so a copy of
one runs in your own folder once this project is installed (`pip install .`).
Nothing here imports TensorFlow or Keras at import time except `history`
and `data.table_layers`, which define Keras callbacks and layers and are
imported only when they are used.

The modules, each importing only those listed before it:

- `cluster`: training across processes (`--distribute` with the cluster in
  the environment): which cluster, joining it, which process writes, each
  process's slice of the data.
- `flags`: the parser and the flags every recipe shares (`parser`,
  `add_data_flags`, `add_sequence_flags`, `add_training_flags`, `add_distribute_flags`,
  `add_ensemble_flag`), argparse
  types, `refuse_unused` (flags that do not apply to the chosen model), and
  `run(main)`: one-line errors and exit status 2 on the command line.
- `artifacts`: atomic writes (`write_json`, `write_csv`, `save_model`,
  `save_figure`).
- `plots`: the figures a run leaves behind (`matplotlib.figure.Figure`s).
- `runtime`: the backend, seeds, devices, mixed precision, JAX's compile
  cache and `--distribute` (`setup`, `distributed`, `local_model`).
- `data`: `load_data(args)` (bundled data, `--csv`, `--images`,
  `--sequences`); `Dataset` and `ImageFolder`, which give `fit` and
  `evaluate` their batches (`splits`, `features`, `tables`, `sequences`,
  `image_files`, `images`, `bundled`).
- `history`: the callbacks that log `history.csv` and back a run up, and
  `--tensorboard`'s log (`TensorBoardLog`), continuous across resumes.
- `runs`: `Run`, one run's backend, folder, `run.json`, resume, callbacks
  and artifacts (`run.callbacks()`, `run.save(...)`).
- `training`: the model check, optimizer, `--schedule`, `--learning-rate
  auto` (`find_learning_rate`) and `--ensemble K` (`train_ensemble`).
- `evaluation`: test reports (`classifier`, `image_classifier` with
  test-time augmentation, `pixel_errors`, `feature_errors`).
- `backbones`: `keras.applications` networks for transfer learning.
- `predictors`: what `recipes.predict` applies a run's model with
  (`Predictor` for tables, `ImagePredictor`, `SequencePredictor`).
- `tuning`: `recipes.tune`'s data, roles, search and results.

A recipe reads:

```python
args = parser.parse_args(argv)
run = Run(args, "mlp", backend="jax")   # before Keras is imported
import keras, zoo
data = load_data(args)
with run.distributed():
    model = zoo.build("mlp", input_shape=data.input_shape, num_outputs=data.num_outputs)
    model.compile(optimizer=training.optimizer(args, args.learning_rate), loss=..., metrics=...)
train, validation = data.batches(args.batch_size, seed=args.seed)
history = model.fit(train, validation_data=validation, epochs=args.epochs,
                    callbacks=[..., *run.callbacks()], verbose=run.verbose)
results = model.evaluate(data.test_batches(), return_dict=True)
run.save(model=model, history=history, metrics=results, data=data)
```
"""
