"""Tracing: running a Python function on tracers to record a Graph.

A `GraphTrace` owns a GraphBuilder; its `Tracer`s stand for the builder's
variables and behave like numpy arrays (operators, methods, and numpy's
__array_ufunc__ / __array_function__ protocols all route to graphad.numpy).
Traces nest: each has a level one above the enclosing one. A tracer of an
enclosing trace used inside an inner trace is captured as an extra input of
the inner graph, which is how closures over traced values differentiate
correctly under nested transformations.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

import numpy as np

from .arraylike import ArrayLike
from .errors import (EscapedTracerError, GraphadError, ShapeError, TracerBoolConversionError,
                     TypeMismatchError)
from .ir import Const, Graph, GraphBuilder, TensorType, Var
from .prims.creation import constant_p
from .prims.shape import broadcast_to_p
from .tree import tree_flatten, tree_unflatten

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_state = threading.local()


def user_frame():
    """(filename, lineno, source line) of the innermost caller outside graphad."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
    if f is None:
        return None
    import linecache
    return f.f_code.co_filename, f.f_lineno, linecache.getline(f.f_code.co_filename, f.f_lineno).strip()


def user_location() -> str:
    frame = user_frame()
    if frame is None:
        return "<unknown location>"
    filename, lineno, source = frame
    return f'File "{filename}", line {lineno}' + (f"\n    {source}" if source else "")


class GraphTrace:
    """Records primitive applications on its tracers into a graph."""

    def __init__(self, level: int):
        self.level = level
        self.builder = GraphBuilder()
        self.captured: dict[Var, tuple[Tracer, Var]] = {}   # outer var -> (outer tracer, inner var)
        self.constants: dict[Const, Var] = {}
        self.active = True

    def new_input(self, type: TensorType) -> "Tracer":
        return Tracer(self, self.builder.add_input(type))

    def process(self, prim, args, attrs):
        if not self.active:
            raise EscapedTracerError(
                f"a traced value was used after its trace finished ({prim.name} at {user_location()}). "
                "Values computed inside a transformed function must be returned from it, "
                "not stored in globals or closures.")
        try:
            outs = self.builder.add(prim, [self.var_of(a) for a in args], attrs)
        except (ShapeError, TypeMismatchError) as e:
            # The shape rule speaks of operands; add where the user wrote the operation.
            raise type(e)(f"{e}\n  in {prim.name}, at {user_location()}") from None
        tracers = tuple(Tracer(self, v) for v in outs)
        return tracers if prim.multiple_results else tracers[0]

    def var_of(self, value) -> Var:
        if is_traced(value):          # a tracer, or an eager box
            if value._trace is self:
                return value._var
            if value._trace.level < self.level and value._trace.active:
                return self._capture(value)
            raise EscapedTracerError(
                f"a traced value from a finished trace was used at {user_location()}. "
                "Return values from transformed functions instead of storing them.")
        return self.constant(value)

    def _capture(self, outer) -> Var:
        """A value of an enclosing trace (a tracer or an eager box) as an extra input."""
        key = outer._var if isinstance(outer, Tracer) else id(outer)
        entry = self.captured.get(key)
        if entry is None:
            var = self.builder.add_input(TensorType(tuple(outer.shape), outer.dtype))
            entry = self.captured[key] = (outer, var)
        return entry[1]

    def constant(self, value) -> Var:
        a = np.asarray(value)
        if a.ndim and a.size > 1 and not any(a.strides):
            # A broadcast scalar (e.g. an inlined, eagerly evaluated broadcast_to): keep it
            # a scalar constant plus a broadcast instead of materializing every element.
            (var,) = self.builder.add(broadcast_to_p, (self.constant(a.reshape(-1)[0]),),
                                      {"shape": a.shape})
            return var
        const = Const(a)
        var = self.constants.get(const)
        if var is None:
            (var,) = self.builder.add(constant_p, (), {"value": const})
            self.constants[const] = var
        return var


def _depth() -> int:
    return getattr(_state, "depth", 0)


@contextmanager
def new_trace(trace_type=GraphTrace):
    """A fresh trace one level above the current one (graphad.eager passes its own type)."""
    depth = _depth()
    trace = trace_type(depth + 1)
    _state.depth = depth + 1
    try:
        yield trace
    finally:
        _state.depth = depth
        trace.active = False


def abstract_type(leaf) -> TensorType:
    """The static type a traced argument leaf will have."""
    if getattr(leaf, "_trace", None) is not None:     # a tracer or an eager box
        return TensorType(leaf.shape, leaf.dtype)
    if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
        return TensorType((), np.result_type(type(leaf)))
    if isinstance(leaf, (np.ndarray, np.generic)):
        return TensorType(leaf.shape, leaf.dtype)
    try:
        return TensorType.of(leaf)
    except Exception:
        raise GraphadError(f"cannot trace an argument of type {type(leaf).__name__}; "
                           "arguments must be arrays, Python scalars or nested "
                           "tuples/lists/dicts of them (mark others static)") from None


class TracedFunction:
    """The result of tracing: a closed graph plus how to map trees onto it."""

    __slots__ = ("graph", "in_tree", "out_tree", "captured", "arg_ranges", "arg_trees")

    def __init__(self, graph, in_tree, out_tree, captured, arg_ranges, arg_trees):
        self.graph = graph              # inputs: the argument leaves, then captured values
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.captured = captured        # outer tracers bound to the trailing inputs
        self.arg_ranges = arg_ranges    # per positional argument: (start, stop) in the leaves
        self.arg_trees = arg_trees      # per positional argument: its TreeDef

    def with_graph(self, graph) -> "TracedFunction":
        """The same function with an equivalent graph (e.g. after a rewrite)."""
        return TracedFunction(graph, self.in_tree, self.out_tree, self.captured, self.arg_ranges,
                              self.arg_trees)


def trace_function(fun, args, static_argnums=()) -> TracedFunction:
    """Trace `fun(*args)`; arguments in static_argnums are passed through as Python values."""
    dynamic = [a for i, a in enumerate(args) if i not in static_argnums]
    arg_ranges, arg_trees, start = {}, {}, 0
    for i, a in enumerate(args):
        if i in static_argnums:
            continue
        leaves, arg_trees[i] = tree_flatten(a)
        arg_ranges[i] = (start, start + len(leaves))
        start += len(leaves)
    leaves, in_tree = tree_flatten(tuple(dynamic))
    types = [abstract_type(leaf) for leaf in leaves]
    with new_trace() as trace:
        tracers = [trace.new_input(t) for t in types]
        traced_dynamic = list(tree_unflatten(in_tree, tracers))
        full = [a if i in static_argnums else traced_dynamic.pop(0) for i, a in enumerate(args)]
        out = fun(*full)
        out_leaves, out_tree = tree_flatten(out)
        out_vars = [trace.var_of(leaf) for leaf in out_leaves]
        captured = [outer for outer, _ in trace.captured.values()]
        inner = [v for _, v in trace.captured.values()]
        b = trace.builder
        graph = Graph(b.inputs[:len(tracers)] + inner, b.nodes, out_vars)
    return TracedFunction(graph, in_tree, out_tree, captured, arg_ranges, arg_trees)


def replay(graph: Graph, args) -> dict:
    """Bind every node of `graph` to values: records into the current trace when
    any value is traced, evaluates eagerly on plain arrays. Returns var -> value."""
    env = dict(zip(graph.inputs, args))
    for node in graph.nodes:
        out = node.prim.bind(*[env[v] for v in node.inputs], **node.attrs)
        env.update(zip(node.outputs, out if node.prim.multiple_results else (out,)))
    return env


def inline_graph(graph: Graph, args):
    """Apply `graph` to values (see `replay`); returns its outputs."""
    env = replay(graph, args)
    return [env[v] for v in graph.outputs]


def is_traced(value) -> bool:
    return getattr(value, "_trace", None) is not None


def _bool_error(what):
    def method(self, *args):
        raise TracerBoolConversionError(
            f"{what} of a traced value {self._var.type} at {user_location()}\n"
            "Its value is only known when the compiled function runs, so Python `if`, `while`, "
            "`and`/`or` and conversions cannot use it while tracing. Instead:\n"
            "  - a branch, graphad.cond(pred, true_fn, false_fn, *operands):\n"
            "        if x > 0: y = f(x)                 y = graphad.cond(x > 0, f, g, x)\n"
            "        else:     y = g(x)          ->     (or, elementwise: gnp.where(x > 0, f(x), g(x)))\n"
            "  - a loop, graphad.while_loop(cond_fn, body_fn, init):\n"
            "        while c(v): v = body(v)     ->     v = graphad.while_loop(c, body, v)\n"
            "  - a Python value that decides the structure: mark it static with static_argnums\n"
            "  - arbitrary Python control flow: differentiate with graphad.eager.grad instead")
    return method


class Tracer(ArrayLike):
    """A traced array. Operators, methods and numpy protocols come from ArrayLike."""

    __slots__ = ("_trace", "_var")

    def __init__(self, trace: GraphTrace, var: Var):
        self._trace = trace
        self._var = var

    shape = property(lambda self: self._var.type.shape)
    dtype = property(lambda self: self._var.type.dtype)
    ndim = property(lambda self: len(self._var.type.shape))
    size = property(lambda self: self._var.type.size)

    def __repr__(self):
        return f"Tracer<{self._var.type}>"

    __bool__ = _bool_error("Python control flow (bool()) on the truth value")
    __index__ = _bool_error("Using as a Python int the value")
    __int__ = _bool_error("Converting to a Python int the value")
    __float__ = _bool_error("Converting to a Python float the value")

    def __array__(self, *args, **kwargs):
        raise TracerBoolConversionError(
            f"numpy tried to convert a traced value {self._var.type} to a concrete array at "
            f"{user_location()}. Use graphad.numpy (or a numpy function graphad supports) so "
            "the operation is recorded in the graph.")

    def __setitem__(self, index, value):
        raise GraphadError("traced arrays are immutable: build the new value with gnp.where, "
                           "gnp.concatenate or indexing instead of assigning into it")

    __hash__ = object.__hash__
