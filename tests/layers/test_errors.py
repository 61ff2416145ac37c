"""Every bad input raises ValueError/TypeError naming the argument, the expected and the received."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxrnn
from jaxrnn.interop import from_torch, to_torch

KEY = jax.random.key(0)


@pytest.mark.parametrize("make,exc,match", [
    (lambda: jaxrnn.ElmanCell(0), ValueError, r"hidden_size must be >= 1, got 0"),
    (lambda: jaxrnn.ElmanCell("8"), TypeError, r"hidden_size must be an int, got str '8'"),
    (lambda: jaxrnn.ElmanCell(8.0), TypeError, r"hidden_size must be an int, got float"),
    (lambda: jaxrnn.ElmanCell(True), TypeError, r"hidden_size must be an int, got bool"),
    (lambda: jaxrnn.ElmanCell(8, nonlinearity="sigmoid"), ValueError,
     r"nonlinearity must be one of 'tanh', 'relu'; got 'sigmoid'"),
    (lambda: jaxrnn.ElmanCell(8, bias=1), TypeError, r"bias must be a bool, got int 1"),
    (lambda: jaxrnn.ElmanCell(8, double_bias="no"), TypeError, r"double_bias must be a bool"),
    (lambda: jaxrnn.LSTMCell(8, proj_size=8), ValueError,
     r"proj_size must be smaller than hidden_size \(8\), got 8"),
    (lambda: jaxrnn.LSTMCell(8, proj_size=-1), ValueError, r"proj_size must be >= 0, got -1"),
    (lambda: jaxrnn.LSTMCell(8, forget_bias=1.0, bias=False), ValueError, r"forget_bias needs bias=True"),
    (lambda: jaxrnn.LSTMCell(8, forget_bias="1"), TypeError, r"forget_bias must be a float, got str"),
    (lambda: jaxrnn.LSTMCell(8, forget_bias=float("nan")), ValueError, r"forget_bias must be finite, got nan"),
    (lambda: jaxrnn.GRUCell(8, reset_after=None), TypeError, r"reset_after must be a bool, got NoneType"),
    (lambda: jaxrnn.Bidirectional(jaxrnn.GRUCell(8), merge="max"), ValueError,
     r"merge must be one of 'concat', 'sum', 'mul', 'ave', None; got 'max'"),
    (lambda: jaxrnn.Stack(()), TypeError, r"layers must be a non-empty tuple"),
    (lambda: jaxrnn.Stack([jaxrnn.Recurrent(jaxrnn.GRUCell(8))]), TypeError, r"layers must be a non-empty tuple"),
    (lambda: jaxrnn.LSTM(5, 8, dropout=1.5), ValueError, r"dropout must be a float in \[0, 1\], got 1.5"),
    (lambda: jaxrnn.LSTM(5, 8, dropout=-0.1), ValueError, r"dropout must be a float in \[0, 1\], got -0.1"),
    (lambda: jaxrnn.LSTM(5, 8, dropout="0.5"), TypeError, r"dropout must be a float in \[0, 1\], got str"),
    (lambda: jaxrnn.LSTM(5, 8, proj_size=9), ValueError, r"proj_size must be smaller than hidden_size \(8\), got 9"),
    (lambda: jaxrnn.RNN(5, 8, nonlinearity="gelu"), ValueError, r"nonlinearity must be one of 'tanh', 'relu'; got 'gelu'"),
    (lambda: jaxrnn.GRU(0, 8), ValueError, r"input_size must be >= 1, got 0"),
    (lambda: jaxrnn.GRU(5, 8, num_layers=0), ValueError, r"num_layers must be >= 1, got 0"),
    (lambda: jaxrnn.GRU(5, 8, batch_first="yes"), TypeError, r"batch_first must be a bool, got str 'yes'"),
    (lambda: jaxrnn.GRU(5, 8, bidirectional=2), TypeError, r"bidirectional must be a bool, got int 2"),
])
def test_bad_hyperparameters_raise_at_construction(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("call,exc,match", [
    (lambda: jaxrnn.GRUCell(4).init(KEY, 0), ValueError, r"input_size must be >= 1, got 0"),
    (lambda: jaxrnn.GRUCell(4).init(KEY, 3, preset="xavier"), ValueError,
     r"preset must be one of 'torch', 'keras'; got 'xavier'"),
    (lambda: jaxrnn.GRUCell(4).init(KEY, 3, dtype=jnp.int32), TypeError, r"dtype must be a floating dtype, got int32"),
    (lambda: jaxrnn.GRU(3, 4).init(KEY, preset="he"), ValueError, r"preset must be one of"),
])
def test_bad_init_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


CELL = jaxrnn.LSTMCell(4)
CELL_PARAMS = CELL.init(KEY, 3)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: CELL.apply(CELL_PARAMS, CELL.initial_carry(), jnp.ones(5)), ValueError,
     r"x must have shape \(\.\.\., 3\) \(input_size from params\['w_ih'\]\), got \(5,\)"),
    (lambda: CELL.apply(CELL_PARAMS, CELL.initial_carry(), jnp.ones(())), ValueError,
     r"x must have shape \(\.\.\., 3\) .*got \(\)"),
    (lambda: CELL.apply(CELL_PARAMS, jaxrnn.LSTMState(jnp.zeros(4), jnp.zeros(5)), jnp.ones(3)), ValueError,
     r"carry must have shape \(\.\.\., 4\), got \(5,\)"),
    (lambda: CELL.apply(CELL_PARAMS, jnp.zeros(4), jnp.ones(3)), ValueError,
     r"carry must be structured like LSTMState\(h=\(4,\), c=\(4,\)\) \(leading batch dimensions allowed\), got \(4,\)"),
    (lambda: jaxrnn.GRUCell(4).apply(CELL_PARAMS, jnp.zeros(4), jnp.ones(3)), ValueError,
     r"params\['w_ih'\] must have shape \(12, 3\), got \(16, 3\)"),
    (lambda: CELL.apply({**CELL_PARAMS, "w_hr": jnp.ones((2, 4))}, CELL.initial_carry(), jnp.ones(3)), ValueError,
     r"params must have the keys \['b_hh', 'b_ih', 'w_hh', 'w_ih'\], got .* \(unexpected \['w_hr'\]\)"),
    (lambda: CELL.apply({k: v for k, v in CELL_PARAMS.items() if k != "b_hh"}, CELL.initial_carry(), jnp.ones(3)),
     ValueError, r"params must have the keys .* \(missing \['b_hh'\]\)"),
    (lambda: CELL.apply({**CELL_PARAMS, "b_hh": jnp.ones(1)}, CELL.initial_carry(), jnp.ones(3)), ValueError,
     r"params\['b_hh'\] must have shape \(16,\), got \(1,\)"),
    (lambda: CELL.apply({**CELL_PARAMS, "b_hh": jnp.ones(16, int)}, CELL.initial_carry(), jnp.ones(3)), TypeError,
     r"params\['b_hh'\] must have a floating dtype, got int"),
    (lambda: jaxrnn.LSTMCell(4, compute_dtype="int8"), TypeError, r"compute_dtype must be a floating dtype, got int8"),
    (lambda: jaxrnn.LSTMCell(4, compute_dtype="bfloat17"), TypeError,
     r"compute_dtype must be a floating dtype or its name \(e.g. 'bfloat16'\), got str 'bfloat17'"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((2, 5, 3))), ValueError,
     r"xs must have shape \(T, input_size\) \(one unbatched sequence\), got \(2, 5, 3\)"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3), jnp.int32)), TypeError,
     r"xs must have a floating dtype, got int32"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), seq_length=6), ValueError,
     r"seq_length must lie in \[0, 5\] \(the number of time steps\), got values in \[6, 6\]"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), seq_length=-1), ValueError,
     r"seq_length must lie in \[0, 5\]"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), seq_length=2.0), TypeError,
     r"seq_length must have an integer dtype, got float"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), seq_length=jnp.array([2, 3])), ValueError,
     r"seq_length must be a scalar for one sequence, got shape \(2,\)"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), method="magic"), ValueError,
     r"method must be one of 'sequential'.*got 'magic'"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), unroll=0), ValueError, r"unroll must be >= 1, got 0"),
    (lambda: jaxrnn.scan(CELL, CELL_PARAMS, jnp.ones((5, 3)), reverse="yes"), TypeError,
     r"reverse must be a bool, got str"),
    (lambda: jaxrnn.scan(jaxrnn.LSTMCell, CELL_PARAMS, jnp.ones((5, 3))), TypeError,
     r"cell must be a cell instance, e.g. LSTMCell\(hidden_size\), got the class LSTMCell"),
    (lambda: jaxrnn.scan(jaxrnn.GRUCell(4), jaxrnn.GRUCell(4).init(KEY, 3), jnp.ones((5, 3)), jnp.zeros(4, jnp.int32)),
     TypeError, r"carry must have a floating dtype, got int32"),
    (lambda: CELL.apply(CELL_PARAMS, jaxrnn.LSTMState(jnp.zeros((2, 4)), jnp.zeros((2, 4))), jnp.ones((3, 3))),
     ValueError, (r"carry must have x's leading dimensions \(3,\) \(or ones that broadcast to them\), got shape "
                  r"\(2, 4\) \(x: \(3, 3\)\)")),
    (lambda: jaxrnn.Stack((jaxrnn.GRUCell(4), jaxrnn.GRUCell(4))), TypeError,
     (r"layers\[0\] must be a sequence layer \(Recurrent, Bidirectional, Stack\), got GRUCell; wrap a cell in "
      r"jaxrnn.Recurrent")),
    (lambda: jaxrnn.Recurrent(CELL, unroll=0), ValueError, r"unroll must be >= 1, got 0"),
    (lambda: jaxrnn.Bidirectional(CELL, unroll=0), ValueError, r"unroll must be >= 1, got 0"),
    (lambda: jaxrnn.Bidirectional(jaxrnn.GRUCell(4)).apply(jaxrnn.Bidirectional(jaxrnn.GRUCell(4)).init(KEY, 3),
                                                           jnp.ones((5, 3)), (jnp.zeros(4),) * 3),
     ValueError, r"carry must be a pair \(forward carry, backward carry\), got 3 entries"),
    (lambda: jaxrnn.summary(CELL, CELL_PARAMS, (1, 3)), TypeError,
     r"model must be a jaxrnn RNN/LSTM/GRU, .*got LSTMCell; wrap a cell in jaxrnn.Recurrent"),
])
def test_bad_cell_and_scan_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


LSTM = jaxrnn.LSTM(5, 8, num_layers=2, bidirectional=True)
LSTM_PARAMS = LSTM.init(KEY)
GRU = jaxrnn.GRU(5, 8, batch_first=True)
GRU_PARAMS = GRU.init(KEY)
X = jnp.ones((7, 3, 5))
STACK = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(4)), jaxrnn.Recurrent(jaxrnn.GRUCell(4))))
STACK_PARAMS = STACK.init(KEY, 3)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: LSTM.apply(LSTM_PARAMS, jnp.ones((7, 3, 6))), ValueError, r"input: expected input_size 5, got 6"),
    (lambda: LSTM.apply(LSTM_PARAMS, jnp.ones(5)), ValueError,
     r"input must be 3-D \(batched\) or 2-D \(unbatched \(T, input_size\)\), got shape \(5,\)"),
    (lambda: LSTM.apply(LSTM_PARAMS, jnp.ones((1, 7, 3, 5))), ValueError, r"input must be 3-D .* got shape \(1, 7, 3, 5\)"),
    (lambda: LSTM.apply(LSTM_PARAMS, jnp.ones((7, 3, 5), jnp.int32)), TypeError, r"input must have a floating dtype, got int32"),
    (lambda: LSTM.apply(LSTM_PARAMS, np.ones((7, 3, 5), bool)), TypeError, r"input must have a floating dtype, got bool"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, jnp.zeros((4, 3, 8))), TypeError,
     r"hx must be a tuple \(h_0, c_0\) for LSTM, got ArrayImpl"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, (jnp.zeros((2, 3, 8)), jnp.zeros((4, 3, 8)))), ValueError,
     r"hx\[0\] \(h_0\) must have shape \(4, 3, 8\), got \(2, 3, 8\)"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, (jnp.zeros((4, 3, 8)), jnp.zeros((4, 2, 8)))), ValueError,
     r"hx\[1\] \(c_0\) must have shape \(4, 3, 8\), got \(4, 2, 8\)"),
    (lambda: LSTM.apply(LSTM_PARAMS, X[:, 0], (jnp.zeros((4, 3, 8)), jnp.zeros((4, 3, 8)))), ValueError,
     r"hx\[0\] \(h_0\) must have shape \(4, 8\), got \(4, 3, 8\)"),
    (lambda: GRU.apply(GRU_PARAMS, X, jnp.zeros((2, 7, 8))), ValueError, r"hx must have shape \(1, 7, 8\), got \(2, 7, 8\)"),
    (lambda: GRU.apply(GRU_PARAMS, X, jnp.zeros((1, 3, 8))), ValueError, r"hx must have shape \(1, 7, 8\), got \(1, 3, 8\)"),
    (lambda: GRU.apply(GRU_PARAMS, X, jnp.zeros((1, 7, 8), jnp.int32)), TypeError, r"hx must have a floating dtype"),
    (lambda: GRU.apply(GRU_PARAMS, X, seq_lengths=jnp.array([3, 3])), ValueError,
     r"seq_lengths must have shape \(7,\) \(one length per batch row\), got \(2,\)"),
    (lambda: GRU.apply(GRU_PARAMS, X, seq_lengths=jnp.full(7, 4)), ValueError,
     r"seq_lengths must lie in \[0, 3\] \(the number of time steps\), got values in \[4, 4\]"),
    (lambda: GRU.apply(GRU_PARAMS, X, seq_lengths=np.full(7, 2.0)), TypeError,
     r"seq_lengths must have an integer dtype, got float64"),
    (lambda: GRU.apply(GRU_PARAMS, X[0], seq_lengths=jnp.array([1, 2])), ValueError,
     r"seq_lengths must have shape \(\) or \(1,\) \(one length per batch row\), got \(2,\)"),
    (lambda: GRU.apply(GRU_PARAMS, torch.ones(7, 3, 5)), TypeError,
     r"input must be a JAX or NumPy array, got torch.Tensor of dtype torch.float32 \(convert it first"),
    (lambda: GRU.apply(GRU_PARAMS, X, seq_lengths=torch.tensor([1] * 7)), TypeError,
     r"seq_lengths must be a JAX or NumPy array, got torch.Tensor of dtype torch.int64"),
    (lambda: GRU.apply([{**GRU_PARAMS[0], "b_ih": torch.ones(24)}], X), TypeError,
     r"params\[0\]\['b_ih'\] must be a JAX or NumPy array, got torch.Tensor"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, key=0), TypeError,
     r"key must be a PRNG key \(jax.random.key\(seed\) or jax.random.PRNGKey\(seed\)\), got int"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, key=jnp.ones(2)), TypeError,
     r"key must be a PRNG key .*got ArrayImpl of dtype float32 and shape \(2,\)"),
    (lambda: LSTM.apply(LSTM_PARAMS, X, key=jax.random.split(KEY, 3)), ValueError,
     r"key must be one PRNG key, got a batch of keys of shape \(3,\)"),
    (lambda: LSTM.init(jax.random.split(KEY, 2)), ValueError, r"key must be one PRNG key, got a batch"),
    (lambda: jaxrnn.GRUCell(4).init("seed", 3), TypeError, r"key must be a PRNG key .*got str"),
    (lambda: STACK.apply(STACK_PARAMS, jnp.ones((5, 3)), key=1.5), TypeError, r"key must be a PRNG key .*got float"),
])
def test_bad_layer_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("convert", ["torch", "keras"])
def test_conversions_check_params_against_the_layer(convert):
    from jaxrnn.interop import to_keras  # conftest sets KERAS_BACKEND=jax

    to = {"torch": to_torch, "keras": to_keras}[convert]
    layer = jaxrnn.GRU(5, 8)
    params = layer.init(KEY)
    with pytest.raises(ValueError, match=r"params\[0\] must have the keys .* \(missing \['w_hh'\]\)"):
        to(layer, [{k: v for k, v in params[0].items() if k != "w_hh"}])
    with pytest.raises(ValueError, match=r"params\[0\] must have the keys .* \(missing \['b_hh'\]\)"):
        to(layer, [{k: v for k, v in params[0].items() if k != "b_hh"}])
    with pytest.raises(ValueError, match=r"params must be a list with one entry per layer \(1\), got 2 entries"):
        to(layer, params * 2)
    with pytest.raises(ValueError, match=r"params\[0\]\['w_ih'\] must have shape \(24, 5\), got \(5, 24\)"):
        to(layer, [{**params[0], "w_ih": params[0]["w_ih"].T}])
    if convert == "torch":
        cell = jaxrnn.LSTMCell(4)
        with pytest.raises(ValueError, match=r"params must have the keys .* \(missing \['w_ih'\]\)"):
            to_torch(cell, {k: v for k, v in cell.init(KEY, 3).items() if k != "w_ih"})


def test_bad_interop_inputs():
    with pytest.raises(TypeError, match=r"module must be a torch.nn RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell, got Linear"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"module: its parameters are on the meta device \(shapes without values: "
                                         r"weight_ih_l0, ...\); give them values first"):
        from_torch(torch.nn.LSTM(3, 4, device="meta"))
    layer = jaxrnn.GRU(3, 4, reset_after=False)
    with pytest.raises(ValueError, match=r"layer: GRU\(reset_after=False\) has no torch.nn equivalent"):
        to_torch(layer, layer.init(KEY))
    cell = jaxrnn.GRUCell(4, reset_after=False)
    with pytest.raises(ValueError, match=r"layer: GRUCell\(reset_after=False\) has no torch.nn equivalent"):
        to_torch(cell, cell.init(KEY, 3))
    cell = jaxrnn.LSTMCell(4, proj_size=2)
    with pytest.raises(ValueError, match=r"layer: torch.nn.LSTMCell has no proj_size"):
        to_torch(cell, cell.init(KEY, 3))
    with pytest.raises(TypeError, match=r"layer must be a jaxrnn RNN, LSTM, GRU or cell, got Stack"):
        net = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(4)),))
        to_torch(net, net.init(KEY, 3))




@pytest.mark.parametrize("call,exc,match", [
    (lambda: LSTM.apply(LSTM_PARAMS[:1], X[..., :5]), ValueError,
     r"params must be a list with one entry per layer \(2\), got 1 entries"),
    (lambda: GRU.apply(GRU_PARAMS + GRU_PARAMS, X), ValueError,
     r"params must be a list with one entry per layer \(1\), got 2 entries"),
    (lambda: GRU.apply(GRU_PARAMS[0], X), ValueError, r"params must be a list with one entry per layer \(1\), got dict"),
    (lambda: LSTM.apply([LSTM_PARAMS[0], {"fwd": LSTM_PARAMS[1]["fwd"]}], X), ValueError,
     r"params\[1\] must be a dict with the keys \['fwd', 'bwd'\], got \['fwd'\]"),
    (lambda: LSTM.apply([LSTM_PARAMS[0], {**LSTM_PARAMS[1], "bwd": {**LSTM_PARAMS[1]["bwd"], "w_hh": jnp.ones((32, 9))}}],
                        X), ValueError, r"params\[1\]\['bwd'\]\['w_hh'\] must have shape \(32, 8\), got \(32, 9\)"),
    (lambda: GRU.apply([{k: v for k, v in GRU_PARAMS[0].items() if k != "b_hh"}], X), ValueError,
     (r"params\[0\] must have the keys \['b_hh', 'b_ih', 'w_hh', 'w_ih'\], got \['b_ih', 'w_hh', 'w_ih'\] "
      r"\(missing \['b_hh'\]\)")),
    (lambda: GRU.apply([{**GRU_PARAMS[0], "b_ih": jnp.ones(1)}], X), ValueError,
     r"params\[0\]\['b_ih'\] must have shape \(24,\), got \(1,\)"),
    (lambda: STACK.apply(STACK_PARAMS, jnp.ones((5, 3)), (jnp.zeros(4),)), ValueError,
     r"carry must be a list with one entry per layer \(2\), got 1 entries"),
    (lambda: STACK.apply(STACK_PARAMS[:1], jnp.ones((5, 3))), ValueError,
     r"params must be a list with one entry per layer \(2\), got 1 entries"),
])
def test_params_and_carries_are_checked_against_the_model(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
