"""The padding rule in every engine: NaN or inf in the padded steps of a batch never reach a value or
a gradient, and the padded batch equals its rows run alone on their valid steps (outputs, final
states, and gradients with respect to the params, the valid inputs and ``hx``)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import (
    LAYER_FAMILIES,
    LAYER_VARIANTS,
    close,
    every_output_loss,
    random_hx,
    valid_steps,
)

LENGTHS = (6, 4, 0)  # T = 6
CASES = [(name, engine) for name in LAYER_FAMILIES for engine in ("reference", "xla", "cudnn")
         if engine != "cudnn" or name == "lstm"]


@pytest.mark.parametrize("name,engine", CASES)
def test_nan_and_inf_in_padding_never_reach_a_gradient(name, engine, fake_gpu):
    layer = LAYER_VARIANTS[name](bidirectional=True, engine=engine)  # both directions, one layer
    keys = jax.random.split(jax.random.key(len(name)), 3)
    params = layer.init(keys[0])
    x = jax.random.normal(keys[1], (max(LENGTHS), len(LENGTHS), layer.input_size))
    hx = random_hx(layer, len(LENGTHS), keys[2])
    valid = valid_steps(LENGTHS, x.shape[0], batch_first=False)[..., None]

    def batch(params, x, hx, fill):
        out, state = layer.apply(params, jnp.where(valid, x, fill), hx, seq_lengths=jnp.array(LENGTHS))
        return every_output_loss(out, state), (out, state)

    def rows(params, x, hx):  # each row alone on its valid steps (unbatched calls of the reference)
        reference = dataclasses.replace(layer, engine="reference")
        outs, states = [], []
        for b, n in enumerate(LENGTHS):
            out, state = reference.apply(params, x[:n, b], jax.tree.map(lambda s, b=b: s[:, b], hx))
            outs.append(jnp.concatenate([out, jnp.zeros((x.shape[0] - n,) + out.shape[1:])]))
            states.append(state)
        out = jnp.stack(outs, 1)
        state = jax.tree.map(lambda *s: jnp.stack(s, 1), *states)
        return every_output_loss(out, state), (out, state)

    grad = jax.value_and_grad
    (_, ref_out), ref_grads = jax.jit(grad(rows, argnums=(0, 1, 2), has_aux=True))(params, x, hx)
    for fill in (jnp.nan, jnp.inf):
        (_, out), grads = jax.jit(grad(batch, argnums=(0, 1, 2), has_aux=True))(params, x, hx, fill)
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads)), fill
        close(out, ref_out, 1e-5)
        close(grads, ref_grads, 1e-4)
