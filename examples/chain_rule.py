"""The four-variable chain rule example: all four partial derivatives in one pass.

    a = (w + x + y + z)**2      b = (w + x - y - z)**2
    u = (a + b)**2              v = (a - b)**2
    f = (u + v)**2

At (w, x, y, z) = (-1, 0, -2, 1): f = 1024 and every partial is -4096.
Reverse mode computes all four with one backward sweep; the rendered stages
show the forward graph and the adjoint graph it adds.
"""
import numpy as np

import graphad
from graphad.bench.workloads import chain_grad

from _common import Timer, check, parse_args, render_stages

POINT = (-1.0, 0.0, -2.0, 1.0)


def f(w, x, y, z):
    a = (w + x + y + z) ** 2
    b = (w + x - y - z) ** 2
    u = (a + b) ** 2
    v = (a - b) ** 2
    return (u + v) ** 2


def main():
    args = parse_args("chain_rule", __doc__, iters=1000)
    value_and_grad = graphad.compile(graphad.value_and_grad(f, argnums=(0, 1, 2, 3)))
    value, partials = value_and_grad(*POINT)
    with Timer() as timer:
        for _ in range(args.iters):
            value_and_grad(*POINT)
    print(f"f{POINT} = {float(value)}")
    for name, d in zip("wxyz", partials):
        print(f"  df/d{name} = {float(d)}")
    print(f"{args.iters} evaluations of the value and gradient: "
          f"{timer.seconds / max(args.iters, 1) * 1e6:.1f} us each")
    check(float(value) == 1024.0, "f = 1024")
    check([float(d) for d in partials] == [-4096.0] * 4, "all four partials are -4096")
    hand = chain_grad(POINT)
    check(np.allclose(partials, hand, rtol=0, atol=0), "partials equal the hand-written chain rule")
    render_stages(graphad.grad(f, argnums=(0, 1, 2, 3)), POINT, args.out, args.no_render)


if __name__ == "__main__":
    main()
