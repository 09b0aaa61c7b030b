"""The Ray executor's parts that need no cluster: the wire format, resources, backstop."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluators.contract import EvalResult, InvalidResult, Limits, Stage, StageOutcome
from workers.jobs import HELD_OUT, Job, JobResult
from workers.ray_cluster import (
    BACKSTOP_MARGIN_S,
    STAGE_SLACK_S,
    check_feasible,
    connect,
    describe_error,
    is_memory_kill,
    slot_resources,
    stage_budget_s,
)
from workers.ray_codec import job_from_wire, job_to_wire, result_from_wire, result_to_wire

REPO = Path(__file__).resolve().parents[2]


def sample_result(job: Job) -> JobResult:
    result = EvalResult(2.5, {"mse": 0.1}, {"size": 3.0}, True, "fine", {"plot": "x"})
    return JobResult(
        job, "ray-h-1", (StageOutcome("evaluate", "ok", result, "fine", 0.2, "bwrap"),)
    )


def test_jobs_and_results_round_trip_as_json() -> None:
    job = Job(7, "code", "family.name", {"n": 3}, HELD_OUT, attempt=2, genome=[1, [2, 3]])
    assert job_from_wire(job_to_wire(job)) == job
    result = sample_result(job)
    assert result_from_wire(job, result_to_wire(result)) == result


def test_a_reply_is_validated_and_paired_with_the_drivers_job() -> None:
    job = Job(7, "code", "p")
    wire = result_to_wire(sample_result(job))
    with pytest.raises(InvalidResult, match="answers job 8"):
        result_from_wire(Job(8, "code", "p"), wire)
    forged = {**wire, "stages": [{**wire["stages"][0], "result": {"score": math.nan}}]}
    with pytest.raises(InvalidResult, match="finite"):
        result_from_wire(job, forged)
    unknown = {**wire, "stages": [{**wire["stages"][0], "outcome": "great"}]}
    with pytest.raises(InvalidResult, match="unknown outcome"):
        result_from_wire(job, unknown)
    with pytest.raises(TypeError):
        job_to_wire(Job(1, "c", "p", genome={1, 2}))  # not JSON: refused on the driver


def test_a_relative_problem_file_reaches_workers_as_an_absolute_path(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    wire = job_to_wire(Job(1, "c", "examples/sine.py"))
    assert wire["problem"] == str(REPO / "examples" / "sine.py")
    assert job_to_wire(Job(1, "c", "binpack.online"))["problem"] == "binpack.online"


class Wants:
    def __init__(self, **resources) -> None:
        self._resources = resources

    def resources(self) -> dict:
        return self._resources


def test_gpu_fraction_only_when_the_cluster_has_gpus() -> None:
    jax_like = Wants(num_cpus=1, num_gpus=0.25, memory=2**30)
    on_gpu, notes = slot_resources(jax_like, {"CPU": 8, "GPU": 2})
    assert on_gpu == {"num_cpus": 1.0, "num_gpus": 0.25, "memory": 2**30} and notes == []
    on_cpu, notes = slot_resources(jax_like, {"CPU": 8})
    assert on_cpu == {"num_cpus": 1.0, "memory": 2**30}
    assert "has none" in notes[0]
    assert slot_resources(object(), {"CPU": 1}) == ({"num_cpus": 1.0}, [])
    with pytest.raises(ValueError, match=r"unknown key 'cpus' \(did you mean num_cpus\?\)"):
        slot_resources(Wants(cpus=2), {})
    with pytest.raises(ValueError, match="num_gpus must be a number >= 0, got -1"):
        slot_resources(Wants(num_gpus=-1), {})


def test_a_slot_no_node_can_host_is_refused_in_one_line() -> None:
    nodes = [{"Alive": True, "Resources": {"CPU": 4.0, "memory": 8e9}}]
    check_feasible({"num_cpus": 2.0, "memory": 10**9}, nodes)
    with pytest.raises(ValueError, match="no node of the Ray cluster"):
        check_feasible({"num_cpus": 8.0}, nodes)
    with pytest.raises(ValueError, match="GPU"):
        check_feasible({"num_cpus": 1.0, "num_gpus": 1.0}, nodes)
    with pytest.raises(ValueError):
        check_feasible({"num_cpus": 1.0}, [{"Alive": False, "Resources": {"CPU": 4.0}}])


def test_backstop_is_the_sum_of_stage_wall_limits_plus_slack() -> None:
    class TwoStages:
        def stages(self):
            return [Stage("a", "m:f", limits=Limits(wall_s=2)), Stage("b", "m:f")]

    assert stage_budget_s(TwoStages(), "search") == 2 + 10 + 2 * STAGE_SLACK_S
    assert stage_budget_s(TwoStages(), HELD_OUT) == 600.0  # no held-out stages declared
    assert BACKSTOP_MARGIN_S > 0


def test_memory_monitor_kills_are_recognised() -> None:
    class OutOfMemoryError(Exception):
        pass

    assert is_memory_kill(OutOfMemoryError("evicted"))
    assert is_memory_kill(RuntimeError("Task was killed due to the node running low on memory."))
    plain = "The actor died unexpectedly ... (1) the process was killed by the OOM killer"
    assert not is_memory_kill(RuntimeError(plain))


def test_ray_errors_are_told_in_one_line() -> None:
    nested = RuntimeError(
        "The actor died because of an error raised in its creation task, ray::EvalActor\n"
        "Traceback (most recent call last):\n  File ...\n"
        "ValueError: isolation must be one of ('auto', 'bwrap', 'uid', 'rlimits')"
    )
    assert describe_error(nested).startswith("ValueError: isolation must be one of")
    died = RuntimeError("The actor died unexpectedly before finishing this task.\n\tpid: 3")
    assert (
        describe_error(died)
        == "RuntimeError: The actor died unexpectedly before finishing this task."
    )


def test_an_unreachable_cluster_address_fails_fast_in_one_line() -> None:
    class FakeRay:
        def is_initialized(self) -> bool:
            return False

        def init(self, **kwargs):  # never reached
            raise AssertionError("ray.init must not be tried")

    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ValueError, match="cannot reach the Ray cluster at '127.0.0.1:"):
        connect(FakeRay(), f"127.0.0.1:{port}")
