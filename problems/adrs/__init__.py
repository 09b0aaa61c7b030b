"""Problem family ``adrs``: the systems case studies of "Barbarians at the Gate" (ADRS).

Importing this package registers every problem: ``adrs.spot``, ``adrs.spot_multi``,
``adrs.eplb``, ``adrs.txn``,
``adrs.llm_sql``, ``adrs.cloudcast``, ``adrs.prism``.
"""

from __future__ import annotations

from problems.adrs.cloudcast import Cloudcast
from problems.adrs.eplb import Eplb
from problems.adrs.llm_sql import LlmSql
from problems.adrs.prism import PrismPlacement
from problems.adrs.spot import SpotMulti, SpotSingle
from problems.adrs.txn import TxnScheduling

__all__ = [
    "Cloudcast",
    "Eplb",
    "LlmSql",
    "PrismPlacement",
    "SpotMulti",
    "SpotSingle",
    "TxnScheduling",
]
