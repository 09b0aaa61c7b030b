"""bench/bench_return_terms.py at a small size: its arms run, and on the one-line WSPT rule
genetic search improves only when the return is a site for insert_term."""

from __future__ import annotations

from pathlib import Path

from bench import bench_return_terms as bench


def test_the_bench_arms_at_a_small_size(tmp_path: Path) -> None:
    grows = bench.one(str(bench.PROBLEM), 1, 40, f"sqlite:///{tmp_path / 'a.db'}")
    frozen = bench.one(f"{bench.PROBLEM}#no_insert_term", 1, 40, f"sqlite:///{tmp_path / 'b.db'}")
    assert grows["best"] > grows["initial"] and grows["reads_d_or_t"]
    assert frozen["best"] == frozen["initial"] and not frozen["reads_d_or_t"]
    references = dict((name, train) for name, train, _ in bench.references())
    assert (
        references["ATC, k = 2 (p mean 10.5)"] > references["EDD (`return -d`)"] > grows["initial"]
    )
