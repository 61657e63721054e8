"""The plumbing the recipes share: a small public API, stable across releases.

A recipe imports only these modules (and `zoo`, `callbacks`), so a copy of
one runs in your own folder once this project is installed (`pip install .`).
Nothing here imports TensorFlow or Keras at import time (except
`table_layers`, which defines Keras layers and is imported only to load or
build `inference.keras`).

- `recipes.common.cli`: the shared flags (`parser`, `add_data_flags`,
  `add_training_flags` with `optimizer` and `schedule_callbacks` for
  `--schedule` and `--ema`),
  `add_ensemble_flag` / `train_ensemble` (`--ensemble K`), `distributed`
  (`--distribute`), `find_learning_rate` (`--learning-rate auto`),
  `penalties` (`--l1`, `--l2`),
  `setup` (backend, seeds; Keras through `import_keras`), `model_spec` /
  `check_model` (the `--model` check), `load_data` (bundled data, `--csv`,
  `--images`), `start_run` and `resumable_callbacks` (resume), `output_dir`,
  `save_artifacts` (model, history, metrics, plots, atomically), `run`
  (one-line errors, exit status 2; a finished program leaves by `exit_now`).
- `recipes.common.datasets`: `Dataset`, `load_dataset`, `load_digits`,
  `load_csv`, `load_table`, `load_series`, `load_image_folder`, `split`,
  `view_for`, `fit_inputs` (with `full_batches_dataset` under JAX),
  `evaluation_inputs`, `evaluation_images` (arrays or a streamed image
  folder alike), `EVALUATION_BATCH_SIZE`.
- `recipes.common.images`: image folders streamed from disk (`load_folder`,
  `ImageFolder`, `file_dataset`: a checked listing, a seeded stratified
  split, `tf.data` batches), `with_preprocessing` (resizing and scaling
  inside the model), `save` (for `recipes.predict --images`), and
  test-time augmentation (`predict(model, x, tta=N)`).
- `recipes.common.backbones`: `keras.applications` networks for transfer
  learning (`build`, `check`, `set_fine_tuning`).
- `recipes.common.tables`: a CSV table's preprocessing, fitted on its
  training rows with `keras.utils.FeatureSpace` (schema, missing values,
  unseen categories; `save` keeps it beside the model for `recipes.predict`;
  on TensorFlow `save_inference_model` writes `inference.keras`, raw columns
  in, with the gap-filling layers of `recipes.common.table_layers`).
- `recipes.common.artifacts`: atomic writes (`write_json`, `write_csv`,
  `save_model`, `save_figure`).
- `recipes.common.plots`: the figures the recipes leave behind
  (`matplotlib.figure.Figure`s made by `subplots`, no pyplot).
- `recipes.common.evaluation`: an image classifier's test metrics and
  figures (`image_classifier`, with test-time augmentation), reconstruction
  errors (`pixel_errors`, `feature_errors`).
- `recipes.common.tuning`: `recipes.tune`'s data, roles, search and results.
"""
