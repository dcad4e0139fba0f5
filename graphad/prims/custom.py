"""custom_vjp_call: a user function whose reverse-mode rule the user wrote.

The node carries two closed graphs traced from the user's code (see graphad/custom.py):
  fwd: (args...) -> (outs..., residuals...)
  bwd: (residuals..., output cotangents...) -> one cotangent per arg
Its outputs are all of fwd's: the residuals are outputs too, so the vjp rule
reads them instead of recomputing them. It has no forward-mode rule, so forward
mode through it is an error naming the function. Once reverse mode has used
the rule, passes/inline_custom.py replaces the node by fwd's own nodes, so
backends never see it and forward mode over a gradient (hessian) works.
"""
from __future__ import annotations

from ..errors import GraphadError, TypeMismatchError
from .core import Primitive


def call_graph(graph, args):
    """Apply a closed graph to values: records into the active trace, or evaluates."""
    env = dict(zip(graph.inputs, args))
    for node in graph.nodes:
        out = node.prim.bind(*[env[v] for v in node.inputs], **node.attrs)
        env.update(zip(node.outputs, out if node.prim.multiple_results else (out,)))
    return [env[v] for v in graph.outputs]


def _infer(*types, fwd, bwd, num_out, name):
    if tuple(types) != fwd.in_types:
        raise TypeMismatchError(f"custom_vjp function {name!r} was traced for argument types "
                                f"{fwd.in_types}, got {tuple(types)}")
    return fwd.out_types


def _impl(*args, fwd, bwd, num_out, name):
    return tuple(call_graph(fwd, args))


def _vjp(g, *args, out, fwd, bwd, num_out, name):
    cts = call_graph(bwd, list(out[num_out:]) + list(g[:num_out]))
    return tuple(ct if v.type.is_float else None for ct, v in zip(cts, fwd.inputs))


def _jvp(t, *args, out, fwd, bwd, num_out, name):
    raise GraphadError(
        f"forward-mode differentiation (jvp, jacfwd) of the custom_vjp function {name!r} is not "
        "defined: it has a custom vjp but no jvp rule. Use reverse mode (grad, vjp, jacrev); "
        "hessian works too (forward mode then differentiates the gradient, i.e. your bwd)")


custom_vjp_call_p = Primitive("custom_vjp_call", infer=_infer, impl=_impl, vjp=_vjp, jvp=_jvp,
                              kind="control", multiple_results=True)

PRIMITIVES = (custom_vjp_call_p,)
