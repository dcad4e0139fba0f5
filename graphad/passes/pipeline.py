"""The optimization pipeline: an explicit tuple of passes run to a fixpoint.

Each pass is a pure function `Graph -> Graph` (it returns its input unchanged
when it has nothing to do) that counts what it did in a `hits` Counter: rule
names for the rewrite passes, "fold"/"splat" for constant folding, "cse" for
merged nodes, "dce" for removed ones, "hoist" for nodes moved out of loops
(hoist.py lists its other counts). The passes run in order, round after round,
until a whole round changes nothing (at most MAX_ROUNDS rounds). Every
application is recorded: pass, round, node counts before and after, seconds,
and its hits.

The passes, in default order:
  fold       constant folding (fold.py; size caps stated there)
  simplify   ALGEBRA rules, IEEE-safe (simplify.py)
  stabilize  STABILIZE rules, accuracy-improving (stabilize.py)
  cse        common-subexpression elimination (cse.py)
  dce        dead-code elimination (dce.py)
  hoist      loop-invariant code out of `while` loops (hoist.py)
and, off by default, `unsafe` (fast-math identities, unsafe.py).

`passes=()` turns optimization off; `passes=without("stabilize")` keeps the
default pipeline minus stabilization; any tuple of names picks passes one by one.
"""
from __future__ import annotations

import gc
import time
from collections import Counter
from contextlib import contextmanager

from ..errors import GraphadError
from ..ir import Graph
from .cse import cse
from .dce import dce
from .fold import fold
from .hoist import hoist
from .simplify import simplify
from .stabilize import stabilize
from .unsafe import unsafe

PASSES = {"fold": fold, "simplify": simplify, "stabilize": stabilize, "cse": cse, "dce": dce,
          "hoist": hoist, "unsafe": unsafe}
DEFAULT_PASSES = ("fold", "simplify", "stabilize", "cse", "dce", "hoist")
MAX_ROUNDS = 8


def without(*names) -> tuple:
    """The default pipeline minus the named passes, e.g. `without("stabilize")`."""
    _check(names)
    return tuple(p for p in DEFAULT_PASSES if p not in names)


def _check(names):
    unknown = [p for p in names if p not in PASSES]
    if unknown:
        raise GraphadError(f"unknown optimization pass {unknown[0]!r}; the passes are "
                           f"{', '.join(PASSES)} (default: {', '.join(DEFAULT_PASSES)})")


@contextmanager
def _no_gc_pauses():
    """Passes allocate many small acyclic objects; CPython's cycle collector would
    rescan the whole heap again and again (6.1 s instead of 4.7 s on a 100k-node
    graph). Reference counting frees everything they drop, so pause it meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def optimize(graph: Graph, passes=None):
    """(optimized graph, records). `passes` names the passes to run, in order;
    None means DEFAULT_PASSES."""
    if passes is None:
        passes = DEFAULT_PASSES
    elif isinstance(passes, str):
        passes = (passes,)
    passes = tuple(passes)
    _check(passes)
    records = []
    if not passes:
        return graph, records
    with _no_gc_pauses():
        return _run(graph, passes, records)


def _run(graph, passes, records):
    unchanged = 0                   # consecutive applications that changed nothing
    for step in range(MAX_ROUNDS * len(passes)):
        name = passes[step % len(passes)]
        hits = Counter()
        before = graph.count_nodes()
        t0 = time.perf_counter()
        new = PASSES[name](graph, hits)
        seconds = time.perf_counter() - t0
        records.append({"pass": name, "round": step // len(passes), "before": before,
                        "after": new.count_nodes(), "seconds": seconds, "hits": dict(hits)})
        unchanged = unchanged + 1 if new is graph else 0
        graph = new
        if unchanged == len(passes):
            break
    return graph, records


def total_hits(records) -> Counter:
    """Hits summed over all records of one pipeline run."""
    total = Counter()
    for r in records:
        total.update(r.get("hits", {}))
    return total
