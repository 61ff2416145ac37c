"""Recurrent cells: the math of one step, stated once.

The cell protocol (what :func:`jaxrnn.scan`, the combinators and the layers rely on). A cell is a
frozen, hashable dataclass of static configuration with

- ``hidden_size: int`` and ``output_size: int`` (the size of ``y``; ``proj_size`` or H),
- ``init(key, input_size, *, preset="torch", dtype=float32) -> params`` (a pytree of arrays),
- ``initial_carry(dtype=float32) -> carry`` (a pytree of zeros),
- ``apply(params, carry, x) -> (carry, y)`` with ``x: (I,)`` and ``y: (output_size,)``,
  in ``jax.lax.scan``'s ``(carry, x)`` order.

Any object with these members works everywhere a built-in cell does. Batching is ``jax.vmap``.

The built-in cells (:class:`ElmanCell`, :class:`LSTMCell`, :class:`GRUCell`) are batch-agnostic
(``x: (..., I)``, carries ``(..., H)``) and state their math as the pieces every engine calls:

- ``weights(params, policy) -> w``: the params in the form the pieces read (biases folded, matrices in
  the compute dtype, biases in the state dtype; see :mod:`jaxrnn.precision`);
- ``input_projection(w, x) -> gi``: ``x @ W_ih^T + b_in`` as a tuple of k gate blocks, each
  ``(..., H)`` (one GEMM, then split);
- ``recurrent_projection(w, h) -> gh``: ``h @ W_hh^T + b_rec`` with ``h = recurrent_input(carry)``,
  likewise a tuple of gate blocks;
- ``pointwise(w, gi, gh, carry) -> (carry', y)``: everything after the two GEMMs (it may read the
  other entries of ``w``, e.g. the LSTM projection), in the state dtype.

``apply`` is exactly ``pointwise(w, input_projection(w, x), recurrent_projection(w, h), carry)`` with
``y`` cast to the compute dtype.
``additive`` is True when ``pointwise`` reads each gate only through ``gi[j] + gh[j]``. Gates travel
as separate blocks so that an engine can keep each block contiguous in memory over time.

Parameters use torch's layout: weights are ``(out, in)`` and a step computes
``W_ih @ x + b_ih + W_hh @ h + b_hh``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxrnn import _checks, precision
from jaxrnn.cells.initializers import init_params
from jaxrnn.precision import matmul_t

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
    """The LSTM carry, in this order (never ``(c, h)``).

    Attributes:
      h: ``(..., P or H)``, the hidden state (the output of the step).
      c: ``(..., H)``, the cell state.
    """

    h: Array
    c: Array


def _add(a, b):
    """``a + b`` where either may be absent (``None``)."""
    if a is None or b is None:
        return b if a is None else a
    return a + b


class _GatedCell:
    """What the built-in cells share; subclasses define the fields, ``gates``, ``_spec`` extras,
    ``_fold`` and ``pointwise``."""

    gates: ClassVar[int]
    additive: ClassVar[bool]
    hidden_size: int  # the fields every subclass has
    bias: bool
    double_bias: bool
    compute_dtype: Any

    def pointwise(self, w: dict, gi: tuple, gh: tuple, carry) -> tuple[Any, Array]:
        """Everything after the two GEMMs: ``(carry', y)`` (see the module docstring)."""
        raise NotImplementedError

    def _validate(self) -> None:
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.boolean("bias", self.bias)
        _checks.boolean("double_bias", self.double_bias)
        object.__setattr__(self, "compute_dtype", precision.dtype_name("compute_dtype", self.compute_dtype))

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_carry(self, dtype=jnp.float32):
        """Returns zeros of shape ``(H,)``."""
        return jnp.zeros((self.hidden_size,), precision.floating_dtype("dtype", dtype))

    def recurrent_input(self, carry) -> Array:
        """The part of the carry that multiplies ``W_hh``."""
        return carry

    def param_spec(self, input_size: int) -> dict:
        """``{name: (shape, init role)}`` of the params for ``input_size`` inputs."""
        h, k = self.hidden_size, self.gates
        spec: dict[str, tuple[tuple[int, ...], str]] = {
            "w_ih": ((k * h, input_size), "input"), "w_hh": ((k * h, self.output_size), "recurrent")}
        if self.bias:
            spec["b_ih"] = ((k * h,), "bias")
            if self.double_bias:
                spec["b_hh"] = ((k * h,), "bias")
        return spec

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns torch-layout params ``{name: array}`` (see the class docstring)."""
        input_size = _checks.positive_int("input_size", input_size)
        return init_params(key, self.param_spec(input_size), self.hidden_size, preset, dtype)

    def recurrent_bias(self, params):
        """torch's ``b_hh`` for ``params`` (``None`` if they have none)."""
        return params.get("b_hh")

    def check_params(self, params, input_size: int, path: str = "params") -> None:
        """Raises naming ``path`` unless ``params`` has exactly this cell's names, shapes and a
        floating dtype."""
        _checks.params_match(path, params, {k: s for k, (s, _) in self.param_spec(input_size).items()})

    def weights(self, params, policy: precision.Policy) -> dict:
        """The params as the pieces read them under ``policy`` (:func:`jaxrnn.precision.policy`).

        Matrices are cast to the compute dtype, biases to the state dtype, and the biases folded:
        ``b_in`` is added to ``gi``, ``b_rec`` to ``gh`` (either may be ``None``).
        """
        cast = {k: v.astype(policy.compute if k.startswith("w") else policy.state)
                for k, v in params.items()}
        return self._fold(cast)

    def _fold(self, p: dict) -> dict:
        """Elman and LSTM: the two biases only ever enter as their sum."""
        w = {"w_ih": p["w_ih"], "b_in": _add(p.get("b_ih"), p.get("b_hh")), "w_hh": p["w_hh"], "b_rec": None}
        w.update({k: v for k, v in p.items() if k not in ("w_ih", "w_hh", "b_ih", "b_hh")})
        return w

    def input_projection(self, w: dict, x) -> tuple:
        """``x: (..., I)`` -> ``gi = x @ W_ih^T + b_in`` as k blocks ``(..., H)``, state dtype."""
        return self.blocks(_add(matmul_t(x, w["w_ih"]), w["b_in"]))

    def recurrent_projection(self, w: dict, h) -> tuple:
        """``h: (..., H_out)`` -> ``gh = h @ W_hh^T + b_rec`` as blocks ``(..., H)``, state dtype."""
        return self.blocks(_add(matmul_t(h, w["w_hh"]), w["b_rec"]))

    def blocks(self, a) -> tuple:
        """``(..., jH)`` -> the tuple of its j gate blocks ``(..., H)``."""
        return tuple(jnp.split(a, a.shape[-1] // self.hidden_size, axis=-1))

    def apply(self, params, carry, x) -> tuple[Any, Array]:
        """One step: ``x: (..., I)``, ``carry`` with the same leading dims -> ``(carry', y)``."""
        x = _checks.float_array("x", x)
        w_ih = params.get("w_ih") if isinstance(params, dict) else None
        size = w_ih.shape[-1] if w_ih is not None and getattr(w_ih, "ndim", 0) == 2 else None
        if x.ndim < 1 or (size is not None and x.shape[-1] != size):
            raise ValueError(f"x must have shape (..., {size or 'input_size'}) (input_size from "
                             f"params['w_ih']), got {tuple(x.shape)}")
        self.check_params(params, x.shape[-1])
        _checks.tree_like("carry", carry, self.initial_carry(), trailing=1)
        for leaf in jax.tree.leaves(carry):  # leading dims: x's, or ones that broadcast to them
            try:
                fits = jnp.broadcast_shapes(leaf.shape[:-1], x.shape[:-1]) == tuple(x.shape[:-1])
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"carry must have x's leading dimensions {tuple(x.shape[:-1])} (or ones that "
                                 f"broadcast to them), got shape {tuple(leaf.shape)} (x: {tuple(x.shape)})")
        policy = precision.policy(self.compute_dtype, x, params)
        w = self.weights(params, policy)
        carry = precision.cast_tree(carry, policy.state)
        gi = self.input_projection(w, x)
        gh = self.recurrent_projection(w, self.recurrent_input(carry))
        carry, y = self.pointwise(w, gi, gh, carry)
        return carry, y.astype(policy.compute)


@dataclasses.dataclass(frozen=True)
class ElmanCell(_GatedCell):
    """Elman (vanilla) RNN cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; ``y = h'``.

    Args:
      hidden_size: H.
      nonlinearity: ``"tanh"`` or ``"relu"``.
      bias: whether the cell has biases at all.
      double_bias: ``True`` keeps torch's ``b_ih`` and ``b_hh``; ``False`` keeps one ``b_ih``
        (Keras ``SimpleRNN``, and the seed's ``h_t = tanh(Wx x_t + Wh h_{t-1} + b)``).
      compute_dtype: the matmul/output dtype (see :mod:`jaxrnn.precision`); ``None`` promotes
        the input's and the params' dtypes.

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
    compute_dtype: Any = None

    gates: ClassVar[int] = 1
    additive: ClassVar[bool] = True

    def __post_init__(self):
        self._validate()
        _checks.one_of("nonlinearity", self.nonlinearity, ("tanh", "relu"))

    def pointwise(self, w: dict, gi: tuple, gh: tuple, carry: Array) -> tuple[Array, Array]:
        """``h' = act(gi + gh)``; ``y = h'``."""
        h = (jnp.tanh if self.nonlinearity == "tanh" else jax.nn.relu)(gi[0] + gh[0])
        return h, h


@dataclasses.dataclass(frozen=True)
class LSTMCell(_GatedCell):
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
      compute_dtype: as for :class:`ElmanCell`.

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
    compute_dtype: Any = None

    gates: ClassVar[int] = 4
    additive: ClassVar[bool] = True

    def __post_init__(self):
        self._validate()
        _checks.non_negative_int("proj_size", self.proj_size)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({self.hidden_size}), got {self.proj_size}"
            )
        if isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, (int, float)):
            raise TypeError(f"forget_bias must be a float, got {type(self.forget_bias).__name__}")
        if not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be finite, got {self.forget_bias}")
        if self.forget_bias != 0.0 and not self.bias:
            raise ValueError(f"forget_bias needs bias=True, got forget_bias={self.forget_bias} with bias=False")

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def param_spec(self, input_size: int) -> dict:
        spec = super().param_spec(input_size)
        if self.proj_size:
            spec["w_hr"] = ((self.proj_size, self.hidden_size), "projection")
        return spec

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> dict:
        """Returns torch-layout params (see the class docstring)."""
        params = super().init(key, input_size, preset=preset, dtype=dtype)
        if self.bias:
            h = self.hidden_size
            forget = self.forget_bias + (1.0 if preset == "keras" else 0.0)
            params["b_ih"] = params["b_ih"].at[h : 2 * h].add(forget)
        return params

    def initial_carry(self, dtype=jnp.float32) -> LSTMState:
        """Returns ``LSTMState(h=zeros(P or H), c=zeros(H))``."""
        dtype = precision.floating_dtype("dtype", dtype)
        return LSTMState(jnp.zeros((self.output_size,), dtype), jnp.zeros((self.hidden_size,), dtype))

    def recurrent_input(self, carry: LSTMState) -> Array:
        return carry.h

    def pointwise(self, w: dict, gi: tuple, gh: tuple, carry: LSTMState) -> tuple[LSTMState, Array]:
        """``i, f, g, o = gi + gh``; ``c' = σ(f) c + σ(i) tanh(g)``; ``h' = σ(o) tanh(c')``
        (then ``W_hr h'`` with a projection)."""
        i, f, g, o = (a + b for a, b in zip(gi, gh))
        c = jax.nn.sigmoid(f) * carry.c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if self.proj_size:
            h = matmul_t(h, w["w_hr"])
        return LSTMState(h, c), h


@dataclasses.dataclass(frozen=True)
class GRUCell(_GatedCell):
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
      compute_dtype: as for :class:`ElmanCell`.

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
    compute_dtype: Any = None

    gates: ClassVar[int] = 3
    additive: ClassVar[bool] = False

    def __post_init__(self):
        self._validate()
        _checks.boolean("reset_after", self.reset_after)

    def param_spec(self, input_size: int) -> dict:
        spec = super().param_spec(input_size)
        if self.bias and not self.double_bias and self.reset_after:
            spec["b_hn"] = ((self.hidden_size,), "bias")
        return spec

    def recurrent_bias(self, params):
        """torch's ``b_hh``: ``b_hh``, or ``[0, 0, b_hn]`` for the one-bias reset-after form, or None."""
        if "b_hn" in params:
            b_hn = jnp.asarray(params["b_hn"])
            return jnp.concatenate([jnp.zeros((2 * self.hidden_size,), b_hn.dtype), b_hn])
        return params.get("b_hh")

    def _fold(self, p: dict) -> dict:
        """``b_hh`` stays on the recurrent side (r multiplies its n block). ``reset_after=False``:
        ``gh`` covers r and z only; ``w_hn``, ``b_hn`` act on ``r * h`` in ``pointwise``."""
        h = self.hidden_size
        b_hh = self.recurrent_bias(p)
        w = {"w_ih": p["w_ih"], "b_in": p.get("b_ih"), "w_hh": p["w_hh"], "b_rec": b_hh}
        if not self.reset_after:
            w.update(w_hh=p["w_hh"][: 2 * h], w_hn=p["w_hh"][2 * h:],
                     b_rec=None if b_hh is None else b_hh[: 2 * h],
                     b_hn=None if b_hh is None else b_hh[2 * h:])
        return w

    def pointwise(self, w: dict, gi: tuple, gh: tuple, carry: Array) -> tuple[Array, Array]:
        """``r, z`` from ``gi + gh``; ``n = tanh(gi_n + r * gh_n)`` (``reset_after=False``:
        ``gi_n + W_hn (r * h) + b_hn``); ``h' = (1 - z) n + z h``."""
        r = jax.nn.sigmoid(gi[0] + gh[0])
        z = jax.nn.sigmoid(gi[1] + gh[1])
        if self.reset_after:
            hn = r * gh[2]
        else:
            hn = _add(matmul_t(r * carry, w["w_hn"]), w["b_hn"])
        n = jnp.tanh(gi[2] + hn)
        new = (1.0 - z) * n + z * carry
        return new, new
