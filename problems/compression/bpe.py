"""A byte-level BPE tokenizer trained on the corpus with the genome's vocabulary size.

Words are pre-split runs (identifier characters, digits, spaces, one punctuation mark);
merges are learned over byte symbols with incremental pair counts. Ids 0..3 are the
specials ``<s> <pad> </s> <unk>`` (pad = 1, as in RoBERTa), 4..259 the bytes, then one id
per merge. JSON round-trips it; encoding is deterministic.

Training is greedy and its target size only decides when it stops, so the merges learned for
a vocabulary V are the first V - 260 merges learned for any larger one: ``prefix`` cuts a
tokenizer trained once (the teacher's) down to a student's size instead of training again.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS, PAD, EOS, UNK = 0, 1, 2, 3
OFFSET = len(SPECIALS)
WORD = re.compile(r" ?[A-Za-z_]+| ?[0-9]+| +(?! )|\s| ?[^\sA-Za-z_0-9]")


class BPE:
    def __init__(self, merges: list[tuple[int, int]], exhausted: bool = False) -> None:
        self.merges = [tuple(m) for m in merges]
        # training stopped because no pair occurs twice: larger sizes add nothing
        self.exhausted = exhausted
        self.ranks = {pair: OFFSET + 256 + k for k, pair in enumerate(self.merges)}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return OFFSET + 256 + len(self.merges)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPE:
        if vocab_size < OFFSET + 256:
            raise ValueError(f"vocab_size must be at least {OFFSET + 256}")
        counts = Counter(w for text in texts for w in WORD.findall(text))
        words = [[OFFSET + b for b in w.encode()] for w in counts]
        freq = list(counts.values())
        pairs: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for k, w in enumerate(words):
            for pair in zip(w, w[1:], strict=False):
                pairs[pair] += freq[k]
                where[pair].add(k)
        touched: set[tuple[int, int]] = set()
        heap = [(-c, p) for p, c in pairs.items()]
        heapq.heapify(heap)
        merges: list[tuple[int, int]] = []
        while OFFSET + 256 + len(merges) < vocab_size and heap:
            negative, best = heapq.heappop(heap)
            if pairs.get(best, 0) != -negative:
                continue  # a stale entry: the pair's count changed since it was pushed
            if -negative < 2:
                break
            new = OFFSET + 256 + len(merges)
            merges.append(best)
            for k in sorted(where.pop(best, ())):
                w = words[k]
                touched.update(zip(w, w[1:], strict=False))
                for pair in zip(w, w[1:], strict=False):
                    pairs[pair] -= freq[k]
                    if pairs[pair] <= 0:
                        del pairs[pair]
                merged, i = [], 0
                while i < len(w):
                    if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                        merged.append(new)
                        i += 2
                    else:
                        merged.append(w[i])
                        i += 1
                words[k] = merged
                touched.update(zip(merged, merged[1:], strict=False))
                for pair in zip(merged, merged[1:], strict=False):
                    pairs[pair] += freq[k]
                    where[pair].add(k)
            pairs.pop(best, None)
            for pair in touched:
                if pair in pairs:
                    heapq.heappush(heap, (-pairs[pair], pair))
            touched.clear()
        exhausted = OFFSET + 256 + len(merges) < vocab_size
        return cls(merges, exhausted=exhausted)

    def covers(self, vocab_size: int) -> bool:
        """Whether ``prefix(vocab_size)`` equals training with ``vocab_size``."""
        return self.exhausted or self.vocab_size >= vocab_size

    def prefix(self, vocab_size: int) -> BPE:
        """The tokenizer training with ``vocab_size`` gives (see the module docstring)."""
        if not self.covers(vocab_size):
            raise ValueError(f"trained to {self.vocab_size}, cannot give {vocab_size}")
        keep = max(0, vocab_size - OFFSET - 256)
        return BPE(self.merges[:keep], exhausted=self.exhausted and keep >= len(self.merges))

    def _word(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        w = [OFFSET + b for b in word.encode()]
        while len(w) > 1:
            ranked = [(self.ranks.get(p, 1 << 30), i) for i, p in enumerate(zip(w, w[1:]))]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            w = w[:i] + [rank] + w[i + 2 :]
        if len(self._cache) < 200_000:
            self._cache[word] = w
        return w

    def encode(self, text: str, max_len: int) -> list[int]:
        """``<s> tokens </s>`` padded with ``<pad>`` to ``max_len``."""
        ids = [BOS]
        for word in WORD.findall(text):
            ids.extend(self._word(word))
            if len(ids) >= max_len - 1:
                break
        ids = ids[: max_len - 1] + [EOS]
        return ids + [PAD] * (max_len - len(ids))

    def decode(self, ids: Iterable[int]) -> str:
        table: dict[int, bytes] = {OFFSET + b: bytes([b]) for b in range(256)}
        for pair, new in self.ranks.items():
            table[new] = table[pair[0]] + table[pair[1]]
        return b"".join(table.get(i, b"") for i in ids).decode("utf-8", "replace")

    def to_json(self) -> str:
        return json.dumps({"type": "byte-bpe", "specials": SPECIALS, "merges": self.merges})

    @classmethod
    def from_json(cls, text: str) -> BPE:
        return cls([tuple(m) for m in json.loads(text)["merges"]])
