"""Every primitive graphad knows, in one explicit list."""
from . import creation, elementwise, linalg, reductions, shape
from .core import Masked, Primitive, find_trace

ALL_PRIMITIVES = (creation.PRIMITIVES + elementwise.PRIMITIVES + reductions.PRIMITIVES
                  + shape.PRIMITIVES + linalg.PRIMITIVES)
BY_NAME = {p.name: p for p in ALL_PRIMITIVES}
assert len(BY_NAME) == len(ALL_PRIMITIVES), "two primitives share a name"

__all__ = ["ALL_PRIMITIVES", "BY_NAME", "Masked", "Primitive", "find_trace"]
