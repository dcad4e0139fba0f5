"""The ``graphad`` command line: ``graphad demo`` and ``graphad bench``."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from graphad import demo

    return demo.main(args) or 0


def _bench(args: argparse.Namespace) -> int:
    try:
        from graphad.bench import cli as bench_cli
    except ImportError:
        print("graphad bench is not available yet", file=sys.stderr)
        return 2
    return bench_cli.main(args.rest) or 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphad",
        description="graphad: a graph-compiling automatic differentiation engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="trace, differentiate, optimize and compile an example")
    demo.add_argument("--out", metavar="DIR", default="graphad-demo",
                      help="directory for the rendered graphs (default: %(default)s)")
    demo.set_defaults(func=_demo)

    # Everything after `bench` (including -h) goes to the benchmark runner.
    bench = sub.add_parser("bench", help="benchmark eager vs compiled gradients "
                           "(options are passed to the runner)", add_help=False)
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command != "bench" and rest:
        parser.error("unrecognized arguments: " + " ".join(rest))
    args.rest = rest
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
