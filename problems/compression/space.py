"""Compressor's architecture space, its size and FLOPs formulas, fitness, and the oracle.

A genome is the list ``[vocab_size, attention_heads, hidden_dim, intermediate_size,
n_layers]`` (V, A, H, I, L), every value inside the space below (Compressor's
``searcher.py``). Size and FLOPs follow Compressor's ``flops.py`` (after ELECTRA's FLOPs
counter) with sequence length S = 514, float32 weights and decimal megabytes.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SEQ_LEN = 514  # RoBERTa/CodeBERT position table; the S of every formula
GENES = ("vocab_size", "attention_heads", "hidden_dim", "intermediate_size", "n_layers")
SPACE: dict[str, tuple[int, ...]] = {
    "vocab_size": tuple(range(1000, 50001, 1000)),
    "attention_heads": (1, 2, 4, 8),
    "hidden_dim": tuple(range(16, 769, 16)),
    "intermediate_size": tuple(range(32, 3041, 32)),
    "n_layers": tuple(range(1, 13)),
}
SPACE_SIZE = math.prod(len(v) for v in SPACE.values())  # 10,944,000
CODEBERT = (50265, 12, 768, 3072, 12)  # V, A, H, I, L: outside the space (V)


class InvalidGenome(ValueError):
    pass


def params(genome: Sequence[int], seq_len: int = SEQ_LEN) -> int:
    """Parameter count of a RoBERTa encoder with Compressor's classification head."""
    v, _a, h, i, n = (int(x) for x in genome)
    s = seq_len
    return v * h + s * h + 3 * h + n * (4 * h * h + 2 * h * i + 9 * h + i) + 2 * h * h + 4 * h + 2


def size_mb(genome: Sequence[int], seq_len: int = SEQ_LEN) -> float:
    return 4.0 * params(genome, seq_len) / 1e6


def flops(genome: Sequence[int], seq_len: int = SEQ_LEN) -> int:
    """Forward FLOPs of one sequence of length S (Compressor's flops.py)."""
    v, a, h, i, n = (int(x) for x in genome)
    s = seq_len
    layer = 8 * h * h + 4 * h * i + 4 * h * s + 10 * s * a + 9 * i + 20 * h + 5
    embed = 2 * h * v + 2 * h * (s + 2) + 11 * h
    head = 2 * h * h + 15 * h
    return n * s * layer + s * embed + s * head


def gflops(genome: Sequence[int], seq_len: int = SEQ_LEN) -> float:
    return flops(genome, seq_len) / 1e9


def fitness(genome: Sequence[int], target_mb: float = 3.0) -> float:
    """Compressor's fitness: GFLOPs - |size_MB - T| (higher is better)."""
    return gflops(genome) - abs(size_mb(genome) - target_mb)


# -- vectorised (numpy, float64: exact for these magnitudes) --------------------------------
def fitness_arrays(v: Any, a: Any, h: Any, i: Any, n: Any, target_mb: float = 3.0) -> Any:
    v, a, h, i, n = (np.asarray(x, dtype=np.float64) for x in (v, a, h, i, n))
    s = float(SEQ_LEN)
    p = v * h + s * h + 3 * h + n * (4 * h * h + 2 * h * i + 9 * h + i) + 2 * h * h + 4 * h + 2
    layer = 8 * h * h + 4 * h * i + 4 * h * s + 10 * s * a + 9 * i + 20 * h + 5
    f = n * s * layer + s * (2 * h * v + 2 * h * (s + 2) + 11 * h) + s * (2 * h * h + 15 * h)
    return f / 1e9 - np.abs(4.0 * p / 1e6 - target_mb)


def fitness_many(genomes: Sequence[Sequence[int]], target_mb: float = 3.0) -> np.ndarray:
    g = np.asarray(genomes, dtype=np.float64).reshape(-1, 5)
    return fitness_arrays(*g.T, target_mb=target_mb)


def brute_force(target_mb: float = 3.0) -> tuple[tuple[int, ...], float]:
    """The global optimum over all 10,944,000 configurations (exhaustive, a few seconds)."""
    vs = np.array(SPACE["vocab_size"], dtype=np.float64)[:, None, None]
    hs = np.array(SPACE["hidden_dim"], dtype=np.float64)[None, :, None]
    is_ = np.array(SPACE["intermediate_size"], dtype=np.float64)[None, None, :]
    best: tuple[float, tuple[int, ...]] = (-math.inf, ())
    for a in SPACE["attention_heads"]:
        for n in SPACE["n_layers"]:
            f = fitness_arrays(vs, a, hs, is_, n, target_mb)
            k = int(np.argmax(f))
            iv, ih, ii = np.unravel_index(k, f.shape)
            value = float(f[iv, ih, ii])
            if value > best[0]:
                genome = (
                    SPACE["vocab_size"][iv],
                    a,
                    SPACE["hidden_dim"][ih],
                    SPACE["intermediate_size"][ii],
                    n,
                )
                best = (value, genome)
    return best[1], best[0]


# -- genomes and their readable source -------------------------------------------------------
def validate(genome: Any) -> tuple[int, ...]:
    if isinstance(genome, dict):
        genome = [genome.get(k) for k in GENES]
    if not isinstance(genome, (list, tuple)) or len(genome) != len(GENES):
        raise InvalidGenome(f"a genome is [{', '.join(GENES)}], got {genome!r}")
    out = []
    for name, value in zip(GENES, genome, strict=True):
        if isinstance(value, bool) or not isinstance(value, int) or value not in SPACE[name]:
            raise InvalidGenome(f"{name}={value!r} is outside Compressor's space")
        out.append(value)
    return tuple(out)


def random_genome(rng: Any) -> tuple[int, ...]:
    return tuple(rng.choice(SPACE[name]) for name in GENES)


def render(genome: Sequence[int]) -> str:
    """The candidate's source: a readable architecture, parsed back by ``parse``."""
    g = validate(list(genome))
    lines = ["# A student architecture in Compressor's search space.", "ARCHITECTURE = {"]
    lines += [f"    {name!r}: {value}," for name, value in zip(GENES, g, strict=True)]
    lines += ["}", f"# {params(g):,} parameters, {size_mb(g):.3f} MB, {gflops(g):.3f} GFLOPs", ""]
    return "\n".join(lines)


def parse(code: str) -> tuple[int, ...]:
    """Read ARCHITECTURE back from source without executing it (a literal only)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise InvalidGenome(f"not valid Python: {exc}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ARCHITECTURE" for t in node.targets
        ):
            try:
                return validate(ast.literal_eval(node.value))
            except ValueError as exc:
                raise InvalidGenome(str(exc)) from None
    raise InvalidGenome("the source assigns no ARCHITECTURE literal")


def genome_of(candidate: Any) -> tuple[int, ...]:
    """The genome of a candidate or record: its JSON genome, else parsed from its code."""
    genome = getattr(candidate, "genome", None)
    if genome is not None:
        return validate(list(genome) if not isinstance(genome, dict) else genome)
    return parse(candidate.code)
