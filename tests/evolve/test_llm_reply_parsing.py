"""Reading replies: llm_rewrite takes the last python (or untagged) fenced block, CRLF
SEARCH/REPLACE blocks apply, and the repair re-prompt shows a failed reply clipped. The
campaign tests go through the real client over HTTP against the scripted server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llm_helpers import SINE, model
from llm_helpers import llm_calls as calls_of
from llm_helpers import run as run_campaign
from scripted_server import Reply, ScriptedLLM

from evolve.llm.edits import EditFailed, apply_diff, extract_rewrite, parse_diff
from evolve.llm.prompts import DEFAULTS, REPLY_CHARS, repair_messages

PARENT = (
    "import math\n"
    "# EVOLVE-BLOCK-START\n"
    "def f(x):\n"
    "    y = x * 1.0\n"
    "    return y\n"
    "# EVOLVE-BLOCK-END\n"
    "print(f(2))\n"
)
NEW_BODY = "def f(x):\n    y = x * 2.0\n    return y\n"


def fence(tag: str, code: str) -> str:
    return f"```{tag}\n{code}```\n"


# -- llm_rewrite: which fenced block ------------------------------------------------------------


def test_a_python_block_wins_over_a_longer_block_of_another_language() -> None:
    example = "example output:\n" + "0.1 0.2 0.3\n" * 20
    reply = "New code:\n" + fence("python", NEW_BODY) + "Output:\n" + fence("text", example)
    assert len(example) > len(NEW_BODY)
    assert extract_rewrite(PARENT, reply) == PARENT.replace("x * 1.0", "x * 2.0")


def test_the_last_python_block_wins_over_a_longer_earlier_one() -> None:
    old = "def f(x):\n    # the old version, with a long comment\n    y = x * 1.0\n    return y\n"
    reply = "Old:\n" + fence("python", old) + "New:\n" + fence("python", NEW_BODY)
    assert len(old) > len(NEW_BODY)
    assert extract_rewrite(PARENT, reply) == PARENT.replace("x * 1.0", "x * 2.0")


@pytest.mark.parametrize("tag", ["", "py", "Python", "python3"])
def test_untagged_and_python_spellings_count_as_python(tag: str) -> None:
    reply = fence(tag, NEW_BODY) + fence("bash", "python run.py --with many arguments here\n")
    assert extract_rewrite(PARENT, reply) == PARENT.replace("x * 1.0", "x * 2.0")


def test_without_a_python_block_the_last_block_is_taken() -> None:
    reply = fence("text", "not this\n") + fence("javascript", NEW_BODY)
    assert extract_rewrite(PARENT, reply) == PARENT.replace("x * 1.0", "x * 2.0")


def test_crlf_rewrite_replies_are_read() -> None:
    reply = ("Here:\n" + fence("python", NEW_BODY)).replace("\n", "\r\n")
    assert extract_rewrite(PARENT, reply) == PARENT.replace("x * 1.0", "x * 2.0")


# -- CRLF SEARCH/REPLACE ---------------------------------------------------------------------


def test_crlf_search_replace_blocks_apply() -> None:
    reply = (
        "Double it.\n<<<<<<< SEARCH\n    y = x * 1.0\n=======\n    y = x * 2.0\n>>>>>>> REPLACE\n"
    ).replace("\n", "\r\n")
    assert parse_diff(reply) == [("    y = x * 1.0\n", "    y = x * 2.0\n")]
    child = apply_diff(PARENT, reply)
    assert child == PARENT.replace("x * 1.0", "x * 2.0") and "\r" not in child


def test_a_crlf_reply_without_a_block_is_still_no_block() -> None:
    with pytest.raises(EditFailed) as info:
        apply_diff(PARENT, "no edit\r\nhere\r\n")
    assert info.value.reason == "no_block"


# -- the repair re-prompt ----------------------------------------------------------------------


def test_the_repair_reprompt_clips_a_huge_reply() -> None:
    first = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    huge = "x" * 2_000_000
    messages = repair_messages(DEFAULTS, first, huge, "no_block: none", "diff")
    assert messages[:2] == first
    assistant = messages[2]
    assert assistant["role"] == "assistant" and assistant["content"].startswith("x" * REPLY_CHARS)
    assert len(assistant["content"]) < REPLY_CHARS + 100
    assert f"{2_000_000 - REPLY_CHARS} more characters of this reply cut" in assistant["content"]
    template = DEFAULTS["repair"] + "\nYou said: $reply"
    shown = repair_messages({**DEFAULTS, "repair": template}, first, huge, "e", "diff")
    assert (
        len(shown[3]["content"]) < REPLY_CHARS + 2000
        and "characters of this reply cut" in (shown[3]["content"])
    )


def test_a_short_reply_is_shown_whole() -> None:
    messages = repair_messages(DEFAULTS, [], "no edit here", "no_block: none", "diff")
    assert messages[0] == {"role": "assistant", "content": "no edit here"}


# -- through a campaign --------------------------------------------------------------------------


def run(db_url: str, name: str, server: ScriptedLLM, operators: dict[str, float],
        max_evals: int = 3, **llm: Any):  # fmt: skip
    return run_campaign(
        db_url, name, {"models": [model(server)], **llm}, operators, max_evals=max_evals
    )


def test_a_huge_failed_reply_is_not_sent_back_whole(db_url: str, server) -> None:
    server.script(Reply(content="no edit " * 25_000))  # 200,000 characters, no block
    run(db_url, "huge", server, {"llm_diff": 1.0})
    repair = server.requests[1]["body"]["messages"]
    assert repair[-2]["role"] == "assistant"
    assert len(repair[-2]["content"]) < REPLY_CHARS + 100
    assert "characters of this reply cut" in repair[-2]["content"]
    calls = calls_of(db_url, "huge")
    assert (calls[0].outcome, calls[1].attempt) == ("no_block", 2)
    assert len(calls[0].response) == 200_000  # the reply itself is stored whole
    assert calls[1].prompt_tokens < 10_000  # the re-prompt did not pay for it again


def test_a_crlf_diff_makes_a_child(db_url: str, server) -> None:
    assert "    y = x * 1.0\n" in Path(SINE).read_text(), "the test relies on this line"
    reply = (
        "Double it.\n<<<<<<< SEARCH\n    y = x * 1.0\n=======\n    y = x * 2.0\n>>>>>>> REPLACE\n"
    )
    server.script(Reply(content=reply.replace("\n", "\r\n")))
    run(db_url, "crlf", server, {"llm_diff": 1.0}, repair=False, max_evals=2)
    calls = calls_of(db_url, "crlf")
    assert calls[0].outcome == "ok" and calls[0].program_id is not None


def test_rewrite_takes_the_python_block_not_the_longer_example(db_url: str, server) -> None:
    sine = Path(SINE).read_text()
    start = sine.index("# EVOLVE-BLOCK-START\n") + len("# EVOLVE-BLOCK-START\n")
    block = sine[start : sine.index("# EVOLVE-BLOCK-END")]
    new_block = block.replace("    y = x * 1.0\n", "    y = x * 2.0\n")
    assert new_block != block, "the test relies on this line of examples/sine.py"
    example = "Sample output:\n" + "0.000 0.841 0.909 0.141\n" * 40
    reply = fence("python", new_block) + fence("text", example)
    server.script(Reply(content=reply))
    run(db_url, "rewrite", server, {"llm_rewrite": 1.0}, repair=False, max_evals=2)
    calls = calls_of(db_url, "rewrite")
    assert calls[0].outcome == "ok", (calls[0].outcome, calls[0].detail)
