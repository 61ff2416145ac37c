"""The training loop behind ``jaxrnn train``: jitted steps, logging, evaluation, checkpoints.

Step ``s`` (0-based) trains on ``data.batch_at(train_ids, s, ...)``; the logged ``step`` is the
number of completed updates, so a run resumed at step 10 logs exactly what an uninterrupted run
logs. Per-step keys are ``fold_in(key(seed), step)``. A checkpoint is saved every ``save_every``
steps (the newest ``keep`` stay) and at the end. SIGINT (Ctrl-C) and SIGTERM (what SLURM and
Kubernetes send) save a checkpoint and exit with status 128 + the signal number (130, 143); a
second one quits at once; a closed output pipe stops the run the same way (141, as SIGPIPE;
see :class:`jaxrnn.app.signals.GuardedStream`). A step whose loss, gradient norm or updated params are not finite is
never kept: training stops with status 3 and the last good checkpoint stays.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrnn.app import charlm

from jaxrnn.app import checkpoint

from jaxrnn.app import corpus as data

from jaxrnn.train import distributed

from jaxrnn.app import rundir
from jaxrnn.app.progress import Progress
from jaxrnn.app.signals import StopSignals
from jaxrnn.train import make_bptt_step

BITS = charlm.BITS
VALID_FRACTION = 0.05
MAX_VALID_CHARS = 65_536


def plot(run_dir: str) -> str:
    """Writes ``run_dir/loss.png`` from ``metrics.jsonl`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rundir.read_metrics(os.path.join(run_dir, "metrics.jsonl"))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] * BITS for r in rows], label="train")
    val = [r for r in rows if "val_bpc" in r]
    if val:
        ax.plot([r["step"] for r in val], [r["val_bpc"] for r in val], "o-", label="held-out")
    ax.set(xlabel="step", ylabel="bits per character", title="jaxrnn train")
    ax.legend()
    ax.grid(alpha=0.3)
    path = os.path.join(run_dir, "loss.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def build_model(config, vocab_size) -> charlm.CharLM:
    """The run's model; refuses one whose params would not fit (``runconfig.MAX_PARAMS``)."""
    from jaxrnn.app.config import MAX_PARAMS

    model = charlm.CharLM(vocab_size, config["cell"], config["hidden"], config["layers"])
    shapes = jax.eval_shape(model.init, jax.random.key(0))  # nothing is allocated
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes))
    if count > MAX_PARAMS:
        raise ValueError(f"the model would have {count:,} parameters ({12 * count / 1e9:.0f} GB with "
                         f"Adam's state), more than the {MAX_PARAMS:,} jaxrnn train allows; "
                         "lower --hidden or --layers")
    return model


def state_template(model, config):
    """``(optimizer, state)``: the checkpointed state freshly initialised (``checkpoint.load``'s template)."""
    params = model.init(jax.random.key(config["seed"]))
    optimizer = optax.adam(config["lr"])
    return optimizer, {
        "params": params, "opt_state": optimizer.init(params), "step": 0,
        "key": jax.random.key_data(jax.random.key(config["seed"])),
        "carry": model.initial_state(config["batch_size"]),
    }


def data_parallel(batch_size: int):
    """``(mesh, is_process_0, rows)``: a ``data`` mesh over every device and this process's rows.

    Prints ``devices: N``. In a multi-process run, waits until every process has read the run
    directory (config, checkpoint), so that process 0 may start writing it.
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
    return mesh, jax.process_index() == 0, rows


def train(config: dict, text: str, source: str, resume: bool = False, stop: StopSignals | None = None) -> int:
    """Runs ``jaxrnn train`` for a resolved ``config``; returns the exit status.

    ``stop``: the installed :class:`StopSignals` (installed and restored here if ``None``).
    """
    own = stop is None
    stop = stop.install() if own else stop
    try:
        return _train(config, text, source, resume, stop)
    finally:
        if own:
            stop.restore()


def _train(config, text, source, resume, stop) -> int:
    out = config["out"]
    vocab = data.Vocab.from_text(text)
    if config.get("vocab", vocab.chars) != vocab.chars:
        raise checkpoint.CheckpointError("--resume: the text's vocabulary differs from the run's")
    train_ids, valid_ids = data.split(vocab.encode(text), VALID_FRACTION)
    valid_ids = valid_ids[:MAX_VALID_CHARS]
    if len(valid_ids) < 2:
        raise data.DataError(f"the text is too short: {len(text)} characters leave {len(valid_ids)} "
                             f"for the held-out split ({VALID_FRACTION:.0%}); it needs at least 2")
    b, t = config["batch_size"], config["seq_len"]
    data.num_chunks(len(train_ids), b, t)  # raises DataError if too short
    model = build_model(config, vocab.size)
    optimizer, state = state_template(model, config)
    latest, loaded = checkpoint.load_latest(out, state) if resume else (None, None)
    if latest is not None:
        state = loaded
    elif resume:
        print(f"{out} has no checkpoint yet: starting at step 0 with its config", file=sys.stderr)
    start = int(state["step"])
    if not 0 <= start <= config["steps"]:
        raise checkpoint.CheckpointError(
            f"--steps {config['steps']} is below the run's step {start} (--steps is the total number of "
            f"steps; ask for more than {start} to continue)" if start > 0 else
            f"checkpoint {latest}: step {start} is negative")
    mesh, main, rows = data_parallel(b)
    config = {**config, "vocab": vocab.chars, "source": source, "corpus_chars": len(text)}
    metrics_path = os.path.join(out, "metrics.jsonl")
    if main:  # only process 0 writes the run directory
        rundir.write_json(os.path.join(out, "config.json"), config)
        rundir.trim_metrics(metrics_path, start)
    print(f"corpus: {source}, {len(text):,} characters ({len(train_ids):,} train, "
          f"{len(valid_ids):,} held out), vocabulary {vocab.size}", file=sys.stderr)
    print(f"model: {model}; {sum(np.size(x) for x in jax.tree.leaves(state['params'])):,} "
          f"parameters; run directory {out}" + (f"; resuming at step {start}" if start else ""),
          file=sys.stderr)

    step_fn = jax.jit(make_bptt_step(model.loss, optimizer, clip_norm=config["clip"]),
                      donate_argnums=(0, 1, 3))
    sample_fn = jax.jit(charlm.sample, static_argnums=(0, 3))
    base_key = jax.random.wrap_key_data(jnp.asarray(state["key"]))
    # Data parallel: params and optimizer state on every device, the carry's rows (axis 1) split.
    params, opt_state = distributed.replicate((state["params"], state["opt_state"]), mesh)
    carry = distributed.shard_batch(jax.tree.map(lambda c: np.asarray(c)[:, rows], state["carry"]),
                                    mesh, batch_axis=1)

    def save(step):
        host_carry = distributed.to_host(carry)  # every process takes part; process 0 writes
        return main and checkpoint.save_step(out, step, {
            "params": params, "opt_state": opt_state, "step": step,
            "key": jax.random.key_data(base_key), "carry": host_carry}, keep=config["keep"])

    interrupted = False
    progress = Progress(start, config["steps"], b * t)
    status, step, saved = 0, start, start
    have_checkpoint = latest is not None  # the same on every process (a resumed run needs a shared --out)
    try:
        with open(metrics_path if main else os.devnull, "a") as log:
            while step < config["steps"]:
                # The handler only ever sets its flag: a signal that lands while this process waits
                # in this collective (most of a non-writing process's time) is not overwritten.
                if distributed.any_process(stop.received is not None):  # one process stops all
                    interrupted = True
                    break
                x, y, reset = data.batch_at(train_ids, step, b, t, config["seed"])
                x, y, reset = distributed.shard_batch((x[rows], y[rows], reset[rows]), mesh)
                new = step_fn(params, opt_state, (x, y), carry, reset)
                loss = float(new[2]["loss"])
                if not bool(new[2]["finite"]):  # the update is dropped: params stay the last good
                    what = f"loss is {loss}" if not math.isfinite(loss) else "the update is not finite"
                    good = checkpoint.latest(out)
                    good = f"the last good checkpoint is {good}" if good else "no checkpoint was saved before it"
                    progress.write(f"jaxrnn: error: {what} at step {step + 1}; stopping ({good}). Try a "
                                   f"lower rate: `jaxrnn train --out {out} --resume --lr X`")
                    status = 3
                    break
                params, opt_state, metrics, carry = new
                step += 1
                record = {"step": step, "loss": loss, "grad_norm": float(metrics["grad_norm"])}
                with progress.paused():
                    if step % config["eval_every"] == 0 or step == config["steps"]:
                        record["val_bpc"] = charlm.bits_per_char(model, params, valid_ids)
                if step % config["log_every"] == 0 or step == config["steps"] or "val_bpc" in record:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    progress.update(step, loss)
                if "val_bpc" in record:
                    progress.write(f"step {step}: held-out {record['val_bpc']:.3f} bits/char")
                with progress.paused():
                    if step % config["sample_every"] == 0 or step == config["steps"]:
                        key = jax.random.fold_in(base_key, step)
                        prime = jnp.asarray(vocab.encode(text[:1]))
                        progress.write(f"--- sample at step {step} ---\n"
                                       f"{vocab.decode(sample_fn(model, params, prime, 300, key, 0.8))}\n---")
                    if step % config["save_every"] == 0:
                        save(step)
                        saved, have_checkpoint = step, True
    finally:
        progress.close()
    if (status == 0 or interrupted) and (step > saved or not have_checkpoint):
        save(step)
    if main and os.path.exists(metrics_path) and os.path.getsize(metrics_path):
        print(f"loss curve: {plot(out)}", file=sys.stderr)
    if interrupted:
        what = "interrupted" if stop.received in (None, signal.SIGINT) else signal.Signals(stop.received).name
        print(f"jaxrnn: {what} at step {step}; checkpoint saved in {out}; continue with "
              f"`jaxrnn train --out {out} --resume`", file=sys.stderr)
        return stop.exit_status if stop.received is not None else 130
    if status == 0:
        print(f"done: {step} steps; checkpoint in {out}. Try `jaxrnn sample --run {out}`",
              file=sys.stderr)
    return status
