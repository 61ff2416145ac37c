"""Equinox: EqxRNN equals layer.apply, per example under jax.vmap (its batching rule reaches the
batched engine) and batched; it trains with eqx.filter_jit/filter_grad and optax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrnn
from jaxrnn.interop import EqxRNN
from tests.helpers import close, summing_task


@pytest.mark.parametrize("layer", [jaxrnn.LSTM(4, 6, num_layers=2, batch_first=True, dropout=0.3),
                                   jaxrnn.GRU(4, 6, bidirectional=True)], ids=repr)
def test_vmap_of_the_module_equals_a_loop_of_layer_apply(layer):
    module = EqxRNN(layer, key=jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (5, 7, 4))
    lengths = jnp.array([7, 3, 0, 5, 1])
    keys = jax.random.split(jax.random.key(2), 5)
    ld = layer.num_layers * layer.num_directions
    hx = jax.random.normal(jax.random.key(3), (5, ld, 6))
    hx = (hx, hx + 1) if isinstance(layer, jaxrnn.LSTM) else hx
    fast = jax.jit(jax.vmap(lambda x, h, n, k: module(x, h, seq_lengths=n, key=k)))(xs, hx, lengths, keys)
    rows = [layer.apply(module.params, xs[i], jax.tree.map(lambda a, i=i: a[i], hx), seq_lengths=lengths[i],
                        key=keys[i])
            for i in range(5)]
    close(fast, jax.tree.map(lambda *a: jnp.stack(a), *rows), 1e-6)
    batch = jnp.swapaxes(xs, 0, 1) if not layer.batch_first else xs
    close(module(batch, deterministic=True), layer.apply(module.params, batch, deterministic=True), 1e-6)  # batched
    plain = jax.vmap(lambda x: module(x, deterministic=True))(xs)  # evaluation, through the batching rule
    close(plain, jax.vmap(lambda x: layer.apply(module.params, x, deterministic=True))(xs), 1e-6)
    if layer.dropout:  # dropout is explicit: a key, or deterministic=True
        with pytest.raises(ValueError, match="key is required: dropout=0.3"):
            jax.vmap(module)(xs)
        with pytest.raises(ValueError, match="key is required: dropout=0.3"):
            module(xs[0])


def test_gradients_with_and_without_the_batching_rule_agree():
    layer = jaxrnn.LSTM(4, 6, batch_first=True)
    xs = jax.random.normal(jax.random.key(1), (5, 7, 4))
    fast, slow = EqxRNN(layer, key=jax.random.key(0)), EqxRNN(layer, key=jax.random.key(0), fast_vmap=False)

    def loss(model, xs):
        return jnp.sum(jnp.sin(jax.vmap(model)(xs)[0]))

    close(eqx.filter_jit(eqx.filter_grad(loss))(fast, xs).params, eqx.filter_grad(loss)(slow, xs).params, 1e-5)


@pytest.mark.parametrize("fast_vmap", [True, False])
def test_per_example_and_unbatched_gradients_equal_layer_apply(fast_vmap):
    """A gradient inside the vmap (per-example) or of one unbatched call: JAX cannot differentiate
    the batching rule itself there, so the module takes the plain call; results are the same."""
    layer = jaxrnn.GRU(4, 6, num_layers=2, batch_first=True)
    model = EqxRNN(layer, key=jax.random.key(0), fast_vmap=fast_vmap)
    xs = jax.random.normal(jax.random.key(1), (5, 7, 4))
    lengths = jnp.array([7, 3, 0, 5, 1])

    def loss(m, x, n):
        return jnp.sum(jnp.sin(m(x, seq_lengths=n)[0]))

    def reference(p, x, n):
        return jnp.sum(jnp.sin(layer.apply(p, x, seq_lengths=n)[0]))

    per_example = jax.vmap(eqx.filter_grad(loss), in_axes=(None, 0, 0))(model, xs, lengths).params
    want = [jax.grad(reference)(model.params, x, n) for x, n in zip(xs, lengths)]
    close(per_example, jax.tree.map(lambda *a: jnp.stack(a), *want), 1e-5)
    close(eqx.filter_grad(loss)(model, xs[0], lengths[0]).params, want[0], 1e-5)


def test_vmap_and_grad_of_vmap_reach_the_batched_engine_and_per_example_gradients_do_not(monkeypatch):
    batches = []
    run = jaxrnn.GRU.run_time_major
    monkeypatch.setattr(jaxrnn.GRU, "run_time_major", lambda self, p, x, *a, **k: (
        batches.append(x.shape[1]), run(self, p, x, *a, **k))[1])
    model = EqxRNN(jaxrnn.GRU(4, 6), key=jax.random.key(0))
    xs = jnp.ones((5, 7, 4))

    def loss(m, x):
        return jnp.sum(m(x)[0])

    for call in (lambda: jax.vmap(model)(xs), lambda: eqx.filter_grad(lambda m: jnp.sum(jax.vmap(m)(xs)[0]))(model)):
        batches.clear()
        call()
        assert 5 in batches, batches  # the rule's batched call (B = 1 only where custom_vmap traces the unbatched call)
    batches.clear()
    jax.vmap(eqx.filter_grad(loss), in_axes=(None, 0))(model, xs)
    assert batches and set(batches) == {1}  # the plain per-example call, vmapped by JAX


def test_an_equinox_model_trains_with_optax():
    class Regressor(eqx.Module):
        rnn: EqxRNN
        head: eqx.nn.Linear

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.rnn = EqxRNN(jaxrnn.GRU(3, 16, batch_first=True), key=k1)
            self.head = eqx.nn.Linear(16, 1, key=k2)

        def __call__(self, x):  # one example: x (T, 3)
            _, h_n = self.rnn(x)
            return self.head(h_n[-1])[0]

    xs, ys = summing_task(10, 3, seed=1)
    model = Regressor(jax.random.key(0))
    optimizer = optax.adam(1e-2)
    state = optimizer.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, state):
        loss, grads = eqx.filter_value_and_grad(lambda m: jnp.mean((jax.vmap(m)(xs) - ys) ** 2))(model)
        updates, state = optimizer.update(grads, state, model)
        return eqx.apply_updates(model, updates), state, loss

    losses = []
    for _ in range(60):
        model, state, loss = step(model, state)
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0]


def test_sequence_layers_and_errors():
    stack = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(5)),))
    module = EqxRNN(stack, key=jax.random.key(0), input_size=3)
    xs = jnp.ones((2, 6, 3))
    close(jax.vmap(module)(xs), jax.vmap(lambda x: stack.apply(module.params, x))(xs), 1e-6)
    with pytest.raises(ValueError, match="input_size is required for a Stack"):
        EqxRNN(stack, key=jax.random.key(0))
    assert not np.any(np.isnan(module(xs)[0]))
