"""Server-side aggregation for the campaign page: every series is down-sampled, so the
browser never receives more than MAX_POINTS points per series whatever the campaign size."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from dashboards.index import CampaignIndex, Node
from dashboards.objectives import axis_value
from db.operator_stats import Made, operator_stats

MAX_POINTS = 2000
TIME_BUCKETS = 60


def downsample(points: Sequence[Any], limit: int = MAX_POINTS) -> list[Any]:
    """At most `limit` points, evenly spaced, always keeping the first and the last."""
    n = len(points)
    if n <= limit:
        return list(points)
    if limit < 2:
        return [points[-1]]
    step = (n - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def step_series(
    pairs: Iterable[tuple[float, float | None]], limit: int | None
) -> list[list[float]]:
    """Running maximum of (x, y) pairs, as the points where it changes plus the last x: a
    lossless step line, thinned to at most `limit` points (None: never thinned)."""
    out: list[list[float]] = []
    best = -math.inf
    last_x = None
    for x, y in pairs:
        last_x = x
        if y is not None and y > best:
            best = y
            out.append([x, y])
    if out and last_x is not None and out[-1][0] != last_x:
        out.append([last_x, best])
    return out if limit is None else downsample(out, limit)


def _scored(node: Node) -> float | None:
    return node.score if node.correct and node.score is not None else None


def best_lines(index: CampaignIndex) -> dict[str, Any]:
    """The best score over evaluations and over the time since the first program was
    created, as lossless step lines (every rise, plus the last evaluation), cached per
    index version: the campaign page thins them, the compare view sends them whole."""

    def build() -> dict[str, Any]:
        done = index.evaluated()
        t0 = min((n.created_at for n in index.nodes), default=0.0)
        return {
            "t0": t0,
            "best_by_eval": step_series(((n.eval_seq or 0, _scored(n)) for n in done), None),
            "best_by_time": step_series(
                (((n.evaluated_at or t0) - t0, _scored(n)) for n in done), None
            ),
        }

    return index.cached("best_lines", build)


def series(index: CampaignIndex, limit: int = MAX_POINTS) -> dict[str, Any]:
    limit = max(10, min(limit, MAX_POINTS))
    done = index.evaluated()
    lines = best_lines(index)
    t0 = lines["t0"]
    by_evals = downsample(lines["best_by_eval"], limit)
    by_time = downsample(lines["best_by_time"], limit)
    islands: dict[int, list[tuple[float, float | None]]] = defaultdict(list)
    for n in done:
        islands[n.island].append((n.eval_seq or 0, _scored(n)))
    per_island = {str(k): step_series(v, limit) for k, v in sorted(islands.items())}
    # every evaluation's score, as the best score per bucket of consecutive evaluations
    scores = [(n.eval_seq or 0, _scored(n)) for n in done]
    scores = [(x, y) for x, y in scores if y is not None]
    if len(scores) > limit:
        size = math.ceil(len(scores) / limit)
        scores = [
            max(scores[i : i + size], key=lambda p: p[1]) for i in range(0, len(scores), size)
        ]
    return {
        "t0": t0,
        "evaluations": len(done),
        "best_by_eval": by_evals,
        "best_by_time": by_time,
        "per_island": per_island,
        "scores": [list(p) for p in scores],
        **time_buckets(done, t0),
    }


def time_buckets(done: Sequence[Node], t0: float) -> dict[str, Any]:
    """Outcome classes and evaluations per second over time, in at most TIME_BUCKETS."""
    times = [n.evaluated_at for n in done if n.evaluated_at is not None]
    if not times:
        return {"buckets": [], "bucket_s": 0.0, "outcomes": {}, "rate": [], "mean_rate": 0.0}
    start, end = t0, max(times)
    span = max(end - start, 1e-3)
    k = min(TIME_BUCKETS, max(1, len(times)))
    width = span / k
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * k)
    total = [0] * k
    for n in done:
        if n.evaluated_at is None:
            continue
        b = min(k - 1, int((n.evaluated_at - start) / width))
        counts[n.outcome or "unknown"][b] += 1
        total[b] += 1
    return {
        "buckets": [round(i * width, 3) for i in range(k)],
        "bucket_s": width,
        "outcomes": dict(sorted(counts.items())),
        "rate": [c / width for c in total],
        "mean_rate": len(times) / span,
    }


def pareto_axes(index: CampaignIndex) -> list[str]:
    """What a Pareto view can plot: the metrics, then the features that are not also
    metrics (a problem's objectives may be either, as the strategies read them: AutoNumerics
    minimises the feature log10_error and the metric ops)."""
    metrics = index.keys("metrics")
    return metrics + [f for f in index.keys("features") if f not in metrics]


def pareto_defaults(
    metrics: list[str], x: str | None, y: str | None
) -> tuple[str | None, str | None]:
    """The axes the Pareto view plots: x and y when given, else the first metrics (None,
    None with fewer than two)."""
    if len(metrics) < 2:
        return None, None
    x = x if x in metrics else metrics[0]
    y = y if y in metrics else next(m for m in metrics if m != x)
    return x, y


def pareto(
    index: CampaignIndex,
    x: str | None,
    y: str | None,
    x_dir: str = "max",
    y_dir: str = "max",
    limit: int = MAX_POINTS,
) -> dict[str, Any]:
    """The non-dominated set of correct programs on two metrics (or features: see
    ``pareto_axes``), each maximised or minimised, and a down-sampled cloud of the others."""
    metrics = pareto_axes(index)
    if len(metrics) < 2:
        return {"metrics": metrics, "x": None, "y": None, "front": [], "others": []}
    x, y = pareto_defaults(metrics, x, y)
    sx = 1.0 if x_dir != "min" else -1.0
    sy = 1.0 if y_dir != "min" else -1.0
    pts = []
    for n in index.evaluated():
        vx, vy = axis_value(n, x), axis_value(n, y)
        if n.correct and vx is not None and vy is not None:
            pts.append((float(vx), float(vy), n.id))
    # sweep: best x first; a point is on the front when its y beats every y seen before
    order = sorted(pts, key=lambda p: (-sx * p[0], -sy * p[1], p[2]))
    front, others = [], []
    best_y = -math.inf
    for p in order:
        if sy * p[1] > best_y:
            front.append(p)
            best_y = sy * p[1]
        else:
            others.append(p)
    others.sort(key=lambda p: p[2])
    return {
        "metrics": metrics,
        "x": x,
        "y": y,
        "x_dir": "min" if sx < 0 else "max",
        "y_dir": "min" if sy < 0 else "max",
        "front": [list(p) for p in downsample(front, limit)],
        "others": [list(p) for p in downsample(others, limit)],
        "total": len(pts),
    }


def operators(index: CampaignIndex) -> list[dict[str, Any]]:
    """What each operator did (db/operator_stats.py), from the index's nodes and the
    aggregated LLM usage: no program is read again."""

    def build() -> list[dict[str, Any]]:
        models = index.storage.program_models(index.campaign_id)
        made = [
            Made(n.id, n.operator, n.status, n.correct, n.score, n.eval_seq,
                 n.parents[0] if n.parents else None, models.get(n.id))
            for n in index.nodes
        ]  # fmt: skip
        return operator_stats(made, index.storage.llm_usage(index.campaign_id))

    return index.cached("operators", build)


def llm_spend(index: CampaignIndex) -> dict[str, Any]:
    """LLM calls, tokens and cost by model and by the operator of the program they made,
    from Storage.llm_usage (aggregated by the database: no prompt or response is read)."""

    def build() -> dict[str, Any]:
        fields = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")

        def empty() -> dict[str, Any]:
            return {"calls": 0, "cost_usd": 0.0, "latency_s": 0.0, **dict.fromkeys(fields, 0)}

        by_model: dict[str, dict[str, Any]] = defaultdict(empty)
        by_operator: dict[str, dict[str, Any]] = defaultdict(empty)
        total = empty()
        outcomes: Counter[str] = Counter()
        for row in index.storage.llm_usage(index.campaign_id):
            for bucket in (by_model[row["model"]], by_operator[row["operator"]], total):
                for f in ("calls", "cost_usd", "latency_s", *fields):
                    bucket[f] += row[f]
            outcomes[row["outcome"]] += row["calls"]
        return {
            "total": total,
            "by_model": dict(sorted(by_model.items())),
            "by_operator": dict(sorted(by_operator.items())),
            "outcomes": dict(outcomes),
        }

    return index.cached("llm", build)
