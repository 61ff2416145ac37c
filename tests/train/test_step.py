"""jaxrnn.train: the pure step against hand-written optax updates, clipping, truncated BPTT."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrnn
from jaxrnn.train import cross_entropy, make_bptt_step, make_step, reset_carry


def _norm(tree):
    return np.sqrt(sum(np.sum(np.square(np.asarray(g, np.float64))) for g in jax.tree.leaves(tree)))


def _problem(seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = {"w": jax.random.normal(k1, (3, 4)), "b": jax.random.normal(k2, (3,)) + 0.5}
    x = jax.random.normal(k3, (8, 4))
    y = x[:, :3] * 2.0 - 1.0
    loss_fn = lambda p, batch: jnp.mean((batch[0] @ p["w"].T + p["b"] - batch[1]) ** 2)
    return params, (x, y), loss_fn


@pytest.mark.parametrize("optimizer", [optax.adam(1e-2), optax.sgd(0.1, momentum=0.9)])
def test_step_matches_manual_optax_update(optimizer):
    params, batch, loss_fn = _problem()
    step = jax.jit(make_step(loss_fn, optimizer))
    p, s = params, optimizer.init(params)
    ref_p, ref_s = params, optimizer.init(params)
    for _ in range(3):
        p, s, metrics = step(p, s, batch)
        loss, grads = jax.value_and_grad(loss_fn)(ref_p, batch)
        updates, ref_s = optimizer.update(grads, ref_s, ref_p)
        ref_p = optax.apply_updates(ref_p, updates)
        np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-6)
        np.testing.assert_allclose(metrics["grad_norm"], _norm(grads), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(ref_p)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_clip_norm_rescales_gradients_before_the_optimizer():
    params, batch, loss_fn = _problem(1)
    grads = jax.grad(loss_fn)(params, batch)
    norm = float(_norm(grads))
    assert norm > 0.5
    new, _, metrics = make_step(loss_fn, optax.sgd(1.0), clip_norm=0.5)(
        params, optax.sgd(1.0).init(params), batch)
    delta = jax.tree.map(lambda a, b: b - a, new, params)  # = clipped gradient for sgd(1)
    np.testing.assert_allclose(_norm(delta), 0.5, rtol=1e-5)
    for d, g in zip(jax.tree.leaves(delta), jax.tree.leaves(grads)):
        np.testing.assert_allclose(d, g * 0.5 / norm, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics["grad_norm"], norm, rtol=1e-6)


def test_donated_jit_step_runs_repeatedly():
    params, batch, loss_fn = _problem(2)
    opt = optax.adam(0.05)
    step = jax.jit(make_step(loss_fn, opt), donate_argnums=(0, 1))
    p, s = params, opt.init(params)
    losses = []
    for _ in range(50):
        p, s, m = step(p, s, batch)
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.1 * losses[0]


def _lm_setup(cell):
    model = jaxrnn.GRU(3, 5, batch_first=True) if cell == "gru" else jaxrnn.LSTM(3, 5, batch_first=True)
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    params = {"rnn": model.init(k1), "w": jax.random.normal(k2, (2, 5)), "b": jnp.array([0.3, -0.2])}
    x = jax.random.normal(k3, (4, 12, 3))
    y = (x[..., 0] > 0).astype(jnp.int32)

    def loss_fn(p, batch, carry):
        out, carry = model.apply(p["rnn"], batch[0], carry)
        return cross_entropy(out @ p["w"].T + p["b"], batch[1]), carry

    return model, params, x, y, loss_fn


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_truncated_bptt_carries_the_state_across_chunks(cell):
    model, params, x, y, loss_fn = _lm_setup(cell)
    step = make_bptt_step(loss_fn, optax.sgd(0.0))  # lr 0: params fixed, so losses are comparable
    carry = jax.tree.map(jnp.zeros_like, model.apply(params["rnn"], x[:, :1])[1])
    _, _, m1, carry = step(params, optax.sgd(0.0).init(params), (x[:, :6], y[:, :6]), carry)
    _, _, m2, carry = step(params, optax.sgd(0.0).init(params), (x[:, 6:], y[:, 6:]), carry)
    out, final = model.apply(params["rnn"], x)
    logits = out @ params["w"].T + params["b"]
    np.testing.assert_allclose(m1["loss"], cross_entropy(logits[:, :6], y[:, :6]), rtol=1e-5)
    np.testing.assert_allclose(m2["loss"], cross_entropy(logits[:, 6:], y[:, 6:]), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(final)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_truncated_gradient_stops_at_the_chunk_boundary():
    model, params, x, y, loss_fn = _lm_setup("lstm")
    _, carry = model.apply(params["rnn"], x[:, :6])
    opt = optax.sgd(1.0)
    new, _, _, _ = make_bptt_step(loss_fn, opt)(params, opt.init(params), (x[:, 6:], y[:, 6:]), carry)
    const = jax.tree.map(np.asarray, carry)  # the chunk's gradient treats the carry as data
    grads = jax.grad(lambda p: loss_fn(p, (x[:, 6:], y[:, 6:]), const)[0])(params)
    for n, p, g in zip(jax.tree.leaves(new), jax.tree.leaves(params), jax.tree.leaves(grads)):
        np.testing.assert_allclose(n, p - g, rtol=1e-5, atol=1e-6)


def test_reset_rows_start_from_zeros():
    model, params, x, y, loss_fn = _lm_setup("gru")
    _, carry = model.apply(params["rnn"], x)
    reset = jnp.array([True, False, True, False])
    out = reset_carry(carry, reset)
    np.testing.assert_array_equal(out[:, 0], 0.0)
    np.testing.assert_array_equal(out[:, 1], carry[:, 1])
    step = make_bptt_step(loss_fn, optax.sgd(0.0))
    _, _, _, new = step(params, optax.sgd(0.0).init(params), (x, y), carry, reset)
    _, from_zero = model.apply(params["rnn"], x)
    _, from_carry = model.apply(params["rnn"], x, carry)
    np.testing.assert_allclose(new[:, 0], from_zero[:, 0], rtol=1e-6)
    np.testing.assert_allclose(new[:, 1], from_carry[:, 1], rtol=1e-6)


@pytest.mark.parametrize("make", [make_step, make_bptt_step])
def test_bad_arguments_raise(make):
    _, _, loss_fn = _problem()
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        make(loss_fn, lambda g: g)
    with pytest.raises(ValueError, match="clip_norm must be a positive number or None, got 0"):
        make(loss_fn, optax.sgd(0.1), clip_norm=0)
    with pytest.raises(ValueError, match=r"reset must have shape \(3,\)"):
        reset_carry(jnp.zeros((1, 3, 2)), jnp.array([True, False]))
