"""An expression language, and the program that carries one formula of it.

A problem that evolves a formula (a scheduling priority, a symbolic-regression target)
declares ``expression = Expression(inputs=("p", "w"), functions=("add", "sub", "mul",
"div"))``; a candidate is then a plain Python program whose EVOLVE-BLOCK holds one
function, with any helper it calls defined above it::

    def _div(a, b):
        ...

    # EVOLVE-BLOCK-START
    def f(p, w):
        return _div(p, w)
    # EVOLVE-BLOCK-END

and its genome is the same formula in DEAP's prefix form, ``"div(p, w)"`` (what
``str(PrimitiveTree)`` prints: constants as their exact ``repr``, so the string round trip
is exact). The program, not the genome, is what the sandbox runs: no DEAP there. The genome
is parsed with ``ast`` here (DEAP's ``from_string`` evals unknown tokens and checks no
arity), and ``read`` reads a program's function back into a genome, for a parent an LLM
edited. Nothing here runs code or imports DEAP. A single-file problem's EXPRESSION and
INITIAL_EXPRESSION are read by evaluators/single_file_expression.py.
"""

from __future__ import annotations

import ast
import keyword
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from evaluators.contract import EVOLVE_BLOCK_END, EVOLVE_BLOCK_START
from evaluators.expression_nodes import (
    PRIMITIVES,
    Node,
    fold_negation,
    format_nodes,
    height,
    match_template,
    source_of,
    spelt_number,
    template_ast,
)

MAX_TEXT = 20_000  # characters of a genome or an expression read back: more is no formula


RESERVED = {"math", "abs", "min", "max"}  # names the rendered program uses
LIMITS = {"max_depth": 30, "max_size": 1000}  # beyond: no formula anyone reads


class ExpressionError(ValueError):
    """An Expression declared wrong; its message is one line that names the fix."""


def _names(value: Any, what: str, example: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ExpressionError(f"Expression: {what} must be a non-empty tuple of names, e.g. {what}={example}")  # fmt: skip
    for name in value:
        if not isinstance(name, str):
            raise ExpressionError(f"Expression: {what} must be names (strings), got {name!r}")
    twice = sorted({n for n in value if list(value).count(n) > 1})
    if twice:
        raise ExpressionError(f"Expression: {what} lists {', '.join(map(repr, twice))} more than once")  # fmt: skip
    return tuple(value)


@dataclass(frozen=True)
class Expression:
    """A formula's language: the function's ``name`` and ``inputs``, the built-in
    ``functions`` it may use (PRIMITIVES), fixed ``constants``, ``ephemeral`` = (low, high)
    for fresh random constants (GP's ephemeral constants; None for none), and the bloat
    limits: ``max_depth`` (DEAP's height: a lone input is 0) and ``max_size`` (nodes)."""

    inputs: tuple[str, ...]
    functions: tuple[str, ...] = ("add", "sub", "mul", "div")
    constants: tuple[float, ...] = (1.0,)
    ephemeral: tuple[float, float] | None = None
    max_depth: int = 8
    max_size: int = 40
    name: str = "f"
    # an LLM's child outside the language is scored as written (evaluators/search_space.py)
    strict: ClassVar[bool] = False

    def __post_init__(self) -> None:
        inputs = _names(self.inputs, "inputs", '("p", "w")')
        functions = _names(self.functions, "functions", '("add", "sub", "mul", "div")')
        for fn in functions:
            if fn not in PRIMITIVES:
                import difflib  # only for this message: the sandbox imports this module

                close = difflib.get_close_matches(fn, list(PRIMITIVES), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ExpressionError(f"Expression: unknown function {fn!r}; {hint}the built-in ones: {', '.join(PRIMITIVES)}")  # fmt: skip
        if not isinstance(self.name, str) or not self.name.isidentifier() or keyword.iskeyword(self.name):  # fmt: skip
            raise ExpressionError(f"Expression: name must be a Python identifier, got {self.name!r}")  # fmt: skip
        for name in inputs:
            problem = ""
            if not name.isidentifier() or keyword.iskeyword(name):
                problem = "is not a Python identifier"
            elif name.startswith("_") or name in RESERVED:
                problem = "is reserved by the rendered program"
            elif name in PRIMITIVES:
                problem = "is the name of a function"
            elif name == self.name:
                problem = "is the function's own name"
            if problem:
                raise ExpressionError(f"Expression: input {name!r} {problem}; rename it")
        constants = self.constants
        if isinstance(constants, numbers.Real) or not isinstance(constants, Sequence):
            raise ExpressionError(f"Expression: constants must be a tuple of numbers, e.g. constants=(1.0,), got {constants!r}")  # fmt: skip
        constants = tuple(_constant(c, "constants") for c in constants)
        ephemeral = self.ephemeral
        if ephemeral is not None:
            if isinstance(ephemeral, str) or not isinstance(ephemeral, Sequence) or len(ephemeral) != 2:  # fmt: skip
                raise ExpressionError(f"Expression: ephemeral must be (low, high) or None, e.g. ephemeral=(-1.0, 1.0), got {ephemeral!r}")  # fmt: skip
            ephemeral = tuple(_constant(c, "ephemeral") for c in ephemeral)
            if not ephemeral[0] < ephemeral[1]:
                raise ExpressionError(f"Expression: ephemeral=(low, high) needs low < high, got {ephemeral!r}")  # fmt: skip
        for limit, top in LIMITS.items():
            value = getattr(self, limit)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ExpressionError(f"Expression: {limit} must be a whole number in [1, {top}], got {value!r}")  # fmt: skip
        for field, value in (("inputs", inputs), ("functions", functions),
                             ("constants", constants), ("ephemeral", ephemeral)):  # fmt: skip
            object.__setattr__(self, field, value)

    @property
    def example(self) -> str:
        """A formula of this language, for messages."""
        fn = next((f for f in self.functions if PRIMITIVES[f].arity == 2), self.functions[0])
        args = [*self.inputs, *(repr(c) for c in self.constants), "1.0"]
        return f"{fn}({', '.join(args[: PRIMITIVES[fn].arity])})"

    def describe(self) -> str:
        """The language in words, for an LLM's prompt: a function written otherwise (``a /
        b``, ``**``, an ``if``) is still scored, but cannot be read back into a formula, so
        the tree operators can never make a child of it."""
        forms = [PRIMITIVES[fn].template.format("A", "B") for fn in self.functions]
        return (
            f"Keep {self.name} a single `return` of a formula written as the current program"
            f" writes it: the inputs {', '.join(self.inputs)}, numbers, and only "
            f"{', '.join(f'`{f}`' for f in forms)}, where A and B stand for formulas"
            " (the helpers are defined above the EVOLVE-BLOCK);"
            f" at most {self.max_depth} calls deep and {self.max_size} nodes. Anything else"
            " (`A / B`, `**`, `if`, new helpers) is scored but cannot be evolved further."
        )

    def parse(self, text: Any, where: str = "the expression") -> str:
        """``text`` (prefix form, e.g. ``sub(mul(p, 2.5), w)``) checked against this
        language and its limits, in canonical form (what DEAP prints, with whole numbers as
        floats and ``neg(2.0)`` folded to ``-2.0``); ValueError else."""
        return format_nodes(self.nodes(text, where))

    def nodes(self, text: Any, where: str = "the expression", limits: bool = True) -> list[Node]:
        """The prefix-order nodes of ``text``, checked (see ``parse``; the limits only
        when ``limits``)."""
        if not isinstance(text, str):
            raise ValueError(f"{where} must be a string in prefix form, e.g. {self.example!r}, got {type(text).__name__}")  # fmt: skip
        if len(text) > MAX_TEXT:
            raise ValueError(f"{where} is {len(text):,} characters long: no formula of max_size={self.max_size}")  # fmt: skip
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            msg = getattr(exc, "msg", None) or type(exc).__name__
            raise ValueError(f"{where}: `{text[:80]}` is not a formula in prefix form, e.g. {self.example!r} ({msg})") from None  # fmt: skip
        nodes: list[Node] = []
        self._walk(tree, nodes, where)
        if limits:
            self.check_limits(nodes, where)
        return nodes

    def _walk(self, node: ast.AST, out: list[Node], where: str) -> None:
        value = spelt_number(node)
        if value is not None:
            out.append(_constant(value, where, ValueError))
        elif isinstance(node, ast.Name):
            if node.id in self.inputs:
                out.append(node.id)
            elif node.id in self.functions:
                raise ValueError(f"{where}: {node.id} is a function of {PRIMITIVES[node.id].arity} argument(s): call it, e.g. {node.id}(...)")  # fmt: skip
            else:
                raise ValueError(f"{where}: unknown input {node.id!r} (the inputs are {', '.join(self.inputs)})")  # fmt: skip
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fn = node.func.id
            if fn not in self.functions:
                hint = f"; add {fn!r} to functions" if fn in PRIMITIVES else ""
                raise ValueError(f"{where}: unknown function {fn!r} (the expression's functions: {', '.join(self.functions)}){hint}")  # fmt: skip
            arity = PRIMITIVES[fn].arity
            if len(node.args) != arity:
                raise ValueError(f"{where}: {fn} takes {arity} argument(s), got {len(node.args)} in `{ast.unparse(node)[:80]}`")  # fmt: skip
            out.append(fn)
            for arg in node.args:
                self._walk(arg, out, where)
            fold_negation(out)
        else:
            raise ValueError(f"{where}: `{ast.unparse(node)[:80]}` is no function call, input or number; write formulas in prefix form, e.g. {self.example!r}")  # fmt: skip

    def check_limits(self, nodes: Sequence[Node], where: str = "the expression") -> None:
        if len(nodes) > self.max_size:
            raise ValueError(f"{where} has {len(nodes)} nodes, over max_size={self.max_size}: simplify it or raise max_size")  # fmt: skip
        depth = height(nodes)
        if depth > self.max_depth:
            raise ValueError(f"{where} is {depth} deep, over max_depth={self.max_depth}: simplify it or raise max_depth")  # fmt: skip

    def render(self, text: str | Sequence[Node]) -> str:
        """The candidate program computing the formula (a string, or prefix nodes)."""
        nodes = self.nodes(text) if isinstance(text, str) else list(text)
        helpers = [PRIMITIVES[f].helper for f in self.functions if PRIMITIVES[f].helper]
        uses_math = any("math." in PRIMITIVES[f].template + PRIMITIVES[f].helper for f in self.functions)  # fmt: skip
        head = "import math\n\n\n" if uses_math else ""
        head += "".join(h + "\n\n" for h in helpers)
        body = source_of(nodes, 0)[0]
        return (
            f"{head}{EVOLVE_BLOCK_START}\n"
            f"def {self.name}({', '.join(self.inputs)}):\n    return {body}\n"
            f"{EVOLVE_BLOCK_END}\n"
        )

    def read(self, code: str) -> str:
        """The formula a program's top-level ``def <name>(<inputs>)`` returns, canonical;
        ValueError when it has none or it is not written in this language (as ``render``
        writes it)."""
        try:
            module = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ValueError(f"the program does not parse: {exc}") from None
        fns = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == self.name]
        if not fns:
            raise ValueError(f"the program defines no top-level function {self.name}")
        fn = fns[-1]
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]  # fmt: skip
        args = [a.arg for a in fn.args.args]
        if args != list(self.inputs) or len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:  # fmt: skip
            raise ValueError(f"{self.name} must be `def {self.name}({', '.join(self.inputs)}): return <formula>`, one return statement")  # fmt: skip
        nodes: list[Node] = []
        self._read(body[0].value, nodes)
        self.check_limits(nodes, f"the formula {self.name} returns")
        return format_nodes(nodes)

    def _read(self, node: ast.AST, out: list[Node]) -> None:
        value = spelt_number(node)
        if value is not None:
            out.append(_constant(value, f"a constant of {self.name}", ValueError))
            return
        if isinstance(node, ast.Name) and node.id in self.inputs:
            out.append(node.id)
            return
        for fn in self.functions:
            bound: dict[int, ast.AST] = {}
            if match_template(template_ast(fn), node, bound) and len(bound) == PRIMITIVES[fn].arity:
                out.append(fn)
                for i in range(len(bound)):
                    self._read(bound[i], out)
                fold_negation(out)
                return
        raise ValueError(f"`{ast.unparse(node)[:80]}` in {self.name} is not in its language (inputs {', '.join(self.inputs)}; functions {', '.join(self.functions)})")  # fmt: skip


def _constant(value: Any, where: str, error: type[ValueError] = ExpressionError) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{where}: a constant must be a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise error(f"{where}: a constant must be finite, got {value!r}")
    return value
