"""The static unbound-name check the genetic operators use to skip doomed children."""

from __future__ import annotations

import ast

from evolve.operators.names import unbound_reads


def problems(code: str) -> set[tuple[str, str]]:
    tree = ast.parse(code)
    return unbound_reads(tree, tree)


def test_reads_before_assignment_and_unknown_names_are_found():
    assert problems("def f(x):\n    y = z + x\n    z = 1\n    return y\n") == {("f", "z")}
    assert problems("def f(x):\n    return score\n") == {("f", "score")}


def test_valid_programs_have_no_problems():
    code = """
import numpy as np
LIMIT = 3

def f(x, *args, scale=2, **kw):
    total = 0
    for i in range(LIMIT):
        total += i * scale
    squares = [j * j for j in args]
    def inner():
        return later + total
    later = 1
    try:
        pass
    except ValueError as err:
        print(err)
    global COUNTER
    COUNTER = len(squares)
    return np.sum(squares) + inner() + x + len(kw)
"""
    assert problems(code) == set()


def test_a_star_import_silences_unknown_names():
    assert problems("from math import *\ndef f(x):\n    return sqrt(x)\n") == set()
    assert problems("def f(x):\n    return sqrt(x)\n") == {("f", "sqrt")}


def test_branches_and_loops_are_followed():
    branch = "def f(x):\n    if x > 0:\n        y = y + 1\n    y = 2\n    return y\n"
    assert problems(branch) == {("f", "y")}
    maybe = "def f(x):\n    if x > 0:\n        y = 1\n    return y\n"
    assert problems(maybe) == set()  # bound on one path: let the evaluator decide
    loop = (
        "def f(xs):\n    for x in xs:\n        if x:\n            print(prev)\n        prev = x\n"
    )
    assert problems(loop) == set()  # bound in an earlier iteration
    augmented = "def f(x):\n    total += x\n    return total\n"
    assert problems(augmented) == {("f", "total")}


def test_the_edits_that_skip_the_check_leave_every_name_where_it_was():
    """ast_mutate skips the unbound-name check for kinds marked keeps_names: each must
    leave the (name, load/store) sequence of the block exactly as it was."""
    import io
    import random
    import tokenize

    from evolve.operators.ast_edits import EDIT_KINDS
    from evolve.operators.astutil import make_env

    code = (
        "import math\n\ndef f(x, y):\n    a = -x * 2.0 + y / 3\n    if a < y and x >= 1:\n"
        "        a = -(a - 0.5)\n    b = math.sqrt(abs(a)) ** 2 % 7\n    return a * b - -1.5\n"
    )

    def names(tree: ast.AST) -> list[str]:  # every identifier, in source order
        source = io.StringIO(ast.unparse(tree)).readline
        return [t.string for t in tokenize.generate_tokens(source) if t.type == tokenize.NAME]

    kept = [kind for kind in EDIT_KINDS.values() if kind.keeps_names]
    assert {k.name for k in kept} == {"constant", "binop", "compare", "unary"}
    for kind in kept:
        for seed in range(40):
            tree = ast.parse(code)
            env = make_env(code, tree)
            sites = kind.sites(tree, env)
            assert sites, kind.name
            before = names(tree)
            rng = random.Random(seed)
            kind.apply(rng.choice(sites), rng, env)
            assert names(tree) == before, (kind.name, ast.unparse(tree))
