"""The two proxy tasks, built from the stdlib corpus, and their splits.

- clone detection (BigCloneBench-like): each anchor function gives one positive pair
  (the function, a semantics-preserving rewrite of it) and one negative pair (the
  function, a rewrite of another function: from the same module half of the time). Both
  sides of every pair are compared as text, the second always in ``ast.unparse`` form, so
  the formatting says nothing about the label;
- module classification (POJ-104-like): predict the top-level stdlib module of a function,
  among the ``classes`` modules with the most functions.

Splits are by anchor function (no function appears in two splits); the training part is
halved as in Compressor: ``labelled`` trains the teacher, ``unlabelled`` (labels never
used) is where the student learns from the teacher's logits.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from problems.compression.corpus import Function
from problems.compression.rewrites import rewrite

SPLITS = ("labelled", "unlabelled", "valid", "test")


@dataclass(frozen=True)
class Example:
    texts: tuple[str, ...]  # one function (classification) or two (clone detection)
    label: int


def normalise(code: str) -> str:
    """Compressor's input form: lower case, whitespace runs collapsed."""
    return re.sub(r"\s+", " ", code).strip().lower()


def _split(items: list, fractions: Sequence[float], rng: random.Random) -> dict[str, list]:
    items = list(items)
    rng.shuffle(items)
    out, start = {}, 0
    for name, frac in zip(SPLITS, fractions, strict=True):
        stop = start + round(frac * len(items))
        out[name] = items[start:stop]
        start = stop
    out[SPLITS[-1]].extend(items[start:])
    return out


def _pairs(f: Function, pool, by_module, rng: random.Random) -> list[Example]:
    """The positive (f vs a rewrite of f) and the negative (f vs a rewrite of another
    function, from f's module half of the time) of anchor ``f``."""
    out = [Example((normalise(f.source), normalise(rewrite(f.source, rng))), 1)]
    same = [g for g in by_module[f.module] if g.source != f.source]
    others = same if same and rng.random() < 0.5 else pool
    g = rng.choice(others)
    while g.source == f.source:
        g = rng.choice(pool)
    out.append(Example((normalise(f.source), normalise(rewrite(g.source, rng))), 0))
    return out


def clone_pairs(
    functions: Sequence[Function],
    count: int,
    seed: int = 0,
    fractions: Sequence[float] = (0.35, 0.35, 0.1, 0.2),
    extra_unlabelled: int = 0,
) -> dict[str, list[Example]]:
    """``count`` anchors (two pairs each), split by anchor.

    ``extra_unlabelled``: that many more anchors, drawn from the functions that are no
    split's anchor, add their pairs to the unlabelled half only (more data for the teacher
    to label; the student never sees their labels). A separate random stream: the four
    splits of the ``count`` anchors are the same with or without them."""
    rng = random.Random(seed)
    pool = list(functions)
    anchors = rng.sample(pool, min(count, len(pool)))
    by_module: dict[str, list[Function]] = {}
    for f in pool:
        by_module.setdefault(f.module, []).append(f)
    out: dict[str, list[Example]] = {}
    for split, group in _split(anchors, fractions, rng).items():
        examples = [e for f in group for e in _pairs(f, pool, by_module, rng)]
        rng.shuffle(examples)
        out[split] = examples
    if extra_unlabelled > 0:
        extra_rng = random.Random(f"{seed}:unlabelled")
        used = {f.source for f in anchors}
        rest = [f for f in pool if f.source not in used]
        extra = extra_rng.sample(rest, min(extra_unlabelled, len(rest)))
        more = [e for f in extra for e in _pairs(f, pool, by_module, extra_rng)]
        extra_rng.shuffle(more)
        out["unlabelled"] = out["unlabelled"] + more
    return out


def module_classification(
    functions: Sequence[Function],
    count: int,
    classes: int = 10,
    seed: int = 0,
    fractions: Sequence[float] = (0.35, 0.35, 0.1, 0.2),
) -> tuple[dict[str, list[Example]], list[str]]:
    """``count`` functions of the ``classes`` largest modules; returns splits and names."""
    rng = random.Random(seed)
    names = [m for m, _ in Counter(f.module for f in functions).most_common(classes)]
    index = {m: k for k, m in enumerate(names)}
    chosen = [f for f in functions if f.module in index]
    chosen = rng.sample(chosen, min(count, len(chosen)))
    splits = _split(chosen, fractions, rng)
    return {
        split: [Example((normalise(f.source),), index[f.module]) for f in group]
        for split, group in splits.items()
    }, names
