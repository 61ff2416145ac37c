"""Every engine against the reference engine (``jax.vmap`` of ``jaxrnn.scan`` over the cells).

The cuDNN engine runs here on CPU with its GPU kernel replaced by ``jax.experimental.rnn.lstm_ref``
(the pure-JAX reference JAX ships), so the conversion of jaxrnn params to cuDNN's flat weight
vector, the layout changes, the length handling and the dispatch are the code a GPU runs.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

import jaxrnn
from jaxrnn import engines
from jaxrnn.combinators import Bidirectional, Recurrent, Stack
from jaxrnn.driver import padding
from jaxrnn.engines import cudnn, xla
from tests.engines.conftest import lstm_ref_kernel
from tests.helpers import (
    LAYER_VARIANTS,
    case_id,
    close,
    layer_input,
    outputs_and_grads,
    pairwise,
    random_hx,
)

# Stacks of 3+ layers (one scanned loop over layers 2..L) are compared in
# test_xla_runner_on_a_stack_equals_the_vmapped_stack and against torch in test_torch_parity.
CASES = pairwise(variant=tuple(LAYER_VARIANTS), num_layers=(1, 2), bidirectional=(False, True),
                 batch_first=(False, True), hx=(False, True), lengths=(False, True), dropout_key=(False, True))


def _engines_for(layer, dropout_key):
    """The engines to compare with the reference for this layer (cudnn where it can run)."""
    names = ["xla"]
    policy = jaxrnn.precision.policy(None, jnp.ones(1))
    if cudnn.unsupported(layer.network(), policy, dropout_key, 4, 7) is None:
        names.append("cudnn")
    return names


def _record_engines(monkeypatch) -> list:
    """Records the name of the engine each layer call selects."""
    ran, select = [], engines.select

    def recording(*args):
        engine = select(*args)
        ran.append(engine.__name__.rsplit(".", 1)[-1])
        return engine

    monkeypatch.setattr(engines, "select", recording)
    return ran


@pytest.mark.filterwarnings("ignore:dropout=0.3 with num_layers=1 has no effect")  # one layer: covered too
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_engine_equals_the_reference(case, fake_gpu):
    dropout = 0.3 if case["dropout_key"] else 0.0
    layer = LAYER_VARIANTS[case["variant"]](num_layers=case["num_layers"], bidirectional=case["bidirectional"],
                                      batch_first=case["batch_first"], dropout=dropout, engine="reference")
    keys = jax.random.split(jax.random.key(sum(map(ord, case_id(case)))), 4)
    params = layer.init(keys[0])
    x = layer_input(layer, 4, 7, keys[1])
    hx = random_hx(layer, 4, keys[2]) if case["hx"] else None
    lengths = jnp.array([7, 3, 0, 5]) if case["lengths"] else None
    key = keys[3] if case["dropout_key"] else None
    ref, ref_grads = outputs_and_grads(layer, params, x, hx, lengths, key)
    for name in _engines_for(layer, case["dropout_key"]):
        out, grads = outputs_and_grads(dataclasses.replace(layer, engine=name), params, x, hx, lengths, key)
        close(out, ref, 1e-5)
        close(grads, ref_grads, 1e-4)
    if lengths is not None:  # padded outputs are exactly 0 in every engine
        out = ref[0] if layer.batch_first else jnp.swapaxes(ref[0], 0, 1)
        assert np.all(np.asarray(out)[2] == 0.0) and np.all(np.asarray(out)[1, 3:] == 0.0)


@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
def test_cudnn_flat_weights_run_by_lstm_ref_equal_the_reference(num_layers, bidirectional):
    """The conversion alone: jaxrnn params -> flat vector -> ``unpack_lstm_weights`` -> ``lstm_ref``."""
    layer = jaxrnn.LSTM(4, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=True,
                        engine="reference")
    keys = jax.random.split(jax.random.key(num_layers), 3)
    params = layer.init(keys[0])
    x = layer_input(layer, 3, 5, keys[1])
    h_0, c_0 = random_hx(layer, 3, keys[2])
    lengths = jnp.array([5, 1, 3], jnp.int32)  # lstm_ref itself takes lengths >= 1
    flat = cudnn.flat_weights(layer.network(), params, jaxrnn.precision.policy(None, x, params))
    assert flat.shape == (rnn.get_num_params_in_lstm(4, 6, num_layers, bidirectional),)
    y, h_n, c_n = lstm_ref_kernel(x, h_0, c_0, flat, lengths, 4, 6, num_layers, bidirectional)
    out, (ref_h, ref_c) = layer.apply(params, x, (h_0, c_0), seq_lengths=lengths)
    close((y, h_n, c_n), (out, ref_h, ref_c), 1e-5)


def test_auto_picks_cudnn_on_a_gpu_where_it_can_run(fake_gpu, monkeypatch):
    ran = _record_engines(monkeypatch)
    x = jnp.ones((5, 2, 4))
    jaxrnn.LSTM(4, 6, num_layers=2, bidirectional=True).apply(jaxrnn.LSTM(4, 6, 2, bidirectional=True).init(
        jax.random.key(0)), x, seq_lengths=jnp.array([5, 0]))
    lstm = jaxrnn.LSTM(4, 6)
    params = lstm.init(jax.random.key(0))
    lstm.apply(params, x.astype(jnp.bfloat16))                       # promoted to float32: cuDNN
    dataclasses.replace(lstm, compute_dtype="bfloat16").apply(params, x)  # bf16: cuDNN lacks it
    dataclasses.replace(lstm, proj_size=2).apply(jaxrnn.LSTM(4, 6, proj_size=2).init(jax.random.key(0)), x)
    jaxrnn.GRU(4, 6).apply(jaxrnn.GRU(4, 6).init(jax.random.key(0)), x)           # GRU: no cuDNN kernel
    lstm.apply(params, x[:0])                                                    # T = 0
    assert ran == ["cudnn", "cudnn", "xla", "xla", "xla", "xla"]


def test_auto_is_xla_on_cpu_and_cudnn_refuses_with_the_reason(monkeypatch):
    ran = _record_engines(monkeypatch)
    lstm = jaxrnn.LSTM(4, 6)
    params = lstm.init(jax.random.key(0))
    lstm.apply(params, jnp.ones((5, 2, 4)))
    assert ran == ["xla"]
    with pytest.raises(ValueError, match=r"engine='cudnn' cannot run this call: it needs an NVIDIA GPU and "
                                         r"jax.default_backend\(\) is 'cpu'; the engines that can are 'auto', "
                                         r"'xla' and 'reference'"):
        dataclasses.replace(lstm, engine="cudnn").apply(params, jnp.ones((5, 2, 4)))


@pytest.mark.parametrize("make,match", [
    (lambda: jaxrnn.GRU(4, 6, engine="cudnn"), r"cuDNN runs LSTM only .*got GRU"),
    (lambda: jaxrnn.RNN(4, 6, engine="cudnn"), r"cuDNN runs LSTM only .*got RNN"),
    (lambda: jaxrnn.LSTM(4, 6, proj_size=2, engine="cudnn"), r"has no proj_size"),
    (lambda: jaxrnn.LSTM(4, 6, bidirectional=True, merge_mode="sum", engine="cudnn"),
     r"concatenates the directions, got merge_mode='sum'"),
])
def test_cudnn_refuses_a_layer_it_can_never_run_at_construction(make, match):
    with pytest.raises(ValueError, match=r"engine='cudnn' cannot run this layer: .*" + match + r".*the engines that "
                                         r"can are 'auto', 'xla' and 'reference'"):
        make()


@pytest.mark.parametrize("layer,x,key,match", [
    (jaxrnn.LSTM(4, 6, engine="cudnn", compute_dtype="bfloat16"), jnp.ones((5, 2, 4)), None,
     r"computes in float32 only, the compute dtype is bfloat16"),
    (jaxrnn.LSTM(4, 6, num_layers=2, dropout=0.5, engine="cudnn"), jnp.ones((5, 2, 4)), jax.random.key(0),
     r"draws its own dropout masks"),
    (jaxrnn.LSTM(4, 6, engine="cudnn"), jnp.ones((5, 0, 4)), None, r"the input is empty \(T=5, B=0\)"),
])
def test_cudnn_names_what_it_cannot_run(layer, x, key, match, fake_gpu):
    with pytest.raises(ValueError, match=r"engine='cudnn' cannot run this call: .*" + match):
        layer.apply(layer.init(jax.random.key(0)), x, key=key)


def test_engine_must_be_known():
    with pytest.raises(ValueError, match=r"engine must be one of 'auto', 'reference', 'xla', 'cudnn'; got 'gpu'"):
        jaxrnn.LSTM(4, 6, engine="gpu")


@pytest.mark.parametrize("engine", ["reference", "xla"])
@pytest.mark.parametrize("shape", [(6, 4), (6, 0, 4), (0, 3, 4)])
def test_unbatched_empty_batch_and_zero_steps(engine, shape):
    model = jaxrnn.GRU(4, 6, num_layers=2, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), shape)
    out, h_n = dataclasses.replace(model, engine=engine).apply(params, x)
    assert out.shape == shape[:-1] + (12,) and h_n.shape == (4,) + shape[1:-1] + (6,)
    if 0 not in shape:
        close((out, h_n), dataclasses.replace(model, engine="reference").apply(params, x), 1e-5)
    else:
        assert not np.any(np.asarray(h_n))


def test_traced_lengths_are_clamped_like_the_reference():
    model = jaxrnn.LSTM(4, 6, bidirectional=True)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4))
    models = [dataclasses.replace(model, engine=e) for e in ("xla", "reference")]
    results = [jax.jit(lambda p, x, n, m=m: m.apply(p, x, seq_lengths=n))(params, x, jnp.array([9, -2, 3]))
               for m in models]
    close(results[0], results[1], 1e-5)


@pytest.mark.parametrize("engine", ["reference", "xla"])
def test_nan_in_padded_steps_never_reaches_a_gradient(engine):
    model = jaxrnn.LSTM(4, 6, num_layers=2, bidirectional=True, engine=engine)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (5, 3, 4)).at[3:, 1].set(jnp.nan).at[2:, 2].set(jnp.inf)
    lengths = jnp.array([5, 3, 2])
    grads = jax.grad(lambda p, x: jnp.sum(model.apply(p, x, seq_lengths=lengths)[0]), argnums=(0, 1))(params, x)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    assert not np.any(np.asarray(grads[1])[3:, 1])


@pytest.mark.parametrize("layers", [
    (Recurrent(jaxrnn.LSTMCell(6)), Recurrent(jaxrnn.GRUCell(6), reverse=True),
     Bidirectional(jaxrnn.ElmanCell(6), merge="sum")),  # unequal layers: a python loop
    (Recurrent(jaxrnn.GRUCell(6)),) + (Bidirectional(jaxrnn.LSTMCell(5), merge="ave"),) * 3,  # scanned
])
def test_xla_runner_on_a_stack_equals_the_vmapped_stack(layers):
    net = Stack(layers)
    params = net.init(jax.random.key(0), 4)
    x = jax.random.normal(jax.random.key(1), (5, 2, 4))
    lengths = jnp.array([5, 2])

    def loss(ys, finals):
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(c) for c in jax.tree.leaves(finals)), (ys, finals)

    def fast(params, x):
        policy = jaxrnn.precision.policy(None, x, params)
        return loss(*net.run(xla.runner(policy), params, x, None, padding.batch_valid(5, lengths)))

    def ref(params, x):
        return loss(*jax.vmap(lambda xb, n: net.apply(params, xb, seq_length=n), in_axes=(1, 0),
                              out_axes=(1, 0))(x, lengths))

    results = [jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(params, x) for f in (fast, ref)]
    close(results[0], results[1], 1e-4)


@pytest.mark.parametrize("variant", ["lstm_proj", "gru_reset_before", "rnn_tanh"])
def test_xla_with_the_input_projection_hoisted_equals_the_reference(variant, monkeypatch):
    """The accelerator form of the xla engine (``x @ W_ih^T`` for all steps before the loop)."""
    monkeypatch.setattr(xla, "hoist_input_projection", lambda: True)
    layer = LAYER_VARIANTS[variant](num_layers=2, bidirectional=True, engine="reference")
    keys = jax.random.split(jax.random.key(3), 3)
    params, x = layer.init(keys[0]), layer_input(layer, 3, 6, keys[1])
    hx, lengths = random_hx(layer, 3, keys[2]), jnp.array([6, 0, 2])
    ref = outputs_and_grads(layer, params, x, hx, lengths)
    close(outputs_and_grads(dataclasses.replace(layer, engine="xla"), params, x, hx, lengths), ref, 1e-4)
