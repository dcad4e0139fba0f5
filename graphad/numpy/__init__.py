"""graphad.numpy: the numpy-compatible namespace (like autograd.numpy).

Each function takes numpy's arguments, applies numpy's dtype promotion (Python
scalars are weak: float32 * 2.0 stays float32) and expresses the result with
graphad's primitives, so it records into a graph when given traced values and
computes with numpy when given arrays. Functions that are not primitives are
compositions (mean = sum / n, clip = min(max(...)), sort = gather by argsort).

    _base         operands and promotion
    elementwise   ufuncs, where, select, clip, casts
    reductions    sum ... var/std, cumsum/cumprod, average, trace
    shape         reshape, transposes, joins, splits, tile, flip, pad, diagonals
    indexing      x[...], take, take_along_axis, sort, partition
    contractions  dot, matmul, tensordot, einsum, kron, cross
    linalg        graphad.numpy.linalg (numpy.linalg)
    creation      constants and *_like
"""
from . import linalg
from ._base import *  # noqa: F401,F403
from ._base import _traced  # noqa: F401  (graphad.tree asks whether a leaf is traced)
from .contractions import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
