"""The library's side of the hostile test (issue 20): NaN or mismatched arguments refused where
they enter, a custom cell's output checked the same way under every method, and the cryptic
messages (KeyError, "too many values to unpack", JAX's scan type errors) named."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxrnn
from jaxrnn.train import make_step

METHODS = ["sequential", "associative", "newton"]


def test_newton_refuses_a_nan_damping():
    with pytest.raises(ValueError, match="damping must be a finite number >= 0, got nan"):
        jaxrnn.Newton(damping=float("nan"), fallback=False)


def test_make_step_refuses_a_nan_clip_norm():
    with pytest.raises(ValueError, match="clip_norm must be a positive number or None, got nan"):
        make_step(lambda p, b: jnp.sum(p["w"]), optax.sgd(0.1), clip_norm=float("nan"))


def test_stack_dropout_on_one_sequence_takes_one_key():
    net = jaxrnn.Stack((jaxrnn.Recurrent(jaxrnn.GRUCell(4)), jaxrnn.Recurrent(jaxrnn.GRUCell(4))), dropout=0.5)
    params = net.init(jax.random.key(0), 3)
    with pytest.raises(ValueError, match=r"key must be one PRNG key, got a batch of keys of shape \(3,\)"):
        net.apply(params, jnp.ones((5, 3)), key=jax.random.split(jax.random.key(1), 3))
    ys, _ = net.apply(params, jnp.ones((5, 3)), key=jax.random.key(1))
    assert ys.shape == (5, 4)


@dataclasses.dataclass(frozen=True)
class _Custom:
    """A linear custom cell whose ``apply`` returns what ``returns`` says (for the error paths)."""

    returns: str
    hidden_size: int = 3

    @property
    def output_size(self):
        return self.hidden_size

    def init(self, key, input_size):
        return {"w": jnp.ones((self.hidden_size, input_size))}

    def initial_carry(self, dtype=jnp.float32):
        return jnp.zeros((self.hidden_size,), dtype)

    def linear_terms(self, params, xs):
        return jnp.full((xs.shape[0], self.hidden_size), 0.5), xs @ params["w"].T

    def readout(self, params, hs, xs):
        return hs

    def apply(self, params, carry, x):
        h = 0.5 * carry + params["w"] @ x
        return {"one array": h, "a longer carry": (jnp.concatenate([h, h]), h), "three": (h, h, h),
                "an int carry": (h.astype(jnp.int32), h), "good": (h, h)}[self.returns]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("returns,error,match", [
    ("one array", TypeError, r"cell.apply must return \(carry, y\), got an array of shape \(3,\)"),
    ("three", TypeError, r"cell.apply must return \(carry, y\), got tuple"),
    ("a longer carry", ValueError, r"cell.apply must return a carry shaped like its input carry, \(3,\), got \(6,\)"),
    ("an int carry", TypeError, "cell.apply must return a floating carry, got int32"),
])
def test_a_custom_cells_output_is_checked_the_same_under_every_method(method, returns, error, match):
    cell = _Custom(returns)
    with pytest.raises(error, match=match):
        jaxrnn.scan(cell, cell.init(None, 2), jnp.ones((4, 2)), method=method)


@pytest.mark.parametrize("method", METHODS)
def test_a_good_custom_cell_runs_under_every_method_and_a_wrong_carry_is_named(method):
    cell = _Custom("good")
    params = cell.init(None, 2)
    ys, _ = jaxrnn.scan(cell, params, jnp.ones((4, 2)), method=method)
    np.testing.assert_allclose(ys, jaxrnn.scan(cell, params, jnp.ones((4, 2)))[0], rtol=1e-5)
    with pytest.raises(ValueError, match=r"carry must be shaped like cell.initial_carry\(\), \(3,\), got \(2, 3\)"):
        jaxrnn.scan(cell, params, jnp.ones((4, 2)), jnp.zeros((2, 3)), method=method)


def test_an_lstm_carry_of_the_wrong_kind_is_named():
    cell = jaxrnn.LSTMCell(4)
    with pytest.raises(ValueError, match=r"carry must be shaped like cell.initial_carry\(\), LSTMState\(h=\(4,\), c=\(4,\)\), got \(4,\)"):
        jaxrnn.scan(cell, cell.init(jax.random.key(0), 2), jnp.ones((3, 2)), jnp.zeros(4))


@pytest.mark.parametrize("cell", [jaxrnn.MinGRUCell(4), jaxrnn.MinLSTMCell(4)])
@pytest.mark.parametrize("method", METHODS)
def test_min_cells_name_missing_params(cell, method):
    params = {"w_ih": cell.init(jax.random.key(0), 3)["w_ih"]}
    with pytest.raises(ValueError, match=r"params must be a dict with the keys \['w_ih', 'b_ih'\], got \['w_ih'\]"):
        jaxrnn.scan(cell, params, jnp.ones((5, 3)), method=method)


def test_from_torch_names_an_object_that_is_not_a_torch_module_and_reads_pruned_weights():
    import torch
    from torch.nn.utils import prune

    from jaxrnn.interop import from_torch

    class LSTM:  # e.g. a Keras layer of the same name
        input_size = None

    with pytest.raises(TypeError, match=r"module must be a torch.nn RNN, .* got LSTM \(from tests.test_hostile_values\)"):
        from_torch(LSTM())
    module = torch.nn.LSTM(3, 4)
    prune.l1_unstructured(module, "weight_ih_l0", 0.5)  # its parameter is now weight_ih_l0_orig
    _, params = from_torch(module)
    np.testing.assert_array_equal(params[0]["w_ih"], module.weight_ih_l0.detach().numpy())
    assert (np.asarray(params[0]["w_ih"]) == 0).mean() == 0.5
