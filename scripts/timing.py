"""Timing helpers shared by the benchmark scripts: interleaved rounds and torch.nn's callables."""

from __future__ import annotations

import statistics
import time


def interleaved(calls: dict, rounds: int, warmup: int = 1) -> dict:
    """Runs every callable ``warmup`` times, then ``rounds`` rounds that each run every callable
    once (so a slow period of a shared machine hits all of them); returns ``{name: [ms, ...]}``."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return times


def median_best(times: dict) -> dict:
    """``{name: (median ms, best ms)}`` of :func:`interleaved`'s result."""
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}


def print_table(result: dict, base: str | None = None) -> None:
    """Prints :func:`median_best`'s result as a markdown table; with ``base``, a column of each
    median's ratio to that call's."""
    print("| call | median ms | best ms |" + (f" / {base} |\n|---|---|---|---|" if base else "\n|---|---|---|"))
    for name, (med, best) in result.items():
        print(f"| {name} | {med:.2f} | {best:.2f} |" + (f" {med / result[base][0]:.2f}x |" if base else ""))


def torch_rnn(cell: str, batch: int, steps: int, inputs: int, hidden: int, num_layers: int = 1,
              bidirectional: bool = False, device: str = "cpu", dtype: str = "float32"):
    """``(fwd, fwdbwd)`` callables of a time-major ``torch.nn`` RNN/LSTM/GRU on random input.

    ``fwdbwd`` back-propagates the sum of the outputs into the weights and the input.
    """
    import torch

    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "elman": torch.nn.RNN}[cell]
    tdtype = getattr(torch, dtype)
    module = kind(inputs, hidden, num_layers=num_layers, bidirectional=bidirectional).to(device=device, dtype=tdtype)
    x = torch.randn(steps, batch, inputs, device=device, dtype=tdtype)
    xg = x.clone().requires_grad_(True)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def fwd():
        with torch.no_grad():
            module(x)
        sync()

    def fwdbwd():
        module.zero_grad(set_to_none=True)
        xg.grad = None
        module(xg)[0].float().sum().backward()
        sync()

    return fwd, fwdbwd
