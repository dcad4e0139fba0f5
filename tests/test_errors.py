"""Errors say what was wrong in the user's terms."""
import re

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp


def test_python_if_on_a_tracer_names_this_file_and_line_and_the_alternatives():
    def f(x):
        if x > 0:  # the offending line
            return x
        return -x

    with pytest.raises(graphad.TracerBoolConversionError) as info:
        graphad.grad(f)(1.0)
    message = str(info.value)
    assert "test_errors.py" in message
    line = f.__code__.co_firstlineno + 1
    assert f"line {line}" in message and "if x > 0" in message
    for hint in ("graphad.cond", "graphad.while_loop", "static_argnums", "graphad.eager"):
        assert hint in message
    assert isinstance(info.value, graphad.GraphadError)


def test_python_while_and_float_conversion_are_caught_too():
    with pytest.raises(graphad.TracerBoolConversionError):
        graphad.compile(lambda x: float(x), backend="numpy")(1.0)

    def loop(x):
        while x < 10:
            x = x * 2
        return x

    with pytest.raises(graphad.TracerBoolConversionError, match="bool"):
        graphad.grad(loop)(1.0)


def test_unsupported_numpy_function_is_named():
    with pytest.raises(graphad.UnsupportedOperationError, match=r"numpy\.fft\.fft"):
        graphad.grad(lambda x: np.sum(np.fft.fft(x).real))(np.ones(4))
    with pytest.raises(graphad.UnsupportedOperationError, match=r"numpy\.unique"):
        graphad.compile(lambda x: np.unique(x), backend="numpy")(np.ones(4))


def test_shape_mismatch_names_both_shapes_and_the_users_line():
    def f(x, y):
        return gnp.sum(x * y)

    with pytest.raises(graphad.ShapeError, match=re.escape("(3,)") + ".*" + re.escape("(4,)")) as info:
        graphad.grad(f)(np.ones(3), np.ones(4))
    assert f"test_errors.py\", line {f.__code__.co_firstlineno + 1}" in str(info.value)
    assert "gnp.sum(x * y)" in str(info.value)
    with pytest.raises(graphad.ShapeError, match="contracted dimensions do not match"):
        graphad.grad(lambda x: gnp.sum(x @ np.ones((4, 2))))(np.ones((2, 3)))


def test_grad_of_non_scalar_output_says_so():
    with pytest.raises(graphad.GraphadError, match="one float scalar.*f64\\[3\\]"):
        graphad.grad(lambda x: x * 2)(np.ones(3))


def test_grad_with_respect_to_an_integer_argument_says_so():
    with pytest.raises(graphad.GraphadError, match="argument 0.*int64.*1.0 rather than 1"):
        graphad.grad(lambda x: x * 2.0)(3)


def test_keyword_arguments_are_rejected_clearly():
    with pytest.raises(graphad.GraphadError, match="positionally"):
        graphad.compile(lambda x: x, backend="numpy")(x=1.0)


def test_escaped_tracer_is_reported():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2

    graphad.grad(f)(1.0)
    with pytest.raises(graphad.EscapedTracerError):
        graphad.grad(lambda y: y * leaked[0])(2.0)


def test_index_out_of_bounds_is_an_index_error():
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 3"):
        graphad.grad(lambda x: x[5])(np.ones(3))


def test_unknown_backend_and_unhashable_static_argument():
    with pytest.raises(graphad.GraphadError, match="unknown backend 'cuda'"):
        graphad.compile(lambda x: x, backend="cuda")
    f = graphad.compile(lambda x, opts: x, static_argnums=1, backend="numpy")
    with pytest.raises(graphad.GraphadError, match="static argument 1.*not hashable"):
        f(1.0, [1, 2])


def test_traced_arrays_are_immutable():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(graphad.GraphadError, match="immutable"):
        graphad.compile(f, backend="numpy")(np.zeros(2))
