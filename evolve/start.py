"""How a controller starts its campaign: a new one with its initial programs, or a killed or
finished one resumed from the database alone. Either way the campaign's lease is taken
before the first write (evolve/lease.py).

What a resume carries over besides the programs, all read from the campaign's events:
the budgets raised by earlier resumes (CONFIG_EVENT: Storage cannot rewrite a campaign's
config, and the events keep the history), the running time already spent (time_limit_s is
the campaign's total, see campaign_history.py), the rejection counts, and the fingerprint of the
problem's code (a resume refuses a changed problem unless told otherwise). Whether a start
can go as asked (a name not taken, a resume that can go on) is checked before a controller
is built: evolve/start_checks.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import evaluators
from db.records import CampaignRecord
from db.storage import BUDGET_KEYS, CONFIG_EVENT, LLM_BUDGET_KEY, Storage
from evaluators.registry import UnknownProblem, takes_option
from evaluators.seeds import DATA_SECRET, new_secret
from evolve.bookkeeping import Bookkeeping
from evolve.campaign import CampaignError, unique_name
from evolve.campaign_history import (
    PROBLEM_EVENT,
    running_time,
    stored_rejections,
    stored_rejections_by_operator,
)
from evolve.config import CampaignConfig
from evolve.config_checks import MAX_NAME_CHARS, ConfigError, check_name
from evolve.lease import CampaignLease
from evolve.llm_proposals import LLMProposals
from evolve.problem_checks import check_problem_output
from evolve.start_from import IMPORTED, IMPORTED_EVENT, Imports, imported_event, programs_to_import
from evolve.strategy import recorded_axes


def with_data_secret(config: CampaignConfig) -> CampaignConfig:
    """A new campaign's config with a fresh ``data_secret`` among its problem options, when
    the problem takes one and the user gave none (evaluators.seeds): its generated data is
    then drawn from seeds no candidate can know. Stored with the config, so resumes,
    workers, replays and held-out runs rebuild the same data."""
    options = dict(config.problem_options)
    if DATA_SECRET in options or not takes_option(config.problem, DATA_SECRET):
        return config
    return dataclasses.replace(config, problem_options={**options, DATA_SECRET: new_secret()})


def with_rng_scheme(config: CampaignConfig) -> CampaignConfig:
    """A new campaign's config with the current way of seeding its draws (unless the user
    chose one): stored with it, so its resumes, replays and forks draw as it did."""
    if config.rng_scheme:
        return config
    return dataclasses.replace(config, rng_scheme="per_proposal")


def create_campaign(
    storage: Storage,
    config: CampaignConfig,
    problem: Any,
    lease: CampaignLease,
    book: Bookkeeping,
    imports: Imports | None = None,
) -> CampaignRecord:
    """``imports``: the programs to start from besides the initial ones (a replay passes
    its source's); by default those ``config.start_from`` names."""
    candidates = problem.initial_programs()
    check_problem_output(config.problem, problem, candidates)  # before anything is written
    if imports is None:
        imports = programs_to_import(storage, config, candidates)
    name = config.name or unique_name(storage, _name_stem(config.problem, problem))
    campaign = storage.create_campaign(
        name, config.problem, {**config.to_dict(), "name": name}, config.seed
    )
    lease.acquire(campaign.id, campaign.name)
    store_start(storage, campaign.id, config, problem, book, candidates, imports=imports)
    return campaign


def _name_stem(target: str, problem: Any) -> str:
    """What a default campaign name starts with: a problem file's NAME where it has a
    usable one (else the file's name), a registered problem's name."""
    name = getattr(problem, "name", "") if target.endswith(".py") else ""
    name = name[: MAX_NAME_CHARS - 24]  # room for the time and a count
    try:
        check_name(name)
    except ConfigError:
        return target
    return name.replace("/", "_") or target


def store_start(
    storage: Storage,
    campaign_id: int,
    config: CampaignConfig,
    problem: Any,
    book: Bookkeeping,
    candidates: Sequence[Any],
    started_event: bool = True,
    imports: Imports | None = None,
) -> None:
    """The "started" event, the initial programs and those imported from another
    campaign: what a new campaign writes after its row, and a resume writes when a kill
    (or Ctrl-C) came between the two. One transaction: a kill between two initial
    programs would otherwise leave a campaign that resumes with only some of them (the
    resume stores them only when there are none)."""
    book.program_count = 0
    with storage.transaction():
        if started_event:
            _add_started(storage, campaign_id, config, problem)
        for candidate in candidates:
            # Submitted by the run, with everything else still pending.
            program = book.store(campaign_id, candidate.code, candidate.genome, 0, 0, "initial", ())
            if program is not None and book.initial is None:
                book.initial = program
        if imports is not None:
            stored = []
            for item in imports.programs:
                code = item.candidate.code
                if book.seen(code):  # an initial program (or one imported twice): once
                    continue
                program = book.store(campaign_id, code, item.candidate.genome, 0, 0, IMPORTED, ())
                if program is not None:
                    stored.append((program.id, item))
            storage.add_event(campaign_id, IMPORTED_EVENT, imported_event(imports, stored))


def _add_started(storage: Storage, campaign_id: int, config: CampaignConfig, problem: Any) -> None:
    started = {"config": config.to_dict(), "problem_files": problem_files(config.problem, problem)}
    objectives = getattr(problem, "objectives", ()) or ()
    if objectives:  # for readers that cannot load the problem (the dashboard's Pareto view)
        started["objectives"] = [[str(name), str(sense)] for name, sense in objectives]
    axes = getattr(problem, "feature_axes", ()) or ()
    if axes:  # the same, for the dashboard's MAP-Elites grid: the cells the search used
        started["feature_axes"] = recorded_axes(axes)
    storage.add_event(campaign_id, "started", started)


def resume_campaign(
    storage: Storage,
    name: str,
    lease: CampaignLease,
    book: Bookkeeping,
    proposals: LLMProposals,
    config: CampaignConfig | None = None,
    problem: Any = None,
    allow_changed_problem: bool = False,
) -> CampaignRecord:
    """Resume ``name`` with ``config`` (its stored one, budgets possibly raised: they are
    written as a CONFIG_EVENT, so a later resume keeps them)."""
    campaign = storage.get_campaign(name)
    if campaign is None:
        raise CampaignError(f"no campaign named {name!r} (see `evolve status`)")
    changed = changed_problem_files(storage, campaign.id)
    if changed and not allow_changed_problem:
        raise CampaignError(
            f"the problem changed since campaign {campaign.name} started ({', '.join(changed)}); "
            "continue it anyway with --allow-changed-problem, or start a new campaign"
        )
    lease.acquire(campaign.id, campaign.name)
    if config is not None:  # first: a crash during the replay must not lose them
        budgets = budget_changes(storage.current_config(campaign), config)
        if budgets:
            storage.add_event(campaign.id, CONFIG_EVENT, budgets)
        if changed and problem is not None:
            files = problem_files(config.problem, problem)
            storage.add_event(campaign.id, PROBLEM_EVENT, {"problem_files": files})
    programs = storage.program_hashes(campaign.id)  # not the programs: a night holds 100,000s
    if not programs and config is not None and problem is not None:
        # killed after the campaign's row was written, before its initial programs were:
        # store them now (a resume would otherwise end it as "initial_failed")
        candidates = problem.initial_programs()
        check_problem_output(config.problem, problem, candidates)
        imports = programs_to_import(storage, config, candidates)
        started = not storage.events(campaign.id, "started")
        store_start(storage, campaign.id, config, problem, book, candidates, started, imports)
        programs = storage.program_hashes(campaign.id)
    events = storage.events(campaign.id)
    book.rejections.update(stored_rejections(events))
    book.rejected_by_operator = stored_rejections_by_operator(events)
    book.program_count = len(programs)
    for _id, _operator, chash, ahash in programs:
        book.hashes.update((chash, ahash))
    first = next((pid for pid, operator, _, _ in programs if operator == "initial"), None)
    if book.initial is None and first is not None:
        book.initial = storage.get_program(first)
    times = replay_history(storage, campaign.id, book, proposals)
    book.elapsed_before = running_time(storage, campaign.id, events, times)
    lease.keep()
    storage.set_campaign_status(campaign.id, "running")
    resumed: dict[str, Any] = {"evaluated": book.evaluated}
    if config is not None:  # this run's, for replay: several workers interleave results
        resumed["workers"] = config.workers
    storage.add_event(campaign.id, "resumed", resumed)
    return campaign


def replay_history(
    storage: Storage, campaign_id: int, book: Bookkeeping, proposals: LLMProposals
) -> list[datetime]:
    """Tell the strategy the recorded evaluations in order and rebuild the bandit's
    arms and the LLM spend from llm_calls: the same updates, in the same order, as the
    live run made (failed proposals are settled after the evaluation count they were
    stored at). Returns the evaluations' times, sorted (running_time's, read once)."""
    p = proposals
    calls = storage.llm_calls(campaign_id) if p.llm or p.op_bandit else []
    p.rebuild(calls)
    p.settle_replayed(0)
    times = []
    for program in storage.evaluated_in_order(campaign_id):
        book.absorb(program)
        p.settle_replayed(book.evaluated)
        if program.evaluated_at is not None:
            times.append(program.evaluated_at)
    times.sort()
    return times


# -- the configuration as it stands (Storage.current_config) ---------------------------------
def budget_changes(stored: Mapping[str, Any], config: CampaignConfig) -> dict[str, Any]:
    # a campaign stored before a key existed has that key's default
    defaults = {f.name: f.default for f in dataclasses.fields(CampaignConfig)}
    changes = {
        k: getattr(config, k)
        for k in BUDGET_KEYS
        if stored.get(k, defaults[k]) != getattr(config, k)
    }
    if (stored.get("llm") or {}).get("budget_usd", 0.0) != config.llm.budget_usd:
        changes[LLM_BUDGET_KEY] = config.llm.budget_usd
    return changes


# -- the problem ----------------------------------------------------------------------------
def problem_error(problem: str, exc: Exception) -> str:
    """One line naming the problem and the exception; the registry's own errors (an unknown
    name, a bad option, a missing file) already say what is wrong and pass unchanged."""
    if isinstance(exc, UnknownProblem) or _raised_in(exc, _EVALUATORS):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"problem {problem!r} could not be built: {type(exc).__name__}: {text}"


_EVALUATORS = os.path.dirname(evaluators.__file__) + os.sep


def _raised_in(exc: BaseException, directory: str) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in ``directory``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(directory)


# -- the problem's fingerprint --------------------------------------------------------------
def problem_files(target: str, problem: Any) -> dict[str, str]:
    """{path: sha256} of the file that defines the problem: the single file, or the module
    of the problem's class (cheap to find; a package's other modules are not followed)."""
    path = target if target.endswith(".py") else _source_file(type(problem))
    digest = _sha256(path) if path else None
    return {path: digest} if path and digest else {}


def changed_problem_files(storage: Storage, campaign_id: int) -> list[str]:
    """The problem's files whose content differs from the fingerprint stored when the
    campaign started (or last resumed with --allow-changed-problem); [] when none was
    stored (a campaign started before fingerprints, a fork)."""
    stored: Mapping[str, Any] = {}
    for kind in ("started", PROBLEM_EVENT):
        for event in storage.events(campaign_id, kind):
            files = event.payload.get("problem_files")
            if isinstance(files, Mapping):
                stored = files
    return [path for path, digest in stored.items() if _sha256(path) != digest]


def _source_file(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except TypeError:  # a built-in class
        return None


def _sha256(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
