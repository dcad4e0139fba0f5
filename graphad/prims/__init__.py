"""Every primitive graphad knows, in one explicit list."""
from . import (control, creation, custom, elementwise, indexing, lapack, linalg, reductions, shape,
               special)
from .core import Masked, Primitive, find_trace

ALL_PRIMITIVES = (creation.PRIMITIVES + elementwise.PRIMITIVES + reductions.PRIMITIVES
                  + shape.PRIMITIVES + indexing.PRIMITIVES + linalg.PRIMITIVES + lapack.PRIMITIVES
                  + custom.PRIMITIVES + special.PRIMITIVES + control.PRIMITIVES)
BY_NAME = {p.name: p for p in ALL_PRIMITIVES}
assert len(BY_NAME) == len(ALL_PRIMITIVES), "two primitives share a name"

__all__ = ["ALL_PRIMITIVES", "BY_NAME", "Masked", "Primitive", "find_trace"]
