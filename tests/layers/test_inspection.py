"""``jaxrnn.summary``: the seeds' Keras tables, torch's numel sums, shapes, errors."""

import re

import jax
import jax.numpy as jnp
import keras
import pytest
import torch

import jaxrnn
from jaxrnn.interop import from_keras

ROW = re.compile(r"^(\S.*?)\s{2,}(\([0-9, ]*\))\s+([0-9,]+)$")


def parse(table: str):
    """``([(name, shape, count)], total)`` from a summary table."""
    rows = []
    for line in table.splitlines():
        m = ROW.match(line)
        if m:
            shape = tuple(int(s) for s in m.group(2).strip("()").split(",") if s.strip())
            rows.append((m.group(1), shape, int(m.group(3).replace(",", ""))))
    total = int(re.search(r"Total params: ([0-9,]+)", table).group(1).replace(",", ""))
    return rows, total


def elman(h=8):
    return jaxrnn.ElmanCell(h, double_bias=False)


def test_simple_rnn_3_on_10_inputs_is_42():
    model = jaxrnn.RNN(10, 3, batch_first=True, double_bias=False)
    rows, total = parse(jaxrnn.summary(model, model.init(jax.random.key(0)), (8, 2, 10)))
    assert rows == [("RNN[0]: Recurrent(ElmanCell)", (8, 2, 3), 42)] and total == 42


def test_stack_of_two_recurrent_elman_is_104_plus_136():
    net = jaxrnn.Stack((jaxrnn.Recurrent(elman()), jaxrnn.Recurrent(elman())))
    rows, total = parse(jaxrnn.summary(net, net.init(jax.random.key(0), 4), (20, 4)))
    assert [(s, c) for _, s, c in rows] == [((20, 8), 104), ((20, 8), 136)] and total == 240


@pytest.mark.parametrize("inputs, first, total", [(4, 208, 1408), (5, 224, 1424)])
def test_four_bidirectional_elman(inputs, first, total):
    net = jaxrnn.Stack((jaxrnn.Bidirectional(elman()),) * 4)
    rows, got_total = parse(jaxrnn.summary(net, net.init(jax.random.key(0), inputs), (1, 10, inputs)))
    assert [c for _, _, c in rows] == [first, 400, 400, 400] and got_total == total
    assert all(s == (1, 10, 16) for _, s, _ in rows)


TORCH_MODELS = {  # (module, input shape, expected total, per-row output shape)
    "LSTM(10, 20, 2 layers, bidirectional)": (
        lambda nn: nn.LSTM(10, 20, num_layers=2, bidirectional=True), (7, 3, 10), 15040, (7, 3, 40)),
    "seed 003: RNN(5, 8, 2 layers, bidirectional, batch_first)": (
        lambda nn: nn.RNN(5, 8, num_layers=2, batch_first=True, bidirectional=True), (1, 10, 5), 656,
        (1, 10, 16)),
    "GRU(4, 6, 2 layers, dropout)": (  # summary traces the model deterministic: no key needed
        lambda nn: nn.GRU(4, 6, num_layers=2, dropout=0.5), (5, 2, 4), 468, (5, 2, 6)),
}


@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_torch_layout_equals_torch_numel(name):
    make, input_shape, expected, out_shape = TORCH_MODELS[name]
    module = make(torch.nn)
    layer, params = jaxrnn.interop.from_torch(module)
    rows, total = parse(jaxrnn.summary(layer, params, input_shape))
    numel = [sum(p.numel() for n, p in module.named_parameters() if f"_l{l}" in n) for l in (0, 1)]
    assert total == expected == sum(p.numel() for p in module.parameters())
    assert [c for _, _, c in rows] == numel
    assert [s for _, s, _ in rows] == [out_shape, out_shape]
    assert tuple(module(torch.zeros(input_shape))[0].shape) == out_shape


def test_shapes_follow_merge_mode_and_unbatched_input():
    model = jaxrnn.GRU(5, 6, num_layers=2, bidirectional=True, merge_mode="sum", batch_first=True)
    rows, total = parse(jaxrnn.summary(model, model.init(jax.random.key(0)), (9, 5)))
    assert [s for _, s, _ in rows] == [(9, 6), (9, 6)]
    assert rows[0][0] == "GRU[0]: Bidirectional(GRUCell, sum)"
    assert total == jaxrnn.param_count(model.init(jax.random.key(0)))


def keras_to_stack(model):
    """Converts each recurrent layer of a Keras Sequential and stacks the results."""
    layers, params = [], []
    for k in model.layers:
        layer, p = from_keras(k)
        assert jaxrnn.param_count(p) == k.count_params()
        layers.append(layer.network().layers[0])
        params.append(p[0])
    return jaxrnn.Stack(tuple(layers)), params


def sequential(input_shape, *layers):
    return keras.Sequential([keras.Input(input_shape), *layers])


def rnn(units=8, seq=True):
    return keras.layers.SimpleRNN(units, return_sequences=seq)


def bi(units=8):
    return keras.layers.Bidirectional(rnn(units))


# The Keras tables printed in /work/shared/seeds 001 (wikidocs 22886) and 004.
SEED_TABLES = {
    "001 SimpleRNN(3) on (2, 10)": (lambda: sequential((2, 10), rnn(3, seq=False)), [42]),
    "001 deep SimpleRNN(8) on (20, 4)": (lambda: sequential((20, 4), rnn(), rnn()), [104, 136]),
    "001 four Bidirectional on (10, 4)": (lambda: sequential((10, 4), bi(), bi(), bi(), bi()),
                                          [208, 400, 400, 400]),
    "004 deep SimpleRNN(8) on (10, 5)": (lambda: sequential((10, 5), rnn(), rnn()), [112, 136]),
    "004 Bidirectional on (10, 5)": (lambda: sequential((10, 5), bi()), [224]),
    "004 four Bidirectional on (10, 5)": (lambda: sequential((10, 5), bi(), bi(), bi(), bi()),
                                          [224, 400, 400, 400]),
}


@pytest.mark.parametrize("name", sorted(SEED_TABLES))
def test_seed_keras_tables_are_reproduced(name):
    make, expected = SEED_TABLES[name]
    model = make()
    net, params = keras_to_stack(model)
    steps, size = model.inputs[0].shape[1:]
    rows, total = parse(jaxrnn.summary(net, params, (1, steps, size)))
    assert [c for _, _, c in rows] == expected == [k.count_params() for k in model.layers]
    assert total == sum(expected) == model.count_params()
    widths = [k.compute_output_shape((1, steps, size))[-1] for k in model.layers]
    assert [s[-1] for _, s, _ in rows] == widths


def test_param_count_counts_arrays_only():
    assert jaxrnn.param_count(None) == 0 and jaxrnn.param_count({"w": jnp.ones((2, 3))}) == 6
    with pytest.raises(TypeError, match=r"params\['w'\] must be an array, got str"):
        jaxrnn.param_count({"w": "abc"})


def test_summary_errors():
    model = jaxrnn.LSTM(10, 4)
    params = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"input_shape must be a tuple \(B, T, I\) or \(T, I\), got \(10,\)"):
        jaxrnn.summary(model, params, (10,))
    with pytest.raises(ValueError, match="input_shape\\[1\\] must be >= 0, got -1"):
        jaxrnn.summary(model, params, (3, -1, 10))
    with pytest.raises(ValueError, match="input: expected input_size 10, got 6"):
        jaxrnn.summary(model, params, (3, 2, 6))
    with pytest.raises(TypeError, match="model must be a jaxrnn RNN/LSTM/GRU, Stack"):
        jaxrnn.summary(object(), params, (3, 2, 10))
