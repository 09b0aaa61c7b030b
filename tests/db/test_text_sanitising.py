"""Texts and numbers that the backends refuse are made storable when written (db.sanitise):
a lone UTF-16 surrogate (SQLite and PostgreSQL refuse it) and NUL (PostgreSQL refuses it)
become U+FFFD on every backend; an endpoint's LLM usage numbers (10**30, NaN, -5, "x")
become sane ones. Before, each of these crashed the campaign at the insert, and resume
crashed again on the same pending program."""

from __future__ import annotations

import dataclasses
import math

import pytest
from _dbtest_helpers import add, stage

from db.records import PARENT
from db.sanitise import (
    MAX_AMOUNT,
    MAX_TOKENS,
    amount,
    storable_json,
    storable_text,
    token_count,
)
from db.sql import SQLStorage

SUR, NUL, FFFD = "\ud800", "\x00", "\ufffd"
EMOJI_PAIR = "\ud83d\ude00"  # a valid pair held as two code points: one character


@pytest.fixture
def camp(storage: SQLStorage) -> int:
    return storage.create_campaign("c1", "toy.sum", {"pop": 10}, seed=7).id


# -- the functions ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("plain ascii", "plain ascii"),
        ("", ""),
        ("é ü 😀 ok", "é ü 😀 ok"),
        (f"a{NUL}b", f"a{FFFD}b"),
        (f"a{SUR}b", f"a{FFFD}b"),
        ("\udfff" + "\ud83d", FFFD + FFFD),  # lone low, lone high
        (f"x{EMOJI_PAIR}y", "x😀y"),
        (f"é{NUL}{SUR}", f"é{FFFD}{FFFD}"),
    ],
)
def test_storable_text(raw: str, stored: str) -> None:
    assert storable_text(raw) == stored
    stored.encode("utf-8")  # encodable


def test_storable_text_keeps_a_clean_value() -> None:
    text = "plain" * 100
    assert storable_text(text) is text
    wide = "é" * 100
    assert storable_text(wide) is wide


def test_storable_json() -> None:
    clean = {"a": [1, 2.5, "x", None, True], "b": {"c": "d"}}
    assert storable_json(clean) is clean
    dirty = {f"k{SUR}": [f"v{NUL}", 1, ("t", SUR)], "n": {NUL: {"x": SUR}}, 3: "ok"}
    assert storable_json(dirty) == {
        f"k{FFFD}": [f"v{FFFD}", 1, ["t", FFFD]],
        "n": {FFFD: {"x": FFFD}},
        3: "ok",
    }
    assert dirty[f"k{SUR}"][0] == f"v{NUL}"  # the caller's value is not changed


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (12, 12),
        (12.9, 12),
        ("12", 12),
        (10**30, MAX_TOKENS),
        (1e308, MAX_TOKENS),
        (-5, 0),
        (-1e308, 0),
        (math.nan, 0),
        (math.inf, 0),
        (None, 0),
        (True, 0),
        ("junk", 0),
        ([1], 0),
        ({"n": 1}, 0),
    ],
)
def test_token_count(raw: object, stored: int) -> None:
    assert token_count(raw) == stored and type(token_count(raw)) is int


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (0.25, 0.25),
        (3, 3.0),
        (1e308, MAX_AMOUNT),
        (10**400, MAX_AMOUNT),
        (-1.0, 0.0),
        (math.nan, 0.0),
        (math.inf, 0.0),
        (-math.inf, 0.0),
        (None, 0.0),
        ("x", 0.0),
    ],
)
def test_amount(raw: object, stored: float) -> None:
    assert amount(raw) == stored and type(amount(raw)) is float


# -- every backend ----------------------------------------------------------------------
def test_evaluation_with_surrogates_and_nul_is_recorded(storage: SQLStorage, camp: int) -> None:
    p = add(storage, camp, 1)
    st = stage(
        feedback=f"RuntimeError: {SUR} then {NUL} end",
        metrics={"score": 1.0, f"m{SUR}": 2.0, f"n{NUL}": 3.0},
        features={f"f{NUL}": 0.5},
        outcome=f"ok{NUL}",
    )
    st = dataclasses.replace(st, artifacts={f"log{NUL}": f"out {SUR} {NUL}"})
    assert storage.record_evaluation(p.id, [st], worker=f"w{SUR}", attempt=1)

    (ev,) = storage.evaluations(p.id)
    assert ev.feedback == f"RuntimeError: {FFFD} then {FFFD} end"
    assert dict(ev.metrics) == {"score": 1.0, f"m{FFFD}": 2.0, f"n{FFFD}": 3.0}
    assert dict(ev.features) == {f"f{FFFD}": 0.5}
    assert dict(ev.artifacts) == {f"log{FFFD}": f"out {FFFD} {FFFD}"}
    assert (ev.outcome, ev.worker) == (f"ok{FFFD}", f"w{FFFD}")
    prog = storage.get_program(p.id)
    assert prog is not None and prog.eval_seq == 1
    assert prog.feedback == ev.feedback and dict(prog.metrics) == dict(ev.metrics)
    assert storage.program_keys(camp, "metrics") == sorted(ev.metrics)
    # a resume finds nothing pending: the program is not evaluated (and crashed) again
    assert storage.programs(camp, status="pending") == []


def test_program_code_and_genome_with_surrogates_and_nul(storage: SQLStorage, camp: int) -> None:
    code = f"def f():\n    return '{NUL}' + '{SUR}' + '{EMOJI_PAIR}'\n"
    p = add(storage, camp, 1, code=code, genome={"g": [f"x{SUR}", NUL]}, operator=f"op{SUR}")
    want = f"def f():\n    return '{FFFD}' + '{FFFD}' + '😀'\n"
    assert p.code == want and p.genome == {"g": [f"x{FFFD}", FFFD]}
    got = storage.get_program(p.id)
    assert got is not None
    assert (got.code, got.genome, got.operator) == (want, p.genome, f"op{FFFD}")
    child = add(storage, camp, f"2{NUL}", edges=[(p.id, PARENT)])
    assert child.code_hash == f"c2{FFFD}"
    assert storage.find_by_hash(camp, f"c2{NUL}", "") == child.id  # looked up as stored


def test_llm_call_with_bad_text_and_usage_is_stored(storage: SQLStorage, camp: int) -> None:
    call = {
        "model": f"m{SUR}",
        "prompt": f"p{NUL}",
        "response": f'{{"x": "\\ud83d"}} -> \ud83d and {NUL}',
        "finish_reason": "\ud83d",
        "detail": f"d{NUL}",
        "request_id": f"r{SUR}",
        "outcome": "ok",
        "prompt_tokens": 10**30,
        "completion_tokens": math.nan,
        "reasoning_tokens": -5,
        "cached_tokens": "junk",
        "cost_usd": math.inf,
        "latency_s": math.nan,
    }
    rec = storage.add_llm_call(camp, call)
    child = add(storage, camp, 1, llm_call=dict(call, prompt_tokens=1e308, cost_usd=1e308))
    first, second = storage.llm_calls(camp)
    assert first == rec
    assert first.response == f'{{"x": "\\ud83d"}} -> {FFFD} and {FFFD}'
    assert (first.model, first.prompt, first.finish_reason) == (f"m{FFFD}", f"p{FFFD}", FFFD)
    assert (first.detail, first.request_id) == (f"d{FFFD}", f"r{FFFD}")
    tokens = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")
    assert [getattr(first, t) for t in tokens] == [MAX_TOKENS, 0, 0, 0]
    assert (first.cost_usd, first.latency_s) == (0.0, 0.0)
    assert second.program_id == child.id and second.response == first.response
    assert (second.prompt_tokens, second.cost_usd) == (MAX_TOKENS, MAX_AMOUNT)
    usage = storage.llm_usage(camp)  # the sums do not overflow either
    assert sum(u["calls"] for u in usage) == 2
    assert sum(u["prompt_tokens"] for u in usage) == 2 * MAX_TOKENS
    assert sum(u["cost_usd"] for u in usage) == MAX_AMOUNT
    assert storage.llm_totals(camp) == {"calls": 2, "cost_usd": MAX_AMOUNT}


def test_campaign_event_and_lease_texts(storage: SQLStorage) -> None:
    c = storage.create_campaign(f"camp{SUR}", f"prob{NUL}", {f"k{NUL}": [SUR]}, seed=1)
    assert (c.name, c.problem, dict(c.config)) == (
        f"camp{FFFD}",
        f"prob{FFFD}",
        {f"k{FFFD}": (FFFD,)},
    )
    assert storage.get_campaign(f"camp{SUR}") == c == storage.get_campaign(c.id)
    storage.add_event(c.id, f"note{NUL}", {"error": f"boom {SUR}", f"k{NUL}": {"n": NUL}})
    (ev,) = storage.events(c.id)
    assert ev.kind == f"note{FFFD}"
    assert ev.payload == {"error": f"boom {FFFD}", f"k{FFFD}": {"n": FFFD}}
    owner = f"host{SUR}:1:2"
    assert storage.acquire_lease(c.id, owner, 60.0) is None
    holder = storage.lease_holder(c.id)
    assert holder is not None and holder.owner == f"host{FFFD}:1:2"
    assert storage.renew_lease(c.id, owner, 60.0) and storage.release_lease(c.id, owner)


def test_nul_is_stored_alike_on_every_backend(storage: SQLStorage, camp: int) -> None:
    """PostgreSQL refused NUL (DataError) where SQLite stored it: now both store U+FFFD."""
    p = add(storage, camp, 1, code=f"x = '{NUL}'")
    st = stage(feedback=f"a{NUL}b", metrics={"score": 1.0, f"k{NUL}": 1.0})
    assert storage.record_evaluation(p.id, [st], worker="w", attempt=1)
    (ev,) = storage.evaluations(p.id)
    assert ev.feedback == f"a{FFFD}b" and f"k{FFFD}" in ev.metrics
    got = storage.get_program(p.id)
    assert got is not None and got.code == f"x = '{FFFD}'"


@pytest.mark.parametrize("attached", [False, True], ids=["alone", "with_program"])
@pytest.mark.parametrize(
    ("raw", "stored"),
    [(10**30, MAX_TOKENS), (1e308, MAX_TOKENS), (math.nan, 0), (-5, 0), ("junk", 0), (None, 0)],
)
def test_llm_usage_numbers_are_stored(
    storage: SQLStorage, camp: int, raw: object, stored: int, attached: bool
) -> None:
    call = {"model": "m", "outcome": "ok", "completion_tokens": raw, "cost_usd": raw}
    if attached:
        add(storage, camp, 1, llm_call=call)
    else:
        storage.add_llm_call(camp, call)
    (rec,) = storage.llm_calls(camp)
    assert rec.completion_tokens == stored
    assert rec.cost_usd == (MAX_AMOUNT if stored == MAX_TOKENS else 0.0)
