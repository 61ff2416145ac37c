"""The training loop behind ``jaxrnn train``: jitted steps, logging, evaluation, checkpoints.

Step ``s`` (0-based) trains on ``data.batch_at(train_ids, s, ...)``; the logged ``step`` is the
number of completed updates, so a run resumed at step 10 logs exactly what an uninterrupted run
logs. Per-step keys are ``fold_in(key(seed), step)``. Ctrl-C saves a checkpoint and exits with
status 130; a non-finite loss stops without saving (the last good checkpoint stays) with status 3.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrnn import charlm, checkpoint, data, distributed
from jaxrnn.train import make_step

BITS = charlm.BITS
VALID_FRACTION = 0.05
MAX_VALID_CHARS = 65_536


class Progress:
    """A one-line progress bar on stderr (a line per update when stderr is not a terminal)."""

    def __init__(self, total: int, chars_per_step: int):
        self.total, self.chars = total, chars_per_step
        self.tty = sys.stderr.isatty()
        self.t0, self.n0 = time.perf_counter(), None

    def update(self, step: int, loss: float) -> None:
        if self.n0 is None:  # time from the first completed step: excludes compilation
            self.t0, self.n0 = time.perf_counter(), step
            rate = 0.0
        else:
            rate = (step - self.n0) * self.chars / max(time.perf_counter() - self.t0, 1e-9)
        done = int(30 * step / self.total)
        line = (f"step {step:>6}/{self.total} [{'#' * done}{'.' * (30 - done)}] "
                f"loss {loss:.3f} ({loss * BITS:.3f} bpc) {rate / 1000:6.1f}k chars/s")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n",
              file=sys.stderr, flush=True)

    def close(self):
        if self.tty:
            print(file=sys.stderr)


def plot(run_dir: str) -> str:
    """Writes ``run_dir/loss.png`` from ``metrics.jsonl`` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
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


def _trim_metrics(path: str, last_step: int) -> None:
    """Drops records logged after ``last_step`` (an interrupted run past its last checkpoint)."""
    if not os.path.exists(path):
        return
    keep = [line for line in open(path) if json.loads(line)["step"] <= last_step]
    with open(path, "w") as f:
        f.writelines(keep)


def build_model(config, vocab_size) -> charlm.CharLM:
    return charlm.CharLM(vocab_size, config["cell"], config["hidden"], config["layers"])


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


def train(config: dict, text: str, source: str, resume: bool = False) -> int:
    """Runs ``jaxrnn train`` for a resolved ``config``; returns the exit status."""
    out = config["out"]
    vocab = data.Vocab.from_text(text)
    if config.get("vocab", vocab.chars) != vocab.chars:
        raise checkpoint.CheckpointError("--resume: the text's vocabulary differs from the run's")
    train_ids, valid_ids = data.split(vocab.encode(text), VALID_FRACTION)
    valid_ids = valid_ids[:MAX_VALID_CHARS]
    b, t = config["batch_size"], config["seq_len"]
    data.num_chunks(len(train_ids), b, t)  # raises DataError if too short
    model = build_model(config, vocab.size)
    optimizer, state = state_template(model, config)
    os.makedirs(out, exist_ok=True)
    if resume:
        latest = checkpoint.latest(out)
        if latest is None:
            raise checkpoint.CheckpointError(f"--resume: {out} has no checkpoint (ckpt-*.msgpack)")
        state = checkpoint.load(latest, state)
    mesh, main, rows = data_parallel(b)
    config = {**config, "vocab": vocab.chars, "source": source, "corpus_chars": len(text)}
    if main:  # only process 0 writes the run directory
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=1)
    metrics_path = os.path.join(out, "metrics.jsonl")
    start = int(state["step"])
    if main:
        _trim_metrics(metrics_path, start)
    print(f"corpus: {source}, {len(text):,} characters ({len(train_ids):,} train, "
          f"{len(valid_ids):,} held out), vocabulary {vocab.size}", file=sys.stderr)
    print(f"model: {model}; {sum(np.size(x) for x in jax.tree.leaves(state['params'])):,} "
          f"parameters; run directory {out}" + (f"; resuming at step {start}" if start else ""),
          file=sys.stderr)

    step_fn = jax.jit(make_step(model.loss, optimizer, clip_norm=config["clip"]),
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
            "key": jax.random.key_data(base_key), "carry": host_carry})

    # The handler only ever sets the flag: a Ctrl-C that lands while this process waits in the
    # collective below (most of a non-writing process's time) must not be overwritten by its result.
    sigint = {"seen": False}
    previous = signal.signal(signal.SIGINT, lambda *_: sigint.update(seen=True))
    interrupted = False
    progress = Progress(config["steps"], b * t)
    status, step = 0, start
    try:
        with open(metrics_path if main else os.devnull, "a") as log:
            while step < config["steps"]:
                if distributed.any_process(sigint["seen"]):  # Ctrl-C in one process stops all
                    interrupted = True
                    break
                x, y, reset = data.batch_at(train_ids, step, b, t, config["seed"])
                x, y, reset = distributed.shard_batch((x[rows], y[rows], reset[rows]), mesh)
                new = step_fn(params, opt_state, (x, y), carry, reset)
                loss = float(new[2]["loss"])
                if not math.isfinite(loss):
                    print(f"\njaxrnn: error: loss is {loss} at step {step + 1}; stopping. The last "
                          f"good checkpoint is {checkpoint.latest(out)}; try a lower --lr.",
                          file=sys.stderr)
                    status = 3
                    break
                params, opt_state, metrics, carry = new
                step += 1
                record = {"step": step, "loss": loss, "grad_norm": float(metrics["grad_norm"])}
                if step % config["eval_every"] == 0 or step == config["steps"]:
                    record["val_bpc"] = charlm.bits_per_char(model, params, valid_ids)
                if step % config["log_every"] == 0 or step == config["steps"] or "val_bpc" in record:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    progress.update(step, loss)
                if "val_bpc" in record:
                    progress.close()
                    print(f"step {step}: held-out {record['val_bpc']:.3f} bits/char", file=sys.stderr)
                if step % config["sample_every"] == 0 or step == config["steps"]:
                    key = jax.random.fold_in(base_key, step)
                    prime = jnp.asarray(vocab.encode(text[:1]))
                    progress.close()
                    print(f"--- sample at step {step} ---\n"
                          f"{vocab.decode(sample_fn(model, params, prime, 300, key, 0.8))}\n---",
                          file=sys.stderr)
                if step % config["eval_every"] == 0:
                    save(step)
    finally:
        signal.signal(signal.SIGINT, previous)
        progress.close()
    if status == 0 and step > start or interrupted:
        save(step)
    if main and os.path.exists(metrics_path) and os.path.getsize(metrics_path):
        print(f"loss curve: {plot(out)}", file=sys.stderr)
    if interrupted:
        print(f"jaxrnn: interrupted at step {step}; checkpoint saved in {out}; continue with "
              f"`jaxrnn train --out {out} --resume`", file=sys.stderr)
        return 130
    if status == 0:
        print(f"done: {step} steps; checkpoint in {out}. Try `jaxrnn sample --run {out}`",
              file=sys.stderr)
    return status
