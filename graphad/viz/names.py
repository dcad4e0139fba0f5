"""The user's names for graph inputs and outputs: `params['W1']`, `x`, `grad params[0]`."""
from __future__ import annotations

import inspect


def leaf_paths(tree, prefix: str) -> list[str]:
    """One name per leaf of a TreeDef: prefix[0], prefix['W1'], prefix.field."""
    if tree.kind == "leaf":
        return [prefix]
    if tree.kind == "none":
        return []
    if tree.kind == "dict":
        parts = [f"[{k!r}]" for k in tree.aux]
    elif tree.kind == "namedtuple":
        parts = [f".{f}" for f in tree.aux._fields]
    else:
        parts = [f"[{i}]" for i in range(len(tree.children))]
    return [path for part, child in zip(parts, tree.children)
            for path in leaf_paths(child, prefix + part)]


def argument_names(fun, count: int) -> list[str]:
    """Names of the first `count` positional parameters of `fun` (arg0... if unknown)."""
    names = []
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            names += [f"{p.name}[{i}]" for i in range(count - len(names))]
    return (names + [f"arg{i}" for i in range(len(names), count)])[:count]


def input_names(fun, traced) -> list[str]:
    """One name per input of the traced graph (argument leaves, then captured values)."""
    arg_names = argument_names(fun, max(traced.arg_ranges, default=-1) + 1)
    names = []
    for i in sorted(traced.arg_ranges):
        names += leaf_paths(traced.arg_trees[i], arg_names[i])
    names += [f"captured {k}" for k in range(len(traced.graph.inputs) - len(names))]
    return names


def output_names(out_tree, graph, inputs=None, wrt=None) -> list[str]:
    """Names of a stage's outputs. Derivatives are named after their inputs when
    they line up: `grad x` when typed like x, `d/d x` otherwise (Jacobians)."""
    n = len(graph.outputs)
    if wrt is not None and inputs is not None and n - len(wrt) in (0, 1):
        first = n - len(wrt)
        names = ["value"] * first
        for out, i in zip(graph.outputs[first:], wrt):
            like = out.type == graph.inputs[i].type
            names.append(f"{'grad' if like else 'd/d'} {inputs[i]}")
        return names
    names = leaf_paths(out_tree, "out") if out_tree is not None else []
    return names if len(names) == n else [f"output {i}" for i in range(n)]
