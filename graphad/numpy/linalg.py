"""graphad.numpy.linalg: numpy.linalg on graphad's LAPACK primitives.

solve, cholesky, slogdet and eigh are primitives (graphad/prims/lapack.py);
inv, det, pinv, eigvalsh, matrix_power, norm and the singular values are
built on them. Singular values come from the eigenvalues of the smaller Gram
matrix (sqrt(eig(A^T A))), which is exact in exact arithmetic but loses
relative precision for singular values below ~1e-8 of the largest.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as _np

from ..errors import ShapeError, UnsupportedOperationError
from ..prims import lapack as K
from ..prims import reductions as R
from ..prims import shape as S
from ._base import _axis, _cast, _float, _promote, asarray, public_names
from .contractions import cross as _cross
from .contractions import matmul, tensordot, vecdot  # noqa: F401  (numpy.linalg has them)
from .contractions import outer as _outer
from .elementwise import absolute, exp, maximum, not_equal, power, sqrt
from .reductions import max as _max
from .reductions import min as _min
from .reductions import sum as _sum
from .reductions import trace as _trace
from .shape import diagonal as _diagonal
from .shape import flip, matrix_transpose, moveaxis, reshape

SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
LinAlgError = _np.linalg.LinAlgError


def _square(a, name):
    a = _float(asarray(a))
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"linalg.{name}: expected a stack of square matrices (..., n, n), "
                         f"got shape {tuple(a.shape)}")
    return a


def _eye_like(a):
    return S.broadcast_to(_np.eye(a.shape[-1], dtype=a.dtype), tuple(a.shape))


def solve(a, b):
    a = _square(a, "solve")
    a, b = _promote(a, b, to_float=True)
    vector = b.ndim == 1              # numpy 2: only a 1-D b is a vector
    if vector:
        b = reshape(b, (b.shape[0], 1))
    batch = _np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    a = S.broadcast_to(a, batch + tuple(a.shape[-2:]))
    b = S.broadcast_to(b, batch + tuple(b.shape[-2:]))
    x = K.solve(a, b)
    return reshape(x, tuple(x.shape[:-1])) if vector else x


def inv(a):
    a = _square(a, "inv")
    return K.solve(a, _eye_like(a))


def slogdet(a):
    return SlogdetResult(*K.slogdet(_square(a, "slogdet")))


def det(a):
    sign, logabsdet = K.slogdet(_square(a, "det"))
    return sign * exp(logabsdet)


def cholesky(a, /, *, upper=False):
    lower = K.cholesky(_square(a, "cholesky"))
    return matrix_transpose(lower) if upper else lower


def eigh(a, UPLO="L"):
    a = _square(a, "eigh")
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return EighResult(*K.eigh(a if UPLO == "L" else matrix_transpose(a)))


def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """Moore-Penrose inverse of a full-rank matrix: (A^T A)^-1 A^T or A^T (A A^T)^-1.
    Rank-deficient inputs (where pinv is not differentiable) are not supported."""
    a = _float(asarray(a))
    at = matrix_transpose(a)
    if a.shape[-2] >= a.shape[-1]:
        return K.solve(matmul(at, a), at)
    return matrix_transpose(K.solve(matmul(a, at), a))


def matrix_power(a, n):
    a = _square(a, "matrix_power")
    n = int(n)
    if n < 0:
        a, n = inv(a), -n
    result, square = None, a
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    return _eye_like(a) if result is None else result


def multi_dot(arrays, *, out=None):
    result = arrays[0]
    for a in arrays[1:]:
        result = matmul(result, a)
    return result


def svdvals(x, /):
    """Singular values, largest first, from the eigenvalues of the smaller Gram matrix."""
    x = _float(asarray(x))
    xt = matrix_transpose(x)
    gram = matmul(xt, x) if x.shape[-2] >= x.shape[-1] else matmul(x, xt)
    w = K.eigh(gram)[0]
    return flip(sqrt(maximum(w, 0.0)), -1)


def _vector_norm(x, ord, axis):
    if ord is None or ord == 2:
        return sqrt(_sum(x * x, axis=axis))
    if ord == _np.inf:
        return _max(absolute(x), axis=axis)
    if ord == -_np.inf:
        return _min(absolute(x), axis=axis)
    if ord == 0:
        return _sum(_cast(not_equal(x, 0), x.dtype), axis=axis)
    if ord == 1:
        return _sum(absolute(x), axis=axis)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    return power(_sum(power(absolute(x), ord), axis=axis), 1.0 / ord)


def _matrix_norm(x, ord, row, col):
    if ord is None or ord == "fro":
        return sqrt(_sum(x * x, axis=(row, col)))
    if ord in (2, -2, "nuc"):
        s = svdvals(moveaxis(x, (row, col), (-2, -1)))
        return {2: lambda: s[..., 0], -2: lambda: s[..., -1],
                "nuc": lambda: _sum(s, axis=-1)}[ord]()
    if ord in (1, -1):
        pick = _max if ord == 1 else _min
        return pick(_sum(absolute(x), axis=row), axis=col - (col > row))
    if ord in (_np.inf, -_np.inf):
        pick = _max if ord == _np.inf else _min
        return pick(_sum(absolute(x), axis=col), axis=row - (row > col))
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


def norm(x, ord=None, axis=None, keepdims=False):
    x = _float(asarray(x))
    if axis is None:
        if ord is None:
            r = sqrt(_sum(x * x))
            return reshape(r, (1,) * x.ndim) if keepdims else r
        if x.ndim not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    axes = tuple(_axis(a, x.ndim) for a in axes)
    if len(axes) == 1:
        r = _vector_norm(x, ord, axes[0])
    elif len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("Duplicate axes given.")
        r = _matrix_norm(x, ord, *axes)
    else:
        raise ValueError("Improper number of dimensions to norm.")
    return reshape(r, R._kept_shape(x.shape, axes)) if keepdims else r


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    x = asarray(x)
    if axis is None:
        r = _vector_norm(_float(reshape(x, (-1,))), ord, 0)
        return reshape(r, (1,) * x.ndim) if keepdims else r
    return norm(x, ord, axis, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return norm(x, ord, (-2, -1), keepdims)


def trace(x, /, *, offset=0, dtype=None):
    return _trace(x, offset, -2, -1, dtype)


def diagonal(x, /, *, offset=0):
    return _diagonal(x, offset, -2, -1)


def outer(x1, x2, /):
    if asarray(x1).ndim != 1 or asarray(x2).ndim != 1:
        raise ShapeError("linalg.outer takes 1-D arrays")
    return _outer(x1, x2)


def cross(x1, x2, /, *, axis=-1):
    return _cross(x1, x2, axis=axis)


def _unsupported(name, why):
    def f(*args, **kwargs):
        raise UnsupportedOperationError(f"numpy.linalg.{name} has no graphad rule: {why}")
    f.__name__ = name
    return f


eig = _unsupported("eig", "general eigenvectors are complex; use eigh for symmetric matrices")
eigvals = _unsupported("eigvals", "general eigenvalues are complex; use eigvalsh")
svd = _unsupported("svd", "singular vectors are not differentiable yet; svdvals is")
qr = _unsupported("qr", "not implemented yet")
lstsq = _unsupported("lstsq", "use solve(A.T @ A, A.T @ b) for a full-rank A")

__all__ = public_names(globals())
