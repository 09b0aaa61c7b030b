"""Settings of meta recommendations (evolve/llm/meta.py): ``[llm.meta]`` in a campaign::

[llm.meta]
enabled = true
every = 20                 # a meta request each time this many more are evaluated
model = ""                 # a label of [[llm.models]]; "": the campaign's first model
top_programs = 3           # best programs shown (with their code)
improvements = 3           # most recent children that beat their parent (as a diff)
failures = 5               # recent failed evaluations (outcome, feedback's first line)
code_chars = 2000          # of each program or diff shown
max_chars = 1000           # of the insights kept and added to the mutation prompts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evolve.llm.setting_checks import check_setting, is_bool, is_int, is_str, settings_table


@dataclass(frozen=True)
class MetaConfig:
    enabled: bool = False
    # 20: a meta request (about 2,600 prompt tokens on adrs.eplb) costs about what one
    # mutation prompt does, so one per 20 adds ~5% to the spend (docs/llm.md, "Meta
    # recommendations"), and the search has changed enough between two to be worth a look.
    every: int = 20
    model: str = ""
    top_programs: int = 3
    improvements: int = 3
    failures: int = 5
    code_chars: int = 2000
    # 1000 characters (~250 tokens) are repeated in every mutation prompt: the larger part
    # of the feature's cost (~13% more input tokens on a 1,900-token eplb prompt).
    max_chars: int = 1000

    @classmethod
    def from_dict(cls, data: Any) -> MetaConfig:
        if isinstance(data, MetaConfig):
            return data
        return cls(**settings_table(data, cls, "llm.meta"))

    def validate(self, labels: tuple[str, ...]) -> None:
        """``labels``: the campaign's model labels (``model`` must name one of them)."""

        def count(key: str, low: int) -> None:
            check_setting(f"llm.meta.{key}", getattr(self, key), is_int, f"an integer >= {low}",
                   lambda v: v >= low)  # fmt: skip

        check_setting("llm.meta.enabled", self.enabled, is_bool, "true or false")
        count("every", 1)
        check_setting("llm.meta.model", self.model, is_str, "a model label (a string)")
        if self.model and self.model not in labels:
            raise ValueError(
                f"llm.meta.model must be the label of one of [[llm.models]] "
                f"({', '.join(labels) or 'none configured'}), got {self.model!r}"
            )
        count("top_programs", 1)
        count("improvements", 0)
        count("failures", 0)
        count("code_chars", 100)
        count("max_chars", 100)
