"""Spot policies: the leaderboard's greedy initial programs and Uniform Progress (NSDI'24).

Every program is a complete module defining ``decide(s)``; the evolved part sits between
the EVOLVE-BLOCK markers. ``s`` is a ``spot_harness.PolicyView``.
"""

from __future__ import annotations

_HEADER = """import math

NONE, SPOT, ON_DEMAND = 0, 1, 2

# s.tick, s.gap, s.elapsed, s.deadline, s.task, s.done, s.overhead, s.remaining_overhead
# (seconds); s.has_spot (in the current region); s.cur (what runs now, NONE after a
# preemption); s.last (what ran during the previous tick); s.memory (a dict kept per run);
# multi region: s.region, s.num_regions, s.switch_region(i).

# EVOLVE-BLOCK-START
"""
_FOOTER = "# EVOLVE-BLOCK-END\n"

GREEDY = (
    _HEADER
    + '''def decide(s):
    """Greedy: spot whenever available, else wait; on-demand near the 1d/2d slack lines."""
    work_left = s.task - s.done
    if work_left <= 1e-9:
        return NONE
    left = max(0, math.floor((s.deadline - s.elapsed) / s.gap))
    need1 = math.ceil((work_left + s.overhead) / s.gap)
    need2 = math.ceil((work_left + 2 * s.overhead) / s.gap)
    if need1 >= left:
        return ON_DEMAND
    if need2 >= left:
        return SPOT if (s.cur == SPOT and s.has_spot) else ON_DEMAND
    return SPOT if s.has_spot else NONE
'''
    + _FOOTER
)

UNIFORM_PROGRESS = (
    _HEADER
    + '''def decide(s):
    """Uniform Progress (Wu et al., NSDI'24): stay on the line task * t / deadline; spot
    when available, on-demand only when behind the line; keep on-demand until a margin of
    two restart overheads is banked, and never leave on-demand close to the deadline."""
    work_left = s.task - s.done
    if work_left <= 1e-9:
        return NONE
    time_left = s.deadline - s.elapsed
    slack = time_left - work_left
    line = s.task * (s.elapsed + s.gap) / s.deadline
    behind = s.done < line
    if s.has_spot:
        if s.cur == ON_DEMAND and slack < 2 * s.overhead + s.gap:
            return ON_DEMAND
        return SPOT
    if s.cur == ON_DEMAND and s.done < line + 2 * s.overhead:
        return ON_DEMAND
    return ON_DEMAND if behind else NONE
'''
    + _FOOTER
)

GREEDY_MULTI = (
    _HEADER
    + '''def decide(s):
    """Greedy round robin: spot when available here, else move to the next region and wait;
    on-demand near the 1d/2d slack lines."""
    work_left = s.task - s.done
    if work_left <= 1e-3:
        return NONE
    left = math.floor((s.deadline - s.elapsed) / s.gap) * s.gap
    need1 = math.ceil((work_left + s.overhead) / s.gap) * s.gap
    need2 = math.ceil((work_left + 2 * s.overhead) / s.gap) * s.gap
    if need1 >= left:
        return SPOT if (s.last == SPOT and s.remaining_overhead < 1e-3) else ON_DEMAND
    if need2 >= left:
        return SPOT if (s.last == SPOT and s.has_spot) else ON_DEMAND
    if s.has_spot:
        return SPOT
    s.switch_region((s.region + 1) % s.num_regions)
    return NONE
'''
    + _FOOTER
)

UNIFORM_PROGRESS_MULTI = (
    _HEADER
    + '''def decide(s):
    """Uniform Progress with round robin: spot when available here; without spot, move to
    the next region; on-demand only when behind the progress line."""
    work_left = s.task - s.done
    if work_left <= 1e-9:
        return NONE
    time_left = s.deadline - s.elapsed
    slack = time_left - work_left
    line = s.task * (s.elapsed + s.gap) / s.deadline
    if s.has_spot:
        if s.cur == ON_DEMAND and slack < 2 * s.overhead + s.gap:
            return ON_DEMAND
        return SPOT
    if s.cur == ON_DEMAND and s.done < line + 2 * s.overhead:
        return ON_DEMAND
    if s.done < line:
        return ON_DEMAND
    s.switch_region((s.region + 1) % s.num_regions)
    return NONE
'''
    + _FOOTER
)

SINGLE_BASELINES = {"greedy": GREEDY, "uniform_progress": UNIFORM_PROGRESS}
MULTI_BASELINES = {
    "greedy_round_robin": GREEDY_MULTI,
    "uniform_progress_rr": UNIFORM_PROGRESS_MULTI,
}
