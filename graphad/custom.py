"""graphad.custom_vjp: a function with a user-defined gradient, like JAX's.

    @graphad.custom_vjp
    def logsumexp(x):
        return gnp.log(gnp.sum(gnp.exp(x)))

    def logsumexp_fwd(x):
        out = logsumexp(x)
        return out, (x, out)                    # (output, residuals)

    def logsumexp_bwd(residuals, g):
        x, out = residuals
        return (g * gnp.exp(x - out),)          # one cotangent per argument (None = zero)

    logsumexp.defvjp(logsumexp_fwd, logsumexp_bwd)

On plain arrays the function just runs. On traced values, fwd and bwd are
traced once per argument signature into closed graphs and the call records one
`custom_vjp_call` node (graphad/prims/custom.py) whose vjp rule inlines bwd.
"""
from __future__ import annotations

import functools

import numpy as np

from . import numpy as gnp
from .errors import GraphadError
from .ir import TensorType
from .prims.custom import custom_vjp_call_p
from .trace import abstract_type, is_traced, trace_function
from .tree import TreeDef, tree_flatten, tree_unflatten


def _leaf_type(leaf) -> TensorType:
    if is_traced(leaf):
        return TensorType(leaf.shape, leaf.dtype)
    return abstract_type(leaf)


def _placeholder(t: TensorType):
    """An array of type `t` to trace with (no memory: a broadcast zero)."""
    return np.broadcast_to(np.zeros((), t.dtype), t.shape)


class custom_vjp:  # noqa: N801 - JAX's spelling
    """Decorator: `f = custom_vjp(f)`, then `f.defvjp(fwd, bwd)`."""

    def __init__(self, fun):
        self.fun = fun
        self.fwd = self.bwd = None
        self._graphs = {}
        self._in_fwd = False
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd, bwd):
        """`fwd(*args) -> (out, residuals)`; `bwd(residuals, g) -> tuple of cotangents`."""
        self.fwd, self.bwd = fwd, bwd
        self._graphs.clear()

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise GraphadError(f"custom_vjp function {self.__name__!r}: pass arguments "
                               f"positionally (got keywords {sorted(kwargs)})")
        leaves, in_tree = tree_flatten(args)
        if self._in_fwd or not any(is_traced(leaf) for leaf in leaves):
            return self.fun(*args)    # fwd calling the function itself gets the plain primal
        if self.fwd is None:
            raise GraphadError(f"custom_vjp function {self.__name__!r} has no rule yet: call "
                               f"{self.__name__}.defvjp(fwd, bwd) before tracing it")
        types = tuple(_leaf_type(leaf) for leaf in leaves)
        key = (in_tree, types)
        staged = self._graphs.get(key)
        if staged is None:
            staged = self._graphs[key] = self._trace(in_tree, types)
        fwd, bwd, out_tree = staged
        outs = custom_vjp_call_p.bind(*leaves, fwd=fwd, bwd=bwd, num_out=out_tree.num_leaves,
                                      name=self.__name__)
        return tree_unflatten(out_tree, outs[:out_tree.num_leaves])

    def _trace(self, in_tree: TreeDef, types):
        name = self.__name__
        args = tree_unflatten(in_tree, [_placeholder(t) for t in types])
        self._in_fwd = True
        try:
            fwd = trace_function(self.fwd, args)
        finally:
            self._in_fwd = False
        tree = fwd.out_tree
        if tree.kind not in ("tuple", "list") or len(tree.children) != 2:
            raise GraphadError(f"custom_vjp function {name!r}: fwd must return a pair "
                               f"(output, residuals); it returned a tree {tree}")
        out_tree, res_tree = tree.children
        n_out = out_tree.num_leaves
        out_types = fwd.graph.out_types
        residuals = tree_unflatten(res_tree, [_placeholder(t) for t in out_types[n_out:]])
        cotangent = tree_unflatten(out_tree, [_placeholder(t) for t in out_types[:n_out]])
        bwd = trace_function(self._flat_bwd(args), (residuals, cotangent))
        if fwd.captured or bwd.captured:
            which = "fwd" if fwd.captured else "bwd"
            raise GraphadError(f"custom_vjp function {name!r}: {which} uses a traced value it "
                               "closes over; pass that value as an argument instead")
        return fwd.graph, bwd.graph, out_tree

    def _flat_bwd(self, args):
        """bwd with its result checked and flattened to one cotangent per argument leaf."""
        name = self.__name__

        def flat(residuals, g):
            cts = self.bwd(residuals, g)
            if len(args) == 1 and not isinstance(cts, (tuple, list)):
                cts = (cts,)
            if not isinstance(cts, (tuple, list)) or len(cts) != len(args):
                raise GraphadError(f"custom_vjp function {name!r}: bwd must return a tuple with "
                                   f"one cotangent per argument ({len(args)}), got {cts!r}")
            flat_cts = []
            for i, (arg, ct) in enumerate(zip(args, cts)):
                arg_leaves, arg_tree = tree_flatten(arg)
                if ct is None:
                    flat_cts += [np.zeros(a.shape, a.dtype) for a in arg_leaves]
                    continue
                ct_leaves, ct_tree = tree_flatten(ct)
                if ct_tree != arg_tree:
                    raise GraphadError(f"custom_vjp function {name!r}: bwd returned a cotangent "
                                       f"with structure {ct_tree} for argument {i}, whose "
                                       f"structure is {arg_tree}")
                for a, c in zip(arg_leaves, ct_leaves):
                    if tuple(gnp.shape(c)) != a.shape:
                        raise GraphadError(f"custom_vjp function {name!r}: bwd returned a cotangent"
                                           f" of shape {tuple(gnp.shape(c))} for argument {i}, "
                                           f"whose shape is {a.shape}")
                    flat_cts.append(gnp.astype(c, a.dtype))
            return flat_cts
        return flat
