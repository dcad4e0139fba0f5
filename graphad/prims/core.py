"""The Primitive: one block declaring a shape rule, numpy semantics and AD rules.

`bind` is the single entry point for applying a primitive. With plain numpy
values it runs the reference implementation; when any argument is a traced
value (anything with a `_trace` attribute: a graph tracer, an eager tape box)
the owning trace records it instead. The innermost trace (highest `level`)
wins, so nested transformations see their own values.

Rule signatures (rules are written with graphad operations, so they trace):
  vjp(g, *inputs, out, **attrs) -> tuple of input cotangents (None = zero)
  vjp_parts: one function per input, each computing only that input's cotangent;
      a primitive declared this way lets the reverse pass skip inputs that need
      no cotangent (a constant operand of `mul`, the data matrix of a `dot`),
      which matters in eager mode where no dead-code elimination follows.
  jvp(tangents, *inputs, out, **attrs) -> output tangent; tangents are never None
For multi-result primitives `g`, `out` and the jvp result are tuples.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TypeMismatchError
from ..ir import TensorType


class Primitive:
    __slots__ = ("name", "infer", "impl", "vjp", "vjp_parts", "jvp", "kind", "differentiable",
                 "multiple_results")

    KINDS = ("elementwise", "reduction", "shape", "linalg", "creation", "control", "fused")

    def __init__(self, name, *, infer, impl, vjp=None, vjp_parts=None, jvp=None, kind,
                 differentiable=True, multiple_results=False):
        assert kind in self.KINDS, kind
        assert vjp is None or vjp_parts is None, "declare vjp or vjp_parts, not both"
        self.name = name
        self.infer = infer
        self.impl = impl
        if vjp_parts is not None:
            vjp = lambda g, *xs, **kw: tuple(part(g, *xs, **kw) for part in vjp_parts)  # noqa: E731
        self.vjp = vjp
        self.vjp_parts = vjp_parts
        self.jvp = jvp
        self.kind = kind
        self.differentiable = differentiable
        self.multiple_results = multiple_results

    def bind(self, *args, **attrs):
        trace = find_trace(args)
        if trace is None:
            return self.impl(*args, **attrs)
        return trace.process(self, args, attrs)

    def __repr__(self):
        return f"<primitive {self.name}>"


def find_trace(args):
    """The innermost trace owning any of `args`, or None for plain values."""
    best = None
    for a in args:
        t = getattr(a, "_trace", None)
        if t is not None and (best is None or t.level > best.level):
            best = t
    return best


class Masked:
    """A cotangent known to be exactly zero where `mask` is False.

    `where`'s vjp returns these; the reverse pass then forces the cotangents of
    upstream elementwise operations to zero outside the mask, so a NaN or inf
    computed in the branch not taken never reaches the gradient (0 * inf).
    """

    __slots__ = ("value", "mask")

    def __init__(self, value, mask):
        self.value = value
        self.mask = mask


# ---- shape rules shared by several families --------------------------------------

def same_type(x: TensorType, **_) -> TensorType:
    return x


def broadcast_shapes(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError("operands could not be broadcast together with shapes "
                         + " ".join(str(tuple(s)) for s in shapes)) from None


def require_same_dtype(name, *types):
    dtypes = {t.dtype for t in types}
    if len(dtypes) > 1:
        raise TypeMismatchError(f"{name}: operands have different dtypes "
                                f"{', '.join(str(t) for t in types)}")
    return types[0].dtype


def normalize_axes(axes, ndim: int, what="axis") -> tuple:
    """Sorted, non-negative, unique axes; None means all."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what} {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated {what} in {tuple(axes)}")
    return tuple(sorted(out))
