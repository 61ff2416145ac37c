"""Parity with torch.nn over a grid of cells, layer counts, directions, layouts, hx and packing.

Each case converts a freshly initialised torch module (random weights, non-zero biases) with
``from_torch``, runs both libraries forward, then back-propagates the same random cotangents on
the outputs and final states, and compares outputs, final states and the gradients with respect
to the input, ``hx`` and every parameter.
"""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import jaxrnn
from jaxrnn.interop import from_torch, to_torch
from tests.helpers import pairwise, randomize_torch, valid_steps

FWD_TOL = 2e-5
GRAD_TOL = 1e-4
LARGEST_ERROR = {"forward": 0.0, "gradient": 0.0}  # this test's; conftest prints the run's


@pytest.fixture(autouse=True)
def _report_largest_error(request):
    """Hands each test's largest errors to conftest through ``user_properties``, which reach the
    main process under pytest-xdist too."""
    LARGEST_ERROR.update(forward=0.0, gradient=0.0)
    yield
    request.node.user_properties.append(("parity_error", dict(LARGEST_ERROR)))


def _check(actual, expected, kind, err_msg=""):
    """Asserts ``|actual - expected| <= tol`` and records the largest error seen per kind."""
    err = float(np.max(np.abs(np.asarray(actual) - np.asarray(expected)), initial=0.0))
    LARGEST_ERROR[kind] = max(LARGEST_ERROR[kind], err)
    tol = FWD_TOL if kind == "forward" else GRAD_TOL
    assert err <= tol, f"{kind} error {err:.3g} > {tol} {err_msg}"

MODES = {
    "rnn_tanh": lambda i, h, **kw: torch.nn.RNN(i, h, nonlinearity="tanh", **kw),
    "rnn_relu": lambda i, h, **kw: torch.nn.RNN(i, h, nonlinearity="relu", **kw),
    "lstm": lambda i, h, **kw: torch.nn.LSTM(i, h, **kw),
    "lstm_proj": lambda i, h, **kw: torch.nn.LSTM(i, h, proj_size=3, **kw),
    "gru": lambda i, h, **kw: torch.nn.GRU(i, h, **kw),
}


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode()) % (2**31)


def _make_module(mode, seed, input_size=4, hidden=6, **kw):
    torch.manual_seed(seed)
    module = MODES[mode](input_size, hidden, **kw)
    return randomize_torch(module, seed).double().float()  # wider than torch's range, biases non-zero


def _state_tensors(module, batch, seed):
    """Random ``hx`` tensors shaped like torch expects (a tuple for LSTM)."""
    g = torch.Generator().manual_seed(seed)
    ld = module.num_layers * (2 if module.bidirectional else 1)
    h_out = module.proj_size if getattr(module, "proj_size", 0) else module.hidden_size
    h = torch.randn(ld, batch, h_out, generator=g)
    if isinstance(module, torch.nn.LSTM):
        return (h, torch.randn(ld, batch, module.hidden_size, generator=g))
    return h


def _torch_run(module, x, hx, lengths, cot_out, cot_state):
    """Forward + backward in torch; returns outputs, states and all gradients as numpy."""
    x = x.clone().requires_grad_(True)
    hx_leaves = None
    if hx is not None:
        hx = tuple(t.clone().requires_grad_(True) for t in hx) if isinstance(hx, tuple) else hx.clone().requires_grad_(True)
        hx_leaves = list(hx) if isinstance(hx, tuple) else [hx]
    module.zero_grad()
    if lengths is None:
        out, state = module(x, hx)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=module.batch_first,
                                      enforce_sorted=False)
        out, state = module(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=module.batch_first, total_length=x.shape[1 if module.batch_first else 0])
    states = list(state) if isinstance(state, tuple) else [state]
    loss = (out * cot_out).sum() + sum((s * c).sum() for s, c in zip(states, cot_state))
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    return (out.detach().numpy(), [s.detach().numpy() for s in states], x.grad.numpy(),
            None if hx_leaves is None else [t.grad.numpy() for t in hx_leaves], grads)


def _jax_run(layer, params, x, hx, lengths, cot_out, cot_state):
    def f(p, x, hx):
        out, state = layer.apply(p, x, hx, seq_lengths=None if lengths is None else jnp.asarray(lengths))
        return out, state

    @jax.jit
    def fwd_bwd(p, x, hx):
        (out, state), vjp = jax.vjp(f, p, x, hx)
        state_cot = tuple(cot_state) if isinstance(state, tuple) else cot_state[0]
        gp, gx, ghx = vjp((cot_out, state_cot))
        return out, state, gp, gx, ghx

    out, state, gp, gx, ghx = fwd_bwd(params, x, hx)
    states = list(state) if isinstance(state, tuple) else [state]
    ghx = None if hx is None else (list(ghx) if isinstance(ghx, tuple) else [ghx])
    return out, states, gx, ghx, gp


# Every option value and every pair of option values of each mode (a pairwise covering array):
# 6 cases per mode instead of the 48 of the full product.
GRID = [(mode, *case.values()) for mode in MODES
        for case in pairwise(num_layers=(1, 2, 3), bidirectional=(False, True), batch_first=(False, True),
                             with_hx=(False, True), packed=(False, True))]


@pytest.mark.parametrize("mode,num_layers,bidirectional,batch_first,with_hx,packed", GRID,
                         ids=["-".join(map(str, case)) for case in GRID])
def test_matches_torch(mode, num_layers, bidirectional, batch_first, with_hx, packed):
    seed = _seed(mode, num_layers, bidirectional, batch_first, with_hx, packed)
    module = _make_module(mode, seed, num_layers=num_layers, bidirectional=bidirectional,
                          batch_first=batch_first)
    layer, params = from_torch(module)
    batch, steps = 3, 7
    rng = np.random.default_rng(seed)
    shape = (batch, steps, 4) if batch_first else (steps, batch, 4)
    x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    hx = _state_tensors(module, batch, seed) if with_hx else None
    lengths = [7, 2, 5] if packed else None

    out_shape = shape[:2] + (layer.output_size,)
    cot_out = rng.standard_normal(out_shape).astype(np.float32)
    cot_state = [rng.standard_normal(s.shape).astype(np.float32)
                 for s in (_state_tensors(module, batch, seed + 1) if isinstance(module, torch.nn.LSTM)
                           else [_state_tensors(module, batch, seed + 1)])]
    if packed:  # torch's padded outputs carry no gradient; ours are exactly 0 as well
        cot_out = cot_out * valid_steps(lengths, steps, batch_first)[..., None]

    t_out, t_states, t_gx, t_ghx, t_grads = _torch_run(
        module, x, hx, lengths, torch.from_numpy(cot_out), [torch.from_numpy(c) for c in cot_state])
    jhx = None if hx is None else (tuple(t.numpy() for t in hx) if isinstance(hx, tuple) else hx.numpy())
    j_out, j_states, j_gx, j_ghx, j_gp = _jax_run(layer, params, x.numpy(), jhx, lengths, cot_out, cot_state)

    _check(j_out, t_out, "forward")
    for js, ts in zip(j_states, t_states):
        _check(js, ts, "forward")
    _check(j_gx, t_gx, "gradient", "input")
    if with_hx:
        for jg, tg in zip(j_ghx, t_ghx):
            _check(jg, tg, "gradient", "hx")
    grad_module = to_torch(layer, j_gp)  # gradients land under torch's parameter names
    j_grads = {name: p.detach().numpy() for name, p in grad_module.named_parameters()}
    assert j_grads.keys() == t_grads.keys()
    for name in t_grads:
        _check(j_grads[name], t_grads[name], "gradient", name)
    if packed:
        assert np.all(np.asarray(j_out)[~valid_steps(lengths, steps, batch_first)] == 0.0)


@pytest.mark.parametrize("mode", list(MODES))
def test_matches_torch_without_bias(mode):
    module = _make_module(mode, 11, num_layers=2, bidirectional=True, bias=False)
    layer, params = from_torch(module)
    assert not layer.bias
    x = torch.randn(5, 2, 4)
    t_out, t_state = module(x)
    j_out, j_state = layer.apply(params, x.numpy())
    np.testing.assert_allclose(j_out, t_out.detach().numpy(), atol=FWD_TOL, rtol=0)
    for js, ts in zip(jax.tree.leaves(j_state), t_state if isinstance(t_state, tuple) else [t_state]):
        np.testing.assert_allclose(js, ts.detach().numpy(), atol=FWD_TOL, rtol=0)


@pytest.mark.parametrize("mode", list(MODES))
def test_unbatched_input_matches_torch(mode):
    module = _make_module(mode, 12, num_layers=2, bidirectional=True)
    layer, params = from_torch(module)
    x = torch.randn(6, 4)
    hx = _state_tensors(module, 1, 3)
    hx = tuple(t[:, 0] for t in hx) if isinstance(hx, tuple) else hx[:, 0]
    t_out, t_state = module(x, hx)
    jhx = tuple(t.numpy() for t in hx) if isinstance(hx, tuple) else hx.numpy()
    j_out, j_state = layer.apply(params, x.numpy(), jhx)
    assert j_out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(j_out, t_out.detach().numpy(), atol=FWD_TOL, rtol=0)
    for js, ts in zip(jax.tree.leaves(j_state), t_state if isinstance(t_state, tuple) else [t_state]):
        assert js.shape == tuple(ts.shape)
        np.testing.assert_allclose(js, ts.detach().numpy(), atol=FWD_TOL, rtol=0)


def test_eval_mode_is_deterministic_true():
    module = _make_module("lstm", 13, num_layers=3, dropout=0.5).eval()
    layer, params = from_torch(module)
    assert layer.dropout == 0.5
    x = torch.randn(5, 2, 4)
    np.testing.assert_allclose(layer.apply(params, x.numpy(), deterministic=True)[0], module(x)[0].detach().numpy(),
                               atol=FWD_TOL, rtol=0)


def test_dropout_one_drops_everything_as_torch():
    """torch accepts p=1: in train mode every layer but the last reads zeros from the one below."""
    module = _make_module("gru", 17, num_layers=2, dropout=1.0).train()
    layer, params = from_torch(module)
    assert layer.dropout == 1.0
    x = torch.randn(6, 2, 4)
    ref, ref_h = module(x)
    out, h_n = layer.apply(params, x.numpy(), key=jax.random.key(0))
    _check(out, ref.detach().numpy(), "forward")
    _check(h_n, ref_h.detach().numpy(), "forward")
    top, _ = jaxrnn.GRU(6, 6).apply([params[1]], np.zeros((6, 2, 6), np.float32))  # layer 2 on zeros
    _check(out, top, "forward")
    grads = jax.grad(lambda p: layer.apply(p, x.numpy(), key=jax.random.key(0))[0].sum())(params)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert all(not np.any(g) for g in jax.tree.leaves(grads[0]))  # nothing reaches layer 1
