"""Reductions as accumulators: state, update, merge and final value, one row each.

The loop nest of a fused region declares a reduction's state before the loop
of its first reduced axis, runs `update` once per element ({v} the element,
{k} its index along the reduced axis), and stores `final` when that loop
ends. When partial states are combined (reductions over non-innermost axes,
parallel chunks), `merge` folds state {x2} into state {x}.

Float32 sums, products and log-sum-exps accumulate in float64 and round once
at the end: more accurate than numpy's pairwise float32 sum, and within 1e-5 of it.

Updates are written so LLVM can vectorize the loop around them (the helpers are
in folds.py): float sums add through `radd`, which may be reassociated; max and
min go through LLVM's NaN-propagating `maximum` / `minimum`. A long log-sum-exp
is blocked: elements are buffered ({buf}, {n} of them) and every BLOCK of them
folded at once by `lse_block` (a vectorized max, then a vectorized sum of exps);
`flush` folds the rest when the reduced elements end. The branchy per-element
update costs 8 ns an element, the blocked one 2 (1.2 of it in lse_block).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from .scalar import literal


@dataclass(frozen=True)
class Reducer:
    states: tuple          # (suffix, dtype rule, initial value rule) per state variable
    update: str            # statements; {<suffix>} names a state, {v} the element
    merge: str             # statements folding states {<suffix>2} into {<suffix>}
    final: str             # expression of the states
    flush: str = ""        # statements run when the reduced elements end (blocked reducers)


def wide(dtype):
    """Accumulator dtype for sums and products."""
    k = np.dtype(dtype).kind
    return np.dtype({"f": np.float64, "u": np.uint64}.get(k, np.int64))


def same(dtype):
    return np.dtype(dtype)


def lowest(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    return False if dtype == np.bool_ else np.iinfo(dtype).min


def highest(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.inf
    return True if dtype == np.bool_ else np.iinfo(dtype).max


def _extremum(fold, init):
    return Reducer(states=(("m", same, init),), update="{m} = %s({m}, {v})" % fold,
                   merge="{m} = %s({m}, {m2})" % fold, final="{m}")


def _arg(op):
    # the first index of the extremum; the first NaN wins over any number
    better = "{x} %s {b} or ({x} != {x} and {b} == {b})" % op
    step = "if %s:\n    {b} = {x}\n    {i} = {k}" % better
    return Reducer(states=(("b", same, lowest if op == ">" else highest),
                           ("i", lambda d: np.dtype(np.int64), lambda d: 0)),
                   update=step.replace("{x}", "{v}"),
                   merge=step.replace("{x}", "{b2}").replace("{k}", "{i2}"),
                   final="{i}")


# log-sum-exp in one pass: keep the running maximum m and s = sum(exp(x - m)).
# Ties add 1 without evaluating inf - inf; a -inf maximum leaves a count in s
# that the first finite element scales away (exp(-inf) = 0).
# ({exp} and {log} are the active math table's functions.)
_LSE_UPDATE = """if {v} > {m}:
    {s} = {s} * {exp}({m} - {v}) + 1.0
    {m} = {v}
elif {v} == {m}:
    {s} += 1.0
else:
    {s} += {exp}({v} - {m})"""
_LSE_MERGE = """if {m2} > {m}:
    {s} = {s} * {exp}({m} - {m2}) + {s2}
    {m} = {m2}
elif {m2} == {m}:
    {s} += {s2}
else:
    {s} += {s2} * {exp}({m2} - {m})"""

# the blocked form: fold a full buffer with lse_block, then merge as chunks merge
_LSE_FOLD = "{m2}, {s2} = lse_block({buf}, {n})\n" + _LSE_MERGE
_LSE_BLOCKED = ("{buf}[{n}] = {v}\n{n} += 1\nif {n} == {B}:\n"
                + textwrap.indent(_LSE_FOLD + "\n{n} = 0", "    "))

_LSE_STATES = (("m", wide, lambda d: -np.inf), ("s", wide, lambda d: 0))
REDUCERS = {
    "reduce_sum": Reducer((("s", wide, lambda d: 0),), "{s} = radd({s}, {v})", "{s} += {s2}",
                          "{s}"),
    "reduce_prod": Reducer((("p", wide, lambda d: 1),), "{p} *= {v}", "{p} *= {p2}", "{p}"),
    "reduce_max": _extremum("fmax", lowest),
    "reduce_min": _extremum("fmin", highest),
    "argmax": _arg(">"),
    "argmin": _arg("<"),
    "logsumexp": Reducer(_LSE_STATES, _LSE_UPDATE, _LSE_MERGE, "{log}({s}) + {m}"),
}
BLOCKED = {"logsumexp": Reducer(_LSE_STATES, _LSE_BLOCKED, _LSE_MERGE, "{log}({s}) + {m}",
                                flush=_LSE_FOLD)}
BLOCK = 512             # elements buffered between folds: 4 KiB, stays in L1
# Shorter reductions keep the per-element update. Measured per element, rows of L
# elements with a buffer allocated per row (as a parallel loop does): L=16 14.1 ns
# per-element vs 12.7 blocked, L=64 9.4 vs 4.3, L=512 8.1 vs 2.0.
MIN_BLOCKED = 64


def reducer(name, in_dtype, elements, math) -> Reducer:
    """The Reducer for `name` folding `elements` elements into each state (0: states
    live in arrays, unblockable). The blocked form needs float input and graphad's
    inline exp, the one lse_block calls."""
    blocked = BLOCKED.get(name)
    if (blocked and np.dtype(in_dtype).kind == "f" and elements >= MIN_BLOCKED
            and math["exp"] == "exp_f64"):
        return blocked
    return REDUCERS[name]


def state_dtypes(reducer: Reducer, in_dtype):
    return [rule(in_dtype) for _, rule, _ in reducer.states]


def initial_values(reducer: Reducer, in_dtype):
    return [literal(init(in_dtype), rule(in_dtype)) for _, rule, init in reducer.states]
