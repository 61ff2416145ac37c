"""Flax interop: from_flax parity with linen's nn.RNN, and the linen/NNX modules wrapping jaxrnn layers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxrnn
from jaxrnn.interop import NNXRNN, LinenRNN, from_flax
from tests.helpers import randomized, summing_task, valid_steps

I, T, B, H = 5, 6, 3, 4
CELLS = {
    "simple_tanh": lambda: nn.SimpleCell(H),
    "simple_relu": lambda: nn.SimpleCell(H, activation_fn=nn.relu),
    "lstm": lambda: nn.LSTMCell(H),
    "optimized_lstm": lambda: nn.OptimizedLSTMCell(H),
    "gru": lambda: nn.GRUCell(H),
}


def flax_rnn(name, x, **kwargs):
    rnn = nn.RNN(CELLS[name](), return_carry=True, **kwargs)
    return rnn, randomized(rnn.init(jax.random.key(0), x))


def final_h(layer, state):
    return state[0][0] if isinstance(layer, jaxrnn.LSTM) else state[0]


@pytest.mark.parametrize("name, time_major", [(name, False) for name in sorted(CELLS)]
                         + [("lstm", True), ("simple_tanh", True)])
def test_from_flax_matches_outputs_and_carry(name, time_major):
    x = jax.random.normal(jax.random.key(1), (T, B, I) if time_major else (B, T, I))
    rnn, variables = flax_rnn(name, x, time_major=time_major)
    carry, ys = rnn.apply(variables, x)
    layer, params = from_flax(rnn, variables)
    assert layer.batch_first is not time_major and not layer.double_bias
    assert jaxrnn.param_count(params) == jaxrnn.param_count(variables)
    out, state = layer.apply(params, x)
    np.testing.assert_allclose(out, ys, atol=1e-5)
    if isinstance(layer, jaxrnn.LSTM):  # Flax's carry is (c, h)
        np.testing.assert_allclose(state[0][0], carry[1], atol=1e-5)
        np.testing.assert_allclose(state[1][0], carry[0], atol=1e-5)
    else:
        np.testing.assert_allclose(state[0], carry, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_from_flax_final_carry_with_seq_lengths(name):
    x = jax.random.normal(jax.random.key(2), (B, T, I))
    rnn, variables = flax_rnn(name, x)
    lengths = jnp.array([T, 3, 1])
    carry, ys = rnn.apply(variables, x, seq_lengths=lengths)
    layer, params = from_flax(rnn, variables)
    out, state = layer.apply(params, x, seq_lengths=lengths)
    np.testing.assert_allclose(final_h(layer, state), carry[1] if name == "lstm" else carry, atol=1e-5)
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(out[b, :n], ys[b, :n], atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_from_flax_cell_matches_one_step(name):
    cell = CELLS[name]()
    x = jax.random.normal(jax.random.key(3), (I,))
    carry0 = cell.initialize_carry(jax.random.key(4), (I,))
    variables = randomized(cell.init(jax.random.key(0), carry0, x))
    carry0 = jax.tree.map(lambda c: c + 0.3, carry0)
    carry, y = cell.apply(variables, carry0, x)
    ours, params = from_flax(cell, variables)
    if isinstance(ours, jaxrnn.LSTMCell):
        new, y2 = ours.apply(params, jaxrnn.LSTMState(h=carry0[1], c=carry0[0]), x)
        np.testing.assert_allclose(new.c, carry[0], atol=1e-5)
    else:
        new, y2 = ours.apply(params, carry0, x)
    np.testing.assert_allclose(y2, y, atol=1e-5)


def test_from_flax_errors():
    x = jnp.ones((B, T, I))

    def convert(module):
        return from_flax(module, module.init(jax.random.key(0), x))

    with pytest.raises(ValueError, match="reverse must be False"):
        convert(nn.RNN(nn.GRUCell(H), reverse=True))
    with pytest.raises(ValueError, match="activation_fn must be tanh or relu for SimpleCell, got sigmoid"):
        convert(nn.RNN(nn.SimpleCell(H, activation_fn=nn.sigmoid)))
    with pytest.raises(ValueError, match="residual must be False"):
        convert(nn.RNN(nn.SimpleCell(H, residual=True)))
    with pytest.raises(ValueError, match="activation_fn must be tanh for LSTMCell, got relu"):
        convert(nn.RNN(nn.LSTMCell(H, activation_fn=nn.relu)))
    with pytest.raises(ValueError, match="gate_fn must be sigmoid for GRUCell, got hard_sigmoid"):
        convert(nn.RNN(nn.GRUCell(H, gate_fn=nn.hard_sigmoid)))
    with pytest.raises(ValueError, match="carry_init must be zeros"):
        convert(nn.RNN(nn.LSTMCell(H, carry_init=nn.initializers.ones_init())))
    with pytest.raises(TypeError, match="got flax.linen.recurrent.MGUCell"):
        convert(nn.RNN(nn.MGUCell(H)))
    rnn = nn.RNN(nn.GRUCell(H))
    with pytest.raises(ValueError, match="expected params\\['cell'\\]"):
        from_flax(rnn, {"params": {"layer": {}}})
    with pytest.raises(ValueError, match="expected the params of a Flax LSTMCell"):
        from_flax(nn.RNN(nn.LSTMCell(H)), rnn.init(jax.random.key(0), x))
    with pytest.raises(ValueError, match="expected hidden size 5 \\(the cell's features\\), got 4"):
        from_flax(nn.RNN(nn.GRUCell(H + 1)), rnn.init(jax.random.key(0), x))


WRAPPED = {
    "lstm_torch_shaped": (lambda: jaxrnn.LSTM(I, H, num_layers=2, batch_first=True), (B, T, I)),
    "gru_time_major": (lambda: jaxrnn.GRU(I, H, bidirectional=True, merge_mode="sum"), (T, B, I)),
    "stack": (lambda: jaxrnn.Stack((jaxrnn.Bidirectional(jaxrnn.LSTMCell(H)),
                                    jaxrnn.Recurrent(jaxrnn.ElmanCell(H)))), (B, T, I)),
    "recurrent_unbatched": (lambda: jaxrnn.Recurrent(jaxrnn.GRUCell(H)), (T, I)),
}


def direct(layer, params, x, **kw):
    if isinstance(layer, (jaxrnn.RNN, jaxrnn.LSTM, jaxrnn.GRU)):
        return layer.apply(params, x, **kw)
    if x.ndim == 2:
        return layer.apply(params, x)
    return jax.vmap(lambda row: layer.apply(params, row))(x)


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_linen_module_equals_direct_apply_and_jit(name):
    make, shape = WRAPPED[name]
    layer = make()
    x = jax.random.normal(jax.random.key(5), shape)
    module = LinenRNN(layer)
    variables = module.init(jax.random.key(0), x)
    params = variables["params"]["layer"]
    expected_struct = jax.tree.structure(jax.eval_shape(lambda: direct_init(layer, x.shape[-1])))
    assert jax.tree.structure(params) == expected_struct
    got = jax.jit(module.apply)(variables, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got, direct(layer, params, x))


def direct_init(layer, input_size):
    if isinstance(layer, (jaxrnn.RNN, jaxrnn.LSTM, jaxrnn.GRU)):
        return layer.init(jax.random.key(0))
    return layer.init(jax.random.key(0), input_size)


def test_linen_module_passes_hx_seq_lengths_and_dropout():
    layer = jaxrnn.GRU(I, H, num_layers=2, batch_first=True, dropout=0.5)
    module = LinenRNN(layer)
    x = jax.random.normal(jax.random.key(6), (B, T, I))
    with pytest.raises(ValueError, match=r"deterministic must be True or False for a layer with dropout=0.5 "
                                         r"\(as for nn.Dropout\), got None"):
        module.init(jax.random.key(0), x)
    variables = module.init(jax.random.key(0), x, deterministic=True)
    params = variables["params"]["layer"]
    hx = jax.random.normal(jax.random.key(7), (2, B, H))
    lengths = jnp.array([T, 2, 0])
    out, h_n = module.apply(variables, x, hx, seq_lengths=lengths, deterministic=True)
    ref, ref_h = layer.apply(params, x, hx, seq_lengths=lengths, deterministic=True)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    np.testing.assert_allclose(h_n, ref_h, atol=1e-6)
    rngs = {"dropout": jax.random.key(8)}
    train = module.apply(variables, x, deterministic=False, rngs=rngs)[0]
    assert not np.allclose(train, ref)
    np.testing.assert_array_equal(train, module.apply(variables, x, deterministic=False, rngs=rngs)[0])


class Classifier(nn.Module):
    """A Flax model with a jaxrnn layer inside: GRU -> last step -> Dense."""

    @nn.compact
    def __call__(self, x):
        out, _ = LinenRNN(jaxrnn.GRU(I, 16, batch_first=True))(x)
        return nn.Dense(1)(out[:, -1])[:, 0]


def test_linen_training_loop_reduces_loss():
    x, y = summing_task(T, I, scale=0.3)
    model = Classifier()
    params = model.init(jax.random.key(0), x)["params"]
    opt = optax.adam(1e-2)
    state = opt.init(params)

    def loss_fn(p):
        return jnp.mean((model.apply({"params": p}, x) - y) ** 2)

    @jax.jit
    def step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    losses = []
    for _ in range(30):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_nnx_module_equals_direct_apply_and_jit(name):
    make, shape = WRAPPED[name]
    layer = make()
    x = jax.random.normal(jax.random.key(5), shape)
    module = NNXRNN(layer, rngs=nnx.Rngs(0), input_size=I)
    params = module.layer_params()
    got = nnx.jit(lambda m, x: m(x))(module, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got, direct(layer, params, x))
    assert jaxrnn.param_count(nnx.state(module, nnx.Param)) == jaxrnn.param_count(params)


class NNXRegressor(nnx.Module):
    def __init__(self, rngs):
        self.rnn = NNXRNN(jaxrnn.LSTM(I, 16, batch_first=True), rngs=rngs)
        self.head = nnx.Linear(16, 1, rngs=rngs)

    def __call__(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])[:, 0]


def test_nnx_training_loop_reduces_loss():
    x, y = summing_task(T, I, scale=0.3)
    model = NNXRegressor(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_nnx_module_dropout_follows_train_and_eval_like_nnx_dropout():
    layer = jaxrnn.GRU(I, H, num_layers=2, batch_first=True, dropout=0.5)
    module = NNXRNN(layer, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(6), (B, T, I))
    plain = layer.apply(module.layer_params(), x, deterministic=True)[0]
    first, second = module(x)[0], module(x)[0]  # a new module trains: dropout from its own rngs
    assert not np.allclose(first, plain) and not np.allclose(first, second)
    module.eval()
    np.testing.assert_array_equal(module(x)[0], plain)
    module.train()
    assert not np.allclose(module(x)[0], plain)
    np.testing.assert_array_equal(module(x, rngs=nnx.Rngs(dropout=1))[0], module(x, rngs=nnx.Rngs(dropout=1))[0])
    np.testing.assert_array_equal(module(x, deterministic=True)[0], plain)
    model = NNXRegressor(nnx.Rngs(0))
    model.eval()  # reaches the NNXRNN inside a bigger model
    assert model.rnn.deterministic
    quiet = NNXRNN(layer, rngs=nnx.Rngs(0), deterministic=True)
    np.testing.assert_array_equal(quiet(x)[0], plain)


def test_nnx_module_errors():
    with pytest.raises(ValueError, match="input_size is required for a Stack"):
        NNXRNN(jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(H)),)), rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="wrap a cell in jaxrnn.Recurrent"):
        NNXRNN(jaxrnn.GRUCell(H), rngs=nnx.Rngs(0), input_size=I)


NNX_CELLS = {
    "simple": lambda r: nnx.SimpleCell(I, H, rngs=r),
    "lstm": lambda r: nnx.LSTMCell(I, H, rngs=r),
    "optimized_lstm": lambda r: nnx.OptimizedLSTMCell(I, H, rngs=r),
    "gru": lambda r: nnx.GRUCell(I, H, rngs=r),
}


def _same_carry(kind, flax_carry, h_n, c_n=None):
    if kind in ("lstm", "optimized_lstm"):
        c, h = flax_carry
        np.testing.assert_allclose(h_n, h, atol=1e-5)
        np.testing.assert_allclose(c_n, c, atol=1e-5)
    else:
        np.testing.assert_allclose(h_n, flax_carry, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(NNX_CELLS))
def test_from_flax_nnx_rnn_matches_outputs_and_carry(kind):
    rnn = nnx.RNN(NNX_CELLS[kind](nnx.Rngs(0)), return_carry=True)
    nnx.update(rnn, randomized(nnx.state(rnn, nnx.Param)))
    x = jax.random.normal(jax.random.key(1), (B, T, I))
    lengths = jnp.array([T, 3, 1])
    carry, ys = rnn(x, seq_lengths=lengths)
    layer, params = from_flax(rnn)
    out, state = layer.apply(params, x, seq_lengths=lengths)
    np.testing.assert_allclose(out, jnp.where(valid_steps(lengths, T)[..., None], ys, 0.0), atol=1e-5)
    parts = state if isinstance(state, tuple) else (state,)
    _same_carry(kind, carry, *[p[0] for p in parts])


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_from_flax_bidirectional_stacks(api):
    x = jax.random.normal(jax.random.key(1), (B, T, I))
    lengths = jnp.array([T, 4, 2])
    if api == "linen":
        def bi():
            return nn.Bidirectional(nn.RNN(nn.GRUCell(H)), nn.RNN(nn.GRUCell(H)))

        module = nn.Sequential([bi(), bi()])
        variables = module.init(jax.random.key(0), x)
        variables = randomized(variables)
        ys = x
        for i, m in enumerate(module.layers):
            ys = m.apply({"params": variables["params"][f"layers_{i}"]}, ys, seq_lengths=lengths)
        layer, params = from_flax(module, variables)
    else:
        def bi(i, rngs):
            return nnx.Bidirectional(nnx.RNN(nnx.GRUCell(i, H, rngs=rngs)), nnx.RNN(nnx.GRUCell(i, H, rngs=rngs)))

        rngs = nnx.Rngs(0)
        stack = [bi(I, rngs), bi(2 * H, rngs)]
        ys = x
        for i, m in enumerate(stack):
            nnx.update(m, randomized(nnx.state(m, nnx.Param), seed=i))
            ys = m(ys, seq_lengths=lengths)
        layer, params = from_flax(stack)
        assert from_flax(nnx.Sequential(*stack))[0] == layer
    assert layer.num_layers == 2 and layer.bidirectional and layer.batch_first
    out, _ = layer.apply(params, x, seq_lengths=lengths)
    np.testing.assert_allclose(out, jnp.where(valid_steps(lengths, T)[..., None], ys, 0.0), atol=1e-5)


def test_from_flax_errors_name_the_received_type_fully():
    with pytest.raises(TypeError, match=r"must be a Flax linen or NNX RNN or Bidirectional .*got "
                                         r"flax.nnx.nn.linear.Linear"):
        from_flax(nnx.Linear(3, 4, rngs=nnx.Rngs(0)))
    with pytest.raises(TypeError, match=r"each direction of a Bidirectional must be a Flax RNN, got "
                                        r"flax.nnx.nn.linear.Linear"):
        from_flax(nnx.Bidirectional(nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(0))), nnx.Linear(I, H, rngs=nnx.Rngs(1))))
    with pytest.raises(ValueError, match=r"variables: a linen module needs the variables from module.init"):
        from_flax(nn.RNN(nn.GRUCell(H)))
    rnn = nn.RNN(nn.GRUCell(H))
    variables = rnn.init(jax.random.key(0), jnp.ones((1, T, I)))
    with pytest.raises(TypeError, match=r"variables must be the dict that module.init returned \(or its 'params'\), "
                                        r"got list"):
        from_flax(rnn, [variables])
    with pytest.raises(ValueError, match=r"variables: NNX modules hold their weights; call from_flax\(module\) "
                                         r"without variables, got dict"):
        from_flax(nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(0))), variables)
    mixed = [nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(0))), nnx.RNN(nnx.LSTMCell(H, H, rngs=nnx.Rngs(0)))]
    with pytest.raises(ValueError, match=r"every layer of a stack must have the same cell.*layer 1 differs"):
        from_flax(mixed)
    with pytest.raises(ValueError, match=r"merge_fn must be Flax's default"):
        from_flax(nnx.Bidirectional(nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(0))),
                                    nnx.RNN(nnx.GRUCell(I, H, rngs=nnx.Rngs(1))), merge_fn=lambda a, b: a + b))


def test_a_bfloat16_flax_model_stays_bfloat16():
    x = jax.random.normal(jax.random.key(1), (2, T, I))
    rnn = nn.RNN(nn.GRUCell(H, dtype=jnp.bfloat16))
    variables = rnn.init(jax.random.key(0), x)
    layer, params = from_flax(rnn, variables)
    assert layer.compute_dtype == "bfloat16"
    out = layer.apply(params, x)[0]
    assert out.dtype == jnp.bfloat16
    # bfloat16 keeps 8 bits of mantissa; jaxrnn carries the state in float32, Flax in bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(rnn.apply(variables, x), np.float32), atol=2e-2)
