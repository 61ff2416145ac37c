"""Helpers the tests share: tolerance checks, covering arrays, the layer variants, random inputs,
states and parameters (one randomiser for every framework), a toy task, and the references the
tests compare against (the linear-recurrence loop, a loss that reaches every output)."""

import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxrnn

# The torch-shaped layers, 4 inputs and 6 units, one for each option that changes the math; call
# with the options a test varies (num_layers, bidirectional, engine, ...).
LAYER_VARIANTS = {
    "rnn_tanh": lambda **kw: jaxrnn.RNN(4, 6, **kw),
    "rnn_relu_single_bias": lambda **kw: jaxrnn.RNN(4, 6, nonlinearity="relu", double_bias=False, **kw),
    "lstm": lambda **kw: jaxrnn.LSTM(4, 6, **kw),
    "lstm_proj": lambda **kw: jaxrnn.LSTM(4, 6, proj_size=3, **kw),
    "lstm_no_bias": lambda **kw: jaxrnn.LSTM(4, 6, bias=False, **kw),
    "lstm_single_bias": lambda **kw: jaxrnn.LSTM(4, 6, double_bias=False, **kw),
    "gru": lambda **kw: jaxrnn.GRU(4, 6, **kw),
    "gru_reset_before": lambda **kw: jaxrnn.GRU(4, 6, reset_after=False, **kw),
    "gru_reset_before_single_bias": lambda **kw: jaxrnn.GRU(4, 6, reset_after=False, double_bias=False, **kw),
    "gru_b_hn": lambda **kw: jaxrnn.GRU(4, 6, double_bias=False, **kw),
    "gru_no_bias": lambda **kw: jaxrnn.GRU(4, 6, bias=False, **kw),
}
# One variant of each recurrence: Elman, LSTM without and with a projection, GRU with the reset
# gate applied after and before the matmul.
LAYER_FAMILIES = ("rnn_tanh", "lstm", "lstm_proj", "gru", "gru_reset_before")


def close(a, b, tol, rtol=None):
    """Asserts two pytrees of arrays are equal within ``tol`` (absolute; relative too unless
    ``rtol`` says otherwise)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=tol if rtol is None else rtol, atol=tol)


def pairwise(**factors) -> list[dict]:
    """A small covering array over ``factors`` (name -> values): every value of every factor and
    every pair of values of two factors appears in at least one case. Greedy and deterministic.

    Examples:
      >>> len(pairwise(a=(1, 2, 3), b=(0, 1), c=(0, 1)))
      6
    """
    names = list(factors)
    uncovered = {((f, u), (g, v)) for f, g in itertools.combinations(names, 2)
                 for u in factors[f] for v in factors[g]}
    cases = []
    while uncovered:
        (f, u), (g, v) = min(uncovered, key=lambda p: (names.index(p[0][0]), names.index(p[1][0]),
                                                         factors[p[0][0]].index(p[0][1]),
                                                         factors[p[1][0]].index(p[1][1])))
        case = {f: u, g: v}
        for name in names:
            if name not in case:
                case[name] = max(factors[name], key=lambda val: sum(
                    ((a, case[a]), (name, val)) in uncovered if names.index(a) < names.index(name)
                    else ((name, val), (a, case[a])) in uncovered for a in case))
        uncovered -= {((a, case[a]), (b, case[b])) for a, b in itertools.combinations(names, 2)}
        cases.append(case)
    return cases


def case_id(case: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in case.items())


def layer_input(layer, batch, steps, key, dtype=jnp.float32):
    """A random input for ``layer`` in its layout (``(B, T, I)`` if batch_first)."""
    shape = (batch, steps, layer.input_size) if layer.batch_first else (steps, batch, layer.input_size)
    return jax.random.normal(key, shape, dtype)


def valid_steps(lengths, steps, batch_first=True):
    """The mask of each row's valid steps, its first ``lengths[b]``: a bool ``(B, T)`` numpy array,
    ``(T, B)`` unless ``batch_first``."""
    mask = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
    return mask if batch_first else mask.T


def random_carry(cell, key, scale=1.0):
    """A random carry for ``cell``, shaped like its ``initial_carry()``: N(0, scale^2) entries."""
    leaves, tree = jax.tree.flatten(cell.initial_carry())
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [scale * jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves)])


def random_hx(layer, batch, key):
    """A random torch-shaped ``hx`` for ``layer`` (``(h_0, c_0)`` for an LSTM)."""
    ld = layer.num_layers * layer.num_directions
    k1, k2 = jax.random.split(key)
    h = jax.random.normal(k1, (ld, batch, layer.cell().output_size))
    if layer.cell().__class__.__name__ == "LSTMCell":
        return h, jax.random.normal(k2, (ld, batch, layer.hidden_size))
    return h


def every_output_loss(*outputs):
    """A scalar that moves with every leaf of ``outputs`` (each through a phase of its own), so its
    gradients run back from every output; complex leaves count by their real part."""
    leaves = jax.tree.leaves(outputs)
    return sum(jnp.sum(jnp.sin(jnp.real(a).astype(jnp.float32) + 0.1 * i)) for i, a in enumerate(leaves))


def outputs_and_grads(layer, params, x, hx, lengths, key=None):
    """Jitted ``((out, state), d loss / d (params, x, hx))`` for ``every_output_loss``."""
    def loss(params, x, hx):
        out, state = layer.apply(params, x, hx, seq_lengths=lengths, key=key)
        return every_output_loss(out, state), (out, state)

    (_, outputs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, x, hx)
    return outputs, grads


def summing_task(steps, size, *, batch=32, scale=1.0, seed=9):
    """A toy regression batch for training loops: ``x (batch, steps, size)`` standard normal and
    ``y (batch,)`` the sum over time of its first feature, times ``scale``."""
    x = jax.random.normal(jax.random.key(seed), (batch, steps, size))
    return x, x[:, :, 0].sum(axis=1) * scale


def randomized(params, seed=0, scale=0.6):
    """``params`` with every array redrawn from U(-scale, scale): same structure, shapes, dtypes
    and kind of array (jax or numpy), so biases are clearly non-zero and weights lie beyond a
    framework's initial range. ``params`` is any pytree of arrays: a cell's or layer's params,
    Flax variables, NNX state, a list of Keras weights; a torch module goes through
    ``randomize_torch``.

    Examples:
      >>> new = randomized({"w": np.zeros((2, 3), np.float32)}, scale=0.5)
      >>> new["w"].dtype, bool(np.all(np.abs(new["w"]) <= 0.5)), bool(np.all(new["w"] != 0))
      (dtype('float32'), True, True)
    """
    rng = np.random.default_rng(seed)

    def draw(a):
        new = rng.uniform(-scale, scale, np.shape(a)).astype(a.dtype)
        return jnp.asarray(new) if isinstance(a, jax.Array) else new

    return jax.tree.map(draw, params)


def randomize_torch(module, seed=0, scale=0.6):
    """Writes ``randomized`` values into every parameter of a torch module; returns the module."""
    import torch

    params = list(module.parameters())
    with torch.no_grad():
        for p, new in zip(params, randomized([p.detach().cpu().numpy() for p in params], seed, scale)):
            p.copy_(torch.from_numpy(new))
    return module


def sigmoid(v):
    """The logistic function in numpy, for the references."""
    return 1.0 / (1.0 + np.exp(-v))


def linear_loop(a, b, h0=None):
    """The reference for a linear recurrence: ``h_t = a_t * h_{t-1} + b_t`` over the leading (time)
    axis from ``h0`` (zeros if None), one step at a time; returns every ``h_t`` stacked.

    Written with operators only, so it is a numpy loop for numpy inputs (any float or complex
    dtype, float64 for exactness) and traceable for jax ones (``jax.grad`` differentiates it).

    Examples:
      >>> linear_loop(np.array([2.0, 0.5]), np.array([1.0, 1.0]), 1.0).tolist()
      [3.0, 2.5]
    """
    xp = jnp if any(isinstance(v, jax.Array) for v in (a, b, h0)) else np
    h = xp.zeros_like(b[0]) if h0 is None else h0
    out = []
    for a_t, b_t in zip(a, b):
        h = a_t * h + b_t
        out.append(h)
    return xp.stack(out)


ROOT = Path(__file__).resolve().parents[1]  # the repository


def torch_tensor(a):
    """A torch tensor holding a copy of the array ``a`` (for the peers' torch references)."""
    import torch

    return torch.from_numpy(np.array(a))
