"""The fusion pass: which nodes share a region, convexity, no duplicated work,
and results unchanged under the numpy oracle (no Numba compilation here)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.passes.fusion import CHEAP, VIEWS, fuse, fused_p, partition, rematerialize
from graphad.trace import trace_function

try:
    from random_graphs import adjoint_graphs, graphs
except ImportError:                      # pragma: no cover - written concurrently
    graphs = adjoint_graphs = None


def traced(fn, *args):
    return trace_function(fn, args).graph


def fused_nodes(graph):
    return [n for n in graph.nodes if n.prim is fused_p]


def body_prims(node):
    return [n.prim.name for n in node.attrs["body"].nodes]


def test_elementwise_chain_and_its_reduction_become_one_region():
    g = traced(lambda x, y: gnp.sum(gnp.sin(x * y) + 1.0), np.ones(5), np.ones(5))
    f = fuse(g).verify()
    (node,) = f.nodes                     # nothing outside the region
    assert node.prim is fused_p
    assert body_prims(node) == ["mul", "sin", "constant", "add", "reduce_sum"]
    assert [str(v.type) for v in node.outputs] == ["f64[]"]    # x*y and sin never leave


def test_golden_text():
    g = traced(lambda x, b: gnp.exp(x @ x.T + b), np.ones((2, 3)), np.ones(2))
    assert str(fuse(g)) == """{ lambda a:f64[2,3], b:f64[2] .
  c:f64[3,2] = transpose a  perm=(1, 0)
  d:f64[2,2] = dot_general a c  batch=((), ()) contract=((1,), (0,))
  e:f64[2,2] = fused d b
    body: { lambda f:f64[2,2], g:f64[2] .
      h:f64[2,2] = add f g
      i:f64[2,2] = exp h
      return i }
  return e }"""


def test_reduction_result_is_not_used_inside_its_own_loop():
    # x - sum(x): the sum must be complete before the subtraction starts
    g = traced(lambda x: gnp.exp(x) - gnp.sum(gnp.exp(x)), np.ones(4))
    f = fuse(g).verify()
    regions = fused_nodes(f)
    assert len(regions) == 2
    first, second = regions
    assert "reduce_sum" in body_prims(first) and "reduce_sum" not in body_prims(second)
    assert second.inputs[-1] in first.outputs or set(second.inputs) & set(first.outputs)


def test_convexity_a_path_through_a_matmul_splits_regions():
    # a = exp(x); b = a @ w; c = a * b: a and c have one domain, but merging them
    # would put dot_general both after and before the region.
    g = traced(lambda x, w: gnp.exp(x) * (gnp.exp(x) @ w), np.ones((3, 3)), np.ones((3, 3)))
    f = fuse(g).verify()
    dots = [i for i, n in enumerate(f.nodes) if n.prim.name == "dot_general"]
    regions = [i for i, n in enumerate(f.nodes) if n.prim is fused_p]
    assert len(dots) == 1 and len(regions) == 2
    assert regions[0] < dots[0] < regions[1]


def _assert_convex(graph):
    """Every region of `partition` is convex in the original graph (checked with networkx)."""
    region_of, _ = partition(graph)
    dag = nx.DiGraph()
    producer = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
    for i, n in enumerate(graph.nodes):
        dag.add_node(i)
        for v in n.inputs:
            if v in producer:
                dag.add_edge(producer[v], i)
    members = {}
    for i, r in region_of.items():
        members.setdefault(r, set()).add(i)
    for nodes in members.values():
        outside = set(dag) - nodes
        after = set().union(*(nx.descendants(dag, i) for i in nodes)) & outside
        before = set().union(*(nx.ancestors(dag, i) for i in nodes)) & outside
        assert not after & before, "a path leaves a region and comes back"
    # and contracting all regions at once keeps the graph acyclic
    contracted = nx.relabel_nodes(dag, {i: ("region", r) for i, r in region_of.items()})
    contracted.remove_edges_from(nx.selfloop_edges(contracted))
    assert nx.is_directed_acyclic_graph(contracted)


def test_no_node_is_duplicated_except_views_and_constants():
    g = graphad.inspect(graphad.grad(lambda w, x: gnp.sum(gnp.tanh(x @ w) ** 2)),
                        np.ones((3, 2)), np.ones((4, 3))).optimized
    f = fuse(g).verify()

    def compute(graph):
        out = []
        for n in graph.nodes:
            if n.prim is fused_p:
                out += compute(n.attrs["body"])
            elif n.inputs and n.prim not in VIEWS:
                out.append(n.prim.name)
        return out
    before = sorted(n.prim.name for n in g.nodes if n.inputs and n.prim not in VIEWS)
    assert sorted(compute(f)) == sorted(compute(rematerialize(g)))
    assert sorted(p for p in compute(f) if p not in CHEAP) == [p for p in before if p not in CHEAP]
    _assert_convex(g)


def test_cheap_values_of_inputs_are_recomputed_not_stored():
    # y*y feeds a reduction and, after it, the gradient loop: each loop squares y
    # itself rather than one storing y*y for the other
    g = graphad.inspect(graphad.grad(lambda y: gnp.logsumexp(y ** 2)), np.ones(5)).optimized
    f = fuse(g).verify()
    first, second = fused_nodes(f)
    assert [str(v.type) for v in first.outputs] == ["f64[]"]
    assert "mul" in body_prims(second) and first.outputs[0] in second.inputs
    expensive = [n for r in fused_nodes(f) for n in r.attrs["body"].nodes if n.prim.name == "exp"]
    assert len(expensive) == 1                       # exp is never duplicated


def test_views_of_outside_values_are_index_arithmetic_inside():
    # y.T read inside the region by permuted indices; b[:, None] stays a (free) view
    g = traced(lambda x, y, b: gnp.sin(x + y.T + b[:, None]), np.ones((3, 4)), np.ones((4, 3)),
               np.ones(3))
    f = fuse(g).verify()
    (region,) = fused_nodes(f)
    assert body_prims(region) == ["transpose", "add", "add", "sin"]
    assert [n.prim.name for n in f.nodes] == ["reshape", "fused"]


def test_transpose_of_an_inside_value_materializes_it():
    g = traced(lambda x: gnp.exp(x).T * x.T, np.ones((2, 3)))
    f = fuse(g).verify()
    assert len(fused_nodes(f)) == 2       # exp(x) must exist before it is read transposed


def test_phase_meta_is_kept_on_inner_nodes():
    g = graphad.inspect(graphad.grad(lambda x: gnp.sum(gnp.sin(x))), np.ones(3)).optimized
    phases = {n.meta.get("phase", "forward") for n in g.nodes}
    f = fuse(g)
    inner = {n.meta.get("phase", "forward") for r in fused_nodes(f) for n in r.attrs["body"].nodes}
    assert inner == phases or inner <= phases and len(inner) > 0
    assert all("phase" in r.meta for r in fused_nodes(f))


def test_fused_primitive_runs_under_the_oracle():
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    g = traced(lambda x: (gnp.tanh(x) * 2, gnp.max(x * x, axis=1)), x)
    f = fuse(g)
    for a, b in zip(evaluate(f, [x]), evaluate(g, [x])):
        np.testing.assert_array_equal(a, b)


def test_fusion_is_idempotent_on_its_output():
    g = traced(lambda x: gnp.sum(gnp.exp(x) * x), np.ones(3))
    f = fuse(g)
    assert str(fuse(f)) == str(f)


@pytest.mark.skipif(graphs is None, reason="tests/random_graphs.py not present")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=graphs() if graphs else None)
def test_random_graphs_keep_their_values_and_stay_convex(case):
    graph, args = case
    fused = fuse(graph).verify()
    for a, b in zip(evaluate(fused, args), evaluate(graph, args)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=0)
    _assert_convex(graph)


@pytest.mark.skipif(adjoint_graphs is None, reason="tests/random_graphs.py not present")
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=adjoint_graphs() if adjoint_graphs else None)
def test_random_adjoint_graphs_keep_their_values(case):
    graph, args = case
    fused = fuse(graph).verify()
    for a, b in zip(evaluate(fused, args), evaluate(graph, args)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _assert_convex(graph)
