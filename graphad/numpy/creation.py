"""Array creation: constants in the graph (numpy's own functions), and the
*_like functions, which read only the static shape and dtype of a traced value."""
from __future__ import annotations

import numpy as _np

from ._base import asarray, public_names

zeros, ones, full, empty = _np.zeros, _np.ones, _np.full, _np.zeros
arange, linspace, logspace, geomspace = _np.arange, _np.linspace, _np.logspace, _np.geomspace
eye, identity, tri, meshgrid = _np.eye, _np.identity, _np.tri, _np.meshgrid
indices, ogrid, mgrid = _np.indices, _np.ogrid, _np.mgrid


def _like(a, dtype, shape):
    a = asarray(a)
    return (tuple(a.shape) if shape is None else shape), (a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, order="K", subok=True, shape=None):
    return _np.zeros(*_like(a, dtype, shape))


def ones_like(a, dtype=None, order="K", subok=True, shape=None):
    return _np.ones(*_like(a, dtype, shape))


empty_like = zeros_like


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    shape, dtype = _like(a, dtype, shape)
    return _np.full(shape, fill_value, dtype)


__all__ = public_names(globals())
