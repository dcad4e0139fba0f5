"""Fast-math identities that are wrong for some IEEE inputs: the UNSAFE table.

Off by default. Each rule is exact for finite (or positive) operands and wrong
otherwise: x*0 is nan for x = inf, x-x is nan for x = inf, x/x is nan at 0,
exp(log x) is nan for x < 0. ALGEBRA applies the first and last when it can
prove the operand finite / non-negative. Opt in with
`graphad.compile(f, passes=graphad.passes.DEFAULT_PASSES + ("unsafe",))`.
"""
from __future__ import annotations

from .rules import P, Rules, V, rewrite, rule
from .simplify import ones, zero, zeros

x = V("x")

UNSAFE = Rules("unsafe", [
    rule("mul-zero-any", P.mul(x, zero), zeros),          # x*0 -> 0 (nan for x = inf, nan)
    rule("sub-self-any", P.sub(x, x), zeros),             # x-x -> 0 (nan for x = inf, nan)
    rule("div-self", P.div(x, x), ones),                  # x/x -> 1 (nan at 0, inf, nan)
    rule("exp-log-any", P.exp(P.log(x)), x),              # exp(log x) -> x (nan for x < 0)
])


def unsafe(graph, hits=None):
    """Apply the UNSAFE rules: only when the inputs are known to be finite."""
    return rewrite(graph, UNSAFE, hits)
