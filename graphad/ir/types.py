"""Static tensor types: a shape tuple and a numpy dtype."""
from __future__ import annotations

import numpy as np

_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32",
          "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "bool"}


class TensorType:
    """The static type of a value in the IR: shape (tuple of ints) and dtype."""

    __slots__ = ("shape", "dtype", "_hash")

    def __init__(self, shape, dtype):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self._hash = hash((self.shape, self.dtype))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_float(self) -> bool:
        return self.dtype.kind == "f"

    def __eq__(self, other):
        return isinstance(other, TensorType) and self.shape == other.shape and self.dtype == other.dtype

    def __hash__(self):
        return self._hash

    def __str__(self):
        return f"{short_dtype(self.dtype)}[{','.join(map(str, self.shape))}]"

    __repr__ = __str__

    @staticmethod
    def of(value) -> "TensorType":
        """The type of a concrete value (array or Python/numpy scalar)."""
        a = np.asarray(value)
        return TensorType(a.shape, a.dtype)


def short_dtype(dtype) -> str:
    name = np.dtype(dtype).name
    return _SHORT.get(name, name)
