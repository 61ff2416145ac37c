"""Keras 3 converters: outputs, states and parameter counts equal Keras's; round trips; errors."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jaxrnn
from jaxrnn.interop import from_keras, to_keras
from tests.helpers import randomized, valid_steps
from tests.spawn import run

I, T, B, H = 5, 7, 3, 4


def built(layer, input_size=I):
    """``layer`` built for ``(B, T, input_size)`` inputs, its weights ``randomized``."""
    layer.build((None, T, input_size))
    layer.set_weights(randomized(layer.get_weights()))
    return layer


def inputs(seed=1, batch=B, steps=T, size=I):
    return np.random.default_rng(seed).normal(size=(batch, steps, size)).astype(np.float32)


KERAS_LAYERS = {
    "simple_tanh": lambda: keras.layers.SimpleRNN(H, return_sequences=True),
    "simple_relu": lambda: keras.layers.SimpleRNN(H, activation="relu", return_sequences=True),
    "simple_nobias": lambda: keras.layers.SimpleRNN(H, use_bias=False, return_sequences=True),
    "lstm": lambda: keras.layers.LSTM(H, return_sequences=True),
    "lstm_nobias": lambda: keras.layers.LSTM(H, use_bias=False, return_sequences=True),
    "gru_reset_after": lambda: keras.layers.GRU(H, return_sequences=True),
    "gru_reset_before": lambda: keras.layers.GRU(H, reset_after=False, return_sequences=True),
    "gru_nobias": lambda: keras.layers.GRU(H, use_bias=False, return_sequences=True),
}


@pytest.mark.parametrize("name", sorted(KERAS_LAYERS))
def test_from_keras_matches_outputs_state_and_count(name):
    k = built(KERAS_LAYERS[name]())
    layer, params = from_keras(k)
    assert layer.batch_first and layer.num_layers == 1
    assert jaxrnn.param_count(params) == k.count_params()
    x = inputs()
    out, state = layer.apply(params, x)
    np.testing.assert_allclose(out, np.asarray(k(x)), atol=2e-5)
    h_n = state[0] if isinstance(layer, jaxrnn.LSTM) else state
    np.testing.assert_allclose(h_n[0], np.asarray(k(x))[:, -1], atol=2e-5)


def test_from_keras_lstm_cell_state_matches_return_state():
    k = built(keras.layers.LSTM(H, return_sequences=True, return_state=True))
    layer, params = from_keras(k)
    x = inputs(seed=4)
    _, h_k, c_k = k(x)
    _, (h_n, c_n) = layer.apply(params, x)
    np.testing.assert_allclose(h_n[0], np.asarray(h_k), atol=2e-5)
    np.testing.assert_allclose(c_n[0], np.asarray(c_k), atol=2e-5)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_from_keras_bidirectional_each_merge_mode(kind, merge):
    inner = getattr(keras.layers, kind)(H, return_sequences=True)
    k = built(keras.layers.Bidirectional(inner, merge_mode=merge))
    layer, params = from_keras(k)
    assert layer.bidirectional and layer.merge_mode == merge
    assert layer.output_size == (2 * H if merge == "concat" else H)
    assert jaxrnn.param_count(params) == k.count_params()
    x = inputs(seed=2)
    np.testing.assert_allclose(layer.apply(params, x)[0], np.asarray(k(x)), atol=2e-5)


@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
def test_layers_merge_mode_stacks_with_matching_input_sizes(merge):
    """Layer l > 0 reads H_out features for non-concat modes; output equals a stack of Keras layers."""
    model = jaxrnn.GRU(I, H, num_layers=2, bidirectional=True, batch_first=True, merge_mode=merge)
    params = model.init(jax.random.key(0))
    width = 2 * H if merge == "concat" else H
    assert params[1]["fwd"]["w_ih"].shape == (3 * H, width) and model.output_size == width
    x = inputs(seed=3)
    k0 = to_keras(model.__class__(I, H, bidirectional=True, batch_first=True, merge_mode=merge), params[:1])
    k1 = to_keras(model.__class__(width, H, bidirectional=True, batch_first=True, merge_mode=merge),
                  params[1:])
    np.testing.assert_allclose(model.apply(params, x)[0], np.asarray(k1(k0(x))), atol=2e-5)


@pytest.mark.parametrize("name", sorted(KERAS_LAYERS))
def test_to_keras_round_trip(name):
    k = built(KERAS_LAYERS[name]())
    layer, params = from_keras(k)
    back = to_keras(layer, params)
    for a, b in zip(back.get_weights(), k.get_weights()):
        np.testing.assert_array_equal(a, b)
    again, params2 = from_keras(back)
    assert again == layer
    jax.tree.map(np.testing.assert_array_equal, params2, params)


@pytest.mark.parametrize("make", [
    lambda: jaxrnn.RNN(I, H, batch_first=True, nonlinearity="relu"),
    lambda: jaxrnn.LSTM(I, H, batch_first=True),
    lambda: jaxrnn.GRU(I, H, batch_first=True),
    lambda: jaxrnn.GRU(I, H, batch_first=True, double_bias=False),
    lambda: jaxrnn.GRU(I, H, batch_first=True, reset_after=False),
    lambda: jaxrnn.LSTM(I, H, batch_first=True, bidirectional=True, merge_mode="ave"),
])
def test_to_keras_torch_layout_params_compute_the_same_function(make):
    layer = make()
    params = layer.init(jax.random.key(5))  # torch preset: every bias non-zero
    k = to_keras(layer, params)
    x = inputs(seed=6)
    np.testing.assert_allclose(np.asarray(k(x)), layer.apply(params, x)[0], atol=2e-5)


def test_from_keras_errors():
    with pytest.raises(ValueError, match="activation must be 'tanh' or 'relu'"):
        from_keras(built(keras.layers.SimpleRNN(H, activation="sigmoid")))
    with pytest.raises(ValueError, match="activation must be 'tanh' for LSTM"):
        from_keras(built(keras.layers.LSTM(H, activation="relu")))
    with pytest.raises(ValueError, match="recurrent_activation must be 'sigmoid' for GRU"):
        from_keras(built(keras.layers.GRU(H, recurrent_activation="hard_sigmoid")))
    with pytest.raises(ValueError, match="recurrent_dropout must be 0"):
        from_keras(built(keras.layers.GRU(H, recurrent_dropout=0.1)))
    with pytest.raises(ValueError, match="dropout must be 0"):
        from_keras(built(keras.layers.SimpleRNN(H, dropout=0.1)))
    with pytest.raises(ValueError, match="must be built"):
        from_keras(keras.layers.LSTM(H))
    with pytest.raises(ValueError, match="backward_layer must match"):
        from_keras(built(keras.layers.Bidirectional(
            keras.layers.GRU(H), backward_layer=keras.layers.GRU(H + 1, go_backwards=True))))
    with pytest.raises(TypeError, match="layer must be a Keras SimpleRNN"):
        from_keras(built(keras.layers.Dense(H)))


def test_to_keras_errors():
    with pytest.raises(ValueError, match="num_layers must be 1"):
        layer = jaxrnn.LSTM(I, H, num_layers=2)
        to_keras(layer, layer.init(jax.random.key(0)))
    with pytest.raises(ValueError, match="proj_size must be 0"):
        layer = jaxrnn.LSTM(I, H, proj_size=2)
        to_keras(layer, layer.init(jax.random.key(0)))
    with pytest.raises(TypeError, match="layer must be a jaxrnn RNN, LSTM or GRU"):
        to_keras(jaxrnn.LSTMCell(H), {})


def test_from_keras_of_a_sequential_model_with_masking_and_a_head():
    from jaxrnn.interop import masked_lengths

    model = keras.Sequential([keras.Input((T, I)), keras.layers.Masking(0.0, name="mask"),
                              keras.layers.LSTM(H, return_sequences=True), keras.layers.LSTM(H, return_sequences=True),
                              keras.layers.Dense(2, name="head")])
    for layer in model.layers:
        layer.set_weights(randomized(layer.get_weights()))
    with pytest.warns(UserWarning, match=r"skipped the non-recurrent layers mask \(Masking\) \(pass "
                                         r"mask=np.any\(x != 0.0, axis=-1\) instead\), head \(Dense\)"):
        layer, params = from_keras(model)
    assert layer.num_layers == 2 and layer.batch_first and jaxrnn.param_count(params) == sum(
        k.count_params() for k in model.layers[1:3])
    x = inputs()
    x[1, 4:] = 0.0  # right padding that Masking hides
    lengths = masked_lengths(x)
    assert lengths.tolist() == [T, 4, T]
    recurrent = keras.Sequential([keras.Input((T, I)), keras.layers.Masking(0.0), *model.layers[1:3]])
    want = np.asarray(recurrent(x))
    out, (h_n, _) = layer.apply(params, x, seq_lengths=lengths)
    valid = valid_steps(lengths, T)
    np.testing.assert_allclose(np.asarray(out)[valid], want[valid], atol=2e-5)
    np.testing.assert_allclose(h_n[-1, 1], want[1, 3], atol=2e-5)  # the state after the last valid step
    out, _ = layer.apply(params, x, mask=np.any(x != 0.0, axis=-1))  # Keras's mask: every step equal
    np.testing.assert_allclose(out, want, atol=2e-5)


def test_from_keras_of_a_functional_bidirectional_stack():
    x_in = keras.Input((T, I))
    y = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), merge_mode="sum")(x_in)
    y = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), merge_mode="sum")(y)
    model = keras.Model(x_in, y)
    for layer in model.layers:
        layer.set_weights(randomized(layer.get_weights()))
    layer, params = from_keras(model)
    assert layer.num_layers == 2 and layer.bidirectional and layer.merge_mode == "sum"
    x = inputs()
    np.testing.assert_allclose(layer.apply(params, x)[0], np.asarray(model(x)), atol=2e-5)


def test_from_keras_of_a_mixed_model_and_a_model_without_recurrent_layers():
    mixed = keras.Sequential([keras.Input((T, I)), keras.layers.SimpleRNN(H, return_sequences=True),
                              keras.layers.GRU(H, return_sequences=True)])
    with pytest.raises(ValueError, match=r"recurrent layer 1 \(.*\) differs from layer 0"):
        from_keras(mixed)
    with pytest.raises(ValueError, match=r"model: no SimpleRNN, LSTM, GRU or Bidirectional layer"):
        from_keras(keras.Sequential([keras.Input((T, I)), keras.layers.Dense(3)]))


def test_from_keras_refuses_a_layer_between_recurrent_layers_and_maps_dropout_there():
    def model(*between):
        return keras.Sequential([keras.Input((T, I)), keras.layers.LSTM(H, return_sequences=True), *between,
                                 keras.layers.LSTM(H, return_sequences=True), keras.layers.LSTM(H, return_sequences=True)])

    with pytest.raises(ValueError, match=r"model: layer mix \(Dense\) stands between the recurrent layers lstm\w* "
                                         r"and lstm\w*; jaxrnn stacks recurrent layers directly"):
        from_keras(model(keras.layers.Dense(H, name="mix")))
    with pytest.raises(ValueError, match=r"the Dropout rates between the recurrent layers differ \(\[0.25, 0\]\)"):
        from_keras(model(keras.layers.Dropout(0.25)))
    spaced = keras.Sequential([keras.Input((T, I)), keras.layers.GRU(H, return_sequences=True), keras.layers.Dropout(0.25),
                               keras.layers.GRU(H, return_sequences=True)])
    for k in spaced.layers:
        k.set_weights(randomized(k.get_weights()))
    layer, params = from_keras(spaced)
    assert layer.num_layers == 2 and layer.dropout == 0.25
    x = inputs()
    np.testing.assert_allclose(layer.apply(params, x, deterministic=True)[0], np.asarray(spaced(x)), atol=2e-5)  # inference


def test_to_keras_without_the_jax_backend_says_to_set_it():
    code = ("import jaxrnn\nfrom jaxrnn.interop import to_keras\nlayer = jaxrnn.GRU(3, 4, batch_first=True)\n"
            "import jax\nto_keras(layer, layer.init(jax.random.key(0)))")
    # tensorflow: Keras's default backend; not installed here
    proc = run(["-c", code], check=False, env={"KERAS_BACKEND": "tensorflow"})
    assert proc.returncode != 0
    assert "set the environment variable KERAS_BACKEND=jax" in proc.stderr, proc.stderr[-2000:]


def test_a_mixed_bfloat16_keras_layer_stays_bfloat16():
    k = keras.layers.LSTM(H, return_sequences=True, dtype="mixed_bfloat16")
    k.build((None, T, I))
    k.set_weights(randomized(k.get_weights()))
    layer, params = from_keras(k)
    assert layer.compute_dtype == "bfloat16" and jax.tree.leaves(params)[0].dtype == np.float32
    x = inputs()
    out = layer.apply(params, x)[0]
    assert out.dtype == jnp.bfloat16
    # bfloat16 keeps 8 bits of mantissa; both compute in it with float32 variables
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(k(x), np.float32), atol=2e-2)
