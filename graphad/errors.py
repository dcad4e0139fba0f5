"""The error hierarchy. Every error graphad raises derives from GraphadError."""


class GraphadError(Exception):
    """Base class of every error graphad raises."""


class TracerBoolConversionError(GraphadError, TypeError):
    """Python control flow (`if`, `while`, `bool()`) asked for a traced value."""


class UnsupportedOperationError(GraphadError, NotImplementedError):
    """A numpy function or operation graphad has no rule for."""


class ShapeError(GraphadError, ValueError):
    """Operands whose shapes do not fit the operation."""


class TypeMismatchError(GraphadError, TypeError):
    """Operands or arguments with a dtype the operation does not accept."""


class EscapedTracerError(GraphadError):
    """A traced value was used after the trace that made it had finished."""


class VerificationError(GraphadError):
    """A graph broke an IR invariant (SSA order, types, arity)."""


class RenderError(GraphadError):
    """Rendering needs Graphviz's `dot` program and it is not installed."""


class IndexOutOfBoundsError(GraphadError, IndexError):
    """A static index outside an array's bounds."""
