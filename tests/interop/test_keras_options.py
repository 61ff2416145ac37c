"""Keras's options through from_keras, against Keras 3 itself: masks with holes (the carry passes,
the last output repeats, or 0), Bidirectional (merge_mode=None too), go_backwards, stateful layers."""

import dataclasses

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jaxrnn
from jaxrnn.interop import from_keras, to_keras
from tests.helpers import close, randomized

I, T, B, H = 3, 6, 3, 4
MASK = np.array([[True, False, True, True, False, False],  # holes, and masked steps at the end
                 [False, False, True, False, True, True],  # masked steps first: the initial h repeats
                 [False] * T])                              # everything masked: the initial state throughout

KINDS = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM, "GRU": keras.layers.GRU}


def built(layer, batch=None):
    layer.build((batch, T, I))
    layer.set_weights(randomized(layer.get_weights(), seed=3))  # non-zero biases
    return layer


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, T, I)).astype(np.float32), rng.normal(size=(B, H)).astype(np.float32)


def torch_state(kind, h, c=None):
    """Keras's per-layer states as jaxrnn's ``hx`` (``(1, B, H)`` leaves)."""
    return (h[None], c[None]) if kind == "LSTM" else h[None]


@pytest.mark.parametrize("kind, go_backwards, zero", [("SimpleRNN", False, False), ("LSTM", True, False),
                                                      ("GRU", False, True), ("GRU", True, False)])
def test_a_mask_with_holes_equals_keras(kind, go_backwards, zero):
    k = built(KINDS[kind](H, return_sequences=True, return_state=True, go_backwards=go_backwards,
                          zero_output_for_mask=zero))
    layer, params = from_keras(k)
    assert (layer.go_backwards, layer.zero_output_for_mask) == (go_backwards, zero)
    x, h0 = data()
    x[~MASK] = np.nan  # a masked step's input is never read
    initial = [h0, h0 + 1.0] if kind == "LSTM" else [h0]
    want, *states = k(np.nan_to_num(x, nan=7.0), initial_state=initial, mask=MASK)
    out, state = layer.apply(params, x, torch_state(kind, *initial), mask=MASK)
    close(out, np.asarray(want), 2e-5)
    close(jax.tree.leaves(state), [np.asarray(s)[None] for s in states], 2e-5)
    g_params, g_x = jax.grad(lambda p, x: layer.apply(p, x, mask=MASK)[0].sum(), argnums=(0, 1))(params, x)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(g_params))
    assert np.isfinite(g_x).all() and not np.any(np.asarray(g_x)[~MASK])  # NaN at masked steps: no effect


@pytest.mark.parametrize("merge", ["concat", "ave", None])
def test_a_bidirectional_layer_with_a_mask_equals_keras(merge):
    k = built(keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True), merge_mode=merge))
    layer, params = from_keras(k)
    assert layer.bidirectional and layer.merge_mode == merge
    x, _ = data(1)
    want = k(x, mask=MASK)
    out = layer.apply(params, x, mask=MASK)[0]
    close(out, jax.tree.map(np.asarray, tuple(want) if merge is None else want), 2e-5)  # 0 at masked steps
    if merge is None:
        assert isinstance(out, tuple) and out[1].shape == (B, T, H) and layer.output_size == H
        close(layer.apply(params, x)[0], tuple(np.asarray(w) for w in k(x)), 2e-5)
        assert "[(3, 6, 4), (3, 6, 4)]" in jaxrnn.summary(layer, params, (B, T, I))


def test_stateful_continuation_passes_the_state_back_as_hx():
    k = built(keras.layers.LSTM(H, stateful=True, return_sequences=True), batch=B)
    layer, params = from_keras(k)
    (x1, _), (x2, _) = data(2), data(3)
    first = np.asarray(k(x1))
    held = tuple(np.asarray(v)[None] for v in k.states)  # what the Keras layer holds: (h, c)
    second = np.asarray(k(x2))  # continues from it
    out1, state = layer.apply(params, x1)
    close(state, held, 2e-5)
    out2, state2 = layer.apply(params, x2, state)  # the state returned, passed back as hx
    close((out1, out2), (first, second), 2e-5)
    close(state2, tuple(np.asarray(v)[None] for v in k.states), 2e-5)


def test_jaxrnn_scan_with_a_mask_equals_keras_row_by_row():
    k = built(keras.layers.LSTM(H, return_sequences=True))
    layer, params = from_keras(k)
    x, _ = data(4)
    want = np.asarray(k(x, mask=MASK))
    cell = layer.cell()
    ys, _ = jax.vmap(lambda xs, m: jaxrnn.scan(cell, params[0], xs, mask=m))(x, MASK)
    close(ys, want, 2e-5)
    ys0, _ = jax.vmap(lambda xs, m: jaxrnn.scan(cell, params[0], xs, mask=m, zero_output_for_mask=True))(x, MASK)
    close(ys0, np.where(MASK[..., None], want, 0.0), 2e-5)


def test_lengths_are_the_mask_t_below_length_with_zero_outputs():
    layer = jaxrnn.GRU(I, H, num_layers=2, bidirectional=True, batch_first=True)
    params = layer.init(jax.random.key(0))
    x, _ = data(5)
    lengths = np.array([6, 2, 0])
    mask = np.arange(T)[None, :] < lengths[:, None]
    close(layer.apply(params, x, mask=mask), layer.apply(params, x, seq_lengths=lengths), 0)
    one = jaxrnn.GRU(I, H, batch_first=True, zero_output_for_mask=True)
    p1 = one.init(jax.random.key(1))
    close(one.apply(p1, x, mask=mask), one.apply(p1, x, seq_lengths=lengths), 0)
    cell = one.cell()
    close(jaxrnn.scan(cell, p1[0], x[1], mask=mask[1], zero_output_for_mask=True),
          jaxrnn.scan(cell, p1[0], x[1], seq_length=2), 0)


@pytest.mark.parametrize("layer", [jaxrnn.LSTM(I, H, num_layers=2, proj_size=2, go_backwards=True),
                                   jaxrnn.GRU(I, H, num_layers=2, bidirectional=True)], ids=repr)
def test_every_engine_takes_a_mask(layer):
    params = randomized(layer.init(jax.random.key(2)), seed=2)
    x = jnp.asarray(np.swapaxes(data(6)[0], 0, 1))  # (T, B, I)
    mask = MASK.T

    def loss(p, x, engine):
        out, state = jax.tree.map(jnp.sin, dataclasses.replace(layer, engine=engine).apply(p, x, mask=mask))
        return sum(jnp.sum(a) for a in jax.tree.leaves((out, state))), out

    (ref, out_ref), g_ref = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x, "reference")
    (xla, out_xla), g_xla = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, x, "xla")
    close((xla, out_xla), (ref, out_ref), 1e-5)
    close(g_xla, g_ref, 1e-4)


def test_to_keras_keeps_the_options():
    for layer in (jaxrnn.GRU(I, H, batch_first=True, go_backwards=True, zero_output_for_mask=True),
                  jaxrnn.LSTM(I, H, batch_first=True, bidirectional=True, merge_mode=None, double_bias=False)):
        params = randomized(layer.init(jax.random.key(3)), seed=4)
        k = to_keras(layer, params)
        x, _ = data(7)
        want = k(x, mask=MASK)
        close(layer.apply(params, x, mask=MASK)[0], jax.tree.map(np.asarray, tuple(want) if isinstance(want, list)
                                                                  else want), 2e-5)
        assert from_keras(k)[0] == layer


def test_option_errors():
    layer = jaxrnn.GRU(I, H, batch_first=True)
    params = layer.init(jax.random.key(0))
    x, _ = data()
    with pytest.raises(ValueError, match=r"mask must have shape \(B, T\) \(the input's without its features\) = "
                                         r"\(3, 6\), got \(6, 3\)"):
        layer.apply(params, x, mask=MASK.T)
    with pytest.raises(TypeError, match="mask must have a bool dtype, got int64"):
        layer.apply(params, x, mask=MASK.astype(np.int64))
    with pytest.raises(ValueError, match="mask and seq_lengths exclude each other"):
        layer.apply(params, x, mask=MASK, seq_lengths=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"mask must have shape \(T,\) = \(6,\), got \(3, 6\)"):
        jaxrnn.scan(layer.cell(), params[0], x[0], mask=MASK)
    with pytest.raises(ValueError, match="mask and seq_length exclude each other"):
        jaxrnn.scan(layer.cell(), params[0], x[0], mask=MASK[0], seq_length=3)
    with pytest.raises(TypeError, match="zero_output_for_mask must be a bool"):
        jaxrnn.scan(layer.cell(), params[0], x[0], mask=MASK[0], zero_output_for_mask=None)
    with pytest.raises(ValueError, match="go_backwards=True runs one direction backward"):
        jaxrnn.LSTM(I, H, bidirectional=True, go_backwards=True)
    with pytest.raises(TypeError, match="zero_output_for_mask must be a bool, got int"):
        jaxrnn.LSTM(I, H, zero_output_for_mask=1)
    with pytest.raises(ValueError, match="go_backwards=True: step runs one time step forward"):
        backwards = jaxrnn.GRU(I, H, go_backwards=True)
        backwards.step(backwards.init(jax.random.key(0)), x[0])
    with pytest.raises(ValueError, match="cuDNN runs one direction forward only, got go_backwards=True"):
        jaxrnn.LSTM(I, H, go_backwards=True, engine="cudnn")
    cudnn = jaxrnn.LSTM(I, H, batch_first=True, engine="cudnn")
    with pytest.raises(ValueError, match="engine='cudnn' cannot run this call: cuDNN takes sequence lengths, not a mask"):
        cudnn.apply(cudnn.init(jax.random.key(0)), x, mask=MASK)
    two = keras.Sequential([keras.Input((T, I)), keras.layers.GRU(H, return_sequences=True, go_backwards=True),
                            keras.layers.GRU(H, return_sequences=True)])
    with pytest.raises(ValueError, match=r"go_backwards must be False in a model of several recurrent layers, "
                                         r"got True in gru\w*"):
        from_keras(two)
