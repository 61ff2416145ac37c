"""Mixed precision: compute dtype, float32 state for 16-bit compute, every mix of dtypes.

Tolerances for bfloat16 (8 significant bits): a value in [0.5, 1) is stored to within 2^-9 = 0.002,
so an output rounded once to bfloat16 is off by up to 0.004 (half its spacing) plus what the
rounding of the matmul operands (input, weights, the fed-back h) adds over a few steps; 1e-2 on
outputs, 5e-3 on the float32 state (it is never rounded, only its inputs are), and 3e-2 of the
largest gradient entry (every backward GEMM rounds its operands too). Measured: at most 0.0031,
0.0017 and 0.0102 over the cells below.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxrnn
from jaxrnn.interop import from_torch, to_torch
from tests.helpers import (
    LAYER_FAMILIES,
    LAYER_VARIANTS,
    close,
    outputs_and_grads,
    random_hx,
)

BF16 = jnp.bfloat16


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype), tree)


@pytest.mark.parametrize("name,engine", [(name, "xla") for name in LAYER_FAMILIES]
                         + [("lstm", "reference"), ("gru_reset_before", "reference")])
def test_bfloat16_everywhere_stays_close_to_float32(name, engine):
    model = LAYER_VARIANTS[name](bidirectional=True, engine=engine)
    params = _cast(model.init(jax.random.key(0)), BF16)
    x = jax.random.normal(jax.random.key(1), (7, 3, 4)).astype(BF16)
    lengths = jnp.array([7, 0, 4])
    (out, state), grads = outputs_and_grads(model, params, x, None, lengths)
    (out32, state32), grads32 = outputs_and_grads(model, _cast(params, jnp.float32), x.astype(jnp.float32),
                                                  None, lengths)
    assert out.dtype == BF16 and all(s.dtype == jnp.float32 for s in jax.tree.leaves(state))
    assert all(g.dtype == BF16 for g in jax.tree.leaves(grads[0]))
    close(out, out32, 1e-2)
    close(state, state32, 5e-3)
    for g, g32 in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads32[0])):
        np.testing.assert_allclose(np.asarray(g, np.float32), g32, atol=3e-2 * float(jnp.abs(g32).max()))


def test_float32_params_with_a_bfloat16_input_compute_in_float32():
    """The case that crashed JAX's scan before: ``GRU(8, 16, batch_first=True)``, bf16 input."""
    model = jaxrnn.GRU(8, 16, batch_first=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, 8)).astype(BF16)
    out, h_n = model.apply(params, x)
    assert out.dtype == h_n.dtype == jnp.float32
    close((out, h_n), model.apply(params, x.astype(jnp.float32)), 0)


@pytest.mark.parametrize("engine", ["reference", "xla"])
def test_compute_dtype_bfloat16_trains_float32_params(engine):
    model = jaxrnn.LSTM(4, 6, num_layers=2, compute_dtype="bfloat16", engine=engine)
    assert model == jaxrnn.LSTM(4, 6, num_layers=2, compute_dtype=jnp.bfloat16, engine=engine)
    assert hash(model) == hash(dataclasses.replace(model, compute_dtype=np.dtype(BF16)))
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4))
    (out, (h_n, c_n)), grads = outputs_and_grads(model, params, x, None, None)
    assert out.dtype == BF16 and h_n.dtype == c_n.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    (out32, _), _ = outputs_and_grads(dataclasses.replace(model, compute_dtype=None), params, x, None, None)
    close(out, out32, 1e-2)


def test_bfloat16_engines_agree():
    model = jaxrnn.GRU(4, 6, num_layers=2, bidirectional=True)
    params = _cast(model.init(jax.random.key(0)), BF16)
    x = jax.random.normal(jax.random.key(1), (6, 2, 4)).astype(BF16)
    hx = random_hx(model, 2, jax.random.key(2)).astype(BF16)
    results = [outputs_and_grads(dataclasses.replace(model, engine=e), params, x, hx, jnp.array([6, 3]))
               for e in ("reference", "xla")]
    close(results[0][0], results[1][0], 1e-2)  # both round to bfloat16 at the same places


def test_open_forget_gate_lstm_over_2000_steps_keeps_its_cell_state():
    """Forget bias 6, input bias -3: the cell state integrates ~400 steps. Rounded to bfloat16 at
    every step it drifts by ~13 to 21 (|c| ~ 14 to 19, measured with a loop of the same math in
    bfloat16); kept in float32 with bfloat16 matmuls it stays within 0.04 to 0.12 of the float32
    run (measured over 3 seeds; 0.37 with another input draw). Tolerance: 0.5 on c (|c| ~ 19) and
    0.25 on outputs in [-1, 1]."""
    hidden, steps = 32, 2000
    model = jaxrnn.LSTM(8, hidden)
    params = model.init(jax.random.key(0))
    params[0]["b_ih"] = params[0]["b_ih"].at[hidden:2 * hidden].set(6.0).at[:hidden].set(-3.0)
    x = jax.random.normal(jax.random.key(10), (steps, 4, 8))
    run = jax.jit(lambda p, x: model.apply(p, x))
    out32, (_, c32) = run(params, x)
    out16, (_, c16) = run(_cast(params, BF16), x.astype(BF16))
    assert float(jnp.abs(c32).max()) > 10
    close(c16, c32, 0.5)
    np.testing.assert_allclose(np.asarray(out16, np.float32), out32, atol=0.25)


def test_float64_under_x64_matches_torch_double():
    with jax.enable_x64(True):
        module = torch.nn.GRU(4, 6, num_layers=2, bidirectional=True).double()
        layer, params = from_torch(module)
        assert params[0]["fwd"]["w_ih"].dtype == jnp.float64
        x = np.random.default_rng(0).standard_normal((5, 3, 4))
        hx = np.random.default_rng(1).standard_normal((4, 3, 6)).astype(np.float32)  # a float32 hx
        out, h_n = layer.apply(params, x.astype(np.float32), hx)  # float32 input, float64 params
        assert out.dtype == h_n.dtype == jnp.float64
        ref, ref_h = module(torch.from_numpy(x), torch.from_numpy(hx.astype(np.float64)))
        np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-6)  # x was rounded to float32
        out, h_n = layer.apply(params, x, hx)
        np.testing.assert_allclose(out, ref.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(h_n, ref_h.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("hx_dtype", [BF16, jnp.float16, jnp.float32])
def test_any_hx_dtype_is_carried_in_the_state_dtype(hx_dtype):
    model = jaxrnn.LSTM(4, 6, num_layers=2)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4))
    hx = _cast(random_hx(model, 3, jax.random.key(2)), hx_dtype)
    out, state = model.apply(params, x, hx)
    assert out.dtype == jnp.float32 and all(s.dtype == jnp.float32 for s in state)
    close((out, state), model.apply(params, x, _cast(hx, jnp.float32)), 0)


def test_scan_and_cells_take_any_mix_of_dtypes():
    cell = jaxrnn.LSTMCell(6)
    params = cell.init(jax.random.key(0), 4, dtype="bfloat16")
    assert params["w_ih"].dtype == BF16
    xs = jax.random.normal(jax.random.key(1), (9, 4)).astype(BF16)
    carry = cell.initial_carry("bfloat16")
    ys, final = jaxrnn.scan(cell, params, xs, carry, seq_length=6)
    assert ys.dtype == BF16 and final.c.dtype == jnp.float32
    ys32, final32 = jaxrnn.scan(cell, _cast(params, jnp.float32), xs.astype(jnp.float32), seq_length=6)
    close((ys, final), (ys32, final32), 1e-2)
    carry, y = cell.apply(params, cell.initial_carry(), xs[:2])  # batch-agnostic, float32 carry
    assert y.shape == (2, 6) and y.dtype == BF16 and carry.h.dtype == jnp.float32
    with jax.enable_x64(True):
        p64 = cell.init(jax.random.key(0), 4, dtype="float64")
        ys, final = jaxrnn.scan(cell, p64, xs.astype(jnp.float32))  # float32 xs, float64 params
        assert ys.dtype == final.c.dtype == jnp.float64
    mingru = jaxrnn.MinGRUCell(6)
    ys, h = jaxrnn.scan(mingru, mingru.init(jax.random.key(0), 4, dtype=BF16), xs, method="associative")
    assert h.dtype == jnp.float32 and np.isfinite(np.asarray(ys, np.float32)).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_from_torch_and_to_torch_keep_16_bit_modules(dtype):
    module = torch.nn.LSTM(4, 6, num_layers=2).to(dtype)
    layer, params = from_torch(module)
    assert all(p.dtype == jnp.dtype(str(dtype)[6:]) for p in jax.tree.leaves(params))
    x = torch.randn(5, 3, 4)
    ref, _ = module.float()(x)  # the same rounded weights, computed in float32
    out, _ = layer.apply(params, x.numpy().astype(jnp.dtype(str(dtype)[6:])))
    np.testing.assert_allclose(np.asarray(out, np.float32), ref.detach().numpy(), atol=2e-2)
    back = to_torch(layer, params)
    assert all(p.dtype == dtype for p in back.parameters())
    for (name, p), (_, q) in zip(back.named_parameters(), module.to(dtype).named_parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("bad,exc,match", [
    ({"compute_dtype": "int32"}, TypeError, r"compute_dtype must be a floating dtype, got int32"),
    ({"compute_dtype": 3}, TypeError, r"compute_dtype must be a floating dtype or its name"),
])
def test_bad_compute_dtype(bad, exc, match):
    with pytest.raises(exc, match=match):
        jaxrnn.GRU(4, 6, **bad)
