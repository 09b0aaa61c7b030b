"""Genetic AST mutation, EVOLVE-BLOCK splitting and de-duplication hashes."""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from db.records import EVALUATED, ProgramRecord
from evaluators.contract import Candidate
from evolve.operators import (
    DEFAULT_WEIGHTS,
    AstCrossover,
    AstMutation,
    BlockError,
    Context,
    ProposalRejected,
    ast_hash,
    code_hash,
    make_operator,
    split_block,
)

BINPACK = '''import numpy as np

# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Best fit: prefer the bin that leaves the least space."""
    remaining = bins - item
    score = -remaining
    return score
# EVOLVE-BLOCK-END
'''

# Has a site for every edit kind: constants, arithmetic, comparisons, calls, statements.
RICH = '''"""A module docstring."""
import numpy as np

# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray, strict: bool = True) -> np.ndarray:
    """Prefer tight fits, penalise bins that are nearly empty."""
    remaining = bins - item
    fits = remaining >= 0
    score = -np.log(remaining + 1.5) * 2
    if item > 0.5:
        score = np.maximum(score, 0.1)
    score = np.where(fits, score, -1e9)
    return score
# EVOLVE-BLOCK-END


def main():
    return priority(0.2, np.ones(3))
'''

BINS = np.array([0.1, 0.25, 0.3, 0.5, 0.75, 1.0, 1.7])


def record(code: str, id: int = 1) -> ProgramRecord:
    return ProgramRecord(
        id=id, campaign_id=1, code=code, genome=None, code_hash=code_hash(code),
        ast_hash=ast_hash(code), generation=0, island=0, operator="seed", status=EVALUATED,
        created_at=datetime.now(UTC), score=1.0,
    )  # fmt: skip


def mutations(code: str, n: int, **kwargs):
    op = AstMutation(**kwargs)
    return [op.mutate(code, random.Random(seed)) for seed in range(n)]


def run_priority(code: str, item: float = 0.3) -> np.ndarray:
    namespace: dict = {}
    exec(compile(code, "<child>", "exec"), namespace)  # our own generated test programs
    return np.asarray(namespace["priority"](item, BINS.copy()), dtype=float)


# -- blocks ---------------------------------------------------------------------------------


def test_split_and_join_are_byte_identical():
    blocks = split_block(RICH)
    assert blocks.marked
    assert blocks.prefix.endswith("# EVOLVE-BLOCK-START\n")
    assert blocks.suffix.startswith("# EVOLVE-BLOCK-END\n")
    assert blocks.block.startswith("def priority(") and blocks.block.endswith("return score\n")
    assert blocks.join() == RICH
    assert blocks.join("x = 1\n") == blocks.prefix + "x = 1\n" + blocks.suffix


def test_without_markers_the_whole_file_is_the_block():
    code = "def f(x):\n    return x + 1\n"
    blocks = split_block(code)
    assert (blocks.prefix, blocks.block, blocks.suffix, blocks.marked) == ("", code, "", False)


@pytest.mark.parametrize(
    ("code", "pattern"),
    [
        ("x = 1\n# EVOLVE-BLOCK-END\n", r"EVOLVE-BLOCK-END on line 2 has no # EVOLVE-BLOCK-START"),
        ("# EVOLVE-BLOCK-START\nx = 1\n", r"EVOLVE-BLOCK-START on line 1 is never closed"),
        (
            "# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n",
            r"nested # EVOLVE-BLOCK-START on line 2.*opened on line 1",
        ),
        (
            "# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n",
            r"second # EVOLVE-BLOCK-START on line 3.*exactly one",
        ),
    ],
)
def test_marker_errors_are_clear(code, pattern):
    with pytest.raises(BlockError, match=pattern):
        split_block(code)
    with pytest.raises(ProposalRejected) as info:
        AstMutation().mutate(code, random.Random(0))
    assert info.value.reason == "no_block"


# -- hashes ---------------------------------------------------------------------------------


def test_formatting_comment_and_docstring_changes_hash_equal():
    variant = (
        BINPACK.replace("remaining = bins - item", "remaining = bins-item   # spare room")
        .replace('    """Best fit: prefer the bin that leaves the least space."""\n', "")
        .replace("import numpy as np\n", "import numpy as np\n\n\n# a comment\n")
    )
    assert variant != BINPACK
    assert code_hash(variant) != code_hash(BINPACK)
    assert ast_hash(variant) == ast_hash(BINPACK)
    changed = BINPACK.replace("score = -remaining", "score = remaining")
    assert ast_hash(changed) != ast_hash(BINPACK)
    assert ast_hash("x = 1") != ast_hash("x = 1.0")
    assert code_hash(BINPACK) == code_hash(str(BINPACK))
    assert len(code_hash("")) == len(ast_hash("def (")) == 64  # unparseable code still hashes


# -- mutation -------------------------------------------------------------------------------


def test_every_edit_kind_occurs_and_only_the_block_changes():
    prefix, suffix = split_block(RICH).prefix, split_block(RICH).suffix
    kinds = Counter()
    parent = ast_hash(RICH)
    for mutation in mutations(RICH, 400):
        kinds[mutation.kind] += 1
        child = mutation.code
        compile(child, "<child>", "exec")  # parses and compiles
        assert ast_hash(child) != parent
        assert child.startswith(prefix) and child.endswith(suffix)
        assert split_block(child).prefix == prefix and split_block(child).suffix == suffix
    assert set(kinds) == set(DEFAULT_WEIGHTS), kinds
    assert all(count >= 5 for count in kinds.values()), kinds


@pytest.mark.parametrize("kind", sorted(DEFAULT_WEIGHTS))
def test_each_kind_alone_changes_the_program(kind):
    only = {k: (1.0 if k == kind else 0.0) for k in DEFAULT_WEIGHTS}
    children = mutations(RICH, 30, weights=only)
    assert {m.kind for m in children} == {kind}
    assert len({ast_hash(m.code) for m in children}) >= 2
    for m in children:
        compile(m.code, "<child>", "exec")


def test_specific_edits_look_right():
    def edits(kind, n=100):
        return mutations(RICH, n, **{k: float(k == kind) for k in DEFAULT_WEIGHTS})

    calls = [m.code for m in edits("call", 200)]
    for name in ("log1p", "sqrt", "exp", "tanh"):
        assert any(f"np.{name}(remaining + 1.5)" in code for code in calls), name
    assert any("np.minimum(score, 0.1)" in code for code in calls)
    assert any("remaining < 0" in m.code or "remaining > 0" in m.code for m in edits("compare"))
    assert any("bins + item" in m.code for m in edits("binop"))
    assert any("-np.log(" not in m.code for m in edits("unary"))  # a unary minus removed
    for m in edits("delete_stmt"):
        assert "return score" in m.code  # returns and definitions are never deleted


def test_constants_keep_their_type_and_rarely_flip_sign():
    code = "def f(x, flag=True):\n    n = 3\n    return x * 2.5 if flag else n\n"
    seen_int = seen_float = flips = 0
    for m in mutations(code, 200, **{k: float(k == "constant") for k in DEFAULT_WEIGHTS}):
        tree = ast.parse(m.code)
        assert "flag=True" in m.code  # bool constants are never touched
        n_value = ast.literal_eval(tree.body[0].body[0].value)
        factor = ast.literal_eval(tree.body[0].body[1].value.body.right)
        assert type(n_value) is int and type(factor) is float
        seen_int += n_value != 3
        seen_float += factor != 2.5
        flips += n_value < 0 or factor < 0
    assert seen_int > 50 and seen_float > 50
    assert flips < 0.15 * 200


def test_determinism_by_seed():
    op = AstMutation()
    first = [op.mutate(RICH, random.Random(seed)).code for seed in range(30)]
    again = [op.mutate(RICH, random.Random(seed)).code for seed in range(30)]
    assert first == again
    assert len(set(first)) > 15
    crossover = AstCrossover()
    other = mutations(RICH, 1, insert_term=1.0, constant=0, call=0)[0].code
    assert crossover.cross(RICH, other, random.Random(5)) == crossover.cross(
        RICH, other, random.Random(5)
    )


def test_nothing_to_change_is_a_no_op():
    for code in (
        "import numpy as np\n# EVOLVE-BLOCK-START\npass\n# EVOLVE-BLOCK-END\nx = 1\n",
        "# EVOLVE-BLOCK-START\ndef f(x):\n    '''doc'''\n    pass\n# EVOLVE-BLOCK-END\n",
    ):
        with pytest.raises(ProposalRejected) as info:
            AstMutation().propose([record(code)], Context(problem=None), random.Random(0))
        assert info.value.reason == "no_op"


def test_a_parent_that_does_not_parse_is_rejected():
    with pytest.raises(ProposalRejected) as info:
        AstMutation().mutate(
            "# EVOLVE-BLOCK-START\ndef f(:\n# EVOLVE-BLOCK-END\n", random.Random(0)
        )
    assert info.value.reason == "syntax_error"


def test_an_indented_block_keeps_its_class():
    code = (
        "class H:\n    # EVOLVE-BLOCK-START\n    def f(self, x):\n        y = x * 2\n"
        "        return y\n    # EVOLVE-BLOCK-END\n\n    def g(self):\n        return 1\n"
    )
    blocks = split_block(code)
    for m in mutations(code, 40):
        compile(m.code, "<child>", "exec")
        assert m.code.startswith(blocks.prefix) and m.code.endswith(blocks.suffix)
        assert "self)" not in split_block(m.code).block  # `self` is no numeric name


def test_candidate_code_is_never_run(tmp_path):
    sentinel = tmp_path / "ran"
    code = (
        f"# EVOLVE-BLOCK-START\nopen({str(sentinel)!r}, 'w').write('x')\ny = 2 * 3\n"
        "# EVOLVE-BLOCK-END\n"
    )
    for m in mutations(code, 30):
        assert "open(" in m.code or m.kind == "delete_stmt"
    assert not sentinel.exists()


def test_propose_follows_the_operator_contract():
    op = make_operator("ast_mutate", insert_term=0.5, max_tries=5)
    assert (op.name, op.arity) == ("ast_mutate", 1)
    assert op.weights["insert_term"] == 0.5 and op.max_tries == 5
    child = op.propose([record(BINPACK)], Context(problem=None), random.Random(1))
    assert isinstance(child, Candidate) and child.code != BINPACK
    assert isinstance(make_operator("ast_crossover"), AstCrossover)
    with pytest.raises(ValueError, match="known operators: ast_crossover, ast_mutate"):
        make_operator("llm_diff")
    with pytest.raises(ValueError, match="unknown ast_mutate edit kind or setting 'rewrite'"):
        AstMutation(rewrite=1.0)


# -- behaviour on the bin-packing seed --------------------------------------------------


def test_mutations_of_the_binpacking_seed_behave_differently():
    parent = run_priority(BINPACK)
    different = errors = 0
    children = mutations(BINPACK, 200)
    for m in children:
        try:
            with np.errstate(all="ignore"):
                out = run_priority(m.code)
        except Exception:
            errors += 1
            continue
        if out.shape != parent.shape or not np.allclose(out, parent, equal_nan=True):
            different += 1
    assert different >= 0.6 * len(children), (different, errors)
    assert errors <= 0.1 * len(children), (different, errors)


def test_insert_term_grows_the_heuristic():
    children = mutations(BINPACK, 200, **{k: float(k == "insert_term") for k in DEFAULT_WEIGHTS})
    term = re.compile(
        r"^    (remaining|score) = \1 ([-+]) (?:\d+\.\d+|\d+(?:\.\d+)?e-\d+) \* "
        r"(?:np\.(?:abs|sqrt|square|log1p|tanh)\((item|bins|remaining|score)\)"
        r"|(item|bins|remaining|score))$"
        r"|^    (remaining|score) = \5 \* \(1 \+ .+\)$"
    )
    inserted = []
    for m in children:
        new = [line for line in m.code.splitlines() if line not in BINPACK.splitlines()]
        assert len(new) == 1 and term.match(new[0]), new
        inserted.append(new[0].strip())
    assert any(
        re.fullmatch(r"score = score \+ [\d.]+ \* np\.sqrt\(remaining\)", s) for s in inserted
    )
    assert len(set(inserted)) > 100
    with np.errstate(all="ignore"):
        outputs = {tuple(np.round(run_priority(m.code), 9)) for m in children}
    assert len(outputs) > 100


ONE_LINE_RULE = """# EVOLVE-BLOCK-START
def priority(p, w, d, t):
    return w / p
# EVOLVE-BLOCK-END
"""


def test_insert_term_brings_an_unread_input_into_a_one_line_rule():
    # No assignment to grow: the return grows, and the inputs it never read come in.
    children = mutations(
        ONE_LINE_RULE, 100, **{k: float(k == "insert_term") for k in DEFAULT_WEIGHTS}
    )
    returns = [m.code.splitlines()[2].strip() for m in children]
    assert all(r.startswith("return w / p ") for r in returns), returns[:5]
    read = {name for r in returns for name in ("d", "t") if re.search(rf"\b{name}\b", r)}
    assert read == {"d", "t"}
    namespace: dict = {}
    exec(compile(children[0].code, "<child>", "exec"), namespace)  # our own generated child
    assert isinstance(namespace["priority"](2.0, 3.0, 5.0, 1.0), float)


def test_a_function_that_assigns_keeps_its_return_as_it_is():
    children = mutations(BINPACK, 50, **{k: float(k == "insert_term") for k in DEFAULT_WEIGHTS})
    assert all("    return score" in m.code.splitlines() for m in children)


def test_edits_that_leave_a_name_unbound_are_retried():
    only_delete = {k: float(k == "delete_stmt") for k in DEFAULT_WEIGHTS}
    # Deleting either assignment of the seed leaves `remaining` or `score` unbound.
    with pytest.raises(ProposalRejected) as info:
        AstMutation(weights=only_delete).mutate(BINPACK, random.Random(0))
    assert info.value.reason == "unbound_name"
    unchecked = mutations(BINPACK, 20, weights=only_delete, check_names=False)
    assert {m.detail for m in unchecked} == {
        "deleted `remaining = bins - item`",
        "deleted `score = -remaining`",
    }
    swaps = mutations(RICH, 50, **{k: float(k == "swap_stmts") for k in DEFAULT_WEIGHTS})
    for m in swaps:  # only swaps that keep every read after its assignment
        with np.errstate(all="ignore"):
            run_priority(m.code)


def test_determinism_does_not_depend_on_string_hashing():
    """Set iteration order changes with PYTHONHASHSEED; the operators must not use it."""
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, random\n"
        "from evolve.operators import AstMutation\n"
        f"code = {RICH!r}\n"
        "out = [AstMutation().mutate(code, random.Random(s)).code for s in range(60)]\n"
        "print(hashlib.sha256(''.join(out).encode()).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1
