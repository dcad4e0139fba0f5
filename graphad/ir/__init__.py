"""The graph IR: types, variables, nodes, graphs, builder, printer, verifier."""
from .builder import GraphBuilder
from .graph import Const, Graph, Node, Var
from .types import TensorType

__all__ = ["Const", "Graph", "GraphBuilder", "Node", "TensorType", "Var"]
