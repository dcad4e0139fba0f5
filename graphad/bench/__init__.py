"""Benchmarks: the bundled workloads and the compiled-vs-eager harness."""
