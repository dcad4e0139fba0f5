"""A fused graph -> the Python source of one Numba-compiled function.

The function takes the graph's inputs (then any array constants) and returns
a tuple of its outputs. Each IR equation appears as a comment above its code,
named as `print(graph)` names it, so a reader can follow what was compiled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir import Graph
from ...ir.printer import format_node, var_names
from . import arrays, scalar
from .loops import PARALLEL_WORK, Region

HEADER = '''"""graphad kernel: generated code, do not edit (see graphad.backends.numba)."""
import math

import numpy as np
from numba import njit, prange

from graphad.backends.numba.runtime import *  # noqa: F403  (helpers: as_scalar, ipow, ...)
'''


@dataclass
class Options:
    parallel_work: int = PARALLEL_WORK     # work above which a region runs in parallel
    serial: bool = False                   # never use prange
    libm: bool = False                     # the C library's exp, ... instead of inline ones

    def text(self) -> str:
        return f"parallel_work={self.parallel_work} serial={self.serial} libm={self.libm}"


@dataclass
class Kernel:
    """What `generate` returns: source, array constants to pass, output facts."""
    source: str
    constants: list = field(default_factory=list)
    parallel: bool = False
    out_index: list = field(default_factory=list)   # output k is result out_index[k]


class Context:
    """Names and kernel-wide state shared by the lowerings of one graph."""

    def __init__(self, graph: Graph, options: Options):
        self.printed = var_names(graph)             # every var named as print(graph) names it
        self.options = options
        self.serial = options.serial
        self.parallel_work = options.parallel_work
        self.math = scalar.LIBM if options.libm else scalar.INLINE
        self.constants = []
        self.parallel = False                       # any region uses prange
        self.regions = 0

    def next_region(self) -> int:
        self.regions += 1
        return self.regions - 1

    def ident(self, var) -> str:
        return "v_" + self.printed[var]

    def equation(self, node) -> str:
        return format_node(node, self.printed.__getitem__)

    def constant(self, value) -> str:
        """A kernel argument holding an array constant (values stay out of the source)."""
        for i, c in enumerate(self.constants):
            if c is value:
                return f"k_{i}"
        self.constants.append(value)
        return f"k_{len(self.constants) - 1}"


def emit(nodes, names, ctx) -> list:
    """Lines computing `nodes`; `names` maps vars to Python names (filled in as we go)."""
    lines = []
    for node in nodes:
        for v in node.outputs:
            names.setdefault(v, ctx.ident(v))
        lines.append("")
        lines.append(f"# {ctx.equation(node)}")
        if node.prim.name == "fused":
            region = Region(node, names, ctx, ctx.next_region())
            ctx.parallel |= region.mode != "serial"
            lines += region.emit()
        elif node.prim.name in CONTROL:
            lines += CONTROL[node.prim.name](node, names, ctx)
        else:
            outs = [names[v] for v in node.outputs]
            lines += arrays.LOWERINGS[node.prim.name](
                node, [names[v] for v in node.inputs],
                outs if node.prim.multiple_results else outs[0], ctx)
    return lines


def _inline(graph, args, names, ctx):
    """Lines evaluating sub-graph `graph` on the Python names `args`; its outputs' names."""
    for v, a in zip(graph.inputs, args):
        names[v] = a
    return emit(graph.nodes, names, ctx), [names[v] for v in graph.outputs]


def _assign(targets, values):
    if not targets:
        return []
    return [f"({', '.join(targets)},) = ({', '.join(values)},)"]


def cond(node, names, ctx):
    """`if pred:` the true branch `else:` the false one, both inline."""
    pred, *operands = (names[v] for v in node.inputs)
    outs = [names[v] for v in node.outputs]
    lines = []
    for head, key in ((f"if {pred}:", "true_branch"), ("else:", "false_branch")):
        body, results = _inline(node.attrs[key], operands, names, ctx)
        lines.append(head)
        branch = body + _assign(outs, results) or ["pass"]
        lines += ["    " + line if line else "" for line in branch]
    return lines


def while_(node, names, ctx):
    """`while True:` the condition graph, `break` when false, then the body graph."""
    n = node.attrs["n_carry"]
    args = [names[v] for v in node.inputs]
    carry, consts = [names[v] for v in node.outputs], args[n:]
    lines = _assign(carry, args[:n]) + ["while True:"]
    test, (flag,) = _inline(node.attrs["cond_graph"], carry + consts, names, ctx)
    body, results = _inline(node.attrs["body_graph"], carry + consts, names, ctx)
    inner = test + [f"if not {flag}:", "    break"] + body + _assign(carry, results)
    return lines + ["    " + line if line else "" for line in inner]


CONTROL = {"cond": cond, "while": while_}


def generate(graph: Graph, options: Options | None = None) -> Kernel:
    options = options or Options()
    ctx = Context(graph, options)
    names = {}
    lines = []
    for v in graph.inputs:
        names[v] = ctx.ident(v)
        if not v.shape:
            lines.append(f"{names[v]} = as_scalar({names[v]})")
    lines += emit(graph.nodes, names, ctx)
    produced = {v: n.prim.name for n in graph.nodes for v in n.outputs}
    results, out_index = [], []
    for v in graph.outputs:             # each distinct output once; callers map them back
        fresh = produced.get(v) in arrays.FRESH or not v.shape
        text = names[v] if fresh else f"{names[v]}.copy()"
        if text not in results:
            results.append(text)
        out_index.append(results.index(text))
    lines += ["", f"return ({', '.join(results)}{',' if len(results) == 1 else ''})"]
    params = [names[v] for v in graph.inputs] + [f"k_{i}" for i in range(len(ctx.constants))]
    decorator = (f"@njit(cache=True, parallel={ctx.parallel}, error_model='numpy', nogil=True)"
                 f"  # {options.text()}")
    source = "\n".join([HEADER, "", decorator, f"def kernel({', '.join(params)}):"]
                       + ["    " + line if line else "" for line in lines]) + "\n"
    return Kernel(source, ctx.constants, ctx.parallel, out_index)
