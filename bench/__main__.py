"""`make bench`: run every benchmark and print its table (each also lands in bench/results/)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "bench.bench_sandbox",
    "bench.bench_controller",
    "bench.bench_operators",
    "bench.bench_resume",
    "bench.bench_binpack",
    "bench.bench_ray",
    "bench.bench_adrs",
    "bench.bench_llm",
    "bench.bench_novelty",
    "bench.bench_vector_ga",
    "bench.bench_tree_gp",
    "bench.bench_return_terms",
    "bench.bench_circle_packing",
]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        module = importlib.import_module(name if name.startswith("bench.") else f"bench.{name}")
        print(module.main(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
