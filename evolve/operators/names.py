"""A cheap static check for names an edit left unbound (no code is run).

Deleting or swapping statements often leaves a function reading a local before it is
assigned, or a name nothing binds any more. ``unbound_reads`` lists such reads
conservatively (only top-level statements of a function body are ordered, anything unsure is
let through); an operator rejects a child that has problems its parent did not have.
"""

from __future__ import annotations

import ast
import builtins

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "__builtins__", "__doc__"}


def _walk_scope(node: ast.AST):
    """Nodes of ``node`` without descending into nested functions, lambdas or classes."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if isinstance(child, _SCOPES):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    yield child  # its name is bound here; its body is another scope
                continue
            stack.append(child)


def _stored(stmt: ast.AST) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    names = set()
    for node in _walk_scope(stmt):
        if isinstance(node, ast.Name) and isinstance(
            getattr(node, "ctx", None), (ast.Store, ast.Del)
        ):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _read(stmt: ast.AST) -> set[str]:
    if isinstance(stmt, _SCOPES):  # a nested definition reads its names when called
        return set()
    comprehension_vars = {
        name.id
        for node in _walk_scope(stmt)
        if isinstance(node, _COMPREHENSIONS)
        for gen in node.generators
        for name in ast.walk(gen.target)
        if isinstance(name, ast.Name)
    }
    return {
        node.id
        for node in _walk_scope(stmt)
        if isinstance(node, ast.Name) and isinstance(getattr(node, "ctx", ast.Load()), ast.Load)
    } - comprehension_vars


def program_names(tree: ast.Module) -> set[str] | None:
    """Every name bound anywhere in a program (None with a star import: anything goes)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Name) and isinstance(getattr(node, "ctx", None), ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _check(reads: set[str], bound: set[str], local: set[str], out: set[str]) -> None:
    out.update(name for name in reads if name in local and name not in bound)


def _visit(body: list[ast.stmt], bound: set[str], local: set[str], out: set[str]) -> None:
    """Walk statements in order, flagging reads of locals that no earlier path binds.

    After a compound statement every name it may bind counts as bound, and a loop body
    starts with everything the loop binds, so only reads that fail on every path are
    flagged."""
    for stmt in body:
        if isinstance(stmt, (ast.If, ast.While)):
            _check(_read(stmt.test), bound, local, out)
            inner = bound | (_stored(stmt) if isinstance(stmt, ast.While) else set())
            _visit(stmt.body, set(inner), local, out)
            _visit(stmt.orelse, set(inner), local, out)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            _check(_read(stmt.iter), bound, local, out)
            _visit(stmt.body, bound | _stored(stmt), local, out)
            _visit(stmt.orelse, bound | _stored(stmt), local, out)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                _check(_read(item.context_expr), bound, local, out)
            targets = {
                n for item in stmt.items if item.optional_vars for n in _stored(item.optional_vars)
            }
            _visit(stmt.body, bound | targets, local, out)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            _visit(stmt.body, set(bound), local, out)
            after_body = bound | {n for s in stmt.body for n in _stored(s)}
            for handler in stmt.handlers:
                _visit(handler.body, after_body | _stored(handler), local, out)
            _visit(stmt.orelse, set(after_body), local, out)
            _visit(stmt.finalbody, after_body | _stored(stmt), local, out)
        elif isinstance(stmt, ast.Match):
            _check(_read(stmt.subject), bound, local, out)
            for case in stmt.cases:
                _visit(case.body, bound | _stored(case.pattern), local, out)
        else:
            reads = _read(stmt)
            if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                reads.add(stmt.target.id)
            _check(reads, bound, local, out)
        bound |= _stored(stmt)


def unbound_reads(block: ast.Module, program: ast.Module | None) -> set[tuple[str, str]]:
    """(function, name) for reads in the block's functions that fail on every path: a local
    read before anything can have assigned it, or a name that neither the function nor the
    program (``program``: the whole parsed file, None when unknown) binds."""
    known = program_names(program) if program is not None else program_names(block)
    problems = set()
    for func in ast.walk(block):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
        declared = {
            name
            for node in _walk_scope(func)
            if isinstance(node, (ast.Global, ast.Nonlocal))
            for name in node.names
        }
        local = {n for stmt in func.body for n in _stored(stmt)} - args - declared
        early: set[str] = set()
        _visit(func.body, set(args), local, early)
        problems.update((func.name, name) for name in early)
        if known is not None:
            reads = {n for stmt in func.body for n in _read(stmt)}
            free = reads - local - args - declared - known - _BUILTINS
            problems.update((func.name, name) for name in free)
    return problems
