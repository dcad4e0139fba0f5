"""Hypothesis strategies for random well-typed graphs, with arguments that keep
every intermediate value finite and moderate.

    from random_graphs import graphs
    @given(graphs())
    def test_something(case):
        graph, args = case

A program is drawn step by step next to concrete values: each step applies a
graphad.numpy operation to earlier values (or constants 0, 1, -1, 2, ...), and
its domain is checked on the concrete arguments as it is drawn (log only of
positive values, exp only of moderate ones, ...), so the graph evaluates to
finite numbers on the returned arguments. Tracing the program gives the graph.
It mixes shapes with broadcasting, elementwise math, comparisons with where,
reductions over axes, shape operations, dot products, and the identities the
rewrite rules look for (x*1, x-x, log(1+x), log(sum(exp x)), ...).

Strategies:
  graphs(max_steps=10, dtype=np.float64)   -> (traced graph, args)
  adjoint_graphs(max_steps=8)              -> (forward + reverse-mode graph, args)
  programs(...)                            -> Program (fn, args, text), for re-tracing
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import graphad.numpy as gnp
from graphad.errors import GraphadError
from graphad.passes.reverse_mode import reverse_mode
from graphad.trace import trace_function

SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]
CONSTANTS = [0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -2.0]
LIMIT = 1e4          # a step whose result exceeds this in magnitude is not kept


@dataclass
class Program:
    steps: list            # (label, fn(values) -> value)
    outputs: tuple         # indices of the values returned
    args: list

    def fn(self, *xs):
        values = list(xs)
        for _, step in self.steps:
            values.append(step(values))
        outs = tuple(values[i] for i in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def __repr__(self):
        shapes = ", ".join(str(np.shape(a)) for a in self.args)
        first = len(self.args)
        body = "; ".join(f"v{first + i} = {label}" for i, (label, _) in enumerate(self.steps))
        return f"<Program ({shapes}) {body}; return {self.outputs}>"


def _broadcasts(a, b):
    try:
        np.broadcast_shapes(np.shape(a), np.shape(b))
        return True
    except ValueError:
        return False


def _pick(draw, values, where=lambda v: True):
    idx = [i for i, v in enumerate(values) if np.asarray(v).dtype.kind == "f" and where(v)]
    return draw(st.sampled_from(idx)) if idx else None


def _operand(draw, values, a, dtype):
    """A value or a constant that broadcasts with values[a]: (label, getter)."""
    if draw(st.booleans()):
        c = draw(st.sampled_from(CONSTANTS))
        if draw(st.booleans()):
            return repr(c), lambda vs: c                      # a Python scalar (weak type)
        shape = draw(st.sampled_from([s for s in SHAPES if _broadcasts(np.zeros(s), values[a])]))
        arr = np.full(shape, c, dtype)
        return f"full({shape}, {c})", lambda vs: arr
    b = _pick(draw, values, lambda v: _broadcasts(v, values[a]))
    return f"v{b}", lambda vs: vs[b]


# ---- operations: each draws its operands and returns (label, fn) or None ---------------------

_UNARY = {
    "neg": (gnp.negative, lambda x: True), "sin": (gnp.sin, lambda x: True),
    "cos": (gnp.cos, lambda x: True), "tanh": (gnp.tanh, lambda x: True),
    "sigmoid": (gnp.sigmoid, lambda x: True), "arctan": (gnp.arctan, lambda x: True),
    "abs": (gnp.abs, lambda x: True), "square": (gnp.square, lambda x: np.all(np.abs(x) < 100)),
    "exp": (gnp.exp, lambda x: np.all(x < 8)), "expm1": (gnp.expm1, lambda x: np.all(x < 8)),
    "log": (gnp.log, lambda x: np.all(x > 0.05)), "log1p": (gnp.log1p, lambda x: np.all(x > -0.9)),
    "sqrt": (gnp.sqrt, lambda x: np.all(x > 0.01)),
    "reciprocal": (gnp.reciprocal, lambda x: np.all(np.abs(x) > 0.1)),
}


def unary(draw, values, dtype):
    name = draw(st.sampled_from(sorted(_UNARY)))
    f, ok = _UNARY[name]
    a = _pick(draw, values, ok)
    if a is None:
        return None
    return f"{name}(v{a})", lambda vs: f(vs[a])


_BINARY = {"add": gnp.add, "sub": gnp.subtract, "mul": gnp.multiply, "div": gnp.divide,
           "maximum": gnp.maximum, "minimum": gnp.minimum, "pow": gnp.power}


def binary(draw, values, dtype):
    name = draw(st.sampled_from(sorted(_BINARY)))
    a = _pick(draw, values)
    label, get = _operand(draw, values, a, dtype)
    b = np.asarray(get(values))
    if name == "div" and not np.all(np.abs(b) > 0.1):
        return None
    if name == "pow" and not (np.all(values[a] > 0.1) and np.all(np.abs(b) <= 3)):
        return None
    f = _BINARY[name]
    if draw(st.booleans()) and name not in ("pow",):
        return f"{name}({label}, v{a})", lambda vs: f(get(vs), vs[a])
    return f"{name}(v{a}, {label})", lambda vs: f(vs[a], get(vs))


_COMPARE = {"gt": gnp.greater, "lt": gnp.less, "ge": gnp.greater_equal, "le": gnp.less_equal,
            "eq": gnp.equal, "ne": gnp.not_equal}


def where(draw, values, dtype):
    name = draw(st.sampled_from(sorted(_COMPARE)))
    a = _pick(draw, values)
    lb, getb = _operand(draw, values, a, dtype)
    # Like keeping div away from zero: compare only values that are either the very same
    # one or clearly apart, so a rewrite that changes rounding (log(exp x) -> x is allowed
    # to) cannot flip the comparison and turn an ulp into a different branch.
    va, vb = np.asarray(values[a], np.float64), np.asarray(getb(values), np.float64)
    if lb != f"v{a}" and not np.all(np.abs(va - vb) > 1e-6 * (1 + np.abs(va))):
        return None
    x = _pick(draw, values, lambda v: _broadcasts(v, values[a]))
    ly, gety = _operand(draw, values, x, dtype)
    cmp = _COMPARE[name]
    if draw(st.integers(0, 3)) == 0:               # an indicator instead of a selection
        return f"float({name}(v{a}, {lb}))", lambda vs: cmp(vs[a], getb(vs)).astype(dtype)
    return (f"where({name}(v{a}, {lb}), v{x}, {ly})",
            lambda vs: gnp.where(cmp(vs[a], getb(vs)), vs[x], gety(vs)))


_REDUCE = {"sum": gnp.sum, "max": gnp.max, "min": gnp.min, "mean": gnp.mean,
           "logsumexp": gnp.logsumexp, "prod": gnp.prod}


def reduce(draw, values, dtype):
    a = _pick(draw, values, lambda v: np.ndim(v) > 0)
    if a is None:
        return None
    name = draw(st.sampled_from(sorted(_REDUCE)))
    ndim = np.ndim(values[a])
    axes = draw(st.one_of(st.none(), st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                              unique=True).map(tuple)))
    keep = draw(st.booleans())
    f = _REDUCE[name]
    if name == "prod" and not np.all(np.abs(values[a]) < 10):
        return None
    return (f"{name}(v{a}, axis={axes}, keepdims={keep})",
            lambda vs: f(vs[a], axis=axes, keepdims=keep))


def reshape_like(draw, values, dtype):
    a = _pick(draw, values)
    shape = np.shape(values[a])
    kind = draw(st.sampled_from(["ravel", "column", "transpose", "broadcast", "slice", "reverse",
                                 "concat", "expand"]))
    if kind == "ravel":
        return f"ravel(v{a})", lambda vs: gnp.ravel(vs[a])
    if kind == "column":
        return f"reshape(v{a}, (-1, 1))", lambda vs: gnp.reshape(vs[a], (-1, 1))
    if kind == "expand":
        return f"v{a}[None]", lambda vs: vs[a][None]
    if kind == "transpose":
        return f"transpose(v{a})", lambda vs: gnp.transpose(vs[a])
    if kind == "broadcast":
        target = draw(st.sampled_from([(2, 3), (4, 2, 3)]))
        if not _broadcasts(np.zeros(shape), np.zeros(target)) or \
                np.broadcast_shapes(shape, target) != target:
            return None
        return f"broadcast_to(v{a}, {target})", lambda vs: gnp.broadcast_to(vs[a], target)
    if not shape:
        return None
    if kind == "slice":
        k = draw(st.integers(1, shape[-1]))
        return f"v{a}[..., :{k}]", lambda vs: vs[a][..., :k]
    if kind == "reverse":
        return f"v{a}[::-1]", lambda vs: vs[a][::-1]
    b = _pick(draw, values, lambda v: np.shape(v)[1:] == shape[1:] and np.ndim(v) > 0)
    return f"concatenate(v{a}, v{b})", lambda vs: gnp.concatenate([vs[a], vs[b]])


def dot(draw, values, dtype):
    a = _pick(draw, values, lambda v: np.ndim(v) > 0)
    if a is None:
        return None
    n = np.shape(values[a])[-1]
    b = _pick(draw, values, lambda v: np.ndim(v) in (1, 2) and np.shape(v)[0] == n)
    if b is None or draw(st.booleans()):
        w = np.linspace(-1, 1, n * 2, dtype=dtype).reshape(n, 2)
        return f"v{a} @ W{w.shape}", lambda vs: vs[a] @ w
    return f"v{a} @ v{b}", lambda vs: vs[a] @ vs[b]


_IDENTITIES = {
    "x*1": lambda x: x * 1.0, "x+0": lambda x: x + 0.0, "0+x": lambda x: 0.0 + x,
    "x*0": lambda x: x * 0.0, "x-x": lambda x: x - x, "x/1": lambda x: x / 1.0,
    "--x": lambda x: -(-x), "x**1": lambda x: x ** 1, "x**2": lambda x: x ** 2,
    "x**3": lambda x: x ** 3, "(x*2)*0.5": lambda x: (x * 2.0) * 0.5,
    "-(x*3)": lambda x: -(x * 3.0), "x-(-x)": lambda x: x - (-x),
    "exp(log(1+x*x))": lambda x: gnp.exp(gnp.log(1 + x * x)),
    "log(exp(x))": lambda x: gnp.log(gnp.exp(x)), "log(1+x*x)": lambda x: gnp.log(1.0 + x * x),
    "exp(x)-1": lambda x: gnp.exp(x) - 1.0, "1-exp(x)": lambda x: 1.0 - gnp.exp(x),
    "log(sigmoid(x))": lambda x: gnp.log(gnp.sigmoid(x)),
    "log(1-sigmoid(x))": lambda x: gnp.log(1.0 - gnp.sigmoid(x)),
    "log(sum(exp(x)))": lambda x: gnp.log(gnp.sum(gnp.exp(x))),
    "log-softmax": lambda x: gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x), axis=-1, keepdims=True)),
    "shifted-lse": lambda x: gnp.max(x) + gnp.log(gnp.sum(gnp.exp(x - gnp.max(x)))),
    "shifted-lse-rows": lambda x: (lambda m: m + gnp.log(gnp.sum(gnp.exp(x - m), axis=-1,
                                                                 keepdims=True)))(
        gnp.max(x, axis=-1, keepdims=True)),
    "log-softmax-axis0": lambda x: gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x), axis=0)),
    # numpy broadcasting makes this divide by the wrong sums unless x is 1-d
    "softmax-lookalike": lambda x: gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x), axis=-1)),
    "T.T": lambda x: gnp.transpose(gnp.transpose(x)),
    "sum(broadcast)": lambda x: gnp.sum(gnp.broadcast_to(x, (4,) + np.shape(x)), axis=0),
    "where(c,x,x)": lambda x: gnp.where(x > 0, x, x), "sqrt(x*x)": lambda x: gnp.sqrt(x * x),
    "relu-tie": lambda x: (x > 0).astype(x.dtype) + 0.5 * (x == 0).astype(x.dtype),
}


def identity(draw, values, dtype):
    name = draw(st.sampled_from(sorted(_IDENTITIES)))
    f = _IDENTITIES[name]
    fits = (lambda v: np.all(np.abs(v) < 5) and (np.ndim(v) > 0 or "soft" not in name and "rows" not in name))
    a = _pick(draw, values, fits)
    if a is None:
        return None
    return f"{name}[x=v{a}]", lambda vs: f(vs[a])


OPERATIONS = (unary, binary, where, reduce, reshape_like, dot, identity)


@st.composite
def programs(draw, max_steps=10, dtype=np.float64, max_inputs=3):
    """A random Program with arguments on which every value is finite and below LIMIT."""
    dtype = np.dtype(dtype)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, max_inputs))
    args = [np.asarray(rng.uniform(-2, 2, draw(st.sampled_from(SHAPES))), dtype) for _ in range(n)]
    values = list(args)
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        op = draw(st.sampled_from(OPERATIONS))
        step = op(draw, values, dtype)
        if step is None:
            continue
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(step[1](values))
        except (ValueError, GraphadError):     # operands that do not fit together: skip
            continue
        if value.dtype.kind == "f" and not np.all(np.abs(value) < LIMIT):   # also drops nan
            continue
        values.append(value)
        steps.append(step)
    # Every step's value is an output, so no rewrite hides in dead code.
    outputs = tuple(range(len(args), len(values))) or (0,)
    return Program(steps, outputs, args)


def graphs(max_steps=10, dtype=np.float64, max_inputs=3):
    """(graph, args): a traced random program and its arguments."""
    return programs(max_steps, dtype, max_inputs).map(
        lambda p: (trace_function(p.fn, p.args).graph, p.args))


def _scalar_loss(p):
    def loss(*xs):
        outs = p.fn(*xs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = 0.0
        for o in outs:
            if np.dtype(o.dtype).kind == "f":
                total = total + gnp.sum(gnp.sin(o))
        return gnp.asarray(total, p.args[0].dtype) * 1.0 if isinstance(total, float) else total
    return loss


def adjoint_graphs(max_steps=8, dtype=np.float64, max_inputs=3):
    """(forward + reverse-mode graph of sum(sin(outputs)), args)."""
    def build(p):
        g = trace_function(_scalar_loss(p), p.args).graph
        return reverse_mode(g, tuple(range(len(p.args)))), p.args
    return programs(max_steps, dtype, max_inputs).map(build)
