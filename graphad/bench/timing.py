"""Timing for benchmarks: medians of interleaved rounds (A B C A B C ...).

Interleaving spreads the machine's drift (other processes, frequency changes)
over every candidate alike, so ratios taken in one run are comparable. Fast
functions are timed in batches so a round is long enough for the clock.
"""
from __future__ import annotations

import time

import numpy as np


def _calibrate(fn, target):
    """(calls per batch so one batch takes about `target` seconds, seconds per call)."""
    n, t = 1, 0.0
    while t < target and n < 1 << 20:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - start
        n *= 2
    per_call = max(t / (n // 2), 1e-9)
    return max(1, int(target / per_call)), per_call


def samples(fns: dict, rounds: int, batch_seconds=0.02, budget=None, min_rounds=1,
            pause=0.05) -> dict:
    """name -> seconds per call of `fns[name]()` in each round, batches interleaved.

    budget: seconds the rounds may take together; fewer rounds (never fewer than
    `min_rounds`) when `rounds` would exceed it. Before each batch the timer pauses
    (`pause` s: the previous batch's BLAS / OpenMP threads go idle) and, for a batch
    of several calls, makes one untimed call (this candidate's caches are warm; a
    single long call warms its own).
    """
    sizes, per_round = {}, 0.0
    for k, f in fns.items():
        sizes[k], per_call = _calibrate(f, batch_seconds)
        per_round += (sizes[k] + (sizes[k] > 1)) * per_call + pause
    if budget is not None:
        rounds = max(min_rounds, min(rounds, int(budget / per_round)))
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            n = sizes[k]
            time.sleep(pause)
            if n > 1:
                f()
            start = time.perf_counter()
            for _ in range(n):
                f()
            times[k].append((time.perf_counter() - start) / n)
    return times


def interleaved(fns: dict, rounds: int) -> dict:
    """name -> median seconds per call of `fns[name]()`, batches interleaved round by round."""
    return {k: float(np.median(v)) for k, v in samples(fns, rounds).items()}
