"""graphad: a graph-compiling automatic differentiation engine.

Trace numpy-style Python into a graph IR you can see, differentiate it as a
graph, optimize it, and compile it.
"""
from . import numpy
from .api import Staged, compile, grad, inspect, value_and_grad, vjp
from .control import cond, fori_loop, while_loop
from .custom import custom_vjp
from .errors import (EscapedTracerError, GraphadError, IndexOutOfBoundsError, RenderError,
                     ShapeError, TracerBoolConversionError, TypeMismatchError,
                     UnsupportedOperationError, VerificationError)
from .ir import Graph, TensorType
from .jacobian import hessian, jacfwd, jacobian, jacrev, jvp
from .stages import Stages

stop_gradient = numpy.stop_gradient

__version__ = "0.1.0"

__all__ = [
    "EscapedTracerError", "Graph", "GraphadError", "IndexOutOfBoundsError", "RenderError",
    "ShapeError", "Staged", "Stages", "TensorType", "TracerBoolConversionError",
    "TypeMismatchError", "UnsupportedOperationError", "VerificationError", "compile", "grad",
    "inspect", "numpy", "stop_gradient", "value_and_grad", "vjp", "cond", "while_loop",
    "fori_loop", "custom_vjp", "hessian", "jacfwd", "jacobian", "jacrev", "jvp", "testing",
]

from . import nn, optim, tree  # noqa: E402  (training: losses, optimizers, pytrees)
from . import testing  # noqa: E402  (check_grads, numerical_grad)
from . import eager  # noqa: E402  (graphad.eager.grad: the tape-based baseline)
