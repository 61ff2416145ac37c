"""``jaxrnn.ops.rg_lru`` against recurrentgemma's ``RGLRU`` module (a reset mid-sequence, with and
without a cache; values and gradients), and the associative method against the recurrent one (the
cell's step): lengths, resets across the solver's chunks, initial states, float64 gradients, gates
at +-30, bfloat16."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from recurrentgemma.jax.layers import RGLRU

import jaxrnn
from jaxrnn.cells.rglru import RGLRUCell
from jaxrnn.ops import rg_lru
from tests.helpers import close

METHODS = ("recurrent", "associative")


def inputs(key, b=2, t=21, d=6, dtype=jnp.float32):
    ks = jax.random.split(key, 5)
    x, input_gate, a_gate = (jax.random.normal(k, (b, t, d), dtype) for k in ks[:3])
    a_param = jax.random.normal(ks[3], (d,), dtype)
    h0 = jax.random.normal(ks[4], (b, d), dtype)
    return x, input_gate, a_gate, a_param, h0


def _peer(key, b, t, d, heads):
    """recurrentgemma's module with random biases, its inputs, and its two gate layers as a function."""
    module = RGLRU(width=d, num_heads=heads)
    kx, kv, kb = jax.random.split(key, 3)
    x = jax.random.normal(kx, (b, t, d))
    variables = module.init(kv, x, jnp.broadcast_to(jnp.arange(t), (b, t)))
    variables = jax.tree.map(lambda v: v + 0.5 * jax.random.normal(kb, v.shape), variables)

    @jax.jit  # the peer's module runs compiled, as the ops do
    def gates(x):
        return (module.apply(variables, x, method=lambda m, x: m.input_gate(x)),
                module.apply(variables, x, method=lambda m, x: m.a_gate(x)))

    return module, variables, x, gates


@pytest.mark.parametrize("shape", [(2, 21, 6, 2), (1, 70, 16, 4), (3, 7, 2, 1)])
@pytest.mark.parametrize("cached", [False, True])
def test_equals_recurrentgemma_with_a_reset_mid_sequence(shape, cached):
    b, t, d, heads = shape
    module, variables, x, gates = _peer(jax.random.key(sum(shape)), b, t, d, heads)
    k = t // 3
    # a fresh call starts a segment at step 0 (segment_pos 0); a cached one continues the cache
    first = jnp.arange(5, 5 + k) if cached else jnp.arange(k)
    segment_pos = jnp.broadcast_to(jnp.concatenate([first, jnp.arange(t - k)]), (b, t))
    h0 = jax.random.normal(jax.random.key(1), (b, d)) if cached else None
    y_ref, h_ref = jax.jit(module.apply)(variables, x, segment_pos, h0)
    a_param = variables["params"]["a_param"]
    for method in METHODS:
        y, h = rg_lru(x, *gates(x), a_param, initial_state=h0, resets=segment_pos == 0, method=method)
        close((y, h), (y_ref, h_ref), 1e-5)


def test_gradients_equal_recurrentgemma():
    b, t, d = 2, 30, 8
    module, variables, x, gates = _peer(jax.random.key(0), b, t, d, 2)
    segment_pos = jnp.broadcast_to(jnp.concatenate([jnp.arange(3, 13), jnp.arange(t - 10)]), (b, t))
    h0 = jax.random.normal(jax.random.key(1), (b, d))

    def peer(x, h0):
        y, h = module.apply(variables, x, segment_pos, h0)
        return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h))

    want = jax.jit(jax.grad(peer, argnums=(0, 1)))(x, h0)
    for method in METHODS:
        def ours(x, h0, method=method):
            y, h = rg_lru(x, *gates(x), variables["params"]["a_param"], initial_state=h0,
                          resets=segment_pos == 0, method=method)
            return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h))

        close(jax.jit(jax.grad(ours, argnums=(0, 1)))(x, h0), want, 1e-4)


def test_cell_runs_under_jaxrnn_scan_and_equals_the_op():
    x, input_gate, a_gate, a_param, h0 = inputs(jax.random.key(7), b=1, t=9)
    starts = jnp.zeros(9).at[4].set(1.0)
    y, h = rg_lru(x, input_gate, a_gate, a_param, initial_state=h0, seq_lengths=jnp.array([7]),
                  resets=starts[None] > 0, method="recurrent")
    for method in ("sequential", "associative"):
        ys, carry = jaxrnn.scan(RGLRUCell(width=6), {"a_param": a_param}, (x[0], input_gate[0], a_gate[0], starts),
                                h0[0], seq_length=7, method=method)
        close((ys, carry), (y[0], h[0]), 1e-5)


@pytest.mark.parametrize("steps", [13, 150])  # one flat associative scan; 3 chunks of 64
def test_associative_equals_recurrent_with_lengths_resets_and_initial_state(steps):
    x, input_gate, a_gate, a_param, h0 = inputs(jax.random.key(steps), b=3, t=steps)
    resets = (jnp.zeros((3, steps), bool).at[0, 5].set(True).at[0, 6].set(True).at[1, steps - 3].set(True)
              .at[2, 0].set(True))
    kw = {"initial_state": h0, "seq_lengths": jnp.array([steps, steps - 2, 4]), "resets": resets}
    close(rg_lru(x, input_gate, a_gate, a_param, method="associative", **kw),
          rg_lru(x, input_gate, a_gate, a_param, method="recurrent", **kw), 1e-5)


def test_packed_rows_equal_separate_runs():
    x, input_gate, a_gate, a_param, _ = inputs(jax.random.key(1), b=1, t=80)
    bounds = [0, 3, 70, 80]  # documents of 3, 67 and 10 steps; a boundary inside the second chunk
    resets = jnp.zeros((1, 80), bool).at[0, jnp.array(bounds[:-1])].set(True)
    for method in METHODS:
        y, h = rg_lru(x, input_gate, a_gate, a_param, resets=resets, method=method)
        for a, b in itertools.pairwise(bounds):
            fresh = jnp.zeros((1, b - a), bool).at[0, 0].set(True)  # each document starts a segment
            y_doc, h_doc = rg_lru(x[:, a:b], input_gate[:, a:b], a_gate[:, a:b], a_param, resets=fresh,
                                  method="recurrent")
            close(y[:, a:b], y_doc, 1e-5)
        close(h, h_doc, 1e-5)


def test_seq_lengths_equal_truncated_rows_and_padding_never_leaks():
    x, input_gate, a_gate, a_param, h0 = inputs(jax.random.key(2), b=3, t=12)
    lengths = jnp.array([12, 5, 0])
    pad = jnp.arange(12)[None, :, None] >= lengths[:, None, None]
    x_nan, a_gate_nan = (jnp.where(pad, jnp.nan, a) for a in (x, a_gate))
    for method in METHODS:
        def loss(*args, method=method):
            y, h = rg_lru(*args[:4], initial_state=args[4], seq_lengths=lengths, method=method)
            return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h)), (y, h)

        (_, (y, h)), grads = jax.value_and_grad(loss, argnums=tuple(range(5)), has_aux=True)(
            x_nan, input_gate, a_gate_nan, a_param, h0)
        assert all(np.isfinite(np.asarray(g)).all() for g in grads)
        for row, n in enumerate(lengths.tolist()):
            y_row, h_row = rg_lru(x[row:row + 1, :n], input_gate[row:row + 1, :n], a_gate[row:row + 1, :n],
                                  a_param, initial_state=h0[row:row + 1], method="recurrent")
            close(y[row, :n], y_row[0], 1e-5)
            assert np.all(np.asarray(y[row, n:]) == 0)
            close(h[row], h_row[0], 1e-5)


@pytest.mark.parametrize("steps", [70])  # two chunks of the associative solver
def test_float64_gradients_of_associative_equal_recurrent(steps):
    with jax.enable_x64(True):
        args = inputs(jax.random.key(3), t=steps, dtype=jnp.float64)
        resets = jnp.zeros((2, steps), bool).at[1, 6].set(True).at[0, 0].set(True)

        def grads(method):
            def f(*args):
                y, h = rg_lru(*args[:4], initial_state=args[4], resets=resets,
                              seq_lengths=jnp.array([steps, steps - 3]), method=method)
                return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h))
            return jax.grad(f, argnums=tuple(range(5)))(*args)

        close(grads("associative"), grads("recurrent"), 1e-8)


def test_gates_at_plus_minus_30_stay_finite():
    x, input_gate, a_gate, a_param, h0 = inputs(jax.random.key(4), t=70)
    signs = [jnp.sign(jax.random.normal(jax.random.key(i), a.shape)) for i, a in enumerate((input_gate, a_gate, a_param))]
    input_gate, a_gate, a_param = (30.0 * s for s in signs)  # a -> 1 (1 - a^2 rounds to 0) and a -> 0
    resets = jnp.zeros((2, 70), bool).at[0, 9].set(True)
    for method in METHODS:
        def loss(*args, method=method):
            y, h = rg_lru(*args[:4], initial_state=args[4], resets=resets, method=method)
            return jnp.sum(jnp.sin(y)) + jnp.sum(jnp.cos(h)), (y, h)

        (_, out), grads = jax.value_and_grad(loss, argnums=tuple(range(5)), has_aux=True)(
            x, input_gate, a_gate, a_param, h0)
        assert all(np.isfinite(np.asarray(a)).all() for a in out + grads)
    close(rg_lru(x, input_gate, a_gate, a_param, initial_state=h0, resets=resets, method="associative"),
          rg_lru(x, input_gate, a_gate, a_param, initial_state=h0, resets=resets, method="recurrent"), 1e-5)


def test_bfloat16_inputs_keep_a_float32_state():
    x, input_gate, a_gate, a_param, h0 = (a.astype(jnp.bfloat16) for a in inputs(jax.random.key(5), t=70))
    wide = [a.astype(jnp.float32) for a in (x, input_gate, a_gate, a_param, h0)]
    ref_y, ref_h = rg_lru(*wide[:4], initial_state=wide[4], method="recurrent")
    for method in METHODS:
        y, h = rg_lru(x, input_gate, a_gate, a_param, initial_state=h0, method=method)
        assert y.dtype == jnp.bfloat16 and h.dtype == jnp.float32
        # The state is computed in float32 from the inputs' bfloat16 values: it equals float32's run
        # on those values to float32 rounding; y is that run's output rounded once to bfloat16
        # (8 bits of mantissa: relative error <= 2^-8).
        close(h, ref_h, 1e-5, rtol=1e-5)
        close(y.astype(jnp.float32), ref_y, 1e-5, rtol=2.0 ** -8)


def test_auto_is_associative_the_faster_on_cpu():
    x, input_gate, a_gate, a_param, _ = inputs(jax.random.key(6))
    close(rg_lru(x, input_gate, a_gate, a_param),
          rg_lru(x, input_gate, a_gate, a_param, method="associative"), 0.0)


def test_empty_time_and_batch():
    x, input_gate, a_gate, a_param, h0 = inputs(jax.random.key(8), t=0)
    for method in METHODS:
        y, h = rg_lru(x, input_gate, a_gate, a_param, initial_state=h0, method=method)
        assert y.shape == (2, 0, 6)
        close(h, h0, 0.0)
        y, h = rg_lru(x[:0], input_gate[:0], a_gate[:0], a_param, method=method)
        assert y.shape == (0, 0, 6) and h.shape == (0, 6)


def test_bad_inputs_name_the_argument():
    x, input_gate, a_gate, a_param, _ = inputs(jax.random.key(6))
    with pytest.raises(ValueError, match=r"input_gate must have shape \(B, T, D\) = \(2, 21, 6\), got \(2, 20, 6\)"):
        rg_lru(x, input_gate[:, 1:], a_gate, a_param)
    with pytest.raises(ValueError, match=r"a_gate must have shape \(B, T, D\) = \(2, 21, 6\), got \(21, 6\)"):
        rg_lru(x, input_gate, a_gate[0], a_param)
    with pytest.raises(ValueError, match=r"a_param must have shape \(D,\) = \(6,\), got \(5,\)"):
        rg_lru(x, input_gate, a_gate, a_param[:5])
    with pytest.raises(TypeError, match=r"a_param must have a floating dtype, got int32"):
        rg_lru(x, input_gate, a_gate, jnp.ones(6, jnp.int32))
    with pytest.raises(ValueError, match=r"x must have shape"):
        rg_lru(x[..., None], input_gate, a_gate, a_param)
    with pytest.raises(ValueError, match=r"method must be one of 'auto', 'recurrent', 'associative'; got 'chunked'"):
        rg_lru(x, input_gate, a_gate, a_param, method="chunked")
    with pytest.raises(ValueError, match=r"initial_state must have shape \(2, 6\), got \(2, 5\)"):
        rg_lru(x, input_gate, a_gate, a_param, initial_state=jnp.zeros((2, 5)))
    with pytest.raises(TypeError, match=r"resets must have a bool dtype, got int32"):
        rg_lru(x, input_gate, a_gate, a_param, resets=jnp.zeros((2, 21), jnp.int32))
    with pytest.raises(ValueError, match=r"resets must have shape \(B, T\) = \(2, 21\), got \(2, 20\)"):
        rg_lru(x, input_gate, a_gate, a_param, resets=jnp.zeros((2, 20), bool))
    with pytest.raises(ValueError, match=r"seq_lengths must lie in \[0, 21\]"):
        rg_lru(x, input_gate, a_gate, a_param, seq_lengths=jnp.array([22, 3]))
