"""``jaxrnn.ops.simple_gla`` against flash-linear-attention's naive reference, and every method against
the recurrent one (the cell's step): lengths, resets inside chunks, initial states, float64
gradients, bfloat16."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fla.ops.simple_gla.naive import naive_chunk_simple_gla, naive_recurrent_simple_gla

from jaxrnn.ops import simple_gla
from tests.helpers import close, torch_tensor


def inputs(key, b=2, t=21, h=3, k=4, v=5, dtype=jnp.float32):
    ks = jax.random.split(key, 5)
    q, kk = (jax.random.normal(x, (b, t, h, k), dtype) for x in ks[:2])
    vv = jax.random.normal(ks[2], (b, t, h, v), dtype)
    g = -jax.nn.softplus(jax.random.normal(ks[3], (b, t, h), dtype))  # log-decay < 0
    s0 = jax.random.normal(ks[4], (b, h, k, v), dtype)
    return q, kk, vv, g, s0


@pytest.mark.parametrize("shape", [(2, 21, 3, 4, 5), (3, 7, 1, 16, 2)])
def test_equals_flash_linear_attention(shape):
    q, k, v, g, s0 = inputs(jax.random.key(sum(shape)), *shape)
    o_ref, s_ref = naive_recurrent_simple_gla(*map(torch_tensor, (q, k, v, g)), initial_state=torch_tensor(s0),
                                              output_final_state=True)
    for method in ("recurrent", "chunked"):
        o, s = simple_gla(q, k, v, g, initial_state=s0, method=method, chunk_size=8)
        close((o, s), (o_ref.numpy(), s_ref.numpy()), 1e-5)
    # flash-linear-attention's own chunked reference agrees too (T padded inside it)
    o_chunk, _ = naive_chunk_simple_gla(*map(torch_tensor, (q, k, v, g)), chunk_size=8)
    close(simple_gla(q, k, v, g, method="chunked", chunk_size=8)[0], o_chunk.numpy(), 1e-5)


@pytest.mark.parametrize("chunk", [1, 4, 64])  # one step, several partial chunks, one partial chunk
def test_chunked_equals_recurrent_with_lengths_resets_and_initial_state(chunk):
    q, k, v, g, s0 = inputs(jax.random.key(chunk))
    resets = jnp.zeros(q.shape[:2], bool).at[0, 5].set(True).at[0, 6].set(True).at[1, 9].set(True)
    kw = {"initial_state": s0, "seq_lengths": jnp.array([21, 13]), "resets": resets}
    close(simple_gla(q, k, v, g, method="chunked", chunk_size=chunk, **kw),
          simple_gla(q, k, v, g, method="recurrent", **kw), 1e-5)


def test_packed_rows_equal_separate_runs():
    q, k, v, g, _ = inputs(jax.random.key(1), b=1, t=20)
    bounds = [0, 3, 11, 20]  # documents of 3, 8 and 9 steps; boundaries inside chunks of 4
    resets = jnp.zeros((1, 20), bool).at[0, jnp.array(bounds[1:-1])].set(True)
    for method in ("recurrent", "chunked"):
        o, _ = simple_gla(q, k, v, g, resets=resets, method=method, chunk_size=4)
        for a, b in itertools.pairwise(bounds):
            o_doc, s_doc = simple_gla(q[:, a:b], k[:, a:b], v[:, a:b], g[:, a:b], method="recurrent")
            close(o[:, a:b], o_doc, 1e-5)
        close(simple_gla(q, k, v, g, resets=resets, method=method, chunk_size=4)[1], s_doc, 1e-5)


def test_seq_lengths_equal_truncated_rows_and_padding_never_leaks():
    q, k, v, g, s0 = inputs(jax.random.key(2), b=3, t=12)
    lengths = jnp.array([12, 5, 0])
    pad = jnp.arange(12)[None, :, None] >= lengths[:, None, None]
    q_nan = jnp.where(pad[..., None], jnp.nan, q)
    for method in ("recurrent", "chunked"):
        def loss(q, k, v, g, s0, method=method):
            o, s = simple_gla(q, k, v, g, initial_state=s0, seq_lengths=lengths, method=method, chunk_size=4)
            return jnp.sum(jnp.sin(o)) + jnp.sum(jnp.cos(s)), (o, s)

        (_, (o, s)), grads = jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4), has_aux=True)(q_nan, k, v, g, s0)
        assert all(np.isfinite(np.asarray(x)).all() for x in grads)
        for row, n in enumerate(lengths.tolist()):
            o_row, s_row = simple_gla(q[row:row + 1, :n], k[row:row + 1, :n], v[row:row + 1, :n],
                                      g[row:row + 1, :n], initial_state=s0[row:row + 1], method="recurrent")
            close(o[row, :n], o_row[0], 1e-5)
            assert np.all(np.asarray(o[row, n:]) == 0)
            close(s[row], s_row[0], 1e-5)


def test_float64_gradients_of_chunked_equal_recurrent():
    with jax.enable_x64(True):
        q, k, v, g, s0 = inputs(jax.random.key(3), t=13, dtype=jnp.float64)
        resets = jnp.zeros(q.shape[:2], bool).at[1, 6].set(True)

        def loss(method):
            def f(*args):
                o, s = simple_gla(*args[:4], initial_state=args[4], resets=resets, seq_lengths=jnp.array([13, 10]),
                                  method=method, chunk_size=4)
                return jnp.sum(jnp.sin(o)) + jnp.sum(jnp.cos(s))
            return jax.grad(f, argnums=(0, 1, 2, 3, 4))(q, k, v, g, s0)

        close(loss("chunked"), loss("recurrent"), 1e-8)


def test_strong_decay_stays_finite():
    q, k, v, g, s0 = inputs(jax.random.key(4), t=70)
    g = jnp.full_like(g, -30.0)
    for method in ("recurrent", "chunked"):
        grads = jax.grad(lambda g, m=method: jnp.sum(simple_gla(q, k, v, g, initial_state=s0, method=m)[0]))(g)
        assert np.isfinite(np.asarray(grads)).all()
    close(simple_gla(q, k, v, g, method="chunked")[0], simple_gla(q, k, v, g, method="recurrent")[0], 1e-5)


def test_bfloat16_inputs_keep_a_float32_state():
    q, k, v, g, _ = inputs(jax.random.key(5), t=40)
    ref_o, ref_s = simple_gla(q, k, v, g, method="recurrent")
    o, s = simple_gla(*(a.astype(jnp.bfloat16) for a in (q, k, v, g)), method="chunked", chunk_size=16)
    assert o.dtype == jnp.bfloat16 and s.dtype == jnp.float32
    # bf16 rounds the inputs (8 bits of mantissa, relative 2^-8 = 0.004) and the output: the
    # state, accumulated in float32, differs from float32's by the inputs' rounding alone
    close(s, ref_s, 0.05, rtol=0.02)
    close(o.astype(jnp.float32), ref_o, 0.1, rtol=0.02)


def test_bad_inputs_name_the_argument():
    q, k, v, g, _ = inputs(jax.random.key(6))
    with pytest.raises(ValueError, match=r"k must have the leading shape \(2, 21, 3\) of q"):
        simple_gla(q, k[:, :5], v, g)
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'recurrent', 'chunked'; got 'fast'"):
        simple_gla(q, k, v, g, method="fast")
    with pytest.raises(ValueError, match=r"initial_state must have shape \(2, 3, 4, 5\), got \(2, 3, 4, 4\)"):
        simple_gla(q, k, v, g, initial_state=jnp.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"seq_lengths must lie in \[0, 21\]"):
        simple_gla(q, k, v, g, seq_lengths=jnp.array([22, 3]))
