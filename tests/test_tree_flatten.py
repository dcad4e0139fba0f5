"""graphad.tree.flatten: one vector out, the same tree back."""
from collections import namedtuple

import numpy as np
import pytest

import graphad
from graphad.tree import flatten, tree_flatten

Pair = namedtuple("Pair", "left right")


def assert_same_tree(got, expect):
    g_leaves, g_tree = tree_flatten(got)
    e_leaves, e_tree = tree_flatten(expect)
    assert g_tree == e_tree
    for g, e in zip(g_leaves, e_leaves):
        assert type(g) is type(e)
        if isinstance(e, (np.ndarray, np.generic)):
            assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


TREES = {
    "nested": {"layers": [(np.arange(6.0).reshape(2, 3), np.ones(3)), (np.eye(3), np.zeros(3))],
               "scale": 2.5, "name_free": None},
    "mixed-dtypes": [np.arange(4, dtype=np.float32).reshape(2, 2), np.array([1, 2, 3]),
                     (np.float32(1.5), True, 7), {"b": np.zeros((0, 2)), "a": np.float64(3.0)}],
    "namedtuple": Pair(np.ones((2, 1, 2)), [np.array(4.0), (np.full(2, -1.0, np.float32),)]),
    "scalar": np.float64(1.25),
    "empty": {"a": [], "b": ()},
}


@pytest.mark.parametrize("name", TREES)
def test_round_trip(name):
    tree = TREES[name]
    vector, unflatten = flatten(tree)
    assert vector.ndim == 1 and vector.dtype.kind == "f"
    leaves = tree_flatten(tree)[0]
    assert vector.size == sum(np.size(leaf) for leaf in leaves)
    assert_same_tree(unflatten(vector), tree)


def test_vector_layout_and_dtype():
    tree = {"b": np.float32(5), "a": [np.array([[1, 2], [3, 4]], np.float32), np.float32(9)]}
    vector, unflatten = flatten(tree)
    # dict keys sorted, leaves raveled in C order, float32 kept
    np.testing.assert_array_equal(vector, [1, 2, 3, 4, 9, 5])
    assert vector.dtype == np.float32
    assert flatten({"i": np.arange(3), "f": np.ones(2, np.float32)})[0].dtype == np.float64
    assert flatten({"i": np.arange(3)})[0].dtype == np.float64
    new = unflatten(np.arange(6.0, dtype=np.float32) * 10)
    np.testing.assert_array_equal(new["a"][0], [[0, 10], [20, 30]])
    assert new["a"][1] == 40 and new["b"] == 50


def test_unflatten_rejects_wrong_size():
    _, unflatten = flatten([np.ones(3), 1.0])
    with pytest.raises(graphad.ShapeError, match=r"shape \(4,\)"):
        unflatten(np.ones(5))


def test_flatten_traces_and_differentiates():
    """Inside a compiled or differentiated function: autograd's flat-vector idiom."""
    params = {"w": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([0.25, -1.0])}
    vector, unflatten = flatten(params)

    def loss(p):
        v = flatten(p)[0]
        return graphad.numpy.sum(v ** 3)

    g = graphad.grad(loss)(params)
    np.testing.assert_allclose(g["w"], 3 * params["w"] ** 2, rtol=1e-14)
    np.testing.assert_allclose(g["b"], 3 * params["b"] ** 2, rtol=1e-14)

    def loss_of_vector(v):
        p = unflatten(v)
        return graphad.numpy.sum(p["w"] @ p["b"])

    gv = graphad.grad(loss_of_vector)(vector)
    expect = flatten({"w": np.outer(np.ones(2), params["b"]), "b": params["w"].sum(0)})[0]
    np.testing.assert_allclose(gv, expect, rtol=1e-14)
