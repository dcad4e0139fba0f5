"""The public transformations, wiring trace -> transform -> optimize -> backend.

A `Staged` function is a Python function plus one graph transformation
(identity for `compile`, reverse mode for `grad`) and a backend. On a call it
computes the signature (pytree structure, shapes, dtypes, static values),
stages the function once per signature, and either runs the cached executable
(plain values) or inlines the optimized graph into the enclosing trace (traced
values), which is how transformations nest.
"""
from __future__ import annotations

import functools
import logging

import numpy as np

from . import cache
from . import numpy as gnp
from .backends import BACKENDS, DEFAULT_BACKEND
from .errors import GraphadError
from .ir import Graph
from .passes.dce import dce
from .passes.pipeline import DEFAULT_PASSES, optimize
from .passes.reverse_mode import reverse_mode
from .stages import Stages, fused_stage
from .trace import inline_graph, trace_function
from .tree import LEAF, TreeDef, tree_flatten, tree_leaves, tree_unflatten

_MISS = cache.MISS


_SCALAR_KEYS = {float: ((), np.dtype(np.float64)), int: ((), np.dtype(np.int64)),
                bool: ((), np.dtype(np.bool_))}


def _leaf_key(leaf):
    """(shape, dtype) the leaf traces as: a Python float and np.float64 key alike."""
    key = _SCALAR_KEYS.get(type(leaf))
    if key is not None:
        return key
    if isinstance(leaf, (np.ndarray, np.generic)) or getattr(leaf, "_trace", None) is not None:
        return (leaf.shape, leaf.dtype)
    return type(leaf)


def _identity(tf):
    return tf.graph, tf.out_tree


class _Grad:
    """Reverse mode w.r.t. the leaves of the positional arguments `argnums`."""

    def __init__(self, argnums, with_value):
        self.argnums = argnums
        self.with_value = with_value

    def __call__(self, tf):
        argnums = (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)
        (out,) = tf.graph.outputs if tf.out_tree == LEAF else (None,)
        if out is None or out.type.shape != () or not out.type.is_float:
            got = "a pytree " + repr(tf.out_tree) if out is None else f"a value of type {out.type}"
            raise GraphadError(f"grad requires a function returning one float scalar; it returned {got}"
                               " (use vjp or jacrev for non-scalar outputs)")
        wrt, trees = [], []
        for a in argnums:
            if a not in tf.arg_ranges:
                raise GraphadError(f"argnums={a}: the function was called with {len(tf.arg_trees)} "
                                   "arguments, or that argument is static")
            start, stop = tf.arg_ranges[a]
            for i in range(start, stop):
                t = tf.graph.inputs[i].type
                if not t.is_float:
                    raise GraphadError(
                        f"grad with respect to argument {a}: it has a leaf of dtype {t.dtype}; "
                        "gradients need float inputs (write 1.0 rather than 1, or astype(float))")
            wrt.extend(range(start, stop))
            trees.append(tf.arg_trees[a])
        graph = reverse_mode(tf.graph, wrt)
        grad_tree = trees[0] if isinstance(self.argnums, int) else TreeDef("tuple", None, tuple(trees))
        outputs = graph.outputs[1:]
        out_tree = grad_tree
        if self.with_value:
            outputs = graph.outputs[:1] + outputs
            out_tree = TreeDef("tuple", None, (LEAF, grad_tree))
        return dce(Graph(graph.inputs, graph.nodes, outputs)), out_tree


def _run_plain(exe, leaves):
    """Call an executable taking a list of arrays; 0-d results become numpy scalars."""
    return [o[()] if o.ndim == 0 else o for o in exe([np.asarray(x) for x in leaves])]


class Staged:
    """A function staged to a graph per input signature; see the module docstring."""

    _log = logging.getLogger("graphad")

    @staticmethod
    def _no_guard(args):
        return cache.MISS

    def __init__(self, fun, transform=_identity, backend=None, static_argnums=(), passes=None,
                 fastmath=True):
        if backend is not None and backend not in BACKENDS:
            raise GraphadError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        self.fun = fun
        self.transform = transform
        self.backend = backend                  # None: evaluate with the numpy oracle
        self.static_argnums = frozenset(
            (static_argnums,) if isinstance(static_argnums, int) else static_argnums)
        self.passes = passes
        self.fastmath = fastmath                # False: the C library's math functions
        self._cache = {}                        # signature -> Stages
        self._guards = {}                       # signature -> guard (see graphad.cache)
        self._guard = self._no_guard            # the last call's signature, checked first
        self._last_key = None
        self._misses = 0
        self._miss_reasons = []
        functools.update_wrapper(self, fun, updated=())

    def _key(self, args):
        """(signature, leaves): one key part per positional argument (see graphad.cache)."""
        parts, leaves = [], []
        for i, a in enumerate(args):
            if i in self.static_argnums:
                try:
                    hash(a)
                except TypeError:
                    raise GraphadError(f"static argument {i} of type {type(a).__name__} is not "
                                       "hashable; static arguments must be hashable") from None
                parts.append(("static", type(a), a))
            else:
                arg_leaves, tree = tree_flatten(a)
                parts.append((tree, tuple(map(_leaf_key, arg_leaves))))
                leaves += arg_leaves
        return tuple(parts), leaves

    def stage(self, args) -> Stages:
        tf = trace_function(self.fun, args, self.static_argnums)
        forward, records = tf, []
        passes = DEFAULT_PASSES if self.passes is None else self.passes
        before_ad = tuple(p for p in ("stabilize", "hoist") if p in passes)
        if self.transform is not _identity and before_ad:
            # Differentiate the stable form: the gradient of log(sigmoid(x)) at x=-800 is
            # finite only if the forward is rewritten before reverse mode builds on it.
            # Hoist before it too, so a loop and its reverse-mode rerun (while_vjp) share
            # one hoisted body, which the backend needs to run them as one taped loop.
            graph, records = optimize(tf.graph, before_ad)
            for r in records:
                r["pass"] = f"{r['pass']} (forward, before AD)"
            forward = tf.with_graph(graph)
        adjoint, out_tree = self.transform(forward)
        optimized, more = optimize(adjoint, self.passes)
        records += more
        # The fused stage is what this backend (or, uncompiled, the default) would run.
        fused = fused_stage(optimized, self.backend or DEFAULT_BACKEND, self.fastmath)
        stages = Stages(tf.graph, adjoint, optimized, fused, records, out_tree, tf.captured,
                        self.fastmath)
        return stages.describe(self.fun, tf, getattr(self.transform, "argnums", None))

    def _stages(self, args):
        key, leaves = self._key(args)
        stages = self._cache.get(key)
        if stages is None:
            self._note_miss(key)
            stages = self.stage(args)
            if not stages.captured:       # a closure over traced values is not reusable
                self._cache[key] = stages
        return stages, leaves, key

    def _note_miss(self, key):
        self._misses += 1
        name = getattr(self, "__name__", "?")
        if self._last_key is None:
            reason = "first call"
            self._log.debug("%s: tracing for its first signature", name)
        else:
            reason = cache.explain_miss(self._last_key, key)
            self._log.info("%s: cache miss, tracing again: %s", name, reason)
        self._miss_reasons = (self._miss_reasons + [reason])[-16:]

    def __call__(self, *args, **kwargs):
        out = self._guard(args)           # the signature of the last call, checked inline
        if out is not _MISS and not kwargs:
            return out
        if kwargs:
            raise GraphadError(f"{self.__name__}: pass arguments positionally "
                               f"(got keywords {sorted(kwargs)})")
        stages, leaves, key = self._stages(args)
        if stages.captured or any(getattr(leaf, "_trace", None) is not None for leaf in leaves):
            # Traced values (a graph tracer, an eager box): record into their trace.
            outs = inline_graph(stages.optimized, list(leaves) + stages.captured)
            return tree_unflatten(stages.out_tree, outs)
        self._last_key = key
        guard = self._guards.get(key)
        if guard is None:                 # first run of this signature: compile, make its guard
            exe = self._executable(stages)
            outs = exe.run(*leaves) if hasattr(exe, "run") else _run_plain(exe, leaves)
            self._guard = self._guards[key] = self._make_guard(key, stages, exe, leaves)
            return tree_unflatten(stages.out_tree, list(outs))
        if guard is not self._guard:      # the one tried above has missed already
            self._guard = guard
            out = guard(args)
        if out is _MISS:                  # e.g. an ndarray subclass: not the guard's types
            out = tree_unflatten(stages.out_tree,
                                 _run_plain(self._executable(stages), leaves))
        return out

    def _executable(self, stages):
        return stages.executable(self.backend or "numpy", fastmath=self.fastmath)

    def _make_guard(self, key, stages, exe, leaves):
        if hasattr(exe, "kernel"):        # numba: call the machine code directly
            run = exe.entry_point(leaves) or exe.kernel
            return cache.make_guard(key, run, exe.constants, exe.converters, exe.out_index,
                                    stages.out_tree)
        run = (lambda *leaves: exe([np.asarray(x) for x in leaves]))
        converters = [(lambda o: o[()]) if not v.shape else None for v in stages.fused.outputs]
        return cache.make_guard(key, run, (), converters, range(len(converters)),
                                stages.out_tree)

    def inspect(self, *args) -> Stages:
        """The stages for these arguments (traces and optimizes; does not run)."""
        return self._stages(args)[0]

    def cache_info(self):
        """Signatures cached, misses (calls that traced), and why the latest ones missed.
        (Hits are not counted: a counter would cost the cached path a tenth of its time.)"""
        return {"signatures": len(self._cache), "misses": self._misses,
                "last_miss": self._miss_reasons[-1] if self._miss_reasons else None,
                "miss_reasons": list(self._miss_reasons)}

    def __repr__(self):
        return f"<graphad.Staged {getattr(self, '__name__', '?')} backend={self.backend}>"


def compile(fun, static_argnums=(), backend=DEFAULT_BACKEND, passes=None,  # noqa: A001
            fastmath=True):
    """Trace on first call per signature, optimize, compile with `backend`, cache.
    `fastmath=False` makes the Numba backend call the C library's exp, log, tanh, ...
    instead of graphad's vectorizable ones (accuracy: graphad/backends/numba/vecmath.py)
    and keep products as the optimized graph writes them (no factoring or reassociation,
    graphad/passes/products.py)."""
    if isinstance(fun, Staged):
        statics = fun.static_argnums | frozenset(
            (static_argnums,) if isinstance(static_argnums, int) else static_argnums)
        return Staged(fun.fun, fun.transform, backend, statics, passes, fastmath)
    return Staged(fun, _identity, backend, static_argnums, passes, fastmath)


def transformed(fun, transform) -> Staged:
    """`fun` (a Python function or a Staged one) under `transform`, keeping its backend:
    a compiled function's transform is compiled too. A plain compiled function is
    unwrapped so its stages show the user's forward graph, not an inlined copy."""
    if isinstance(fun, Staged) and fun.transform is _identity:
        return Staged(fun.fun, transform, fun.backend, fun.static_argnums, fun.passes,
                      fun.fastmath)
    if isinstance(fun, Staged):
        return Staged(fun, transform, fun.backend, fastmath=fun.fastmath)
    return Staged(fun, transform)


def _differentiate(fun, argnums, with_value):
    return transformed(fun, _Grad(argnums, with_value))


def grad(fun, argnums=0):
    """Gradient of a scalar-valued `fun` w.r.t. argument(s) `argnums`."""
    return _differentiate(fun, argnums, with_value=False)


def value_and_grad(fun, argnums=0):
    """`(fun(*args), grad(fun)(*args))` computed in one pass."""
    return _differentiate(fun, argnums, with_value=True)


def vjp(fun, *primals):
    """`(out, vjp_fn)`; `vjp_fn(cotangent)` returns one cotangent per primal."""
    forward = fun if isinstance(fun, Staged) else Staged(fun)
    out = forward(*primals)
    out_tree = tree_flatten(out)[1]
    n = len(primals)

    def pairing(*args):
        outs, cts = tree_leaves(forward(*args[:n])), tree_leaves(args[n])
        terms = [gnp.sum(o * c) for o, c in zip(outs, cts) if np.dtype(o.dtype).kind == "f"]
        return sum(terms[1:], terms[0]) if terms else gnp.asarray(0.0)

    pullback = _differentiate(pairing, tuple(range(n)), with_value=False)
    if isinstance(fun, Staged):
        pullback.backend = fun.backend

    def vjp_fn(cotangent):
        ct_tree = tree_flatten(cotangent)[1]
        if ct_tree != out_tree:
            raise GraphadError(f"vjp_fn: the cotangent has structure {ct_tree}, the output {out_tree}")
        return pullback(*primals, cotangent)

    return out, vjp_fn


def inspect(fun, *args) -> Stages:
    """The stages of `fun` for these arguments: traced, adjoint, optimized, fused."""
    staged = fun if isinstance(fun, Staged) else Staged(fun)
    return staged.inspect(*args)
