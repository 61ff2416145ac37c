"""The batched fast path (jaxrnn.fused) against the reference path.

The reference path is ``jax.vmap`` of ``Stack.apply`` over ``jaxrnn.scan`` (selected by making
``fused.supports`` return False); its gradients are plain JAX autodiff, so these tests also check
the fast path's custom VJP.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from jaxrnn import fused
from jaxrnn.cells import ElmanCell
from jaxrnn.combinators import Bidirectional, Recurrent, Stack

MODELS = {
    "rnn_tanh": lambda **kw: jaxrnn.RNN(4, 6, **kw),
    "rnn_relu_single_bias": lambda **kw: jaxrnn.RNN(4, 6, nonlinearity="relu", double_bias=False, **kw),
    "lstm": lambda **kw: jaxrnn.LSTM(4, 6, **kw),
    "lstm_proj": lambda **kw: jaxrnn.LSTM(4, 6, proj_size=3, **kw),
    "lstm_no_bias": lambda **kw: jaxrnn.LSTM(4, 6, bias=False, **kw),
    "lstm_single_bias": lambda **kw: jaxrnn.LSTM(4, 6, double_bias=False, **kw),
    "gru": lambda **kw: jaxrnn.GRU(4, 6, **kw),
    "gru_reset_before": lambda **kw: jaxrnn.GRU(4, 6, reset_after=False, **kw),
    "gru_b_hn": lambda **kw: jaxrnn.GRU(4, 6, double_bias=False, **kw),
    "gru_no_bias": lambda **kw: jaxrnn.GRU(4, 6, bias=False, **kw),
}


def _apply(model, params, x, hx=None, lengths=None, key=None, *, reference=False):
    with pytest.MonkeyPatch.context() as mp:
        if reference:
            mp.setattr(fused, "supports", lambda net: False)
        return model.apply(params, x, hx, seq_lengths=lengths, key=key)


def _random_hx(model, batch, key):
    ld = model.num_layers * model.num_directions
    out = model.cell().output_size
    k1, k2 = jax.random.split(key)
    h = jax.random.normal(k1, (ld, batch, out))
    if isinstance(model, jaxrnn.LSTM):
        return h, jax.random.normal(k2, (ld, batch, model.hidden_size))
    return h


def _outputs_and_grads(model, params, x, hx, lengths, key=None, *, reference=False):
    """Jitted ``((out, state), d loss / d (params, x, hx))`` for a loss touching every output."""
    def loss(params, x, hx):
        out, state = model.apply(params, x, hx, seq_lengths=lengths, key=key)
        leaves = [out] + list(jax.tree.leaves(state))
        return sum(jnp.sum(jnp.sin(a + 0.1 * i)) for i, a in enumerate(leaves)), (out, state)

    with pytest.MonkeyPatch.context() as mp:
        if reference:
            mp.setattr(fused, "supports", lambda net: False)
        (_, outputs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
            params, x, hx)
    return outputs, grads


def _close(a, b, tol):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol), a, b)


# Each model once, alternating a 1-layer unidirectional and a 2-layer bidirectional stack (the torch
# parity grid in test_torch_parity.py covers every layer count and direction through this path too).
CASES = [(name, *((1, False) if i % 2 else (2, True))) for i, name in enumerate(sorted(MODELS))]


@pytest.mark.parametrize("name,layers,bidirectional", CASES)
def test_fast_path_matches_reference_forward_and_gradients(name, layers, bidirectional):
    model = MODELS[name](num_layers=layers, bidirectional=bidirectional)
    keys = jax.random.split(jax.random.key(7), 3)
    params = model.init(keys[0])
    x = jax.random.normal(keys[1], (7, 4, 4))  # (T, B, I)
    hx = _random_hx(model, 4, keys[2])
    lengths = jnp.array([7, 3, 0, 5])
    fast, grads = _outputs_and_grads(model, params, x, hx, lengths)
    ref, ref_grads = _outputs_and_grads(model, params, x, hx, lengths, reference=True)
    _close(fast, ref, 1e-5)
    _close(grads, ref_grads, 1e-4)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_custom_vjp_matches_autodiff_of_the_fast_path_under_jit(name, monkeypatch):
    model = MODELS[name](num_layers=2, bidirectional=True, batch_first=True)
    k1, k2 = jax.random.split(jax.random.key(3))
    params = model.init(k1)
    x = jax.random.normal(k2, (3, 9, 4))  # (B, T, I)
    lengths = jnp.array([9, 1, 6])

    def loss(params, x, lengths):
        out, state = model.apply(params, x, seq_lengths=lengths)
        return jnp.sum(jnp.sin(out)) + sum(jnp.sum(s ** 2) for s in jax.tree.leaves(state))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x, lengths)
    monkeypatch.setattr(fused, "has_custom_vjp", lambda cell: False)
    autodiff = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x, lengths)
    _close(grads, autodiff, 1e-4)


def test_dropout_masks_match_the_reference_path():
    model = jaxrnn.LSTM(4, 6, num_layers=2, dropout=0.5, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4))
    hx = _random_hx(model, 3, jax.random.key(3))
    key = jax.random.key(2)
    fast, grads = _outputs_and_grads(model, params, x, hx, None, key)
    ref, ref_grads = _outputs_and_grads(model, params, x, hx, None, key, reference=True)
    _close((fast, grads), (ref, ref_grads), 1e-4)
    assert not np.allclose(fast[0], _apply(model, params, x, hx)[0])  # dropout did act


@pytest.mark.parametrize("shape", [(6, 4), (6, 0, 4), (0, 3, 4)])
def test_unbatched_empty_batch_and_zero_steps(shape):
    model = jaxrnn.GRU(4, 6, num_layers=2, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), shape)
    fast = _apply(model, params, x)
    ref = _apply(model, params, x, reference=True)
    assert fast[0].shape == ref[0].shape and fast[1].shape == ref[1].shape
    _close(fast, ref, 1e-5)


def test_traced_lengths_are_clamped_like_the_reference():
    model = jaxrnn.LSTM(4, 6, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4))
    lengths = jnp.array([9, -2, 3])
    with pytest.MonkeyPatch.context() as mp:
        fast = jax.jit(lambda p, x, n: model.apply(p, x, seq_lengths=n))(params, x, lengths)
        mp.setattr(fused, "supports", lambda net: False)
        ref = jax.jit(lambda p, x, n: model.apply(p, x, seq_lengths=n))(params, x, lengths)
    _close(fast, ref, 1e-5)


def test_supports_only_stacks_of_builtin_cells():
    class MyCell(ElmanCell):
        pass

    assert fused.supports(Stack((Bidirectional(jaxrnn.GRUCell(3)), Recurrent(jaxrnn.LSTMCell(3)))))
    assert not fused.supports(Stack((Recurrent(MyCell(3)),)))
    assert not fused.supports(Recurrent(jaxrnn.LSTMCell(3)))


@pytest.mark.parametrize("layers", [
    (Recurrent(jaxrnn.LSTMCell(6)), Recurrent(jaxrnn.GRUCell(6), reverse=True),
     Bidirectional(jaxrnn.ElmanCell(6), merge="sum")),  # unequal layers: a python loop
    (Recurrent(jaxrnn.GRUCell(6)),) + (Bidirectional(jaxrnn.LSTMCell(5), merge="ave"),) * 3,  # scanned
])
def test_apply_stack_matches_the_vmapped_stack(layers):
    net = Stack(layers)
    params = net.init(jax.random.key(0), 4)
    x = jax.random.normal(jax.random.key(1), (5, 2, 4))
    lengths = jnp.array([5, 2])

    def fast(params, x):
        ys, finals = fused.apply_stack(net, params, x, lengths=lengths)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(c) for c in jax.tree.leaves(finals)), (ys, finals)

    def ref(params, x):
        ys, finals = jax.vmap(lambda xb, n: net.apply(params, xb, seq_length=n), in_axes=(1, 0),
                              out_axes=(1, 0))(x, lengths)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(c) for c in jax.tree.leaves(finals)), (ys, finals)

    results = [jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(params, x) for f in (fast, ref)]
    _close(results[0], results[1], 1e-4)


@pytest.mark.parametrize("name", ["lstm_proj", "gru", "rnn_tanh"])
def test_batched_layers_take_the_fast_path(name, monkeypatch):
    """``RNN``/``LSTM``/``GRU.apply`` on a batch dispatch here, so test_torch_parity checks this path."""
    calls = []
    apply_stack = fused.apply_stack
    monkeypatch.setattr(fused, "apply_stack", lambda *a, **k: calls.append(1) or apply_stack(*a, **k))
    model = MODELS[name](num_layers=2, bidirectional=True)
    model.apply(model.init(jax.random.key(0)), jnp.ones((3, 2, 4)))
    assert calls == [1]
