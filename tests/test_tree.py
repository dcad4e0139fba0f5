from collections import namedtuple

import numpy as np
import pytest

from graphad.tree import tree_flatten, tree_leaves, tree_map, tree_structure, tree_unflatten

Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("tree", [
    1.0, None, (), [], {}, (1, 2), [1, (2, 3)], {"b": 1, "a": [2, None, 3]},
    {"w": np.ones(3), "layers": [(np.zeros((2, 2)), 1.5), Point(1, np.arange(3))]},
])
def test_flatten_round_trips(tree):
    leaves, td = tree_flatten(tree)
    rebuilt = tree_unflatten(td, leaves)
    assert tree_structure(rebuilt) == td
    assert all(a is b for a, b in zip(tree_leaves(rebuilt), leaves))
    assert len(leaves) == td.num_leaves


def test_dict_keys_flatten_in_sorted_order_whatever_the_insertion_order():
    assert tree_leaves({"b": 2, "a": 1}) == [1, 2]
    assert tree_structure({"b": 2, "a": 1}) == tree_structure({"a": 0, "b": 0})
    assert hash(tree_structure({"b": 2, "a": 1})) == hash(tree_structure({"a": 0, "b": 0}))


def test_structures_differ_by_container_kind():
    assert tree_structure((1, 2)) != tree_structure([1, 2])
    assert tree_structure((1, None)) != tree_structure((1, 2))


def test_tree_map_applies_leafwise_and_checks_structure():
    assert tree_map(lambda a, b: a + b, {"a": 1, "b": (2, 3)}, {"a": 10, "b": (20, 30)}) == \
        {"a": 11, "b": (22, 33)}
    with pytest.raises(ValueError, match="structures differ"):
        tree_map(lambda a, b: a, (1, 2), [1, 2])


def test_unflatten_checks_leaf_count():
    td = tree_structure((1, 2))
    with pytest.raises(ValueError, match="too few"):
        tree_unflatten(td, [1])
    with pytest.raises(ValueError, match="too many"):
        tree_unflatten(td, [1, 2, 3])
