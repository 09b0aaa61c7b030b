"""A cgroup per candidate (evaluators/sandbox/cgroups.py): memory, tasks and CPU weight.

Runs as root where cgroups can be made (this file's ``WRITABLE`` probe); skipped, with the
reason, elsewhere: there the level string lacks "+cgroup" and nothing else changes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest
from sandbox_corpus import support as s

from evaluators.contract import OK, OOM, Limits
from evaluators.sandbox import SandboxRunner, cgroups
from evaluators.sandbox.spare import JOBS_PER_SUPERVISOR
from evaluators.sandbox.zygote import SPARES


def _writable() -> bool:
    layout = cgroups.make_parent() if os.geteuid() == 0 else None
    return layout is not None and cgroups.remove_parent(layout)


WRITABLE = _writable()
pytestmark = pytest.mark.skipif(
    not WRITABLE,
    reason="cgroups cannot be made here (not root, /sys read-only, or the memory, pids and "
    "cpu controllers not delegated to this process's cgroup)",
)
LIMITS = Limits(wall_s=10.0, memory_mb=512, scratch_mb=16)  # a cgroup of 528 MiB

# 600 MiB in memfds of 50 MiB (under file_mb): RLIMIT_AS never sees them
MEMFD_FILL = """
import os
def main():
    fds = [os.memfd_create("fill") for _ in range(12)]
    chunk = b"x" * (1 << 20)
    for fd in fds:
        for _ in range(50):
            os.write(fd, chunk)
    return sum(os.fstat(fd).st_size for fd in fds) >> 20
"""
# 8 processes of 100 MiB each, every one well under its 512 MiB address space
PROCESSES_FILL = """
import os, time
def main():
    kids = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            try:
                block = bytearray(100 << 20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                time.sleep(1)
            finally:
                os._exit(3)
        kids.append(pid)
    statuses = [os.waitpid(kid, 0)[1] for kid in kids]
    if any(os.WIFSIGNALED(status) for status in statuses):
        raise SystemExit("a child was killed")
    return len(kids)
"""


@pytest.fixture(scope="module", params=["bwrap", "uid"])
def runner(request):
    if request.param == "bwrap" and not os.path.exists("/usr/bin/bwrap"):
        pytest.skip("bubblewrap is not installed")
    with SandboxRunner(isolation=request.param) as sandbox:
        yield sandbox


def _own_parents() -> list[str]:
    """This process's runners' parent cgroups, found by name (cgroups.make_parent)."""
    found = cgroups.locate()
    assert found is not None
    mine = f"{cgroups.PREFIX}{os.stat('/proc/self/ns/pid').st_ino}-{os.getpid()}-"
    out = []
    for folder in set(found[1].values()):
        out += [e.path for e in os.scandir(folder) if e.name.startswith(mine)]
    return out


def _groups_in(parents: list[str]) -> int:
    return len({e.name for p in parents for e in os.scandir(p) if e.is_dir(follow_symlinks=False)})


def _empty_groups(parents: list[str]) -> set[str]:
    """The candidate groups no process is in, in any hierarchy: left behind (a waiting
    candidate is in its group from its start, see child._isolate_waiting)."""
    held: dict[str, bool] = {}
    for p in parents:
        for e in os.scandir(p):
            if e.is_dir(follow_symlinks=False):
                try:
                    with open(os.path.join(e.path, "cgroup.procs")) as procs:
                        busy = bool(procs.read().split())
                except OSError:
                    busy = False
                held[e.name] = held.get(e.name, False) or busy
    return {name for name, busy in held.items() if not busy}


def test_the_level_names_the_cgroup(runner):
    assert runner.isolation in ("bwrap+uid+pidns+cgroup", "uid+rofs+netns+pidns+cgroup+rlimits")


@pytest.mark.parametrize("code", [MEMFD_FILL, PROCESSES_FILL], ids=["memfd", "processes"])
def test_memory_no_rlimit_sees_is_oom(runner, code):
    result = runner.run(code, "", {}, LIMITS)
    assert result.outcome == OOM, result
    assert result.detail == (
        "memory limit 528 MiB (memory_mb + scratch_mb) exceeded "
        "(cgroup: counts tmpfs, shm, memfd and every process)"
    )
    s.assert_no_survivors()
    s.assert_still_works(runner)


def _escape_code(layout: dict) -> str:
    v1 = layout["version"] == 1
    memory_file = "memory.limit_in_bytes" if v1 else "memory.max"
    weight_file = "cpu.shares" if v1 else "cpu.weight"
    root = "/sys/fs/cgroup/pids" if v1 else "/sys/fs/cgroup"
    return f"""
import os
PARENTS = {layout["dirs"]!r}
def main():
    own = {{}}
    for line in open("/proc/self/cgroup"):
        _, names, path = line.strip().split(":", 2)
        for name in (names.split(",") if names else [""]):
            own[name] = path
    paths = {{c: own.get(c, own.get("")) for c in PARENTS}}
    name = os.path.basename(paths["memory"])
    mine = {{c: os.path.join(p, name) for c, p in PARENTS.items()}}
    tries = {{}}
    for key, path, value in (
        ("memory", os.path.join(mine["memory"], {memory_file!r}), "-1"),
        ("pids", os.path.join(mine["pids"], "pids.max"), "max"),
        ("cpu", os.path.join(mine["cpu"], {weight_file!r}), "10000"),
        ("leave", os.path.join(PARENTS["pids"], "cgroup.procs"), "0"),
        ("leave to the root", os.path.join({root!r}, "cgroup.procs"), "0"),
    ):
        try:
            with open(path, "w") as handle:
                handle.write(value)
            tries[key] = "written"
        except OSError as exc:
            tries[key] = type(exc).__name__
    try:
        os.mkdir(os.path.join(mine["pids"], "nested"))
        tries["nested"] = "made"
    except OSError as exc:
        tries["nested"] = type(exc).__name__
    with open(os.path.join(mine["cpu"], {weight_file!r})) as handle:
        weight = handle.read().strip()
    return {{"paths": paths, "tries": tries, "weight": weight}}
"""


def test_the_candidate_is_in_its_own_group_and_cannot_change_or_leave_it(runner):
    layout = runner._cgroups
    result = runner.run(_escape_code(layout), "", {}, LIMITS)
    assert result.outcome == OK, result
    paths = result.value["paths"]
    name = os.path.basename(paths["memory"])
    for controller, parent in layout["dirs"].items():
        # below the runner's parent (shown from the zygote's cgroup namespace in bwrap)
        assert paths[controller].endswith(f"/{os.path.basename(parent)}/{name}"), paths
    assert name.startswith("c-")
    refused = {"PermissionError", "OSError"}
    assert set(result.value["tries"].values()) <= refused, result.value["tries"]
    assert result.value["weight"] == str(cgroups.CPU_WEIGHT[layout["version"]][1])


@pytest.mark.parametrize("sweep_wait_s", [1.0, 0.0])
def test_no_group_is_left_after_many_jobs_a_killed_zygote_and_the_close(
    sweep_wait_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 0.0: as if the killed candidates were slow to die (a loaded machine): what the sweep
    # at the restart could not remove goes at the jobs after it, not only at the close
    real = cgroups.sweep
    monkeypatch.setattr(
        cgroups,
        "sweep",
        lambda layout, wait_s=1.0, keep="": real(layout, min(wait_s, sweep_wait_s), keep),
    )
    with SandboxRunner() as runner:
        parents = cgroups.parent_dirs(runner._cgroups)
        assert parents and set(parents) <= set(_own_parents())
        waiting = (SPARES + 1) * JOBS_PER_SUPERVISOR  # pre-forked candidates have groups
        for index in range(200):
            result = runner.run(s.TRIVIAL, "", {}, s.ROOMY)
            assert result.outcome == OK, result
            if index == 100:  # its candidates' groups: swept at the restart
                os.killpg(runner._zygote.process.pid, signal.SIGKILL)
                runner._zygote.process.wait()
        # Every group left holds a waiting candidate: an empty one was left behind. Not a
        # count against `waiting`: a job handed to a spare supervisor before the busy one
        # said it could take another keeps both supervisors' waiting candidates (29 groups
        # for 24 seen on a loaded machine, all alive). A group removed after its job's
        # answer may still be there a moment: wait for the empty ones, bounded.
        settle = time.monotonic() + 10
        while _empty_groups(parents) and time.monotonic() < settle:
            time.sleep(0.05)
        assert not _empty_groups(parents)
        assert _groups_in(parents) <= 2 * waiting  # pre-forked candidates stay bounded
    assert not any(os.path.exists(p) for p in parents)


def test_a_dead_runners_parents_are_removed_at_the_next_start():
    found = cgroups.locate()
    assert found is not None
    dead = subprocess.Popen(["true"])
    dead.wait()
    ns = os.stat("/proc/self/ns/pid").st_ino
    stale = [os.path.join(d, f"evoforge-{ns}-{dead.pid}-0badc0de") for d in set(found[1].values())]
    alive = [os.path.join(d, f"evoforge-{ns}-{os.getpid()}-a11fe000") for d in found[1].values()]
    try:
        for path in (*stale, *alive):
            os.makedirs(os.path.join(path, "c-1-000000000000"), exist_ok=True)
        with SandboxRunner():
            pass
        assert not any(os.path.exists(p) for p in stale)
        assert all(os.path.exists(p) for p in alive)  # a live owner's: kept
    finally:
        for path in (*stale, *alive):
            cgroups.remove_parent({"version": found[0], "dirs": {"x": path}})


BUSY = """
import os, time
def main():
    end = time.monotonic() + {seconds}
    kids = []
    for _ in range({processes} - 1):
        pid = os.fork()
        if pid == 0:
            while time.monotonic() < end:
                pass
            os._exit(0)
        kids.append(pid)
    while time.monotonic() < end:
        pass
    for kid in kids:
        os.waitpid(kid, 0)
    return len(kids) + 1
"""
COUNT = """
import time
def main():
    end = time.perf_counter() + {seconds}
    count = 0
    while time.perf_counter() < end:
        count += 1
    return count
"""


def _count_beside(runner, processes: int) -> int:
    """Iterations of a single-threaded loop in 1.5 s while a neighbour runs ``processes``
    busy processes."""
    limits = Limits(wall_s=20.0, memory_mb=512)
    busy = threading.Thread(
        target=runner.run, args=(BUSY.format(seconds=3.0, processes=processes), "", {}, limits)
    )
    busy.start()
    time.sleep(0.5)  # its processes are up
    result = runner.run(COUNT.format(seconds=1.5), "", {}, limits)
    busy.join()
    assert result.outcome == OK, result
    return result.value


@pytest.fixture
def off_autogroups():
    """This process in a cpu cgroup of its own for the test, as a worker in a systemd
    service is: in the root cpu cgroup the kernel's autogroups (one per session, and each
    candidate is a session leader that seccomp keeps from making more) already weighed
    jobs alike, and they apply nowhere else."""
    found = cgroups.locate()
    assert found is not None
    version, own = found
    if version != 1:  # v2: the controllers live in the leaves; the worker stays where it is
        yield
        return
    test_group = os.path.join(own["cpu"], f"evoforge-test-{os.getpid()}")
    os.mkdir(test_group)
    try:
        with open(os.path.join(test_group, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
        yield
    finally:
        with open(os.path.join(own["cpu"], "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
        # What the test's runners forked is in here too, and may outlive their close() by a
        # few ms: the zygote leaves at once, its supervisors and their waiting candidates
        # (root; some not yet in a group of their own) end on their own right after. The
        # group goes once they are gone.
        if not cgroups.remove_tree(test_group, kill=False, wait_s=REMOVE_WAIT_S):
            pytest.fail(f"{test_group} still holds {_tasks_below(test_group)}")


REMOVE_WAIT_S = 20.0


def _tasks_below(path: str) -> list[str]:
    """'pid name' of every task in cgroup ``path`` and below."""
    found = []
    for folder, _, _ in os.walk(path):
        for pid in cgroups._tasks(folder):
            try:
                with open(f"/proc/{pid}/comm") as handle:
                    found.append(f"{pid} {handle.read().strip()} in {folder}")
            except OSError:
                found.append(f"{pid} (gone) in {folder}")
    return found


@pytest.mark.parametrize("isolation", ["bwrap", "uid"])
def test_a_jobs_cpu_share_does_not_grow_with_its_processes(off_autogroups, isolation):
    """Without cgroups the counting job got 1/17 of the time with a 16-process neighbour
    against 1/2 with a 1-process one (two cores: 0.09-0.11 of its rate, measured); with a
    cgroup each the scheduler weighs the jobs alike (on two cores CFS spreads the busy
    job's weight over both, so the counter keeps some 2/3 of a core or more)."""
    with SandboxRunner(isolation=isolation) as runner:
        alone_before = _count_beside(runner, 1)
        crowded = _count_beside(runner, 16)
        alone_after = _count_beside(runner, 1)
    ratio = crowded / ((alone_before + alone_after) / 2)
    print(f"counting beside 16 busy processes / beside 1: {ratio:.2f}")
    assert ratio > 0.45, (ratio, alone_before, crowded, alone_after)
