"""The padding rule under every method of ``jaxrnn.scan`` and every cell family: NaN or inf in the
padded steps of ``xs`` never reach a value or a gradient, and the padded run equals the run of the
valid steps alone (forward, and gradients with respect to the params, the valid inputs and the
initial carry)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from tests.helpers import close, every_output_loss, random_carry

T, VALID, INPUT = 6, 4, 3
CELLS = {
    "elman": lambda: jaxrnn.ElmanCell(3),
    "lstm": lambda: jaxrnn.LSTMCell(3),
    "lstm_proj": lambda: jaxrnn.LSTMCell(4, proj_size=2),
    "gru": lambda: jaxrnn.GRUCell(3),
    "gru_reset_before": lambda: jaxrnn.GRUCell(3, reset_after=False),
    "mingru": lambda: jaxrnn.MinGRUCell(3),
    "minlstm": lambda: jaxrnn.MinLSTMCell(3),
    "lru": lambda: jaxrnn.LRUCell(4, output_size=INPUT),
    "slstm": lambda: jaxrnn.SLSTMCell(4, num_heads=2),
}
LINEAR = ("mingru", "minlstm", "lru")
METHODS = {
    "sequential": "sequential",
    "associative": "associative",
    "associative_chunked": jaxrnn.Associative(chunk_size=2),
    # Newton to a residual of 1e-6 without the sequential fallback: the iterate itself is compared.
    "newton_deer": jaxrnn.Newton(variant="deer", tol=1e-6, fallback=False),
    "newton_quasi": jaxrnn.Newton(variant="quasi", tol=1e-6, max_iters=4 * T, fallback=False),
    "newton_damped": jaxrnn.Newton(variant="damped", tol=1e-6, max_iters=20 * T, fallback=False),
}


def cases():
    """Every (cell, method) pair that applies, forward and reverse in turn: each method runs
    forward and reverse over the cell families, each cell forward and reverse over the methods."""
    pairs = [(cell, method) for cell in CELLS for method in METHODS
             if not (method.startswith("associative") and cell not in LINEAR)  # a linear-recurrence cell
             and not (method.startswith("newton") and cell == "lru")]  # newton needs a real carry
    seen = {method: 0 for method in METHODS}
    out = []
    for cell, method in pairs:  # each method alternates direction over its cells
        out.append((cell, method, bool(seen[method] % 2)))
        seen[method] += 1
    return out


@pytest.mark.parametrize("cell_name,method,reverse", cases())
def test_nan_and_inf_in_padding_never_reach_a_gradient(cell_name, method, reverse):
    cell = CELLS[cell_name]()
    keys = jax.random.split(jax.random.key(len(cell_name) + 7 * len(method)), 3)
    params = cell.init(keys[0], INPUT)
    xs = jax.random.normal(keys[1], (T, INPUT))
    carry0 = random_carry(cell, keys[2], 0.3)

    def padded(params, valid_xs, carry0, fill):
        xs = jnp.concatenate([valid_xs, jnp.full((T - VALID, INPUT), fill)])
        ys, carry = jaxrnn.scan(cell, params, xs, carry0, seq_length=VALID, reverse=reverse,
                                method=METHODS[method])
        return every_output_loss(ys[:VALID], carry) + jnp.sum(ys[VALID:]), (ys, carry)

    def unpadded(params, valid_xs, carry0):
        ys, carry = jaxrnn.scan(cell, params, valid_xs, carry0, reverse=reverse, method="sequential")
        return every_output_loss(ys, carry), (ys, carry)

    grad = jax.value_and_grad
    (_, ref_out), ref_grads = jax.jit(grad(unpadded, argnums=(0, 1, 2), has_aux=True))(params, xs[:VALID], carry0)
    for fill in (jnp.nan, jnp.inf, -jnp.inf):
        (_, (ys, carry)), grads = jax.jit(grad(padded, argnums=(0, 1, 2), has_aux=True))(
            params, xs[:VALID], carry0, fill)
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads)), fill
        assert np.all(np.asarray(ys[VALID:]) == 0.0)
        close((ys[:VALID], carry), ref_out, 1e-5)
        close(grads, ref_grads, 1e-4)
