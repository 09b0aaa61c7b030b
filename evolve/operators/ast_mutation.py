"""AST-level mutation of a program's EVOLVE-BLOCK (the genetic, no-LLM edit).

One proposal applies one randomly chosen edit (see ``ast_edits.EDIT_KINDS``) inside the
block, unparses the block and puts it back between the untouched prefix and suffix. A child
whose normalised AST equals the parent's, that does not compile, or that reads a name the
edit left unbound is retried up to ``max_tries`` times, then rejected as "no_op",
"syntax_error" or "unbound_name" (the most common failure). The candidate is only parsed
and compiled here, never run.
"""

from __future__ import annotations

import ast
import random
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from db.records import ProgramRecord
from evaluators.contract import Candidate
from evolve.operators.ast_edits import EDIT_KINDS
from evolve.operators.astutil import make_env
from evolve.operators.base import Context, ProposalRejected
from evolve.operators.blocks import BlockError, Blocks, dedent_block, render_block, split_block
from evolve.operators.hashing import ast_hash
from evolve.operators.names import unbound_reads

# Relative weights of the edit kinds (normalised over the kinds that have a site), from
# each kind's own default (ast_edits.EDIT_KINDS, where a new kind is declared once).
DEFAULT_WEIGHTS: dict[str, float] = {name: kind.default_weight for name, kind in EDIT_KINDS.items()}


@dataclass(frozen=True)
class Mutation:
    """One successful edit: the child program, the edit kind and what it did."""

    code: str
    kind: str
    detail: str


@dataclass(frozen=True)
class ParsedBlock:
    """A program split on its markers, with the block parsed (indentation removed)."""

    blocks: Blocks
    tree: ast.Module
    compiles: bool  # whether the whole parent compiles: then children must too
    text: str  # the block's source as parsed

    def fresh_tree(self) -> ast.Module:
        """A new copy of ``tree`` to edit: parsing the text again is some 20x faster than
        copy.deepcopy of the tree, and gives an equal tree."""
        return ast.parse(self.text)


def parse_program(code: str) -> ParsedBlock:
    """Split and parse; raise ProposalRejected("no_block" | "syntax_error") otherwise."""
    try:
        blocks = split_block(code)
    except BlockError as exc:
        raise ProposalRejected("no_block", str(exc)) from exc
    _, text = dedent_block(blocks.block)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ProposalRejected("syntax_error", f"the parent's block does not parse: {exc}") from exc
    return ParsedBlock(blocks, tree, compiles(code), text)


def compiles(code: str) -> bool:
    try:
        compile(code, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, OverflowError):
        return False
    return True


def render_child(parsed: ParsedBlock, tree: ast.Module) -> str | None:
    """The child program for an edited block tree, or None if it does not compile."""
    try:
        source = ast.unparse(ast.fix_missing_locations(tree))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None
    block = render_block(parsed.blocks.block, source)
    child = parsed.blocks.join(block)
    ok = compiles(child) if parsed.compiles else compiles(dedent_block(block)[1])
    return child if ok else None


def unbound(parsed: ParsedBlock, tree: ast.Module, code: str) -> set[tuple[str, str]]:
    """Names the block's functions read but cannot bind (see names.unbound_reads)."""
    return unbound_reads(tree, ast.parse(code) if parsed.compiles else None)


_PARENT_UNBOUND: OrderedDict[str, frozenset[tuple[str, str]]] = OrderedDict()
_PARENT_UNBOUND_LOCK = threading.Lock()


def parent_unbound_names(parsed: ParsedBlock, code: str) -> frozenset[tuple[str, str]]:
    """``unbound`` of a parent's own block, remembered for the last 256 parents: an elite
    is a parent again and again, and the check is a good part of an edit's cost."""
    with _PARENT_UNBOUND_LOCK:
        known = _PARENT_UNBOUND.get(code)
        if known is not None:
            _PARENT_UNBOUND.move_to_end(code)
            return known
    known = frozenset(unbound(parsed, parsed.tree, code))
    with _PARENT_UNBOUND_LOCK:
        _PARENT_UNBOUND[code] = known
        if len(_PARENT_UNBOUND) > 256:
            _PARENT_UNBOUND.popitem(last=False)
    return known


def failure_reason(failures: Counter) -> str:
    """The most common failure of the tries ("no_op" on a tie)."""
    reason, count = max(failures.items(), key=lambda item: item[1], default=("no_op", 0))
    return "no_op" if count == failures["no_op"] else reason


class AstMutation:
    """Mutate one parent by a random AST edit of its EVOLVE-BLOCK.

    Keyword arguments: ``weights`` (a mapping over the edit kinds) or the kinds themselves
    (``insert_term=0.5``) override DEFAULT_WEIGHTS, and 0 disables a kind; ``max_tries``
    bounds the retries; ``sigma``, ``jitter`` and ``sign_flip`` tune constant edits;
    ``check_names`` rejects children that read a name the edit left unbound (a deleted or
    moved assignment), which would only fail at evaluation.
    """

    name = "ast_mutate"
    arity = 1

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        max_tries: int = 10,
        sigma: float = 0.3,
        jitter: float = 0.1,
        sign_flip: float = 0.05,
        check_names: bool = True,
        **kind_weights: float,
    ) -> None:
        merged = dict(DEFAULT_WEIGHTS)
        for key, value in {**(weights or {}), **kind_weights}.items():
            if key not in DEFAULT_WEIGHTS:
                known = ", ".join(DEFAULT_WEIGHTS)
                raise ValueError(
                    f"unknown ast_mutate edit kind or setting {key!r}; edit kinds: {known}; "
                    "settings: weights, max_tries, sigma, jitter, sign_flip, check_names"
                )
            if not value >= 0:
                raise ValueError(f"weight of {key!r} must be >= 0, got {value!r}")
            merged[key] = float(value)
        if not any(merged.values()):
            raise ValueError("ast_mutate needs at least one edit kind with a positive weight")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        if sigma < 0 or jitter < 0 or not 0 <= sign_flip <= 1:
            raise ValueError("sigma and jitter must be >= 0 and sign_flip in [0, 1]")
        self.weights = merged
        self.max_tries = max_tries
        self.check_names = check_names
        self.knobs = {"sigma": sigma, "jitter": jitter, "sign_flip": sign_flip}

    def propose(
        self, parents: Sequence[ProgramRecord], ctx: Context, rng: random.Random
    ) -> Candidate:
        if len(parents) < 1:
            raise ValueError("ast_mutate needs one parent")
        return Candidate(code=self.mutate(parents[0].code, rng).code)

    def mutate(self, code: str, rng: random.Random) -> Mutation:
        """A child of ``code`` or ProposalRejected ("no_op", "syntax_error", "no_block")."""
        parsed = parse_program(code)
        env = make_env(code, parsed.tree, **self.knobs)
        parent_hash = ast_hash(code)
        parent_unbound = parent_unbound_names(parsed, code) if self.check_names else frozenset()
        failures: Counter = Counter()
        for _ in range(self.max_tries):
            tree = parsed.fresh_tree()
            sites = {
                kind: EDIT_KINDS[kind].sites(tree, env)
                for kind, weight in self.weights.items()
                if weight > 0
            }
            kinds = [kind for kind, found in sites.items() if found]
            if not kinds:
                raise ProposalRejected("no_op", "nothing in the EVOLVE-BLOCK can be mutated")
            kind = rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
            detail = EDIT_KINDS[kind].apply(rng.choice(sites[kind]), rng, env)
            if detail is None:
                failures["no_op"] += 1
                continue
            child = render_child(parsed, tree)
            if child is None:
                failures["syntax_error"] += 1
            elif ast_hash(child) == parent_hash:
                failures["no_op"] += 1
            elif (
                self.check_names
                and not EDIT_KINDS[kind].keeps_names
                and unbound(parsed, tree, child) - parent_unbound
            ):
                failures["unbound_name"] += 1
            else:
                return Mutation(child, kind, detail)
        reason = failure_reason(failures)
        raise ProposalRejected(reason, f"{self.max_tries} tries: {dict(failures)}")
