"""Deciding what a picture of a large graph leaves out.

A graph is seen as a sequence of *units* (drawn operations, those inside fused
regions in place) in program order, each with a key (operation, type, phase,
region).
Traced loops and their adjoints show up as periodic runs of keys: those are
drawn once at the start and once at the end, with the repetitions in between
folded into one box. If that is not enough, consecutive units are grouped into
blocks. Either way the caller gets `unit -> box` plus a description per box.
"""
from __future__ import annotations

import math
from collections import Counter

MAX_PERIOD = 48     # longest repeated pattern looked for, in units
MIN_REPS = 4        # a run must repeat this often: first and last stay, >= 2 fold away


def periodic_runs(keys, max_period=MAX_PERIOD, min_reps=MIN_REPS):
    """Greedy, left to right: (start, period, reps) for runs where
    `keys[j] == keys[j + period]` over `reps` whole periods."""
    runs, i, n = [], 0, len(keys)
    while i < n:
        best = None
        for p in range(1, min(max_period, (n - i) // min_reps) + 1):
            j = i + p
            while j < n and keys[j] == keys[j - p]:
                j += 1
            reps = (j - i) // p
            if reps >= min_reps and (best is None or reps * p > best[0] * best[1]):
                best = (p, reps)
        if best:
            runs.append((i, *best))
            i += best[0] * best[1]
        else:
            i += 1
    return runs


class Box:
    """Units drawn as one node; `text` says what was folded into it."""

    def __init__(self, text, units):
        self.text = text
        self.units = units


def fold_repeats(keys, ops):
    """Boxes for the middle repetitions of every periodic run.

    `ops[u]` names unit u's operation. Returns (unit -> box index, boxes)."""
    where, boxes = {}, []
    for start, period, reps in periodic_runs(keys):
        hidden = range(start + period, start + (reps - 1) * period)
        pattern = " → ".join(ops[u] for u in range(start, start + period))
        if len(pattern) > 60:
            pattern = pattern[:57] + "..."
        text = f"{reps - 2} more repetitions of\n{pattern}"
        boxes.append(Box(text, list(hidden)))
        where.update((u, len(boxes) - 1) for u in hidden)
    return where, boxes


def fold_blocks(ops, groups, target):
    """Group consecutive units into about `target` blocks; a block never spans two
    groups (phase, region), so its colour and place stay right."""
    size = max(1, math.ceil(len(ops) / max(1, target)))
    where, boxes, block = {}, [], []

    def close():
        if block:
            hist = Counter(ops[u] for u in block).most_common(4)
            text = (f"{len(block)} {groups[block[0]][0]} nodes\n"
                    + ", ".join(f"{n} {op}" for op, n in hist))
            boxes.append(Box(text, list(block)))
            where.update((u, len(boxes) - 1) for u in block)
            block.clear()

    for u in range(len(ops)):
        if block and (len(block) >= size or groups[u] != groups[block[0]]):
            close()
        block.append(u)
    close()
    return where, boxes
