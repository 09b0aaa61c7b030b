"""The campaign's operators: which ones run (the campaign's weights, else the problem's
defaults), each built with its ``operator_options`` and checked against the problem, so
that a misspelt name or setting is one clear error before anything runs."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from evolve.campaign import CampaignError
from evolve.config import DEFAULT_OPERATORS, CampaignConfig
from evolve.llm.operator import LLM_OPERATORS
from evolve.llm_proposals import LLMProposals
from evolve.operators import TREE_OPERATORS, VECTOR_OPERATORS, make_operator, operator_factory


def default_operators(problem: Any) -> Mapping[str, float]:
    """The problem's ``default_operators``; else, for a problem that tunes ``parameters``,
    the vector operators (AST edits of its PARAMS literal know no bounds); for one that
    evolves an ``expression``, the tree operators (AST edits know no language nor limits);
    else the AST operators."""
    own = getattr(problem, "default_operators", None)
    if own:
        return own
    if getattr(problem, "parameters", None):
        return VECTOR_OPERATORS
    return TREE_OPERATORS if getattr(problem, "expression", None) else DEFAULT_OPERATORS


def build_operators(
    config: CampaignConfig, problem: Any, proposals: LLMProposals
) -> tuple[dict[str, Any], list[float]]:
    """The operators with a positive weight, by name, and their weights in that order."""
    weights = config.operators or default_operators(problem)
    _check_llm_features(config, weights)
    options = config.operator_options
    for name in options:
        if name not in weights:
            raise CampaignError(
                f"operator_options.{name}: {name!r} is not one of the campaign's operators "
                f"({', '.join(weights)})"
            )
        if name in LLM_OPERATORS and options[name]:
            raise CampaignError(f"operator_options.{name}: an LLM operator is set in [llm]")
    try:
        for name, w in weights.items():  # a misspelt name is an error even at weight 0
            if not w > 0 and name not in LLM_OPERATORS:
                _genetic(name, problem, options.get(name, {}))
        operators = {
            name: _genetic(name, problem, options.get(name, {}))
            if name not in LLM_OPERATORS
            else proposals.make_operator(name)
            for name, w in weights.items()
            if w > 0
        }
    except ValueError as exc:
        raise CampaignError(str(exc)) from exc
    return operators, [weights[name] for name in operators]


def _check_llm_features(config: CampaignConfig, weights: Mapping[str, float]) -> None:
    """llm.meta and llm.novelty serve LLM proposals: turned on in a campaign that makes
    none (its operators, given or the problem's defaults), they would silently do nothing."""
    if any(weights.get(name, 0) > 0 for name in LLM_OPERATORS):
        return
    for key, on in (("meta", config.llm.meta.enabled), ("novelty", config.llm.novelty.enabled)):
        if on:
            raise CampaignError(
                f"llm.{key}.enabled: the campaign has no LLM operator (its operators: "
                f"{', '.join(n for n, w in weights.items() if w > 0)}); give llm_diff or "
                f"llm_rewrite a weight (--set operators.llm_diff=0.5) or leave llm.{key} off"
            )


def _genetic(name: str, problem: Any, options: Mapping[str, Any]) -> Any:
    """A genetic operator built with its ``operator_options``; a setting it does not take
    is one line naming the ones it does, and so is a problem it cannot work on
    (``check_problem``: vector_mutate on a problem without parameters)."""
    try:
        operator = make_operator(name, problem, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        factory = operator_factory(name, problem)
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        known = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.kind in named and not p.name.startswith("_")
        ]
        raise CampaignError(
            f"operator_options.{name}: {exc.args[0].rpartition(' ')[2]} is not a setting of "
            f"{name}; its settings: {', '.join(known) or 'none'}"
        ) from None
    check = getattr(operator, "check_problem", None)
    if check is not None:  # e.g. vector_mutate on a problem without parameters
        check(problem)
    return operator
