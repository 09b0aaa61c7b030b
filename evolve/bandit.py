"""A cost-aware UCB bandit: which operator to apply, and which model to ask.

Each arm keeps pulls, reward and cost. Its value is improvement per dollar,
``reward / (cost + pulls * eval_cost_usd)``, normalised by the best arm's value so that
it lies in [0, 1]; the arm played maximises ``value + exploration * sqrt(ln N / pulls)``.
``eval_cost_usd`` is the notional price of evaluating one child, so that operators that
cost no tokens (the genetic ones) still have a finite value. Arms never played go first.

A pull is settled when its outcome is known: a child pays reward 1 when it is the new
best of the campaign, 0.5 when it beats its parent, else 0; an LLM proposal that made no
child pays 0 and still costs its calls. The bandit's state is a pure function of rows in
the database (programs in evaluation order, and llm_calls), so a resume, a replay and a
fork rebuild it exactly, without a second copy to keep in step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Arm:
    pulls: int = 0
    reward: float = 0.0
    cost: float = 0.0


class CostAwareUCB:
    def __init__(
        self, arms: Sequence[str], exploration: float = 0.5, eval_cost_usd: float = 1e-4
    ) -> None:
        self.arms = {name: Arm() for name in arms}
        self.exploration = exploration
        self.eval_cost_usd = eval_cost_usd

    def value(self, name: str) -> float:
        arm = self.arms[name]
        if arm.pulls == 0:
            return 0.0
        return arm.reward / (arm.cost + arm.pulls * self.eval_cost_usd)

    def choose(self, rng: random.Random, allowed: Sequence[str] | None = None) -> str:
        names = [n for n in self.arms if allowed is None or n in allowed]
        if not names:
            raise ValueError("no arm to choose from")
        fresh = [n for n in names if self.arms[n].pulls == 0]
        if fresh:
            return fresh[0] if len(fresh) == 1 else rng.choice(fresh)
        values = {n: self.value(n) for n in names}
        top = max(values.values())
        total = sum(self.arms[n].pulls for n in names)
        scores = {
            n: (values[n] / top if top > 0 else 0.0)
            + self.exploration * math.sqrt(math.log(total) / self.arms[n].pulls)
            for n in names
        }
        best = max(scores.values())
        ties = [n for n in names if scores[n] >= best - 1e-12]
        return ties[0] if len(ties) == 1 else rng.choice(ties)

    def update(self, name: str, reward: float, cost: float) -> None:
        arm = self.arms.get(name)
        if arm is None:  # an arm no longer configured (a fork or resume with new settings)
            return
        arm.pulls += 1
        arm.reward += reward
        arm.cost += cost

    def state(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "pulls": arm.pulls,
                "reward": round(arm.reward, 9),
                "cost_usd": round(arm.cost, 9),
                "value": round(self.value(name), 6),
            }
            for name, arm in self.arms.items()
        }
