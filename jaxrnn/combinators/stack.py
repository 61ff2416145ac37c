"""Stacks of sequence layers: :class:`Stack`, inter-layer :func:`dropout`, and the conversion
between a stack's per-layer carries and one state stacked like torch's ``(L*D, ...)``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxrnn import _checks, precision
from jaxrnn.combinators.directional import Bidirectional, Recurrent, directions, scan_runner, sequence_valid


def _per_row(fn, keys):
    """Applies ``fn`` to every key of ``keys`` (any batch shape; one unbatched key is a batch of ())."""
    for _ in range(keys.ndim):
        fn = jax.vmap(fn)
    return fn(keys)


def dropout(key, x, rate: float):
    """Inverted dropout: zeroes each element of ``x`` with probability ``rate``, scales the rest.

    One key draws the mask of all of ``x``. A batch of keys ``key: batch`` with a time-major
    ``x: (T, *batch, F)`` gives each row the mask its own key draws for ``x[:, row]``, so a batched
    call equals the unbatched calls row by row.

    Args:
      key: a typed PRNG key, or a batch of them (one per row of ``x``).
      x: the activations.
      rate: the probability of zeroing an element, in [0, 1]; the kept ones are scaled by
        ``1 / (1 - rate)`` (1 zeroes everything, as torch's ``p=1``).

    Examples:
      >>> dropout(jax.random.key(0), jnp.ones((1, 4)), 0.0).tolist()
      [[1.0, 1.0, 1.0, 1.0]]
    """
    if rate == 0.0:
        return x
    if rate == 1.0:  # everything dropped (torch's p=1): no division by 1 - rate
        return jnp.zeros_like(x)
    batch = tuple(range(key.ndim))
    row_shape = x.shape[:1] + x.shape[1 + key.ndim:]
    keep = _per_row(lambda k: jax.random.bernoulli(k, 1.0 - rate, row_shape), key)
    keep = jnp.moveaxis(keep, batch, tuple(i + 1 for i in batch))  # (*batch, T, F) -> (T, *batch, F)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def check_dropout(value) -> float:
    """Returns ``value`` as a float if it is a valid dropout rate, else raises naming ``dropout``.

    Args:
      value: the ``dropout`` hyperparameter of a layer or stack.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"dropout must be a float in [0, 1], got {type(value).__name__} {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"dropout must be a float in [0, 1], got {value}")
    return float(value)


def dropout_key(key, rate: float, deterministic: bool):
    """The key a call draws its dropout masks from, or ``None`` when it draws none.

    Dropout is explicit (as ``flax.linen.Dropout`` and ``equinox.nn.Dropout``): where it would act
    (``rate > 0``) a call gives a ``key`` (training) or says ``deterministic=True`` (evaluation,
    no dropout; a given key is then unused).

    Args:
      key: a PRNG key (typed, or raw ``jax.random.PRNGKey`` data; one or a batch) or ``None``.
      rate: the dropout rate that would act in this call (0 where nothing would be dropped).
      deterministic: ``True``: no dropout.

    Raises:
      ValueError: naming ``key`` when ``rate > 0``, no key is given and ``deterministic`` is False.

    Examples:
      >>> dropout_key(None, 0.5, deterministic=True) is None
      True
      >>> dropout_key(None, 0.5, deterministic=False)
      Traceback (most recent call last):
      ValueError: key is required: dropout=0.5 acts between the layers (training); pass key=jax.random.key(...), or deterministic=True to run without dropout (evaluation)
    """
    deterministic = _checks.boolean("deterministic", deterministic)
    if key is not None:
        key = _checks.prng_key("key", key, single=False)
    if deterministic or rate == 0:
        return None
    if key is None:
        raise ValueError(f"key is required: dropout={rate} acts between the layers (training); pass "
                         "key=jax.random.key(...), or deterministic=True to run without dropout (evaluation)")
    return key


@dataclasses.dataclass(frozen=True)
class Stack:
    """Layers applied one after another; layer l+1 reads layer l's outputs.

    With ``dropout > 0``, every layer's output but the last goes through dropout (layer ``l``
    draws its mask from ``jax.random.split(key, (L, 2))[l, 1]``); :meth:`apply` then needs a
    ``key``, or ``deterministic=True`` for no dropout (see :func:`dropout_key`).
    Params: a ``list`` of per-layer params; carry: a ``tuple`` of per-layer carries. Layers
    2..L that are equal (with params of equal shapes) run as one ``jax.lax.scan`` over layers,
    so compile time does not grow with depth.

    Args:
      layers: a non-empty tuple of sequence layers (:class:`Recurrent`, :class:`Bidirectional`,
        or any object of the sequence-layer protocol, see :mod:`jaxrnn.combinators`).
      dropout: the probability of zeroing each element of every layer's output but the last,
        in [0, 1], drawn from the ``key`` given to :meth:`apply` (``deterministic=True``: none).

    Examples:
      >>> net = Stack((Bidirectional(LSTMCell(8)), Bidirectional(LSTMCell(8))))
      >>> params = net.init(jax.random.key(0), 5)
      >>> net.apply(params, jnp.ones((10, 5)))[0].shape
      (10, 16)
    """

    layers: tuple
    dropout: float = 0.0

    def __post_init__(self):
        if not isinstance(self.layers, tuple) or not self.layers:
            raise TypeError(f"layers must be a non-empty tuple of sequence layers, got {self.layers!r}")
        for i, layer in enumerate(self.layers):
            _checks.sequence_layer(f"layers[{i}]", layer)
            if i < len(self.layers) - 1 and isinstance(layer, Bidirectional) and layer.merge is None:
                raise ValueError(f"layers[{i}] has merge=None: its two outputs cannot feed the next layer; "
                                 "only the last layer may have merge=None")
        check_dropout(self.dropout)

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def init(self, key, input_size: int, *, preset: str = "torch", dtype=jnp.float32) -> list:
        params = []
        for layer, k in zip(self.layers, jax.random.split(_checks.prng_key("key", key), len(self.layers))):
            params.append(layer.init(k, input_size, preset=preset, dtype=dtype))
            input_size = layer.output_size
        return params

    def initial_carry(self, dtype=jnp.float32) -> tuple:
        return tuple(layer.initial_carry(dtype) for layer in self.layers)

    def apply(self, params, xs, carry=None, *, seq_length=None, key=None, deterministic: bool = False):
        """``xs: (T, I)`` -> ``(ys: (T, output_size), per-layer carries)``.

        ``key``: one PRNG key drawing the dropout masks (training); with ``dropout > 0`` and more
        than one layer a call without a key raises unless ``deterministic=True`` (no dropout).
        """
        _checks.per_layer("params", params, len(self.layers))
        if carry is not None:
            _checks.per_layer("carry", carry, len(self.layers))
        for layer, p, c in zip(self.layers, params, carry or (None,) * len(self.layers)):
            if isinstance(layer, Bidirectional):
                layer.check(p, c)
        if key is not None:
            _checks.prng_key("key", key)  # one sequence: one key
        key = dropout_key(key, self.dropout if len(self.layers) > 1 else 0.0, deterministic)
        return self.run(scan_runner, params, xs, carry, sequence_valid(xs, seq_length), key)

    def step(self, params, x, carry=None):
        """One time step of every layer (streaming): ``x: (..., I)`` -> ``(y: (..., output_size),
        per-layer carries)``; ``carry=None`` is zeros. Running ``step`` over ``xs`` step by step
        equals :meth:`apply` (without dropout). Every layer must be a forward :class:`Recurrent`.

        Examples:
          >>> net = Stack((Recurrent(GRUCell(8)), Recurrent(LSTMCell(4))))
          >>> params = net.init(jax.random.key(0), 5)
          >>> y, carry = net.step(params, jnp.ones(5))
          >>> y.shape, carry[1].c.shape
          ((4,), (4,))
        """
        return _step_layers(self, params, x, carry)

    def run(self, runner, params, xs, carry, valid, key=None):
        """:meth:`apply` on checked arguments, with ``runner`` evaluating time (see
        :mod:`jaxrnn.combinators`); ``valid``: the valid steps, ``(T, *batch) bool`` or ``None``;
        ``key``: typed PRNG keys of the batch's shape, one per row."""
        n = len(self.layers)
        carry = (None,) * n if carry is None else tuple(carry)
        keys = None if key is None else _per_row(lambda k: jax.random.split(k, (n, 2)), key)

        def one(i, layer, p, c, x):
            k = None if keys is None else keys[..., i, 0]
            x, c = _run_layer(layer, runner, p, x, c, valid, k)
            if keys is not None and self.dropout > 0 and not (isinstance(i, int) and i == n - 1):
                x = jnp.where(i < n - 1, dropout(keys[..., i, 1], x, self.dropout), x)
            return x, c

        xs, first = one(0, self.layers[0], params[0], carry[0], xs)
        if n == 1:
            return xs, (first,)
        if n > 2 and xs.shape[-1] == self.layers[1].output_size and _scannable(self.layers[1:], params[1:], carry[1:]):
            def body(x, inp):
                p, c, i = inp
                return one(i, self.layers[1], p, c, x)

            xs, rest = jax.lax.scan(body, xs, (_stack(params[1:]), _stack(carry[1:]), jnp.arange(1, n)))
            return xs, (first,) + tuple(jax.tree.map(lambda a, k=k: a[k], rest) for k in range(n - 1))
        finals = [first]
        for i in range(1, n):
            xs, c = one(i, self.layers[i], params[i], carry[i], xs)
            finals.append(c)
        return xs, tuple(finals)


def _step_layers(stack, params, x, carry):
    """:meth:`Stack.step`'s loop (see there)."""
    n = len(stack.layers)
    _checks.per_layer("params", params, n)
    if carry is not None:
        _checks.per_layer("carry", carry, n)
    carries = (None,) * n if carry is None else tuple(carry)
    new = []
    for i, (layer, p, c) in enumerate(zip(stack.layers, params, carries)):
        if not isinstance(layer, Recurrent) or layer.reverse:
            raise ValueError(f"layers[{i}] is {layer!r}: step runs one time step forward, so every layer "
                             "must be a forward Recurrent (a bidirectional or reverse layer needs the whole "
                             "sequence; use apply)")
        if c is None:
            state = precision.policy(getattr(layer.cell, "compute_dtype", None), x, p).state
            c = jax.tree.map(lambda z, lead=x.shape[:-1]: jnp.broadcast_to(z, lead + z.shape),
                             layer.cell.initial_carry(state))
        c, x = layer.cell.apply(p, c, x)
        new.append(c)
    return x, tuple(new)


def _run_layer(layer, runner, params, xs, carry, valid, key):
    """Runs one layer of a stack: built-in layers through ``runner``, others through ``apply``
    (one sequence, from :meth:`Stack.apply`: its valid steps are a length, ``t < seq_length``)."""
    if isinstance(layer, (Recurrent, Bidirectional)):
        return layer.run(runner, params, xs, carry, valid, key)
    return layer.apply(params, xs, carry, seq_length=None if valid is None else jnp.sum(valid, 0), key=key)


def _stack(trees):
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _scannable(layers, params, carries) -> bool:
    """True if all ``layers`` are equal built-in layers with params and carries of equal shapes."""
    def shapes(tree):
        return jax.tree.structure(tree), [(a.shape, a.dtype) for a in jax.tree.leaves(tree)]

    return (len(set(layers)) == 1 and isinstance(layers[0], (Recurrent, Bidirectional))
            and all(shapes(p) == shapes(params[0]) for p in params)
            and all(shapes(c) == shapes(carries[0]) for c in carries))


def unstack(network: Stack, state) -> tuple:
    """A state stacked like torch's (the carry structure of the cells, each leaf ``(L*D, ...)``,
    pseudo-layer ``l * D + d``) -> the per-layer carries of ``network`` (pairs for
    :class:`Bidirectional` layers).

    Args:
      network: the stack whose layers the carries belong to.
      state: the stacked state, leaves ``(L*D, ...)``.

    Examples:
      >>> net = Stack((Bidirectional(GRUCell(4)),) * 2)
      >>> carries = unstack(net, jnp.zeros((4, 3, 4)))
      >>> len(carries), carries[1][0].shape
      (2, (3, 4))
    """
    carries, i = [], 0
    for layer in network.layers:
        pseudo = [jax.tree.map(lambda s, i=i + d: s[i], state) for d in range(directions(layer))]
        carries.append(tuple(pseudo) if isinstance(layer, Bidirectional) else pseudo[0])
        i += len(pseudo)
    return tuple(carries)


def restack(network: Stack, carries) -> object:
    """The inverse of :func:`unstack`: per-layer carries -> one state with leaves ``(L*D, ...)``.

    Args:
      network: the stack whose layers the carries belong to.
      carries: one carry per layer (a pair for a :class:`Bidirectional` layer).
    """
    pseudo = [c for layer, carry in zip(network.layers, carries)
              for c in (carry if isinstance(layer, Bidirectional) else (carry,))]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *pseudo)
