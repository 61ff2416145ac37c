"""Recurrent cells: pure functions on ONE unbatched example.

The cell protocol (what :func:`jaxrnn.scan`, the combinators and the layers rely on). A cell is a
frozen, hashable dataclass of static configuration with

- ``hidden_size: int`` and ``output_size: int`` (the size of ``y``; ``proj_size`` or H),
- ``init(key, input_size, *, preset="torch", dtype=float32) -> params`` (a pytree of arrays),
- ``initial_carry(dtype=float32) -> carry`` (a pytree of zeros),
- ``apply(params, carry, x) -> (carry, y)`` with ``x: (I,)`` and ``y: (output_size,)``,
  in ``jax.lax.scan``'s ``(carry, x)`` order.

Any object with these members works everywhere a built-in cell does. Batching is ``jax.vmap``.

Parameters use torch's layout: weights are ``(out, in)`` and a step computes
``W_ih @ x + b_ih + W_hh @ h + b_hh``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxrnn import _checks
from jaxrnn.initializers import init_params

Array = jax.Array


class Cell(Protocol):
    """The cell protocol; see the module docstring."""

    hidden_size: int

    @property
    def output_size(self) -> int: ...

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> Any: ...

    def initial_carry(self, dtype=jnp.float32) -> Any: ...

    def apply(self, params, carry, x) -> tuple[Any, Array]: ...


class LSTMState(NamedTuple):
    """The LSTM carry: ``h: (P or H,)``, ``c: (H,)`` (never ``(c, h)``)."""

    h: Array
    c: Array


def _bias_spec(n_gates: int, hidden: int, bias: bool, double_bias: bool, b_hn: bool = False) -> dict:
    """Bias entries of a param spec: ``b_ih`` and ``b_hh``, or ``b_ih`` (+ ``b_hn``), or none."""
    if not bias:
        return {}
    spec = {"b_ih": ((n_gates * hidden,), "bias")}
    if double_bias:
        spec["b_hh"] = ((n_gates * hidden,), "bias")
    elif b_hn:
        spec["b_hn"] = ((hidden,), "bias")
    return spec


def _check_common(cell) -> None:
    _checks.positive_int("hidden_size", cell.hidden_size)
    _checks.boolean("bias", cell.bias)
    _checks.boolean("double_bias", cell.double_bias)


def _check_x(params, x, n_gates: int, hidden: int) -> None:
    """Checks one step's input ``x: (I,)`` against ``params['w_ih']: (n_gates*H, I)``."""
    w_ih = params["w_ih"]
    if w_ih.ndim != 2 or w_ih.shape[0] != n_gates * hidden:
        raise ValueError(
            f"params['w_ih'] must have shape ({n_gates * hidden}, input_size), got {tuple(w_ih.shape)}"
        )
    if x.ndim != 1 or x.shape[0] != w_ih.shape[1]:
        raise ValueError(f"x must have shape ({w_ih.shape[1]},) (one unbatched step), got {tuple(x.shape)}")


class _ArrayCarry:
    """``output_size`` and ``initial_carry`` of cells whose carry is one ``(H,)`` array."""

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_carry(self, dtype=jnp.float32) -> Array:
        """Returns zeros of shape ``(H,)``."""
        return jnp.zeros((self.hidden_size,), dtype)


def _affine(w: Array, b, v: Array) -> Array:
    """``w @ v + b``, or ``w @ v`` when the bias ``b`` is absent (``None``)."""
    out = w @ v
    return out if b is None else out + b


def _gates(params, x, h) -> tuple[Array, Array]:
    """``(W_ih @ x + b_ih, W_hh @ h + b_hh)`` with absent biases skipped."""
    return (_affine(params["w_ih"], params.get("b_ih"), x),
            _affine(params["w_hh"], params.get("b_hh"), h))


@dataclasses.dataclass(frozen=True)
class ElmanCell(_ArrayCarry):
    """Elman (vanilla) RNN cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; ``y = h'``.

    Args:
      hidden_size: H.
      nonlinearity: ``"tanh"`` or ``"relu"``.
      bias: whether the cell has biases at all.
      double_bias: ``True`` keeps torch's ``b_ih`` and ``b_hh``; ``False`` keeps one ``b_ih``
        (Keras ``SimpleRNN``, and the seed's ``h_t = tanh(Wx x_t + Wh h_{t-1} + b)``).

    Params: ``w_ih: (H, I)``, ``w_hh: (H, H)``, ``b_ih: (H,)``, ``b_hh: (H,)``. Carry: ``(H,)``.

    Examples:
      >>> cell = ElmanCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> carry, y = cell.apply(params, cell.initial_carry(), jnp.ones(5))
      >>> y.shape
      (8,)
    """

    hidden_size: int
    nonlinearity: str = "tanh"
    bias: bool = True
    double_bias: bool = True

    def __post_init__(self):
        _check_common(self)
        _checks.one_of("nonlinearity", self.nonlinearity, ("tanh", "relu"))

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns ``{"w_ih": (H, I), "w_hh": (H, H)[, "b_ih": (H,)[, "b_hh": (H,)]]}``."""
        input_size = _checks.positive_int("input_size", input_size)
        h = self.hidden_size
        spec = {"w_ih": ((h, input_size), "input"), "w_hh": ((h, h), "recurrent")}
        spec.update(_bias_spec(1, h, self.bias, self.double_bias))
        return init_params(key, spec, h, preset, dtype)

    def apply(self, params, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step: ``carry: (H,)``, ``x: (I,)`` -> ``(carry', y)``, both ``(H,)``."""
        _check_x(params, x, 1, self.hidden_size)
        gi, gh = _gates(params, x, carry)
        act = jnp.tanh if self.nonlinearity == "tanh" else jax.nn.relu
        h = act(gi + gh)
        return h, h


@dataclasses.dataclass(frozen=True)
class LSTMCell:
    """LSTM cell with torch's gate order i, f, g, o and optional projection.

    ``gates = W_ih x + b_ih + W_hh h + b_hh`` split into ``i, f, g, o``;
    ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``; ``h' = sigmoid(o) * tanh(c')``;
    with ``proj_size=P > 0``: ``h' = W_hr (sigmoid(o) * tanh(c'))``. ``y = h'``.

    Args:
      hidden_size: H.
      proj_size: P; 0 disables the projection, else ``0 < P < H``.
      bias: whether the cell has biases.
      double_bias: ``False`` keeps one bias ``b_ih`` (Keras layout).
      forget_bias: added to the forget-gate block of ``b_ih`` at init (not in the forward pass,
        so parameters alone define the function). The ``"keras"`` preset starts that block at 1.

    Params: ``w_ih: (4H, I)``, ``w_hh: (4H, P or H)``, ``b_ih: (4H,)``, ``b_hh: (4H,)``,
    ``w_hr: (P, H)``. Carry: ``LSTMState(h=(P or H,), c=(H,))``.

    Examples:
      >>> cell = LSTMCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> carry, y = cell.apply(params, cell.initial_carry(), jnp.ones(5))
      >>> carry.c.shape, y.shape
      ((8,), (8,))
    """

    hidden_size: int
    proj_size: int = 0
    bias: bool = True
    double_bias: bool = True
    forget_bias: float = 0.0

    def __post_init__(self):
        _check_common(self)
        _checks.non_negative_int("proj_size", self.proj_size)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({self.hidden_size}), got {self.proj_size}"
            )
        if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)):
            raise TypeError(f"forget_bias must be a float, got {type(self.forget_bias).__name__}")
        if self.forget_bias != 0.0 and not self.bias:
            raise ValueError(f"forget_bias needs bias=True, got forget_bias={self.forget_bias} with bias=False")

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns torch-layout params (see the class docstring)."""
        input_size = _checks.positive_int("input_size", input_size)
        h, out = self.hidden_size, self.output_size
        spec = {"w_ih": ((4 * h, input_size), "input"), "w_hh": ((4 * h, out), "recurrent")}
        spec.update(_bias_spec(4, h, self.bias, self.double_bias))
        if self.proj_size:
            spec["w_hr"] = ((self.proj_size, h), "projection")
        params = init_params(key, spec, h, preset, dtype)
        if self.bias:
            forget = self.forget_bias + (1.0 if preset == "keras" else 0.0)
            params["b_ih"] = params["b_ih"].at[h : 2 * h].add(forget)
        return params

    def initial_carry(self, dtype=jnp.float32) -> LSTMState:
        """Returns ``LSTMState(h=zeros(P or H), c=zeros(H))``."""
        return LSTMState(jnp.zeros((self.output_size,), dtype), jnp.zeros((self.hidden_size,), dtype))

    def apply(self, params, carry: LSTMState, x: Array) -> tuple[LSTMState, Array]:
        """One step: ``x: (I,)`` -> ``(LSTMState(h', c'), y=h')``."""
        _check_x(params, x, 4, self.hidden_size)
        h_prev, c_prev = carry
        gi, gh = _gates(params, x, h_prev)
        i, f, g, o = jnp.split(gi + gh, 4)
        c = jax.nn.sigmoid(f) * c_prev + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if self.proj_size:
            h = params["w_hr"] @ h
        return LSTMState(h, c), h


@dataclasses.dataclass(frozen=True)
class GRUCell(_ArrayCarry):
    """GRU cell with torch's gate order r, z, n.

    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)``,
    ``reset_after=True`` (torch, Keras default): ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``;
    ``reset_after=False`` (Cho et al., Keras v1): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``;
    ``h' = (1 - z) * n + z * h``; ``y = h'``.

    Args:
      hidden_size: H.
      reset_after: where the reset gate is applied (see above).
      bias: whether the cell has biases.
      double_bias: ``False`` keeps one ``b_ih: (3H,)``; with ``reset_after=True`` an ``(H,)``
        ``b_hn`` stays too, because r multiplies it.

    Params: ``w_ih: (3H, I)``, ``w_hh: (3H, H)``, ``b_ih: (3H,)``, ``b_hh: (3H,)`` or ``b_hn: (H,)``.
    Carry: ``(H,)``.

    Examples:
      >>> cell = GRUCell(hidden_size=8)
      >>> params = cell.init(jax.random.key(0), input_size=5)
      >>> carry, y = cell.apply(params, cell.initial_carry(), jnp.ones(5))
      >>> y.shape
      (8,)
    """

    hidden_size: int
    reset_after: bool = True
    bias: bool = True
    double_bias: bool = True

    def __post_init__(self):
        _check_common(self)
        _checks.boolean("reset_after", self.reset_after)

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns torch-layout params (see the class docstring)."""
        input_size = _checks.positive_int("input_size", input_size)
        h = self.hidden_size
        spec = {"w_ih": ((3 * h, input_size), "input"), "w_hh": ((3 * h, h), "recurrent")}
        spec.update(_bias_spec(3, h, self.bias, self.double_bias, b_hn=self.reset_after))
        return init_params(key, spec, h, preset, dtype)

    def apply(self, params, carry: Array, x: Array) -> tuple[Array, Array]:
        """One step: ``carry: (H,)``, ``x: (I,)`` -> ``(carry', y)``, both ``(H,)``."""
        _check_x(params, x, 3, self.hidden_size)
        h = self.hidden_size
        gi = _affine(params["w_ih"], params.get("b_ih"), x)
        w_hh, b_hh = params["w_hh"], params.get("b_hh")
        if self.reset_after:
            if b_hh is None and "b_hn" in params:
                b_hh = jnp.concatenate([jnp.zeros(2 * h, w_hh.dtype), params["b_hn"]])
            gh = _affine(w_hh, b_hh, carry)
            r = jax.nn.sigmoid(gi[:h] + gh[:h])
            z = jax.nn.sigmoid(gi[h : 2 * h] + gh[h : 2 * h])
            n = jnp.tanh(gi[2 * h :] + r * gh[2 * h :])
        else:
            gh = _affine(w_hh[: 2 * h], None if b_hh is None else b_hh[: 2 * h], carry)
            r = jax.nn.sigmoid(gi[:h] + gh[:h])
            z = jax.nn.sigmoid(gi[h : 2 * h] + gh[h:])
            hn = _affine(w_hh[2 * h :], None if b_hh is None else b_hh[2 * h :], r * carry)
            n = jnp.tanh(gi[2 * h :] + hn)
        h_new = (1.0 - z) * n + z * carry
        return h_new, h_new
