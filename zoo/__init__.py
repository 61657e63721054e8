"""The model zoo: builders behind one registry.

>>> import zoo
>>> zoo.list_models("gmlp*")
['gmlp', 'gmlp_base', 'gmlp_small', 'gmlp_tiny']
>>> model = zoo.build("mlp", input_shape=(64,), num_outputs=10)
>>> model.output.shape
(None, 10)
>>> zoo.get_spec("mlp").task
'classification'

Every builder returns an uncompiled functional `keras.Model` with named
layers, uses `keras.ops` only (any Keras 3 backend), and saves to a `.keras`
file that loads with `safe_mode=True`. Importing a family module registers
its models.
"""

from zoo._common import regularize
from zoo._registry import ModelSpec, build, get_spec, list_models, register
from zoo.autoencoder import (
    Corruption,
    build_autoencoder,
    build_conv_autoencoder,
    build_denoising_autoencoder,
)
from zoo.cnn import ImageAugmentation, build_cnn
from zoo.conv1d import (
    MaskedConv1D,
    MaskedMaxPooling1D,
    build_fcn1d,
    build_inception_time,
    build_resnet1d,
)
from zoo.flops import count_flops
from zoo.gmlp import SpatialGatingUnit, StochasticDepth, build_gmlp
from zoo.mlp import build_mlp
from zoo.recurrent import build_rnn
from zoo.siamese import (
    PairDistance,
    build_siamese,
    contrastive_loss,
    make_pairs,
    triplet_loss,
)
from zoo.vae import VAE, KLDivergence, ReconstructionLoss, Sampling, build_vae

__all__ = [
    "VAE",
    "Corruption",
    "ImageAugmentation",
    "KLDivergence",
    "MaskedConv1D",
    "MaskedMaxPooling1D",
    "ModelSpec",
    "PairDistance",
    "ReconstructionLoss",
    "Sampling",
    "SpatialGatingUnit",
    "StochasticDepth",
    "build",
    "regularize",
    "build_autoencoder",
    "build_cnn",
    "build_conv_autoencoder",
    "build_denoising_autoencoder",
    "build_fcn1d",
    "build_gmlp",
    "build_inception_time",
    "build_mlp",
    "build_resnet1d",
    "build_rnn",
    "build_siamese",
    "build_vae",
    "contrastive_loss",
    "count_flops",
    "get_spec",
    "list_models",
    "make_pairs",
    "register",
    "triplet_loss",
]
