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
