"""The novelty gate's local method (evolve/llm/similarity.py) on real programs: binpack's
heuristics and near-copies of them; the junk checks of embedding replies."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from db.records import ProgramRecord
from evolve.llm.embeddings import check, decode, encode
from evolve.llm.novelty import NoveltyGate, retry_messages
from evolve.llm.novelty_config import NoveltyConfig
from evolve.llm.novelty_judge import verdict
from evolve.llm.similarity import same_tokens, token_similarity
from problems.binpack.programs import BEST_FIT, FIRST_FIT, WORST_FIT

TUNED = BEST_FIT.replace("score = -remaining", "score = -remaining - 0.0951254 * bins")


def test_a_renamed_or_reformatted_copy_scores_exactly_one() -> None:
    renamed = BEST_FIT.replace("remaining", "slack").replace("score", "s")
    assert renamed != BEST_FIT and token_similarity(BEST_FIT, renamed) == 1.0
    # the parameters too, everywhere they are used
    params = BEST_FIT.replace("item", "size").replace("bins", "caps")
    assert token_similarity(BEST_FIT, params) == 1.0
    comments = BEST_FIT.replace("    return score", "    # the best bin\n\n    return  score")
    assert token_similarity(BEST_FIT, comments) == 1.0


def test_real_changes_score_below_one() -> None:
    tuned = token_similarity(BEST_FIT, TUNED)
    constant = token_similarity(TUNED, TUNED.replace("0.0951254", "0.12"))
    builtin = token_similarity(
        "def f(a, b):\n    return min(a, b)\n", "def f(a, b):\n    return max(a, b)\n"
    )
    attribute = token_similarity(FIRST_FIT, FIRST_FIT.replace("np.arange", "np.ones"))
    for value in (tuned, constant, builtin, attribute):
        assert value < 1.0
    # another heuristic is further away than a tuned copy
    assert token_similarity(BEST_FIT, WORST_FIT) < tuned
    assert token_similarity(BEST_FIT, FIRST_FIT) < 0.8


def test_text_that_is_not_python_is_still_compared() -> None:
    c = "int f(int x) { return x * 2; }"
    assert token_similarity(c, c.replace("2", "3")) < 1.0
    assert token_similarity(c, c + "  ") == 1.0


def _program(pid: int, code: str) -> ProgramRecord:
    now = datetime.now(UTC)
    return ProgramRecord(
        pid, 1, code, None, str(pid), str(pid), 0, 0, "initial", "evaluated", now,
        score=1.0 - pid / 10, correct=True,
    )  # fmt: skip


class _Request:
    proposal, attempt = 1, 1
    parent = None


@pytest.mark.parametrize("threshold", [0.0, 0.97])
def test_the_gate_rejects_the_copy_and_names_the_program(threshold: float) -> None:
    gate = NoveltyGate(NoveltyConfig(enabled=True, threshold=threshold), prices=None)
    population = (_program(1, BEST_FIT), _program(2, FIRST_FIT))
    copy = gate.check(BEST_FIT.replace("remaining", "left"), population, _Request(), None)
    assert copy.rejected and copy.nearest == 1 and copy.similarity == 1.0
    assert "program 1" in copy.detail and "tokens similarity 1.0000" in copy.detail
    change = gate.check(WORST_FIT, population, _Request(), None)
    assert not change.rejected and change.similarity < 0.97


def test_embedding_junk_is_refused() -> None:
    ok, why = check([{"index": 0, "embedding": [0.1, 0.2]}], 1)
    assert not why and len(ok) == 1
    assert "2 inputs" in check([{"embedding": [0.1]}], 2)[1]
    assert "finite" in check([{"embedding": [math.nan, 1.0]}], 1)[1]
    assert "empty" in check([{"embedding": []}], 1)[1]
    assert "zero" in check([{"embedding": [0.0, 0.0]}], 1)[1]
    assert "dimensions" in check([{"embedding": [1.0]}, {"embedding": [1.0, 2.0]}], 2)[1]
    assert "0 embeddings" in check([], 1)[1]


def test_vectors_round_trip_as_stored() -> None:
    vector = np.asarray([0.1, -2.5, 3e-8], dtype="<f4")
    assert np.array_equal(decode(encode(vector)), vector)


def test_retry_notes_do_not_pile_up() -> None:
    messages = ({"role": "system", "content": "s"}, {"role": "user", "content": "parent"})
    once = retry_messages(messages, "a near-copy of program 7: tokens similarity 1.0000")
    twice = retry_messages(once, "a near-copy of program 9: tokens similarity 0.9990")
    assert once[-1]["content"].startswith("parent\n\nYour previous reply")
    assert twice[-1]["content"].count("Your previous reply") == 1
    assert "tokens similarity 0.9990" in twice[-1]["content"]
    assert "program 9" not in twice[-1]["content"]  # a replay's ids differ


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("Only a rename.\nNOT_NOVEL", "not_novel"),  # the word the prompt asks for
        ("It is NOT NOVEL", "not_novel"),
        ("**Not-Novel**", "not_novel"),
        ("A new idea.\nNOVEL", "novel"),
        ("At first NOT_NOVEL, but on reflection:\nNOVEL", "novel"),  # the last one stands
        ("I cannot tell.", "unclear"),
        ("Verdict: **NOVEL**", "novel"),
        ("This is not a novel idea.", "unclear"),  # "novel" in a sentence lets nothing by
        ("NOVEL\nthough it is not a novel idea", "unclear"),  # the last line decides
        ("NOVEL\nOn reflection it is the same.", "unclear"),
        ("", "unclear"),
    ],
)
def test_the_judge_can_refuse(reply: str, expected: str) -> None:
    assert verdict(reply) == expected


def test_the_fast_equality_is_the_similarity_of_one() -> None:
    programs = [BEST_FIT, FIRST_FIT, WORST_FIT, TUNED]
    variants = programs + [BEST_FIT.replace("remaining", "r"), TUNED.replace("0.09", "0.08")]
    for a in programs:
        for b in variants:
            assert same_tokens(a, b) == (token_similarity(a, b) == 1.0)


def test_the_comparison_set_is_the_parent_then_the_best_bounded() -> None:
    from types import SimpleNamespace

    from evolve.llm.novelty import comparison

    a, b, c, d = (_program(i, f"x = {i}\n") for i in (1, 2, 3, 4))
    islands = [
        SimpleNamespace(archive=[a, b], grid={(0,): b, (1,): c}),
        SimpleNamespace(archive=[d], grid={(0,): d}),
    ]
    strategy = SimpleNamespace(islands=islands)
    island = NoveltyConfig(enabled=True, max_compare=3)
    assert [p.id for p in comparison(strategy, 0, c, island)] == [3, 1, 2]  # parent first
    everywhere = NoveltyConfig(enabled=True, compare="population")
    assert [p.id for p in comparison(strategy, 0, c, everywhere)] == [3, 1, 2, 4]
    aging = SimpleNamespace(population=[d, b])  # regularized evolution
    assert [p.id for p in comparison(aging, 0, a, everywhere)] == [1, 2, 4]
