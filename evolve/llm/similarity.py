"""How alike two programs are, for the novelty gate (evolve/llm/novelty.py).

``token_similarity`` needs no endpoint: the cosine of the two programs' counts of token
3-grams, read with Python's tokenizer with comments, blank lines and indentation left out
(what the AST hash already ignores), and with every name the program binds (variables,
parameters, its functions) replaced by its order of first appearance, so that a child that
only renames scores 1.0 exactly (the hashes miss it). Numbers, strings, attributes and
names it does not bind (builtins, modules) are kept as written: changing a constant or
``min`` into ``max`` is a change.

A program is read once: its counts are cached by its text (the population is compared
again and again against each new child).
"""

from __future__ import annotations

import ast
import functools
import io
import math
import re
import tokenize
from collections import Counter

NGRAM = 3
_SKIP = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
)
# Text that Python cannot tokenize (a child in another language, an unclosed string): words,
# numbers and single symbols.
_FALLBACK = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\S")


def bound_names(code: str) -> frozenset[str]:
    """The names ``code`` binds (empty when it does not parse)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return frozenset()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return frozenset(names)


def tokens(code: str) -> list[str]:
    """The program's tokens, its bound names canonical (``$0``, ``$1``... by first use)."""
    try:
        raw = [
            (t.type, t.string)
            for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type not in _SKIP
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _FALLBACK.findall(code)
    bound = bound_names(code)
    canonical: dict[str, str] = {}
    out = []
    after_dot = False
    for kind, text in raw:
        if kind == tokenize.NAME and text in bound and not after_dot:
            text = canonical.setdefault(text, f"${len(canonical)}")
        out.append(text)
        after_dot = text == "."
    return out


@functools.lru_cache(maxsize=4096)
def profile(code: str) -> tuple[Counter[tuple[str, ...]], float]:
    """The program's token n-gram counts and their Euclidean norm."""
    toks = tokens(code)
    if len(toks) < NGRAM:
        grams = Counter([tuple(toks)]) if toks else Counter()
    else:
        grams = Counter(tuple(toks[i : i + NGRAM]) for i in range(len(toks) - NGRAM + 1))
    return grams, math.sqrt(sum(n * n for n in grams.values()))


def token_similarity(a: str, b: str) -> float:
    """Cosine of the token 3-gram counts of ``a`` and ``b``, in [0, 1]."""
    (ga, na), (gb, nb) = profile(a), profile(b)
    if ga == gb:  # exactly 1.0: a threshold of 1 rejects these and nothing else
        return 1.0
    if not na or not nb:
        return 0.0
    if len(ga) > len(gb):
        ga, gb = gb, ga
    dot = sum(n * gb.get(gram, 0) for gram, n in ga.items())
    return min(1.0, dot / (na * nb))


def same_tokens(a: str, b: str) -> bool:
    """``token_similarity(a, b) == 1.0``, in about the time of comparing two norms."""
    (ga, na), (gb, nb) = profile(a), profile(b)
    return na == nb and ga == gb
