"""Pytrees: nested tuples, lists, dicts and None whose leaves are arrays/scalars.

A TreeDef is a hashable description of the structure, so it can be part of a
compile-cache key. Dict keys are ordered by sorting, as in JAX, so two dicts
with the same keys flatten the same way whatever their insertion order.
"""
from __future__ import annotations


class TreeDef:
    __slots__ = ("kind", "aux", "children", "num_leaves", "_hash")

    def __init__(self, kind, aux, children):
        self.kind = kind            # "leaf", "none", "tuple", "list", "dict", "namedtuple"
        self.aux = aux              # dict keys / namedtuple class
        self.children = children    # tuple of TreeDef
        self.num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in children)
        self._hash = hash((kind, aux, children))

    def __eq__(self, other):
        return (self is other or isinstance(other, TreeDef) and self._hash == other._hash
                and self.kind == other.kind and self.aux == other.aux
                and self.children == other.children)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.aux, self.children))
            return "{" + inner + "}"
        if self.kind == "list":
            return "[" + inner + "]"
        if self.kind == "namedtuple":
            return f"{self.aux.__name__}({inner})"
        return "(" + inner + ("," if len(self.children) == 1 else "") + ")"


LEAF = TreeDef("leaf", None, ())
NONE = TreeDef("none", None, ())


def _flatten(x, leaves):
    if x is None:
        return NONE
    t = type(x)
    if t is tuple or t is list:
        return TreeDef(t.__name__, None, tuple(_flatten(c, leaves) for c in x))
    if t is dict:
        keys = tuple(sorted(x))
        return TreeDef("dict", keys, tuple(_flatten(x[k], leaves) for k in keys))
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return TreeDef("namedtuple", t, tuple(_flatten(c, leaves) for c in x))
    leaves.append(x)
    return LEAF


def tree_flatten(tree):
    """(leaves, treedef) with leaves in a deterministic order."""
    leaves = []
    treedef = _flatten(tree, leaves)
    return leaves, treedef


def tree_unflatten(treedef: TreeDef, leaves):
    it = iter(leaves)
    out = _build(treedef, it)
    rest = next(it, _END)
    if rest is not _END:
        raise ValueError("too many leaves for the tree structure")
    return out


_END = object()


def _build(td, it):
    kind = td.kind
    if kind == "leaf":
        value = next(it, _END)
        if value is _END:
            raise ValueError("too few leaves for the tree structure")
        return value
    if kind == "none":
        return None
    children = [_build(c, it) for c in td.children]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    if kind == "dict":
        return dict(zip(td.aux, children))
    return td.aux(*children)


def tree_leaves(tree):
    return tree_flatten(tree)[0]


def tree_structure(tree) -> TreeDef:
    return tree_flatten(tree)[1]


def tree_map(f, tree, *rest):
    """Apply `f` leafwise; `rest` trees must have the same structure as `tree`."""
    leaves, td = tree_flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_td = tree_flatten(r)
        if r_td != td:
            raise ValueError(f"tree structures differ: {td} vs {r_td}")
        others.append(r_leaves)
    return tree_unflatten(td, [f(*xs) for xs in zip(leaves, *others)])


def flatten(tree):
    """`(vector, unflatten)`: every leaf raveled into one float vector, like autograd's
    misc.flatten. `unflatten(v)` rebuilds the tree, each leaf with its shape and dtype.

    The vector's dtype is numpy's promotion of the leaves' dtypes, float64 when
    that is not a float type (an all-float32 tree gives a float32 vector). Works
    on traced values too, so it can be used inside compiled functions.
    """
    from math import prod

    import numpy as np

    from . import numpy as gnp          # imported here: tree.py is below graphad.numpy
    from .errors import ShapeError

    leaves, treedef = tree_flatten(tree)
    arrays = [gnp.asarray(leaf) for leaf in leaves]
    dtype = np.result_type(*[a.dtype for a in arrays]) if arrays else np.dtype(np.float64)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    specs = [(type(leaf), tuple(a.shape), np.dtype(a.dtype)) for leaf, a in zip(leaves, arrays)]
    if arrays:
        vector = gnp.concatenate([gnp.astype(gnp.ravel(a), dtype) for a in arrays])
    else:
        vector = np.zeros(0, dtype)

    def unflatten(vector):
        size = sum(prod(shape) for _, shape, _ in specs)
        if tuple(gnp.shape(vector)) != (size,):
            raise ShapeError(f"unflatten expects a vector of shape ({size},) like the one flatten "
                             f"returned, got shape {tuple(gnp.shape(vector))}")
        out, start = [], 0
        for kind, shape, leaf_dtype in specs:
            stop = start + prod(shape)
            leaf = gnp.astype(gnp.reshape(vector[start:stop], shape), leaf_dtype)
            if kind in (bool, int, float) and not gnp._traced(leaf):
                leaf = kind(leaf)               # a Python scalar comes back as one
            elif issubclass(kind, np.generic) and not gnp._traced(leaf):
                leaf = leaf[()]
            out.append(leaf)
            start = stop
        return tree_unflatten(treedef, out)

    return vector, unflatten
