"""PyTorch-shaped layers: ``jaxrnn.RNN``, ``jaxrnn.LSTM``, ``jaxrnn.GRU``.

Same constructor arguments, defaults, shapes and numerics as ``torch.nn.RNN/LSTM/GRU``. Shape
letters: T time, B batch, I input, H hidden, L layers, D directions (2 if bidirectional),
``H_out = proj_size or H``.

- ``input``: ``(T, B, I)``, ``(B, T, I)`` with ``batch_first=True``, or unbatched ``(T, I)``.
- ``output``: ``(T, B, D*H_out)`` (same batch/time order as the input).
- ``h_n``: ``(L*D, B, H_out)``, index ``l*D + d``; LSTM also ``c_n: (L*D, B, H)``; unbatched
  drops the B axis.
- ``seq_lengths: (B,)`` ints in ``[0, T]`` (right padding): padded outputs are exactly 0, each row's
  final state is its state after its last valid step (its initial state for length 0), and the
  reverse direction starts at each row's last valid step.
- ``mask``: bools shaped like ``input`` without its features, holes allowed (Keras's masking): a
  masked step leaves every state unchanged, and its output repeats the last output (0 with
  ``zero_output_for_mask=True``, and in a bidirectional layer). ``seq_lengths`` is the special
  case ``t < length`` with 0 outputs: both are the valid steps of the one padding rule
  (:mod:`jaxrnn.driver.padding`).
- ``merge_mode`` (bidirectional only): how the two directions' outputs combine,
  ``"concat"`` (torch, the default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (Keras's
  ``Bidirectional``); with a non-concat mode ``output`` has ``H_out`` features and layer l > 0
  takes ``H_out`` inputs; ``None`` (one layer) returns the two outputs ``(out_fwd, out_bwd)``.
- ``go_backwards`` (one direction only, Keras's): the layer reads its input from the end and
  returns ``output`` in that order.
- ``engine``: ``"auto"`` (default), ``"reference"``, ``"xla"`` or ``"cudnn"``; every engine computes
  the same function (see :mod:`jaxrnn.engines`).
- ``compute_dtype``: ``None`` (the promoted dtype of input and params) or a floating dtype or its
  name; matmul operands and ``output`` are in it, the recurrent state and ``h_n``/``c_n`` in the
  state dtype (float32 when the compute dtype is 16-bit), see :mod:`jaxrnn.precision`.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import jax.numpy as jnp

from jaxrnn import _checks, engines, precision
from jaxrnn._compile import compiled
from jaxrnn.cells import ElmanCell, GRUCell, LSTMCell
from jaxrnn.combinators import (
    MERGE_MODES,
    Bidirectional,
    Recurrent,
    Stack,
    check_dropout,
    dropout_key,
    restack,
    unstack,
)
from jaxrnn.driver import padding


class _TorchShaped:
    """Behaviour shared by the three layers; subclasses define the fields and ``cell()``."""

    input_size: int  # the fields all three layers have (declared here for type checkers)
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    double_bias: bool
    merge_mode: str | None
    engine: str
    compute_dtype: Any
    go_backwards: bool
    zero_output_for_mask: bool

    def cell(self) -> ElmanCell | GRUCell | LSTMCell:
        """The cell of every layer of the stack (see the subclasses)."""
        raise NotImplementedError

    def _validate(self):
        _checks.positive_int("input_size", self.input_size)
        _checks.positive_int("hidden_size", self.hidden_size)
        _checks.positive_int("num_layers", self.num_layers)
        _checks.boolean("batch_first", self.batch_first)
        _checks.boolean("bidirectional", self.bidirectional)
        check_dropout(self.dropout)
        _checks.one_of("merge_mode", self.merge_mode, MERGE_MODES)
        if self.merge_mode != "concat" and not self.bidirectional:
            raise ValueError(f"merge_mode={self.merge_mode!r} needs bidirectional=True, got bidirectional=False")
        if self.merge_mode is None and self.num_layers > 1:
            raise ValueError(f"merge_mode=None gives two outputs, which no next layer reads: it needs "
                             f"num_layers=1, got num_layers={self.num_layers}")
        if _checks.boolean("go_backwards", self.go_backwards) and self.bidirectional:
            raise ValueError("go_backwards=True runs one direction backward (Keras's go_backwards); with "
                             "bidirectional=True the backward direction is already there: use one of them")
        _checks.boolean("zero_output_for_mask", self.zero_output_for_mask)
        _checks.one_of("engine", self.engine, engines.ENGINES)
        object.__setattr__(self, "compute_dtype", precision.dtype_name("compute_dtype", self.compute_dtype))
        self.cell()  # validates the cell's own hyperparameters
        engines.check(self.engine, self.network())
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"dropout={self.dropout} with num_layers=1 has no effect: dropout acts between "
                          "stacked layers (as in torch.nn)", UserWarning, stacklevel=4)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """The feature size of ``output``: ``D * H_out`` (``H_out`` if ``merge_mode`` is not concat)."""
        return self.network().output_size

    def network(self) -> Stack:
        """The equivalent unbatched :class:`jaxrnn.Stack` of (bidirectional) recurrent layers."""
        cell = self.cell()
        layer = Bidirectional(cell, merge=self.merge_mode) if self.bidirectional else Recurrent(cell, self.go_backwards)
        return Stack((layer,) * self.num_layers, dropout=self.dropout)

    def init(self, key, *, preset: str = "torch", dtype=jnp.float32) -> list:
        """Returns params: a list over layers of cell params (``{"fwd", "bwd"}`` if bidirectional).

        Examples:
          >>> params = LSTM(5, 8, num_layers=2).init(jax.random.key(0))
          >>> params[1]["w_ih"].shape
          (32, 8)
        """
        return self.network().init(key, self.input_size, preset=preset, dtype=dtype)

    def check_params(self, params) -> None:
        """Raises naming the path (e.g. ``params[1]['fwd']['w_hh']``) unless ``params`` has this
        layer's structure, shapes and floating dtypes."""
        _checks.per_layer("params", params, self.num_layers)
        cell, size = self.cell(), self.input_size
        for l, (layer, p) in enumerate(zip(self.network().layers, params)):
            if self.bidirectional:
                _checks.keys_match(f"params[{l}]", p, ("fwd", "bwd"))
                for d in ("fwd", "bwd"):
                    cell.check_params(p[d], size, f"params[{l}][{d!r}]")
            else:
                cell.check_params(p, size, f"params[{l}]")
            size = layer.output_size

    def apply(self, params, input, hx=None, *, seq_lengths=None, mask=None, key=None,
              deterministic: bool = False) -> tuple[Any, Any]:
        """Runs the layer; see the module docstring for shapes.

        Args:
          params: from :meth:`init` or :func:`jaxrnn.interop.from_torch`.
          input: ``(T, B, I)``, ``(B, T, I)`` if ``batch_first``, or unbatched ``(T, I)``.
          hx: initial state, ``h_0: (L*D, B, H_out)`` (LSTM: ``(h_0, c_0)``); ``None`` is zeros.
          seq_lengths: ``(B,)`` ints in ``[0, T]``; ``None`` means every row has T steps.
            Concrete values outside ``[0, T]`` raise ``ValueError``; under ``jax.jit`` (traced
            values) they cannot be checked and are clamped to ``[0, T]``.
          mask: bools shaped like ``input`` without its feature axis (``(B, T)`` if
            ``batch_first``, Keras's layout; ``(T, B)``; unbatched ``(T,)``), False at the steps
            to skip, anywhere (holes allowed), with Keras's semantics: a masked step's input is
            never read and every layer's state passes through it unchanged; its output repeats
            the last output (before any, ``h_0``'s last layer) in processing order, or is 0 with
            ``zero_output_for_mask=True`` and always in a bidirectional layer (as Keras's
            ``Bidirectional``). Instead of ``seq_lengths`` (the mask ``t < length`` with 0
            outputs), not with it.
          key: PRNG key drawing the inter-layer dropout masks (training). Dropout is explicit:
            with ``dropout > 0`` and ``num_layers > 1`` a call without a key raises
            ``ValueError`` naming ``key`` unless it says ``deterministic=True``.
          deterministic: ``True``: no dropout (evaluation, sampling), as flax's and equinox's
            ``Dropout``; a given ``key`` is then unused.

        Returns:
          ``(output, h_n)``, LSTM ``(output, (h_n, c_n))``; ``output`` in the compute dtype
          (``merge_mode=None``: the pair ``(out_fwd, out_bwd)``), ``h_n``/``c_n`` in the state dtype.
        """
        x = _checks.float_array("input", input)
        if x.ndim not in (2, 3):
            raise ValueError(
                "input must be 3-D (batched) or 2-D (unbatched (T, input_size)), "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected input_size {self.input_size}, got {x.shape[-1]}")
        batched = x.ndim == 3
        if mask is not None:
            want = "(B, T)" if batched and self.batch_first else "(T, B)" if batched else "(T,)"
            mask = _checks.bools("mask", mask, x.shape[:-1], f"shape {want} (the input's without its features) =")
        if not batched:
            x, mask = x[:, None], None if mask is None else mask[:, None]
        elif self.batch_first:  # the one layout change: engines are time-major
            x, mask = jnp.swapaxes(x, 0, 1), None if mask is None else jnp.swapaxes(mask, 0, 1)
        out, state = self.run_time_major(params, x, hx, seq_lengths, self.row_keys(key, x.shape[1], deterministic),
                                         batched, mask)
        if not batched:
            return jax.tree.map(lambda o: o[:, 0], out), jax.tree.map(lambda s: s[:, 0], state)
        if self.batch_first:
            out = jax.tree.map(lambda o: jnp.swapaxes(o, 0, 1), out)
        return out, state

    def row_keys(self, key, batch: int, deterministic: bool = False):
        """The dropout keys of a batch of ``batch`` rows, one per row, drawn from ``key``; ``None``
        when the layer draws no dropout (``deterministic``, ``dropout == 0`` or one layer).

        Raises:
          ValueError: naming ``key`` when dropout would act and neither a key nor
            ``deterministic=True`` is given (:func:`jaxrnn.combinators.dropout_key`).
        """
        if key is not None:
            _checks.prng_key("key", key)  # one key for the batch
        key = dropout_key(key, self.dropout if self.num_layers > 1 else 0.0, deterministic)
        return None if key is None else jax.random.split(key, batch)

    def run_time_major(self, params, x, hx, seq_lengths, row_keys, batched: bool = True, mask=None):
        """:meth:`apply` on a time-major ``x: (T, B, I)`` with one dropout key per row (``None``: no
        dropout) and a checked time-major ``mask: (T, B) bool`` or None; ``batched=False`` reads
        ``hx`` and ``seq_lengths`` as unbatched (B = 1).
        Returns ``(output: (T, B, F), torch-shaped state with B)``.

        The one entry point of every engine: the params, ``hx`` and lengths are checked here, the
        precision policy computed once, and the engine chosen for this call runs the network.
        """
        self.check_params(params)
        steps, batch = x.shape[0], x.shape[1]
        policy = precision.policy(self.compute_dtype, x, params)
        valid = self._valid(seq_lengths, mask, batch, steps, batched)
        state = self._state(hx, batch, batched, policy.state)
        network = self.network()
        engine = engines.select(self.engine, network, policy, row_keys is not None, batch, steps, mask is not None)
        out, final = compiled(run_engine, params, x, state, valid, row_keys, engine=engine, network=network,
                              policy=policy)
        return self._output(out, mask, state), self._torch_form(final)

    def _output(self, out, mask, state):
        """The layer's output from the network's ``out: (T, B, F)``: at masked steps the last
        output again (Keras's masking, one direction, unless ``zero_output_for_mask``; the
        network gives 0 there), then, for ``go_backwards``, in processing order."""
        if mask is not None and not self.bidirectional and not self.zero_output_for_mask:
            last_layer = jax.tree.map(lambda s: s[-1], state)  # its h_0 is the output before any step
            out = padding.repeat(mask, out, last_layer, reverse=self.go_backwards)
        return out[::-1] if self.go_backwards else out

    def initial_state(self, batch_size=None, dtype=jnp.float32):
        """Torch-shaped zeros: ``h_0: (L*D, B, H_out)`` (LSTM ``(h_0, c_0)``, ``c_0: (L*D, B, H)``);
        ``batch_size=None`` drops the B axis (unbatched).

        Examples:
          >>> LSTM(5, 8, num_layers=2).initial_state(3)[1].shape
          (2, 3, 8)
        """
        dtype = precision.floating_dtype("dtype", dtype)
        lead = (self.num_layers * self.num_directions,) + (() if batch_size is None else
                                                            (_checks.non_negative_int("batch_size", batch_size),))
        return self._torch_form(jax.tree.map(lambda z: jnp.zeros(lead + z.shape, dtype), self.cell().initial_carry()))

    def step(self, params, x_t, state=None):
        """One time step of the whole stack (streaming inference, token by token).

        Args:
          params: the layer's params.
          x_t: ``(B, I)``, or unbatched ``(I,)``.
          state: torch-shaped like :meth:`initial_state` (``None``: zeros).

        Returns:
          ``(y_t, state)``: ``y_t: (B, H_out)`` (unbatched ``(H_out,)``) in the compute dtype, and the
          new state in the state dtype. Stepping through a sequence equals :meth:`apply` on it
          (without dropout).

        Raises:
          ValueError: naming ``bidirectional`` for a bidirectional layer (it needs the whole sequence).

        Examples:
          >>> model = GRU(5, 8, num_layers=2)
          >>> params = model.init(jax.random.key(0))
          >>> y, state = model.step(params, jnp.ones((3, 5)), model.initial_state(3))
          >>> y.shape, state.shape
          ((3, 8), (2, 3, 8))
        """
        if self.bidirectional:
            raise ValueError("bidirectional=True: step runs one time step forward, and a bidirectional "
                             "layer needs the whole sequence; use apply")
        if self.go_backwards:
            raise ValueError("go_backwards=True: step runs one time step forward, and a layer that reads "
                             "its input from the end needs the whole sequence; use apply")
        x = _checks.float_array("x_t", x_t)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"x_t must have shape (B, {self.input_size}) or ({self.input_size},), got {tuple(x.shape)}")
        self.check_params(params)
        batched = x.ndim == 2
        policy = precision.policy(self.compute_dtype, x, params)
        network = self.network()
        carries = unstack(network, self._state(state, x.shape[0] if batched else 1, batched, policy.state, "state"))
        y, finals = network.step(params, x if batched else x[None], carries)
        state = self._torch_form(restack(network, finals))
        if not batched:
            return y[0], jax.tree.map(lambda s: s[:, 0], state)
        return y, state

    # -- torch's state: the cells' carry structure, each leaf (L*D, B, F) -------------------------

    def _valid(self, seq_lengths, mask, batch, steps, batched):
        """The call's valid steps ``(T, B) bool`` (a mask, or lengths as ``t < length``) or None."""
        if mask is not None:
            if seq_lengths is not None:
                raise ValueError("mask and seq_lengths exclude each other (seq_lengths is the mask t < length, "
                                 "with 0 outputs at padding), got both")
            return mask
        return padding.batch_valid(steps, self._lengths(seq_lengths, batch, steps, batched))

    def _lengths(self, seq_lengths, batch, steps, batched):
        if seq_lengths is None:
            return None
        lengths = _checks.lengths("seq_lengths", seq_lengths, steps)
        expected = (batch,) if batched else ((), (1,))
        if (batched and lengths.shape != expected) or (not batched and lengths.shape not in expected):
            want = f"({batch},)" if batched else "() or (1,)"
            raise ValueError(f"seq_lengths must have shape {want} (one length per batch row), "
                             f"got {tuple(lengths.shape)}")
        return lengths.reshape(batch)

    def _torch_form(self, state):
        """The state as torch returns it: ``h_n``, or the tuple of the carry's leaves (``(h_n, c_n)``)."""
        leaves = jax.tree.leaves(state)
        return leaves[0] if len(leaves) == 1 else tuple(leaves)

    def _state(self, hx, batch, batched, dtype, name: str = "hx"):
        """torch's ``hx`` (``None``: zeros) as the cells' carry structure with leaves ``(L*D, B, F)``
        in the state ``dtype``; errors call the argument ``name``."""
        template = self.cell().initial_carry()
        leaves, treedef = jax.tree.flatten(template)
        ld = self.num_layers * self.num_directions
        if hx is None:
            return jax.tree.map(lambda z: jnp.zeros((ld, batch) + z.shape, dtype), template)
        fields = getattr(type(template), "_fields", None)
        if fields is None:
            names, parts = [name], [hx]
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != len(fields):
                want = ", ".join(f"{f}_0" for f in fields)
                raise TypeError(f"{name} must be a tuple ({want}) for {type(self).__name__}, got {type(hx).__name__}")
            names, parts = [f"{name}[{i}] ({f}_0)" for i, f in enumerate(fields)], list(hx)
        tensors = []
        for leaf_name, want, t in zip(names, leaves, parts):
            t = _checks.float_array(leaf_name, t)
            _checks.shape(leaf_name, t, (ld, batch) + want.shape if batched else (ld,) + want.shape)
            tensors.append((t if batched else t[:, None]).astype(dtype))
        return treedef.unflatten(tensors)


def run_engine(params, x, state, valid, row_keys, *, engine, network, policy):
    """``engine.run`` (see :mod:`jaxrnn.engines`) as :func:`jaxrnn._compile.compiled` calls it: the
    arrays first, the static engine, network and policy by keyword."""
    return engine.run(network, params, x, state, valid, row_keys, policy)


@dataclasses.dataclass(frozen=True)
class RNN(_TorchShaped):
    """Multi-layer Elman RNN, shaped like ``torch.nn.RNN``.

    ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` per layer and direction.

    Args:
      input_size: I, the features of each input step.
      hidden_size: H, the features of each layer's hidden state.
      num_layers: L, the number of stacked layers; layer l > 0 reads layer l - 1's output.
      nonlinearity: ``"tanh"`` or ``"relu"``.
      bias: ``False`` drops every bias (``b_ih`` and ``b_hh``), as in torch.
      batch_first: ``True``: ``input`` and ``output`` are ``(B, T, ...)``; ``False`` (torch's
        default): ``(T, B, ...)``. ``h_n`` is ``(L*D, B, H_out)`` either way.
      dropout: the probability, in [0, 1], of zeroing each element of every layer's output but
        the last (inverted dropout between layers, as in torch; 1 zeroes them); drawn from the
        ``key`` given to :meth:`apply`, which then needs a key or ``deterministic=True``.
      bidirectional: ``True`` runs every layer forward and backward (D = 2).
      double_bias: ``True`` keeps torch's two biases ``b_ih`` and ``b_hh``; ``False`` keeps one
        ``b_ih`` (Keras's layout of ``SimpleRNN``).
      merge_mode: how a bidirectional layer combines its two directions: ``"concat"`` (torch's
        ``[fwd, bwd]``, the default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (Keras's
        ``Bidirectional``); only with ``bidirectional=True``; a non-concat mode gives ``H_out``
        output features, and ``None`` (one layer only) gives two outputs ``(out_fwd, out_bwd)``,
        both in time order.
      engine: ``"auto"`` (default: the fastest engine that can run each call), ``"reference"``,
        ``"xla"`` or ``"cudnn"``; every engine computes the same function (see
        :mod:`jaxrnn.engines`). An engine that cannot run the layer or a call raises ``ValueError``.
      compute_dtype: ``None`` (the promoted dtype of input and params) or a floating dtype or its
        name (``"bfloat16"``): matmul operands and ``output`` in it, float32 accumulation, and the
        recurrent state in float32 when it is 16-bit (see :mod:`jaxrnn.precision`).
      go_backwards: ``True`` (Keras's ``go_backwards``, one direction only): every layer runs from
        the last step to the first (a row with ``seq_lengths`` from its last valid step), and
        ``output`` is returned in that processing order, reversed in time.
      zero_output_for_mask: with a ``mask`` (see :meth:`apply`), ``True`` outputs 0 at masked
        steps; ``False`` (Keras's default) repeats the last output there. A bidirectional layer
        always outputs 0 at masked steps, as Keras's ``Bidirectional`` (which sets it True).

    Examples:
      >>> model = RNN(5, 8, num_layers=2, batch_first=True, bidirectional=True)
      >>> params = model.init(jax.random.key(0))
      >>> out, h_n = model.apply(params, jnp.ones((1, 10, 5)))
      >>> out.shape, h_n.shape
      ((1, 10, 16), (4, 1, 8))
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    double_bias: bool = True
    merge_mode: str | None = "concat"
    engine: str = "auto"
    compute_dtype: Any = None
    go_backwards: bool = False
    zero_output_for_mask: bool = False

    def __post_init__(self):
        self._validate()

    def cell(self) -> ElmanCell:
        return ElmanCell(self.hidden_size, self.nonlinearity, self.bias, self.double_bias,
                         compute_dtype=self.compute_dtype)


@dataclasses.dataclass(frozen=True)
class GRU(_TorchShaped):
    """Multi-layer GRU, shaped like ``torch.nn.GRU`` (gate order r, z, n).

    ``h' = (1 - z) * n + z * h`` per layer and direction (see :class:`jaxrnn.GRUCell`).

    Args:
      input_size: I, the features of each input step.
      hidden_size: H, the features of each layer's hidden state.
      num_layers: L, the number of stacked layers; layer l > 0 reads layer l - 1's output.
      bias: ``False`` drops every bias (``b_ih`` and ``b_hh``), as in torch.
      batch_first: ``True``: ``input`` and ``output`` are ``(B, T, ...)``; ``False`` (torch's
        default): ``(T, B, ...)``. ``h_n`` is ``(L*D, B, H_out)`` either way.
      dropout: the probability, in [0, 1], of zeroing each element of every layer's output but
        the last (inverted dropout between layers, as in torch; 1 zeroes them); drawn from the
        ``key`` given to :meth:`apply`, which then needs a key or ``deterministic=True``.
      bidirectional: ``True`` runs every layer forward and backward (D = 2).
      double_bias: ``True`` keeps torch's two biases ``b_ih`` and ``b_hh``; ``False`` keeps one
        ``b_ih`` (with ``reset_after=True`` also an ``(H,)`` ``b_hn``, because r multiplies it).
      reset_after: ``True`` (torch, Keras's default): ``n = tanh(W_in x + b_in + r * (W_hn h +
        b_hn))``; ``False`` (Cho et al., Keras v1): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.
      merge_mode: how a bidirectional layer combines its two directions: ``"concat"`` (torch's
        ``[fwd, bwd]``, the default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (Keras's
        ``Bidirectional``); only with ``bidirectional=True``; a non-concat mode gives ``H_out``
        output features, and ``None`` (one layer only) gives two outputs ``(out_fwd, out_bwd)``,
        both in time order.
      engine: ``"auto"`` (default: the fastest engine that can run each call), ``"reference"``,
        ``"xla"`` or ``"cudnn"``; every engine computes the same function (see
        :mod:`jaxrnn.engines`). An engine that cannot run the layer or a call raises ``ValueError``.
      compute_dtype: ``None`` (the promoted dtype of input and params) or a floating dtype or its
        name (``"bfloat16"``): matmul operands and ``output`` in it, float32 accumulation, and the
        recurrent state in float32 when it is 16-bit (see :mod:`jaxrnn.precision`).
      go_backwards: ``True`` (Keras's ``go_backwards``, one direction only): every layer runs from
        the last step to the first (a row with ``seq_lengths`` from its last valid step), and
        ``output`` is returned in that processing order, reversed in time.
      zero_output_for_mask: with a ``mask`` (see :meth:`apply`), ``True`` outputs 0 at masked
        steps; ``False`` (Keras's default) repeats the last output there. A bidirectional layer
        always outputs 0 at masked steps, as Keras's ``Bidirectional`` (which sets it True).

    Examples:
      >>> model = GRU(5, 8)
      >>> out, h_n = model.apply(model.init(jax.random.key(0)), jnp.ones((10, 3, 5)))
      >>> out.shape, h_n.shape
      ((10, 3, 8), (1, 3, 8))
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    double_bias: bool = True
    reset_after: bool = True
    merge_mode: str | None = "concat"
    engine: str = "auto"
    compute_dtype: Any = None
    go_backwards: bool = False
    zero_output_for_mask: bool = False

    def __post_init__(self):
        self._validate()

    def cell(self) -> GRUCell:
        return GRUCell(self.hidden_size, self.reset_after, self.bias, self.double_bias,
                       compute_dtype=self.compute_dtype)


@dataclasses.dataclass(frozen=True)
class LSTM(_TorchShaped):
    """Multi-layer LSTM, shaped like ``torch.nn.LSTM`` (gate order i, f, g, o; optional projection).

    Returns ``(output, (h_n, c_n))`` with ``h_n: (L*D, B, H_out)`` and ``c_n: (L*D, B, H)``.

    Args:
      input_size: I, the features of each input step.
      hidden_size: H, the features of each layer's hidden state.
      num_layers: L, the number of stacked layers; layer l > 0 reads layer l - 1's output.
      bias: ``False`` drops every bias (``b_ih`` and ``b_hh``), as in torch.
      batch_first: ``True``: ``input`` and ``output`` are ``(B, T, ...)``; ``False`` (torch's
        default): ``(T, B, ...)``. ``h_n`` is ``(L*D, B, H_out)`` either way.
      dropout: the probability, in [0, 1], of zeroing each element of every layer's output but
        the last (inverted dropout between layers, as in torch; 1 zeroes them); drawn from the
        ``key`` given to :meth:`apply`, which then needs a key or ``deterministic=True``.
      bidirectional: ``True`` runs every layer forward and backward (D = 2).
      proj_size: P; ``0`` (default) has no projection, else ``0 < P < H`` and ``h = W_hr (o *
        tanh(c))`` (torch's ``proj_size``): ``H_out = P``.
      double_bias: ``True`` keeps torch's two biases ``b_ih`` and ``b_hh``; ``False`` keeps one
        ``b_ih`` (Keras's layout of ``LSTM``: the two biases only ever enter as their sum).
      merge_mode: how a bidirectional layer combines its two directions: ``"concat"`` (torch's
        ``[fwd, bwd]``, the default), ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (Keras's
        ``Bidirectional``); only with ``bidirectional=True``; a non-concat mode gives ``H_out``
        output features, and ``None`` (one layer only) gives two outputs ``(out_fwd, out_bwd)``,
        both in time order.
      engine: ``"auto"`` (default: the fastest engine that can run each call), ``"reference"``,
        ``"xla"`` or ``"cudnn"``; every engine computes the same function (see
        :mod:`jaxrnn.engines`). An engine that cannot run the layer or a call raises ``ValueError``.
      compute_dtype: ``None`` (the promoted dtype of input and params) or a floating dtype or its
        name (``"bfloat16"``): matmul operands and ``output`` in it, float32 accumulation, and the
        recurrent state in float32 when it is 16-bit (see :mod:`jaxrnn.precision`).
      go_backwards: ``True`` (Keras's ``go_backwards``, one direction only): every layer runs from
        the last step to the first (a row with ``seq_lengths`` from its last valid step), and
        ``output`` is returned in that processing order, reversed in time.
      zero_output_for_mask: with a ``mask`` (see :meth:`apply`), ``True`` outputs 0 at masked
        steps; ``False`` (Keras's default) repeats the last output there. A bidirectional layer
        always outputs 0 at masked steps, as Keras's ``Bidirectional`` (which sets it True).

    Examples:
      >>> model = LSTM(5, 8, num_layers=2, bidirectional=True, batch_first=True)
      >>> out, (h_n, c_n) = model.apply(model.init(jax.random.key(0)), jnp.ones((3, 10, 5)))
      >>> out.shape, h_n.shape, c_n.shape
      ((3, 10, 16), (4, 3, 8), (4, 3, 8))
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    double_bias: bool = True
    merge_mode: str | None = "concat"
    engine: str = "auto"
    compute_dtype: Any = None
    go_backwards: bool = False
    zero_output_for_mask: bool = False

    def __post_init__(self):
        self._validate()

    def cell(self) -> LSTMCell:
        return LSTMCell(self.hidden_size, self.proj_size, self.bias, self.double_bias,
                        compute_dtype=self.compute_dtype)
