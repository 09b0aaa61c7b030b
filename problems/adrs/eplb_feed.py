"""The trusted driver of adrs.eplb's stages (``contract.Feed``): it deals the load windows.

Runs outside the candidate's process. Message i holds window i's loads, the window to plan
with; it is sent only once the plan for window i-1 is in. So when a program plans with
window i, window i+1 (what that plan is scored on) is nowhere in its process: with every
window in the harness, a program read the next one from the harness's frame and planned
with the very loads it was scored on (balancedness 0.90 against an honest 0.69). The last
window, never planned with, never leaves the trusted side.

The driver checks that each reply is a plan of the right shape and records it with the
seconds the answer took, measured here, outside the candidate's process, from the window
sent to the plan received: the program cannot forge that time (a clock of its own, work
done at import, a result line written by hand), unlike one it measures itself. The
trusted scorer judges the record.

The planning windows come in the feed's params, which the candidate's process never gets;
this module (preloaded in the sandbox, where the supervisor runs it) does not regenerate
them. The load generator is importable in the sandbox, so a program could match the window
it gets against windows regenerated from guessed seeds and find the next one; in a campaign
the seeds are keyed with a secret the sandbox cannot read (see adrs.eplb's notes).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from evaluators.contract import InvalidResult, Reply
from problems.adrs.eplb_harness import decode, plan_dtype


def deal(
    windows: Sequence[str], dtype: str, layers: int, experts: int, num_replicas: int
) -> Generator[dict[str, Any], Reply, dict[str, Any]]:
    """``problems.adrs.eplb_feed:deal``: ``windows`` are the planning windows (all but the
    last), encoded with ``eplb_harness.encode(loads, dtype)``.

    -> {"plans": [{"phy2log": ..., "logcnt": ..., "seconds": s}, ...]}, one per window,
    the arrays as the program's harness encoded them."""
    kind = plan_dtype(num_replicas)
    sizes = {"phy2log": layers * num_replicas, "logcnt": layers * experts}
    plans = []
    for i, weight in enumerate(windows):
        reply = yield {"shape": [layers, experts], "dtype": dtype, "weight": weight}
        plan = reply.value
        if not isinstance(plan, dict):
            raise InvalidResult(f"window {i}: the reply must be a plan {{phy2log, logcnt}}")
        for key, size in sizes.items():
            if decode(plan.get(key), kind, size) is None:
                raise InvalidResult(
                    f"window {i}: {key} must encode {size} integers ({kind}, base64)"
                )
        plans.append(
            {"phy2log": plan["phy2log"], "logcnt": plan["logcnt"], "seconds": reply.seconds}
        )
    return {"plans": plans}
