"""numpy-style behaviour shared by graphad's stand-ins for arrays.

Graph tracers (graphad/trace.py) and eager tape boxes (graphad/eager.py) both
behave like numpy arrays: Python operators, methods such as `.sum` and `.T`,
and numpy's `__array_ufunc__` / `__array_function__` protocols all route to
graphad.numpy, whose functions bind primitives. Whichever trace owns the
operands then records the application. A subclass provides `shape`, `dtype`,
`ndim` and `_trace`.
"""
from __future__ import annotations

from . import numpy as gnp
from .errors import UnsupportedOperationError


def _swap(f):
    return lambda self, other: f(other, self)


def _method(name):
    f = getattr(gnp, name)
    return lambda self, *args, **kwargs: f(self, *args, **kwargs)


def _shape_args(args):
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _where_called():
    from .trace import user_location   # trace imports this module
    return user_location()


class ArrayLike:
    """Mixin: operators, methods and numpy protocols routed to graphad.numpy."""

    __slots__ = ()
    __array_priority__ = 1000

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    T = property(lambda self: gnp.transpose(self))

    def reshape(self, *shape, order="C"):
        return gnp.reshape(self, _shape_args(shape), order)

    def transpose(self, *axes):
        return gnp.transpose(self, _shape_args(axes) or None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is not None:
            raise UnsupportedOperationError(f"numpy.{ufunc.__name__} with out= on a traced value")
        kwargs.pop("out", None)
        if method == "__call__":
            f = getattr(gnp, ufunc.__name__, None)
            if f is not None and not kwargs:
                return f(*inputs)
        elif method == "reduce" and ufunc.__name__ in _UFUNC_REDUCTIONS:
            return _UFUNC_REDUCTIONS[ufunc.__name__](*inputs, **kwargs)
        suffix = "" if method == "__call__" else f".{method}"
        raise UnsupportedOperationError(f"numpy.{ufunc.__name__}{suffix} has no graphad rule "
                                        f"(called at {_where_called()})")

    def __array_function__(self, func, types, args, kwargs):
        module = func.__module__.replace("numpy", "", 1).lstrip(".")
        namespace = gnp
        for part in filter(None, module.split(".")):
            namespace = getattr(namespace, part, None)
        f = getattr(namespace, func.__name__, None) if namespace is not None else None
        if f is None:
            name = ".".join(filter(None, ["numpy", module, func.__name__]))
            raise UnsupportedOperationError(f"{name} has no graphad rule "
                                            f"(called at {_where_called()})")
        return f(*args, **kwargs)


_UFUNC_REDUCTIONS = {"add": gnp.sum, "multiply": gnp.prod, "maximum": gnp.max, "minimum": gnp.min}

_OPERATORS = {
    "__add__": gnp.add, "__radd__": _swap(gnp.add),
    "__sub__": gnp.subtract, "__rsub__": _swap(gnp.subtract),
    "__mul__": gnp.multiply, "__rmul__": _swap(gnp.multiply),
    "__truediv__": gnp.divide, "__rtruediv__": _swap(gnp.divide),
    "__pow__": gnp.power, "__rpow__": _swap(gnp.power),
    "__floordiv__": gnp.floor_divide, "__rfloordiv__": _swap(gnp.floor_divide),
    "__mod__": gnp.mod, "__rmod__": _swap(gnp.mod),
    "__divmod__": gnp.divmod, "__rdivmod__": _swap(gnp.divmod),
    "__xor__": gnp.logical_xor, "__rxor__": _swap(gnp.logical_xor),
    "__matmul__": gnp.matmul, "__rmatmul__": _swap(gnp.matmul),
    "__lt__": gnp.less, "__le__": gnp.less_equal, "__gt__": gnp.greater,
    "__ge__": gnp.greater_equal, "__eq__": gnp.equal, "__ne__": gnp.not_equal,
    "__and__": gnp.logical_and, "__rand__": _swap(gnp.logical_and),
    "__or__": gnp.logical_or, "__ror__": _swap(gnp.logical_or),
    "__neg__": gnp.negative, "__pos__": gnp.positive, "__abs__": gnp.absolute,
    "__invert__": gnp.logical_not, "__getitem__": gnp.getitem,
}
for _name, _f in _OPERATORS.items():
    setattr(ArrayLike, _name, _f)
ArrayLike.__hash__ = object.__hash__   # __eq__ is elementwise; identity hash as for numpy arrays

for _name in ("sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "clip",
              "dot", "ravel", "squeeze", "swapaxes", "astype", "round", "cumsum", "cumprod",
              "trace", "diagonal", "take", "repeat", "all", "any", "conj", "conjugate",
              "argsort"):
    setattr(ArrayLike, _name, _method(_name))
ArrayLike.flatten = _method("ravel")
ArrayLike.real = property(gnp.real)
ArrayLike.imag = property(gnp.imag)
