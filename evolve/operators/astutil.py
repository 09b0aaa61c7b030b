"""AST helpers shared by the genetic operators: parents, bodies, imports, scopes."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from evolve.operators.hashing import is_docstring

# Same-arity families of numeric functions a call may be switched within. Each family is
# (names, allowed positional argument counts, allowed keywords).
_NP_UNARY = (
    "abs", "sqrt", "cbrt", "square", "exp", "expm1", "log", "log1p", "log2", "log10", "tanh",
    "sin", "cos", "arctan",
)  # fmt: skip
_MATH_UNARY = (
    "fabs", "sqrt", "cbrt", "exp", "expm1", "log", "log1p", "log2", "log10", "tanh", "sin",
    "cos", "atan",
)  # fmt: skip
NUMPY_FAMILIES: tuple[tuple[tuple[str, ...], tuple[int, ...], frozenset[str]], ...] = (
    (_NP_UNARY, (1,), frozenset()),
    (("minimum", "maximum"), (2,), frozenset()),
    (("sum", "mean", "max", "min", "median", "std"), (1, 2), frozenset({"axis", "keepdims"})),
)
MATH_FAMILIES = ((_MATH_UNARY, (1,), frozenset()),)
BUILTIN_FAMILIES = ((("min", "max"), (1, 2, 3, 4, 5, 6, 7, 8), frozenset({"key", "default"})),)
# Module names recognised even without a visible import (the block may be shown alone).
DEFAULT_ALIASES = {"np": "numpy", "numpy": "numpy", "jnp": "numpy", "math": "math"}

_ARITH_SYMBOLS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
# Statements an edit never moves, deletes or copies: definitions, imports, scope
# declarations, placeholders and the statements that end a body.
_FIXED = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
    ast.Return,
    ast.Raise,
    ast.Break,
    ast.Continue,
)
_NOT_NUMERIC_CALLS = {
    "list", "dict", "set", "tuple", "str", "repr", "range", "sorted", "reversed", "zip",
    "enumerate", "map", "filter", "print", "isinstance", "open", "iter", "type", "bool",
    "any", "all", "format", "object", "super", "frozenset",
}  # fmt: skip
_NOT_NUMERIC_ANNOTATIONS = (
    "str", "bool", "list", "dict", "set", "tuple", "Sequence", "Mapping", "Callable",
    "Iterable", "Iterator", "None", "bytes",
)  # fmt: skip


@dataclass(frozen=True)
class Env:
    """What edits may rely on besides the tree: module aliases and tuning knobs."""

    modules: tuple[tuple[str, str], ...] = ()  # (alias, "numpy" | "math") in scope
    numpy: str | None = None  # an alias numpy (or jax.numpy) is imported under
    math: str | None = None  # an alias math is imported under
    sigma: float = 0.3  # log-normal sigma of multiplicative constant changes
    jitter: float = 0.1  # additive constant jitter, relative to max(|c|, 1)
    sign_flip: float = 0.05  # probability that a constant edit flips the sign


def module_aliases(code: str) -> dict[str, str]:
    """{alias: "numpy" | "math"} from the imports of ``code`` (any parseable program)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = {"numpy": "numpy", "jax.numpy": "numpy", "math": "math"}.get(alias.name)
                if module and (alias.asname or "." not in alias.name):
                    found[alias.asname or alias.name] = module
        elif isinstance(node, ast.ImportFrom) and node.module == "jax":
            for alias in node.names:
                if alias.name == "numpy":
                    found[alias.asname or "numpy"] = "numpy"
    return found


def make_env(code: str, block_tree: ast.Module, **knobs: float) -> Env:
    """Env for a program: imported aliases, plus default names the block already uses."""
    aliases = module_aliases(code)
    used = {n.id for n in ast.walk(block_tree) if isinstance(n, ast.Name)}
    for name, module in DEFAULT_ALIASES.items():
        if name in used and name not in aliases:
            aliases[name] = module
    modules = tuple(sorted(aliases.items()))
    numpy = next((a for a, m in modules if m == "numpy"), None)
    math = next((a for a, m in modules if m == "math"), None)
    return Env(modules=modules, numpy=numpy, math=math, **knobs)


def arith_op(op: type[ast.operator]) -> str:
    return _ARITH_SYMBOLS.get(op, op.__name__)


def parent_map(tree: ast.AST) -> dict[ast.AST, tuple[ast.AST, str, int | None]]:
    """{node: (parent, field, index in that field's list or None)} for every node."""
    parents: dict[ast.AST, tuple[ast.AST, str, int | None]] = {}
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                parents[value] = (node, field, None)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        parents[item] = (node, field, index)
    return parents


def replace_node(parents: dict, old: ast.AST, new: ast.AST) -> None:
    parent, field, index = parents[old]
    if index is None:
        setattr(parent, field, new)
    else:
        getattr(parent, field)[index] = new


def bodies(tree: ast.AST) -> list[list[ast.stmt]]:
    """Every statement list in the tree (module, function, loop, branch, handler bodies)."""
    found = []
    for node in ast.walk(tree):
        for _, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                found.append(value)
    return found


def movable_indices(body: list[ast.stmt]) -> list[int]:
    """Indices of statements an edit may swap, delete or duplicate."""
    return [
        i
        for i, stmt in enumerate(body)
        if not isinstance(stmt, _FIXED) and not (i == 0 and is_docstring(stmt))
    ]


def call_family(node: ast.Call, env: Env) -> tuple[str, ...] | None:
    """The family of same-arity functions ``node`` may switch within, if any."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        module = dict(env.modules).get(func.value.id) or DEFAULT_ALIASES.get(func.value.id)
        families = NUMPY_FAMILIES if module == "numpy" else MATH_FAMILIES if module else ()
        name = func.attr
    elif isinstance(func, ast.Name):
        families, name = BUILTIN_FAMILIES, func.id
    else:
        return None
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        return None
    keywords = {kw.arg for kw in node.keywords}
    for names, arities, allowed in families:
        if name in names and len(node.args) in arities and keywords <= allowed:
            return names
    return None


def numeric_value(expr: ast.expr | None) -> bool:
    """Whether an assigned value plausibly holds a number or a numeric array."""
    if isinstance(expr, ast.Constant):
        return type(expr.value) in (int, float)
    if isinstance(expr, ast.UnaryOp):
        return not isinstance(expr.op, ast.Not) and numeric_value(expr.operand)
    if isinstance(expr, ast.Call):
        name = expr.func.id if isinstance(expr.func, ast.Name) else None
        return name not in _NOT_NUMERIC_CALLS
    return isinstance(expr, (ast.BinOp, ast.Name, ast.Subscript, ast.Attribute, ast.IfExp))


def _numeric_args(func: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> set[str]:
    args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
    if (
        is_method
        and args
        and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list)
    ):
        args = args[1:]  # self / cls
    names = set()
    for arg in args:
        if arg.arg in ("self", "cls"):  # a method shown without its class
            continue
        text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if not any(word in text for word in _NOT_NUMERIC_ANNOTATIONS):
            names.add(arg.arg)
    return names


def _assigned_name(stmt: ast.stmt) -> str | None:
    """x for `x = <numeric>`, `x: T = <numeric>` and `x <op>= ...`."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)) and stmt.value is not None:
        target, value = stmt.target, stmt.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    return target.id if isinstance(stmt, ast.AugAssign) or numeric_value(value) else None


def insert_term_sites(tree: ast.Module) -> list:
    """(body, index, x, names) for each numeric assignment ``body[index]`` to x, with the
    numeric names surely bound right after it: arguments and earlier assignments of the
    same scope on the path from the function's top. A function with no such assignment
    (``return w / p``) has its numeric returns instead, with x None: else an input it does
    not read yet could never come in."""
    sites: list = []

    def visit(body: list[ast.stmt], available: set[str], in_class: bool, returns: list) -> None:
        available = set(available)
        for index, stmt in enumerate(body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                before, own_returns = len(sites), []
                visit(stmt.body, _numeric_args(stmt, in_class), False, own_returns)
                if len(sites) == before:
                    sites.extend(own_returns)
                continue
            if isinstance(stmt, ast.ClassDef):
                visit(stmt.body, set(), True, [])
                continue
            if isinstance(stmt, ast.Return) and available and numeric_value(stmt.value):
                returns.append((body, index, None, frozenset(available)))
                continue
            name = _assigned_name(stmt)
            if name is not None:
                available.add(name)
                sites.append((body, index, name, frozenset(available)))
                continue
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                loop_vars = {n.id for n in ast.walk(stmt.target) if isinstance(n, ast.Name)}
                visit(stmt.body, available | loop_vars, False, returns)
                visit(stmt.orelse, available, False, returns)
                continue
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    visit(inner, available, False, returns)
            for handler in getattr(stmt, "handlers", ()):
                visit(handler.body, available, False, returns)
            for case in getattr(stmt, "cases", ()):
                visit(case.body, available, False, returns)

    visit(tree.body, set(), False, [])
    return sites
