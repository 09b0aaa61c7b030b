"""The novelty gate: an LLM child that is a near-copy of a program the strategy holds is
rejected before any evaluation is spent on it, and the LLM is asked again.

The controller thread picks the programs a child is compared with when it prepares the
request (``comparison``: the parent first, then the island's best; a deterministic choice,
so a replay compares with the same ones). The proposal thread checks the child once the
reply is applied (``NoveltyGate.check``): its greatest similarity to them, by the local
token method (evolve/llm/similarity.py) or by embeddings from an OpenAI-compatible
``/v1/embeddings`` endpoint, against ``llm.novelty.threshold``.

Embeddings are cached by (model label, program text): a program is embedded once per
campaign. Each embedding request is an llm_calls row (operator ``novelty``, the proposal's
number, the texts as its prompt and the float32 vectors as its response), accounted and
budgeted like any LLM call; a resume refills the cache from those rows (``remember``), and
a replay answers the requests from them (evolve/recorded_backend.py).

An endpoint that fails (an error, a timeout, junk: a wrong count or dimension, NaN, zero)
never stops the campaign: the failed request is stored with its outcome, one line is
logged for each kind of failure, and that child is checked by the token method instead
(at its own default threshold). After ``OFF_AFTER`` failures in a row the endpoint is not
asked again in this run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from db.records import ProgramRecord
from evolve.llm.config import ModelConfig
from evolve.llm.embeddings import Embedded, prompt_of, response_of, vectors_of
from evolve.llm.novelty_config import DEFAULT_THRESHOLD, NoveltyConfig
from evolve.llm.novelty_judge import ask
from evolve.llm.prompts import CHARS_PER_TOKEN
from evolve.llm.similarity import same_tokens, token_similarity

NOVELTY = "novelty"  # llm_calls.operator of the gate's own requests
NEAR_DUPLICATE = "near_duplicate"  # the outcome and rejection reason of a near-copy
OFF_AFTER = 3  # embedding failures in a row after which the run uses the token method only
log = logging.getLogger("evolve.novelty")


@dataclass(frozen=True)
class Verdict:
    rejected: bool
    similarity: float  # the greatest, -1.0 when there was nothing to compare with
    nearest: int | None  # the program it is most like
    method: str  # the method that decided: "tokens" when the endpoint failed
    calls: tuple[dict[str, Any], ...] = ()  # the embedding and judge requests' rows
    judged: str = ""  # the judge's verdict (llm.novelty.judge), "" when not asked

    @property
    def detail(self) -> str:
        judged = f" (judge: {self.judged})" if self.judged else ""
        return (
            f"a near-copy of program {self.nearest}: {self.method} similarity "
            f"{self.similarity:.4f}{judged}"
        )


def comparison(
    strategy: Any, island: int, parent: ProgramRecord, config: NoveltyConfig
) -> tuple[ProgramRecord, ...]:
    """The programs a child of ``parent`` is compared with: the parent, then the best of
    its island (``compare = "island"``) or of every island, at most ``max_compare``."""
    islands = getattr(strategy, "islands", None)
    pool: list[ProgramRecord] = []
    if islands:
        chosen = islands if config.compare == "population" else [islands[island]]
        for isl in chosen:
            pool += isl.archive
            pool += [isl.grid[k] for k in sorted(isl.grid)]
    else:  # regularized evolution's population, NSGA-II's parents and children
        for name in ("population", "parents", "children"):
            pool += list(getattr(strategy, name, None) or ())
    pool.sort(key=lambda p: (-(p.score if p.score is not None else float("-inf")), p.id))
    out, seen = [parent], {parent.id}
    for program in pool:
        if len(out) >= config.max_compare:
            break
        if program.id not in seen:
            seen.add(program.id)
            out.append(program)
    return tuple(out)


class NoveltyGate:
    def __init__(self, config: NoveltyConfig, prices: Any) -> None:
        self.config = config
        self.prices = prices
        self.model: ModelConfig | None = config.embedding if config.method == "embedding" else None
        self._vectors: dict[tuple[str, str], np.ndarray] = {}  # (label, text) -> unit vector
        self._dim = 0
        self._lock = threading.Lock()
        self._failures = 0  # in a row
        self._logged: set[str] = set()
        self.off = ""  # why the endpoint is no longer asked in this run

    # -- resume ---------------------------------------------------------------------
    def remember(self, calls: Sequence[Any]) -> None:
        """Refill the cache from the stored embedding requests (a resume pays no more)."""
        if self.model is None:
            return
        for call in calls:
            if call.operator != NOVELTY or call.outcome != "ok" or call.model != self.model.label:
                continue
            try:
                texts, vectors = _loads(call.prompt), vectors_of(call.response)
            except ValueError:
                continue
            if len(texts) == len(vectors):
                for text, vector in zip(texts, vectors, strict=True):
                    self._keep(text, vector)

    # -- proposal thread ------------------------------------------------------------
    def check(self, code: str, programs: Sequence[ProgramRecord], request: Any, backend: Any):
        """The verdict on ``code``, a child of ``request`` (an LLMRequest), with the judge's
        when it is on and the similarity refuses the child."""
        verdict = self._similar(code, programs, request, backend)
        if not (verdict.rejected and self.config.judge):
            return verdict
        existing = next(p.code for p in programs if p.id == verdict.nearest)
        row = ask(backend, request, existing, code, self.prices)
        judged = row["outcome"]
        if judged not in ("novel", "not_novel", "unclear"):
            self._log(judged, f"novelty gate: the judge's request failed ({judged}: "
                      f"{row['detail'][:300]}); the similarity's refusal stands")  # fmt: skip
        calls = (*verdict.calls, row)
        return dataclasses.replace(verdict, rejected=judged != "novel", calls=calls, judged=judged)

    def _similar(self, code, programs, request, backend) -> Verdict:
        if not programs:
            return Verdict(False, -1.0, None, self.config.method)
        if self.model is not None and not self.off:
            calls, sims = self._embedding_similarities(code, programs, request, backend)
            if sims is not None:
                return self._verdict(sims, programs, "embedding", self.config.limit, calls)
            limit = DEFAULT_THRESHOLD["tokens"]
        else:
            calls, limit = (
                (),
                self.config.limit if self.model is None else DEFAULT_THRESHOLD["tokens"],
            )
        if limit >= 1.0:  # the default: only a copy up to names and layout is refused
            same = next((p for p in programs if same_tokens(code, p.code)), None)
            if same is None:  # the similarities below 1 are not needed: not computed
                return Verdict(False, -1.0, None, "tokens", tuple(calls))
            return Verdict(True, 1.0, same.id, "tokens", tuple(calls))
        sims = [token_similarity(code, p.code) for p in programs]
        return self._verdict(sims, programs, "tokens", limit, calls)

    def _verdict(self, sims, programs, method, limit, calls) -> Verdict:
        best = max(range(len(sims)), key=lambda i: (sims[i], -i))
        similarity = float(sims[best])
        return Verdict(similarity >= limit, similarity, programs[best].id, method, tuple(calls))

    def _embedding_similarities(self, code, programs, request, backend):
        assert self.model is not None
        label = self.model.label
        with self._lock:
            missing = [t for t in dict.fromkeys([code, *(p.code for p in programs)])
                       if (label, t) not in self._vectors]  # fmt: skip
        calls: list[dict[str, Any]] = []
        if missing:
            embed = getattr(backend, "embed", None)
            if embed is None:
                result = Embedded(error="no_embeddings", detail="the LLM backend cannot embed")
            else:
                result = embed(self.model, missing)
            result = self._checked(result, len(missing))
            calls.append(self._call(missing, result, request))
            if result.error:
                self._failed(result)
                return calls, None
            with self._lock:
                self._failures = 0
                for text, vector in zip(missing, result.vectors, strict=True):
                    self._keep(text, vector)
        with self._lock:
            child = self._vectors[(label, code)]
            sims = [float(np.dot(child, self._vectors[(label, p.code)])) for p in programs]
        return calls, sims

    def _checked(self, result: Embedded, count: int) -> Embedded:
        """A reply of the wrong dimension (another model behind the same name) is junk."""
        if result.error or not self._dim:
            return result
        bad = next((len(v) for v in result.vectors if len(v) != self._dim), 0)
        if not bad:
            return result
        detail = f"an embedding has {bad} dimensions, the earlier ones {self._dim}"
        return Embedded(
            prompt_tokens=result.prompt_tokens,
            latency_s=result.latency_s,
            error="bad_response",
            detail=detail,
        )

    def _keep(self, text: str, vector: np.ndarray) -> None:
        assert self.model is not None
        unit = np.asarray(vector, dtype=np.float64)
        unit = unit / np.linalg.norm(unit)
        self._dim = self._dim or len(unit)
        if len(unit) == self._dim:
            self._vectors[(self.model.label, text)] = unit

    def _failed(self, result: Embedded) -> None:
        with self._lock:
            self._failures += 1
            off = self._failures >= OFF_AFTER and not self.off
            if off:
                self.off = f"{OFF_AFTER} embedding requests in a row failed ({result.error})"
        self._log(
            result.error,
            f"novelty gate: the embedding endpoint failed ({result.error}: "
            f"{result.detail[:300]}); the child is checked by the token method instead "
            "(logged once per kind of failure)",
        )
        if off:
            log.warning(
                "novelty gate: %s; the token method checks every child for the rest of "
                "this run (fix llm.novelty.embedding, then resume)",
                self.off,
            )

    def _log(self, kind: str, line: str) -> None:
        """``line``, the first time a failure of this kind happens in the run."""
        with self._lock:
            first = kind not in self._logged
            self._logged.add(kind)
        if first:
            log.warning("%s", line)

    def _call(self, texts: list[str], result: Embedded, request: Any) -> dict[str, Any]:
        assert self.model is not None
        tokens = result.prompt_tokens
        if tokens <= 0 and not result.error:  # no usage reported: billed all the same
            tokens = sum(len(t) for t in texts) // CHARS_PER_TOKEN
        return {
            "model": self.model.label,
            "prompt": prompt_of(texts),
            "response": response_of(result.vectors) if not result.error else "",
            "prompt_tokens": tokens,
            "completion_tokens": 0,
            "cost_usd": self.prices.cost(self.model, tokens, 0, 0),
            "latency_s": result.latency_s,
            "request_id": result.request_id[:255],
            "retries": result.retries,
            "operator": NOVELTY,
            "parent_id": request.parent.id,
            "proposal": request.proposal,
            "attempt": request.attempt,
            "outcome": result.error or "ok",
            "detail": result.detail[:2000],
        }


RETRY_NOTE = (
    "\n\nYour previous reply for this program was refused before evaluation: the program "
    "it made is nearly identical to one already in the population ({how}). Propose a "
    "substantively different change, not a rewording or renaming of an existing program."
)
_HOW = re.compile(r"\w+ similarity [0-9.]+")


def retry_messages(messages: Sequence[dict[str, str]], detail: str) -> tuple[dict[str, str], ...]:
    """``messages`` with the reason of the refusal added to the last user message (the
    note of an earlier refusal replaced, so that the prompt does not grow each retry). The
    note names no program id: a replay's ids differ, and its prompts must not."""
    found = _HOW.search(detail)
    note = RETRY_NOTE.format(how=found.group(0) if found else "similar")
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            head = message.get("content", "").split(RETRY_NOTE[:40], 1)[0]
            message["content"] = head + note
            break
    return tuple(out)


def _loads(prompt: str) -> list[str]:
    import json

    texts = json.loads(prompt)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError("not a list of texts")
    return texts
