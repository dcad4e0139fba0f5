"""Numerical stabilization: the STABILIZE table.

These rewrites change results on purpose: each replaces an expression that
overflows, underflows or cancels with one that computes the same mathematical
value accurately. So, unlike ALGEBRA, they may turn an inf or nan of the
original into the right finite number (log(exp(800)) is 800, not inf). They
are a named group that can be switched off:
`graphad.compile(f, passes=graphad.passes.without("stabilize"))`.
"""
from __future__ import annotations

import numpy as np

from ..prims import BY_NAME
from .rules import A, C, Custom, K, P, Rules, V, fit, rewrite, rule
from .simplify import neg_one, one

x = V("x")
c, d = K("c"), K("d")

_logsumexp, _reshape, _sub = BY_NAME["logsumexp"], BY_NAME["reshape"], BY_NAME["sub"]


def _producer(var, producer, name):
    node = producer.get(var)
    return node if node is not None and node.prim.name == name else None


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _lstrip(shape):
    """`shape` without leading 1s: two shapes equal after this broadcast alike."""
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    return tuple(shape[i:])


def _expanded(var, producer):
    """(source, layout): `var` is `source` reshaped (keeping its element order) and
    then broadcast; `layout` is the shape just under the broadcasts. A reduction
    result r expands back along its axes exactly when layout ~ kept shape."""
    node = producer.get(var)
    while node is not None and node.prim.name in ("broadcast_to", "stop_gradient"):
        var = node.inputs[0]
        node = producer.get(var)
    layout = var.type.shape
    while node is not None and node.prim.name in ("reshape", "stop_gradient"):
        var = node.inputs[0]
        node = producer.get(var)
    return var, layout


def _expands(var, reduction, x, producer):
    """Whether `var` is the output of `reduction` (a reduction of x over its axes)
    broadcast back over those axes, so that x - var subtracts per reduced slice."""
    source, layout = _expanded(var, producer)
    kept = _kept_shape(x.type.shape, reduction.attrs["axes"])
    return source is reduction.outputs[0] and _lstrip(layout) == _lstrip(kept)


# ---- logsumexp with the max shift: lse(x - max x) + max x -> lse(x) ------------------------

def _shifted_logsumexp(node, m):
    producer = m.rw.producer
    for lse_side, max_side in (node.inputs, node.inputs[::-1]):
        lse, keep = producer.get(lse_side), None
        if lse is not None and lse.prim is _reshape:          # the keepdims spelling
            lse, keep = producer.get(lse.inputs[0]), lse.attrs["shape"]
        if lse is None or lse.prim is not _logsumexp:
            continue
        sub = _producer(lse.inputs[0], producer, "sub")
        if sub is None or sub.outputs[0].type != sub.inputs[0].type:
            continue
        xv, axes = sub.inputs[0], lse.attrs["axes"]
        mx = producer.get(_expanded(sub.inputs[1], producer)[0])
        if mx is None or mx.prim.name != "reduce_max" or mx.inputs[0] is not xv \
                or mx.attrs["axes"] != axes or not _expands(sub.inputs[1], mx, xv, producer):
            continue
        source, layout = _expanded(max_side, producer)     # max added back where lse is
        if source is mx.outputs[0] and _lstrip(layout) == _lstrip(lse_side.type.shape):
            m.bindings.update(x=xv, axes=axes, keep=keep)
            return True
    return False


def _unshifted(m):
    v = m.emit(_logsumexp, m.x, axes=m.axes)
    return m.fit(v if m.keep is None else m.emit(_reshape, v, shape=m.keep))


# ---- log softmax: log(exp(x) / sum(exp(x))) -> x - lse(x) --------------------------------

def _log_softmax(node, m):
    producer = m.rw.producer
    div = _producer(node.inputs[0], producer, "div")
    if div is None:
        return False
    num = _producer(div.inputs[0], producer, "exp")
    total = producer.get(_expanded(div.inputs[1], producer)[0])
    if num is None or total is None or total.prim.name != "reduce_sum":
        return False
    den = _producer(total.inputs[0], producer, "exp")
    xv = num.inputs[0]
    if den is None or den.inputs[0] is not xv or div.outputs[0].type != num.outputs[0].type \
            or not _expands(div.inputs[1], total, xv, producer):
        return False
    m.bindings.update(x=xv, axes=total.attrs["axes"])
    return True


def _x_minus_logsumexp(m):
    lse = m.emit(_logsumexp, m.x, axes=m.axes)
    lse = m.emit(_reshape, lse, shape=_kept_shape(m.x.type.shape, m.axes))
    return m.fit(m.emit(_sub, m.x, lse))


def rescales(m):
    """(x*c)*d -> x*(cd) where ALGEBRA declined (c and d on either side of 1): only an
    overflowed or underflowed intermediate x*c changes, into the right value."""
    cd = m.c * m.d
    return m.type.dtype.kind == "f" and bool(np.all(np.isfinite(cd)) and np.all(cd != 0))


STABILIZE = Rules("stabilize", [
    rule("log-one-plus", P.log(P.add(x, one)), fit(P.log1p(x))),          # log(1+x) -> log1p(x)
    rule("log-one-minus", P.log(P.sub(one, x)), fit(P.log1p(P.neg(x)))),  # log(1-x) -> log1p(-x)
    rule("exp-minus-one", P.sub(P.exp(x), one), fit(P.expm1(x))),         # exp(x)-1 -> expm1(x)
    rule("exp-plus-neg-one", P.add(P.exp(x), neg_one), fit(P.expm1(x))),  # exp(x)+-1
    rule("one-minus-exp", P.sub(one, P.exp(x)), fit(P.neg(P.expm1(x)))),  # 1-exp(x) -> -expm1(x)
    rule("log-exp", P.log(P.exp(x)), x),                                  # log(exp x) -> x
    rule("log-sigmoid", P.log(P.sigmoid(x)), P.neg(P.softplus(P.neg(x)))),  # -softplus(-x)
    rule("log1p-neg-sigmoid", P.log1p(P.neg(P.sigmoid(x))), P.neg(P.softplus(x))),  # log(1-s(x))
    rule("log1p-exp", P.log1p(P.exp(x)), P.softplus(x)),                  # log(1+exp x)
    rule("log-reciprocal", P.log(P.reciprocal(x)), P.neg(P.log(x))),      # log(1/x) -> -log x
    rule("log-one-over", P.log(P.div(one, x)), fit(P.neg(P.log(x)))),
    rule("log-sum-exp", P.log(P.reduce_sum(P.exp(x), axes=A("axes"))),
         P.logsumexp(x, axes=A("axes"))),                                 # log(sum(exp x))
    rule("log-sum-exp-keepdims", P.log(P.reshape(P.reduce_sum(P.exp(x), axes=A("axes")),
                                                 shape=A("s"))),
         P.reshape(P.logsumexp(x, axes=A("axes")), shape=A("s"))),
    rule("logsumexp-shift", Custom(("add",), _shifted_logsumexp), _unshifted),  # lse(x-m)+m
    rule("log-softmax", Custom(("log",), _log_softmax), _x_minus_logsumexp),    # x - lse(x)
    rule("sqrt-square", P.sqrt(P.mul(x, x)), P.abs(x)),                   # sqrt(x*x) -> |x|
    rule("sqrt-square-prim", P.sqrt(P.square(x)), P.abs(x)),
    rule("mul-const-rescale", P.mul(P.mul(x, c), d), P.mul(x, C(lambda m: m.c * m.d)),
         when=rescales),                                                  # (x*c)*d -> x*(cd)
])


def stabilize(graph, hits=None):
    """Apply the STABILIZE rules (accuracy-improving; may turn inf/nan into finite)."""
    return rewrite(graph, STABILIZE, hits)
