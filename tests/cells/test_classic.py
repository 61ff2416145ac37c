"""Cells against numpy references, init presets, hashability and the cell protocol."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from tests.helpers import randomized, sigmoid


@pytest.mark.parametrize("steps,input_size,hidden", [(10, 4, 8), (3, 1, 2), (25, 7, 5)])
def test_seed_numpy_loop_is_reproduced(steps, input_size, hidden):
    """The seed tutorial: h_t = tanh(Wx x_t + Wh h_{t-1} + b), with np.random.random weights."""
    rng = np.random.default_rng(steps)
    inputs = rng.random((steps, input_size))
    wx, wh, b = rng.random((hidden, input_size)), rng.random((hidden, hidden)), rng.random((hidden,))
    wx, wh, b = wx * 0.3, wh * 0.3, b * 0.3  # keep tanh out of saturation so the test is sharp
    hidden_state_t = np.zeros((hidden,))
    total_hidden_states = []
    for input_t in inputs:
        output_t = np.tanh(np.dot(wx, input_t) + np.dot(wh, hidden_state_t) + b)
        total_hidden_states.append(list(output_t))
        hidden_state_t = output_t
    expected = np.stack(total_hidden_states, axis=0)

    cell = jaxrnn.ElmanCell(hidden, double_bias=False)
    params = {"w_ih": jnp.asarray(wx, jnp.float32), "w_hh": jnp.asarray(wh, jnp.float32),
              "b_ih": jnp.asarray(b, jnp.float32)}
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, cell.init(jax.random.key(0), input_size))
    ys, h = jaxrnn.scan(cell, params, jnp.asarray(inputs, jnp.float32))
    np.testing.assert_allclose(ys, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(h, expected[-1], atol=1e-5, rtol=0)


def _numpy_lstm(p, x, h, c, proj):
    gates = p["w_ih"] @ x + p.get("b_ih", 0) + p["w_hh"] @ h + p.get("b_hh", 0)
    i, f, g, o = np.split(gates, 4)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    return (p["w_hr"] @ h if proj else h), c


def _numpy_gru(p, x, h, reset_after):
    n_h = h.shape[0]
    gi = p["w_ih"] @ x + p.get("b_ih", 0)
    b_hh = p.get("b_hh", np.concatenate([np.zeros(2 * n_h), p["b_hn"]]) if "b_hn" in p else 0)
    w_r, w_z, w_n = np.split(p["w_hh"], 3)
    b_r, b_z, b_n = np.split(np.broadcast_to(b_hh, (3 * n_h,)), 3)
    r = sigmoid(gi[:n_h] + w_r @ h + b_r)
    z = sigmoid(gi[n_h:2 * n_h] + w_z @ h + b_z)
    hn = r * (w_n @ h + b_n) if reset_after else w_n @ (r * h) + b_n
    n = np.tanh(gi[2 * n_h:] + hn)
    return (1 - z) * n + z * h


CELLS = [
    jaxrnn.ElmanCell(5),
    jaxrnn.ElmanCell(5, nonlinearity="relu", double_bias=False),
    jaxrnn.ElmanCell(5, bias=False),
    jaxrnn.LSTMCell(5),
    jaxrnn.LSTMCell(5, proj_size=2),
    jaxrnn.LSTMCell(5, double_bias=False),
    jaxrnn.LSTMCell(5, bias=False),
    jaxrnn.GRUCell(5),
    jaxrnn.GRUCell(5, reset_after=False),
    jaxrnn.GRUCell(5, double_bias=False),
    jaxrnn.GRUCell(5, reset_after=False, double_bias=False),
    jaxrnn.GRUCell(5, bias=False),
]


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_cell_step_matches_numpy(cell):
    params = randomized(cell.init(jax.random.key(0), 3))
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((6, 3))
    carry = cell.initial_carry()
    h = np.zeros(cell.output_size)
    c = np.zeros(cell.hidden_size)
    for x in xs:
        carry, y = cell.apply(params, carry, jnp.asarray(x, jnp.float32))
        if isinstance(cell, jaxrnn.ElmanCell):
            pre = p["w_ih"] @ x + p.get("b_ih", 0) + p["w_hh"] @ h + p.get("b_hh", 0)
            h = np.tanh(pre) if cell.nonlinearity == "tanh" else np.maximum(pre, 0)
        elif isinstance(cell, jaxrnn.LSTMCell):
            h, c = _numpy_lstm(p, x, h, c, cell.proj_size)
            np.testing.assert_allclose(carry.c, c, atol=1e-5, rtol=0)
        else:
            h = _numpy_gru(p, x, h, cell.reset_after)
        np.testing.assert_allclose(y, h, atol=1e-5, rtol=0)
        assert y.shape == (cell.output_size,)


@pytest.mark.parametrize("cell,expected", [
    (jaxrnn.ElmanCell(8), {"w_ih": (8, 5), "w_hh": (8, 8), "b_ih": (8,), "b_hh": (8,)}),
    (jaxrnn.ElmanCell(8, double_bias=False), {"w_ih": (8, 5), "w_hh": (8, 8), "b_ih": (8,)}),
    (jaxrnn.LSTMCell(8, proj_size=3),
     {"w_ih": (32, 5), "w_hh": (32, 3), "b_ih": (32,), "b_hh": (32,), "w_hr": (3, 8)}),
    (jaxrnn.GRUCell(8, double_bias=False), {"w_ih": (24, 5), "w_hh": (24, 8), "b_ih": (24,), "b_hn": (8,)}),
    (jaxrnn.GRUCell(8, reset_after=False, double_bias=False), {"w_ih": (24, 5), "w_hh": (24, 8), "b_ih": (24,)}),
    (jaxrnn.GRUCell(8, bias=False), {"w_ih": (24, 5), "w_hh": (24, 8)}),
], ids=repr)
def test_param_shapes(cell, expected):
    params = cell.init(jax.random.key(0), 5)
    assert {k: v.shape for k, v in params.items()} == expected


@pytest.mark.parametrize("cell", [jaxrnn.ElmanCell(16), jaxrnn.LSTMCell(16, proj_size=4), jaxrnn.GRUCell(16)], ids=repr)
def test_torch_preset_is_uniform_within_bound(cell):
    params = cell.init(jax.random.key(3), 7)
    bound = 1 / np.sqrt(16)
    for name, v in params.items():
        assert float(jnp.abs(v).max()) <= bound, name
        assert float(jnp.abs(v).max()) > 0.8 * bound, name
        assert float(jnp.std(v)) > 0.4 * bound, name


def test_keras_preset():
    cell = jaxrnn.LSTMCell(6, double_bias=False)
    params = cell.init(jax.random.key(0), 10, preset="keras")
    w_hh = np.asarray(params["w_hh"])  # (4H, H) with orthonormal columns
    np.testing.assert_allclose(w_hh.T @ w_hh, np.eye(6), atol=1e-5)
    limit = np.sqrt(6 / (10 + 24))
    assert np.abs(params["w_ih"]).max() <= limit
    expected_bias = np.zeros(24)
    expected_bias[6:12] = 1.0
    np.testing.assert_array_equal(params["b_ih"], expected_bias)


def test_forget_bias_is_added_at_init_not_in_the_step():
    base = jaxrnn.LSTMCell(4).init(jax.random.key(0), 3)
    shifted = jaxrnn.LSTMCell(4, forget_bias=1.5).init(jax.random.key(0), 3)
    np.testing.assert_allclose(shifted["b_ih"][4:8] - base["b_ih"][4:8], 1.5, atol=1e-6)
    np.testing.assert_array_equal(shifted["b_ih"][:4], base["b_ih"][:4])
    x = jnp.ones(3)
    carry = jaxrnn.LSTMCell(4).initial_carry()
    same_params = jaxrnn.LSTMCell(4, forget_bias=1.5).apply(base, carry, x)[1]
    np.testing.assert_array_equal(same_params, jaxrnn.LSTMCell(4).apply(base, carry, x)[1])


def test_init_dtype_float64():
    with jax.enable_x64(True):
        params = jaxrnn.GRUCell(4).init(jax.random.key(0), 3, dtype=jnp.float64)
        assert all(v.dtype == jnp.float64 for v in params.values())
        _, y = jaxrnn.GRUCell(4).apply(params, jaxrnn.GRUCell(4).initial_carry(jnp.float64), jnp.ones(3))
        assert y.dtype == jnp.float64


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_cells_are_hashable_static_config(cell):
    assert hash(cell) == hash(dataclasses.replace(cell))
    assert cell == dataclasses.replace(cell)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.hidden_size = 3

    @jax.jit
    def run(params, xs):
        return jaxrnn.scan(cell, params, xs)[0]

    params = cell.init(jax.random.key(0), 3)
    np.testing.assert_allclose(run(params, jnp.ones((4, 3))), jaxrnn.scan(cell, params, jnp.ones((4, 3)))[0],
                               atol=1e-6)


@dataclasses.dataclass(frozen=True)
class LeakyCell:
    """A user-defined cell: h' = (1 - a) h + a tanh(W x + U h + b); carry is a (h, count) pair."""

    hidden_size: int
    leak: float = 0.5

    @property
    def output_size(self):
        return self.hidden_size

    def init(self, key, input_size, *, preset="torch", dtype=jnp.float32):
        k1, k2, k3 = jax.random.split(key, 3)
        h = self.hidden_size
        return {"w": jax.random.normal(k1, (h, input_size), dtype) * 0.5,
                "u": jax.random.normal(k2, (h, h), dtype) * 0.5,
                "b": jax.random.normal(k3, (h,), dtype)}

    def initial_carry(self, dtype=jnp.float32):
        return (jnp.zeros((self.hidden_size,), dtype), jnp.zeros((), dtype))

    def apply(self, params, carry, x):
        h, count = carry
        new = (1 - self.leak) * h + self.leak * jnp.tanh(params["w"] @ x + params["u"] @ h + params["b"])
        return (new, count + 1), new


def _leaky_reference(params, xs, leak):
    h = np.zeros(params["u"].shape[0])
    out = []
    for x in np.asarray(xs):
        h = (1 - leak) * h + leak * np.tanh(np.asarray(params["w"]) @ x + np.asarray(params["u"]) @ h + np.asarray(params["b"]))
        out.append(h)
    return np.stack(out)


def test_custom_cell_works_with_scan_and_combinators():
    cell = LeakyCell(4)
    xs = jax.random.normal(jax.random.key(1), (6, 3))
    params = cell.init(jax.random.key(0), 3)
    ys, (h, count) = jaxrnn.scan(cell, params, xs, seq_length=4)
    expected = _leaky_reference(params, xs[:4], 0.5)
    np.testing.assert_allclose(ys[:4], expected, atol=1e-5)
    np.testing.assert_array_equal(ys[4:], 0.0)
    np.testing.assert_allclose(h, expected[-1], atol=1e-5)
    assert int(count) == 4

    net = jaxrnn.Stack((jaxrnn.Bidirectional(cell), jaxrnn.Recurrent(LeakyCell(2))))
    net_params = net.init(jax.random.key(2), 3)
    out, _ = jax.jit(net.apply)(net_params, xs)
    assert out.shape == (6, 2)
    fwd = _leaky_reference(net_params[0]["fwd"], xs, 0.5)
    bwd = _leaky_reference(net_params[0]["bwd"], xs[::-1], 0.5)[::-1]
    top = _leaky_reference(net_params[1], np.concatenate([fwd, bwd], axis=-1), 0.5)
    np.testing.assert_allclose(out, top, atol=1e-5)
    grads = jax.grad(lambda p: net.apply(p, xs)[0].sum())(net_params)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
