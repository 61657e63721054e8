"""The model zoo: builders behind one registry.

>>> import zoo
>>> zoo.list_models()
>>> model = zoo.build("mlp", input_shape=(64,), num_outputs=10)

Every builder returns an uncompiled functional `keras.Model` with named
layers, uses `keras.ops` only (any Keras 3 backend), and saves to a `.keras`
file that loads with `safe_mode=True`.
"""

# Importing a family module registers its models.
from zoo import autoencoder, cnn, gmlp, mlp, recurrent, siamese, vae  # noqa: F401
from zoo._registry import ModelSpec, build, get_spec, list_models, register
from zoo.mlp import build_mlp

__all__ = [
    "ModelSpec",
    "build",
    "build_mlp",
    "get_spec",
    "list_models",
    "register",
]
