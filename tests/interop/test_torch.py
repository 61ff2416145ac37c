"""from_torch / to_torch for cells and layers with every option."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxrnn
from jaxrnn.interop import from_torch, to_torch
from tests.helpers import randomize_torch

TORCH_CELLS = [
    lambda: torch.nn.RNNCell(3, 5),
    lambda: torch.nn.RNNCell(3, 5, nonlinearity="relu", bias=False),
    lambda: torch.nn.LSTMCell(3, 5),
    lambda: torch.nn.LSTMCell(3, 5, bias=False),
    lambda: torch.nn.GRUCell(3, 5),
    lambda: torch.nn.GRUCell(3, 5, bias=False),
]


@pytest.mark.parametrize("make", TORCH_CELLS)
def test_torch_cells_match_over_a_sequence(make):
    module = randomize_torch(make())
    cell, params = from_torch(module)
    xs = torch.from_numpy(np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32))
    state = None
    expected = []
    for x in xs:
        state = module(x[None], state)
        expected.append((state[0] if isinstance(state, tuple) else state)[0].detach().numpy())
    ys, carry = jaxrnn.scan(cell, params, xs.numpy())
    np.testing.assert_allclose(ys, np.stack(expected), atol=2e-5, rtol=0)
    if isinstance(module, torch.nn.LSTMCell):
        np.testing.assert_allclose(carry.c, state[1][0].detach().numpy(), atol=2e-5, rtol=0)
    back = to_torch(cell, params)
    assert type(back) is type(module)
    for (n1, p1), (n2, p2) in zip(module.named_parameters(), back.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


LAYERS = [
    jaxrnn.RNN(3, 5, num_layers=2, nonlinearity="relu", bias=False, batch_first=True),
    jaxrnn.LSTM(3, 5, num_layers=3, bidirectional=True, proj_size=2, dropout=0.2),
    jaxrnn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True),
]


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_round_trip_keeps_every_option_and_weight(layer):
    params = layer.init(jax.random.key(0))
    module = to_torch(layer, params)
    layer2, params2 = from_torch(module)
    assert layer2 == layer
    assert jax.tree.structure(params2) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params2)):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).standard_normal((4, 6, 3) if layer.batch_first else (6, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(layer.apply(params, x, deterministic=True)[0], module.eval()(torch.from_numpy(x))[0]
                               .detach().numpy(),
                               atol=2e-5, rtol=0)


@pytest.mark.parametrize("layer", [jaxrnn.RNN(3, 5, double_bias=False), jaxrnn.LSTM(3, 5, double_bias=False),
                                   jaxrnn.GRU(3, 5, double_bias=False, num_layers=2)], ids=repr)
def test_single_bias_layers_export_to_the_same_function(layer):
    params = layer.init(jax.random.key(1))
    params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero biases
    module = to_torch(layer, params)
    x = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(layer.apply(params, x)[0], module(torch.from_numpy(x))[0].detach().numpy(),
                               atol=2e-5, rtol=0)


def test_float64_params_give_a_double_module():
    with jax.enable_x64(True):
        layer = jaxrnn.GRU(3, 4)
        params = layer.init(jax.random.key(0), dtype=jnp.float64)
        module = to_torch(layer, params)
        assert all(p.dtype == torch.float64 for p in module.parameters())
        x = np.random.default_rng(0).standard_normal((5, 2, 3))
        np.testing.assert_allclose(layer.apply(params, x)[0], module(torch.from_numpy(x))[0].detach().numpy(),
                                   atol=1e-12, rtol=0)


@pytest.mark.parametrize("make", [
    lambda: torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True),
    lambda: torch.nn.LSTM(5, 8, num_layers=3, proj_size=4, bias=False),
    lambda: torch.nn.GRU(7, 3, bidirectional=True),
    lambda: torch.nn.RNN(5, 8, num_layers=2, batch_first=True),
    lambda: torch.nn.GRUCell(4, 6),
])
def test_param_count_equals_torch_numel(make):
    module = make()
    layer, params = from_torch(module)
    expected = sum(p.numel() for p in module.parameters())
    assert jaxrnn.param_count(params) == expected
    if hasattr(layer, "num_layers"):
        assert jaxrnn.param_count(layer.init(jax.random.key(0))) == expected
