"""The batched fast path (jaxrnn.fused) against the reference path and against torch.nn.

The reference path is ``jax.vmap`` of ``Stack.apply`` over ``jaxrnn.scan`` (selected by making
``fused.supports`` return False); its gradients are plain JAX autodiff, so these tests also check
the fast path's custom VJP.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxrnn
from jaxrnn import fused
from jaxrnn.cells import ElmanCell
from jaxrnn.combinators import Bidirectional, Recurrent, Stack
from jaxrnn.interop.torch import from_torch, to_torch

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


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
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
    model = jaxrnn.LSTM(4, 6, num_layers=3, dropout=0.5, bidirectional=True)
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


# -- against torch.nn ---------------------------------------------------------------------------

TORCH_CASES = [
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3)),
    ("LSTM", dict(num_layers=1, bidirectional=False, batch_first=True)),
    ("GRU", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(num_layers=2, bidirectional=True, nonlinearity="relu")),
]


@pytest.mark.parametrize("kind,kwargs", TORCH_CASES)
def test_fast_path_matches_torch_forward_and_gradients(kind, kwargs):
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(4, 6, **kwargs)
    layer, params = from_torch(module)
    batch_first = kwargs.get("batch_first", False)
    steps, batch = 7, 3
    lengths = np.array([7, 2, 5])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, 4) if batch_first else (steps, batch, 4)).astype(np.float32)
    hx = _random_hx(layer, batch, jax.random.key(5))
    hx = jax.tree.map(np.asarray, hx)
    w = rng.standard_normal((batch, steps, layer.output_size) if batch_first
                            else (steps, batch, layer.output_size)).astype(np.float32)

    def loss(params, x, hx):
        out, state = layer.apply(params, x, hx, seq_lengths=jnp.asarray(lengths))
        return jnp.sum(out * w) + sum(jnp.sum(jnp.cos(s)) for s in jax.tree.leaves(state)), (out, state)

    (_, (out, state)), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, x, hx)

    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(h, requires_grad=True) for h in jax.tree.leaves(hx))
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                                     enforce_sorted=False)
    out_p, state_t = module(packed, hxt if kind == "LSTM" else hxt[0])
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=batch_first, total_length=steps)
    state_t = state_t if kind == "LSTM" else (state_t,)
    total = (out_t * torch.tensor(w)).sum() + sum(torch.cos(s).sum() for s in state_t)
    total.backward()

    _close(out, out_t.detach().numpy(), 1e-5)
    _close(list(jax.tree.leaves(state)), [s.detach().numpy() for s in state_t], 1e-5)
    _close(grads[1], xt.grad.numpy(), 1e-4)
    _close(list(jax.tree.leaves(grads[2])), [h.grad.numpy() for h in hxt], 1e-4)
    torch_grads = dict(module.named_parameters())
    for name, g in to_torch(layer, grads[0]).named_parameters():
        np.testing.assert_allclose(g.detach().numpy(), torch_grads[name].grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=name)
