"""The training loop behind ``jaxrnn train``: jitted steps, logging, evaluation, samples, checkpoints.

Step ``s`` (0-based) trains on ``corpus.batch_at(train_ids, s, ...)``; the logged ``step`` is the
number of completed updates, so a run resumed at step 10 logs exactly what an uninterrupted run
logs. Per-step keys are ``fold_in(key(seed), step)`` (update ``s`` draws its dropout masks from
``fold_in`` of step ``s``'s key with 1, see :func:`_dropout_key`). A checkpoint is saved every ``save_every``
steps (the newest ``keep`` stay) and at the end. SIGINT (Ctrl-C) and SIGTERM (what SLURM and
Kubernetes send) save a checkpoint and exit with status 128 + the signal number (130, 143); a
second one quits at once; a closed output pipe stops the run the same way (141, as SIGPIPE;
see :class:`jaxrnn.app.signals.GuardedStream`). A step whose loss, gradient norm or updated params are not finite is
never kept: training stops with status 3 and the last good checkpoint stays.

Each logged step appends one JSON line to ``metrics.jsonl``: ``step``, ``loss`` (nats per
character), ``grad_norm`` (before clipping), ``lr``, ``val_bpc`` (held-out bits per character, when
evaluated), ``wall_time`` (Unix time, seconds) and ``chars_per_s`` (training characters per second
since the run started or resumed, compilation and pauses left out; null at its first record);
with ``--tensorboard``, also TensorBoard scalars of the same names (:mod:`jaxrnn.app.board`).

Data parallel: params and optimizer state live on every device, each batch's rows (the carry's
axis 1) are split across them; in a multi-process run process 0 alone writes the run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.app import board, charlm, checkpoint, corpus, report, rundir
from jaxrnn.app.progress import Progress
from jaxrnn.app.signals import StopSignals
from jaxrnn.app.start import Setup
from jaxrnn.train import distributed, make_bptt_step

_sample = jax.jit(charlm.sample, static_argnums=(0, 3))


class Devices(NamedTuple):
    """Where a run computes: a ``data`` ``mesh`` over every device, the ``rows`` of each batch
    that this process feeds, and whether it is the ``main`` process (0, which writes the run)."""

    mesh: jax.sharding.Mesh
    rows: slice
    main: bool


def data_parallel(batch_size: int) -> Devices:
    """The :class:`Devices` of this run; prints ``devices: N``.

    In a multi-process run, waits until every process has read the run directory (config,
    checkpoint), so that process 0 may start writing it.
    """
    mesh = distributed.device_mesh()
    if batch_size % mesh.size:
        raise ValueError(f"--batch-size {batch_size} must be divisible by the number of devices "
                         f"({mesh.size})")
    rows = distributed.process_rows(batch_size, mesh)
    print(f"devices: {mesh.size}" + (f" in {jax.process_count()} processes; rows "
          f"{rows.start}:{rows.stop} of each batch are fed by this process "
          f"{jax.process_index()}" if jax.process_count() > 1 else ""), file=sys.stderr)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxrnn train: run directory read")
    return Devices(mesh, rows, jax.process_index() == 0)


def train(run: Setup, stop: StopSignals, tensorboard: bool = False) -> int:
    """Trains ``run`` (see :func:`jaxrnn.app.start.setup`) up to ``--steps``; returns the exit status.

    ``stop``: the installed :class:`StopSignals`, read before every step (by every process: one
    process that stops stops them all). ``tensorboard``: also write the metrics for TensorBoard.
    """
    config, out = run.config, run.config["out"]
    devices = data_parallel(config["batch_size"])
    metrics_path = os.path.join(out, "metrics.jsonl")
    if devices.main:  # only process 0 writes the run directory
        rundir.write_json(os.path.join(out, "config.json"), config)
        rundir.trim_metrics(metrics_path, int(run.state["step"]))
    report.started(run)
    state = _on_devices(run.state, devices)
    saved = state["step"] if run.latest is not None else None  # the newest checkpoint's step
    progress = Progress(state["step"], config["steps"], config["batch_size"] * config["seq_len"])
    try:
        with contextlib.ExitStack() as files:
            log = _recorder(files, metrics_path, state["step"], devices.main, tensorboard)
            outcome, state, saved = _loop(run, state, saved, devices, stop, progress, log)
    finally:
        progress.close()
    if outcome != report.NOT_FINITE and state["step"] != saved:
        _save(run, state, devices)
    return report.finished(out, outcome, state["step"], stop, devices.main)


def _recorder(files, metrics_path: str, start: int, main: bool, tensorboard: bool):
    """The function that keeps a metrics record, in process 0 alone: a whole, fsynced line of
    ``metrics.jsonl`` (:class:`jaxrnn.app.rundir.LineLog`) and, with ``tensorboard``, its scalars
    (:class:`jaxrnn.app.board.Board`); the files close with ``files`` (an ``ExitStack``)."""
    if not main:
        return lambda record: None
    lines = files.enter_context(rundir.append_file(metrics_path))
    scalars = files.enter_context(board.Board(os.path.dirname(metrics_path), start)) if tensorboard else None

    def keep(record: dict) -> None:
        lines.write(json.dumps(record) + "\n")
        if scalars is not None:
            scalars.write(record)

    return keep


def _loop(run, state, saved, devices, stop, progress, log):
    """Steps until ``--steps``, a stop or an update that is not finite: ``(outcome, state, saved)``.

    After :data:`~jaxrnn.app.report.NOT_FINITE`, ``state`` is the last good state, but its
    buffers were donated to the dropped update: it must not be used.
    """
    config = run.config
    step_fn = jax.jit(make_bptt_step(run.model.loss, run.optimizer, clip_norm=config["clip"]),
                      donate_argnums=(0, 1, 3))
    while state["step"] < config["steps"]:
        # The handler only ever sets its flag: a signal that lands while this process waits in
        # this collective (most of a non-writing process's time) is not overwritten.
        if distributed.any_process(stop.received is not None):  # one process stops all
            return report.INTERRUPTED, state, saved
        new, metrics = _step(step_fn, run, state, devices)
        if not bool(metrics["finite"]):  # the update is dropped: params stay the last good
            progress.write(report.not_finite(config["out"], float(metrics["loss"]), new["step"]))
            return report.NOT_FINITE, state, saved
        state = new
        _log(run, state, metrics, progress, log)
        with progress.paused():
            if _due(state["step"], config["sample_every"], config["steps"]):
                progress.write(_sample_text(run, state))
            if state["step"] % config["save_every"] == 0:
                _save(run, state, devices)
                saved = state["step"]
    return report.DONE, state, saved


def _step(step_fn, run, state, devices):
    """One update on the batch of ``state["step"]``: ``(new state, metrics)``."""
    config, rows = run.config, devices.rows
    x, y, reset = corpus.batch_at(run.train_ids, state["step"], config["batch_size"], config["seq_len"],
                                  config["seed"])
    x, y, reset = distributed.shard_batch((x[rows], y[rows], reset[rows]), devices.mesh)
    key = distributed.replicate(np.asarray(jax.random.key_data(_dropout_key(state))), devices.mesh)  # raw key data
    params, opt_state, metrics, carry = step_fn(state["params"], state["opt_state"], (x, y, key),
                                                state["carry"], reset)
    return {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1,
            "carry": carry}, metrics


def _dropout_key(state):
    """The key of the dropout masks of the update from ``state["step"]``: step ``s``'s key
    ``fold_in(key(seed), s)`` folded with 1 (the samples use step keys unfolded)."""
    step_key = jax.random.fold_in(jax.random.wrap_key_data(jnp.asarray(state["key"])), state["step"])
    return jax.random.fold_in(step_key, 1)


def _due(step: int, every: int, steps: int) -> bool:
    """Whether something done ``every`` steps is due after ``step`` (always after the last)."""
    return step % every == 0 or step == steps


def _log(run, state, metrics, progress, log) -> None:
    """Logs the step's record (with the held-out bits per character when evaluation is due)."""
    config, step, loss = run.config, state["step"], float(metrics["loss"])
    record = {"step": step, "loss": loss, "grad_norm": float(metrics["grad_norm"]), "lr": config["lr"]}
    if _due(step, config["eval_every"], config["steps"]):
        with progress.paused():
            record["val_bpc"] = charlm.bits_per_char(run.model, state["params"], run.valid_ids)
    if _due(step, config["log_every"], config["steps"]) or "val_bpc" in record:
        speed = progress.update(step, loss)
        record.update(wall_time=round(time.time(), 3), chars_per_s=None if speed is None else round(speed, 1))
        log(record)
    if "val_bpc" in record:
        progress.write(f"step {step}: held-out {record['val_bpc']:.3f} bits/char")


def _sample_text(run, state) -> str:
    """300 characters sampled at temperature 0.8 after the text's first one, framed for the log."""
    key = jax.random.fold_in(jax.random.wrap_key_data(jnp.asarray(state["key"])), state["step"])
    prime = jnp.asarray(run.vocab.encode(run.text[:1]))
    text = run.vocab.decode(_sample(run.model, state["params"], prime, 300, key, 0.8))
    return f"--- sample at step {state['step']} ---\n{text}\n---"


def _on_devices(state: dict, devices: Devices) -> dict:
    """``state`` with params and optimizer state on every device, this process's carry rows split."""
    params, opt_state = distributed.replicate((state["params"], state["opt_state"]), devices.mesh)
    carry = jax.tree.map(lambda c: np.asarray(c)[:, devices.rows], state["carry"])
    return {**state, "params": params, "opt_state": opt_state, "step": int(state["step"]),
            "carry": distributed.shard_batch(carry, devices.mesh, batch_axis=1)}


def _save(run, state, devices) -> None:
    """Saves ``state`` as the checkpoint of its step (every process takes part; process 0 writes)."""
    carry = distributed.to_host(state["carry"])
    if devices.main:
        checkpoint.save_step(run.config["out"], state["step"], {**state, "carry": carry},
                             keep=run.config["keep"])
