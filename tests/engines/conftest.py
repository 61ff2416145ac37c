"""The cuDNN engine on CPU: its GPU kernel replaced by ``jax.experimental.rnn.lstm_ref`` (the pure-JAX
reference JAX ships), so the engine's own code (conversion, layouts, lengths, dispatch) runs here."""

import pytest
from jax.experimental import rnn

from jaxrnn.engines import cudnn


def lstm_ref_kernel(x, h_0, c_0, weights, seq_lengths, input_size, hidden_size, num_layers, bidirectional):
    """``jax.experimental.rnn.lstm`` computed by its pure-JAX reference (runs on CPU)."""
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, num_layers, bidirectional)
    return rnn.lstm_ref(x, h_0, c_0, w_ih, w_hh, b_ih, b_hh, seq_lengths, input_size, hidden_size, num_layers,
                        0.0, bidirectional)


@pytest.fixture
def fake_gpu(monkeypatch):
    """cuDNN's kernel replaced by ``lstm_ref`` and the backend check passed: the cudnn engine's
    own code (conversion, layouts, lengths, dispatch) runs on CPU."""
    monkeypatch.setattr(cudnn, "kernel", lstm_ref_kernel)
    monkeypatch.setattr(cudnn, "backend_problem", lambda: None)
