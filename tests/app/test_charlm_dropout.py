"""The char LM's dropout is explicit: training passes keys, evaluation and sampling are deterministic."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn.app import loop
from jaxrnn.app.charlm import CharLM, bits_per_char, sample
from jaxrnn.train import make_bptt_step


def test_training_takes_keys_and_evaluation_is_deterministic():
    model = CharLM(7, cell="gru", hidden_size=8, num_layers=2, embed_size=4, dropout=0.5)
    params = model.init(jax.random.key(0))
    x = jnp.arange(12, dtype=jnp.int32).reshape(2, 6) % 7
    y = (x + 1) % 7
    with pytest.raises(ValueError, match="key is required: dropout=0.5"):
        model.loss(params, (x, y), None)
    plain, _ = model.loss(params, (x, y), None, deterministic=True)
    one, _ = model.loss(params, (x, y, jax.random.key(1)), None)
    again, _ = model.loss(params, (x, y, jax.random.key(1)), None)
    assert float(one) == float(again) and float(one) != float(plain)
    ids = np.arange(40) % 7
    assert bits_per_char(model, params, ids, rows=3) == pytest.approx(
        float(model.loss(params, (jnp.asarray(ids[:39]).reshape(3, 13), jnp.asarray(ids[1:]).reshape(3, 13)),
                         None, deterministic=True)[0]) / np.log(2), rel=1e-6)
    assert sample(model, params, jnp.array([1, 2]), 4, jax.random.key(2)).shape == (4,)
    opt = optax.sgd(0.1)
    step = jax.jit(make_bptt_step(model.loss, opt))
    _, _, metrics, _ = step(params, opt.init(params), (x, y, jax.random.key(3)), model.initial_state(2))
    assert float(metrics["loss"]) == pytest.approx(float(model.loss(params, (x, y, jax.random.key(3)), None)[0]))


def test_each_update_draws_its_own_dropout_key():
    state = {"key": jax.random.key_data(jax.random.key(0)), "step": 3}
    key = loop._dropout_key(state)
    assert jnp.array_equal(jax.random.key_data(key), jax.random.key_data(loop._dropout_key(dict(state))))
    assert not jnp.array_equal(jax.random.key_data(key), jax.random.key_data(loop._dropout_key({**state, "step": 4})))
    sample_key = jax.random.fold_in(jax.random.key(0), 3)  # what the sample after step 3 draws from
    assert not jnp.array_equal(jax.random.key_data(key), jax.random.key_data(sample_key))
