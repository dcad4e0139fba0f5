"""Gradient checking against central finite differences.

`check_grads(f, args)` checks, element by element, the derivatives graphad
computes in forward mode (jacfwd) and reverse mode (grad) against central
differences, then does the same for the derivative functions themselves up
to `order`: the jvp of f along a random tangent and the gradient of
<u, f> for a random cotangent u, as JAX's check_grads does. A non-scalar f is
reduced to <u, f(x)> with a random u, so every check compares full gradients
and a failure names the argument, the element and both values.
"""
from __future__ import annotations

import numpy as np

from . import numpy as gnp
from .api import Staged, grad
from .errors import GraphadError
from .jacobian import jacfwd, jvp
from .tree import TreeDef, tree_flatten, tree_leaves, tree_unflatten


class GradientCheckError(GraphadError, AssertionError):
    """A derivative graphad computed disagrees with finite differences."""


# float64 / lower precision: (eps, rtol, atol)
_DEFAULTS = {8: (1e-6, 1e-5, 1e-6), 4: (1e-3, 1e-2, 1e-3), 2: (1e-2, 5e-2, 1e-2)}


def _tolerances(args, eps, rtol, atol):
    sizes = [np.asarray(x).dtype.itemsize for x in tree_leaves(args) if _is_float(x)]
    d_eps, d_rtol, d_atol = _DEFAULTS[min(sizes, default=8)]
    return (d_eps if eps is None else eps, d_rtol if rtol is None else rtol,
            d_atol if atol is None else atol)


def _is_float(x) -> bool:
    return np.asarray(x).dtype.kind == "f"


def _as_arrays(args):
    """Float leaves as numpy arrays, so perturbed copies keep the same signature."""
    return tuple(tree_unflatten(td, [np.asarray(x) if _is_float(x) else x for x in leaves])
                 for leaves, td in map(tree_flatten, args))


def _leaf_paths(td: TreeDef, prefix=""):
    if td.kind in ("leaf", "none"):
        return [prefix] if td.kind == "leaf" else []
    keys = td.aux if td.kind == "dict" else range(len(td.children))
    return [p for k, c in zip(keys, td.children) for p in _leaf_paths(c, f"{prefix}[{k!r}]")]


def _scalar(out, what) -> float:
    a = np.asarray(out)
    if a.shape != () or a.dtype.kind != "f":
        raise GraphadError(f"{what}: the function must return a float scalar, got "
                           f"{a.dtype} of shape {a.shape}")
    return float(a)


def numerical_grad(f, args, argnums=0, eps=1e-6):
    """Central-difference gradient of a scalar `f(*args)` with respect to `argnums`.

    The result has the structure `graphad.grad(f, argnums)(*args)` has: the
    argument's pytree for an int, a tuple of them for a tuple of ints.
    """
    args = _as_arrays(tuple(args))
    grads = []
    for a in ((argnums,) if isinstance(argnums, int) else argnums):
        leaves, td = tree_flatten(args[a])
        out = []
        for k, leaf in enumerate(leaves):
            g = np.zeros(np.shape(leaf), np.asarray(leaf).dtype)
            for idx in np.ndindex(g.shape):
                def at(delta):
                    x = np.array(leaf, copy=True)
                    x[idx] += delta
                    moved = list(args)
                    moved[a] = tree_unflatten(td, leaves[:k] + [x] + leaves[k + 1:])
                    return _scalar(f(*moved), "numerical_grad")
                g[idx] = (at(eps) - at(-eps)) / (2 * eps)
            out.append(g)
        grads.append(tree_unflatten(td, out))
    return grads[0] if isinstance(argnums, int) else tuple(grads)


def _random_like(tree, rng):
    leaves, td = tree_flatten(tree)
    return tree_unflatten(td, [rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)
                               if _is_float(x) else np.zeros_like(np.asarray(x)) for x in leaves])


def _pairing(f, u):
    """<u, f(*args)> over the float output leaves, as a staged (cached) function."""
    def paired(*args):
        terms = [gnp.sum(o * c) for o, c in zip(tree_leaves(f(*args)), tree_leaves(u))
                 if _is_float(c)]
        return sum(terms[1:], terms[0])
    paired.__name__ = f"<u, {getattr(f, '__name__', 'f')}>"
    return Staged(paired)


def _compare(ad, fd, args, argnums, mode, label, tol):
    eps, rtol, atol = tol
    worst = None
    for a, ad_a, fd_a in zip(argnums, ad, fd):
        paths = _leaf_paths(tree_flatten(args[a])[1])
        for path, x, y in zip(paths, tree_leaves(ad_a), tree_leaves(fd_a)):
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            excess = np.abs(x - y) - (atol + rtol * np.abs(y))
            excess = np.where(np.isnan(x) != np.isnan(y), np.inf, excess)
            if excess.size and np.nanmax(excess) > 0 and (worst is None or np.nanmax(excess) > worst[0]):
                idx = np.unravel_index(int(np.nanargmax(excess)), excess.shape)
                worst = (np.nanmax(excess), a, path, idx, x[idx], y[idx])
    if worst is not None:
        _, a, path, idx, x, y = worst
        x, y = float(x), float(y)
        where = f"argument {a}{path}" + (f", index {tuple(int(i) for i in idx)}" if idx else "")
        raise GradientCheckError(
            f"check_grads: the {mode} derivative of {label} with respect to {where} is {x!r}, "
            f"but central finite differences give {y!r} (|difference| {abs(x - y):.3g} > "
            f"atol {atol:g} + rtol {rtol:g} * |fd|; eps={eps:g})")


def _check(f, args, argnums, modes, order, label, tol, rng):
    out = f(*args)
    if not isinstance(out, (tuple, list, dict)) and np.shape(out) == ():
        u = np.ones((), np.asarray(out).dtype)       # a scalar f: check its gradient itself
    else:
        u, label = _random_like(out, rng), f"<u, {label}> (u random)"
    paired = _pairing(f, u)
    fd = numerical_grad(paired, args, argnums, tol[0])
    for mode in modes:
        if mode == "fwd":
            ad = jacfwd(paired, argnums)(*args)
        elif mode == "rev":
            ad = grad(paired, argnums)(*args)
        else:
            raise GraphadError(f"check_grads: unknown mode {mode!r}; modes are 'fwd' and 'rev'")
        _compare(ad, fd, args, argnums, "forward-mode" if mode == "fwd" else "reverse-mode",
                 label, tol)
    if order > 1:
        for mode in modes:
            if mode == "rev":
                derivative, name = grad(paired, argnums), f"the gradient of {label}"
            else:
                v = _random_like(args, rng)
                derivative = Staged(lambda *xs, v=v: jvp(f, xs, v)[1])
                name = f"the jvp of {label} along a random tangent"
            _check(derivative, args, argnums, modes, order - 1, name, tol, rng)


def check_grads(f, args, modes=("fwd", "rev"), order=2, eps=None, rtol=None, atol=None, seed=0):
    """Check f's derivatives up to `order` in the given modes against central differences.

    `args` is the tuple of positional arguments; derivatives are taken with
    respect to every argument whose leaves are all float. Defaults for `eps`,
    `rtol` and `atol` follow the arguments' precision (float64: 1e-6, 1e-5,
    1e-6). Raises GradientCheckError (an AssertionError) naming the argument,
    the element and both values on the worst disagreement.
    """
    args = _as_arrays(tuple(args))
    argnums = tuple(i for i, a in enumerate(args)
                    if tree_leaves(a) and all(_is_float(x) for x in tree_leaves(a)))
    if not argnums:
        raise GraphadError("check_grads: no argument has only float leaves to differentiate")
    if isinstance(modes, str):
        modes = (modes,)
    tol = _tolerances(args, eps, rtol, atol)
    _check(f, args, argnums, tuple(modes), order, getattr(f, "__name__", "f"), tol,
           np.random.default_rng(seed))
