"""Timing for benchmarks: medians of interleaved rounds (A B C A B C ...).

Interleaving spreads the machine's drift (other processes, frequency changes)
over every candidate alike, so ratios taken in one run are comparable. Fast
functions are timed in batches so a round is long enough for the clock.
"""
from __future__ import annotations

import time

import numpy as np


def calls_per_batch(fn, target=0.02) -> int:
    """Calls per batch so that one batch takes about `target` seconds (1 for slow fns)."""
    n, t = 1, 0.0
    while t < target and n < 1 << 20:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - start
        n *= 2
    return max(1, int(n / 2 * target / max(t, 1e-9)))


def interleaved(fns: dict, rounds: int) -> dict:
    """name -> median seconds per call of `fns[name]()`, batches interleaved round by round."""
    sizes = {k: calls_per_batch(f) for k, f in fns.items()}
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            n = sizes[k]
            time.sleep(0.05)     # let the previous batch's BLAS / OpenMP threads go idle
            f()                  # and warm this one's caches
            start = time.perf_counter()
            for _ in range(n):
                f()
            times[k].append((time.perf_counter() - start) / n)
    return {k: float(np.median(v)) for k, v in times.items()}
