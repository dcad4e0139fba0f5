"""Algebraic simplification: the ALGEBRA table, IEEE-safe identities.

Every rule here keeps each result bit-for-bit or within rounding, and never
turns a finite result into inf/nan or back (the sign of a zero aside). An
identity that holds only for finite or non-negative operands is guarded
(`when=`); its unguarded form lives in the UNSAFE table (unsafe.py), and
rewrites that trade exactness for stability live in STABILIZE (stabilize.py).
No rule distributes a product over a sum or otherwise grows an expression:
a replacement emits a bounded number of nodes in place of those it matched
(no rule's example in tests/test_rules.py grows), so a walk is linear in the
graph's size.

Rounding-level changes, so comparisons need a tolerance: `pow-three` and
`pow-four` (x**3 vs x*x*x, a few ulp), `mul-const-const` (one rounding of the
folded constant), `sum-broadcast` (x*n vs a sum of n copies), `transpose-dot`
(BLAS may sum in another order).
"""
from __future__ import annotations

import numpy as np

from ..prims import BY_NAME
from .rules import A, C, Custom, K, Lit, P, Rules, V, fit, rewrite, rule

x, y, z = V("x"), V("y"), V("z")
c, d = K("c"), K("d")
zero, one, two, neg_one = Lit(0), Lit(1), Lit(2), Lit(-1)

_mul, _reshape, _broadcast_to = BY_NAME["mul"], BY_NAME["reshape"], BY_NAME["broadcast_to"]
_transpose, _dot, _reduce_sum = BY_NAME["transpose"], BY_NAME["dot_general"], BY_NAME["reduce_sum"]


# ---- guards ---------------------------------------------------------------------------

def finite(name):
    return lambda m: m.facts.finite(m.bindings[name])


def nonneg(name):
    return lambda m: m.facts.nonneg(m.bindings[name])


def is_float(name):
    return lambda m: m.bindings[name].type.dtype.kind == "f"


def negatable(m):
    return m.type.dtype.kind in "fi"


def same_scale(m):
    """(x*c)*d == x*(c*d) without a new overflow: c and d both >= 1 or both <= 1 in
    magnitude (then x*c overflows exactly when x*c*d does), c*d finite and nonzero."""
    if m.type.dtype.kind in "iu":
        return True                       # integer products are exact modulo 2**n
    cd = m.c * m.d
    if not np.all(np.isfinite(cd)) or np.any(cd == 0):
        return False
    ac, ad = np.abs(m.c), np.abs(m.d)
    return bool(np.all(ac >= 1) and np.all(ad >= 1) or np.all(ac <= 1) and np.all(ad <= 1))


# ---- replacements that need a little computing ---------------------------------------------

def zeros(m):
    return m.fill(0)


def ones(m):
    return m.fill(1)


def reshape_to_result(m):
    """reshape(reshape(x)) -> one reshape of x (or x when the shapes agree)."""
    if m.x.type.shape == m.type.shape:
        return m.x
    return m.emit(_reshape, m.x, shape=m.type.shape)


def broadcast_to_result(m):
    return m.emit(_broadcast_to, m.x, shape=m.type.shape)


def only_adds_leading_ones(m):
    """reshape(x, (1, 1) + x.shape): broadcasting would prepend those axes anyway."""
    shape, inner = m.s, m.x.type.shape
    k = len(shape) - len(inner)
    return k >= 0 and shape[k:] == inner and all(d == 1 for d in shape[:k])


def composed_transpose(m):
    perm = tuple(m.p[i] for i in m.q)
    if perm == tuple(range(len(perm))):
        return m.x
    return m.emit(_transpose, m.x, perm=perm)


def swaps_dot_operands(m):
    """transpose(dot(a, b)) that only moves b's free axes before a's: dot(b, a)."""
    (ca, cb), (ba, _) = m.contract, m.batch
    nb = len(ba)
    na = m.x.type.ndim - len(ca) - nb
    nfb = m.y.type.ndim - len(cb) - nb
    want = tuple(range(nb)) + tuple(range(nb + na, nb + na + nfb)) + tuple(range(nb, nb + na))
    return m.p == want


def swapped_dot(m):
    (ca, cb), (ba, bb) = m.contract, m.batch
    return m.emit(_dot, m.y, m.x, contract=(cb, ca), batch=(bb, ba))


def sum_of_broadcast(m):
    """sum(broadcast_to(x, S), A): the broadcast axes in A become a factor n; the
    other axes in A are summed on x itself. Declines when a kept axis is broadcast."""
    shape, axes = m.s, m.axes
    pad = len(shape) - m.x.type.ndim
    padded = (1,) * pad + m.x.type.shape
    spread = {i for i, (p, s) in enumerate(zip(padded, shape)) if p == 1 and s != 1}
    if any(i not in axes for i in spread):
        return None
    count = int(np.prod([shape[i] for i in axes if i in spread], dtype=np.int64))
    if count == 0:
        return None                       # an empty sum is 0 even for inf x
    v = m.x if pad == 0 else m.emit(_reshape, m.x, shape=padded)
    summed = tuple(i for i in axes if i not in spread)
    if summed:
        v = m.emit(_reduce_sum, v, axes=summed)
    if v.type.shape != m.type.shape:
        v = m.emit(_reshape, v, shape=m.type.shape)
    return v if count == 1 else m.emit(_mul, v, m.const(count))


def negative_single_use(m):
    """x + y*c with c < 0: -c is as cheap as c, and the sign moves into the add."""
    return m.type.dtype.kind == "f" and bool(np.all(m.c < 0)) and m.used_once(m.yc)


def exclusive_indicators(m):
    """p is a strict comparison (gt/lt) of the same operands q tests for equality:
    never both true, so convert(p) + c*convert(q) takes the values 1, c, 0."""
    rw = m.rw
    p, q = rw.producer.get(m.p), rw.producer.get(m.q)
    return (p is not None and q is not None and p.prim.name in ("gt", "lt")
            and q.prim.name == "eq" and set(p.inputs) == set(q.inputs))


def indicator_select(m):
    select = BY_NAME["select"]
    inner = m.emit(select, m.q, m.const_vars["c"], m.const(0))
    return m.fit(m.emit(select, m.p, m.const(1), inner))


def square_twice(m):
    sq = m.emit(_mul, m.x, m.x)
    return m.emit(_mul, sq, sq)


# ---- implicit broadcasting -------------------------------------------------------------

_BROADCASTING = ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "arctan2", "fmod",
                 "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "select")


def _smaller_operands(node, m):
    """Operands that are broadcasts (or uniform constant arrays) where the primitive
    would broadcast anyway: use the unbroadcast value (or the scalar)."""
    rw, out_shape = m.rw, node.outputs[0].type.shape
    inputs = list(node.inputs)
    changed = False
    for i, v in enumerate(inputs):
        if not v.type.shape:
            continue
        p = rw.producer.get(v)
        if p is not None and p.prim is _broadcast_to:
            smaller = p.inputs[0]
        else:
            s = rw.splat(v)
            if s is None:
                continue
            smaller = s                   # a uniform constant: its scalar
        shapes = [np.shape(u) if isinstance(u, np.ndarray) else u.type.shape for u in inputs]
        shapes[i] = np.shape(smaller) if isinstance(smaller, np.ndarray) else smaller.type.shape
        if np.broadcast_shapes(*shapes) == out_shape:
            inputs[i], changed = smaller, True
    m.bindings["inputs"] = inputs
    return changed


def implicit_broadcast(m):
    inputs = [m.const(u, u.dtype) if isinstance(u, np.ndarray) else u for u in m.inputs]
    return m.emit(m.node.prim, *inputs, **m.node.attrs)


# ---- the table -------------------------------------------------------------------------

ALGEBRA = Rules("algebra", [
    # additive and multiplicative identities
    rule("add-zero", P.add(x, zero), fit(x)),                         # x+0 -> x
    rule("sub-zero", P.sub(x, zero), fit(x)),                         # x-0 -> x
    rule("zero-sub", P.sub(zero, x), fit(P.neg(x))),                  # 0-x -> -x
    rule("mul-one", P.mul(x, one), fit(x)),                           # x*1 -> x
    rule("div-one", P.div(x, one), fit(x)),                           # x/1 -> x
    rule("mul-neg-one", P.mul(x, neg_one), fit(P.neg(x))),            # x*-1 -> -x
    rule("mul-zero", P.mul(x, zero), zeros, when=finite("x")),        # x*0 -> 0, x finite
    rule("sub-self", P.sub(x, x), zeros, when=finite("x")),           # x-x -> 0, x finite
    # negation moves outward, where it cancels or folds into a constant
    rule("neg-neg", P.neg(P.neg(x)), x),                              # --x -> x
    rule("neg-sub", P.neg(P.sub(x, y)), P.sub(y, x)),                 # -(x-y) -> y-x
    rule("add-neg-neg", P.add(P.neg(x), P.neg(y)), P.neg(P.add(x, y))),  # -x + -y -> -(x+y)
    rule("add-neg", P.add(x, P.neg(y)), P.sub(x, y)),                 # x + -y -> x-y
    rule("sub-neg", P.sub(x, P.neg(y)), P.add(x, y)),                 # x - -y -> x+y
    rule("mul-neg-neg", P.mul(P.neg(x), P.neg(y)), P.mul(x, y)),      # -x*-y -> x*y
    rule("neg-mul-const", P.neg(P.mul(x, c)), P.mul(x, C(lambda m: -m.c)),
         when=negatable),                                             # -(x*c) -> x*(-c)
    rule("mul-neg-const", P.mul(P.neg(x), c), P.mul(x, C(lambda m: -m.c)),
         when=negatable),                                             # -x*c -> x*(-c)
    rule("add-neg-const", P.add(x, V("yc").of(P.mul(y, c))), P.sub(x, P.mul(y, C(lambda m: -m.c))),
         when=negative_single_use),                                   # x + y*(-c) -> x - y*c
    rule("sub-neg-const", P.sub(x, V("yc").of(P.mul(y, c))), P.add(x, P.mul(y, C(lambda m: -m.c))),
         when=negative_single_use),                                   # x - y*(-c) -> x + y*c
    rule("mul-neg", P.mul(P.neg(x), y), P.neg(P.mul(x, y))),          # -x*y -> -(x*y)
    rule("div-neg", P.div(P.neg(x), y), P.neg(P.div(x, y))),          # -x/y -> -(x/y)
    rule("mul-const-const", P.mul(P.mul(x, c), d), P.mul(x, C(lambda m: m.c * m.d)),
         when=same_scale),                                            # (x*c)*d -> x*(cd)
    # powers
    rule("pow-zero", P.pow(x, zero), ones),                           # x**0 -> 1 (also nan)
    rule("pow-one", P.pow(x, one), x),                                # x**1 -> x
    rule("pow-two", P.pow(x, two), P.mul(x, x)),                      # x**2 -> x*x
    rule("pow-three", P.pow(x, Lit(3)), P.mul(P.mul(x, x), x)),       # x**3 -> x*x*x
    rule("pow-four", P.pow(x, Lit(4)), square_twice),                 # x**4 -> (x*x)*(x*x)
    rule("pow-neg-one", P.pow(x, neg_one), P.reciprocal(x), when=is_float("x")),
    # exp and log
    rule("exp-log", P.exp(P.log(x)), x, when=nonneg("x")),            # exp(log x) -> x, x>=0
    # selection
    rule("indicator-sum", P.add(P.convert(V("p")), P.mul(P.convert(V("q")), c)), indicator_select,
         when=exclusive_indicators),                  # [a>b] + c*[a==b] -> where(a>b, 1, ...)
    rule("select-same", P.select(z, x, x), fit(x)),                   # where(c, x, x) -> x
    rule("select-true", P.select(c, x, y), fit(x), when=lambda m: bool(np.all(m.c))),
    rule("select-false", P.select(c, x, y), fit(y), when=lambda m: not np.any(m.c)),
    # shapes
    rule("reshape-reshape", P.reshape(P.reshape(x)), reshape_to_result),
    rule("reshape-noop", P.reshape(x), x, when=lambda m: m.x.type == m.type),
    rule("transpose-transpose", P.transpose(P.transpose(x, perm=A("p")), perm=A("q")),
         composed_transpose),
    rule("broadcast-broadcast", P.broadcast_to(P.broadcast_to(x)), broadcast_to_result),
    rule("broadcast-reshape", P.broadcast_to(P.reshape(x, shape=A("s"))), broadcast_to_result,
         when=only_adds_leading_ones),                                # drop a leading-1 reshape
    rule("broadcast-noop", P.broadcast_to(x), x, when=lambda m: m.x.type == m.type),
    rule("sum-broadcast", P.reduce_sum(P.broadcast_to(x, shape=A("s")), axes=A("axes")),
         sum_of_broadcast),                                           # sum of copies -> x*n
    rule("transpose-dot", P.transpose(P.dot_general(x, y, contract=A("contract"),
                                                    batch=A("batch")), perm=A("p")),
         swapped_dot, when=swaps_dot_operands),                       # (a.b)^T -> b.a
    rule("implicit-broadcast", Custom(_BROADCASTING, _smaller_operands), implicit_broadcast),
])


def simplify(graph, hits=None):
    """Apply the ALGEBRA rules (IEEE-safe) until none fires in one walk."""
    return rewrite(graph, ALGEBRA, hits)
