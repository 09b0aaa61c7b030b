"""compression.distill: clone pairs are real clones, BPE, a tiny end-to-end distillation
that learns above chance, the cascade, and the export round trip."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from evolve.held_out import HELD_OUT_TIMEOUT_S, held_out_timeout
from problems.compression import rewrites
from problems.compression.bpe import BPE, PAD
from problems.compression.corpus import stdlib_functions
from problems.compression.tasks import clone_pairs, module_classification

MODULES = ("json", "email", "logging", "argparse", "csv", "textwrap", "string", "shutil")


@pytest.fixture(scope="module")
def functions():
    return stdlib_functions(modules=MODULES)


def test_corpus_is_the_running_stdlib(functions) -> None:
    assert len(functions) > 300
    assert {f.module for f in functions} <= set(MODULES)
    for f in functions[:50]:
        ast.parse(f.source)


def test_rewrites_compile_on_the_stdlib_and_renaming_is_a_bijection(functions) -> None:
    rng = random.Random(0)
    renamed = 0
    for f in functions:
        compile(rewrites.rewrite(f.source, rng), f.path, "exec")
        tree = ast.parse(f.source)
        fn = tree.body[0]
        mapping = rewrites.rename_locals(fn, rng)
        if mapping:
            renamed += 1
            back = {v: k for k, v in mapping.items()}
            for node in ast.walk(fn):
                if isinstance(node, ast.Name) and node.id in back:
                    node.id = back[node.id]
            assert ast.dump(fn) == ast.dump(ast.parse(f.source).body[0])
    assert renamed > len(functions) // 3


SAMPLES = '''
def f(x, y=2):
    """Doc."""
    a = 1
    b = y
    total = 0
    for i in range(x):
        if i % 3:
            total += a * i
        else:
            total -= b
    return (total, a, b)

def g(items):
    seen = []
    count = 0
    for item in items:
        if item in seen:
            count += 1
        else:
            seen.append(item)
    return seen, count
'''


def test_rewritten_functions_behave_the_same() -> None:
    rng = random.Random(0)
    tree = ast.parse(SAMPLES)
    for node in tree.body:
        source = ast.unparse(node)
        for _ in range(10):
            variant = rewrites.rewrite(source, rng)
            assert variant != ast.unparse(ast.parse(source))
            a, b = {}, {}
            exec(compile(source, "a", "exec"), a)  # trusted test code, not candidates
            exec(compile(variant, "b", "exec"), b)
            for args in ((5,), (7, 3), ([1, 2, 1, 3, 2],)):
                try:
                    want = a[node.name](*args)
                except TypeError:
                    continue
                assert b[node.name](*args) == want


def test_rename_skips_unsafe_functions() -> None:
    fn = ast.parse("def f():\n    x = 1\n    return locals()").body[0]
    assert rewrites.renameable(fn) == set()
    fn = ast.parse("def f(a):\n    global x\n    x = a\n    y = 2\n    return y").body[0]
    assert rewrites.renameable(fn) == {"y"}


def test_clone_pairs_and_module_labels(functions) -> None:
    data = clone_pairs(functions, 60, seed=1)
    pos = [e for s in data.values() for e in s if e.label == 1]
    neg = [e for s in data.values() for e in s if e.label == 0]
    assert len(pos) == len(neg) == 60
    anchors = {s: {e.texts[0] for e in data[s]} for s in data}
    assert not anchors["labelled"] & anchors["test"]  # split by anchor
    more = clone_pairs(functions, 60, seed=1, extra_unlabelled=25)
    for split in ("labelled", "valid", "test"):
        assert more[split] == data[split]  # the extra anchors change no other split
    n = len(data["unlabelled"])
    assert more["unlabelled"][:n] == data["unlabelled"] and len(more["unlabelled"]) == n + 50
    extra = {e.texts[0] for e in more["unlabelled"][n:]}
    assert len(extra) == 25 and not extra & {e.texts[0] for s in data.values() for e in s}
    assert {e.label for e in more["unlabelled"][n:]} == {0, 1}
    splits, names = module_classification(functions, 100, classes=4)
    assert len(names) == 4 and all(0 <= e.label < 4 for s in splits.values() for e in s)


def test_bpe_vocab_round_trip_and_json(functions) -> None:
    texts = [f.source.lower() for f in functions[:200]]
    bpe = BPE.train(texts, 500)
    assert bpe.vocab_size == 500
    ids = bpe.encode(texts[0], 4096)
    assert ids[0] == 0 and max(ids) < 500
    decoded = bpe.decode(i for i in ids[1:] if i > 3)
    assert decoded == texts[0][: len(decoded)] and len(decoded) > 0.9 * min(len(texts[0]), 2000)
    again = BPE.from_json(bpe.to_json())
    assert again.encode(texts[1], 64) == bpe.encode(texts[1], 64)
    assert bpe.encode("x", 8)[-1] == PAD


def test_a_smaller_bpe_is_a_prefix_of_a_larger_one(functions) -> None:
    """Greedy merges do not depend on the target size: the cascade cuts the teacher's
    tokenizer down instead of training one per vocabulary size."""
    texts = [f.source.lower() for f in functions[:150]]
    small, large = BPE.train(texts, 400), BPE.train(texts, 700)
    assert large.covers(400) and not small.covers(700)
    cut = large.prefix(400)
    assert cut.merges == small.merges and cut.vocab_size == 400
    assert cut.encode(texts[3], 64) == small.encode(texts[3], 64)
    tiny = BPE.train(texts[:2], 100_000)  # runs out of pairs seen twice
    assert tiny.exhausted and tiny.covers(200_000) and tiny.vocab_size < 100_000
    assert tiny.prefix(200_000).merges == tiny.merges


@pytest.fixture(scope="module")
def tiny():
    from problems.compression.distill import Distillation

    return Distillation(**TINY)


TINY = dict(
    target_mb=0.3,
    tolerance=0.25,
    count=160,
    extra_unlabelled=0,
    max_len=48,
    modules=MODULES,
    teacher=(600, 2, 64, 128, 1),
    teacher_epochs=12,
    student_epochs=12,
    teacher_lr=3e-3,
    student_lr=3e-3,
    proxy_steps=10,
)


def test_tiny_distillation_learns_above_chance(tiny) -> None:
    pipe = tiny.pipeline
    teacher = pipe.teacher
    assert teacher.metrics["test_accuracy"] > 0.6
    student = pipe.distill((1000, 2, 32, 64, 1))
    cmp = pipe.compare(student)
    test_n = len(pipe.data["test"])
    assert student.metrics["test_accuracy"] > 0.5 + 2 / np.sqrt(test_n) / 2  # above chance
    assert cmp["compression"] > 1 and student.metrics["params"] < teacher.metrics["params"]


def test_cascade_stops_at_the_size_check(tiny) -> None:
    from evaluators.contract import Candidate
    from problems.compression.space import render, size_mb

    big = (50000, 8, 768, 3040, 12)
    ok = (1000, 2, 32, 128, 2)
    assert tiny.feasible(ok) and abs(size_mb(ok) - 0.3) <= 0.075
    stages = tiny.evaluate_batch(
        [Candidate(render(big), list(big)), Candidate(render(ok), list(ok))], "search"
    )
    assert [s.stage for s in stages[0]] == ["size"] and stages[0][0].result.score < -1
    assert [s.stage for s in stages[1]] == ["size", "proxy"]
    assert 0.0 <= stages[1][-1].result.score <= 1.0
    assert tiny.resources()["num_gpus"] in (0.0, 1.0)
    assert held_out_timeout(tiny) == 6 * 3600 > HELD_OUT_TIMEOUT_S  # full distillation is long


def test_speed_stage_rejects_a_slow_architecture_before_training(monkeypatch) -> None:
    """With min_speedup, the cascade measures the untrained student's latency against the
    teacher's before any proxy: a slow genome stops there (no tokenizer, no teacher, no
    training), scored above every size failure and below every trained student."""
    from evaluators.contract import Candidate
    from problems.compression.distill import Distillation
    from problems.compression.pipeline import Pipeline
    from problems.compression.space import render

    problem = Distillation(**{**TINY, "min_speedup": 4.0})
    slow, fast = (1000, 2, 32, 128, 2), (1000, 2, 32, 64, 1)
    per_example = {  # (teacher ms, student ms) by (genome, batch): slow fails at batch 32
        (slow, 1): (8.0, 1.0),
        (slow, 32): (4.0, 2.0),
        (fast, 1): (8.0, 1.0),
        (fast, 32): (4.0, 0.5),
    }
    asked: list[tuple] = []

    def paired_latency(self, genome, batch):
        asked.append((tuple(genome), batch))
        return per_example[(tuple(genome), batch)]

    def no_training(*args, **kwargs):
        raise AssertionError("a slow architecture was trained")

    distill = Pipeline.distill
    monkeypatch.setattr(Pipeline, "paired_latency", paired_latency)
    monkeypatch.setattr(Pipeline, "distill", no_training)
    [stages] = problem.evaluate_batch([Candidate(render(slow), list(slow))], "search")
    assert [s.stage for s in stages] == ["size", "speed"]
    result = stages[-1].result
    # 4.0 / 2.0 = 2x, of the 4x asked plus the 10% margin for measurement noise
    assert result.score == pytest.approx(-1 + 2.0 / 4.4)
    assert result.metrics["speedup_batch32"] == pytest.approx(2.0)
    assert "speedup" not in result.metrics  # batch 1 is not measured once batch 32 fails
    assert (slow, 1) not in asked and "needs 4.4x" in result.feedback

    monkeypatch.setattr(Pipeline, "distill", distill)
    [stages] = problem.evaluate_batch([Candidate(render(fast), list(fast))], "search")
    assert [s.stage for s in stages] == ["size", "speed", "proxy"]
    assert stages[1].result.metrics["speedup"] == pytest.approx(8.0)
    assert stages[-1].result.metrics["speedup_batch32"] == pytest.approx(8.0)
    assert 0.0 <= stages[-1].result.score <= 1.0

    per_example[(fast, 32)] = (4.2, 1.0)  # 4.2x: above the bar, inside the margin
    [stages] = problem.evaluate_batch([Candidate(render(fast), list(fast))], "search")
    assert [s.stage for s in stages] == ["size", "speed"]
    problem.speed_margin = 0.0
    [stages] = problem.evaluate_batch([Candidate(render(fast), list(fast))], "search")
    assert [s.stage for s in stages] == ["size", "speed", "proxy"]


def test_operators_propose_only_children_within_the_size_tolerance(tiny) -> None:
    """distill's size check is a hard, analytic constraint: mutation and crossover only
    propose children that pass it (an infeasible child would waste an evaluation)."""
    from evolve.operators.base import Context
    from problems.compression.operators import ArchCrossover, ArchMutate
    from problems.compression.space import genome_of

    rng = random.Random(3)
    parents = [c for c in tiny.initial_programs()[:2]]
    ctx = Context(tiny, [])
    children = [ArchMutate().propose(parents[:1], ctx, rng) for _ in range(100)]
    children += [ArchCrossover().propose(parents, ctx, rng) for _ in range(100)]
    assert all(tiny.feasible(genome_of(c)) for c in children)
    assert len({tuple(c.genome) for c in children}) > 20


def test_untrained_paired_latency_orders_architectures_by_cost(tiny) -> None:
    """The speed stage's measurement (real jitted calls, teacher and student interleaved):
    a 1-layer narrow encoder is faster than the teacher, a 6-layer wide one slower."""
    teacher_ms, narrow_ms = tiny.pipeline.paired_latency((600, 1, 16, 32, 1), 32)
    _, wide_ms = tiny.pipeline.paired_latency((600, 4, 128, 512, 6), 32)
    assert 0 < narrow_ms < teacher_ms < wide_ms and wide_ms > 3 * narrow_ms
    assert tiny.pipeline.paired_latency((600, 1, 16, 32, 1), 32) == (
        teacher_ms,
        narrow_ms,
    )  # cached


def test_the_teacher_is_trained_once_per_cache_dir(tmp_path, monkeypatch) -> None:
    """With cache_dir, the trained teacher is saved beside the students: a second problem
    with the same options (another worker, a resumed campaign) loads it and trains
    nothing; its logits and its tokenizer are the trained teacher's."""
    import jax.numpy as jnp

    from problems.compression import model, train
    from problems.compression.distill import Distillation

    options = {**TINY, "teacher_epochs": 2, "cache_dir": str(tmp_path / "cache")}
    assert Distillation(**options).start_note.startswith("training the teacher")
    first = Distillation(**options).pipeline.teacher
    assert Distillation(**options).start_note == ""  # the progress line has nothing to say
    saved = tmp_path / "cache" / Distillation(**options).key / "teacher"
    assert (saved / "weights.npz").exists()
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".teacher-")]

    def no_training(*args, **kwargs):
        raise AssertionError("the teacher was trained again")

    monkeypatch.setattr(train, "fit", no_training)
    again = Distillation(**options).pipeline
    loaded = again.teacher
    assert loaded.genome == first.genome and loaded.bpe.merges == first.bpe.merges
    assert loaded.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    ids = jnp.asarray(again.arrays(loaded.bpe, "test")[:4])
    np.testing.assert_allclose(
        np.asarray(model.logits(loaded.params, ids, loaded.mcfg["attention_heads"], True)),
        np.asarray(model.logits(first.params, ids, first.mcfg["attention_heads"], True)),
        rtol=1e-6,
        atol=1e-6,
    )
    assert again.tokenizer(400).merges == first.bpe.prefix(400).merges


def test_export_round_trip(tiny, tmp_path) -> None:
    import jax.numpy as jnp

    from problems.compression import export, model, train

    student = tiny.pipeline.distill((1000, 2, 32, 64, 1), steps=5, measure=False)
    out = export.export_student(student, tmp_path / "s", {"max_len": 48})
    config, bpe, weights = export.load(out)
    assert config["genome"] == [1000, 2, 32, 64, 1]
    ids = tiny.pipeline.arrays(bpe, "test")[:4]
    assert np.array_equal(ids, tiny.pipeline.arrays(student.bpe, "test")[:4])
    restored = model.unflatten(weights, config["model"])
    want = np.asarray(model.logits(student.params, jnp.asarray(ids), 2, True))
    got = np.asarray(model.logits(restored, jnp.asarray(ids), 2, True))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    sys.path.insert(0, str(out))
    try:
        import run_student

        np.testing.assert_allclose(run_student.predict(weights, config, ids), want, atol=1e-4)
        text = tiny.pipeline.data["test"][0].texts
        assert run_student.Tokenizer(bpe.merges).encode(text[0], 48) == bpe.encode(text[0], 48)
    finally:
        sys.path.remove(str(out))
        sys.modules.pop("run_student", None)
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text(textwrap.dedent(SAMPLES))
    b.write_text("def h():\n    return 1\n")
    proc = subprocess.run(
        [sys.executable, str(out / "run_student.py"), str(out), str(a), str(b)],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(proc.stdout)
    assert answer["label"] in ("clone", "different") and 0.5 <= answer["probability"] <= 1
    assert train.size_mb(student.params) == pytest.approx(
        (out / "weights.npz").stat().st_size / 1e6, rel=0.01
    )


def test_export_of_a_campaign_student_comes_from_the_cache(tiny, tmp_path, monkeypatch) -> None:
    """`evolve best --export` rebuilds the problem from the campaign's options: with the
    same options and cache_dir it copies the student its full distillation saved, and
    trains nothing (no teacher, no student)."""
    from problems.compression import export
    from problems.compression.distill import Distillation, export_best
    from problems.compression.pipeline import Pipeline

    genome = (1000, 2, 32, 64, 1)
    student = tiny.pipeline.distill(genome, steps=5, measure=False)
    monkeypatch.setattr(tiny, "cache_dir", tmp_path / "cache")
    saved = tiny.save(student)
    assert (saved / "weights.npz").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("export retrained instead of using the cache")

    monkeypatch.setattr(Pipeline, "distill", no_training)
    monkeypatch.setattr(Pipeline, "teacher", property(no_training))
    out = export_best(
        list(genome), str(tmp_path / "out"), {**TINY, "cache_dir": str(tmp_path / "cache")}
    )
    config, bpe, weights = export.load(out)
    assert config["genome"] == list(genome) and bpe.merges == student.bpe.merges
    assert (out / "run_student.py").exists()
    with np.load(saved / "weights.npz") as want:
        assert sorted(want.files) == sorted(weights) and all(
            np.array_equal(want[k], weights[k]) for k in want.files
        )
    other = Distillation(**{**TINY, "max_len": 40, "cache_dir": str(tmp_path / "cache")})
    assert other.student_dir(genome) != tiny.student_dir(genome)  # other options: other key


def test_export_without_a_cached_student_says_it_distils_again(tiny, tmp_path, monkeypatch, capsys) -> None:  # fmt: skip
    """No saved student: the export distils it again (about a minute at full size) and says
    so on stderr instead of sitting silent."""
    from problems.compression.distill import export_best
    from problems.compression.pipeline import Pipeline

    genome = (1000, 2, 32, 64, 1)
    student = tiny.pipeline.distill(genome, steps=5, measure=False)
    calls = []
    monkeypatch.setattr(Pipeline, "distill", lambda self, g: calls.append(g) or student)
    out = export_best(list(genome), str(tmp_path / "out"), {**TINY})
    assert (out / "weights.npz").exists() and calls == [genome]
    err = capsys.readouterr().err
    assert "student 1000-2-32-64-1 not cached (no problem.cache_dir set)" in err
    assert "distilling it again" in err
