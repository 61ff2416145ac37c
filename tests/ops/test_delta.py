"""``jaxrnn.ops.gated_delta_rule`` against flash-linear-attention's naive references, and the chunked
method against the recurrent one (the cell's step): lengths, resets inside chunks, initial states,
float64 gradients, strong gates, bfloat16, and the delta rule's own invariant (a key written with
beta = 1 reads back its value)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from fla.ops.gated_delta_rule.naive import (
    naive_chunk_gated_delta_rule,
    naive_recurrent_gated_delta_rule,
)

from jaxrnn.cells.delta import GatedDeltaCell
from jaxrnn.ops import gated_delta_rule
from tests.helpers import close

METHODS = ("recurrent", "chunked")


def unit(x):
    """L2-normalised over the last axis, as Gated DeltaNet normalises q and k."""
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def inputs(key, b=2, t=21, h=3, k=4, v=5, dtype=jnp.float32):
    ks = jax.random.split(key, 6)
    q, kk = (unit(jax.random.normal(x, (b, t, h, k), dtype)) for x in ks[:2])
    vv = jax.random.normal(ks[2], (b, t, h, v), dtype)
    g = -jax.nn.softplus(jax.random.normal(ks[3], (b, t, h), dtype))  # log-decay < 0
    beta = jax.nn.sigmoid(jax.random.normal(ks[4], (b, t, h), dtype))  # in (0, 1)
    s0 = jax.random.normal(ks[5], (b, h, k, v), dtype)
    return q, kk, vv, g, beta, s0


def _torch(a):
    return torch.from_numpy(np.array(a))


@pytest.mark.parametrize("shape", [(2, 21, 3, 4, 5), (3, 7, 1, 16, 2)])
def test_equals_flash_linear_attention(shape):
    q, k, v, g, beta, s0 = inputs(jax.random.key(sum(shape)), *shape)
    # note fla's argument order: (q, k, v, beta, g)
    o_ref, s_ref = naive_recurrent_gated_delta_rule(*map(_torch, (q, k, v, beta, g)), initial_state=_torch(s0),
                                                    output_final_state=True)
    for method in METHODS:
        o, s = gated_delta_rule(q, k, v, g, beta, initial_state=s0, method=method, chunk_size=8)
        close((o, s), (o_ref.numpy(), s_ref.numpy()), 1e-5)
    # flash-linear-attention's own chunked reference agrees too (T padded inside it; (q, k, v, g, beta))
    o_chunk, s_chunk = naive_chunk_gated_delta_rule(*map(_torch, (q, k, v, g, beta)), chunk_size=8,
                                                    initial_state=_torch(s0), output_final_state=True)
    close(gated_delta_rule(q, k, v, g, beta, initial_state=s0, method="chunked", chunk_size=8),
          (o_chunk.numpy(), s_chunk.numpy()), 1e-5)


def test_g_none_is_deltanet():
    q, k, v, _, beta, s0 = inputs(jax.random.key(7))
    zero = torch.zeros(q.shape[:3])
    o_ref, s_ref = naive_recurrent_gated_delta_rule(*map(_torch, (q, k, v, beta)), zero, initial_state=_torch(s0),
                                                    output_final_state=True)
    for method in METHODS:
        close(gated_delta_rule(q, k, v, None, beta, initial_state=s0, method=method, chunk_size=4),
              (o_ref.numpy(), s_ref.numpy()), 1e-5)


@pytest.mark.parametrize("chunk", [1, 4, 64])  # one step, several partial chunks, one partial chunk
def test_chunked_equals_recurrent_with_lengths_resets_and_initial_state(chunk):
    q, k, v, g, beta, s0 = inputs(jax.random.key(chunk))
    resets = jnp.zeros(q.shape[:2], bool).at[0, 5].set(True).at[0, 6].set(True).at[1, 9].set(True)
    kw = {"initial_state": s0, "seq_lengths": jnp.array([21, 13]), "resets": resets}
    close(gated_delta_rule(q, k, v, g, beta, method="chunked", chunk_size=chunk, **kw),
          gated_delta_rule(q, k, v, g, beta, method="recurrent", **kw), 1e-5)


def test_packed_rows_equal_separate_runs():
    q, k, v, g, beta, _ = inputs(jax.random.key(1), b=1, t=20)
    bounds = [0, 3, 11, 20]  # documents of 3, 8 and 9 steps; boundaries inside chunks of 4
    resets = jnp.zeros((1, 20), bool).at[0, jnp.array(bounds[1:-1])].set(True)
    for method in METHODS:
        o, s = gated_delta_rule(q, k, v, g, beta, resets=resets, method=method, chunk_size=4)
        for a, b in itertools.pairwise(bounds):
            o_doc, s_doc = gated_delta_rule(q[:, a:b], k[:, a:b], v[:, a:b], g[:, a:b], beta[:, a:b],
                                            method="recurrent")
            close(o[:, a:b], o_doc, 1e-5)
        close(s, s_doc, 1e-5)


def test_seq_lengths_equal_truncated_rows_and_padding_never_leaks():
    q, k, v, g, beta, s0 = inputs(jax.random.key(2), b=3, t=12)
    lengths = jnp.array([12, 5, 0])
    pad = jnp.arange(12)[None, :, None] >= lengths[:, None, None]
    q_nan, k_nan = (jnp.where(pad[..., None], jnp.nan, a) for a in (q, k))
    g_nan, beta_nan = (jnp.where(pad, jnp.nan, a) for a in (g, beta))
    for method in METHODS:
        def loss(q, k, v, g, beta, s0, method=method):
            o, s = gated_delta_rule(q, k, v, g, beta, initial_state=s0, seq_lengths=lengths, method=method,
                                    chunk_size=4)
            return jnp.sum(jnp.sin(o)) + jnp.sum(jnp.cos(s)), (o, s)

        (_, (o, s)), grads = jax.value_and_grad(loss, argnums=tuple(range(6)), has_aux=True)(
            q_nan, k_nan, v, g_nan, beta_nan, s0)
        assert all(np.isfinite(np.asarray(x)).all() for x in grads)
        for row, n in enumerate(lengths.tolist()):
            o_row, s_row = gated_delta_rule(*(a[row:row + 1, :n] for a in (q, k, v, g, beta)),
                                            initial_state=s0[row:row + 1], method="recurrent")
            close(o[row, :n], o_row[0], 1e-5)
            assert np.all(np.asarray(o[row, n:]) == 0)
            close(s[row], s_row[0], 1e-5)


def test_float64_gradients_of_chunked_equal_recurrent():
    with jax.enable_x64(True):
        q, k, v, g, beta, s0 = inputs(jax.random.key(3), t=13, dtype=jnp.float64)
        resets = jnp.zeros(q.shape[:2], bool).at[1, 6].set(True)

        def grads(method):
            def f(*args):
                o, s = gated_delta_rule(*args[:5], initial_state=args[5], resets=resets,
                                        seq_lengths=jnp.array([13, 10]), method=method, chunk_size=4)
                return jnp.sum(jnp.sin(o)) + jnp.sum(jnp.cos(s))
            return jax.grad(f, argnums=tuple(range(6)))(q, k, v, g, beta, s0)

        close(grads("chunked"), grads("recurrent"), 1e-8)


def test_strong_gates_stay_finite():
    q, k, v, g, _, s0 = inputs(jax.random.key(4), t=70)
    g = jnp.full_like(g, -30.0)
    logits = jnp.where(jnp.arange(70)[None, :, None] % 2 == 0, 30.0, -30.0) * jnp.ones(g.shape)
    for method in METHODS:
        def loss(q, k, v, g, logits, s0, method=method):
            o, s = gated_delta_rule(q, k, v, g, jax.nn.sigmoid(logits), initial_state=s0, method=method)
            return jnp.sum(o) + jnp.sum(s)

        grads = jax.grad(loss, argnums=tuple(range(6)))(q, k, v, g, logits, s0)
        assert all(np.isfinite(np.asarray(x)).all() for x in grads)
    beta = jax.nn.sigmoid(logits)
    close(gated_delta_rule(q, k, v, g, beta, initial_state=s0, method="chunked"),
          gated_delta_rule(q, k, v, g, beta, initial_state=s0, method="recurrent"), 1e-5)


def test_bfloat16_inputs_keep_a_float32_state():
    q, k, v, g, beta, _ = inputs(jax.random.key(5), t=40)
    ref_o, ref_s = gated_delta_rule(q, k, v, g, beta, method="recurrent")
    for method in METHODS:
        o, s = gated_delta_rule(*(a.astype(jnp.bfloat16) for a in (q, k, v, g, beta)), method=method,
                                chunk_size=16)
        assert o.dtype == jnp.bfloat16 and s.dtype == jnp.float32
        # bf16 rounds the inputs (8 significant bits: relative 2^-8 = 0.004) and the output; the
        # state, accumulated in float32, differs from float32's by the inputs' rounding alone
        # (measured: 0.005 on the state, 0.004 on the outputs, both of scale ~1; a bf16 state
        # would add a rounding per step). Tolerance: 4x the measured error.
        close(s, ref_s, 0.02, rtol=0.01)
        close(o.astype(jnp.float32), ref_o, 0.02, rtol=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_a_key_written_with_beta_one_reads_back_its_value(method):
    q, k, v, _, beta, s0 = inputs(jax.random.key(8), t=10)
    beta = beta.at[:, -1].set(1.0)  # the last step (second of its chunk) writes fully over a non-zero state
    _, s = gated_delta_rule(q, k, v, None, beta, initial_state=s0, method=method, chunk_size=4)
    close(jnp.einsum("bhk,bhkv->bhv", k[:, -1], s), v[:, -1], 1e-5)
    # the cell's step alone, from a random state
    cell = GatedDeltaCell(3, 4, 5)
    state, _ = cell.apply({}, s0[0], (q[0, 0], k[0, 0], v[0, 0], jnp.zeros(3), jnp.ones(3)))
    close(jnp.einsum("hk,hkv->hv", k[0, 0], state), v[0, 0], 1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("b", "t"), [(2, 0), (0, 5), (0, 0)])
def test_empty_batch_or_time(method, b, t):
    s0 = jnp.ones((b, 2, 4, 3))
    o, s = gated_delta_rule(jnp.ones((b, t, 2, 4)), jnp.ones((b, t, 2, 4)), jnp.ones((b, t, 2, 3)), None,
                            jnp.ones((b, t, 2)), initial_state=s0, method=method)
    assert o.shape == (b, t, 2, 3)
    close(s, s0, 0)


def test_bad_inputs_name_the_argument():
    q, k, v, g, beta, _ = inputs(jax.random.key(6))
    with pytest.raises(ValueError, match=r"k must have the leading shape \(2, 21, 3\) of q"):
        gated_delta_rule(q, k[:, :5], v, g, beta)
    with pytest.raises(ValueError, match=r"k must have the key dim K of q 4 on axis 3"):
        gated_delta_rule(q, k[..., :3], v, g, beta)
    with pytest.raises(ValueError, match=r"beta must have shape \(B, T, H\), got \(2, 21, 3, 1\)"):
        gated_delta_rule(q, k, v, g, beta[..., None])
    with pytest.raises(ValueError, match=r"g must have the leading shape \(2, 21, 3\) of q"):
        gated_delta_rule(q, k, v, g[:, :, :2], beta)
    with pytest.raises(TypeError, match=r"beta"):
        gated_delta_rule(q, k, v, g, jnp.ones(beta.shape, jnp.int32))
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'recurrent', 'chunked'; got 'fast'"):
        gated_delta_rule(q, k, v, g, beta, method="fast")
    with pytest.raises(ValueError, match=r"initial_state must have shape \(2, 3, 4, 5\), got \(2, 3, 4, 4\)"):
        gated_delta_rule(q, k, v, g, beta, initial_state=jnp.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"seq_lengths must lie in \[0, 21\]"):
        gated_delta_rule(q, k, v, g, beta, seq_lengths=jnp.array([22, 3]))
    with pytest.raises(ValueError, match=r"chunk_size"):
        gated_delta_rule(q, k, v, g, beta, chunk_size=0)
