"""The torch-shaped layers: shapes, variable lengths, dropout, invariances."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from tests.helpers import close, layer_input, random_hx

LAYERS = [
    jaxrnn.RNN(4, 6, num_layers=2, bidirectional=True),
    jaxrnn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3),
    jaxrnn.GRU(4, 6, num_layers=3, batch_first=True),
    jaxrnn.GRU(4, 6, bidirectional=True, reset_after=False, double_bias=False),
]


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_seed_shapes(layer):
    params = layer.init(jax.random.key(0))
    out, state = layer.apply(params, layer_input(layer, 1, 10, jax.random.key(0)))
    d = layer.num_directions
    h_out = layer.cell().output_size
    expected = (1, 10, d * h_out) if layer.batch_first else (10, 1, d * h_out)
    assert out.shape == expected
    h_n = state[0] if isinstance(layer, jaxrnn.LSTM) else state
    assert h_n.shape == (layer.num_layers * d, 1, h_out)


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_length_zero_row_returns_its_initial_state(layer):
    params = layer.init(jax.random.key(0))
    hx = random_hx(layer, 3, jax.random.key(5))
    out, state = layer.apply(params, layer_input(layer, 3, 7, jax.random.key(0)), hx, seq_lengths=jnp.array([7, 0, 4]))
    row = 1
    out_row = out[row] if layer.batch_first else out[:, row]
    assert np.all(np.asarray(out_row) == 0.0)
    close(jax.tree.map(lambda s: s[:, row], state), jax.tree.map(lambda s: s[:, row], hx), 0, rtol=0)


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_batch_equals_loop_over_unbatched_rows(layer):
    params = layer.init(jax.random.key(0))
    x = layer_input(layer, 3, 7, jax.random.key(0))
    hx = random_hx(layer, 3, jax.random.key(5))
    lengths = jnp.array([7, 2, 5])
    out, state = layer.apply(params, x, hx, seq_lengths=lengths)
    apply_row = jax.jit(lambda x, hx, n: layer.apply(params, x, hx, seq_lengths=n))  # one compile for 3 rows
    for b in range(3):
        x_b = x[b] if layer.batch_first else x[:, b]
        out_b, state_b = apply_row(x_b, jax.tree.map(lambda s, b=b: s[:, b], hx), lengths[b])
        close(out[b] if layer.batch_first else out[:, b], out_b, 1e-6, rtol=0)
        close(jax.tree.map(lambda s, b=b: s[:, b], state), state_b, 1e-6, rtol=0)


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_jit_equals_eager_with_traced_lengths(layer):
    params = layer.init(jax.random.key(0))
    x = layer_input(layer, 3, 7, jax.random.key(0))
    lengths = jnp.array([7, 0, 3])
    eager = layer.apply(params, x, seq_lengths=lengths)
    jitted = jax.jit(lambda p, x, n: layer.apply(p, x, seq_lengths=n))(params, x, lengths)
    close(eager, jitted, 1e-6, rtol=0)


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_layer_equals_its_network_of_combinators(layer):
    params = layer.init(jax.random.key(0))
    x = layer_input(layer, 1, 7, jax.random.key(0))
    out, _ = layer.apply(params, x)
    ys, _ = layer.network().apply(params, x[0] if layer.batch_first else x[:, 0])
    close(out[0] if layer.batch_first else out[:, 0], ys, 1e-6, rtol=0)


def test_models_are_hashable_and_jit_static():
    model = jaxrnn.LSTM(4, 6, num_layers=2)
    assert model == dataclasses.replace(model) and hash(model) == hash(dataclasses.replace(model))
    run = jax.jit(lambda m, p, x: m.apply(p, x)[0], static_argnums=0)
    params = model.init(jax.random.key(0))
    x = jnp.ones((5, 2, 4))
    close(run(model, params, x), model.apply(params, x)[0], 1e-6, rtol=0)


def test_dropout_is_explicit_a_key_or_deterministic():
    model = jaxrnn.LSTM(4, 6, num_layers=3, dropout=0.5)
    params = model.init(jax.random.key(0))
    x = jnp.ones((5, 2, 4))
    apply = jax.jit(lambda x, key: model.apply(params, x, key=key)[0])
    plain = model.apply(params, x, deterministic=True)[0]
    close(plain, dataclasses.replace(model, dropout=0.0).apply(params, x)[0], 0, rtol=0)
    close(model.apply(params, x, key=jax.random.key(1), deterministic=True)[0], plain, 0, rtol=0)  # key unused
    a, b, c = (apply(x, jax.random.key(i)) for i in (1, 1, 2))
    close(a, b, 0, rtol=0)
    assert not np.allclose(a, plain) and not np.allclose(a, c)
    with pytest.raises(ValueError, match=r"key is required: dropout=0.5 acts between the layers .*deterministic=True"):
        model.apply(params, x)  # torch would drop out in train mode; jaxrnn asks which is meant
    with pytest.raises(ValueError, match=r"key is required"):
        jax.jit(lambda x: model.network().apply(params, x[:, 0]))(x)  # Stack too, at trace time
    with pytest.raises(TypeError, match=r"deterministic must be a bool, got str"):
        model.apply(params, x, deterministic="yes")
    with pytest.warns(UserWarning, match=r"dropout=0.5 with num_layers=1 has no effect"):  # as torch warns
        single = jaxrnn.LSTM(4, 6, dropout=0.5)  # no layer above: dropout has nothing to act on
    p1 = single.init(jax.random.key(0))
    close(single.apply(p1, x, key=jax.random.key(1)), single.apply(p1, x), 0, rtol=0)  # no key needed


def test_raw_uint32_keys_work_wherever_keys_do():
    """jax.random.PRNGKey (raw key data, the older API many scripts and linen's rngs use) draws
    the same masks as the typed key it wraps, in layers, Stack and LinenRNN."""
    from jaxrnn.interop import LinenRNN

    model = jaxrnn.LSTM(3, 4, num_layers=2, dropout=0.5)
    params = model.init(jax.random.PRNGKey(0))
    close(params, model.init(jax.random.key(0)), 0)
    x = jnp.ones((5, 2, 3))
    raw, typed = jax.random.PRNGKey(1), jax.random.wrap_key_data(jax.random.PRNGKey(1))
    out = model.apply(params, x, key=raw)[0]
    close(out, model.apply(params, x, key=typed)[0], 0)
    assert not np.allclose(out, model.apply(params, x, deterministic=True)[0])  # the key did draw a mask
    net = model.network()
    close(net.apply(params, x[:, 0], key=raw)[0], net.apply(params, x[:, 0], key=typed)[0], 0)
    module = LinenRNN(model)
    variables = module.init(jax.random.PRNGKey(0), x, deterministic=True)
    linen = module.apply(variables, x, deterministic=False, rngs={"dropout": raw})[0]  # linen derives its key
    close(linen, module.apply(variables, x, deterministic=False, rngs={"dropout": typed})[0], 0)
    assert not np.allclose(linen, module.apply(variables, x, deterministic=True)[0])


def test_dropout_mask_statistics():
    x = jnp.ones((20000,))
    y = jaxrnn.combinators.dropout(jax.random.key(0), x, 0.25)
    dropped = float((y == 0).mean())
    assert abs(dropped - 0.25) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)


@pytest.mark.parametrize("shape", [(0, 3, 4), (7, 0, 4)])
def test_empty_time_or_batch(shape):
    model = jaxrnn.LSTM(4, 6, num_layers=2, bidirectional=True)
    out, (h, c) = model.apply(model.init(jax.random.key(0)), jnp.zeros(shape))
    assert out.shape == shape[:2] + (12,)
    assert h.shape == (4, shape[1], 6) and c.shape == (4, shape[1], 6)
    assert np.all(np.asarray(h) == 0.0)


def test_keras_preset_for_layers():
    params = jaxrnn.GRU(4, 6, double_bias=False).init(jax.random.key(0), preset="keras")
    np.testing.assert_array_equal(params[0]["b_ih"], 0.0)
    np.testing.assert_array_equal(params[0]["b_hn"], 0.0)


def test_gradient_flows_through_hx_and_lengths_under_jit():
    model = jaxrnn.GRU(4, 6, num_layers=2, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = layer_input(model, 3, 7, jax.random.key(0))
    hx = random_hx(model, 3, jax.random.key(5))

    @jax.jit
    def loss(p, hx):
        out, h_n = model.apply(p, x, hx, seq_lengths=jnp.array([7, 1, 0]))
        return (out ** 2).sum() + (h_n ** 2).sum()

    g_params, g_hx = jax.grad(loss, argnums=(0, 1))(params, hx)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(g_params))
    np.testing.assert_allclose(g_hx[:, 2], 2 * hx[:, 2], rtol=1e-6)  # length 0: h_n = hx
