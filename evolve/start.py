"""How a controller starts its campaign: a new one with its initial programs, or a killed or
finished one resumed from the database alone. Either way the campaign's lease is taken
before the first write (evolve/lease.py)."""

from __future__ import annotations

from typing import Any

from db.records import CampaignRecord
from db.storage import Storage
from evolve.bookkeeping import Bookkeeping
from evolve.campaign import CampaignError, unique_name
from evolve.config import CampaignConfig
from evolve.lease import CampaignLease
from evolve.llm_proposals import LLMProposals


def create_campaign(
    storage: Storage, config: CampaignConfig, problem: Any, lease: CampaignLease, book: Bookkeeping
) -> CampaignRecord:
    name = config.name or unique_name(storage, config.problem)
    campaign = storage.create_campaign(
        name, config.problem, {**config.to_dict(), "name": name}, config.seed
    )
    lease.acquire(campaign.id, campaign.name)
    storage.add_event(campaign.id, "started", {"config": config.to_dict()})
    book.program_count = 0
    for candidate in problem.initial_programs():
        # Submitted by the run, with everything else still pending.
        program = book.store(campaign.id, candidate.code, candidate.genome, 0, 0, "initial", ())
        if program is not None and book.initial is None:
            book.initial = program
    return campaign


def resume_campaign(
    storage: Storage, name: str, lease: CampaignLease, book: Bookkeeping, proposals: LLMProposals
) -> CampaignRecord:
    campaign = storage.get_campaign(name)
    if campaign is None:
        raise CampaignError(f"no campaign named {name!r} (see `evolve status`)")
    lease.acquire(campaign.id, campaign.name)
    programs = storage.programs(campaign.id)
    book.program_count = len(programs)
    for program in programs:
        book.hashes.update((program.code_hash, program.ast_hash))
        if book.initial is None and program.operator == "initial":
            book.initial = program
    replay_history(storage, campaign.id, book, proposals)
    lease.keep()
    storage.set_campaign_status(campaign.id, "running")
    storage.add_event(campaign.id, "resumed", {"evaluated": book.evaluated})
    return campaign


def replay_history(
    storage: Storage, campaign_id: int, book: Bookkeeping, proposals: LLMProposals
) -> None:
    """Tell the strategy the recorded evaluations in order and rebuild the bandit's
    arms and the LLM spend from llm_calls: the same updates, in the same order, as the
    live run made (failed proposals are settled after the evaluation count they were
    stored at)."""
    p = proposals
    calls = storage.llm_calls(campaign_id) if p.llm or p.op_bandit else []
    p.rebuild(calls)
    p.settle_replayed(0)
    for program in storage.evaluated_in_order(campaign_id):
        book.absorb(program)
        p.settle_replayed(book.evaluated)
