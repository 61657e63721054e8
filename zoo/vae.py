"""Variational autoencoder (VAE) with dense or convolutional encoder.

The encoder maps a sample `x` to the mean and log-variance of a diagonal
Gaussian posterior `q(z|x)`; the `Sampling` layer draws
`z = mean + exp(log_var / 2) * eps`, `eps ~ N(0, I)` (the
reparameterisation trick); the decoder maps `z` back to the input space.

Training minimises the negative evidence lower bound (ELBO),

    -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)),

with the KL term in closed form for a diagonal Gaussian,

    KL = -0.5 * sum_j (1 + log_var_j - mean_j**2 - exp(log_var_j)).

The `KLDivergence` layer adds `kl_weight * KL` (averaged over the batch)
with `add_loss`, so `model.fit(x, x)` with a reconstruction loss trains the
whole objective. For the exact negative ELBO of a Bernoulli decoder (pixels
in [0, 1]) compile with `ReconstructionLoss("bernoulli")`: binary
cross-entropy *summed* over the features of a sample. Keras'
`"binary_crossentropy"` averages over them instead, which divides the
reconstruction term by the number of features and lets the KL term
dominate (blurry samples, "posterior collapse").

The model is a `VAE`: a functional `keras.Model` that also reports
`reconstruction_loss` and `kl_loss` (the KL in nats, before `kl_weight`)
next to `loss` in `fit()` history and `evaluate()`, on every backend.

When `z` is sampled:

- in training (`fit()`) and in evaluation (`evaluate()` and the validation
  in `fit()`: the `VAE`'s test step), always, so `loss` and `val_loss` are
  one-sample unbiased estimates of the objective,
  `reconstruction + kl_weight * KL` (the negative ELBO when `kl_weight=1`);
- in `predict()` and `model(x)`, only through a
  `Sampling(sample_at_inference=True)` layer (`build_vae` keeps the
  default, `False`): otherwise they decode the posterior mean, a
  deterministic reconstruction.

The figure to report is `negative_elbo(vae, x, num_samples=20)`: the
negative ELBO of each example, averaged over `num_samples` draws of `z`,
with its reconstruction and KL parts. `posterior_mean_reconstruction_loss`
is the reconstruction term at the posterior mean instead: not part of the
ELBO, neither an estimate of it nor a bound on the likelihood.

Reference:
    - Kingma & Welling, 2014, "Auto-Encoding Variational Bayes", ICLR.
    - Rezende, Mohamed & Wierstra, 2014, "Stochastic Backpropagation and
      Approximate Inference in Deep Generative Models", ICML.
    - Higgins et al., 2017, "beta-VAE: Learning Basic Visual Concepts with
      a Constrained Variational Framework", ICLR (`kl_weight` != 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from zoo import _common
from zoo._registry import register
from zoo._trunks import OUTPUT_ACTIVATIONS
from zoo._trunks import check_strides_divide as _check_strides_divide
from zoo._trunks import conv_decoder_trunk as _conv_decoder_trunk
from zoo._trunks import conv_encoder_trunk as _conv_encoder_trunk
from zoo._trunks import dense_decoder_output as _dense_decoder_output
from zoo._trunks import dense_stack as _dense_stack

DISTRIBUTIONS = ("bernoulli", "gaussian")


@keras.saving.register_keras_serializable(package="zoo")
class Sampling(layers.Layer):
    """Draws `z ~ N(mean, exp(log_var))`; at inference, `mean` unless asked.

    Uses the reparameterisation `z = mean + exp(log_var / 2) * eps` with
    `eps ~ N(0, I)` from `keras.random.normal` and a `SeedGenerator`, so the
    gradient flows through `mean` and `log_var`.

    It samples when called with `training=True` (`fit()`), inside a `VAE`'s
    test step (`evaluate()`, validation in `fit()`) whatever
    `sample_at_inference` says, and otherwise only if `sample_at_inference`;
    else it returns `z_mean`, so `predict()` decodes the posterior mean.

    Args:
        seed: `None` or an int, for reproducible samples.
        sample_at_inference: whether calls with `training=False` (such as
            `predict()`) sample too; `False` (the default) returns `z_mean`.
        **kwargs: base `Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a pair `[z_mean, z_log_var]` of tensors of the same shape.
        training: `True` to sample; otherwise see above.

    Example:

    >>> import numpy as np
    >>> layer = Sampling(seed=0)
    >>> z_mean, z_log_var = np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")
    >>> keras.ops.convert_to_numpy(layer([z_mean, z_log_var]))
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    >>> tuple(layer([z_mean, z_log_var], training=True).shape)
    (2, 3)
    """

    def __init__(
        self, seed: int | None = None, sample_at_inference: bool = False, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.seed = _common.check_seed("seed", seed)
        self.sample_at_inference = _common.check_bool(
            "sample_at_inference", sample_at_inference
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # Set by `VAE.test_step` while it traces or runs: evaluation samples.
        self._in_evaluation = False
        self._build_at_init()

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        if not (training or self.sample_at_inference or self._in_evaluation):
            return z_mean
        epsilon = keras.random.normal(
            ops.shape(z_mean), dtype=self.compute_dtype, seed=self.seed_generator
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "seed": self.seed,
            "sample_at_inference": self.sample_at_inference,
        }


def kl_divergence(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var)) || N(0, I)) per sample, in nats.

    The closed form for a diagonal Gaussian, summed over the last axis:
    `-0.5 * sum(1 + log_var - mean**2 - exp(log_var))`.
    """
    return -0.5 * ops.sum(
        1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1
    )


@keras.saving.register_keras_serializable(package="zoo")
class KLDivergence(layers.Layer):
    """Adds the VAE's KL term as a loss and passes its inputs through.

    On each call it adds `kl_weight * mean_over_batch(kl_divergence(...))`
    with `add_loss` (so `fit` minimises it next to the compiled loss) and
    keeps the unweighted batch value in the non-trainable weight
    `last_kl_divergence`, which `VAE` reports as the `kl_loss` metric.

    Args:
        kl_weight: weight of the KL term; 1 gives the ELBO, other values a
            beta-VAE (Higgins et al. 2017).
        **kwargs: base `Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a pair `[z_mean, z_log_var]`.

    Returns:
        The same pair, unchanged.
    """

    def __init__(self, kl_weight: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.kl_weight = _common.check_non_negative_float("kl_weight", kl_weight)
        self.last_kl_divergence = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            dtype="float32",
            name="last_kl_divergence",
        )
        self._build_at_init()

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = ops.mean(
            kl_divergence(ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32"))
        )
        self.add_loss(self.kl_weight * kl)
        self.last_kl_divergence.assign(kl)
        return z_mean, z_log_var

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "kl_weight": self.kl_weight}


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model):
    """A functional model that reports the two parts of the VAE loss.

    Built like any functional model, `VAE(inputs, outputs, name=...)`; adds
    two metrics, `reconstruction_loss` (the total loss minus the weighted
    KL term: the compiled loss) and `kl_loss` (the KL divergence in nats,
    before `kl_weight`), updated in `compute_loss` so they work on the
    TensorFlow and JAX backends alike (a metric updated inside a layer's
    `call()` is lost in JAX's stateless training step: keras-team/keras
    issue #21639).

    Its test step (`evaluate()`, and the validation in `fit()`) samples `z`
    in every `Sampling` layer, as training does, so `loss` / `val_loss` is
    a one-sample unbiased estimate of `reconstruction + kl_weight * KL`
    (the negative ELBO when `kl_weight=1`), not the loss of the posterior
    mean; `predict()` still decodes the mean (see `Sampling`). For a figure
    to report, average over draws with `negative_elbo`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def _kl_layers(self):
        return [layer for layer in self.layers if isinstance(layer, KLDivergence)]

    def test_step(self, *args: Any, **kwargs: Any):
        # The flag is read while the step is traced (TensorFlow, JAX) or run
        # (eager), so the test function samples and `predict()` does not.
        sampling = [layer for layer in self._flatten_layers() if isinstance(layer, Sampling)]
        for layer in sampling:
            layer._in_evaluation = True
        try:
            return super().test_step(*args, **kwargs)
        finally:
            for layer in sampling:
                layer._in_evaluation = False

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        total = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        weighted_kl = ops.zeros((), dtype="float32")
        kl = ops.zeros((), dtype="float32")
        for layer in self._kl_layers():
            value = ops.convert_to_tensor(layer.last_kl_divergence)
            kl = kl + value
            weighted_kl = weighted_kl + layer.kl_weight * value
        # Weight by batch size, as Keras weights `loss`, so that on a short
        # last batch loss == reconstruction_loss + kl_weight * kl_loss still.
        batch_size = ops.cast(ops.shape(keras.tree.flatten(x)[0])[0], "float32")
        self.kl_tracker.update_state(kl, sample_weight=batch_size)
        self.reconstruction_tracker.update_state(
            ops.cast(total, "float32") - weighted_kl, sample_weight=batch_size
        )
        return total


@keras.saving.register_keras_serializable(package="zoo")
class ReconstructionLoss(keras.losses.Loss):
    """Negative log-likelihood of the data under the decoder, per sample.

    Summed over all the features of a sample (not averaged), then averaged
    over the batch, so that with the `KLDivergence` term (`kl_weight=1`)
    the total loss is the negative ELBO per sample.

    Args:
        distribution: `"bernoulli"` (binary cross-entropy; data and outputs
            in [0, 1], sigmoid output) or `"gaussian"` (half the squared
            error: a unit-variance Gaussian, up to a constant; linear
            output).
        name: loss name.
        **kwargs: base `Loss` arguments (`reduction`, `dtype`).

    Example:

    >>> import numpy as np
    >>> y_true = np.array([[0.0, 1.0, 1.0]], "float32")
    >>> y_pred = np.array([[0.5, 0.5, 0.5]], "float32")
    >>> round(float(ReconstructionLoss("bernoulli")(y_true, y_pred)), 4)  # 3 * log 2
    2.0794
    >>> round(float(ReconstructionLoss("gaussian")(y_true, y_pred)), 4)  # 3 * 0.5 * 0.25
    0.375

    Compile a VAE with it: `model.compile("adam", loss=ReconstructionLoss())`
    (see `build_vae`).
    """

    def __init__(
        self, distribution: str = "bernoulli", name: str = "reconstruction", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.distribution = _common.check_choice(
            "distribution", distribution, DISTRIBUTIONS
        )

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        batch = ops.shape(y_pred)[0]
        y_true = ops.reshape(y_true, (batch, -1))
        y_pred = ops.reshape(y_pred, (batch, -1))
        if self.distribution == "bernoulli":
            per_feature = ops.binary_crossentropy(y_true, y_pred)
        else:
            per_feature = 0.5 * ops.square(y_true - y_pred)
        return ops.sum(per_feature, axis=-1)

    def get_config(self):
        return {**super().get_config(), "distribution": self.distribution}


def build_vae(
    input_shape: int | Sequence[int],
    *,
    latent_dim: int = 2,
    hidden_units: int | Sequence[int] = (256, 128),
    conv_filters: int | Sequence[int] | None = None,
    kernel_size: int = 3,
    strides: int = 2,
    activation: str = "relu",
    batch_norm: str | None = None,
    dropout_rate: float = 0.0,
    kernel_initializer: str | keras.initializers.Initializer | None = None,
    output_activation: str | None = "sigmoid",
    kl_weight: float = 1.0,
    seed: int | None = None,
    name: str = "vae",
) -> keras.Model:
    """Builds a variational autoencoder.

    The encoder (dense, or strided `Conv2D` stages then dense when
    `conv_filters` is given) outputs `[z_mean, z_log_var]`; a
    `KLDivergence` layer adds the KL term to the model's losses; a
    `Sampling` layer draws `z` (in `fit()` and `evaluate()`) or passes
    `z_mean` (in `predict()`);
    the decoder mirrors the encoder (`Conv2DTranspose` stages for the
    convolutional variant) and returns a tensor shaped like the input.

    Train with `model.fit(x, x)`: the loss is the compiled reconstruction
    loss plus `kl_weight` times the KL term. `ReconstructionLoss("bernoulli")`
    (with `output_activation="sigmoid"`, data in [0, 1]) makes it exactly
    the negative ELBO per sample; `ReconstructionLoss("gaussian")` with
    `output_activation="linear"` suits standardised data. The history also
    holds `reconstruction_loss` and `kl_loss` (see `VAE`). `loss` and
    `val_loss` are one-sample estimates; report `negative_elbo(model, x)`,
    averaged over several draws.

    Args:
        input_shape: shape of one sample: `(features,)`, or
            `(height, width, channels)` for images (required with
            `conv_filters`; a dense VAE flattens images).
        latent_dim: size of `z`.
        hidden_units: widths of the encoder's dense layers (after the
            convolutions, if any); the decoder uses them in reverse. May be
            `()`.
        conv_filters: `None` for a dense encoder, or the channels of each
            strided convolution stage, e.g. `(32, 64)`. Image sides must be
            divisible by `strides ** len(conv_filters)`.
        kernel_size: side of the square convolution kernels.
        strides: downsampling factor of each convolution stage.
        activation: one of `"relu"`, `"leaky_relu"`, `"elu"`, `"selu"`,
            `"gelu"`, `"swish"`, `"mish"`.
        batch_norm: `None`, `"before"` or `"after"` the activation.
        dropout_rate: dropout after each hidden layer, in [0, 1).
        kernel_initializer: initializer for the hidden layers; by default
            one that suits the activation.
        output_activation: `"sigmoid"` for data in [0, 1] (Bernoulli
            decoder), `"tanh"` for [-1, 1], `"linear"` (or `None`) for
            standardised data (Gaussian decoder).
        kl_weight: weight of the KL term, >= 0; 1 for the ELBO, > 1 for a
            beta-VAE.
        seed: `None` or an int, for reproducible sampling (the `Sampling`
            layer's seed).
        name: model name.

    Returns:
        An uncompiled `VAE` (a functional `keras.Model`) with sub-models
        `get_layer("encoder")` (x -> `[z_mean, z_log_var]`) and
        `get_layer("decoder")` (z -> reconstruction; feed it
        `N(0, I)` draws to generate new samples).

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype("float32")
    >>> model = build_vae((8, 8, 1), latent_dim=2, hidden_units=(16,), seed=0)
    >>> model.compile("adam", loss=ReconstructionLoss("bernoulli"))
    >>> history = model.fit(x, x, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['kl_loss', 'loss', 'reconstruction_loss']
    >>> z = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
    >>> model.get_layer("decoder").predict(z, verbose=0).shape  # new samples
    (16, 8, 8, 1)
    >>> negative_elbo(model, x, num_samples=5, seed=0)["negative_elbo"].shape
    (32,)

    Add `conv_filters=(32, 64)` for a convolutional encoder and decoder.

    Reference:
        - Kingma & Welling, 2014, "Auto-Encoding Variational Bayes", ICLR.
    """
    convolutional = conv_filters is not None
    if convolutional:
        input_shape = _common.check_input_shape(
            input_shape, rank=3, what="(height, width, channels) for `conv_filters`"
        )
        conv_filters = _common.check_units("conv_filters", conv_filters)
    else:
        input_shape = _common.check_input_shape(input_shape)
    latent_dim = _common.check_positive_int("latent_dim", latent_dim)
    hidden_units = _common.check_units("hidden_units", hidden_units, allow_empty=True)
    kernel_size = _common.check_positive_int("kernel_size", kernel_size)
    strides = _common.check_positive_int("strides", strides)
    activation = _common.check_activation("activation", activation)
    _common.check_choice("batch_norm", batch_norm, _common.BATCH_NORM_PLACEMENTS)
    dropout_rate = _common.check_rate("dropout_rate", dropout_rate)
    _common.check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    kl_weight = _common.check_non_negative_float("kl_weight", kl_weight)
    seed = _common.check_seed("seed", seed)
    if convolutional:
        _check_strides_divide(input_shape, strides, len(conv_filters), "conv_filters")
    if kernel_initializer is None:
        kernel_initializer = _common.default_initializer(activation)
    block_kwargs = dict(
        activation=activation,
        batch_norm=batch_norm,
        dropout_rate=dropout_rate,
        kernel_initializer=kernel_initializer,
    )
    conv_kwargs = dict(kernel_size=kernel_size, strides=strides, **block_kwargs)

    # Encoder: x -> [z_mean, z_log_var].
    encoder_inputs = keras.Input(shape=input_shape, name="encoder_input")
    x = encoder_inputs
    if convolutional:
        x = _conv_encoder_trunk(x, conv_filters, prefix="encoder", **conv_kwargs)
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    x = _dense_stack(x, hidden_units, prefix="encoder", **block_kwargs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    # Zero-initialised: the posterior starts at unit variance, a stable start.
    z_log_var = layers.Dense(
        latent_dim, kernel_initializer="zeros", name="z_log_var"
    )(x)
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var], name="encoder")

    # Decoder: z -> reconstruction shaped like x.
    decoder_inputs = keras.Input(shape=(latent_dim,), name="decoder_input")
    x = _dense_stack(
        decoder_inputs, tuple(reversed(hidden_units)), prefix="decoder", **block_kwargs
    )
    if convolutional:
        reconstruction = _conv_decoder_trunk(
            x,
            input_shape,
            conv_filters,
            output_activation=output_activation,
            prefix="decoder",
            **conv_kwargs,
        )
    else:
        reconstruction = _dense_decoder_output(x, input_shape, output_activation)
    decoder = keras.Model(decoder_inputs, reconstruction, name="decoder")

    inputs = keras.Input(
        shape=input_shape, name="images" if convolutional else "features"
    )
    z_mean, z_log_var = encoder(inputs)
    z_mean, z_log_var = KLDivergence(kl_weight, name="kl_divergence")(
        [z_mean, z_log_var]
    )
    z = Sampling(seed=seed, name="sampling")([z_mean, z_log_var])
    outputs = decoder(z)
    return VAE(inputs, outputs, name=name)


def _encoder_and_decoder(vae: Any) -> tuple[keras.Model, keras.Model]:
    try:
        return vae.get_layer("encoder"), vae.get_layer("decoder")
    except (AttributeError, ValueError):
        raise _common.invalid(
            "vae", "a model from `build_vae`, with sub-models `encoder` and `decoder`", vae
        ) from None


def negative_elbo(
    vae: keras.Model,
    x: Any,
    *,
    num_samples: int = 20,
    distribution: str = "bernoulli",
    seed: int | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Monte Carlo estimate of the negative ELBO of each example, in nats.

    `-ELBO(x) = E_q(z|x)[-log p(x|z)] + KL(q(z|x) || N(0, I))`: the KL term
    in closed form (`kl_divergence`), the expected reconstruction term
    averaged over `num_samples` draws `z = mean + exp(log_var / 2) * eps`.
    The estimate is unbiased, with a variance that falls as
    `1 / num_samples`; the negative ELBO itself is an upper bound on
    `-log p(x)`. The KL weight is 1 whatever `kl_weight` the model was
    trained with: for a beta-VAE this is the bound, not the training
    objective.

    The noise is drawn at once, `eps = keras.random.normal((num_samples,
    len(x), latent_dim), seed=seed)`, so an int `seed` gives the same
    estimate on every run.

    Args:
        vae: a model from `build_vae`, trained or not.
        x: the examples, an array shaped like the model's input.
        num_samples: draws of `z` per example, >= 1.
        distribution: the decoder's likelihood, as in `ReconstructionLoss`:
            `"bernoulli"` (sigmoid output, data in [0, 1]) or `"gaussian"`
            (unit variance, up to its constant).
        seed: `None` (the global Keras seed) or an int, for the draws.
        batch_size: examples per call to the decoder, which decodes all
            their draws at once: `num_samples * batch_size` rows.

    Returns:
        A dict of NumPy arrays, one value per example: `"negative_elbo"`,
        its parts `"reconstruction_loss"` (the sampled term) and `"kl_loss"`
        (closed form). Average them for a dataset's figures.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(8, 16)).astype("float32")
    >>> vae = build_vae((16,), latent_dim=2, hidden_units=(8,), seed=0)
    >>> parts = negative_elbo(vae, x, num_samples=5, seed=0)
    >>> parts["negative_elbo"].shape
    (8,)
    >>> total = parts["reconstruction_loss"] + parts["kl_loss"]
    >>> bool(np.allclose(parts["negative_elbo"], total))
    True

    Reference:
        - Kingma & Welling, 2014, "Auto-Encoding Variational Bayes", ICLR.
    """
    num_samples = _common.check_positive_int("num_samples", num_samples)
    distribution = _common.check_choice("distribution", distribution, DISTRIBUTIONS)
    seed = _common.check_seed("seed", seed)
    batch_size = _common.check_positive_int("batch_size", batch_size)
    encoder, decoder = _encoder_and_decoder(vae)
    z_mean, z_log_var = encoder.predict(x, batch_size=batch_size, verbose=0)
    z_mean = ops.cast(z_mean, "float32")
    z_log_var = ops.cast(z_log_var, "float32")
    num_examples, latent_dim = ops.shape(z_mean)
    x = ops.convert_to_tensor(x)
    repeat = (num_samples,) + (1,) * (len(ops.shape(x)) - 1)
    eps = keras.random.normal((num_samples, num_examples, latent_dim), seed=seed)
    z = ops.expand_dims(z_mean, 0) + ops.expand_dims(ops.exp(0.5 * z_log_var), 0) * eps
    per_example = ReconstructionLoss(distribution, reduction=None)
    reconstruction = []
    for start in range(0, num_examples, batch_size):
        stop = min(start + batch_size, num_examples)
        # All the draws of a batch of examples in one call to the decoder.
        draws = ops.reshape(z[:, start:stop], (num_samples * (stop - start), latent_dim))
        decoded = decoder.predict_on_batch(draws)
        targets = ops.tile(x[start:stop], repeat)
        losses = ops.reshape(per_example(targets, decoded), (num_samples, stop - start))
        reconstruction.append(ops.mean(ops.cast(losses, "float32"), axis=0))
    reconstruction = ops.concatenate(reconstruction, axis=0)
    kl = kl_divergence(z_mean, z_log_var)
    return {
        "negative_elbo": ops.convert_to_numpy(reconstruction + kl),
        "reconstruction_loss": ops.convert_to_numpy(reconstruction),
        "kl_loss": ops.convert_to_numpy(kl),
    }


def posterior_mean_reconstruction_loss(
    vae: keras.Model,
    x: Any,
    *,
    distribution: str = "bernoulli",
    batch_size: int = 256,
) -> Any:
    """Reconstruction loss of each example decoded from its posterior mean.

    `-log p(x | z = mean)`, in nats (summed over the features), for the
    deterministic reconstruction that `predict()` returns by default. It is
    not the ELBO's reconstruction term, `E_q(z|x)[-log p(x|z)]` (see
    `negative_elbo`), and it is no bound on the likelihood: report it under
    its own name, never as the negative ELBO.

    Args:
        vae: a model from `build_vae`.
        x: the examples, an array shaped like the model's input.
        distribution: `"bernoulli"` or `"gaussian"`, as in
            `ReconstructionLoss`.
        batch_size: examples per batch through the encoder and decoder.

    Returns:
        A NumPy array, one value per example.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(8, 16)).astype("float32")
    >>> vae = build_vae((16,), latent_dim=2, hidden_units=(8,), seed=0)
    >>> posterior_mean_reconstruction_loss(vae, x).shape
    (8,)
    """
    distribution = _common.check_choice("distribution", distribution, DISTRIBUTIONS)
    batch_size = _common.check_positive_int("batch_size", batch_size)
    encoder, decoder = _encoder_and_decoder(vae)
    z_mean, _ = encoder.predict(x, batch_size=batch_size, verbose=0)
    decoded = decoder.predict(z_mean, batch_size=batch_size, verbose=0)
    loss = ReconstructionLoss(distribution, reduction=None)(x, decoded)
    return ops.convert_to_numpy(ops.cast(loss, "float32"))


def search_space(hp, **fixed: Any) -> keras.Model:
    """keras-tuner search space for `build_vae`.

    Tunes the latent size, depth and width of the dense layers (halving
    layer by layer), activation and dropout; `fixed` (at least
    `input_shape`, and `conv_filters` for a convolutional encoder) passes
    through to the builder and is never tuned. `kl_weight` is not tuned: it
    changes the objective, so losses across trials would not compare.

    Example:

    >>> import keras_tuner
    >>> model = search_space(keras_tuner.HyperParameters(), input_shape=(64,))
    """
    kwargs = dict(fixed)
    if "latent_dim" not in kwargs:
        kwargs["latent_dim"] = hp.Int("latent_dim", 2, 32, sampling="log")
    if "hidden_units" not in kwargs:
        depth = hp.Int("num_layers", 1, 3)
        width = hp.Int("units", 32, 512, sampling="log")
        kwargs["hidden_units"] = tuple(max(width // 2**i, 8) for i in range(depth))
    if "activation" not in kwargs:
        kwargs["activation"] = hp.Choice("activation", ["relu", "gelu", "selu", "mish"])
    if "dropout_rate" not in kwargs:
        kwargs["dropout_rate"] = hp.Float("dropout_rate", 0.0, 0.3, step=0.1)
    return build_vae(**kwargs)


register(
    "vae",
    build_vae,
    description="Variational autoencoder, dense or convolutional encoder.",
    example={
        "input_shape": (8, 8, 1),
        "latent_dim": 2,
        "hidden_units": (8,),
        "seed": 0,
    },
    input_kind="image",
    task="reconstruction",
    search_space=search_space,
)
