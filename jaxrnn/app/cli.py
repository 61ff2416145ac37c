"""The ``jaxrnn`` command: ``jaxrnn train``, ``jaxrnn sample``, ``jaxrnn summary``.

``jaxrnn train`` with no flags trains a character-level LSTM on the Python standard library's own
sources and writes a run directory (``config.json``, ``metrics.jsonl``, checkpoints, ``loss.png``);
``--resume`` continues it exactly. This entry point owns its loop, so it jits the train step.
Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import signal

_EARLY: list[int] = []  # SIGINT / SIGTERM received while this module loads, before main's handlers


def _remember(signum, frame):
    _EARLY.append(signum)


def _while_loading(handler):
    """Sets ``handler`` for SIGINT and SIGTERM (where this thread may); returns the previous ones."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler.get(sig) if isinstance(handler, dict) else handler)
        except (ValueError, TypeError):  # not the main thread, or a handler Python did not install
            pass
    return previous


_PREVIOUS = _while_loading(_remember)  # an early Ctrl-C is main's to report, never a traceback

import argparse  # noqa: E402 - after the handlers above
import contextlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from jaxrnn.app import rundir  # noqa: E402
from jaxrnn.app.config import (  # noqa: E402
    CELLS,
    CLASSIC_CELLS,
    DEFAULTS,
    KINDS,
    LIMITS,
    UsageError,
    flag,
    path_flag,
    run_config,
    shown,
)

_while_loading(_PREVIOUS)  # loaded: the handlers are the importer's again (a test's Ctrl-C works)

EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 2, 130, 141  # training returns its own (jaxrnn.app.report)
HELP = {
    "text": "UTF-8 text file to train on (default: the Python standard library's .py sources)",
    "max_chars": "characters of the default corpus to use",
    "cell": f"recurrent cell: {', '.join(CLASSIC_CELLS)} are torch-shaped layers, the others blocks of "
            "jaxrnn.blocks in residual layers (pre-norm, MLP as the family has one)",
    "hidden": "hidden size of each layer (a block's d_model)",
    "layers": "number of stacked layers",
    "seq_len": "characters per training sequence (truncated BPTT chunk)",
    "batch_size": "sequences per step (divisible by the number of devices)",
    "steps": "total number of training steps (also when resuming)",
    "lr": "Adam learning rate",
    "clip": "global gradient-norm clip",
    "seed": "seed of the initialisation, data order and samples",
    "log_every": "steps between metrics records",
    "eval_every": "steps between held-out evaluations",
    "sample_every": "steps between printed samples",
    "save_every": "steps between checkpoints (also saved at the end, on Ctrl-C and on SIGTERM)",
    "keep": "number of newest checkpoints to keep",
    "out": "run directory (not given: a new run goes to the first of runs/charlm, runs/charlm-2, ... "
           "with nothing there)",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add(p, key, *, given_only=False, **kwargs):
    """Adds ``--KEY`` with its help and default; ``given_only``: default None (so --resume can tell
    a given flag from a default one), the real default shown in the help."""
    default = DEFAULTS[key]
    if key in KINDS:
        kwargs.setdefault("type", flag(key))
    elif key in ("text", "out"):
        kwargs.setdefault("type", path_flag)
    p.add_argument(f"--{key.replace('_', '-')}", default=None if given_only else default,
                   help=f"{HELP[key]} (default: {shown(key, default)})" if key != "text" else HELP[key],
                   **kwargs)


def _model_flags(p, given_only=False):
    _add(p, "text", given_only=given_only, metavar="FILE")
    _add(p, "max_chars", given_only=given_only, metavar="N")
    _add(p, "cell", given_only=given_only, choices=CELLS)
    _add(p, "hidden", given_only=given_only, metavar="H")
    _add(p, "layers", given_only=given_only, metavar="L")


def _distributed_flags(p):
    """Multi-process (multi-host) flags; without them ``train`` uses every device of this process."""
    g = p.add_argument_group("multi-process training (every process runs the same command)")
    g.add_argument("--coordinator-address", metavar="HOST:PORT",
                   help="address of process 0, reachable from every process")
    g.add_argument("--num-processes", type=int, default=1, metavar="N", help="number of processes (default: 1)")
    g.add_argument("--process-id", type=int, default=0, metavar="I", help="0 .. N-1; 0 writes the run (default: 0)")


def _debug_flag(p):
    """``--debug`` after the subcommand too (``jaxrnn train --debug``), without overriding one
    given before it."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of an error")


def build_parser() -> argparse.ArgumentParser:
    from jaxrnn import __version__

    parser = _Parser(prog="jaxrnn", description="Train and sample character-level RNNs.")
    parser.add_argument("--version", action="version", version=f"jaxrnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train a character LM (defaults: LSTM on the stdlib)")
    _debug_flag(t)
    _model_flags(t, given_only=True)
    for key in ("seq_len", "batch_size", "steps", "lr", "clip", "seed", "log_every", "eval_every",
                "sample_every", "save_every", "keep"):
        _add(t, key, given_only=True, metavar="N" if KINDS[key] is int else "X")
    _add(t, "out", given_only=True, metavar="DIR")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--tensorboard", action="store_true",
                   help="also write the metrics as TensorBoard event files in --out/tensorboard "
                        "(needs tensorboardX: pip install 'jaxrnn[tensorboard]'; not kept by --resume)")
    _distributed_flags(t)
    s = sub.add_parser("sample", help="generate text from a trained run")
    _debug_flag(s)
    s.add_argument("--run", type=path_flag, default=DEFAULTS["out"], metavar="DIR",
                   help="run directory (default: %(default)s)")
    s.add_argument("--prime", default="def ", help="text to start from (default: %(default)r)")
    s.add_argument("--length", type=flag("length"), default=500, metavar="N",
                   help=f"characters to generate, at most {LIMITS['length']:,} (default: %(default)s)")
    s.add_argument("--temperature", type=flag("temperature"), default=0.8, metavar="T",
                   help="sampling temperature; 0 picks the most likely character (default: %(default)s)")
    s.add_argument("--seed", type=flag("seed"), default=0, metavar="N", help="sampling seed (default: %(default)s)")
    m = sub.add_parser("summary", help="print the model's parameter table for the model flags or a run")
    _debug_flag(m)
    _model_flags(m, given_only=True)
    m.add_argument("--vocab-size", type=flag("vocab_size"), default=None, metavar="V",
                   help="vocabulary size (default: counted from --text, or from the default corpus)")
    m.add_argument("--run", type=path_flag, default=None, metavar="DIR",
                   help="the model of a trained run, from its config.json (no model flags then)")
    return parser


# -- commands -----------------------------------------------------------------------------------


def cmd_train(args) -> int:
    from jaxrnn.app.signals import GuardedStream, StopSignals

    stop = StopSignals().install()  # before jax loads: no early signal is lost
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (GuardedStream(s, stop) for s in streams)  # `| head` stops, saved
    try:
        if (args.num_processes != 1 or args.process_id != 0) and args.coordinator_address is None:
            raise UsageError("--num-processes and --process-id need --coordinator-address HOST:PORT")
        if args.tensorboard:
            from jaxrnn.app import board

            board.check_installed()  # before the run directory is claimed
        if args.text is not None:  # a text that cannot be read is named before --out is claimed
            from jaxrnn.app.corpus import read_text

            read_text(os.path.abspath(args.text))
        if args.out is None and not args.resume:  # no --out: a new run never meets an old one
            args.out = rundir.unused(DEFAULTS["out"])
            if args.out != DEFAULTS["out"] and args.process_id == 0:
                print(f"jaxrnn: {DEFAULTS['out']} holds a run; this one goes to {args.out} (--out DIR "
                      f"chooses, --resume continues {DEFAULTS['out']})", file=sys.stderr)
        if args.process_id != 0:  # process 0 alone writes the run directory
            return _train_process(args, stop)
        with rundir.exclusive(args.out or DEFAULTS["out"]):
            return _train_process(args, stop)
    finally:
        sys.stdout, sys.stderr = streams
        stop.restore()


def _train_process(args, stop) -> int:
    if args.coordinator_address is not None:
        from jaxrnn.train import distributed

        distributed.initialize(args.coordinator_address, args.num_processes, args.process_id)
    if args.process_id == 0:
        return _train(args, stop)
    print(f"jaxrnn: process {args.process_id} of {args.num_processes} joined; process 0 reports "
          "and writes the run", file=sys.stderr)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        return _train(args, stop)


def _train(args, stop) -> int:
    from jaxrnn.app.start import setup

    run = setup(_given(args), resume=args.resume)  # checks flags and files before jax loads
    from jaxrnn.app.loop import train

    return train(run, stop, tensorboard=args.tensorboard)


def _given(args) -> dict:
    """The settings given as flags, by name; ``--text`` as an absolute path, so that a run
    resumes from any working directory."""
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    if "text" in given:
        given["text"] = os.path.abspath(given["text"])
    return given


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM received inside the block are held and raised again when it ends (for
    SIGINT: a KeyboardInterrupt that :func:`main` reports in one line). Around imports of jax: a
    KeyboardInterrupt inside a C extension's initialisation ends in an ImportError or a crash."""
    held: list[int] = []
    previous = _while_loading(lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        _while_loading(previous)
        if held:
            signal.raise_signal(held[0])


def cmd_sample(args) -> int:
    with _signals_held():
        import jax
        import jax.numpy as jnp

        from jaxrnn.app import charlm, corpus
        from jaxrnn.app.model import build_model, newest_state

    if not args.prime:
        raise UsageError("--prime must not be empty (sampling starts from its last character)")
    config = run_config(args.run)
    vocab = corpus.Vocab(config["vocab"])
    prime = vocab.encode(args.prime, "--prime")
    model = build_model(config, vocab.size)
    state = newest_state(args.run, model, config)
    out = jax.jit(charlm.sample, static_argnums=(0, 3))(
        model, state["params"], jnp.asarray(prime), args.length, jax.random.key(args.seed),
        args.temperature)
    print(args.prime + vocab.decode(out))
    return 0


def cmd_summary(args) -> int:
    with _signals_held():
        import jax

        from jaxrnn.app import corpus
        from jaxrnn.app.model import build_model
        from jaxrnn.app.start import load_corpus

    given = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    if args.run is not None:
        config, size, what = _run_model(args.run, given, args.vocab_size)
    elif args.vocab_size is not None:
        config = {**DEFAULTS, **given}
        size, what = args.vocab_size, "given by --vocab-size"
    else:
        config = {**DEFAULTS, **given}
        text, source = load_corpus(config)
        size, what = corpus.Vocab.from_text(text).size, f"of {source} ({len(text):,} characters)"
    model = build_model(config, size)
    print(f"vocabulary: {size} characters, {what}")
    params = jax.eval_shape(model.init, jax.random.key(0))  # shapes only: nothing is allocated
    print(model.summary(params, config["batch_size"], config["seq_len"]))
    return 0


def _run_model(run_dir: str, given: dict, vocab_size) -> tuple[dict, int, str]:
    """``(config, vocabulary size, its description)`` of the run in ``run_dir``, read from its
    ``config.json`` alone (no checkpoint is read, nothing is allocated); flags that would describe
    another model are refused."""
    extra = sorted(given) + (["vocab_size"] if vocab_size is not None else [])
    if extra:
        raise UsageError(f"--run reads the model from {run_dir}/config.json; drop "
                         f"{', '.join('--' + k.replace('_', '-') for k in extra)}")
    config = run_config(run_dir)
    return config, len(config["vocab"]), f"of the run in {run_dir}"


def main(argv=None) -> int:
    """Entry point of the ``jaxrnn`` console script; returns the exit status.

    Every error is one line on stderr (``--debug`` shows the traceback instead).
    """
    if _EARLY:  # a signal while the command loaded: nothing has been done yet
        name = "interrupted" if _EARLY[0] == signal.SIGINT else signal.Signals(_EARLY[0]).name
        print(f"jaxrnn: {name} while starting; nothing was done", file=sys.stderr)
        return 128 + _EARLY.pop(0)
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"train": cmd_train, "sample": cmd_sample, "summary": cmd_summary}
    debug = False  # a flag that cannot be parsed is a usage error, one line in any flag order
    try:
        args = build_parser().parse_args(argv)
        debug = args.debug
        status = commands[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return status
    except BrokenPipeError:  # `jaxrnn sample | head -1`: the reader is gone, as SIGPIPE would end it
        _silence_stdout()
        return EXIT_PIPE
    except (UsageError, ValueError) as e:  # DataError, CheckpointError, RunDirError are ValueErrors
        if debug:
            raise
        print(f"jaxrnn: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxrnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug or an environment problem: still one line
        if debug:
            raise
        message = str(e).splitlines()[0] if str(e) else ""
        print(f"jaxrnn: error: {type(e).__name__}: {message} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Points stdout at /dev/null, so that the interpreter's last flush into a closed pipe is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no descriptor (a test's captured stdout)
        pass


if __name__ == "__main__":
    sys.exit(main())
