"""A fused graph -> the Python source of one Numba-compiled function.

The function takes the graph's inputs, then any array constants, then its
workspace, and returns a tuple of its outputs. Each IR equation appears as a
comment above its code, named as `print(graph)` names it, so a reader can
follow what was compiled.

Workspace: a large array that a top-level node fills and the kernel does not
return is a parameter, not a fresh array; the executable allocates it once per
thread and passes it to every call. Fresh multi-megabyte buffers cost page faults
(about 2.3 us per 4 KiB page) whenever malloc hands their memory back to the
system between calls, which it does once several large buffers are freed
together. Only top-level nodes qualify: inside a loop body a buffer would be
rewritten while an earlier trip's value (the carry) still points at it.

Loop bodies: an array no later trip reads gets one buffer, made before the loop
and rewritten each trip; when a trip computes all the arrays it carries afresh,
each of those gets two buffers used in turn (`Scope`). Small matrix products run
as loops (arrays.SMALL_DOT), one a gradient sums over trips straight into the sum.
A 1,000-step RNN gradient spent most of its time allocating, calling BLAS for
32x32 products and summing temporaries.
"""
from __future__ import annotations

import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ...ir import Graph
from ...ir.printer import format_node, var_names
from . import arrays, rowblock, scalar
from .alloc import array_text
from .loops import PARALLEL_WORK, Region

# Arrays from this size up are workspace. Measured here: a kernel with four fresh
# 512 KiB intermediates faulted on every page of them each call (5x slower), with four
# of 256 KiB it did not; smaller ones come from malloc's free lists. A workspace costs
# the call ~40 ns of Numba dispatch per array, plus ~130 ns for the per-thread lookup.
WORKSPACE_BYTES = 1 << 16

HEADER = '''"""graphad kernel: generated code, do not edit (see graphad.backends.numba)."""
import math

import numpy as np
from numba import njit, prange

from graphad.backends.numba.alloc import empty_array, zeros_array
from graphad.backends.numba.folds import *  # noqa: F403  (reductions: radd, fmax, ...)
from graphad.backends.numba.runtime import *  # noqa: F403  (helpers: as_scalar, ipow, ...)
'''


@dataclass
class Options:
    parallel_work: int = PARALLEL_WORK     # work above which a region runs in parallel
    serial: bool = False                   # never use prange
    libm: bool = False                     # the C library's exp, ... instead of inline ones
    workspace_bytes: int | None = WORKSPACE_BYTES   # None: allocate every array each call

    def text(self) -> str:
        return (f"parallel_work={self.parallel_work} serial={self.serial} libm={self.libm} "
                f"workspace_bytes={self.workspace_bytes}")


@dataclass
class Kernel:
    """What `generate` returns: source, array constants to pass, output facts."""
    source: str
    constants: list = field(default_factory=list)
    parallel: bool = False
    out_index: list = field(default_factory=list)   # output k is result out_index[k]
    workspace: list = field(default_factory=list)   # (shape, dtype) of each workspace parameter
    interleave: int = 1                             # compile with interleave.forced(this)


@dataclass
class Scope:
    """A loop being emitted. Arrays of its `local` nodes get one buffer made before the
    loop (`_trip_local`); those of its `alternating` nodes two, used in turn
    (`_alternating`): `lines` make them, `swaps` end each trip."""
    local: set
    alternating: set
    lines: list = field(default_factory=list)
    swaps: list = field(default_factory=list)


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
        self.interleave = 1                         # LLVM interleave count (interleave.py)
        self.regions = 0
        self.used = _used(graph)                    # vars read anywhere, sub-graphs included
        self.twins = {}                             # while node -> the while_vjp rerunning it
        self.taped = set()                          # while_vjp nodes whose twin ran the loop
        self.top = set(graph.nodes)                 # nodes run once per call (not in a loop)
        self.returned = set(graph.outputs)
        self.workspace = []                         # (name, shape, dtype) of workspace parameters
        self.scope = None                           # the innermost loop being emitted
        self.accumulate = {}                        # var -> accumulator a lowering may add it into
        self.accumulated = set()                    # vars whose lowering did so (no sum after)

    def next_region(self) -> int:
        self.regions += 1
        return self.regions - 1

    def ident(self, var) -> str:
        return "v_" + self.printed[var]

    def equation(self, node) -> str:
        return format_node(node, self.printed.__getitem__)

    def empty(self, name, shape, dtype, node, returned=False) -> list:
        """Lines making `name` an uninitialized array that `node` fills: none when it is
        made elsewhere (`reuses`), this trip's buffer of an alternating pair, else a
        fresh one (alloc.py)."""
        alloc = array_text(shape, dtype)
        if self.scope is not None and node in self.scope.alternating:
            self.scope.lines += [f"{name}_a = {alloc}", f"{name}_b = {alloc}"]
            self.scope.swaps.append(f"{name}_a, {name}_b = {name}_b, {name}_a")
            return [f"{name} = {name}_a"]
        if self.reuses(name, shape, dtype, node, returned):
            return []
        return [f"{name} = {alloc}"]

    def reuses(self, name, shape, dtype, node, returned=False) -> bool:
        """Whether array `name` of `node` is made outside the code computing it: once before
        the loop whose trips compute it when no later trip reads it, or as a workspace
        parameter (registered as one)."""
        if self.scope is not None and node in self.scope.local:
            self.scope.lines.append(f"{name} = {array_text(shape, dtype)}")
            return True
        limit = self.options.workspace_bytes
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if limit is None or returned or node not in self.top or nbytes < limit:
            return False
        self.workspace.append((name, tuple(shape), np.dtype(dtype)))
        return True

    def constant(self, value) -> str:
        """A kernel argument holding an array constant (values stay out of the source)."""
        for i, c in enumerate(self.constants):
            if c is value:
                return f"k_{i}"
        self.constants.append(value)
        return f"k_{len(self.constants) - 1}"


def _used(graph) -> set:
    used = set(graph.outputs)
    for node in graph.nodes:
        used.update(node.inputs)
        for sub in node.subgraphs():
            used |= _used(sub)
    return used


def emit(nodes, names, ctx) -> list:
    """Lines computing `nodes`; `names` maps vars to Python names (filled in as we go)."""
    lines = []
    _pair_loops(nodes, ctx)
    for node in nodes:
        for v in node.outputs:
            names.setdefault(v, ctx.ident(v))
        lines.append("")
        lines.append(f"# {ctx.equation(node)}")
        if node.prim.name == "fused":
            region = Region(node, names, ctx, ctx.next_region())
            ctx.parallel |= region.mode != "serial"
            lines += region.emit()
        elif node.prim.name == "rowblock":
            lines += rowblock.lower(node, names, ctx)
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
    twin = ctx.twins.get(node)
    if twin is not None:      # a later while_vjp reruns this loop: run it once, taped, here
        stem = _stem(twin, ctx)
        ctx.taped.add(twin)
        # The loop's own operands: the twin's are the same values, maybe not yet computed.
        args = [names[v] for v in node.inputs]
        return (_taped_forward(twin, names, ctx, stem, args)
                + _assign([names[v] for v in node.outputs], [f"{stem}_c{i}" for i in range(n)]))
    args = [names[v] for v in node.inputs]
    carry, consts = [names[v] for v in node.outputs], args[n:]
    body_graph = node.attrs["body_graph"]
    with _loop(ctx, [node.attrs["cond_graph"], body_graph], body_graph.outputs) as scope:
        test, (flag,) = _inline(node.attrs["cond_graph"], carry + consts, names, ctx)
        body, results = _inline(body_graph, carry + consts, names, ctx)
    inner = test + [f"if not {flag}:", "    break"] + body + _assign(carry, results) + scope.swaps
    return _assign(carry, args[:n]) + scope.lines + ["while True:"] + _indent(inner)


TAPE_CAPACITY = 16      # initial rows of a while_vjp tape; it doubles when full


def _indent(lines):
    return ["    " + line if line else "" for line in lines]


def _zero(var):
    if not var.shape:
        return scalar.literal(0, var.dtype)
    return array_text(var.shape, var.dtype, "zeros")


def _stem(node, ctx) -> str:
    return "w" + ctx.ident(node.outputs[0])


def _taped_forward(node, names, ctx, stem, args=None) -> list:
    """The forward loop of while_vjp `node` (on the loop operands `args`, by default its
    own): each trip stores the carry into a tape array per carry (rows double when full)
    and counts itself; final carry in `{stem}_c{i}`."""
    n, body = node.attrs["n_carry"], node.attrs["body_graph"]
    if args is None:
        args = [names[v] for v in node.inputs[:len(body.inputs)]]    # not the seeds: not yet made
    consts = args[n:]
    carry = [f"{stem}_c{i}" for i in range(n)]
    tapes = [f"{stem}_tape{i}" for i in range(n)]
    cap, trips = f"{stem}_cap", f"{stem}_n"
    lines = _assign(carry, args[:n]) + [f"{cap} = {TAPE_CAPACITY}", f"{trips} = 0"]
    for v, tape in zip(body.inputs[:n], tapes):
        lines.append(f"{tape} = {array_text(f'({cap},) + {tuple(v.shape)}', v.dtype)}")
    grow = [f"if {trips} == {cap}:", f"    {cap} *= 2"]
    for v, tape in zip(body.inputs[:n], tapes):
        grow += [f"    {tape}_new = {array_text(f'({cap},) + {tuple(v.shape)}', v.dtype)}",
                 f"    {tape}_new[:{trips}] = {tape}[:{trips}]", f"    {tape} = {tape}_new"]
    with _loop(ctx, [node.attrs["cond_graph"], body], body.outputs) as scope:
        test, (flag,) = _inline(node.attrs["cond_graph"], carry + consts, names, ctx)
        step, results = _inline(body, carry + consts, names, ctx)
    inner = (test + [f"if not {flag}:", "    break"] + grow
             + [f"{tape}[{trips}] = {c}" for tape, c in zip(tapes, carry)]
             + step + _assign(carry, results) + scope.swaps + [f"{trips} += 1"])
    return lines + scope.lines + ["while True:"] + _indent(inner)


def _pair_loops(nodes, ctx):
    """Reverse mode keeps the primal `while` (its result seeds the cotangents) and a
    while_vjp that reruns the same loop; pair them so the loop runs once, taped."""
    whiles = []                        # the loops so far: a while_vjp reuses an earlier one
    producer = {v: node for node in nodes for v in node.outputs}
    for node in nodes:
        if node.prim.name == "while":
            whiles.append(node)
        if node.prim.name != "while_vjp":
            continue
        for loop in whiles:
            if loop not in ctx.twins and _same_loop(loop, node, producer):
                ctx.twins[loop] = node
                break
    return ctx.twins


def _same_loop(loop, vjp, producer) -> bool:
    return (loop.attrs["n_carry"] == vjp.attrs["n_carry"]
            and all(_same_value(a, b, producer) for a, b in zip(loop.inputs, vjp.inputs))
            and all(_same_graph(loop.attrs[k], vjp.attrs[k]) for k in ("cond_graph", "body_graph")))


def _same_value(a, b, producer) -> bool:
    """Whether vars `a` and `b` hold the same value: the same var, or the same output of the
    same equation on the same values (fusion recomputes a cheap producer per consumer)."""
    if a is b:
        return True
    na, nb = producer.get(a), producer.get(b)
    return (na is not None and nb is not None and na.prim is nb.prim
            and na.outputs.index(a) == nb.outputs.index(b) and len(na.inputs) == len(nb.inputs)
            and na.attrs.keys() == nb.attrs.keys()
            and all(_same_attr(na.attrs[k], nb.attrs[k]) for k in na.attrs)
            and all(_same_value(x, y, producer) for x, y in zip(na.inputs, nb.inputs)))


def _same_attr(x, y) -> bool:
    if isinstance(x, Graph) or isinstance(y, Graph):
        return isinstance(x, Graph) and isinstance(y, Graph) and _same_graph(x, y)
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(map(_same_attr, x, y))
    return type(x) is type(y) and bool(x == y)


def _same_graph(a, b) -> bool:
    """Same computation: same text (names are positional) and the same constant values."""
    if a is b:
        return True
    if str(a) != str(b):
        return False
    return all(np.array_equal(getattr(x, "value", x), getattr(y, "value", y))
               for x, y in zip(_constants(a), _constants(b)))


def _constants(graph):
    for node in graph.nodes:
        if node.prim.name == "constant":
            yield node.attrs["value"]
        for sub in node.subgraphs():
            yield from _constants(sub)


def while_vjp(node, names, ctx):
    """Reverse mode through a while loop, as `_while_vjp_impl` in graphad.prims.control:
    a forward `while` storing each carry into a tape array per carry (rows double when
    full), then a backward loop over the tape running the body's adjoint graph."""
    n = node.attrs["n_carry"]
    body, adjoint = node.attrs["body_graph"], node.attrs["body_adjoint"]
    n_in = len(body.inputs)
    args = [names[v] for v in node.inputs]
    consts, seeds = args[n:n_in], args[n_in:]
    floats = [i for i, v in enumerate(body.inputs) if v.type.is_float]
    # A const's cotangent nobody reads (e.g. of the data a loss indexes) is not computed:
    # its sum over the trips would cost a full-size accumulation per trip.
    wanted = [i for i, v in zip(floats, node.outputs) if i < n or v in ctx.used]
    if len(wanted) < len(floats):
        from ...passes.dce import dce
        adjoint = dce(Graph(adjoint.inputs, adjoint.nodes,
                            [o for i, o in zip(floats, adjoint.outputs) if i in wanted]))
        outputs = [v for i, v in zip(floats, node.outputs) if i in wanted]
        floats = wanted
    else:
        outputs = node.outputs
    stem = _stem(node, ctx)
    if node in ctx.taped:       # its twin `while` ran the loop (emitted just before, once)
        ctx.taped.discard(node)
        lines = []
    else:
        lines = _taped_forward(node, names, ctx, stem)
    tapes, trips, t = [f"{stem}_tape{i}" for i in range(n)], f"{stem}_n", f"{stem}_t"
    # Backward: cotangents of the carry (non-float carries have none: zeros), sums for consts.
    cts = [f"{stem}_g{i}" for i in range(n)]
    acc = {i: f"{stem}_acc{i}" for i in floats if i >= n}
    lines += [f"{cts[i]} = {seeds[i] if i in floats else _zero(body.inputs[i])}" for i in range(n)]
    lines += [f"{acc[i]} = {_zero(body.inputs[i])}" for i in acc]
    saved = [f"{stem}_s{i}" for i in range(n)]
    back = [f"{s} = {tape}[{t}]" for s, tape in zip(saved, tapes)]
    # A const's cotangent that is a small matrix product read by nothing else (W's in
    # tanh(W h + x)) is added into its sum by the product's loops: no temporary.
    summed = {o: acc[i] for i, o in zip(floats, adjoint.outputs) if i >= n and o.shape}
    ctx.accumulate.update({o: a for o, a in summed.items() if _read_once(o, adjoint)})
    carried = [o for i, o in zip(floats, adjoint.outputs) if i < n]    # the rest are summed
    with _loop(ctx, [adjoint], carried) as scope:
        adj, outs = _inline(adjoint, saved + consts + cts, names, ctx)
    # Sums first: an adjoint output may be the name of an incoming cotangent (`return ct`).
    # Arrays add in place, no allocation (unless their product already added itself).
    for i, v, o in zip(floats, adjoint.outputs, outs):
        if i >= n and v not in ctx.accumulated:
            adj.append(f"{acc[i]} += {o}" if v.shape else f"{acc[i]} = {acc[i]} + {o}")
    for v in summed:
        ctx.accumulate.pop(v, None)
    back += adj
    back += _assign([cts[i] for i in floats if i < n], [o for i, o in zip(floats, outs) if i < n])
    back += scope.swaps
    lines += scope.lines + [f"for {t} in range({trips} - 1, -1, -1):"] + _indent(back)
    results = [cts[i] if i < n else acc[i] for i in floats]
    return lines + _assign([names[v] for v in outputs], results)


@contextmanager
def _loop(ctx, graphs, carried):
    """Emit the graphs run each trip of a loop under a new Scope (see Context.reuses)."""
    outer = ctx.scope
    ctx.scope = Scope(set().union(*(_trip_local(g, carried) for g in graphs)),
                      set().union(*(_alternating(g, carried) for g in graphs)))
    try:
        yield ctx.scope
    finally:
        ctx.scope = outer


def _trip_local(graph, carried) -> set:
    """Nodes of `graph` (run once per trip) whose arrays no later trip reads: none of
    their outputs reaches `carried`, the values the next trip gets, through values that
    may share its memory (views; control flow passing an operand through). Their arrays
    can be rewritten in place each trip."""
    reach = set(carried)
    for node in reversed(graph.nodes):
        if not arrays.fresh(node) and reach.intersection(node.outputs):
            reach.update(node.inputs)
    return {node for node in graph.nodes if not reach.intersection(node.outputs)}


def _alternating(graph, carried) -> set:
    """Nodes of `graph` computing the arrays among `carried` (what the next trip gets),
    when the trip computes every one of them afresh: no pass-through, no view of a value
    the trip got. Then at the start of a trip every live value of the loop's sits in one
    buffer of each pair (or in memory the loop does not own), and the trip writes the
    other one: two buffers a value suffice."""
    producer = {v: node for node in graph.nodes for v in node.outputs}
    makers = {producer.get(v) for v in carried if v.shape}
    if None in makers or not all(arrays.fresh(node) for node in makers):
        return set()
    return makers


def _read_once(var, graph) -> bool:
    """Whether `var` is one output of `graph` and no equation of it reads `var`."""
    return (list(graph.outputs).count(var) == 1 and var not in graph.inputs
            and not any(var in node.inputs or var in _used_inside(node) for node in graph.nodes))


def _used_inside(node) -> set:
    return set().union(*(_used(sub) for sub in node.subgraphs()))


CONTROL = {"cond": cond, "while": while_, "while_vjp": while_vjp}


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
    produced = {v: n for n in graph.nodes for v in n.outputs}
    results, out_index = [], []
    for v in graph.outputs:             # each distinct output once; callers map them back
        fresh = not v.shape or (v in produced and arrays.fresh(produced[v]))
        text = names[v] if fresh else f"{names[v]}.copy()"
        if text not in results:
            results.append(text)
        out_index.append(results.index(text))
    lines += ["", f"return ({', '.join(results)}{',' if len(results) == 1 else ''})"]
    params = [names[v] for v in graph.inputs] + [f"k_{i}" for i in range(len(ctx.constants))]
    if ctx.workspace:
        work = [name for name, _, _ in ctx.workspace]
        params += work
        note = f"workspace, allocated once per thread and reused: {', '.join(work)}"
        lines = ["# " + line for line in textwrap.wrap(note, 92)] + lines
    decorator = (f"@njit(cache=True, parallel={ctx.parallel}, error_model='numpy', nogil=True)"
                 f"  # {options.text()} interleave={ctx.interleave}")
    source = "\n".join([HEADER, "", decorator, f"def kernel({', '.join(params)}):"]
                       + ["    " + line if line else "" for line in lines]) + "\n"
    return Kernel(source, ctx.constants, ctx.parallel, out_index,
                  [(shape, dtype) for _, shape, dtype in ctx.workspace], ctx.interleave)
