"""Hashes for de-duplicating children before anything is spent on them.

``code_hash`` is the SHA-256 of the exact text. ``ast_hash`` is the SHA-256 of a normalised
AST: comments and formatting vanish in parsing, docstrings are removed and source positions
are left out of the dump, so two programs that differ only in whitespace, comments or
docstrings hash equal.
"""

from __future__ import annotations

import ast
import functools
import hashlib

_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_hash(code: str) -> str:
    """SHA-256 (hex) of the exact program text."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove docstrings in place (a body may end up empty: fine for hashing)."""
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_OWNERS) and node.body and is_docstring(node.body[0]):
            del node.body[0]
    return tree


def normalised_dump(tree: ast.AST) -> str:
    """ast.dump of ``tree`` without docstrings or source positions. The docstrings are
    taken out for the dump and put back (a deep copy to strip cost more than the dump)."""
    owners = [
        node
        for node in ast.walk(tree)
        if isinstance(node, _DOCSTRING_OWNERS) and node.body and is_docstring(node.body[0])
    ]
    removed = [node.body.pop(0) for node in owners]
    try:
        return ast.dump(tree, include_attributes=False)
    finally:
        for node, docstring in zip(owners, removed):
            node.body.insert(0, docstring)


# A child's hash is taken by its operator (is it its parent?) and again when it is stored
# (is it new?): the second is a lookup. Bounded, since a program can be large.
@functools.lru_cache(maxsize=256)
def ast_hash(code: str) -> str:
    """SHA-256 (hex) of the normalised AST of ``code``.

    Code that does not parse falls back to a hash of its text with trailing whitespace and
    blank lines dropped (prefixed so it can never equal the hash of a parsed program).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        lines = (line.rstrip() for line in code.splitlines())
        text = "unparsed:" + "\n".join(line for line in lines if line)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    dump = ast.dump(strip_docstrings(tree), include_attributes=False)
    return hashlib.sha256(dump.encode("utf-8", "surrogatepass")).hexdigest()
