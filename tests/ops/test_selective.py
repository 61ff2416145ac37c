"""``jaxrnn.ops.selective_scan`` against mambapy's sequential selective scan, and the associative
method against the recurrent one (the cell's step): lengths, resets across the solver's chunks,
initial states, float64 gradients, large step sizes, bfloat16."""

import itertools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from mambapy.mamba import MambaBlock

import jaxrnn
from jaxrnn.cells.selective import SelectiveScanCell
from jaxrnn.ops import selective_scan
from tests.helpers import close

METHODS = ("recurrent", "associative")


def inputs(key, b=2, t=21, d=5, n=4, dtype=jnp.float32):
    ks = jax.random.split(key, 7)
    x = jax.random.normal(ks[0], (b, t, d), dtype)
    dt = jax.nn.softplus(jax.random.normal(ks[1], (b, t, d), dtype) - 1.0)  # after the softplus, as Mamba
    A = -jnp.exp(jax.random.normal(ks[2], (d, n), dtype))  # Mamba's -exp(A_log)
    B, C = (jax.random.normal(k, (b, t, n), dtype) for k in ks[3:5])
    D = jax.random.normal(ks[5], (d,), dtype)
    h0 = jax.random.normal(ks[6], (b, d, n), dtype)
    return x, dt, A, B, C, D, h0


def _mambapy(x, dt, A, B, C, D):
    """mambapy's ``MambaBlock.selective_scan_seq``; it reads only ``self.config.d_inner, d_state``."""
    block = types.SimpleNamespace(config=types.SimpleNamespace(d_inner=x.shape[2], d_state=A.shape[1]))
    args = (torch.from_numpy(np.array(a)) for a in (x, dt, A, B, C, D))
    return MambaBlock.selective_scan_seq(block, *args).numpy()


@pytest.mark.parametrize("shape", [(2, 21, 5, 4), (1, 70, 8, 16), (3, 7, 1, 1)])
@pytest.mark.parametrize("skip", [True, False])
def test_equals_mambapy(shape, skip):
    x, dt, A, B, C, D, _ = inputs(jax.random.key(sum(shape)), *shape)
    want = _mambapy(x, dt, A, B, C, D if skip else jnp.zeros_like(D))
    for method in METHODS:
        y, _ = selective_scan(x, dt, A, B, C, D if skip else None, method=method)
        close(y, want, 1e-5)


def test_cell_runs_under_jaxrnn_scan_and_equals_the_op():
    x, dt, A, B, C, D, h0 = inputs(jax.random.key(7), b=1, t=9)
    cell = SelectiveScanCell(width=5, state_size=4)
    y, h = selective_scan(x, dt, A, B, C, D, initial_state=h0, seq_lengths=jnp.array([6]), method="recurrent")
    for method in ("sequential", "associative"):
        ys, carry = jaxrnn.scan(cell, {"A": A, "D": D}, (x[0], dt[0], B[0], C[0]), h0[0], seq_length=6,
                                method=method)
        close((ys, carry), (y[0], h[0]), 1e-5)


@pytest.mark.parametrize("steps", [13, 150])  # one flat associative scan; 3 chunks of 64
def test_associative_equals_recurrent_with_lengths_resets_and_initial_state(steps):
    x, dt, A, B, C, D, h0 = inputs(jax.random.key(steps), b=3, t=steps)
    resets = (jnp.zeros((3, steps), bool).at[0, 5].set(True).at[0, 6].set(True).at[1, steps - 3].set(True)
              .at[2, 0].set(True))
    kw = {"initial_state": h0, "seq_lengths": jnp.array([steps, steps - 2, 4]), "resets": resets}
    close(selective_scan(x, dt, A, B, C, D, method="associative", **kw),
          selective_scan(x, dt, A, B, C, D, method="recurrent", **kw), 1e-5)


def test_packed_rows_equal_separate_runs():
    x, dt, A, B, C, D, _ = inputs(jax.random.key(1), b=1, t=80)
    bounds = [0, 3, 70, 80]  # documents of 3, 67 and 10 steps; a boundary inside the second chunk
    resets = jnp.zeros((1, 80), bool).at[0, jnp.array(bounds[1:-1])].set(True)
    for method in METHODS:
        y, h = selective_scan(x, dt, A, B, C, D, resets=resets, method=method)
        for a, b in itertools.pairwise(bounds):
            y_doc, h_doc = selective_scan(x[:, a:b], dt[:, a:b], A, B[:, a:b], C[:, a:b], D, method="recurrent")
            close(y[:, a:b], y_doc, 1e-5)
        close(h, h_doc, 1e-5)


def test_seq_lengths_equal_truncated_rows_and_padding_never_leaks():
    x, dt, A, B, C, D, h0 = inputs(jax.random.key(2), b=3, t=12)
    lengths = jnp.array([12, 5, 0])
    pad = jnp.arange(12)[None, :, None] >= lengths[:, None, None]
    x_nan, dt_nan, B_nan = (jnp.where(pad, jnp.nan, a) for a in (x, dt, B))
    for method in METHODS:
        def loss(x, dt, A, B, C, D, h0, method=method):
            y, h = selective_scan(x, dt, A, B, C, D, initial_state=h0, seq_lengths=lengths, method=method)
            return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h)), (y, h)

        (_, (y, h)), grads = jax.value_and_grad(loss, argnums=tuple(range(7)), has_aux=True)(
            x_nan, dt_nan, A, B_nan, C, D, h0)
        assert all(np.isfinite(np.asarray(g)).all() for g in grads)
        for row, n in enumerate(lengths.tolist()):
            y_row, h_row = selective_scan(x[row:row + 1, :n], dt[row:row + 1, :n], A, B[row:row + 1, :n],
                                          C[row:row + 1, :n], D, initial_state=h0[row:row + 1], method="recurrent")
            close(y[row, :n], y_row[0], 1e-5)
            assert np.all(np.asarray(y[row, n:]) == 0)
            close(h[row], h_row[0], 1e-5)


@pytest.mark.parametrize("steps", [70])  # two chunks of the associative solver
def test_float64_gradients_of_associative_equal_recurrent(steps):
    with jax.enable_x64(True):
        args = inputs(jax.random.key(3), t=steps, dtype=jnp.float64)
        resets = jnp.zeros((2, steps), bool).at[1, 6].set(True)

        def grads(method):
            def f(x, dt, A, B, C, D, h0):
                y, h = selective_scan(x, dt, A, B, C, D, initial_state=h0, resets=resets,
                                      seq_lengths=jnp.array([steps, steps - 3]), method=method)
                return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h))
            return jax.grad(f, argnums=tuple(range(7)))(*args)

        close(grads("associative"), grads("recurrent"), 1e-8)


def test_large_step_sizes_stay_finite():
    x, dt, A, B, C, D, h0 = inputs(jax.random.key(4), t=70)
    dt = jnp.full_like(dt, 30.0).at[:, ::3].set(0.0)  # the largest and the smallest step sizes
    for method in METHODS:
        out = selective_scan(x, dt, A, B, C, D, initial_state=h0, method=method)
        assert all(np.isfinite(np.asarray(a)).all() for a in out)
        grads = jax.grad(lambda *a, m=method: jnp.sum(selective_scan(*a[:6], initial_state=a[6], method=m)[0]),
                         argnums=tuple(range(7)))(x, dt, A, B, C, D, h0)
        assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    close(selective_scan(x, dt, A, B, C, D, method="associative"),
          selective_scan(x, dt, A, B, C, D, method="recurrent"), 1e-4)


def test_bfloat16_inputs_keep_a_float32_state():
    x, dt, A, B, C, D, h0 = (a.astype(jnp.bfloat16) for a in inputs(jax.random.key(5), t=70))
    wide = [a.astype(jnp.float32) for a in (x, dt, A, B, C, D, h0)]
    ref_y, ref_h = selective_scan(*wide[:6], initial_state=wide[6], method="recurrent")
    for method in METHODS:
        y, h = selective_scan(x, dt, A, B, C, D, initial_state=h0, method=method)
        assert y.dtype == jnp.bfloat16 and h.dtype == jnp.float32
        # The state is computed in float32 from the inputs' bfloat16 values: it equals float32's run
        # on those values to float32 rounding; y is that run's output rounded once to bfloat16
        # (8 bits of mantissa: relative error <= 2^-8).
        close(h, ref_h, 1e-5, rtol=1e-5)
        close(y.astype(jnp.float32), ref_y, 1e-5, rtol=2.0 ** -8)


def test_auto_is_recurrent_the_faster_on_cpu():
    x, dt, A, B, C, D, _ = inputs(jax.random.key(6))
    close(selective_scan(x, dt, A, B, C, D), selective_scan(x, dt, A, B, C, D, method="recurrent"), 0.0)


def test_empty_time_and_batch():
    x, dt, A, B, C, D, h0 = inputs(jax.random.key(8), t=0)
    for method in METHODS:
        y, h = selective_scan(x, dt, A, B, C, D, initial_state=h0, method=method)
        assert y.shape == (2, 0, 5)
        close(h, h0, 0.0)
        y, h = selective_scan(x[:0], dt[:0], A, B[:0], C[:0], D, method=method)
        assert y.shape == (0, 0, 5) and h.shape == (0, 5, 4)


def test_bad_inputs_name_the_argument():
    x, dt, A, B, C, D, _ = inputs(jax.random.key(6))
    with pytest.raises(ValueError, match=r"dt must have shape \(B, T, D\) = \(2, 21, 5\), got \(2, 21, 4\)"):
        selective_scan(x, dt[..., :4], A, B, C, D)
    with pytest.raises(ValueError, match=r"A must have shape \(D, N\) = \(5, 4\), got \(4, 4\)"):
        selective_scan(x, dt, A[:4], B, C, D)
    with pytest.raises(ValueError, match=r"A must have shape \(D, N\) = \(5, None\), got \(5,\)"):
        selective_scan(x, dt, A[:, 0], B, C, D)
    with pytest.raises(ValueError, match=r"C must have shape \(B, T, N\) = \(2, 21, 4\), got \(2, 21, 3\)"):
        selective_scan(x, dt, A, B, C[..., :3], D)
    with pytest.raises(ValueError, match=r"D must have shape \(D,\) = \(5,\), got \(5, 1\)"):
        selective_scan(x, dt, A, B, C, D[:, None])
    with pytest.raises(TypeError, match=r"B must have a floating dtype, got int32"):
        selective_scan(x, dt, A, B.astype(jnp.int32), C, D)
    with pytest.raises(ValueError, match=r"x must have shape"):
        selective_scan(x[0], dt, A, B, C, D)
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'recurrent', 'associative'; got 'chunked'"):
        selective_scan(x, dt, A, B, C, D, method="chunked")
    with pytest.raises(ValueError, match=r"initial_state must have shape \(2, 5, 4\), got \(2, 5\)"):
        selective_scan(x, dt, A, B, C, D, initial_state=jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"seq_lengths must lie in \[0, 21\]"):
        selective_scan(x, dt, A, B, C, D, seq_lengths=jnp.array([22, 3]))
