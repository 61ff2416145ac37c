"""A pure training step built from a loss and any optax optimizer.

The caller owns the loop and jits the step (donating the buffers it replaces):

    step = jax.jit(make_step(loss_fn, optax.adam(1e-3), clip_norm=1.0), donate_argnums=(0, 1))

Truncated backpropagation through time (BPTT), :func:`make_bptt_step`: a long sequence is cut into
chunks; the recurrent state (``carry``) flows from one chunk to the next as a value, but gradients
stop at the chunk boundary (``jax.lax.stop_gradient``), and rows whose sequence ended are reset to
zeros. Both steps share one update (clipping, optimizer, metrics).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def reset_carry(carry, reset, *, axis: int = 1):
    """Zeros the rows of ``carry`` where ``reset`` is True and stops its gradient.

    Args:
      carry: a pytree of arrays whose batch axis is ``axis`` (torch-shaped ``h_n: (L*D, B, H)``
        and ``c_n`` have it at 1, the default).
      reset: ``(B,)`` bools, True where a new sequence starts; ``None`` keeps every row.
      axis: the batch axis of every leaf of ``carry``.

    Returns:
      ``carry`` with reset rows zeroed, wrapped in ``jax.lax.stop_gradient``.

    Examples:
      >>> h = jnp.ones((1, 3, 2))
      >>> reset_carry(h, jnp.array([False, True, False]))[0, :, 0]
      Array([1., 0., 1.], dtype=float32)
    """

    def one(leaf):
        if reset is None:
            return leaf
        if reset.shape != (leaf.shape[axis],):
            raise ValueError(f"reset must have shape ({leaf.shape[axis]},) (one flag per batch "
                             f"row), got {tuple(reset.shape)}")
        shape = [1] * leaf.ndim
        shape[axis] = leaf.shape[axis]
        return jnp.where(reset.reshape(shape), jnp.zeros_like(leaf), leaf)

    return jax.lax.stop_gradient(jax.tree.map(one, carry))


def make_step(loss_fn: Callable, optimizer: optax.GradientTransformation, *,
              clip_norm: float | None = None) -> Callable:
    """Returns a pure train step for ``loss_fn(params, batch) -> loss`` and ``optimizer``.

    The step is ``step(params, opt_state, batch) -> (params, opt_state, metrics)``, where
    ``metrics`` is ``{"loss": (), "grad_norm": (), "finite": ()}``: the loss, the global gradient
    norm before clipping (``optax.tree_utils.tree_norm``), and whether the loss, that norm and every updated
    parameter are finite (a caller keeps params only while ``finite`` holds). With ``clip_norm``,
    gradients are rescaled by ``optax.clip_by_global_norm(clip_norm)`` before ``optimizer`` sees
    them, so ``opt_state = optimizer.init(params)`` either way. For truncated BPTT, where the loss
    also takes and returns the recurrent state, see :func:`make_bptt_step`.

    Args:
      loss_fn: ``loss_fn(params, batch) -> loss`` (a scalar), differentiable in ``params``.
      optimizer: any optax ``GradientTransformation``.
      clip_norm: maximum global gradient norm, or ``None`` for no clipping.

    Examples:
      >>> loss_fn = lambda p, b: jnp.mean((b["x"] * p["w"] - b["y"]) ** 2)
      >>> opt = optax.sgd(0.1)
      >>> step = jax.jit(make_step(loss_fn, opt, clip_norm=1.0))
      >>> params = {"w": jnp.zeros(())}
      >>> batch = {"x": jnp.ones(4), "y": 2 * jnp.ones(4)}
      >>> params, opt_state, metrics = step(params, opt.init(params), batch)
      >>> float(metrics["loss"]), round(float(params["w"]), 6)  # gradient -4 clipped to norm 1
      (4.0, 0.1)
    """
    update = _update_fn(optimizer, clip_norm)

    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        return update(params, opt_state, loss, grads)

    return step


def make_bptt_step(loss_fn: Callable, optimizer: optax.GradientTransformation, *,
                   clip_norm: float | None = None) -> Callable:
    """Returns a pure truncated-BPTT train step for ``loss_fn(params, batch, carry) -> (loss, new_carry)``.

    The step is ``step(params, opt_state, batch, carry, reset=None) -> (params, opt_state, metrics,
    new_carry)``: ``carry`` enters with its ``reset`` rows zeroed and its gradient stopped (see
    :func:`reset_carry`), and ``new_carry`` leaves with its gradient stopped, ready for the next
    chunk. ``metrics``, ``optimizer`` and ``clip_norm`` are as in :func:`make_step`.

    Args:
      loss_fn: ``loss_fn(params, batch, carry) -> (loss, new_carry)``, differentiable in ``params``;
        ``carry`` is a pytree whose batch axis is 1 (torch-shaped ``h_n: (L*D, B, H)``).
      optimizer: any optax ``GradientTransformation``.
      clip_norm: maximum global gradient norm, or ``None`` for no clipping.

    Examples:
      >>> def loss_fn(p, x, h):  # h: (1, B, 1), a running sum scaled by w
      ...     h = h + p["w"] * x.sum(axis=-1)[None, :, None]
      ...     return jnp.mean((h - 1.0) ** 2), h
      >>> opt = optax.sgd(0.1)
      >>> step = jax.jit(make_bptt_step(loss_fn, opt))
      >>> params, h = {"w": jnp.zeros(())}, jnp.zeros((1, 2, 1))
      >>> params, opt_state, metrics, h = step(params, opt.init(params), jnp.ones((2, 3)), h)
      >>> float(metrics["loss"]), round(float(params["w"]), 6), h.shape
      (1.0, 0.6, (1, 2, 1))
    """
    update = _update_fn(optimizer, clip_norm)

    def step(params, opt_state, batch, carry, reset=None):
        carry = reset_carry(carry, reset)
        (loss, new_carry), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, carry)
        params, opt_state, metrics = update(params, opt_state, loss, grads)
        return params, opt_state, metrics, jax.lax.stop_gradient(new_carry)

    return step


def _update_fn(optimizer: optax.GradientTransformation, clip_norm: float | None) -> Callable:
    """The update of both steps: ``(params, opt_state, loss, grads) -> (params, opt_state,
    metrics)`` (the global norm, clipping, ``optimizer`` and the finiteness check)."""
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got "
                        f"{type(optimizer).__name__}")
    clip = None
    if clip_norm is not None:
        if isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float)) or not clip_norm > 0:
            raise ValueError(f"clip_norm must be a positive number or None, got {clip_norm!r}")  # NaN too
        clip = optax.clip_by_global_norm(float(clip_norm))

    def update(params, opt_state, loss, grads):
        norm = optax.tree_utils.tree_norm(grads)
        if clip is not None:
            grads, _ = clip.update(grads, clip.init(params))
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        finite = jnp.isfinite(loss) & jnp.isfinite(norm)
        for leaf in jax.tree.leaves(params):
            finite &= jnp.all(jnp.isfinite(leaf))
        return params, opt_state, {"loss": loss, "grad_norm": norm, "finite": finite}

    return update


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy in nats; ``logits: (..., V)``, ``labels: (...)`` ints.

    Args:
      logits: ``(..., V)`` unnormalised log-probabilities.
      labels: ``(...)`` ints in ``[0, V)``.

    Examples:
      >>> round(float(cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))), 4)  # ln 4
      1.3863
    """
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

