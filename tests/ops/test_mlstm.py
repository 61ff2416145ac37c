"""``jaxrnn.ops.mlstm`` against mlstm_kernels' native torch mLSTM, and the chunked method against the
recurrent one (the cell's step): lengths, resets inside chunks, initial states, float64 gradients,
strong gates, bfloat16."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mlstm_kernels.torch.chunkwise.native.fw import mlstm_chunkwise_fw
from mlstm_kernels.torch.recurrent.native_sequence import mlstm_recurrent_sequence__native_fw

import jaxrnn
from jaxrnn.cells.mlstm import MLSTMStepCell
from jaxrnn.ops import mlstm
from tests.helpers import close, torch_tensor

# An output is a read divided by the normaliser and reaches ~250 here, where a small normaliser
# amplifies rounding: with +-30 gates the recurrent method itself is 5e-5 (relative) off its float64
# value, the chunked 3e-5. So float32 agreement is relative, to 1e-4.
TOL = {"tol": 1e-4, "rtol": 1e-4}


def inputs(key, b=2, t=21, h=3, k=4, v=5, dtype=jnp.float32):
    ks = jax.random.split(key, 8)
    q, kk = (jax.random.normal(x, (b, t, h, k), dtype) for x in ks[:2])
    vv = jax.random.normal(ks[2], (b, t, h, v), dtype)
    i = 2 * jax.random.normal(ks[3], (b, t, h), dtype)
    f = 3 + 2 * jax.random.normal(ks[4], (b, t, h), dtype)  # xLSTM's forget bias: mostly remembering
    state = (jax.random.normal(ks[5], (b, h, k, v), dtype), jax.random.normal(ks[6], (b, h, k), dtype),
             jax.random.normal(ks[7], (b, h), dtype))
    return (q, kk, vv, i, f), state


def _heads_first(a):
    """mlstm_kernels' layout: (B, T, H, ...) -> (B, H, T, ...) torch."""
    return torch_tensor(a).transpose(1, 2).contiguous()


def _ours(o, state):
    """mlstm_kernels' (B, H, T, V) output and (C, n, m (B, H, 1)) state in our layout."""
    c, n, m = (s.numpy() for s in state)
    return o.transpose(1, 2).numpy(), (c, n, m[..., 0])


@pytest.mark.parametrize("shape", [(2, 21, 3, 4, 5), (3, 7, 1, 16, 2)])
@pytest.mark.parametrize("with_state", [True, False])
def test_equals_mlstm_kernels(shape, with_state):
    xs, s0 = inputs(jax.random.key(sum(shape)), *shape)
    c0, n0, m0 = map(torch_tensor, s0) if with_state else (None,) * 3
    ref = _ours(*mlstm_recurrent_sequence__native_fw(
        *map(_heads_first, xs), c_initial=c0, n_initial=n0, m_initial=None if m0 is None else m0[..., None],
        return_last_states=True))
    for method in ("recurrent", "chunked"):
        close(mlstm(*xs, initial_state=s0 if with_state else None, method=method, chunk_size=8), ref, **TOL)


def test_the_step_is_a_cell_that_jaxrnn_scan_runs():
    xs, s0 = inputs(jax.random.key(9))
    o, s = mlstm(*xs, initial_state=s0, seq_lengths=jnp.array([15, 21]), method="recurrent")
    ys, carry = jaxrnn.scan(MLSTMStepCell(3, 4, 5), {}, tuple(x[0] for x in xs), tuple(a[0] for a in s0),
                            seq_length=15)
    close((ys, carry), (o[0], tuple(a[0] for a in s)), **TOL)


def test_chunked_equals_mlstm_kernels_native_chunkwise():
    xs, (c0, n0, m0) = inputs(jax.random.key(7), t=32)
    o, _, _, last, _ = mlstm_chunkwise_fw(*map(_heads_first, xs), torch_tensor(c0), torch_tensor(n0),
                                          torch_tensor(m0)[..., None], return_last_states=True, chunk_size=8)
    close(mlstm(*xs, initial_state=(c0, n0, m0), method="chunked", chunk_size=8), _ours(o, last), **TOL)


@pytest.mark.parametrize("chunk", [1, 4, 64])  # one step, several partial chunks, one partial chunk
def test_chunked_equals_recurrent_with_lengths_resets_and_initial_state(chunk):
    xs, s0 = inputs(jax.random.key(chunk))
    resets = jnp.zeros(xs[0].shape[:2], bool).at[0, 5].set(True).at[0, 6].set(True).at[1, 9].set(True)
    resets = resets.at[1, 0].set(True).at[1, 15].set(True)  # past row 1's length: ignored
    kw = {"initial_state": s0, "seq_lengths": jnp.array([21, 13]), "resets": resets}
    close(mlstm(*xs, method="chunked", chunk_size=chunk, **kw), mlstm(*xs, method="recurrent", **kw), **TOL)


def test_packed_rows_equal_separate_runs():
    xs, _ = inputs(jax.random.key(1), b=1, t=20)
    bounds = [0, 3, 11, 20]  # documents of 3, 8 and 9 steps; boundaries inside chunks of 4
    resets = jnp.zeros((1, 20), bool).at[0, jnp.array(bounds[1:-1])].set(True)
    for method in ("recurrent", "chunked"):
        o, s = mlstm(*xs, resets=resets, method=method, chunk_size=4)
        for a, b in itertools.pairwise(bounds):
            o_doc, s_doc = mlstm(*(x[:, a:b] for x in xs), method="recurrent")
            close(o[:, a:b], o_doc, **TOL)
        close(s, s_doc, **TOL)


def test_seq_lengths_equal_truncated_rows_and_padding_never_leaks():
    xs, s0 = inputs(jax.random.key(2), b=3, t=12)
    lengths = jnp.array([12, 5, 0])
    pad = jnp.arange(12)[None, :, None] >= lengths[:, None, None]
    nan_xs = tuple(jnp.where(pad if x.ndim == 3 else pad[..., None], jnp.nan, x) for x in xs)
    for method in ("recurrent", "chunked"):
        def loss(xs, s0, method=method):
            o, s = mlstm(*xs, initial_state=s0, seq_lengths=lengths, method=method, chunk_size=4)
            return jnp.sum(jnp.sin(o)) + sum(jnp.sum(jnp.cos(a)) for a in s), (o, s)

        (_, (o, s)), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(nan_xs, s0)
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
        for row, n in enumerate(lengths.tolist()):
            o_row, s_row = mlstm(*(x[row:row + 1, :n] for x in xs), initial_state=tuple(a[row:row + 1] for a in s0),
                                 method="recurrent")
            close(o[row, :n], o_row[0], **TOL)
            assert np.all(np.asarray(o[row, n:]) == 0)
            close(tuple(a[row] for a in s), tuple(a[0] for a in s_row), **TOL)


def test_float64_gradients_of_chunked_equal_recurrent():
    with jax.enable_x64(True):
        xs, s0 = inputs(jax.random.key(3), t=13, dtype=jnp.float64)
        resets = jnp.zeros(xs[0].shape[:2], bool).at[1, 6].set(True).at[0, 4].set(True)

        def grads(method):
            def loss(xs, s0):
                o, s = mlstm(*xs, initial_state=s0, resets=resets, seq_lengths=jnp.array([13, 10]),
                             method=method, chunk_size=4)
                return jnp.sum(jnp.sin(o)) + sum(jnp.sum(jnp.cos(a)) for a in s)
            return jax.grad(loss, argnums=(0, 1))(xs, s0)

        close(grads("chunked"), grads("recurrent"), 1e-8)


def test_strong_gates_stay_finite():
    (q, k, v, i, f), s0 = inputs(jax.random.key(4), t=70)
    signs = jax.random.rademacher(jax.random.key(5), (2,) + i.shape).astype(i.dtype)
    i, f = 30 * signs  # every combination of +-30 input and forget gates
    for method in ("recurrent", "chunked"):
        def loss(i, f, s0, method=method):
            o, s = mlstm(q, k, v, i, f, initial_state=s0, method=method)
            return jnp.sum(o) + sum(jnp.sum(a) for a in s)

        value, grads = jax.value_and_grad(loss, argnums=(0, 1, 2))(i, f, s0)
        assert np.isfinite(float(value)) and all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    close(mlstm(q, k, v, i, f, method="chunked"), mlstm(q, k, v, i, f, method="recurrent"), **TOL)


def test_bfloat16_inputs_keep_a_float32_state():
    xs, _ = inputs(jax.random.key(5), t=40)
    half = tuple(x.astype(jnp.bfloat16) for x in xs)
    for method in ("recurrent", "chunked"):
        o, s = mlstm(*half, method=method, chunk_size=16)
        assert o.dtype == jnp.bfloat16 and all(a.dtype == jnp.float32 for a in s)
        # the state and the arithmetic are float32: the run equals the float32 run of the same
        # (rounded) inputs to float32 rounding, and the output differs by its own rounding to
        # bfloat16 alone (8 bits of mantissa: relative 2^-8)
        o_ref, s_ref = mlstm(*(x.astype(jnp.float32) for x in half), method="recurrent")
        close(s, s_ref, **TOL)
        close(o.astype(jnp.float32), o_ref, 1e-6, rtol=2 ** -8)


def test_empty_time():
    xs, s0 = inputs(jax.random.key(8))
    for method in ("recurrent", "chunked"):
        o, s = mlstm(*(x[:, :0] for x in xs), initial_state=s0, method=method)
        assert o.shape == (2, 0, 3, 5)
        close(s, s0, 0.0)


@pytest.mark.parametrize("method", ["recurrent", "chunked"])
def test_empty_batch(method):
    xs, _ = inputs(jax.random.key(8))
    o, s = mlstm(*(x[:0] for x in xs), method=method)
    assert o.shape == (0, 21, 3, 5) and s[0].shape == (0, 3, 4, 5)


def test_bad_inputs_name_the_argument():
    (q, k, v, i, f), s0 = inputs(jax.random.key(6))
    with pytest.raises(ValueError, match=r"i must have the leading shape \(2, 21, 3\) of q"):
        mlstm(q, k, v, i[:, :5], f)
    with pytest.raises(ValueError, match=r"f must have shape \(B, T, H\), got \(2, 21, 3, 1\)"):
        mlstm(q, k, v, i, f[..., None])
    with pytest.raises(TypeError, match=r"f must have a floating dtype, got int32"):
        mlstm(q, k, v, i, jnp.ones(f.shape, jnp.int32))
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'recurrent', 'chunked'; got 'fast'"):
        mlstm(q, k, v, i, f, method="fast")
    with pytest.raises(ValueError, match=r"initial_state must be structured like"):
        mlstm(q, k, v, i, f, initial_state=s0[:2])
    with pytest.raises(ValueError, match=r"initial_state must have shape \(2, 3\), got \(2, 3, 1\)"):
        mlstm(q, k, v, i, f, initial_state=(s0[0], s0[1], s0[2][..., None]))
    with pytest.raises(ValueError, match=r"eps must be >= 0, got -1.0"):
        mlstm(q, k, v, i, f, eps=-1.0)
    with pytest.raises(TypeError, match=r"scale must be a float or None, got str"):
        mlstm(q, k, v, i, f, scale="1")
    with pytest.raises(ValueError, match=r"chunk_size must be >= 1, got 0"):
        mlstm(q, k, v, i, f, chunk_size=0)
    with pytest.raises(ValueError, match=r"seq_lengths must lie in \[0, 21\]"):
        mlstm(q, k, v, i, f, seq_lengths=jnp.array([22, 3]))
    with pytest.raises(TypeError, match=r"resets must have a bool dtype"):
        mlstm(q, k, v, i, f, resets=jnp.zeros((2, 21)))
