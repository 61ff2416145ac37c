"""Batched, time-major fast path for stacks of the built-in cells.

This is what :class:`jaxrnn.RNN`, :class:`jaxrnn.LSTM` and :class:`jaxrnn.GRU` run. It computes
exactly what ``jax.vmap`` of :meth:`jaxrnn.Stack.apply` computes (same masking, reverse from each
row's last valid step, initial state, dropout masks), but on the whole batch at once:

- each step does ``x_t @ W_ih^T + h @ W_hh^T`` (two GEMMs; on a quiet CPU this measured faster
  than one GEMM over ``[x_t, h]`` and than hoisting ``x @ W_ih^T`` out of the loop, see
  benchmarks/RESULTS.md); the backward step does one GEMM ``dg_t @ [W_ih, W_hh]`` for ``dx_t``
  and ``dh``;
- the recurrence has a custom VJP (as cuDNN does) for Elman, LSTM without projection and GRU with
  ``reset_after=True``: the backward loop only propagates ``dh`` (and ``dc``) and ``dx``; the weight
  gradients ``sum_t dg_t^T [x_t, h_{t-1}]`` are ONE GEMM over all steps after the loop. The other
  variants (``proj_size``, ``reset_after=False``) use JAX autodiff of the same batched loop;
- layers 2..L of equal shape run as one ``lax.scan`` over layers, so compile time does not grow
  with depth (nor with T: nothing is unrolled).

Shape letters: T time, B batch, I input, H hidden, k gates (1 Elman, 4 LSTM, 3 GRU).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell, LSTMState
from jaxrnn.combinators import Bidirectional, Recurrent, Stack

_CELLS = (ElmanCell, LSTMCell, GRUCell)
_MERGE = {"concat": lambda a, b: jnp.concatenate([a, b], axis=-1), "sum": jnp.add,
          "mul": jnp.multiply, "ave": lambda a, b: (a + b) / 2}


def supports(net) -> bool:
    """True if ``net`` is a :class:`Stack` of ``Recurrent``/``Bidirectional`` over built-in cells.

    Examples:
      >>> supports(Stack((Recurrent(LSTMCell(8)),)))
      True
    """
    return isinstance(net, Stack) and all(
        type(layer) in (Recurrent, Bidirectional) and type(layer.cell) in _CELLS
        and (type(layer) is Recurrent or layer.merge in _MERGE)
        for layer in net.layers)


def has_custom_vjp(cell) -> bool:
    """True if ``cell``'s recurrence is ``h @ W_hh^T + b`` then pointwise math (custom VJP path)."""
    if isinstance(cell, LSTMCell):
        return cell.proj_size == 0
    return not isinstance(cell, GRUCell) or cell.reset_after


# -- per-cell batched pieces ---------------------------------------------------------------------

def _split_params(cell, params):
    """Returns ``(w_ih, b_in, w_hh, b_rec)``: ``b_in`` goes into ``gi``, ``b_rec`` into ``gh``."""
    b_ih, b_hh = params.get("b_ih"), params.get("b_hh")
    if isinstance(cell, GRUCell):
        if b_hh is None and "b_hn" in params:
            h = cell.hidden_size
            b_hh = jnp.concatenate([jnp.zeros((2 * h,), params["b_hn"].dtype), params["b_hn"]])
        return params["w_ih"], b_ih, params["w_hh"], b_hh
    if b_ih is not None and b_hh is not None:
        b_ih = b_ih + b_hh
    return params["w_ih"], b_ih, params["w_hh"], None


def _rec_input(state):
    """The part of the state that multiplies ``W_hh``: ``h``."""
    return state.h if isinstance(state, LSTMState) else state


def _with_rec_input(state, h):
    return LSTMState(h, state.c) if isinstance(state, LSTMState) else h


def _pointwise(cell, gi, gh, state):
    """Gate math after the GEMMs: ``gi, gh: (B, kH)`` (``gh`` None: already in ``gi``) -> (state', y)."""
    if isinstance(cell, ElmanCell):
        h = (jnp.tanh if cell.nonlinearity == "tanh" else jax.nn.relu)(gi if gh is None else gi + gh)
        return h, h
    if isinstance(cell, LSTMCell):
        i, f, g, o = jnp.split(gi if gh is None else gi + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return LSTMState(h, c), h
    hs = cell.hidden_size
    r = jax.nn.sigmoid(gi[:, :hs] + gh[:, :hs])
    z = jax.nn.sigmoid(gi[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = jnp.tanh(gi[:, 2 * hs:] + r * gh[:, 2 * hs:])
    h = (1.0 - z) * n + z * state
    return h, h


def _step(cell, p, state, x_t):
    """One batched step of any built-in cell (projection and ``reset_after=False`` too).

    ``p`` holds ``w_ih, b_in, w_hh, b_rec, w_hr`` (biases and ``w_hr`` may be None).
    """
    gi = x_t @ p["w_ih"].T
    if p["b_in"] is not None:
        gi = gi + p["b_in"]
    h_in, w_hh, b_rec = _rec_input(state), p["w_hh"], p["b_rec"]
    if isinstance(cell, GRUCell) and not cell.reset_after:
        hs = cell.hidden_size
        gh = h_in @ w_hh[: 2 * hs].T + (0.0 if b_rec is None else b_rec[: 2 * hs])
        r = jax.nn.sigmoid(gi[:, :hs] + gh[:, :hs])
        z = jax.nn.sigmoid(gi[:, hs:2 * hs] + gh[:, hs:])
        hn = (r * h_in) @ w_hh[2 * hs:].T + (0.0 if b_rec is None else b_rec[2 * hs:])
        h = (1.0 - z) * jnp.tanh(gi[:, 2 * hs:] + hn) + z * h_in
        return h, h
    gh = h_in @ w_hh.T
    if b_rec is not None:
        gh = gh + b_rec
    new, y = _pointwise(cell, gi, gh, state)
    if p["w_hr"] is not None:
        y = y @ p["w_hr"].T
        new = LSTMState(y, new.c)
    return new, y


def _masked(new, y, old, valid):
    """Keeps ``old`` and zeroes ``y`` on rows where ``valid: (B,)`` is False (``None``: all valid)."""
    if valid is None:
        return new, y
    new = jax.tree.map(lambda n, o: jnp.where(valid[:, None], n, o), new, old)
    return new, jnp.where(valid[:, None], y, jnp.zeros_like(y))


# -- one direction of one layer ------------------------------------------------------------------

def _scan_autodiff(cell, p, x, state0, valid, reverse, unroll):
    """The recurrence differentiated by JAX: ``x: (T, B, I)`` -> ``(ys: (T, B, H_out), final)``."""
    def body(state, inp):
        x_t, v_t = inp
        return _masked(*_step(cell, p, state, x_t), state, v_t)

    final, ys = jax.lax.scan(body, state0, (x, valid), reverse=reverse, unroll=unroll)
    return ys, final


def _additive(cell) -> bool:
    """True if the input and recurrent gates only enter as their sum (Elman, LSTM)."""
    return not isinstance(cell, GRUCell)


def _bias(b, like):
    return jnp.zeros(like.shape[-1:], like.dtype) if b is None else b


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _scan_vjp(cell, reverse, unroll, w_ih, b_in, w_hh, b_rec, x, state0, valid):
    """Same as :func:`_scan_autodiff` (no projection) with a cuDNN-style backward pass.

    Residuals are the pre-activations and the states; the backward loop recomputes the pointwise
    gate math with ``jax.vjp`` and leaves the weight gradients to one GEMM after the loop.
    """
    return _scan_fwd(cell, reverse, unroll, w_ih, b_in, w_hh, b_rec, x, state0, valid)[0]


def _scan_fwd(cell, reverse, unroll, w_ih, b_in, w_hh, b_rec, x, state0, valid):
    additive = _additive(cell)
    w_ih_t, w_hh_t = w_ih.T, w_hh.T
    b_x = _bias(b_in, w_ih_t)

    def body(state, inp):
        x_t, v_t = inp
        h_in = _rec_input(state)
        if additive:
            gi, gh = x_t @ w_ih_t + h_in @ w_hh_t + b_x, None
        else:
            gi, gh = x_t @ w_ih_t + b_x, h_in @ w_hh_t + _bias(b_rec, w_hh_t)
        new, y = _masked(*_pointwise(cell, gi, gh, state), state, v_t)
        return new, (y, state, gi, gh)

    final, (ys, states, gis, ghs) = jax.lax.scan(body, state0, (x, valid), reverse=reverse,
                                                 unroll=unroll)
    return (ys, final), (w_ih, b_in, w_hh, b_rec, x, valid, states, gis, ghs)


def _scan_bwd(cell, reverse, unroll, res, cts):
    w_ih, b_in, w_hh, b_rec, x, valid, states, gis, ghs = res
    d_ys, d_final = cts
    additive, n_in = _additive(cell), w_ih.shape[1]
    w_cat = jnp.concatenate([w_ih, w_hh], axis=1) if additive else None

    def body(d_state, inp):
        gi_t, gh_t, s_t, v_t, dy_t = inp
        _, vjp = jax.vjp(lambda a, b, s: _masked(*_pointwise(cell, a, b, s), s, v_t), gi_t, gh_t, s_t)
        d_gi, d_gh, d_s = vjp((d_state, dy_t))
        if additive:
            d_xh = d_gi @ w_cat
            d_x, d_h = d_xh[:, :n_in], d_xh[:, n_in:]
        else:
            d_x, d_h = d_gi @ w_ih, d_gh @ w_hh
        d_s = _with_rec_input(d_s, _rec_input(d_s) + d_h)
        return d_s, (d_x, d_gi, d_gh)

    d_state0, (d_x, d_gi, d_gh) = jax.lax.scan(body, d_final, (gis, ghs, states, valid, d_ys),
                                               reverse=not reverse, unroll=unroll)
    h_prev = _rec_input(states)
    if additive:
        d_w = _sum_outer(d_gi, jnp.concatenate([x, h_prev], axis=-1))
        d_w_ih, d_w_hh, d_gh = d_w[:, :n_in], d_w[:, n_in:], d_gi
    else:
        d_w_ih, d_w_hh = _sum_outer(d_gi, x), _sum_outer(d_gh, h_prev)
    d_b_rec = None if b_rec is None else d_gh.sum(axis=(0, 1))
    d_b_in = None if b_in is None else d_gi.sum(axis=(0, 1))
    return d_w_ih, d_b_in, d_w_hh, d_b_rec, d_x, d_state0, None


def _sum_outer(a, b):
    """``sum_t a_t^T b_t`` as one GEMM: ``a: (T, B, K)``, ``b: (T, B, N)`` -> ``(K, N)``."""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


_scan_vjp.defvjp(_scan_fwd, _scan_bwd)


def _direction(cell, params, x, state0, valid, reverse, unroll):
    """Runs one cell over ``x: (T, B, I)``: returns ``(ys: (T, B, H_out), final state)``."""
    w_ih, b_in, w_hh, b_rec = _split_params(cell, params)
    if has_custom_vjp(cell):
        return _scan_vjp(cell, reverse, unroll, w_ih, b_in, w_hh, b_rec, x, state0, valid)
    p = {"w_ih": w_ih, "b_in": b_in, "w_hh": w_hh, "b_rec": b_rec, "w_hr": params.get("w_hr")}
    return _scan_autodiff(cell, p, x, state0, valid, reverse, unroll)


def _zeros_state(cell, batch, dtype):
    return jax.tree.map(lambda z: jnp.zeros((batch,) + z.shape, dtype), cell.initial_carry(dtype))


def _layer(layer, params, x, carry, valid):
    """Applies one ``Recurrent``/``Bidirectional`` layer to ``x: (T, B, I)`` from ``carry``."""
    cell = layer.cell
    if isinstance(layer, Recurrent):
        return _direction(cell, params, x, carry, valid, layer.reverse, layer.unroll)
    c_f, c_b = carry
    y_f, c_f = _direction(cell, params["fwd"], x, c_f, valid, False, layer.unroll)
    y_b, c_b = _direction(cell, params["bwd"], x, c_b, valid, True, layer.unroll)
    return _MERGE[layer.merge](y_f, y_b), (c_f, c_b)


def _dropout_keep(row_keys, layer_index, n_layers, rate, shape):
    """The keep masks ``(T, B, F)`` that per-row :meth:`Stack.apply` draws for one layer."""
    def one(k):
        return jax.random.bernoulli(jax.random.split(k, (n_layers, 2))[layer_index, 1], 1.0 - rate,
                                    (shape[0], shape[2]))

    return jnp.swapaxes(jax.vmap(one)(row_keys), 0, 1)


def apply_stack(net, params, x, carry=None, lengths=None, row_keys=None):
    """Batched, time-major equivalent of ``jax.vmap(net.apply)`` for a supported :class:`Stack`.

    Args:
      net: a :class:`Stack` for which :func:`supports` is True.
      params: ``net``'s params (a list over layers).
      x: ``(T, B, I)``.
      carry: per-layer carries whose leaves have a leading ``B`` axis; ``None`` is zeros.
      lengths: ``(B,)`` ints in ``[0, T]`` or ``None`` (all rows have T steps).
      row_keys: ``(B,)`` PRNG keys, one per row (as vmapped ``Stack.apply`` gets), enabling
        dropout between layers; ``None`` disables it.

    Returns:
      ``(ys: (T, B, net.output_size), per-layer final carries with leading B axes)``.

    Examples:
      >>> net = Stack((Bidirectional(GRUCell(8)),))
      >>> params = net.init(jax.random.key(0), 5)
      >>> ys, finals = apply_stack(net, params, jnp.ones((10, 3, 5)), lengths=jnp.array([10, 4, 0]))
      >>> ys.shape, finals[0][1].shape
      ((10, 3, 16), (3, 8))
    """
    steps, n = x.shape[0], len(net.layers)
    valid = None if lengths is None else jnp.arange(steps)[:, None] < lengths[None, :]
    carry = (None,) * n if carry is None else carry
    carry = tuple(_full_carry(layer, c, x.shape[1], x.dtype) for layer, c in zip(net.layers, carry))
    rate = net.dropout if row_keys is not None else 0.0

    def one(x, layer, p, c, i):
        x, c = _layer(layer, p, x, c, valid)
        if rate > 0:
            keep = _dropout_keep(row_keys, i, n, rate, x.shape)
            x = jnp.where(keep & (i < n - 1), x / (1.0 - rate), jnp.where(i < n - 1, 0.0, x))
        return x, c

    x, first = one(x, net.layers[0], params[0], carry[0], 0)
    if n == 1:
        return x, (first,)
    if _scannable(net.layers[1:], params[1:]):  # one loop body for layers 1..n-1: flat compile time
        def body(x, inp):
            p, c, i = inp
            return one(x, net.layers[1], p, c, i)

        x, rest = jax.lax.scan(body, x, (_stack(params[1:]), _stack(carry[1:]), jnp.arange(1, n)))
        return x, (first,) + tuple(jax.tree.map(lambda a, k=k: a[k], rest) for k in range(n - 1))
    finals = [first]
    for i in range(1, n):
        x, c = one(x, net.layers[i], params[i], carry[i], i)
        finals.append(c)
    return x, tuple(finals)


def _full_carry(layer, c, batch, dtype):
    """The layer's carry with ``None`` replaced by zeros."""
    if isinstance(layer, Recurrent):
        return _zeros_state(layer.cell, batch, dtype) if c is None else c
    c_f, c_b = (None, None) if c is None else c
    return tuple(_zeros_state(layer.cell, batch, dtype) if v is None else v for v in (c_f, c_b))


def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _scannable(layers, params) -> bool:
    """True if all ``layers`` are equal and their params have equal structure and shapes."""
    shapes = [jax.tree.map(lambda a: (a.shape, a.dtype), p) for p in params]
    return len(set(layers)) == 1 and all(s == shapes[0] for s in shapes)
