"""The local executor: batches for evaluate_batch problems, and worker deaths."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from evaluators.contract import EvalResult
from workers.evaluate import ProblemCache, evaluate_jobs
from workers.jobs import Job
from workers.local import LocalExecutor

REPO = Path(__file__).resolve().parents[2]
SINE = str(REPO / "examples" / "sine.py")


def collect(executor: LocalExecutor, count: int, timeout: float = 60.0) -> list:
    results, deadline = [], time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        results.extend(executor.completed(timeout=0.2))
    return results


def test_evaluate_jobs_uses_one_batch_call() -> None:
    class Batchy:
        calls: list[int] = []

        def evaluate_batch(self, candidates, stage_set="search"):
            self.calls.append(len(candidates))
            return [EvalResult(score=float(c.genome[0])) for c in candidates]

    cache = ProblemCache()
    cache._problems["batchy{}"] = Batchy()  # a problem built in-process, as a worker would
    jobs = [Job(i, "", "batchy", {}, genome=[i]) for i in range(5)]
    results = evaluate_jobs(jobs, runner=None, problems=cache, worker="w")
    assert Batchy.calls == [5]
    assert [r.stages[0].result.score for r in results] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(r.stages[0].isolation == "genome-interpreter" for r in results)


def test_stages_are_listed_once_per_worker_and_their_errors_say_so() -> None:
    """A problem that builds reference values in stages() pays once per worker, not per
    evaluation; a held_out_stages() that raises is named as such, not as a problem that
    could not be loaded."""
    from workers.evaluate import evaluate_job

    class Counting:
        calls = 0

        def stages(self):
            Counting.calls += 1
            return ["stage"]

        def held_out_stages(self):
            raise KeyError("no held-out set")

    cache = ProblemCache()
    cache._problems["counting{}"] = Counting()
    for _ in range(5):
        assert cache.stages("counting", {}, "search") == ["stage"]
    assert Counting.calls == 1
    result = evaluate_job(Job(1, "", "counting", {}, stage_set="held_out"), None, cache, "w")
    assert result.error == "held_out_stages() of 'counting' failed: KeyError: 'no held-out set'"


def test_batch_errors_fail_every_job_readably() -> None:
    class Broken:
        def evaluate_batch(self, candidates, stage_set="search"):
            return [EvalResult(score=1.0)]  # one result for many candidates

    cache = ProblemCache()
    cache._problems["broken{}"] = Broken()
    results = evaluate_jobs([Job(i, "", "broken", {}) for i in range(3)], None, cache, "w")
    assert [r.stages[0].outcome for r in results] == ["error"] * 3
    assert "returned 1 results for 3 candidates" in results[0].stages[0].detail


def test_a_candidate_that_breaks_its_batch_fails_alone() -> None:
    class Picky:
        calls: list[int] = []

        def evaluate_batch(self, candidates, stage_set="search"):
            self.calls.append(len(candidates))
            if any(c.genome == "bad" for c in candidates):
                raise ValueError("cannot score 'bad'")
            return [EvalResult(score=float(len(c.genome))) for c in candidates]

    cache = ProblemCache()
    cache._problems["picky{}"] = Picky()
    genomes = ["a", "bad", "ccc"]
    jobs = [Job(i, "", "picky", {}, genome=g) for i, g in enumerate(genomes)]
    results = evaluate_jobs(jobs, None, cache, "w")
    assert Picky.calls == [3, 1, 1, 1]  # the batch, then each candidate alone
    assert [r.job.job_id for r in results] == [0, 1, 2]
    assert [r.stages[0].outcome for r in results] == ["ok", "error", "ok"]
    assert [results[0].stages[0].result.score, results[2].stages[0].result.score] == [1.0, 3.0]
    assert results[1].stages[0].detail == "evaluate_batch failed: ValueError: cannot score 'bad'"


def test_killed_worker_requeues_its_job() -> None:
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=1) as executor:
        collect(executor, 0, timeout=0.5)  # let the worker start
        deadline = time.monotonic() + 30
        while executor._slots[0].ready is False and time.monotonic() < deadline:
            executor.completed(timeout=0.2)
        executor.submit([Job(1, code, SINE)])
        pid = executor._slots[0].process.pid
        os.kill(pid, signal.SIGKILL)
        results = collect(executor, 1)
    assert len(results) == 1
    assert results[0].job.attempt == 2  # re-run once, on the respawned worker
    assert results[0].stages[-1].outcome == "ok"


def test_workers_that_cannot_start_fail_the_queue_instead_of_looping() -> None:
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=1, isolation="no-such-level") as executor:
        executor.submit([Job(1, code, SINE), Job(2, code, SINE)])
        results = collect(executor, 2, timeout=120)
    assert [r.job.job_id for r in results] == [1, 2]
    assert all("exited during start-up" in r.error for r in results)


def test_wait_ready_returns_once_every_worker_runs_its_sandbox() -> None:
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=2) as executor:
        assert executor.wait_ready(120) is True
        assert all(slot.ready for slot in executor._slots)
        assert executor.isolation_level  # reported by the workers' "ready"
        started = time.monotonic()
        executor.submit([Job(1, code, SINE), Job(2, code, SINE)])
        results = collect(executor, 2)
    assert sorted(r.job.job_id for r in results) == [1, 2]
    assert all(r.stages[-1].outcome == "ok" for r in results)
    assert time.monotonic() - started < 30


def test_wait_ready_gives_up_when_a_worker_cannot_start() -> None:
    with LocalExecutor(workers=1, isolation="no-such-level") as executor:
        started = time.monotonic()
        assert executor.wait_ready(120) is False
        assert time.monotonic() - started < 60  # ended by the start failure, not the timeout


def test_a_worker_gets_its_next_job_before_it_answers_and_a_death_requeues_both() -> None:
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=1) as executor:
        assert executor.wait_ready(120) is True
        slow = "import time\ntime.sleep(3)\n" + code  # still running when the worker dies
        executor.submit([Job(1, slow, SINE), Job(2, code, SINE), Job(3, code, SINE)])
        slot = executor._slots[0]
        # two sent (one evaluating, one waiting in the pipe), the third still queued
        assert [[j.job_id for j in batch] for batch in slot.batches] == [[1], [2]]
        assert executor.in_flight == 3
        os.kill(slot.process.pid, signal.SIGKILL)
        results = collect(executor, 3)
    assert [r.job.job_id for r in results] == [1, 2, 3]  # order kept across the respawn
    # only the job being evaluated counts the death; the waiting one was never started
    assert [r.job.attempt for r in results] == [2, 1, 1]
    assert all(r.stages[-1].outcome == "ok" for r in results)


def test_fewer_jobs_than_a_batch_are_shared_between_idle_workers() -> None:
    """A campaign's held-out checks (a few long jobs) must not all go to one worker."""
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=2, batch_size=8) as executor:
        assert executor.wait_ready(120) is True
        executor.submit([Job(i, code, SINE) for i in range(1, 6)])
        assert sorted(len(b) for slot in executor._slots for b in slot.batches) == [2, 3]
        executor.submit([Job(i, code, SINE) for i in range(6, 26)])  # a full batch ahead each
        assert sorted(len(slot.batches[-1]) for slot in executor._slots) == [8, 8]
        results = collect(executor, 25)
    assert sorted(r.job.job_id for r in results) == list(range(1, 26))


def test_each_worker_gets_its_share_of_the_cpus(monkeypatch) -> None:
    """Native code that splits a call over threads (AutoNumerics' C machine) takes one
    worker's share, so that workers * threads stays at the CPUs."""
    from workers.local import cpu_share

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr("workers.local._cgroup_cpu_limit", lambda: None)
    assert [cpu_share(w) for w in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_a_cgroup_quota_lowers_the_cpus(monkeypatch, tmp_path) -> None:
    """A container limited to 2.5 CPUs on an 8-CPU host: 3 CPUs, not 8 (v2 and v1 files);
    no quota ("max", v1's -1) or unreadable files leave the affinity mask."""
    import workers.local as local

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    v2 = tmp_path / "cpu.max"
    quota, period = tmp_path / "quota", tmp_path / "period"
    monkeypatch.setattr(local, "CGROUP_CPU_MAX", str(v2))
    monkeypatch.setattr(local, "CGROUP_V1_QUOTA", (str(quota), str(period)))
    assert local.usable_cpus() == 8  # no files
    v2.write_text("250000 100000\n")
    assert local.usable_cpus() == 3 and local.cpu_share(2) == 1
    v2.write_text("max 100000\n")
    assert local.usable_cpus() == 8
    v2.unlink()
    quota.write_text("150000\n"), period.write_text("100000\n")
    assert local.usable_cpus() == 2
    quota.write_text("-1\n")
    assert local.usable_cpus() == 8


def test_a_worker_dead_before_its_next_batch_is_replaced_not_a_broken_pipe() -> None:
    """A scorer that kills its worker (os._exit) or the OOM killer: the next send to that
    worker raised BrokenPipeError out of the executor, and `evolve run` ended with exit
    status 141 and no message. The batch now goes back and the worker is respawned."""
    code = "# EVOLVE-BLOCK-START\ndef f(x):\n    return x\n# EVOLVE-BLOCK-END\n"
    with LocalExecutor(workers=1) as executor:
        assert executor.wait_ready(120) is True
        slot = executor._slots[0]
        os.kill(slot.process.pid, signal.SIGKILL)
        slot.process.join(timeout=10)  # dead, and not yet noticed by the executor
        executor.submit([Job(1, code, SINE), Job(2, code, SINE)])
        results = collect(executor, 2)
    assert sorted(r.job.job_id for r in results) == [1, 2]
    assert all(r.stages[-1].outcome == "ok" for r in results)
    assert all(r.job.attempt == 1 for r in results)  # never started: no death counted


def test_a_scorer_that_ends_its_worker_says_how_the_worker_died(tmp_path) -> None:
    """score() calling os._exit ends the worker process on every try: the stored reason
    was only "worker process died 3 times on this candidate", with nothing on how or what
    runs in a worker besides the sandbox's parent."""
    problem = tmp_path / "exits.py"
    problem.write_text(
        'import os\nINITIAL_PROGRAM = "def f():\\n    return 1.0\\n"\n\n\n'
        "def evaluate(program):\n    return program.f()\n\n\n"
        "def score(outputs):\n    os._exit(5)\n"
    )
    with LocalExecutor(workers=1) as executor:
        assert executor.wait_ready(120) is True
        executor.submit([Job(1, "def f():\n    return 1.0\n", str(problem))])
        results = collect(executor, 1, timeout=120)
    assert len(results) == 1
    stage = results[0].stages[-1]
    assert stage.outcome == "sandbox_failure"
    assert "exit code 5" in stage.detail and "score" in stage.detail
    assert "\n" not in stage.detail


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_controller_leaves_no_worker_or_candidate_running(tmp_path) -> None:
    """kill -9 of the controller: a worker blocked on its candidate kept its sandbox and
    the candidate running to the candidate's own wall clock (minutes for a slow problem),
    then read the batch already waiting in its pipe and ran that one too, beside the
    resumed campaign's workers, for results nobody would read."""
    import subprocess
    import sys

    problem = tmp_path / "slow.py"
    problem.write_text(
        'TIMEOUT_S = 300\nINITIAL_PROGRAM = "def f():\\n    return 1.0\\n"\n\n\n'
        "def evaluate(program):\n    import time\n    time.sleep(250)\n    return program.f()\n"
    )
    controller = tmp_path / "controller.py"
    controller.write_text(
        "import sys, time\n"
        "from workers.jobs import Job\n"
        "from workers.local import LocalExecutor\n"
        "if __name__ == '__main__':\n"
        "    executor = LocalExecutor(workers=1)\n"
        "    assert executor.wait_ready(120)\n"
        "    code = 'def f():\\n    return 1.0\\n'\n"
        "    executor.submit([Job(1, code, sys.argv[1]), Job(2, code, sys.argv[1])])\n"
        "    executor.completed(timeout=0.5)\n"
        "    print(executor._slots[0].process.pid, flush=True)\n"
        "    time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(controller), str(problem)], stdout=subprocess.PIPE, env=env
    )
    try:
        worker = int(proc.stdout.readline())
        deadline = time.monotonic() + 60
        while len(_descendants(worker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)  # the sandbox and the candidate started
        time.sleep(1)
        tree = _descendants(worker) | {worker}
        assert len(tree) >= 3
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in tree if _alive(pid)]
