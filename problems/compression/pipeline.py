"""The distillation pipeline: data, tokenizers, the teacher, and one student's distillation.

1. tasks from the stdlib corpus, split labelled / unlabelled / valid / test;
2. the teacher (trained here from scratch: see docs/compression.md for why) with its own
   BPE vocabulary, trained on the labelled half with labels;
3. its logits on the unlabelled half: the only thing a student learns from;
4. a student of a genome's architecture: a BPE tokenizer with the genome's vocabulary,
   random init, soft-label training on the unlabelled half, best epoch on valid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from problems.compression import model, train
from problems.compression.bpe import BPE, UNK
from problems.compression.corpus import stdlib_functions
from problems.compression.tasks import clone_pairs, module_classification


@dataclass(frozen=True)
class PipelineConfig:
    task: str = "clone"  # clone | module
    count: int = 3000  # anchors (clone: two pairs each) or functions (module)
    extra_unlabelled: int = 0  # clone: more anchors for the unlabelled half (teacher-labelled)
    classes: int = 10  # module classification
    max_len: int = 96
    modules: tuple[str, ...] | None = None  # corpus subset (tests)
    teacher: tuple[int, ...] = (16000, 4, 256, 1024, 2)  # V, A, H, I, L
    teacher_train: train.TrainConfig = field(default_factory=lambda: train.TrainConfig(epochs=4))
    student_train: train.TrainConfig = field(
        default_factory=lambda: train.TrainConfig(epochs=6, lr=2e-3)
    )
    seed: int = 0


@dataclass
class Student:
    genome: tuple[int, ...]
    params: Any
    mcfg: dict[str, int]
    bpe: BPE
    metrics: dict[str, float]


class Pipeline:
    def __init__(self, config: PipelineConfig, teacher_dir: str | Path | None = None) -> None:
        """``teacher_dir``: where the trained teacher is kept (weights, tokenizer, metrics),
        so that a second worker or a resumed campaign loads it instead of training it again;
        the caller keys it by the whole config (compression.distill: cache_dir/key)."""
        self.config = config
        self.teacher_dir = Path(teacher_dir) if teacher_dir else None
        self._bpe: dict[int, BPE] = {}
        self._arrays: dict[tuple[int, int, str], np.ndarray] = {}
        self._latency: dict[tuple[tuple[int, ...], int], tuple[float, float]] = {}
        self._untrained_teacher: dict[int, tuple] = {}  # by batch

    @cached_property
    def data(self) -> dict[str, list]:
        functions = stdlib_functions(modules=self.config.modules)
        if self.config.task == "clone":
            return clone_pairs(
                functions,
                self.config.count,
                self.config.seed,
                extra_unlabelled=self.config.extra_unlabelled,
            )
        splits, self.class_names = module_classification(
            functions, self.config.count, self.config.classes, self.config.seed
        )
        return splits

    @property
    def num_labels(self) -> int:
        return 2 if self.config.task == "clone" else len(self.class_names)

    @property
    def pair(self) -> bool:
        return self.config.task == "clone"

    def tokenizer(self, vocab_size: int) -> BPE:
        """BPE trained on the training functions (both halves' text; no labels). Trained
        once to the largest size asked so far: a smaller vocabulary is a prefix of its
        merges (``BPE.prefix``), identical to training with that size."""
        if vocab_size not in self._bpe:
            base = max(self._bpe.values(), key=lambda b: b.vocab_size, default=None)
            if base is None or not base.covers(vocab_size):
                texts = [
                    t for s in ("labelled", "unlabelled") for ex in self.data[s] for t in ex.texts
                ]
                base = BPE.train(texts, vocab_size)
            self._bpe[vocab_size] = base.prefix(vocab_size)
        return self._bpe[vocab_size]

    def arrays(self, bpe: BPE, split: str) -> np.ndarray:
        """Token ids of a split (cached per tokenizer: the cascade asks again and again)."""
        key = (bpe.vocab_size, hash(tuple(bpe.merges)), split)
        if key not in self._arrays:
            self._arrays[key] = train.tokenize(bpe, self.data[split], self.config.max_len)
        return self._arrays[key]

    @cached_property
    def teacher(self) -> Student:
        cached = self._cached_teacher()
        if cached is not None:
            return cached
        genome = self.config.teacher
        bpe = self.tokenizer(genome[0])
        mcfg = model.config(genome, self.num_labels, self.pair)
        ids, y = self.arrays(bpe, "labelled"), train.labels(self.data["labelled"])
        valid = (self.arrays(bpe, "valid"), train.labels(self.data["valid"]))
        params, info = train.fit(
            mcfg, ids, train.one_hot(y, self.num_labels), self.config.teacher_train, valid
        )
        metrics = self._measure(params, mcfg, bpe, info)
        teacher = Student(genome, params, mcfg, bpe, metrics)
        if self.teacher_dir is not None:
            self._save_teacher(teacher)
        return teacher

    def _cached_teacher(self) -> Student | None:
        if self.teacher_dir is None or not (self.teacher_dir / "config.json").exists():
            return None
        from problems.compression.export import load

        config, bpe, weights = load(self.teacher_dir)
        genome = tuple(config["genome"])
        self._bpe.setdefault(bpe.vocab_size, bpe)
        params = model.unflatten(weights, config["model"])
        return Student(genome, params, config["model"], bpe, dict(config["metrics"]))

    def _save_teacher(self, teacher: Student) -> None:
        """Written to a temporary folder and renamed: a reader sees all of it or nothing
        (two workers may train it at once; the first rename wins, the other is dropped)."""
        import shutil
        import tempfile

        from problems.compression.export import export_student

        self.teacher_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.teacher_dir.parent, prefix=".teacher-"))
        export_student(teacher, staging, {"max_len": self.config.max_len})
        try:
            staging.rename(self.teacher_dir)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)

    @cached_property
    def teacher_probs(self) -> np.ndarray:
        """softmax(teacher logits / T), T = 1, on the unlabelled half."""
        t = self.teacher
        return train.softmax(
            train.predict_logits(t.params, t.mcfg, self.arrays(t.bpe, "unlabelled"))
        )

    def distill(
        self, genome: tuple[int, ...], steps: int = 0, examples: int = 0, measure: bool = True
    ) -> Student:
        """Train a student of ``genome`` on the teacher's logits; ``steps``/``examples``
        cut the budget (the cascade's short proxy)."""
        probs = self.teacher_probs
        bpe = self.tokenizer(genome[0])
        mcfg = model.config(genome, self.num_labels, self.pair)
        ids = self.arrays(bpe, "unlabelled")
        if examples:
            ids, probs = ids[:examples], probs[:examples]
        tcfg = self.config.student_train
        if steps:
            tcfg = replace(tcfg, max_steps=steps)
        valid = (self.arrays(bpe, "valid"), train.labels(self.data["valid"]))
        params, info = train.fit(mcfg, ids, probs, tcfg, valid)
        if not measure:
            info["valid_accuracy"] = train.accuracy(params, mcfg, *valid)
            return Student(tuple(genome), params, mcfg, bpe, info)
        return Student(tuple(genome), params, mcfg, bpe, self._measure(params, mcfg, bpe, info))

    def paired_latency(self, genome: tuple[int, ...], batch: int) -> tuple[float, float]:
        """(teacher's ms, ``genome``'s ms) per example at ``batch``, both untrained, their
        calls interleaved so that other work slows both alike: a dense encoder's cost does
        not depend on its weights or on which tokens it reads (padding is masked, not
        skipped), so the cascade can reject a slow architecture before training it.
        Minima over repeats; cached per (genome, batch)."""
        key = (tuple(int(x) for x in genome), int(batch))
        if key not in self._latency:
            if batch not in self._untrained_teacher:  # asked for beside every candidate
                self._untrained_teacher[batch] = self._untrained(self.config.teacher, batch)
            models = [self._untrained_teacher[batch], self._untrained(key[0], batch)]
            teacher, student = train.paired_latency_times(models, batch=batch, repeats=20)
            self._latency[key] = (1e3 * teacher.min() / batch, 1e3 * student.min() / batch)
        return self._latency[key]

    def _untrained(self, genome: tuple[int, ...], batch: int) -> tuple[Any, dict, np.ndarray]:
        """A randomly initialised model of ``genome`` and a batch of random token ids."""
        import jax

        mcfg = model.config(genome, self.num_labels, self.pair)
        params = model.init(jax.random.PRNGKey(0), mcfg)
        rows = (batch, 2, self.config.max_len) if self.pair else (batch, self.config.max_len)
        ids = np.random.default_rng(0).integers(UNK + 1, genome[0], rows, dtype=np.int32)
        return params, mcfg, ids

    def _measure(self, params, mcfg, bpe, info) -> dict[str, float]:
        test_ids, test_y = self.arrays(bpe, "test"), train.labels(self.data["test"])
        valid = (self.arrays(bpe, "valid"), train.labels(self.data["valid"]))
        # latency: the minimum over repeats (the median is kept to show the load's noise)
        t1 = train.latency_times(params, mcfg, test_ids, batch=1)
        t32 = train.latency_times(params, mcfg, test_ids, batch=32)
        return {
            **info,
            "valid_accuracy": train.accuracy(params, mcfg, *valid),
            "test_accuracy": train.accuracy(params, mcfg, test_ids, test_y),
            "params": float(model.count(params)),
            "size_mb": train.size_mb(params),
            "latency_ms": 1e3 * float(t1.min()),
            "latency_ms_batch32": 1e3 * float(t32.min()) / 32,
            "latency_ms_median": 1e3 * float(np.median(t1)),
            "latency_ms_batch32_median": 1e3 * float(np.median(t32)) / 32,
            "latency_repeats": float(len(t1)),
        }

    def compare(self, student: Student) -> dict[str, float]:
        """The student's numbers against the teacher's (retention, compression, speed-up).
        Latencies are measured again here, the two models' calls interleaved, so that other
        work on the machine slows both alike (each model's own measurement, taken when it
        was trained, can be minutes and a different load apart)."""
        t, s = dict(self.teacher.metrics), dict(student.metrics)
        models = [(m.params, m.mcfg, self.arrays(m.bpe, "test")) for m in (self.teacher, student)]
        for batch, key in ((1, "latency_ms"), (32, "latency_ms_batch32")):
            for metrics, times in zip(
                (t, s), train.paired_latency_times(models, batch=batch), strict=True
            ):
                metrics[key] = 1e3 * float(times.min()) / batch
                metrics[f"{key}_median"] = 1e3 * float(np.median(times)) / batch
                if batch == 1:  # as _measure counts them
                    metrics["latency_repeats"] = float(len(times))
        return {
            **{f"student_{k}": v for k, v in s.items()},
            **{f"teacher_{k}": v for k, v in t.items()},
            "retention": s["test_accuracy"] / max(t["test_accuracy"], 1e-9),
            "compression": t["size_mb"] / s["size_mb"],
            "speedup": t["latency_ms"] / s["latency_ms"],
            "speedup_batch32": t["latency_ms_batch32"] / s["latency_ms_batch32"],
            "speedup_median": t["latency_ms_median"] / s["latency_ms_median"],
            "speedup_batch32_median": t["latency_ms_batch32_median"]
            / s["latency_ms_batch32_median"],
        }


def timed(fn, *args, **kw) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - started
