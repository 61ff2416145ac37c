"""The torch-shaped layers' ``merge_mode``: validation, output sizes, equivalence to the combinator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from jaxrnn.interop import to_torch

# The reference for each merge: the Keras layer that Keras's own Bidirectional merges with.
KERAS_MERGE = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average"}


@pytest.mark.parametrize("merge", sorted(KERAS_MERGE))
def test_merge_mode_combines_the_two_directions(merge):
    import keras

    layer = jaxrnn.LSTM(3, 4, bidirectional=True, merge_mode=merge)
    base = jaxrnn.LSTM(3, 4, bidirectional=True)
    params = base.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (6, 2, 3))
    lengths = jnp.array([6, 3])
    concat, state = base.apply(params, x, seq_lengths=lengths)
    out, state2 = layer.apply(params, x, seq_lengths=lengths)
    expected = getattr(keras.layers, KERAS_MERGE[merge])()([concat[..., :4], concat[..., 4:]])
    np.testing.assert_allclose(out, np.asarray(expected), atol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, state2, state)
    assert out.shape[-1] == layer.output_size == (8 if merge == "concat" else 4)


def test_jaxrnn_fields_follow_torchs_and_merge_mode_defaults_to_concat():
    """torch's positional arguments keep their positions; jaxrnn's own fields come after them."""
    for cls in (jaxrnn.RNN, jaxrnn.LSTM, jaxrnn.GRU):
        fields = list(cls.__dataclass_fields__)
        assert fields[-5:] == ["merge_mode", "engine", "compute_dtype", "go_backwards", "zero_output_for_mask"]
        assert cls(2, 3).merge_mode == "concat"


def test_merge_mode_errors():
    with pytest.raises(ValueError, match="merge_mode must be one of 'concat', 'sum', 'mul', 'ave', None; got 'max'"):
        jaxrnn.GRU(2, 3, bidirectional=True, merge_mode="max")
    with pytest.raises(ValueError, match="merge_mode='sum' needs bidirectional=True"):
        jaxrnn.RNN(2, 3, merge_mode="sum")
    with pytest.raises(ValueError, match="merge_mode=None gives two outputs, which no next layer reads: it needs "
                                         "num_layers=1, got num_layers=2"):
        jaxrnn.GRU(2, 3, num_layers=2, bidirectional=True, merge_mode=None)
    with pytest.raises(ValueError, match=r"layers\[0\] has merge=None: its two outputs cannot feed the next layer"):
        jaxrnn.Stack((jaxrnn.Bidirectional(jaxrnn.GRUCell(3), merge=None), jaxrnn.Recurrent(jaxrnn.GRUCell(3))))


def test_to_torch_rejects_non_concat_merge_mode():
    layer = jaxrnn.RNN(2, 3, bidirectional=True, merge_mode="ave")
    with pytest.raises(ValueError, match="merge_mode must be 'concat' for torch.nn"):
        to_torch(layer, layer.init(jax.random.key(0)))
    backwards = jaxrnn.RNN(2, 3, go_backwards=True)
    with pytest.raises(ValueError, match="go_backwards must be False for torch.nn"):
        to_torch(backwards, backwards.init(jax.random.key(0)))
