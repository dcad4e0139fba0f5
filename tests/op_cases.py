"""The op suite: a table of small functions that together use every primitive.

Plain data, imported by several test modules (primitive checks, pass
preservation, backend agreement). A case is a name, a body written once
against a numpy-like namespace, argument specs and differentiation flags:

    case("sum/axis=-1", lambda np, x: np.sum(x, axis=-1), F(2, 3, 4))

`case.fn` is the body bound to `graphad.numpy` (what gets traced) and
`case.ref` the same body bound to plain numpy (the reference); a case may give
its own `ref` when numpy has no such function. `make_args(case)` draws the
arguments with a fixed seed from each spec's domain, and `traced_graph(case)`
returns the traced graph with those arguments.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import graphad
import graphad.numpy as gnp
from graphad.prims import BY_NAME as PRIMS
from graphad.prims import shape as S
from graphad.trace import trace_function


# ---- argument specs -----------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    shape: tuple = ()
    dtype: str = "float64"
    domain: str = "any"   # see DOMAINS


def F(*shape, domain="any"):
    return Arg(tuple(shape), "float64", domain)


def I(*shape, domain="int"):  # noqa: E743
    return Arg(tuple(shape), "int64", domain)


def B(*shape):
    return Arg(tuple(shape), "bool", "bool")


def _away(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.5, size=shape)


DOMAINS = {
    "any": lambda rng, shape: rng.standard_normal(shape),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, size=shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, size=shape),   # arcsin, tan
    "away": _away,                                                     # away from 0
    "int": lambda rng, shape: rng.integers(-3, 4, size=shape),
    "index": lambda rng, shape: rng.integers(0, 3, size=shape),
    "nonzero_int": lambda rng, shape: rng.choice([-3, -2, -1, 1, 2, 3], size=shape),
    "above1": lambda rng, shape: rng.uniform(1.2, 3.0, size=shape),      # arccosh
    "bool": lambda rng, shape: rng.random(shape) < 0.5,
}


# ---- cases ----------------------------------------------------------------------------

class _NumpyRef:
    """numpy, plus the graphad.numpy names numpy lacks (scipy's spellings)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def logsumexp(a, axis=None, keepdims=False):
        m = np.max(a, axis=axis, keepdims=True)
        s = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        return s if keepdims else np.squeeze(s, axis=axis)

    @staticmethod
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    expit = sigmoid

    @staticmethod
    def stop_gradient(x):
        return x


NP_REF = _NumpyRef()


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable              # the body on graphad.numpy: traced, differentiated
    ref: Callable             # the same function on plain numpy: the reference
    args: tuple               # Arg specs, one per positional argument
    wrt: tuple                # indices of the arguments to differentiate; () = none
    fd: bool = True           # gradient must match finite differences (not for stop_gradient)
    eps: float = 1e-6         # finite-difference step
    tol: float = 1e-6         # relative tolerance of the derivative checks
    dispatch: bool = True     # the numpy body also runs on tracers (__array_function__)
    jvp: bool = True          # forward mode is defined (not for custom_vjp functions)
    f32: bool = True          # meaningful in float32 too (not when it needs float64's range)
    second_order: bool = True  # grad of grad is defined (not through while_loop)
    tags: tuple = field(default=())

    def __repr__(self):
        return f"<case {self.name}>"


CASES: list[Case] = []


def case(name, body=None, *args, fn=None, ref=None, wrt=None, **flags):
    """Register a case. `body(np, *xs)` gives both fn and ref unless they are given."""
    fn = fn or (lambda *xs: body(gnp, *xs))
    ref = ref or (lambda *xs: body(NP_REF, *xs))
    if wrt is None:
        wrt = tuple(i for i, a in enumerate(args) if a.dtype.startswith("float"))
    CASES.append(Case(name, fn, ref, tuple(args), tuple(wrt), **flags))


# Elementwise unary: name -> (domain, numpy spelling when it differs).
UNARY = {
    "negative": "any", "exp": "any", "log": "positive", "log1p": "positive",
    "expm1": "any", "sin": "any", "cos": "any", "tan": "unit", "tanh": "any",
    "sinh": "any", "cosh": "any", "arcsin": "unit", "arccos": "unit", "arctan": "any",
    "sqrt": "positive", "square": "any", "abs": "away", "absolute": "away", "fabs": "away",
    "reciprocal": "away", "sigmoid": "any", "expit": "any", "sign": "away", "floor": "any",
    "ceil": "any", "round": "any", "positive": "any",
}
for _name, _domain in UNARY.items():
    for _shape in [(), (3,), (2, 3)]:
        case(f"{_name}{list(_shape)}", lambda np, x, f=_name: getattr(np, f)(x),
             F(*_shape, domain=_domain))
case("exp[2,3,4]", lambda np, x: np.exp(x), F(2, 3, 4))
case("round/decimals=1", lambda np, x: np.round(x, 1), F(5))
case("round/int", lambda np, x: np.round(x), I(4))
case("round/int-decimals=-1", lambda np, x: np.round(x * 5, -1), I(4))
case("floor/int", lambda np, x: np.floor(x), I(4))
case("ceil/int", lambda np, x: np.ceil(x), I(4))
case("logical_not", lambda np, b: np.logical_not(b), B(2, 3))
case("logical_not/float", lambda np, x: np.logical_not(x), F(4, domain="int"), wrt=())
case("invert", lambda np, b: ~b, B(5))
case("op/neg", lambda np, x: -x, F(2, 3))
case("op/abs", lambda np, x: abs(x), F(2, 3, domain="away"))
case("op/pos", lambda np, x: +x, F(3))
case("exp/int", lambda np, i: np.exp(i), I(4), wrt=())
case("sqrt/times-literal", lambda np, x: np.sqrt(x) * 2.0, F(3, domain="positive"))

# Elementwise binary over broadcasting shape pairs.
BINARY = {
    "add": ("any", "any"), "subtract": ("any", "any"), "multiply": ("any", "any"),
    "divide": ("any", "away"), "true_divide": ("any", "away"), "power": ("positive", "any"),
    "maximum": ("any", "any"), "minimum": ("any", "any"), "arctan2": ("any", "any"),
}
PAIRS = [((3,), (3,)), ((3, 1), (4,)), ((), (2, 3)), ((2, 3), ()), ((2, 1, 4), (3, 1))]
for _name, (_dx, _dy) in BINARY.items():
    for _sx, _sy in PAIRS:
        case(f"{_name}{list(_sx)}{list(_sy)}", lambda np, x, y, f=_name: getattr(np, f)(x, y),
             F(*_sx, domain=_dx), F(*_sy, domain=_dy))

OPERATORS = {
    "x+y": lambda np, x, y: x + y, "x-y": lambda np, x, y: x - y,
    "x*y": lambda np, x, y: x * y, "x/y": lambda np, x, y: x / y,
}
for _name, _body in OPERATORS.items():
    case(f"op/{_name}", _body, F(3, 1), F(4, domain="away"))
case("op/x**y", lambda np, x, y: x ** y, F(3, 1, domain="positive"), F(4))
case("op/x+1", lambda np, x: x + 1, F(3))
case("op/2*x", lambda np, x: 2 * x, F(3))
case("op/x-3", lambda np, x: x - 3.0, F(3))
case("op/3-x", lambda np, x: 3.0 - x, F(3))
case("op/x/2", lambda np, x: x / 2, F(3))
case("op/1/x", lambda np, x: 1 / x, F(3, domain="away"))
case("op/x**2", lambda np, x: x ** 2, F(2, 3))
case("op/x**3-negative-base", lambda np, x: x ** 3, F(4))
case("op/x**0.5", lambda np, x: x ** 0.5, F(3, domain="positive"))
case("op/x**-1.5", lambda np, x: x ** -1.5, F(3, domain="positive"))
case("op/2**x", lambda np, x: 2.0 ** x, F(3))
case("maximum/x,0", lambda np, x: np.maximum(x, 0.0), F(2, 3, domain="away"))
case("minimum/0,x", lambda np, x: np.minimum(0.0, x), F(2, 3, domain="away"))
case("promote/float+int", lambda np, x, i: x + i, F(2, 3), I(3))
case("promote/int*float-literal", lambda np, i: i * 2.5, I(3), wrt=())
case("promote/int+int", lambda np, i, j: i * j - i, I(3), I(2, 1), wrt=())
case("promote/int/int", lambda np, i, j: i / (j * j + 1), I(3), I(3), wrt=())
case("promote/bool*float", lambda np, b, x: b * x, B(3), F(3))
case("promote/float32*float64-scalar", lambda np, x: x * np.float64(2.0), F(3))

COMPARISONS = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
for _name in COMPARISONS:
    case(f"{_name}/float", lambda np, x, y, f=_name: getattr(np, f)(x, y), F(3, 1), F(4), wrt=())
    case(f"{_name}/int", lambda np, x, y, f=_name: getattr(np, f)(x, y), I(3, 1), I(4), wrt=())
case("op/x<y", lambda np, x, y: x < y, F(3), F(3), wrt=())
case("op/x<=0.5", lambda np, x: x <= 0.5, F(3), wrt=())
case("op/x>y", lambda np, x, y: x > y, F(2, 3), F(3), wrt=())
case("op/x>=y", lambda np, x, y: x >= y, I(4), I(4), wrt=())
case("op/x==y", lambda np, x, y: x == y, I(4), I(4), wrt=())
case("op/x!=y", lambda np, x, y: x != y, I(4), I(4), wrt=())
case("logical_and", lambda np, a, b: np.logical_and(a, b), B(3, 1), B(4))
case("logical_or", lambda np, a, b: np.logical_or(a, b), B(3, 1), B(4))
case("logical_and/float", lambda np, x, y: np.logical_and(x > 0, y), F(3), F(3, domain="int"),
     wrt=())
case("op/&|", lambda np, a, b, c: (a & b) | ~c, B(3), B(3), B(3))
case("op/masks", lambda np, x, y: (x > 0) & (y < 0), F(4), F(4), wrt=())

case("where", lambda np, x, y: np.where(x > 0, x, y), F(2, 3), F(2, 3))
case("where/broadcast", lambda np, c, x: np.where(c, x, 0.0), B(3, 1), F(4))
case("where/three-shapes", lambda np, c, x, y: np.where(c, x, y), B(3, 1), F(4), F(2, 1, 1))
case("where/nan-branch", lambda np, x: np.where(x > 0, np.sqrt(np.abs(x)), -x),
     F(2, 3, domain="away"))
case("where/int", lambda np, i, j: np.where(i > 0, i, j), I(4), I(4))
case("clip", lambda np, x: np.clip(x, -0.5, 0.5), F(2, 3))
case("clip/max-only", lambda np, x: np.clip(x, None, 0.3), F(5))
case("clip/arrays", lambda np, x, lo, hi: np.clip(x, lo, hi), F(3, 4), F(4), F(3, 1))
case("method/clip", lambda np, x: x.clip(-1, 1), F(5))

# Reductions: every axis form, with and without keepdims.
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), ()]
REDUCTIONS = {
    "sum": "any", "mean": "any", "max": "any", "min": "any", "amax": "any", "amin": "any",
    "prod": "away", "logsumexp": "any", "var": "any", "std": "any",
}
for _name, _domain in REDUCTIONS.items():
    for _axis in AXES:
        for _keep in (False, True):
            if _axis == () and _name in ("std",):
                continue   # std over no axes is sqrt(0): not differentiable
            case(f"{_name}/axis={_axis}/keepdims={_keep}",
                 lambda np, x, f=_name, a=_axis, k=_keep: getattr(np, f)(x, axis=a, keepdims=k),
                 F(2, 3, 4, domain=_domain))
    case(f"{_name}/vector", lambda np, x, f=_name: getattr(np, f)(x), F(5, domain=_domain))
    if _name not in ("var", "std"):
        case(f"{_name}/scalar", lambda np, x, f=_name: getattr(np, f)(x), F(domain=_domain))
case("var/ddof=1", lambda np, x: np.var(x, axis=1, ddof=1), F(3, 4))
case("std/ddof=1/keepdims", lambda np, x: np.std(x, axis=0, ddof=1, keepdims=True), F(3, 4))
case("sum/int", lambda np, i: np.sum(i, axis=0), I(3, 4))
case("sum/bool", lambda np, b: np.sum(b), B(3, 4))
case("mean/int", lambda np, i: np.mean(i, axis=1), I(3, 4))
case("mean/dtype=float32", lambda np, x: np.mean(x, dtype=np.float32), F(3), tol=1e-3, eps=1e-2)
case("var/dtype=float32", lambda np, x: np.var(x, dtype=np.float32), F(3), tol=1e-3, eps=1e-2)
case("prod/int", lambda np, i: np.prod(i), I(5))
case("max/int", lambda np, i: np.max(i, axis=0), I(3, 4))
case("sum/dtype=float32", lambda np, x: np.sum(x, dtype=np.float32), F(3), tol=1e-3, eps=1e-2)
case("method/sum", lambda np, x: x.sum(axis=0), F(3, 4))
case("method/mean", lambda np, x: x.mean(), F(3, 4))
case("method/max", lambda np, x: x.max(axis=1, keepdims=True), F(3, 4))
case("method/min", lambda np, x: x.min(axis=-1), F(3, 4))
case("method/prod", lambda np, x: x.prod(axis=0), F(3, 4, domain="away"))
case("method/var", lambda np, x: x.var(axis=0), F(3, 4))
case("method/std", lambda np, x: x.std(), F(3, 4))
for _name in ("argmax", "argmin"):
    for _axis in (None, 0, 1, -1):
        case(f"{_name}/axis={_axis}", lambda np, x, f=_name, a=_axis: getattr(np, f)(x, axis=a),
             F(3, 4), wrt=())
    case(f"{_name}/int", lambda np, i, f=_name: getattr(np, f)(i, axis=0), I(4, 3), wrt=())
    case(f"method/{_name}", lambda np, x, f=_name: getattr(x, f)(), F(3, 4), wrt=())

# Shape operations.
SHAPE_OPS = [
    ("reshape/-1", lambda np, x: np.reshape(x, (-1,)), F(2, 3, 4)),
    ("reshape/(4,-1)", lambda np, x: np.reshape(x, (4, -1)), F(2, 3, 4)),
    ("reshape/int-shape", lambda np, x: np.reshape(x, 6), F(2, 3)),
    ("reshape/to-scalar", lambda np, x: np.reshape(x, ()), F(1, 1)),
    ("reshape/from-scalar", lambda np, x: np.reshape(x, (1, 1, 1)), F()),
    ("method/reshape-varargs", lambda np, x: x.reshape(3, -1), F(2, 3, 2)),
    ("method/reshape-tuple", lambda np, x: x.reshape((6,)), F(2, 3)),
    ("ravel", lambda np, x: np.ravel(x), F(2, 3)),
    ("method/ravel", lambda np, x: x.ravel(), F(2, 3)),
    ("method/flatten", lambda np, x: x.flatten(), F(2, 3)),
    ("transpose", lambda np, x: np.transpose(x), F(2, 3, 4)),
    ("transpose/axes", lambda np, x: np.transpose(x, (1, 2, 0)), F(2, 3, 4)),
    ("transpose/negative-axes", lambda np, x: np.transpose(x, (-1, 0, 1)), F(2, 3, 4)),
    ("method/T", lambda np, x: x.T, F(2, 3)),
    ("method/T-1d", lambda np, x: x.T, F(3)),
    ("method/transpose-varargs", lambda np, x: x.transpose(2, 0, 1), F(2, 3, 4)),
    ("method/transpose-tuple", lambda np, x: x.transpose((0, 2, 1)), F(2, 3, 4)),
    ("method/transpose-none", lambda np, x: x.transpose(), F(2, 3, 4)),
    ("moveaxis/0,-1", lambda np, x: np.moveaxis(x, 0, -1), F(2, 3, 4)),
    ("moveaxis/-1,0", lambda np, x: np.moveaxis(x, -1, 0), F(2, 3, 4)),
    ("moveaxis/tuples", lambda np, x: np.moveaxis(x, (0, 1), (2, 0)), F(2, 3, 4)),
    ("moveaxis/4d", lambda np, x: np.moveaxis(x, (3, 0), (1, 2)), F(2, 3, 4, 5)),
    ("swapaxes", lambda np, x: np.swapaxes(x, 0, 2), F(2, 3, 4)),
    ("swapaxes/negative", lambda np, x: np.swapaxes(x, -1, 1), F(2, 3, 4)),
    ("method/swapaxes", lambda np, x: x.swapaxes(0, 1), F(2, 3)),
    ("expand_dims/0", lambda np, x: np.expand_dims(x, 0), F(2, 3)),
    ("expand_dims/-1", lambda np, x: np.expand_dims(x, -1), F(2, 3)),
    ("expand_dims/1", lambda np, x: np.expand_dims(x, 1), F(2, 3)),
    ("expand_dims/tuple", lambda np, x: np.expand_dims(x, (0, 3)), F(2, 3)),
    ("expand_dims/scalar", lambda np, x: np.expand_dims(x, 0), F()),
    ("squeeze", lambda np, x: np.squeeze(x), F(1, 3, 1, 2)),
    ("squeeze/axis", lambda np, x: np.squeeze(x, axis=2), F(1, 3, 1, 2)),
    ("squeeze/negative", lambda np, x: np.squeeze(x, axis=-2), F(1, 3, 1, 2)),
    ("squeeze/tuple", lambda np, x: np.squeeze(x, axis=(0, 2)), F(1, 3, 1, 2)),
    ("squeeze/to-scalar", lambda np, x: np.squeeze(x), F(1, 1)),
    ("method/squeeze", lambda np, x: x.squeeze(), F(3, 1)),
    ("broadcast_to/prepend", lambda np, x: np.broadcast_to(x, (2, 3, 4)), F(4)),
    ("broadcast_to/inner", lambda np, x: np.broadcast_to(x, (2, 3, 4)), F(3, 1)),
    ("broadcast_to/scalar", lambda np, x: np.broadcast_to(x, (2, 3)), F()),
    ("broadcast_to/same", lambda np, x: np.broadcast_to(x, (2, 3)), F(2, 3)),
    ("atleast_1d/scalar", lambda np, x: np.atleast_1d(x), F()),
    ("atleast_1d/vector", lambda np, x: np.atleast_1d(x), F(3)),
    ("atleast_2d/scalar", lambda np, x: np.atleast_2d(x), F()),
    ("atleast_2d/vector", lambda np, x: np.atleast_2d(x), F(3)),
    ("atleast_2d/matrix", lambda np, x: np.atleast_2d(x), F(2, 3)),
]
for _name, _body, *_args in SHAPE_OPS:
    case(_name, _body, *_args)
case("concatenate/0", lambda np, x, y, z: np.concatenate([x, y, z]), F(2, 3), F(1, 3), F(3, 3))
case("concatenate/1", lambda np, x, y: np.concatenate((x, y), axis=1), F(2, 3), F(2, 1))
case("concatenate/-1", lambda np, x, y: np.concatenate([x, y], axis=-1), F(2, 2, 3), F(2, 2, 2))
case("concatenate/None", lambda np, x, y: np.concatenate([x, y], axis=None), F(2, 3), F(4))
case("concatenate/mixed-dtype", lambda np, x, i: np.concatenate([x, i]), F(3), I(2))
case("concatenate/repeated", lambda np, x: np.concatenate([x, x * 2, x]), F(3))
case("stack/0", lambda np, x, y: np.stack([x, y]), F(2, 3), F(2, 3))
case("stack/1", lambda np, x, y, z: np.stack([x, y, z], axis=1), F(2, 3), F(2, 3), F(2, 3))
case("stack/-1", lambda np, x, y: np.stack((x, y), axis=-1), F(2, 3), F(2, 3))
case("stack/scalars", lambda np, x, y: np.stack([x, y]), F(), F())
case("hstack", lambda np, x, y: np.hstack([x, y]), F(2, 3), F(2, 2))
case("hstack/1d", lambda np, x, y: np.hstack([x, y]), F(2), F(3))
case("vstack", lambda np, x, y: np.vstack([x, y]), F(3), F(2, 3))
# numpy builds arrays from lists without a dispatch protocol: gnp.array only.
case("array/list-of-tracers", lambda np, x, y: np.array([x, y * 2]), F(3), F(3), dispatch=False)
case("array/nested-scalars", lambda np, x, y: np.asarray([[x, y], [y, x]]), F(), F(),
     dispatch=False)

# Basic indexing: ints, slices with steps (negative too), None, Ellipsis.
INDEXES = {
    "[1]": lambda x: x[1], "[-1]": lambda x: x[-1], "[1:3]": lambda x: x[1:3],
    "[::2]": lambda x: x[::2], "[::-1]": lambda x: x[::-1], "[3:0:-2]": lambda x: x[3:0:-2],
    "[None]": lambda x: x[None], "[...,1]": lambda x: x[..., 1],
    "[:,None,1:]": lambda x: x[:, None, 1:], "[1,...,None]": lambda x: x[1, ..., None],
    "[-3:,::-2]": lambda x: x[-3:, ::-2], "[2:2]": lambda x: x[2:2], "[1,2]": lambda x: x[1, 2],
    "[np.int64]": lambda x: x[np.int64(2)], "[1][2]": lambda x: x[1][2],
    "[10:]-empty": lambda x: x[10:], "[-100:2]": lambda x: x[-100:2],
    "[...]": lambda x: x[...], "[:,-1:-4:-1]": lambda x: x[:, -1:-4:-1],
}
for _name, _index in INDEXES.items():
    case(f"getitem{_name}", lambda np, x, ix=_index: ix(x), F(4, 5))
case("getitem/3d[...,::2,1]", lambda np, x: x[..., ::2, 1], F(3, 4, 5))
case("getitem/3d[0,:,-1]", lambda np, x: x[0, :, -1], F(3, 4, 5))
case("getitem/3d[None,1,...,None]", lambda np, x: x[None, 1, ..., None], F(3, 4, 5))
case("getitem/3d[:,1:3][...,0]", lambda np, x: x[:, 1:3][..., 0], F(3, 4, 5))
case("getitem/vector[::-3]", lambda np, x: x[::-3], F(7))
case("getitem/scalar[None]", lambda np, x: x[None], F())
case("getitem/fan-out", lambda np, x: x[0] * x[1] + x[-1], F(3, 2))
case("iterate", lambda np, x: sum(r * (i + 1) for i, r in enumerate(x)), F(3, 2))
case("scatter_slice", None, F(2, 3),
     fn=lambda g: S.scatter_slice(g, ((1, 2, 2), (3, -1, 3)), (5, 4)),
     ref=lambda g: _scatter_ref(g, np.s_[1:5:2, 3:0:-1], (5, 4)), dispatch=False)


def _scatter_add_ref(g, idx, size):
    out = np.zeros(g.shape[:1] + (size,), g.dtype)
    for k, i in enumerate(idx):
        out[:, i] += g[:, k]
    return out


def _scatter_ref(g, index, shape):
    out = np.zeros(shape, g.dtype)
    out[index] = g
    return out


# Linear algebra.
LINALG = [
    ("dot/1d-1d", lambda np, a, b: np.dot(a, b), F(3), F(3)),
    ("dot/2d-1d", lambda np, a, b: np.dot(a, b), F(2, 3), F(3)),
    ("dot/1d-2d", lambda np, a, b: np.dot(a, b), F(3), F(3, 4)),
    ("dot/2d-2d", lambda np, a, b: np.dot(a, b), F(2, 3), F(3, 4)),
    ("dot/3d-2d", lambda np, a, b: np.dot(a, b), F(5, 2, 3), F(3, 4)),
    ("dot/2d-3d", lambda np, a, b: np.dot(a, b), F(2, 3), F(5, 3, 4)),
    ("dot/scalar", lambda np, a, b: np.dot(a, b), F(), F(2, 3)),
    ("method/dot", lambda np, a, b: a.dot(b), F(2, 3), F(3)),
    ("matmul/1d-1d", lambda np, a, b: np.matmul(a, b), F(3), F(3)),
    ("matmul/2d-1d", lambda np, a, b: a @ b, F(2, 3), F(3)),
    ("matmul/1d-2d", lambda np, a, b: a @ b, F(3), F(3, 4)),
    ("matmul/2d-2d", lambda np, a, b: a @ b, F(2, 3), F(3, 4)),
    ("matmul/batched", lambda np, a, b: a @ b, F(5, 2, 3), F(5, 3, 4)),
    ("matmul/batched-2d", lambda np, a, b: a @ b, F(5, 2, 3), F(3, 4)),
    ("matmul/2d-batched", lambda np, a, b: a @ b, F(2, 3), F(5, 3, 4)),
    ("matmul/broadcast-batch", lambda np, a, b: a @ b, F(5, 1, 2, 3), F(4, 3, 2)),
    ("matmul/1d-batched", lambda np, a, b: a @ b, F(3), F(5, 3, 4)),
    ("matmul/batched-1d", lambda np, a, b: a @ b, F(5, 2, 3), F(3)),
    ("matmul/int", lambda np, a, b: a @ b, I(2, 3), I(3, 2)),
    ("matmul/int-float", lambda np, a, b: a @ b, I(2, 3), F(3, 2)),
    ("tensordot/0", lambda np, a, b: np.tensordot(a, b, 0), F(2, 3), F(4)),
    ("tensordot/1", lambda np, a, b: np.tensordot(a, b, 1), F(2, 3), F(3, 4)),
    ("tensordot/2", lambda np, a, b: np.tensordot(a, b), F(2, 3, 4), F(3, 4, 5)),
    ("tensordot/pairs", lambda np, a, b: np.tensordot(a, b, ([1, 0], [0, 1])), F(2, 3, 4), F(3, 2)),
    ("tensordot/single-pair", lambda np, a, b: np.tensordot(a, b, ((2,), (0,))), F(2, 3, 4), F(4, 5)),
    ("tensordot/negative", lambda np, a, b: np.tensordot(a, b, ([-1], [-2])), F(2, 3), F(3, 4)),
    ("outer", lambda np, a, b: np.outer(a, b), F(3), F(4)),
    ("outer/2d", lambda np, a, b: np.outer(a, b), F(2, 2), F(3)),
    ("inner/1d", lambda np, a, b: np.inner(a, b), F(3), F(3)),
    ("inner/2d", lambda np, a, b: np.inner(a, b), F(2, 3), F(4, 3)),
    ("inner/3d-1d", lambda np, a, b: np.inner(a, b), F(2, 4, 3), F(3)),
    ("inner/scalar", lambda np, a, b: np.inner(a, b), F(), F(3)),
    ("vdot", lambda np, a, b: np.vdot(a, b), F(2, 3), F(3, 2)),
]
for _name, _body, *_args in LINALG:
    case(_name, _body, *_args)

# Casts and constants.
case("astype/float32", lambda np, x: x.astype(np.float32), F(3), eps=1e-2, tol=1e-4)
case("astype/int", lambda np, x: x.astype(np.int64), F(3), wrt=())
case("astype/bool", lambda np, x: x.astype(bool), F(3, domain="int"), wrt=())
case("astype/int-to-float", lambda np, i, x: i.astype(np.float64) * x, I(3), F(3))
case("astype/bool-to-float", lambda np, b, x: b.astype(float) + x, B(3), F(3))
case("astype/same", lambda np, x: x.astype(np.float64), F(3))
case("asarray/dtype", lambda np, x: np.asarray(x, dtype=np.float32) * 2, F(3), eps=1e-2, tol=1e-4,
     dispatch=False)
case("const/zeros", lambda np, x: x + np.zeros((2, 3)), F(3))
case("const/ones", lambda np, x: x * np.ones(3), F(3))
case("const/full", lambda np, x: x + np.full((3,), 2.0), F(3))
case("const/arange", lambda np, x: x * np.arange(3.0), F(3))
case("const/linspace", lambda np, x: x * np.linspace(0, 1, 3), F(3))
case("const/eye", lambda np, x: np.eye(3) @ x, F(3, 2))
case("const/zeros_like", lambda np, x: x + np.zeros_like(x), F(3))
case("const/ones_like", lambda np, x: x * np.ones_like(x), F(3))
case("const/full_like", lambda np, x: x * np.full_like(x, 3.0), F(3))
case("const/closure-array", lambda np, x: x * _W, F(2, 3))
case("stop_gradient", lambda np, x: x * np.stop_gradient(x), F(3), fd=False)

_W = np.arange(6.0).reshape(2, 3) / 7


# Primitives graphad.numpy does not expose, bound directly.
def _softplus_ref(x):
    return np.logaddexp(x, 0.0)


case("softplus", None, F(2, 3), fn=lambda x: PRIMS["softplus"].bind(x), ref=_softplus_ref,
     dispatch=False)
case("softplus/large", None, F(3), fn=lambda x: PRIMS["softplus"].bind(x * 40.0),
     ref=lambda x: _softplus_ref(x * 40.0), dispatch=False)


@graphad.custom_vjp
def _custom_lse(x):
    return gnp.log(gnp.sum(gnp.exp(x)))


def _custom_lse_fwd(x):
    out = _custom_lse(x)
    return out, (x, out)


def _custom_lse_bwd(residuals, g):
    x, out = residuals
    return (g * gnp.exp(x - out),)


_custom_lse.defvjp(_custom_lse_fwd, _custom_lse_bwd)
case("custom_vjp", None, F(4), fn=lambda x: _custom_lse(x) * x,
     ref=lambda x: np.log(np.sum(np.exp(x))) * x, dispatch=False, jvp=False)

# Compositions: fan-out, broadcasting against reductions, a small network.
case("mix/fan-out", lambda np, x: x * x + np.sin(x) * x, F(3))
case("mix/reduce-broadcast", lambda np, x: x * np.sum(x, axis=0) - np.mean(x), F(3, 4))
case("mix/softmax", lambda np, x: np.exp(x - np.logsumexp(x, axis=1, keepdims=True)), F(2, 4))
case("mix/mlp", lambda np, x, w, b: np.tanh(x @ w + b).sum(axis=-1), F(4, 3), F(3, 2), F(2))
case("mix/normalize", lambda np, x: (x - x.mean(0)) / x.std(0), F(5, 3))
case("mix/tanh-by-exp", lambda np, x: (1 - np.exp(-x)) / (1 + np.exp(-x)), F(4))
case("mix/sum-of-list", lambda np, x, y: sum([x, y * 2, np.sin(x)]), F(3), F(3))


# ======== NumPy coverage (issue 10) ========================================================

_SPECIALS = np.array([1.0, np.inf, -np.inf, np.nan])

for _name, _domain in {"exp2": "any", "log2": "positive", "log10": "positive",
                       "arcsinh": "any", "arccosh": "above1", "arctanh": "unit", "sinc": "any",
                       "deg2rad": "any", "rad2deg": "any", "degrees": "any", "radians": "any",
                       "trunc": "any", "fix": "any", "rint": "any", "real": "any", "conj": "any",
                       "conjugate": "any", "nan_to_num": "any"}.items():
    for _shape in [(), (2, 3)]:
        case(f"{_name}{list(_shape)}", lambda np, x, f=_name: getattr(np, f)(x),
             F(*_shape, domain=_domain))
case("sinc/at-zero", lambda np, x: np.sinc(x * np.array([0.0, 1.0, 2.0])), F(3))
case("imag", lambda np, x: np.imag(x) + x, F(2, 3))
case("log10/exact", lambda np, x: np.log10(x * 0 + 1000.0) + np.log2(x * 0 + 8.0), F(3))
case("trunc/int", lambda np, i: np.trunc(i), I(4))
for _name in ("isnan", "isinf", "isfinite"):
    case(f"{_name}", lambda np, x, f=_name: getattr(np, f)(x * _SPECIALS), F(4), wrt=())
    case(f"{_name}/int", lambda np, i, f=_name: getattr(np, f)(i), I(3), wrt=())
case("nan_to_num/specials", lambda np, x: np.nan_to_num(x * _SPECIALS), F(4, domain="away"))
case("nan_to_num/values", lambda np, x: np.nan_to_num(x * _SPECIALS, nan=-1.0, posinf=9.0,
                                                      neginf=-9.0), F(4, domain="away"))
case("logical_xor", lambda np, a, b: np.logical_xor(a, b), B(3, 1), B(4))
case("float_power", lambda np, x, y: np.float_power(x, y), F(3, domain="positive"), F(3))
case("heaviside", lambda np, x: np.heaviside(x, 0.5) * x, F(2, 3, domain="away"))

NEW_BINARY = {
    "logaddexp": ("any", "any"), "logaddexp2": ("any", "any"), "hypot": ("any", "any"),
    "fmax": ("any", "any"), "fmin": ("any", "any"), "fmod": ("any", "away"),
    "remainder": ("any", "away"), "mod": ("any", "away"), "floor_divide": ("any", "away"),
}
for _name, (_dx, _dy) in NEW_BINARY.items():
    for _sx, _sy in PAIRS[:4]:
        case(f"{_name}{list(_sx)}{list(_sy)}", lambda np, x, y, f=_name: getattr(np, f)(x, y),
             F(*_sx, domain=_dx), F(*_sy, domain=_dy))
    if _name in ("fmod", "remainder", "floor_divide", "fmax"):
        case(f"{_name}/int", lambda np, i, j, f=_name: getattr(np, f)(i, j),
             I(3, 1), I(4, domain="nonzero_int"))
case("remainder/scaled", lambda np, x, y: np.remainder(x * 7, y), F(6), F(6, domain="away"))
case("floor_divide/scaled", lambda np, x, y: np.floor_divide(x * 7, y) * y, F(6), F(6, domain="away"))
case("divmod", lambda np, x, y: np.divmod(x * 5, y), F(5), F(5, domain="away"))
case("fmax/nan", lambda np, x, y: np.fmax(x, y * _SPECIALS[[0, 3, 0, 3]]), F(4), F(4))
case("fmin/nan", lambda np, x, y: np.fmin(x * _SPECIALS[[3, 0, 0, 3]], y), F(4), F(4))
case("logaddexp/large", lambda np, x, y: np.logaddexp(x * 800, y), F(3), F(3))
case("hypot/large", lambda np, x, y: np.hypot(x * 1e200, y * 1e200) * 1e-200, F(3), F(3),
     f32=False)
case("select", lambda np, x: np.select([x < -0.5, x > 0.5], [x * 2, np.sin(x)], 0.25), F(2, 5))
case("select/default-array", lambda np, x, y: np.select([x > 0], [x], y), F(2, 3), F(3))
case("clip/keywords", lambda np, x: np.clip(x, min=-0.5, max=0.5), F(5))
case("clip/a_min-a_max", lambda np, x: np.clip(x, a_min=-0.5, a_max=0.5), F(5))
case("where/one-arg-constant", lambda np, x: x[np.where(_MASK[0])], F(5))

# Reductions and scans.
for _axis in (None, 0, -1):
    case(f"cumsum/axis={_axis}", lambda np, x, a=_axis: np.cumsum(x, axis=a), F(3, 4))
    case(f"cumprod/axis={_axis}", lambda np, x, a=_axis: np.cumprod(x, axis=a), F(3, 4, domain="away"))
case("cumsum/int", lambda np, i: np.cumsum(i), I(5))
case("cumsum/bool", lambda np, b: np.cumsum(b, axis=0), B(3, 2))
case("cumprod/with-zeros", lambda np, x: np.cumprod(x * np.array([1.0, 0.0, 1.0, 0.0, 1.0])),
     F(5, domain="away"))
case("average", lambda np, x: np.average(x), F(3, 4))
case("average/axis", lambda np, x: np.average(x, axis=1), F(3, 4))
case("average/weights", lambda np, x, w: np.average(x, axis=0, weights=w),
     F(3, 4), F(3, 4, domain="positive"))
case("average/weights-1d", lambda np, x, w: np.average(x, axis=1, weights=w),
     F(3, 4), F(4, domain="positive"))
case("average/returned", lambda np, x, w: np.average(x, axis=-1, weights=w, returned=True),
     F(2, 3), F(3, domain="positive"))
case("average/keepdims", lambda np, x, w: np.average(x, axis=0, weights=w, keepdims=True),
     F(3, 4), F(3, 4, domain="positive"))
case("trace", lambda np, x: np.trace(x), F(3, 4))
case("trace/offset", lambda np, x: np.trace(x, 1), F(3, 4))
case("trace/negative-offset", lambda np, x: np.trace(x, -1), F(4, 3))
case("trace/axes", lambda np, x: np.trace(x, 0, 1, 2), F(2, 3, 3))
case("all", lambda np, b: np.all(b, axis=0), B(3, 4))
case("any", lambda np, b: np.any(b, axis=1, keepdims=True), B(3, 4))
case("all/float", lambda np, x: np.all(x), F(3, domain="int"), wrt=())
case("any/empty-axis", lambda np, x: np.any(x[:0] > 0, axis=0), F(3, 2), wrt=())
case("count_nonzero", lambda np, x: np.count_nonzero(x, axis=1), F(3, 4, domain="int"), wrt=())
case("ptp", lambda np, x: np.ptp(x, axis=0), F(3, 4))
case("argmax/keepdims", lambda np, x: np.argmax(x, axis=1, keepdims=True), F(3, 4), wrt=())
case("sum/int32", lambda np, i: np.sum(i.astype(np.int32)), I(4), wrt=())

# Shapes.
NEW_SHAPE_OPS = [
    ("rollaxis/2", lambda np, x: np.rollaxis(x, 2), F(2, 3, 4)),
    ("rollaxis/0,3", lambda np, x: np.rollaxis(x, 0, 3), F(2, 3, 4)),
    ("rollaxis/-1,1", lambda np, x: np.rollaxis(x, -1, 1), F(2, 3, 4)),
    ("rollaxis/1,1", lambda np, x: np.rollaxis(x, 1, 1), F(2, 3, 4)),
    ("atleast_3d/scalar", lambda np, x: np.atleast_3d(x), F()),
    ("atleast_3d/vector", lambda np, x: np.atleast_3d(x), F(3)),
    ("atleast_3d/matrix", lambda np, x: np.atleast_3d(x), F(2, 3)),
    ("atleast_2d/several", lambda np, x, y: np.atleast_2d(x, y), F(3), F()),
    ("permute_dims", lambda np, x: np.permute_dims(x, (2, 0, 1)), F(2, 3, 4)),
    ("matrix_transpose", lambda np, x: np.matrix_transpose(x), F(2, 3, 4)),
    ("dstack", lambda np, x, y: np.dstack([x, y]), F(2, 3), F(2, 3)),
    ("dstack/1d", lambda np, x, y: np.dstack((x, y)), F(3), F(3)),
    ("column_stack", lambda np, x, y: np.column_stack([x, y]), F(3), F(3, 2)),
    ("row_stack", lambda np, x, y: np.vstack([x, y]), F(3), F(3)),
    ("append/flat", lambda np, x, y: np.append(x, y), F(2, 2), F(3)),
    ("append/axis", lambda np, x, y: np.append(x, y, axis=1), F(2, 2), F(2, 3)),
    ("split/sections", lambda np, x: np.split(x, 3), F(6, 2)),
    ("split/indices", lambda np, x: np.split(x, [1, 4], axis=1), F(2, 6)),
    ("split/negative-indices", lambda np, x: np.split(x, [-2, 10]), F(5)),
    ("array_split", lambda np, x: np.array_split(x, 4, axis=0), F(7, 2)),
    ("hsplit", lambda np, x: np.hsplit(x, 2), F(3, 4)),
    ("vsplit", lambda np, x: np.vsplit(x, [1]), F(3, 4)),
    ("dsplit", lambda np, x: np.dsplit(x, 2), F(2, 2, 4)),
    ("unstack", lambda np, x: np.unstack(x, axis=1), F(2, 3)),
    ("broadcast_arrays", lambda np, x, y: np.broadcast_arrays(x, y), F(3, 1), F(4)),
    ("tile/int", lambda np, x: np.tile(x, 3), F(2)),
    ("tile/longer", lambda np, x: np.tile(x, (2, 1, 3)), F(2, 3)),
    ("tile/shorter", lambda np, x: np.tile(x, 2), F(2, 3)),
    ("repeat/flat", lambda np, x: np.repeat(x, 2), F(2, 3)),
    ("repeat/axis", lambda np, x: np.repeat(x, 3, axis=1), F(2, 3)),
    ("repeat/counts", lambda np, x: np.repeat(x, [1, 0, 3], axis=0), F(3, 2)),
    ("flip", lambda np, x: np.flip(x), F(2, 3)),
    ("flip/axis", lambda np, x: np.flip(x, -1), F(2, 3, 4)),
    ("flip/axes", lambda np, x: np.flip(x, (0, 2)), F(2, 3, 4)),
    ("fliplr", lambda np, x: np.fliplr(x), F(2, 3)),
    ("flipud", lambda np, x: np.flipud(x), F(2, 3)),
    ("rot90", lambda np, x: np.rot90(x), F(2, 3)),
    ("rot90/k=2", lambda np, x: np.rot90(x, 2), F(2, 3)),
    ("rot90/k=3", lambda np, x: np.rot90(x, 3), F(2, 3)),
    ("rot90/k=-1-axes", lambda np, x: np.rot90(x, -1, axes=(1, 2)), F(2, 3, 4)),
    ("roll/flat", lambda np, x: np.roll(x, 2), F(2, 3)),
    ("roll/axis", lambda np, x: np.roll(x, -1, axis=1), F(2, 3)),
    ("roll/axes", lambda np, x: np.roll(x, (1, 5), axis=(0, 1)), F(2, 3)),
    ("pad/constant", lambda np, x: np.pad(x, 1), F(2, 3)),
    ("pad/constant-values", lambda np, x: np.pad(x, ((1, 0), (2, 1)), constant_values=(-1, 2)),
     F(2, 3)),
    ("pad/edge", lambda np, x: np.pad(x, ((1, 2), (0, 1)), mode="edge"), F(2, 3)),
    ("pad/reflect", lambda np, x: np.pad(x, 2, mode="reflect"), F(3, 4)),
    ("pad/symmetric", lambda np, x: np.pad(x, (1, 2), mode="symmetric"), F(3, 4)),
    ("pad/wrap", lambda np, x: np.pad(x, ((0, 0), (3, 1)), mode="wrap"), F(3, 4)),
    ("diag/vector", lambda np, x: np.diag(x), F(3)),
    ("diag/vector-k=1", lambda np, x: np.diag(x, 1), F(3)),
    ("diag/vector-k=-2", lambda np, x: np.diag(x, -2), F(2)),
    ("diag/matrix", lambda np, x: np.diag(x), F(3, 4)),
    ("diag/matrix-k=1", lambda np, x: np.diag(x, 1), F(3, 4)),
    ("diag/matrix-k=-1", lambda np, x: np.diag(x, k=-1), F(3, 4)),
    ("diag/matrix-k=-5", lambda np, x: np.diag(x, k=-5), F(3, 4)),
    ("diagflat", lambda np, x: np.diagflat(x), F(2, 2)),
    ("diagonal/3d", lambda np, x: np.diagonal(x, 0, 2, 0), F(3, 2, 4)),
    ("diagonal/offset", lambda np, x: np.diagonal(x, -1, 1, 2), F(2, 4, 3)),
    ("triu", lambda np, x: np.triu(x), F(3, 4)),
    ("triu/k", lambda np, x: np.triu(x, -1), F(2, 3, 3)),
    ("tril", lambda np, x: np.tril(x), F(4, 3)),
    ("tril/k", lambda np, x: np.tril(x, 1), F(3, 4)),
]
for _name, _body, *_args in NEW_SHAPE_OPS:
    case(_name, _body, *_args)

# Advanced indexing: integer arrays, constant masks, traced integer indices.
ADVANCED = {
    "[[0,2]]": lambda x: x[[0, 2]], "[array2d]": lambda x: x[np.array([[0, 1], [3, 0]])],
    "[:,[1,-1]]": lambda x: x[:, [1, -1]], "[[0,1],[2,3]]": lambda x: x[[0, 1], [2, 3]],
    "[[0,0,1]]-repeated": lambda x: x[[0, 0, 1, 0]], "[None,[0,1]]": lambda x: x[None, [0, 1]],
    "[...,[0,-1]]": lambda x: x[..., [0, -1]], "[[True,False,True,False]]": lambda x: x[[True, False, True, False]],
    "[mask2d]": lambda x: x[_MASK], "[:,mask1d]": lambda x: x[:, _MASK[0]],
    "[1:,[[0],[2]]]": lambda x: x[1:, [[0], [2]]], "[[]]": lambda x: x[[]],
    "[np.array(1)]": lambda x: x[np.array(1)],
}
_MASK = np.array([[True, False, True, False, True], [False] * 5, [True] * 5, [False, True] * 2 + [False]])
for _name, _index in ADVANCED.items():
    case(f"getitem{_name}", lambda np, x, ix=_index: ix(x), F(4, 5))
case("getitem/3d[[0,1],:,[2,3]]", lambda np, x: x[[0, 1], :, [2, 3]], F(3, 4, 5))
case("getitem/3d[1,:,[0,2]]", lambda np, x: x[1, :, [0, 2]], F(3, 4, 5))
case("getitem/3d[:,1,[0,2]]", lambda np, x: x[:, 1, [0, 2]], F(3, 4, 5))
case("getitem/3d[::-1,[0,2],1:3]", lambda np, x: x[::-1, [[0], [2]], 1:3], F(3, 4, 5))
case("getitem/traced-int", lambda np, x, y: x[np.argmax(y)], F(4, 3), F(4), wrt=(0,))
case("getitem/traced-array", lambda np, x, y: x[np.argsort(y)] * y, F(4, 3), F(4, 1))
case("getitem/traced-negative", lambda np, x, i: x[i - 2], F(4, 3), I(2, 2, domain="index"))
case("scatter_add", None, F(2, 3), I(3, domain="index"),
     fn=lambda g, i: PRIMS["scatter_add"].bind(g, i, axis=1, size=4),
     ref=lambda g, i: _scatter_add_ref(g, i, 4), dispatch=False)
case("take", lambda np, x: np.take(x, [0, -1, 2]), F(2, 3))
case("take/axis", lambda np, x: np.take(x, [[0, 1], [1, 1]], axis=1), F(2, 3))
case("take/int-index", lambda np, x, i: np.take(x, i, axis=0), F(3, 2), I(4, domain="index"))
case("take_along_axis", lambda np, x: np.take_along_axis(x, np.argsort(x, axis=0), axis=0),
     F(3, 4))
case("take_along_axis/broadcast", lambda np, x: np.take_along_axis(x, np.array([[0], [2]]), 1),
     F(2, 3))
case("sort", lambda np, x: np.sort(x), F(3, 4))
case("sort/axis=0", lambda np, x: np.sort(x, axis=0), F(3, 4))
case("sort/axis=None", lambda np, x: np.sort(x, axis=None), F(3, 4))
case("sort/int", lambda np, i: np.sort(i), I(6))
case("argsort", lambda np, x: np.argsort(x, axis=1), F(3, 4), wrt=())
case("argsort/stable-ties", lambda np, i: np.argsort(i, kind="stable"), I(8))
case("partition", None, F(2, 5), fn=lambda x: gnp.partition(x, 2) * 1.0,
     ref=lambda x: np.sort(x), dispatch=False)
case("len-and-iterate", lambda np, x: np.stack([r * len(x) for r in x]), F(3, 2))
case("dict-output", lambda np, x, y: {"s": np.sum(x * y), "p": x - y}, F(3), F(3))

# Products.
EINSUM = [
    ("ij,jk->ik", F(2, 3), F(3, 4)), ("ij,jk", F(2, 3), F(3, 4)), ("ii->i", F(3, 3)),
    ("ii", F(3, 3)), ("ij->ji", F(2, 3)), ("ij->", F(2, 3)), ("i,i->", F(3), F(3)),
    ("i,j->ij", F(3), F(2)), ("bij,bjk->bik", F(2, 2, 3), F(2, 3, 4)),
    ("...ij,...jk->...ik", F(2, 1, 2, 3), F(4, 3, 2)), ("...i,...i", F(2, 3), F(3)),
    ("iij->j", F(3, 3, 2)), ("ij,jk,kl->il", F(2, 3), F(3, 4), F(4, 2)),
    ("i,i,i->i", F(3), F(3), F(3)), ("ba", F(2, 3)), ("ij,ij->ij", F(2, 3), F(2, 3)),
    ("ijk,kj->i", F(2, 3, 4), F(4, 3)), ("i,i", F(3), F(3)), ("ii,i->i", F(3, 3), F(3)),
    (" ij , jk -> ki ", F(2, 3), F(3, 2)), ("i,->i", F(3), F()),
]
for _subscripts, *_args in EINSUM:
    case(f"einsum/{_subscripts.strip()}", lambda np, *xs, s=_subscripts: np.einsum(s, *xs), *_args)
case("einsum/int", lambda np, a, b: np.einsum("ij,j->i", a, b), I(2, 3), I(3))
case("kron/1d", lambda np, a, b: np.kron(a, b), F(2), F(3))
case("kron/2d", lambda np, a, b: np.kron(a, b), F(2, 3), F(2, 2))
case("kron/mixed", lambda np, a, b: np.kron(a, b), F(3), F(2, 2))
case("cross", lambda np, a, b: np.cross(a, b), F(3), F(3))
case("cross/batched", lambda np, a, b: np.cross(a, b), F(4, 3), F(3))
case("cross/axis", lambda np, a, b: np.cross(a, b, axis=0), F(3, 2), F(3, 2))
case("cross/axisc", lambda np, a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), F(3, 2), F(2, 3))
case("vecdot", lambda np, a, b: np.vecdot(a, b), F(2, 3), F(3))


# Linear algebra: well-conditioned and symmetric positive definite inputs by construction.
def _wc(np, a):
    return a + 3 * np.eye(a.shape[-1])


def _spd(np, a):
    return a @ np.swapaxes(a, -1, -2) + a.shape[-1] * np.eye(a.shape[-1])


def _sym(np, a):
    return (a + np.swapaxes(a, -1, -2)) / 2


LINALG_CASES = [
    ("solve", lambda np, a, b: np.linalg.solve(_wc(np, a), b), F(3, 3), F(3, 2)),
    ("solve/vector", lambda np, a, b: np.linalg.solve(_wc(np, a), b), F(3, 3), F(3)),
    ("solve/batched", lambda np, a, b: np.linalg.solve(_wc(np, a), b), F(2, 3, 3), F(3, 1)),
    ("inv", lambda np, a: np.linalg.inv(_wc(np, a)), F(3, 3)),
    ("inv/batched", lambda np, a: np.linalg.inv(_wc(np, a)), F(2, 3, 3)),
    ("det", lambda np, a: np.linalg.det(_wc(np, a)), F(3, 3)),
    ("det/negative", lambda np, a: np.linalg.det(a * np.array([[-1.0], [1.0]]) + 2 * np.eye(2)),
     F(2, 2)),
    ("det/batched", lambda np, a: np.linalg.det(a), F(2, 2, 2)),
    ("slogdet", lambda np, a: tuple(np.linalg.slogdet(a)), F(3, 3)),
    ("slogdet/batched", lambda np, a: np.linalg.slogdet(_wc(np, a))[1], F(2, 3, 3)),
    ("cholesky", lambda np, a: np.linalg.cholesky(_spd(np, a)), F(3, 3)),
    ("cholesky/batched", lambda np, a: np.linalg.cholesky(_spd(np, a)), F(2, 3, 3)),
    ("cholesky/upper", lambda np, a: np.linalg.cholesky(_spd(np, a), upper=True), F(3, 3)),
    ("eigh", lambda np, a: (lambda w, v: (w, v * v))(*np.linalg.eigh(_sym(np, a))), F(3, 3)),
    ("eigh/batched", lambda np, a: (lambda w, v: (w, v * v))(*np.linalg.eigh(_sym(np, a))),
     F(2, 3, 3)),
    ("eigh/upper", lambda np, a: np.linalg.eigh(_sym(np, a), UPLO="U")[0], F(4, 4)),
    ("eigh/projector", lambda np, a: (lambda w, v: v[:, :1] @ v[:, :1].T)(
        *np.linalg.eigh(_sym(np, a))), F(3, 3)),
    ("eigvalsh", lambda np, a: np.linalg.eigvalsh(_sym(np, a)), F(4, 4)),
    ("pinv/tall", lambda np, a: np.linalg.pinv(a), F(4, 2)),
    ("pinv/wide", lambda np, a: np.linalg.pinv(a), F(2, 4)),
    ("matrix_power/3", lambda np, a: np.linalg.matrix_power(a, 3), F(3, 3)),
    ("matrix_power/0", lambda np, a: np.linalg.matrix_power(a, 0) * a, F(3, 3)),
    ("matrix_power/-2", lambda np, a: np.linalg.matrix_power(_wc(np, a), -2), F(3, 3)),
    ("multi_dot", lambda np, a, b, c: np.linalg.multi_dot([a, b, c]), F(2, 3), F(3, 4), F(4)),
    ("svdvals", lambda np, a: np.linalg.svdvals(a), F(4, 3)),
    ("svdvals/wide", lambda np, a: np.linalg.svdvals(a), F(2, 2, 3)),
    ("linalg.trace", lambda np, a: np.linalg.trace(a, offset=1), F(2, 3, 3)),
    ("linalg.diagonal", lambda np, a: np.linalg.diagonal(a), F(2, 3, 4)),
    ("linalg.outer", lambda np, a, b: np.linalg.outer(a, b), F(3), F(2)),
    ("linalg.cross", lambda np, a, b: np.linalg.cross(a, b), F(2, 3), F(2, 3)),
    ("linalg.matmul", lambda np, a, b: np.linalg.matmul(a, b), F(2, 3), F(3)),
    ("linalg.vecdot", lambda np, a, b: np.linalg.vecdot(a, b), F(2, 3), F(2, 3)),
    ("vector_norm", lambda np, a: np.linalg.vector_norm(a), F(2, 3)),
    ("vector_norm/ord", lambda np, a: np.linalg.vector_norm(a, ord=3, axis=1), F(2, 3)),
    ("matrix_norm", lambda np, a: np.linalg.matrix_norm(a), F(2, 3, 3)),
]
for _name, _body, *_args in LINALG_CASES:
    case(f"linalg/{_name}", _body, *_args)
case("linalg/slogdet-sign", lambda np, a: np.linalg.slogdet(a)[0], F(3, 3), wrt=())
for _ord in (None, 2, 1, np.inf, -np.inf, 0, 3, -1.5):
    case(f"norm/vector/ord={_ord}", lambda np, x, o=_ord: np.linalg.norm(x, o), F(5, domain="away"),
         wrt=() if _ord == 0 else None)
for _ord in (None, "fro", 1, -1, np.inf, -np.inf, 2, -2, "nuc"):
    case(f"norm/matrix/ord={_ord}", lambda np, x, o=_ord: np.linalg.norm(x, o), F(3, 4))
case("norm/axis", lambda np, x: np.linalg.norm(x, axis=1), F(3, 4))
case("norm/axis-keepdims", lambda np, x: np.linalg.norm(x, axis=-1, keepdims=True), F(3, 4))
case("norm/matrix-axes", lambda np, x: np.linalg.norm(x, 1, axis=(2, 0), keepdims=True), F(3, 2, 4))
case("norm/matrix-axes-2", lambda np, x: np.linalg.norm(x, 2, axis=(0, 2)), F(3, 2, 4))
case("norm/all", lambda np, x: np.linalg.norm(x), F(2, 3, 4))
case("norm/all-keepdims", lambda np, x: np.linalg.norm(x, keepdims=True), F(2, 3))

# ======== Control flow (issue 8) =======================================================
# Bodies call graphad.cond / while_loop / fori_loop, which run eagerly on plain values;
# the refs are plain Python. No numpy spelling: dispatch=False. Second order goes through
# while_vjp's own rules (the paired tangent loop, graphad/prims/control.py).

# Newton's sqrt: iterate until converged (a data-dependent trip count), at most 40 times
# (float32 never gets within 1e-12).
def _ref_newton(a):
    x, k = a, 0
    while abs(x * x - a) > 1e-12 * a and k < 40:
        x, k = 0.5 * (x + a / x), k + 1
    return x


def _ref_newton_grad(a):
    x, dx, k = a, 1.0, 0            # forward mode by hand through the same iterations
    while abs(x * x - a) > 1e-12 * a and k < 40:
        x, dx, k = 0.5 * (x + a / x), 0.5 * (dx + 1 / x - a * dx / x ** 2), k + 1
    return np.asarray(dx)


def _newton(a):
    # `a` rides in the carry rather than the closure: eager mode cannot trace a closure
    # over one of its boxes (tests/test_control_flow.py covers closed-over values).
    x, _, _ = graphad.while_loop(
        lambda s: gnp.logical_and(gnp.abs(s[0] * s[0] - s[1]) > 1e-12 * s[1], s[2] < 40),
        lambda s: (0.5 * (s[0] + s[1] / s[0]), s[1], s[2] + 1), (a, a, 0))
    return x


def _ref_rnn(w, x):
    h = np.ones(3)
    for t in range(4):
        h = np.tanh(w @ h + x[t])
    return h


case("control/cond", None, F(3), fn=lambda x: graphad.cond(gnp.sum(x) > 0, lambda x: gnp.sin(x) * x,
                                                          lambda x: gnp.exp(x) * 2.0, x),
     ref=lambda x: np.sin(x) * x if np.sum(x) > 0 else np.exp(x) * 2.0, dispatch=False)
case("control/while-newton-sqrt", None, F(domain="positive"), fn=_newton,
     ref=lambda a: np.asarray(_ref_newton(float(a))), dispatch=False, f32=False, tol=1e-5)
case("control/fori-rnn", None, F(3, 3), F(4, 3),
     fn=lambda w, x: graphad.fori_loop(
         0, 4, lambda t, c: (gnp.tanh(c[1] @ c[0] + gnp.take(c[2], t, axis=0)), c[1], c[2]),
         (np.ones(3), w, x))[0],
     ref=_ref_rnn, dispatch=False)
case("control/while_vjp", None, F(domain="positive"), fn=graphad.grad(_newton),
     ref=lambda a: _ref_newton_grad(float(a)), dispatch=False, f32=False)

assert len({c.name for c in CASES}) == len(CASES), "two op cases share a name"
BY_NAME = {c.name: c for c in CASES}


# ---- concrete arguments and graphs ------------------------------------------------

def make_args(case: Case, seed: int = 0, float_dtype=None):
    """The case's arguments, drawn reproducibly (the seed mixes in the case's name).
    `float_dtype` overrides the dtype of the float arguments (e.g. np.float32)."""
    rng = np.random.default_rng([seed, zlib.crc32(case.name.encode())])
    args = []
    for spec in case.args:
        value = DOMAINS[spec.domain](rng, spec.shape)
        dtype = spec.dtype
        if float_dtype is not None and np.dtype(dtype).kind == "f":
            dtype = float_dtype
        args.append(np.asarray(value, dtype=dtype))
    return args


def traced_graph(case: Case, seed: int = 0, float_dtype=None):
    """(graph traced from case.fn, its concrete arguments)."""
    args = make_args(case, seed, float_dtype)
    return trace_function(case.fn, args).graph, args


def primitives_in(graph) -> set:
    """Names of the primitives a graph uses, sub-graphs included."""
    names = set()
    for node in graph.nodes:
        names.add(node.prim.name)
        for sub in node.subgraphs():
            names |= primitives_in(sub)
    return names
