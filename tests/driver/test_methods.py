"""Parallel-in-time methods of jaxrnn.scan equal the sequential method (forward and gradients)."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrnn
from tests.helpers import linear_loop, random_carry, sigmoid

T, I, H = 19, 3, 4
RESETS = np.zeros(T, bool)
RESETS[[6, 13]] = True


def rel_err(a, b):
    errs = [np.max(np.abs(np.asarray(x) - np.asarray(y))) / max(np.max(np.abs(np.asarray(y))), 1e-6)
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    return max(errs)


def compare(cell, method, *, reverse, grad=True, fwd_tol=1e-4, grad_tol=1e-3, input_size=I):
    """Runs ``method`` and ``"sequential"`` with lengths, resets and a random carry; compares."""
    params = cell.init(jax.random.key(1), input_size)
    xs = jax.random.normal(jax.random.key(2), (T, input_size))
    carry = random_carry(cell, jax.random.key(3))
    kw = {"seq_length": T - 3, "resets": RESETS, "reverse": reverse}

    def loss(p, x, c, m):
        ys, c = jaxrnn.scan(cell, p, x, c, method=m, **kw)
        return jnp.sum(jnp.sin(ys)) + sum(jnp.sum(jnp.abs(leaf) ** 2) for leaf in jax.tree.leaves(c))

    grad_fn = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=3)

    def run(m):  # everything under jit: eager op-by-op dispatch costs far more than a compile
        ys = jax.jit(lambda p, x, c: jaxrnn.scan(cell, p, x, c, method=m, **kw))(params, xs, carry)
        return ys, grad_fn(params, xs, carry, m) if grad else None

    want, g_want = run("sequential")
    got, g_got = run(method)
    assert rel_err(got, want) < fwd_tol
    assert bool((got[0][T - 3:] == 0).all())
    if grad:
        assert rel_err(g_got, g_want) < grad_tol


LINEAR = [jaxrnn.MinGRUCell(H), jaxrnn.MinLSTMCell(H), jaxrnn.LRUCell(5, output_size=I)]


@pytest.mark.parametrize("cell", LINEAR, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("method,reverse", [("associative", False), (jaxrnn.Associative(chunk_size=4), True)])
def test_associative_equals_sequential(cell, method, reverse):
    compare(cell, method, reverse=reverse)


@dataclasses.dataclass(frozen=True)
class TwoRateCell:
    """A user cell with a tuple carry: a fast tanh unit and a slow leaky average of it."""

    hidden_size: int = H
    output_size: int = H

    def init(self, key, input_size, *, preset="torch", dtype=jnp.float32):
        k1, k2 = jax.random.split(key)
        return {"w": jax.random.normal(k1, (H, input_size)) * 0.5, "u": jax.random.normal(k2, (H, H)) * 0.5}

    def initial_carry(self, dtype=jnp.float32):
        return (jnp.zeros(H, dtype), jnp.zeros(H, dtype))

    def apply(self, params, carry, x):
        fast, slow = carry
        fast = jnp.tanh(params["w"] @ x + params["u"] @ slow)
        slow = 0.9 * slow + 0.1 * fast
        return (fast, slow), fast + slow


NONLINEAR = [jaxrnn.ElmanCell(H), jaxrnn.GRUCell(H), jaxrnn.LSTMCell(H, proj_size=2), TwoRateCell()]


@pytest.mark.parametrize("cell", NONLINEAR, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("variant,reverse", [("deer", False), ("quasi", True), ("damped", False)])
def test_newton_equals_sequential(cell, variant, reverse):
    method = jaxrnn.Newton(variant=variant, tol=1e-6, max_iters=200, fallback=False)
    compare(cell, method, reverse=reverse, grad=variant != "quasi" or isinstance(cell, jaxrnn.GRUCell))


def test_newton_on_a_linear_cell_and_string_methods():
    compare(jaxrnn.MinGRUCell(H), "newton", reverse=False, grad=False)
    compare(jaxrnn.GRUCell(H), "sequential", reverse=True, grad=False)


def test_newton_reports_iterations_and_falls_back():
    cell = jaxrnn.ElmanCell(H)
    params = cell.init(jax.random.key(0), I)
    xs = jax.random.normal(jax.random.key(1), (T, I))
    want, _ = jaxrnn.scan(cell, params, xs)
    ys, _, info = jaxrnn.newton_scan(cell, params, xs)
    assert bool(info.converged) and 1 <= int(info.iterations) <= T and float(info.residual) <= 1e-5
    short = jaxrnn.Newton(variant="damped", max_iters=1)
    ys, _, info = jaxrnn.newton_scan(cell, params, xs, options=short)
    assert not bool(info.converged) and int(info.iterations) == 1
    assert rel_err(ys, want) < 1e-6  # the sequential fallback ran
    ys, _, info = jaxrnn.newton_scan(cell, params, xs, options=dataclasses.replace(short, fallback=False))
    assert rel_err(ys, want) > 1e-3  # without the fallback one damped step is far off


def test_parallel_methods_under_jit_and_vmap():
    xs = jax.random.normal(jax.random.key(1), (2, T, I))
    lengths = jnp.array([T, 5])
    for cell, method in [(jaxrnn.MinGRUCell(H), "associative"), (jaxrnn.GRUCell(H), "newton")]:
        params = cell.init(jax.random.key(0), I)

        def run(x, n, m, params=params, cell=cell):
            return jaxrnn.scan(cell, params, x, seq_length=n, method=m)

        want = jax.vmap(lambda x, n: run(x, n, "sequential"))(xs, lengths)
        got = jax.jit(jax.vmap(lambda x, n, method=method: run(x, n, method)))(xs, lengths)
        assert rel_err(got, want) < 1e-4


def test_resets_equal_separate_segments():
    cell = jaxrnn.GRUCell(H)
    params = cell.init(jax.random.key(0), I)
    xs = jax.random.normal(jax.random.key(1), (T, I))
    carry = random_carry(cell, jax.random.key(2))
    bounds = [0, 6, 13, T]
    for reverse in (False, True):
        ys, _ = jaxrnn.scan(cell, params, xs, carry, resets=RESETS, reverse=reverse)
        for lo, hi in itertools.pairwise(bounds):
            seg, _ = jaxrnn.scan(cell, params, xs[lo:hi], carry, reverse=reverse)
            np.testing.assert_allclose(ys[lo:hi], seg, rtol=1e-6, atol=1e-6)
    # the final carry is the last segment's (forward) or the first segment's (reverse)
    _, c = jaxrnn.scan(cell, params, xs, carry, resets=RESETS)
    np.testing.assert_allclose(c, jaxrnn.scan(cell, params, xs[13:], carry)[1], rtol=1e-6, atol=1e-6)


def numpy_loop(cell, params, xs):
    """The cell in numpy (float64): ``a_t`` and ``b_t`` of its recurrence
    ``h_t = a_t * h_{t-1} + b_t`` from its equations, run by the reference loop, then its readout."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    xs = np.asarray(xs, np.float64)
    if isinstance(cell, jaxrnn.MinGRUCell):
        z, ht = np.split(xs @ p["w_ih"].T + p["b_ih"], 2, axis=-1)
        return linear_loop(1 - sigmoid(z), sigmoid(z) * ht)
    if isinstance(cell, jaxrnn.MinLSTMCell):
        f, i, ht = np.split(xs @ p["w_ih"].T + p["b_ih"], 3, axis=-1)
        f, i = sigmoid(f), sigmoid(i)
        return linear_loop(f / (f + i), i / (f + i) * ht)
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    b = np.exp(p["gamma_log"]) * (xs @ (p["B_re"] + 1j * p["B_im"]).T)
    h = linear_loop(np.broadcast_to(lam, b.shape), b)
    return (h @ (p["C_re"] + 1j * p["C_im"]).T).real + p["D"] * xs


@pytest.mark.parametrize("cell", LINEAR, ids=lambda c: type(c).__name__)
def test_linear_cells_match_numpy_loop(cell):
    params = cell.init(jax.random.key(4), I)
    xs = jax.random.normal(jax.random.key(5), (T, I))
    ys, _ = jaxrnn.scan(cell, params, xs)
    np.testing.assert_allclose(ys, numpy_loop(cell, params, xs), rtol=1e-5, atol=1e-5)


def test_lru_init_follows_the_paper():
    cell = jaxrnn.LRUCell(64, output_size=I, r_min=0.4, r_max=0.9)
    p = cell.init(jax.random.key(0), I)
    mod = np.exp(-np.exp(np.asarray(p["nu_log"])))
    assert 0.4 <= mod.min() and mod.max() <= 0.9
    np.testing.assert_allclose(np.exp(p["gamma_log"]), np.sqrt(1 - mod**2), rtol=1e-5)


def test_linear_recurrence_vjp_matches_autodiff_of_a_loop():
    a = jax.random.uniform(jax.random.key(0), (37, 3), minval=0.5, maxval=1.0)
    b = jax.random.normal(jax.random.key(1), (37, 3))
    for chunk in (None, 5):  # under jit: eager op-by-op dispatch costs far more than a compile
        solve = jax.jit(lambda a, b, chunk=chunk: jaxrnn.linear_recurrence(a, b, chunk_size=chunk))
        f = lambda a, b, solve=solve: jnp.sum(jnp.cos(solve(a, b)))
        assert rel_err(solve(a, b), linear_loop(a, b)) < 1e-5
        assert rel_err(jax.jit(jax.grad(f, (0, 1)))(a, b),
                       jax.jit(jax.grad(lambda a, b: jnp.sum(jnp.cos(linear_loop(a, b))), (0, 1)))(a, b)) < 1e-4


@pytest.mark.parametrize("method", ["associative", "newton"])
def test_zero_steps_return_the_initial_carry(method):
    cell = jaxrnn.MinGRUCell(H)
    params = cell.init(jax.random.key(0), I)
    carry = jnp.ones(H)
    ys, c = jaxrnn.scan(cell, params, jnp.zeros((0, I)), carry, resets=np.zeros(0, bool), method=method)
    assert ys.shape == (0, H) and bool((c == carry).all())


def test_errors():
    elman = jaxrnn.ElmanCell(H)
    params = elman.init(jax.random.key(0), I)
    xs = jnp.ones((T, I))
    with pytest.raises(ValueError, match="method 'associative' needs a linear-recurrence cell.*ElmanCell.*'sequential' or 'newton'"):
        jaxrnn.scan(elman, params, xs, method="associative")
    with pytest.raises(ValueError, match="method must be one of 'sequential', 'associative', 'newton'.*got 'fast'"):
        jaxrnn.scan(elman, params, xs, method="fast")
    with pytest.raises(TypeError, match="resets must have a bool dtype, got int"):
        jaxrnn.scan(elman, params, xs, resets=np.zeros(T, int))
    with pytest.raises(ValueError, match=r"resets must have shape \(T,\) = \(19,\), got \(18,\)"):
        jaxrnn.scan(elman, params, xs, resets=np.zeros(T - 1, bool))
    with pytest.raises(TypeError, match="options must be a jaxrnn.Newton, got str"):
        jaxrnn.newton_scan(elman, params, xs, options="deer")
    lru = jaxrnn.LRUCell(5, output_size=I)
    with pytest.raises(ValueError, match="method 'newton' needs a real carry, got a complex64 carry from LRUCell"):
        jaxrnn.scan(lru, lru.init(jax.random.key(0), I), xs, method="newton")
    with pytest.raises(ValueError, match="input_size must equal output_size \\(3\\).*got 4"):
        lru.init(jax.random.key(0), 4)
    with pytest.raises(ValueError, match="r_min and r_max must satisfy"):
        jaxrnn.LRUCell(5, output_size=I, r_min=0.9, r_max=0.5)
    with pytest.raises(ValueError, match="max_phase must be > 0, got 0"):
        jaxrnn.LRUCell(5, output_size=I, max_phase=0)
    mingru = jaxrnn.MinGRUCell(H)
    with pytest.raises(ValueError, match=r"xs must have shape \(T, 3\), got \(19, 4\)"):
        mingru.linear_terms(mingru.init(jax.random.key(0), I), jnp.ones((T, 4)))
    with pytest.raises(ValueError, match=r"x must have shape \(input_size,\)"):
        mingru.apply(mingru.init(jax.random.key(0), I), jnp.zeros(H), jnp.ones((2, I)))
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        jaxrnn.MinLSTMCell(0)
    with pytest.raises(ValueError, match="variant must be one of 'deer', 'quasi', 'damped'; got 'elk'"):
        jaxrnn.Newton(variant="elk")
    with pytest.raises(ValueError, match="tol must be a finite number > 0, got 0"):
        jaxrnn.Newton(tol=0.0)
    with pytest.raises(ValueError, match="tol must be a finite number > 0, got inf"):
        jaxrnn.Newton(tol=float("inf"))
    with pytest.raises(TypeError, match="tol must be a float, got str"):
        jaxrnn.Newton(tol="small")
    with pytest.raises(ValueError, match="damping must be a finite number >= 0, got -1"):
        jaxrnn.Newton(damping=-1.0)
    with pytest.raises(ValueError, match="max_iters must be >= 1, got 0"):
        jaxrnn.Newton(max_iters=0)
    with pytest.raises(TypeError, match="fallback must be a bool"):
        jaxrnn.Newton(fallback=1)
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        jaxrnn.Associative(chunk_size=0)
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got a \(3, 2\) and b \(3, 1\)"):
        jaxrnn.linear_recurrence(jnp.ones((3, 2)), jnp.ones((3, 1)))
