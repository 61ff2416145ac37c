"""The ``jaxrnn`` command: ``jaxrnn train``, ``jaxrnn sample``, ``jaxrnn summary``.

``jaxrnn train`` with no flags trains a character-level LSTM on the Python standard library's own
sources and writes a run directory (``config.json``, ``metrics.jsonl``, checkpoints, ``loss.png``);
``--resume`` continues it exactly. This entry point owns its loop, so it jits the train step.
Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys

from jaxrnn import rundir

DEFAULTS = {
    "text": None, "max_chars": 2_000_000, "cell": "lstm", "hidden": 256, "layers": 1,
    "seq_len": 64, "batch_size": 32, "steps": 1000, "lr": 3e-3, "clip": 1.0, "seed": 0,
    "log_every": 10, "eval_every": 250, "sample_every": 500, "save_every": 100, "keep": 3,
    "out": os.path.join("runs", "charlm"),
}
MODEL_KEYS = ("cell", "hidden", "layers")
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130  # the trainer returns 3 on a non-finite loss


class UsageError(Exception):
    """A bad flag, file or run directory: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _model_flags(p, defaults=True):
    d = DEFAULTS if defaults else {k: None for k in DEFAULTS}
    p.add_argument("--text", default=d["text"], metavar="FILE",
                   help="UTF-8 text file (default: the Python standard library's .py sources)")
    p.add_argument("--max-chars", type=_positive(int), default=d["max_chars"],
                   help="cap on the default corpus size (default %(default)s)")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default=d["cell"])
    p.add_argument("--hidden", type=_positive(int), default=d["hidden"], help="hidden size")
    p.add_argument("--layers", type=_positive(int), default=d["layers"])


def _distributed_flags(p):
    """Multi-process (multi-host) flags; without them ``train`` uses every device of this process."""
    g = p.add_argument_group("multi-process training (every process runs the same command)")
    g.add_argument("--coordinator-address", metavar="HOST:PORT",
                   help="address of process 0, reachable from every process")
    g.add_argument("--num-processes", type=_positive(int), default=1, metavar="N")
    g.add_argument("--process-id", type=int, default=0, metavar="I", help="0 .. N-1; 0 writes the run")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxrnn", description="Train and sample character-level RNNs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a character LM (defaults: LSTM on the stdlib)")
    _model_flags(t, defaults=False)  # None = not given, so --resume can tell what was overridden
    for flag, kind in [("--seq-len", int), ("--batch-size", int), ("--steps", int),
                       ("--lr", float), ("--clip", float), ("--log-every", int),
                       ("--eval-every", int), ("--sample-every", int), ("--save-every", int),
                       ("--keep", int)]:
        t.add_argument(flag, type=_positive(kind), default=None,
                       help=f"default {DEFAULTS[flag[2:].replace('-', '_')]}")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--out", default=None, metavar="DIR", help=f"run directory ({DEFAULTS['out']})")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    _distributed_flags(t)
    s = sub.add_parser("sample", help="generate text from a trained run")
    s.add_argument("--run", default=DEFAULTS["out"], metavar="DIR")
    s.add_argument("--prime", default="def ", help="text to start from (default %(default)r)")
    s.add_argument("--length", type=_positive(int), default=500)
    s.add_argument("--temperature", type=_positive(float), default=0.8)
    s.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("summary", help="print the model table for the model flags")
    _model_flags(m)
    return parser


# -- run configuration -------------------------------------------------------------------------


def train_config(args) -> dict:
    """The run's configuration: defaults, then the saved config (``--resume``), then given flags."""
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    out = given.get("out", DEFAULTS["out"])
    config_path = os.path.join(out, "config.json")
    if args.resume:
        saved = rundir.read_json(config_path)
        for key in MODEL_KEYS + ("text", "max_chars", "seq_len", "batch_size", "seed"):
            if key in given and given[key] != saved.get(key):
                raise UsageError(f"--resume: --{key.replace('_', '-')} {given[key]} does not match "
                                 f"the run's {saved.get(key)}")
        return {**DEFAULTS, **saved, **given}
    if os.path.exists(config_path):
        raise UsageError(f"{out} already holds a run; use --resume to continue it or --out NEW_DIR")
    return {**DEFAULTS, **given}


def load_corpus(config):
    """``(text, description)`` for the config's ``--text`` or the default corpus."""
    from jaxrnn import data

    if config["text"] is not None:
        return data.read_text(config["text"]), config["text"]
    text = data.default_corpus(config["max_chars"])
    return text, f"Python {sys.version_info.major}.{sys.version_info.minor} stdlib sources"


def load_run(run_dir, model, config):
    from jaxrnn import checkpoint
    from jaxrnn.trainer import state_template

    optimizer, template = state_template(model, config)
    path = checkpoint.latest(run_dir)
    if path is None:
        raise checkpoint.CheckpointError(f"{run_dir}: no checkpoint (ckpt-*.msgpack) found")
    return optimizer, checkpoint.load(path, template)


# -- commands -----------------------------------------------------------------------------------


def cmd_train(args) -> int:
    from jaxrnn.signals import StopSignals

    stop = StopSignals().install()  # before jax loads: no early signal is lost
    try:
        if args.num_processes != 1 or args.process_id != 0:
            if args.coordinator_address is None:
                raise UsageError("--num-processes and --process-id need --coordinator-address HOST:PORT")
        if args.process_id != 0:  # process 0 alone writes the run directory
            return _train_process(args, stop)
        with rundir.exclusive(args.out or DEFAULTS["out"]):
            return _train_process(args, stop)
    finally:
        stop.restore()


def _train_process(args, stop) -> int:
    from jaxrnn.trainer import train

    if args.coordinator_address is not None:
        from jaxrnn import distributed

        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    config = train_config(args)
    text, source = load_corpus(config)
    if args.process_id == 0:
        return train(config, text, source, resume=args.resume, stop=stop)
    print(f"jaxrnn: process {args.process_id} of {args.num_processes} joined; process 0 reports "
          "and writes the run", file=sys.stderr)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        return train(config, text, source, resume=args.resume, stop=stop)


def cmd_sample(args) -> int:
    import jax
    import jax.numpy as jnp

    from jaxrnn import charlm, data
    from jaxrnn.trainer import build_model

    config = rundir.read_json(os.path.join(args.run, "config.json"))
    vocab = data.Vocab(config["vocab"])
    model = build_model(config, vocab.size)
    _, state = load_run(args.run, model, config)
    if not args.prime:
        raise UsageError("--prime must not be empty")
    prime = vocab.encode(args.prime, "--prime")
    out = jax.jit(charlm.sample, static_argnums=(0, 3))(
        model, state["params"], jnp.asarray(prime), args.length, jax.random.key(args.seed),
        args.temperature)
    print(args.prime + vocab.decode(out))
    return 0


def summary_table(model, params, batch_size: int, seq_len: int) -> str:
    """The recurrent part's :func:`jaxrnn.summary` table framed by the embedding and the head."""
    import jaxrnn

    count = jaxrnn.param_count
    return "\n".join([
        f"embedding: ({model.vocab_size}, {model.embed_size}), {count(params['embed']):,} params",
        jaxrnn.summary(model.rnn, params["rnn"], (batch_size, seq_len, model.embed_size)),
        f"head (linear): ({model.hidden_size} -> {model.vocab_size}), {count(params['head']):,} params",
        f"Total params (embedding + recurrent + head): {count(params):,}",
    ])


def cmd_summary(args) -> int:
    import jax

    from jaxrnn import data
    from jaxrnn.trainer import build_model

    config = {**DEFAULTS, **{k: v for k, v in vars(args).items() if k in DEFAULTS}}
    text, source = load_corpus(config)
    vocab = data.Vocab.from_text(text)
    model = build_model(config, vocab.size)
    print(f"corpus: {source}, {len(text):,} characters, vocabulary {vocab.size}")
    print(summary_table(model, model.init(jax.random.key(0)), config["batch_size"], config["seq_len"]))
    return 0


def main(argv=None) -> int:
    """Entry point of the ``jaxrnn`` console script; returns the exit status."""
    commands = {"train": cmd_train, "sample": cmd_sample, "summary": cmd_summary}
    try:
        args = build_parser().parse_args(argv)
        return commands[args.command](args)
    except (UsageError, ValueError) as e:  # DataError, CheckpointError, RunDirError are ValueErrors
        print(f"jaxrnn: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxrnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
