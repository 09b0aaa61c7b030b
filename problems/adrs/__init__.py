"""Problem family ``adrs``: the systems case studies of "Barbarians at the Gate" (ADRS).

Importing this package registers every problem: ``adrs.spot``, ``adrs.spot_multi``,
``adrs.eplb``, ``adrs.txn``,
``adrs.llm_sql``.
"""

from __future__ import annotations

from problems.adrs.eplb import Eplb
from problems.adrs.llm_sql import LlmSql
from problems.adrs.spot import SpotMulti, SpotSingle
from problems.adrs.txn import TxnScheduling

__all__ = ["Eplb", "LlmSql", "SpotMulti", "SpotSingle", "TxnScheduling"]
