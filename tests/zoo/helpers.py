"""Random inputs and targets that fit any model's signature."""

import numpy as np


def random_inputs(model, batch_size=8, seed=0):
    """Uniform [0, 1) floats (small ints for integer inputs) for every input."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = (batch_size,) + tuple(tensor.shape[1:])
        if "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, 2, size=shape).astype(str(tensor.dtype)))
        else:
            arrays.append(rng.uniform(size=shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def random_targets(model, batch_size=8, seed=1):
    """Uniform [0, 1) targets shaped like every output, for a mean squared error."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.uniform(size=(batch_size,) + tuple(tensor.shape[1:])).astype("float32")
        for tensor in model.outputs
    ]
    return arrays[0] if len(arrays) == 1 else arrays
