"""Synthetic campaigns written through the Storage API: edge cases and scale."""

from __future__ import annotations

import hashlib
import random
import time

from db import NewStageResult
from db.storage import Storage

XSS_CODE = (
    "# EVOLVE-BLOCK-START\n"
    "def f(x):\n"
    '    s = "<script>alert(1)</script>"\n'
    "    t = '\"><img src=x onerror=alert(1)>'\n"
    "    return x\n"
    "# EVOLVE-BLOCK-END\n"
)
XSS_FEEDBACK = '<script>alert(1)</script> and "><img src=x onerror=alert(1)>'
# the program as its evaluation scored it (the EVALUATED_CODE artifact): markup in it too
XSS_SCORED = XSS_CODE.replace("return x", "return 2.0 * x")

OUTCOMES = ("ok", "ok", "ok", "ok", "ok", "ok", "error", "timeout", "invalid_result", "oom")
OPERATORS = ("ast_mutate", "ast_crossover", "llm_diff", "llm_rewrite")


def _stage(score, outcome, metrics, features, feedback="", stage="evaluate", artifacts=None):
    return NewStageResult(
        stage=stage,
        outcome=outcome,
        score=score,
        correct=outcome == "ok",
        metrics=metrics,
        features=features,
        feedback=feedback,
        duration_s=0.01,
        isolation="bwrap+uid",
        artifacts=artifacts or {},
    )


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def xss_campaign(storage: Storage, name: str = "xss") -> dict[str, int]:
    """Two programs: a clean parent and a child whose code and feedback carry HTML/JS, made
    by an LLM call whose prompt and response carry it too; two objective metrics."""
    c = storage.create_campaign(name, "synthetic.xss", {"max_evals": 2}, seed=0)
    parent = storage.add_program(
        c.id,
        code="def f(x):\n    return x\n",
        genome=None,
        code_hash=_h("p"),
        ast_hash=_h("pa"),
        generation=0,
        island=0,
        operator="initial",
    )
    storage.record_evaluation(
        parent.id,
        [_stage(-1.0, "ok", {"mse": 1.0, "size": 3.0}, {"length": 2.0, "depth": 1.0})],
        worker="w1",
        attempt=1,
    )
    child = storage.add_program(
        c.id,
        code=XSS_CODE,
        genome=None,
        code_hash=_h("c"),
        ast_hash=_h("ca"),
        generation=1,
        island=1,
        operator="llm_diff",
        edges=[(parent.id, "parent")],
        llm_call={
            "model": "test-model",
            "prompt": "improve <script>alert(1)</script>",
            "response": XSS_CODE,
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "cost_usd": 0.002,
            "latency_s": 1.5,
            "outcome": "ok",
        },
    )
    storage.record_evaluation(
        child.id,
        [
            _stage(None, "ok", {}, {}, "compiled", stage="compile"),
            _stage(
                -0.5,
                "ok",
                {"mse": 0.5, "size": 6.0},
                {"length": 6.0, "depth": 2.0},
                XSS_FEEDBACK,
                artifacts={"evaluated_code": XSS_SCORED},
            ),
        ],
        worker="w2",
        attempt=1,
    )
    held = {"program_id": child.id, "outcome": "ok", "score": -0.6, "metrics": {"mse": 0.6}}
    storage.add_event(c.id, "held_out", {**held, "detail": "held out: " + XSS_FEEDBACK})
    return {"campaign": c.id, "parent": parent.id, "child": child.id}


def large_campaign(storage: Storage, n: int, name: str = "large", seed: int = 1) -> dict:
    """n programs over 4 islands with crossover and inspiration edges, two metrics and two
    features; returns the campaign id and how long writing took."""
    rng = random.Random(seed)
    start = time.perf_counter()
    c = storage.create_campaign(name, "synthetic.large", {"max_evals": n}, seed=seed)
    ids: list[int] = []
    for i in range(n):
        edges: list[tuple[int, str]] = []
        if ids:
            window = ids[-2000:]
            edges.append((rng.choice(window), "parent"))
            r = rng.random()
            if r < 0.15 and len(window) > 1:
                other = rng.choice(window)
                if other != edges[0][0]:
                    edges.append((other, "second_parent"))
            elif r < 0.25:
                other = rng.choice(window)
                if other != edges[0][0]:
                    edges.append((other, "inspiration"))
        operator = "initial" if not ids else rng.choice(OPERATORS)
        code = f"def f(x):\n    return x * {i} + {rng.random():.6f}\n"
        p = storage.add_program(
            c.id,
            code=code,
            genome=None,
            code_hash=_h(code),
            ast_hash=_h(f"a{i}"),
            generation=min(i // 50, 400),
            island=i % 4,
            operator=operator,
            edges=edges,
        )
        outcome = rng.choice(OUTCOMES)
        quality = i / n + rng.gauss(0, 0.1)
        metrics = {"accuracy": quality, "cost": rng.random() * 10}
        features = {"length": rng.random() * 100, "complexity": rng.random() * 10}
        score = quality if outcome == "ok" else None
        storage.record_evaluation(
            p.id, [_stage(score, outcome, metrics, features)], worker=f"w{i % 3}", attempt=1
        )
        ids.append(p.id)
    return {"campaign": c.id, "ids": ids, "write_s": time.perf_counter() - start}


# A parent whose evaluation tuned its constants (the EVALUATED_CODE artifact), as
# AutoNumerics does: a child made by a problem operator starts from the constants as tuned
# (TUNED_CHILD adds one line to them), one made by an LLM edit from the stored code
# (EDITED_CHILD changes one line of it).
TUNED_PARENT = "def f(x):\n    a = 1.0\n    b = 0.0\n    return a * x + b\n"
TUNED_SCORED = "def f(x):\n    a = 0.9712\n    b = 0.0331\n    return a * x + b\n"
TUNED_CHILD = "def f(x):\n    a = 0.9712\n    b = 0.0331\n    c = 0.0\n    return a * x + b\n"
EDITED_CHILD = "def f(x):\n    a = 1.0\n    b = 0.0\n    return a * x * x + b\n"


def tuned_campaign(storage: Storage, name: str = "tuned") -> dict[str, int]:
    """The programs above, with the MAP-Elites axes their problem declared recorded at
    start (an integer count 0..5 in 10 bins: 6 cells, and a share in 4 cells)."""
    from evaluators.contract import FeatureAxis
    from evolve.strategy import recorded_axes

    c = storage.create_campaign(name, "synthetic.tuned", {"max_evals": 4}, seed=0)
    axes = [FeatureAxis("calls", 0, 5, 10, integer=True), FeatureAxis("share", 0.0, 1.0, 4)]
    storage.add_event(c.id, "started", {"config": {}, "feature_axes": recorded_axes(axes)})
    ids: dict[str, int] = {"campaign": c.id}
    rows = [  # key, code, operator, parent, features, scored code
        ("parent", TUNED_PARENT, "initial", None, {"calls": 0.0, "share": 0.1}, TUNED_SCORED),
        ("child", TUNED_CHILD, "expr_grow", "parent", {"calls": 3.0, "share": 0.6}, None),
        ("edited", EDITED_CHILD, "llm_diff", "parent", {"calls": 5.0, "share": 0.95}, None),
        ("failed", TUNED_CHILD + "#\n", "expr_grow", "child", {"calls": 2.0, "share": 0.3}, None),
    ]
    for key, code, operator, parent, features, scored in rows:
        p = storage.add_program(
            c.id,
            code=code,
            genome=None,
            code_hash=_h(code),
            ast_hash=_h("a" + code),
            generation=0 if parent is None else 1,
            island=0,
            operator=operator,
            edges=[] if parent is None else [(ids[parent], "parent")],
        )
        ids[key] = p.id
        ok = key != "failed"
        stage = _stage(
            -len(code) / 100 if ok else None,
            "ok" if ok else "error",
            {"size": float(len(code))},
            features,
            artifacts={"evaluated_code": scored} if scored else None,
        )
        storage.record_evaluation(p.id, [stage], worker="w1", attempt=1)
    return ids
