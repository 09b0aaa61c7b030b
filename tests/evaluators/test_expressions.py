"""The expression language: declarations refused in one line, the prefix form parsed and
printed back exactly, every primitive rendered to Python that computes what it should
(protected division included), programs read back into formulas, and the bloat limits."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from evaluators import Expression
from evaluators.expressions import PRIMITIVES, ExpressionError, format_nodes, height

ALL = Expression(inputs=("x", "y"), functions=tuple(PRIMITIVES), constants=(-1.0, 1.0), max_depth=12, max_size=200)  # fmt: skip


def run(code: str, *args: float, name: str = "f") -> float:
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)  # noqa: S102 - our own rendering
    return namespace[name](*args)


# What each primitive must compute, written out independently of the templates.
def _div(a: float, b: float) -> float:
    return a / b if abs(b) > 1e-12 else 1.0


REFERENCE = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": _div,
    "neg": lambda a: -a,
    "abs": abs,
    "min": min,
    "max": max,
    "sqrt": lambda a: math.sqrt(abs(a)),
    "log": lambda a: math.log(abs(a)) if a != 0 else 0.0,
    "exp": lambda a: math.exp(min(a, 700.0)),
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"inputs": "p"}, 'inputs must be a non-empty tuple of names, e.g. inputs=("p", "w")'),
        ({"inputs": ()}, "inputs must be a non-empty tuple of names"),
        ({"inputs": ("p", "p")}, "inputs lists 'p' more than once"),
        ({"inputs": ("p", 3)}, "inputs must be names (strings), got 3"),
        ({"inputs": ("p w",)}, "input 'p w' is not a Python identifier; rename it"),
        ({"inputs": ("lambda",)}, "input 'lambda' is not a Python identifier"),
        ({"inputs": ("_p",)}, "input '_p' is reserved by the rendered program"),
        ({"inputs": ("math",)}, "input 'math' is reserved by the rendered program"),
        ({"inputs": ("add",)}, "input 'add' is the name of a function"),
        ({"inputs": ("f",)}, "input 'f' is the function's own name"),
        (
            {"inputs": ("p",), "functions": ("pow",)},
            "unknown function 'pow'; the built-in ones: add, sub",
        ),  # fmt: skip
        ({"inputs": ("p",), "functions": ("ad",)}, "unknown function 'ad'; did you mean 'add'?"),
        ({"inputs": ("p",), "functions": ("add", "add")}, "functions lists 'add' more than once"),
        (
            {"inputs": ("p",), "constants": 1.0},
            "constants must be a tuple of numbers, e.g. constants=(1.0,)",
        ),  # fmt: skip
        ({"inputs": ("p",), "constants": (1.0, "2")}, "a constant must be a number, got '2'"),
        ({"inputs": ("p",), "constants": (math.inf,)}, "a constant must be finite"),
        ({"inputs": ("p",), "ephemeral": (1.0,)}, "ephemeral must be (low, high) or None"),
        ({"inputs": ("p",), "ephemeral": (1.0, -1.0)}, "needs low < high"),
        ({"inputs": ("p",), "max_depth": 0}, "max_depth must be a whole number in [1, 30], got 0"),
        ({"inputs": ("p",), "max_size": 2.5}, "max_size must be a whole number in [1, 1000]"),
        ({"inputs": ("p",), "name": "def"}, "name must be a Python identifier, got 'def'"),
    ],
)
def test_a_declaration_made_wrong_is_one_line_naming_the_fix(kwargs, message) -> None:
    with pytest.raises(ExpressionError) as exc:
        Expression(**kwargs)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_declaration_is_normalised_and_hashable() -> None:
    e = Expression(inputs=["p", "w"], functions=["add", "div"], constants=[1, 2.5])
    assert (e.inputs, e.functions, e.constants) == (("p", "w"), ("add", "div"), (1.0, 2.5))
    assert all(isinstance(c, float) for c in e.constants)
    assert hash(e) == hash(Expression(inputs=("p", "w"), functions=("add", "div"), constants=(1.0, 2.5)))  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "sub(mul(p, 2.5), w)",
        "p",
        "-1.0",
        "div(p, neg(w))",
        "-0.0",
        "add(1e-07, mul(0.1, 123456789.123))",
        "max(min(p, w), sqrt(log(exp(-3.3))))",
    ],
)
def test_the_prefix_form_round_trips_exactly(text: str) -> None:
    e = Expression(inputs=("p", "w"), functions=tuple(PRIMITIVES))
    assert e.parse(text) == text
    assert e.parse(e.parse(text)) == text


def test_parsing_canonicalises_whole_numbers_and_spacing() -> None:
    e = Expression(inputs=("p", "w"))
    assert e.parse(" sub( mul(p,2) , w )") == "sub(mul(p, 2.0), w)"
    assert e.nodes("sub(mul(p, 2), w)") == ["sub", "mul", "p", 2.0, "w"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("pow(p, w)", "unknown function 'pow' (the expression's functions: add, sub, mul, div)"),
        (
            "sqrt(p)",
            "unknown function 'sqrt' (the expression's functions: add, sub, mul, div); add 'sqrt' to functions",
        ),  # fmt: skip
        ("add(p)", "add takes 2 argument(s), got 1 in `add(p)`"),
        ("add(p, w, p)", "add takes 2 argument(s), got 3"),
        ("add(p, x)", "unknown input 'x' (the inputs are p, w)"),
        ("add", "add is a function of 2 argument(s): call it"),
        (
            "p + w",
            "`p + w` is no function call, input or number; write formulas in prefix form, e.g. 'add(p, w)'",
        ),  # fmt: skip
        ("add(p, w", "is not a formula in prefix form"),
        ("add(p, w=1)", "is no function call"),
        ("1e999", "a constant must be finite"),
        ("True", "is no function call"),
        ("9**9**9**9", "is no function call"),
        (42, "must be a string in prefix form, e.g. 'add(p, w)', got int"),
    ],
)
def test_a_formula_outside_the_language_is_one_line(text, message) -> None:
    e = Expression(inputs=("p", "w"))
    with pytest.raises(ValueError) as exc:
        e.parse(text, "INITIAL_EXPRESSION")
    assert str(exc.value).startswith("INITIAL_EXPRESSION")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_the_limits_are_deap_height_and_node_count() -> None:
    e = Expression(inputs=("p",), functions=("add", "neg"), max_depth=3, max_size=7)
    assert height(e.nodes("p")) == 0
    assert height(e.nodes("neg(neg(neg(p)))")) == 3
    assert e.parse("add(add(p, p), add(p, p))") == "add(add(p, p), add(p, p))"  # 7 nodes
    with pytest.raises(ValueError, match=r"is 4 deep, over max_depth=3: simplify it or raise max_depth"):  # fmt: skip
        e.parse("neg(neg(neg(neg(p))))")
    with pytest.raises(ValueError, match=r"has 9 nodes, over max_size=7"):
        e.parse("add(add(p, p), add(p, add(p, p)))")


@pytest.mark.parametrize("fn", sorted(PRIMITIVES))
def test_every_primitive_renders_to_what_it_computes(fn: str) -> None:
    arity = PRIMITIVES[fn].arity
    args = ", ".join(["x", "y"][:arity])
    code = ALL.render(f"{fn}({args})")
    compile(code, "<candidate>", "exec")
    rng = random.Random(fn)
    points = [(0.0, 0.0), (1.0, -0.0), (-2.5, 1e-13), (3.0, -1e-12), (1e6, 1e-6), (-800.0, 800.0)]
    points += [(rng.uniform(-50, 50), rng.uniform(-50, 50)) for _ in range(200)]
    for x, y in points:
        want = REFERENCE[fn](*(x, y)[:arity])
        assert run(code, x, y) == want, (fn, x, y)


def test_protected_division_is_total_and_nested_formulas_agree() -> None:
    code = ALL.render("div(x, sub(y, y))")
    assert run(code, 5.0, 3.0) == 1.0  # x / 0 is 1.0, not ZeroDivisionError
    assert run(ALL.render("div(x, 1e-13)"), 5.0, 0.0) == 1.0
    assert run(ALL.render("div(x, 2.0)"), 5.0, 0.0) == 2.5

    rng = random.Random(0)

    def direct(nodes: list, i: int = 0) -> tuple[float, int]:  # evaluate prefix nodes
        node = nodes[i]
        if isinstance(node, float):
            return node, i + 1
        if node in ("x", "y"):
            return point[node], i + 1
        args, j = [], i + 1
        for _ in range(PRIMITIVES[node].arity):
            value, j = direct(nodes, j)
            args.append(value)
        return REFERENCE[node](*args), j

    formulas = [
        "add(div(x, neg(y)), sqrt(log(exp(sin(cos(tanh(abs(min(max(x, -1.0), 1.0)))))))))",
        "sub(mul(x, 2.5), div(y, sub(x, x)))",
        "max(mul(exp(x), -1.0), log(min(y, 0.0)))",
    ]
    for formula in formulas:
        code = ALL.render(formula)
        for _ in range(100):
            point = {"x": rng.uniform(-5, 5), "y": rng.uniform(-5, 5)}
            assert run(code, point["x"], point["y"]) == direct(ALL.nodes(formula))[0]


def test_the_rendered_program_is_plain_python_in_an_evolve_block() -> None:
    e = Expression(inputs=("p", "w"), functions=("add", "sub", "mul"))
    code = e.render("sub(mul(p, 2.5), w)")
    assert code == (
        "# EVOLVE-BLOCK-START\ndef f(p, w):\n    return ((p * 2.5) - w)\n# EVOLVE-BLOCK-END\n"
    )
    # helpers for every declared function that needs one, and math only when used
    code = Expression(inputs=("p",), functions=("div", "sin")).render("p")
    assert "def _div(a, b):" in code and code.startswith("import math\n")
    named = Expression(inputs=("t",), functions=("add",), name="priority")
    assert "def priority(t):\n    return t\n" in named.render("t")


def test_rendering_and_reading_need_no_deap() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from evaluators import Expression; "
         "e = Expression(inputs=('p',)); e.read(e.render('add(p, 1.0)')); "
         "print('deap' in sys.modules, 'numpy' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "formula",
    [
        "add(div(x, neg(y)), sqrt(log(exp(sin(cos(tanh(abs(min(max(x, -1.0), 1.0)))))))))",
        "sub(mul(x, 2.5), div(y, -3.0))",
        "x",
        "1e-05",
        "neg(neg(x))",
        "sqrt(abs(x))",
    ],
)
def test_a_rendered_program_reads_back_to_its_formula(formula: str) -> None:
    assert ALL.read(ALL.render(formula)) == formula


def test_reading_an_edited_program() -> None:
    e = Expression(inputs=("p", "w"))
    code = e.render("sub(p, w)")
    # an LLM's edit in the language, with a docstring and an int: read back, canonical
    edited = code.replace("return (p - w)", '"""WSPT."""\n    return _div(p, w * 1)')
    assert e.read(edited) == "div(p, mul(w, 1.0))"
    # neg of a constant reads back as the negative constant (the same value)
    assert ALL.read(ALL.render("neg(2.0)")) == "-2.0"
    for text, message in [
        (code.replace("(p - w)", "p / w"), "`p / w` in f is not in its language"),
        (code.replace("(p - w)", "p ** 2"), "is not in its language"),
        (code.replace("(p - w)", "q"), "`q` in f is not in its language"),
        (code.replace("def f(p, w)", "def g(p, w)"), "defines no top-level function f"),
        (code.replace("def f(p, w)", "def f(w, p)"), "f must be `def f(p, w): return <formula>`"),
        (code.replace("return (p - w)", "x = p\n    return x"), "one return statement"),
        (code.replace("return", "retur n"), "does not parse"),
    ]:
        with pytest.raises(ValueError) as exc:
            e.read(text)
        assert message in str(exc.value), text


def test_format_matches_deaps_printing() -> None:
    assert format_nodes(["sub", "mul", "p", 2.5, "w"]) == "sub(mul(p, 2.5), w)"
    assert format_nodes([0.1]) == "0.1" and format_nodes([-0.0]) == "-0.0"
