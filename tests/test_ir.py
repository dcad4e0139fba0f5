"""The IR's invariants: the verifier, graphs as values, export to networkx."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.errors import VerificationError
from graphad.ir import Const, Graph, GraphBuilder, Node, TensorType, Var
from graphad.prims.elementwise import add_p, exp_p, mul_p
from graphad.prims.reductions import reduce_sum_p

F64_3 = TensorType((3,), np.float64)


def small_graph():
    b = GraphBuilder()
    x = b.add_input(F64_3)
    (e,) = b.add(exp_p, [x])
    (m,) = b.add(mul_p, [e, x])
    (s,) = b.add(reduce_sum_p, [m], {"axes": (0,)})
    return b.build([s])


def test_tensor_type_prints_short_and_compares_by_value():
    assert str(TensorType((3, 4), np.float32)) == "f32[3,4]"
    assert str(TensorType((), np.float64)) == "f64[]"
    assert TensorType((2,), "float64") == TensorType([2], np.float64)
    assert len({TensorType((2,), np.float64), TensorType((2,), np.float64)}) == 1


def test_verifier_accepts_a_well_formed_graph():
    small_graph().verify()


def test_verifier_rejects_use_before_definition():
    g = small_graph()
    broken = Graph(g.inputs, (g.nodes[1], g.nodes[0], g.nodes[2]), g.outputs)
    with pytest.raises(VerificationError, match="before it is defined"):
        broken.verify()


def test_verifier_rejects_types_that_disagree_with_the_shape_rule():
    x = Var(F64_3)
    bad = Var(TensorType((4,), np.float64))
    g = Graph([x], [Node(exp_p, [x], [bad])], [bad])
    with pytest.raises(VerificationError, match="shape rule says"):
        g.verify()


def test_verifier_rejects_redefinition_and_undefined_outputs():
    x = Var(F64_3)
    y = Var(F64_3)
    with pytest.raises(VerificationError, match="not SSA"):
        Graph([x], [Node(exp_p, [x], [x])], [x]).verify()
    with pytest.raises(VerificationError, match="never defined"):
        Graph([x], [], [y]).verify()


def test_verifier_rejects_a_shape_rule_failure():
    x, y = Var(F64_3), Var(TensorType((4,), np.float64))
    out = Var(F64_3)
    with pytest.raises(VerificationError, match="shape rule failed"):
        Graph([x, y], [Node(add_p, [x, y], [out])], [out]).verify()


def test_graph_printing_is_stable_and_typed():
    g = small_graph()
    assert str(g) == str(g)
    text = str(g)
    assert "a:f64[3]" in text and "reduce_sum" in text and "axes=(0,)" in text
    assert text.strip().endswith("}")


def test_to_networkx_has_a_node_per_equation_and_typed_edges():
    nxg = small_graph().to_networkx()
    ops = sorted(d["op"] for _, d in nxg.nodes(data=True))
    assert ops == ["exp", "input", "mul", "output", "reduce_sum"]
    assert nxg.number_of_edges() == 5      # x->exp, x->mul, exp->mul, mul->sum, sum->output
    assert {d["type"] for _, _, d in nxg.edges(data=True)} == {"f64[3]", "f64[]"}
    import networkx as nx
    assert nx.is_directed_acyclic_graph(nxg)


def test_adjoint_nodes_are_marked_for_rendering():
    stages = graphad.inspect(graphad.grad(lambda x: gnp.sum(gnp.exp(x) * x)), np.ones(3))
    phases = {n.meta.get("phase", "forward") for n in stages.adjoint.nodes}
    assert phases == {"forward", "adjoint"}
    assert all("phase" not in n.meta for n in stages.traced.nodes)


def test_const_compares_by_value_including_nan():
    assert Const(np.array([1.0, np.nan])) == Const(np.array([1.0, np.nan]))
    assert hash(Const(2.0)) == hash(Const(np.float64(2.0)))
    assert Const(np.float32(2.0)) != Const(2.0)
    with pytest.raises(ValueError):
        Const(np.ones(2)).value[0] = 3.0
