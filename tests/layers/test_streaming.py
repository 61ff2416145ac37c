"""Streaming: ``initial_state`` and ``step`` run one time step of the whole stack and equal
``apply`` over the sequence; bidirectional layers refuse; ``charlm.sample`` streams."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from jaxrnn.app import charlm
from tests.helpers import close, random_hx

LAYERS = [
    jaxrnn.RNN(4, 6, num_layers=2, nonlinearity="relu"),
    jaxrnn.LSTM(4, 6, num_layers=3, proj_size=3, batch_first=True),
    jaxrnn.GRU(4, 6, num_layers=2, reset_after=False, double_bias=False),
    jaxrnn.LSTM(4, 6, compute_dtype="bfloat16"),
]


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
@pytest.mark.parametrize("batched", [True, False])
def test_stepping_through_a_sequence_equals_apply(layer, batched):
    params = layer.init(jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (5, 3, 4))  # (T, B, I)
    hx = random_hx(layer, 3, jax.random.key(2))
    if not batched:
        xs, hx = xs[:, 0], jax.tree.map(lambda h: h[:, 0], hx)
    x_in = jnp.swapaxes(xs, 0, 1) if layer.batch_first and batched else xs
    out, final = layer.apply(params, x_in, hx)
    step = jax.jit(layer.step)
    state, ys = hx, []
    for t in range(xs.shape[0]):
        y, state = step(params, xs[t], state)
        ys.append(y)
    ys = jnp.stack(ys, 1 if layer.batch_first and batched else 0)
    tol = 1e-6 if layer.compute_dtype is None else 1e-2
    close(ys, out, tol)
    close(state, final, tol)
    assert ys.dtype == out.dtype and jax.tree.map(lambda s: s.dtype, state) == jax.tree.map(lambda s: s.dtype, final)


def test_initial_state_is_torch_shaped_zeros():
    h, c = jaxrnn.LSTM(4, 6, num_layers=2, proj_size=3).initial_state(5)
    assert h.shape == (2, 5, 3) and c.shape == (2, 5, 6) and not np.any(h) and not np.any(c)
    assert jaxrnn.GRU(4, 6).initial_state().shape == (1, 6)
    assert jaxrnn.RNN(4, 6).initial_state(2, dtype="bfloat16").dtype == jnp.bfloat16
    y, state = jaxrnn.GRU(4, 6).step(jaxrnn.GRU(4, 6).init(jax.random.key(0)), jnp.ones(4))  # state None: zeros
    assert y.shape == (6,) and state.shape == (1, 6)


def test_bidirectional_and_bad_inputs_are_refused():
    bi = jaxrnn.GRU(4, 6, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional=True: step runs one time step forward"):
        bi.step(bi.init(jax.random.key(0)), jnp.ones((2, 4)))
    gru = jaxrnn.GRU(4, 6)
    params = gru.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 4\) or \(4,\), got \(2, 5\)"):
        gru.step(params, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"state must have shape \(1, 2, 6\), got \(1, 3, 6\)"):
        gru.step(params, jnp.ones((2, 4)), jnp.zeros((1, 3, 6)))
    with pytest.raises(TypeError, match=r"state must be a tuple \(h_0, c_0\) for LSTM"):
        lstm = jaxrnn.LSTM(4, 6)
        lstm.step(lstm.init(jax.random.key(0)), jnp.ones(4), jnp.zeros((1, 6)))
    net = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(4)), jaxrnn.Bidirectional(jaxrnn.GRUCell(4))))
    with pytest.raises(ValueError, match=r"layers\[1\] is Bidirectional.*must be a forward Recurrent"):
        net.step(net.init(jax.random.key(0), 3), jnp.ones(3))


def test_stack_step_equals_stack_apply_for_any_cell():
    net = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.MinGRUCell(5)), jaxrnn.Recurrent(jaxrnn.LSTMCell(4))))
    params = net.init(jax.random.key(0), 3)
    xs = jax.random.normal(jax.random.key(1), (6, 3))
    ys, final = net.apply(params, xs)
    carry, steps = None, []
    for x in xs:
        y, carry = net.step(params, x, carry)
        steps.append(y)
    close(jnp.stack(steps), ys, 1e-6)
    close(carry, final, 1e-6)


def test_greedy_sampling_streams_what_apply_predicts():
    model = charlm.CharLM(7, "lstm", hidden_size=8, num_layers=2, embed_size=4)
    params = model.init(jax.random.key(0))
    prime = jnp.array([1, 2, 3])
    out = charlm.sample(model, params, prime, 6, jax.random.key(1), 0.0)
    tokens = list(np.asarray(prime))
    for _ in range(6):  # the reference: the full sequence through apply, argmax of the last step
        logits, _ = model.apply(params, jnp.asarray(tokens)[None])
        tokens.append(int(jnp.argmax(logits[0, -1])))
    assert list(np.asarray(out)) == tokens[3:]
