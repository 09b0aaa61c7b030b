"""Crossover of top-level functions (and statements inside them) between two parents."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from evolve.operators import AstCrossover, ProposalRejected, ast_hash, split_block

PREFIX = "import numpy as np\n\nEPS = 1e-9\n\n# EVOLVE-BLOCK-START\n"
SUFFIX = "# EVOLVE-BLOCK-END\n\n\ndef run(bins):\n    return priority(0.5, bins)\n"

A = (
    PREFIX
    + '''def helper(x):
    return x + 1.0


def priority(item, bins):
    """A's priority."""
    remaining = bins - item
    score = -remaining
    return helper(score)
'''
    + SUFFIX
)

B_BLOCK = """def helper(x):
    return np.sqrt(np.abs(x)) * 2.0


def priority(item, bins):
    remaining = bins - item
    score = remaining ** 2
    score = score - 0.1 * bins
    return helper(score)


def unused_in_a(x):
    return x
"""
B = PREFIX.replace("EPS = 1e-9", "EPS = 1e-6") + B_BLOCK + SUFFIX


def crosses(a: str, b: str, n: int, **kwargs):
    op = AstCrossover(**kwargs)
    out = []
    for seed in range(n):
        try:
            out.append(op.cross(a, b, random.Random(seed)))
        except ProposalRejected as exc:
            out.append(exc.reason)
    return out


def test_crossover_takes_functions_from_b_and_keeps_a_outside_the_block():
    children = crosses(A, B, 60)
    made = [c for c in children if not isinstance(c, str)]
    assert len(made) >= 50
    kinds = Counter(c.kind for c in made)
    assert set(kinds) == {"functions", "statements", "assignment"}, kinds
    a_blocks = split_block(A)
    b_helper = "return np.sqrt(np.abs(x)) * 2.0"
    took_helper = took_priority = 0
    for child in made:
        code = child.code
        compile(code, "<child>", "exec")
        assert code.startswith(a_blocks.prefix) and code.endswith(a_blocks.suffix)
        assert "EPS = 1e-9" in code and "unused_in_a" not in code
        assert ast_hash(code) not in {ast_hash(A), ast_hash(B)}
        if child.kind == "functions":
            took_helper += b_helper in code
            took_priority += "score = remaining ** 2" in code
    assert took_helper and took_priority
    # "functions" takes whole definitions: a child may have B's helper with A's priority.
    assert any(
        c.kind == "functions" and b_helper in c.code and "score = -remaining" in c.code
        for c in made
    )


def test_single_function_parents_fall_back_to_statement_crossover():
    seed = "# EVOLVE-BLOCK-START\ndef f(x):\n    y = x + 1\n    z = y * 2\n    return z\n"
    other = "# EVOLVE-BLOCK-START\ndef f(x):\n    y = x - 3\n    z = y ** 2\n    return z + y\n"
    seed += "# EVOLVE-BLOCK-END\n"
    other += "# EVOLVE-BLOCK-END\n"
    made = [c for c in crosses(seed, other, 40) if not isinstance(c, str)]
    assert len(made) >= 30
    assert {c.kind for c in made} == {"statements", "assignment"}
    codes = {c.code for c in made}
    assert any("y = x + 1" in c and "z = y ** 2" in c for c in codes)  # a one-point child
    for c in made:
        namespace: dict = {}
        exec(compile(c.code, "<child>", "exec"), namespace)  # our own test programs
        assert isinstance(namespace["f"](2.0), float)


@pytest.mark.parametrize(
    "b",
    [
        A,  # the same program
        A.replace('"""A\'s priority."""', '"""Another docstring."""'),  # docstring only
        PREFIX + "def other(x):\n    return x\n" + SUFFIX,  # no shared name
    ],
)
def test_nothing_to_exchange_is_a_no_op(b):
    with pytest.raises(ProposalRejected) as info:
        AstCrossover().cross(A, b, random.Random(0))
    assert info.value.reason == "no_op"


def test_imports_that_b_functions_need_come_along():
    a = "import math\n\ndef f(x):\n    return math.sqrt(x)\n\ndef g(x):\n    return x\n"
    b = "import statistics as st\n\ndef f(x):\n    return st.mean([x, 1])\n"
    b += "\ndef g(x):\n    return x\n"
    child = AstCrossover(weights={"statements": 0, "assignment": 0}).cross(a, b, random.Random(0))
    assert child.kind == "functions"
    assert "import statistics as st" in child.code and "import math" in child.code
    compile(child.code, "<child>", "exec")


def test_crossover_is_deterministic_and_needs_two_parents():
    op = AstCrossover()
    first = [op.cross(A, B, random.Random(seed)) for seed in range(10)]
    assert first == [op.cross(A, B, random.Random(seed)) for seed in range(10)]
    assert (op.name, op.arity) == ("ast_crossover", 2)
    with pytest.raises(ValueError, match="two parents"):
        op.propose([], None, random.Random(0))
    with pytest.raises(ValueError, match="unknown ast_crossover strategy"):
        AstCrossover(weights={"subtree": 1.0})
