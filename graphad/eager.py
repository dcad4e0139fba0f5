"""Eager mode: run the function op by op on numpy, record a tape, backpropagate.

`grad(f)(x)` wraps the leaves being differentiated in `Box`es owned by a fresh
`EagerTrace`. Every primitive applied to a box (through graphad.numpy, Python
operators or numpy's protocols) runs at once and appends one entry to the
tape, so Python sees concrete values and `if` / `while` on them just work.
The reverse pass is the compiler's own `backward` loop over the tape, with the
same vjp rules and the same NaN masking through `where`.

Only values that can carry a derivative are boxed: integer and boolean results
and those of non-differentiable primitives (comparisons, stop_gradient) come
back as plain arrays and are not taped. A box's value may itself be traced
(an outer box or a graph tracer), which is how eager mode nests.
"""
from __future__ import annotations

import functools
from operator import attrgetter

import numpy as np

from .arraylike import ArrayLike
from .errors import EscapedTracerError, GraphadError
from .passes.reverse_mode import _Cotangent, backward
from .trace import new_trace, user_location
from .tree import tree_flatten, tree_unflatten

__all__ = ["grad", "value_and_grad", "vjp", "Box"]


_read = attrgetter("value")


class _Entry:
    """One tape record; has the fields `backward` reads from a graph Node."""

    __slots__ = ("prim", "inputs", "outputs", "attrs")

    def __init__(self, prim, inputs, outputs, attrs):
        self.prim, self.inputs, self.outputs, self.attrs = prim, inputs, outputs, attrs


class EagerTrace:
    """Runs primitives on concrete values and records them on a tape."""

    __slots__ = ("level", "tape", "active", "nested")

    def __init__(self, level: int):
        self.level = level
        self.tape: list[_Entry] = []
        self.active = True
        # With no enclosing trace no value can be traced: call numpy directly.
        self.nested = level > 1

    def new_input(self, value) -> "Box":
        return Box(self, value)

    def process(self, prim, args, attrs):
        if not self.active:
            raise EscapedTracerError(
                f"a value from a finished graphad.eager computation was used ({prim.name} at "
                f"{user_location()}); return values from the differentiated function instead "
                "of storing them")
        # Constants (and values of enclosing traces) are wrapped too, so that
        # the reverse pass reads every tape input the same way.
        inputs = [a if type(a) is Box and a._trace is self else _Const(a) for a in args]
        values = list(map(_read, inputs))
        out = prim.bind(*values, **attrs) if self.nested else prim.impl(*values, **attrs)
        if not prim.differentiable:
            return out
        if prim.multiple_results:
            outputs = tuple(Box(self, o) if o.dtype.kind == "f" else _Const(o)
                            for o in map(_array, out))
            self.tape.append(_Entry(prim, inputs, outputs, attrs))
            return tuple(b if b._trace is self else b.value for b in outputs)
        out = _array(out)
        if out.dtype.kind != "f":
            return out
        box = Box(self, out)
        self.tape.append(_Entry(prim, inputs, (box,), attrs))
        return box


def _array(value):
    """numpy results as they are; a Python scalar (from some implementation) as an array."""
    return value if hasattr(value, "dtype") else np.asarray(value)


class _Const:
    """A tape input that is not differentiated: a constant, or a value of an enclosing trace."""

    __slots__ = ("value",)
    _trace = None

    def __init__(self, value):
        self.value = value


class Box(ArrayLike):
    """A value being differentiated in eager mode. Behaves like a numpy array;
    `bool()`, `float()` and `int()` give the concrete value, so Python control
    flow works."""

    __slots__ = ("_trace", "value", "shape", "dtype")

    def __init__(self, trace, value):
        self._trace = trace
        self.value = value
        self.shape = value.shape    # read by every graphad.numpy call: slots, not properties
        self.dtype = value.dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: self.value.size)
    # The shared reverse pass reads a var's static type as `var.type.shape`;
    # a box carries its own shape and dtype.
    type = property(lambda self: self)

    def __repr__(self):
        return f"eager.Box({self.value!r})"

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __index__(self):
        return self.value.__index__()

    def __array__(self, *args, **kwargs):
        raise GraphadError(
            f"numpy tried to convert a value being differentiated by graphad.eager to a plain "
            f"array at {user_location()}, which would silently drop its derivative. Use "
            "graphad.numpy (or a numpy function graphad supports); float(x) reads a scalar's "
            "value on purpose.")

    def __setitem__(self, index, value):
        raise GraphadError("arrays being differentiated are immutable: build the new value with "
                           "gnp.where, gnp.concatenate or indexing instead of assigning into it")


def _argnums_tuple(argnums, nargs):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise GraphadError(f"argnums={a}: the function was called with {nargs} arguments")
    return tuple(a % nargs for a in nums)


def _is_traced(x) -> bool:
    return getattr(x, "_trace", None) is not None


def _box_argument(trace, arg, argnum, float_only=True):
    """(boxed tree, [(box or None, leaf)]) for one positional argument."""
    leaves, tree = tree_flatten(arg)
    boxed, pairs = [], []
    for leaf in leaves:
        value = leaf if _is_traced(leaf) else np.asarray(leaf)
        if value.dtype.kind != "f":
            if float_only:
                raise GraphadError(
                    f"grad with respect to argument {argnum}: it has a leaf of dtype "
                    f"{value.dtype}; gradients need float inputs (write 1.0 rather than 1, "
                    "or astype(float))")
            boxed.append(leaf)
            pairs.append((None, leaf))
            continue
        box = trace.new_input(value)
        boxed.append(box)
        pairs.append((box, leaf))
    return tree_unflatten(tree, boxed), (tree, pairs)


def _run(fun, args, kwargs, argnums, float_only=True):
    """Run `fun` with the leaves of `args[argnums]` boxed. (trace, out, per-argnum inputs)"""
    args = list(args)
    inputs = []
    with new_trace(EagerTrace) as trace:
        for a in argnums:
            args[a], info = _box_argument(trace, args[a], a, float_only)
            inputs.append(info)
        out = fun(*args, **kwargs)
    return trace, out, inputs


def _pull_back(trace, seeds, inputs):
    """Cotangents of the input boxes given {output box: seed}; one tree per argument."""
    active = {o for e in trace.tape for o in e.outputs if o._trace is trace}
    active.update(box for _, pairs in inputs for box, _ in pairs if box is not None)
    cotangents = {box: _Cotangent(seed) for box, seed in seeds.items()}
    # The branch of a `where` not taken may divide by zero; the mask discards it.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        backward(trace.tape, _read, cotangents, active)
    trees = []
    for tree, pairs in inputs:
        leaves = []
        for box, leaf in pairs:
            ct = cotangents.get(box) if box is not None else None
            leaves.append(_as_result(ct.value if ct is not None else None, box, leaf))
        trees.append(tree_unflatten(tree, leaves))
    return trees


def _as_result(ct, box, leaf):
    """A cotangent shaped and typed like its input leaf (0-d as a numpy scalar)."""
    if box is None:
        return np.zeros_like(np.asarray(leaf))
    if ct is None:
        ct = np.zeros(box.shape, box.dtype)
    if _is_traced(ct):
        return ct
    ct = np.asarray(ct, dtype=box.dtype)
    if ct.ndim == 0:
        return ct[()]
    # Cotangents of broadcasts are read-only strided views: hand back an array the user owns.
    return ct if ct.flags.writeable else ct.copy()


def _unbox(trace, x):
    """The value of an output leaf: a box of this trace unwrapped, anything else as is."""
    return x.value if type(x) is Box and x._trace is trace else x


def _shape_dtype(x):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return tuple(x.shape), np.dtype(x.dtype)
    a = np.asarray(x)
    return a.shape, a.dtype


def _as_output(value):
    if _is_traced(value):
        return value
    value = np.asarray(value)
    return value[()] if value.ndim == 0 else value


def _value_and_grad(fun, argnums, args, kwargs):
    nums = _argnums_tuple(argnums, len(args))
    trace, out, inputs = _run(fun, args, kwargs, nums)
    value = _unbox(trace, out)
    shape, dtype = _shape_dtype(value)
    if tuple(shape) != () or np.dtype(dtype).kind != "f":
        raise GraphadError(f"grad requires a function returning one float scalar; {fun_name(fun)} "
                           f"returned a value of shape {tuple(shape)} and dtype {dtype} "
                           "(use graphad.eager.vjp for non-scalar outputs)")
    seeds = {}
    if type(out) is Box and out._trace is trace:
        seeds[out] = np.ones((), out.dtype)
    grads = _pull_back(trace, seeds, inputs)
    # Boxes point at their trace and the tape at the boxes: drop the tape so the
    # intermediates are freed now, not at the next cyclic garbage collection.
    trace.tape = None
    return _as_output(value), grads[0] if isinstance(argnums, int) else tuple(grads)


def fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def value_and_grad(fun, argnums=0):
    """`(fun(*args), gradient)`, computed op by op; Python control flow is allowed."""
    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        return _value_and_grad(fun, argnums, args, kwargs)
    return value_and_grad_fun


def grad(fun, argnums=0):
    """Gradient of a scalar-valued `fun` w.r.t. argument(s) `argnums`, computed eagerly."""
    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        return _value_and_grad(fun, argnums, args, kwargs)[1]
    return grad_fun


def vjp(fun, *primals):
    """`(out, vjp_fn)`; `vjp_fn(cotangent)` returns one cotangent tree per primal.
    Leaves that are not floats get zero cotangents."""
    trace, out, inputs = _run(fun, primals, {}, tuple(range(len(primals))), float_only=False)
    out_leaves, out_tree = tree_flatten(out)

    def vjp_fn(cotangent):
        ct_leaves, ct_tree = tree_flatten(cotangent)
        if ct_tree != out_tree:
            raise GraphadError(f"vjp_fn: the cotangent has structure {ct_tree}, "
                               f"the output {out_tree}")
        seeds = {}
        for o, c in zip(out_leaves, ct_leaves):
            if type(o) is Box and o._trace is trace:
                c = c if _is_traced(c) else np.asarray(c, dtype=o.dtype)
                if tuple(c.shape) != tuple(o.shape):
                    raise GraphadError(f"vjp_fn: a cotangent of shape {tuple(c.shape)} for an "
                                       f"output of shape {tuple(o.shape)}")
                seeds[o] = c
        return tuple(_pull_back(trace, seeds, inputs))

    value = tree_unflatten(out_tree, [_as_output(_unbox(trace, o)) for o in out_leaves])
    return value, vjp_fn
