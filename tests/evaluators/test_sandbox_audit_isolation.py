"""Audit findings: what a candidate could reach besides its own process tree.

Each case runs under bwrap (when installed) and in the "uid" fallback: SysV and POSIX IPC
objects that outlive the candidate, unix socket files (PostgreSQL, D-Bus) that the
network namespace does not cut, io_uring, the OOM killer's choice, and a failure report
that the candidate's own exception cannot turn into another outcome class.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading

import pytest
from sandbox_corpus import support as s

from evaluators.contract import ERROR, KILLED, OK, Limits
from evaluators.sandbox import SandboxRunner, sandbox_modules
from evaluators.sandbox.launch import bwrap_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox tests run as root")


@pytest.fixture(scope="module", params=["bwrap", "uid"])
def runner(request):
    if request.param == "bwrap" and bwrap_path() is None:
        pytest.skip("bwrap is not installed")
    with SandboxRunner(isolation=request.param) as sandbox:
        yield sandbox


def run_ok(runner, code):
    result = runner.run(code, "", {}, s.ROOMY)
    assert result.outcome == OK, result
    s.assert_no_survivors()
    return result.value


# Creates a 16 MiB SysV segment (touched, then detached: RLIMIT_AS no longer counts it)
# and a POSIX message queue, after looking for those a previous candidate left.
IPC = """
import ctypes
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    seen = {"shm": libc.shmget(0xE0F0, 0, 0), "mq": rt.mq_open(b"/evoforge-audit", 2)}
    sid = libc.shmget(0xE0F0, 16 << 20, 0o1000 | 0o666)
    addr = libc.shmat(sid, None, 0)
    ctypes.memset(addr, 65, 16 << 20)
    libc.shmdt(ctypes.c_void_p(addr))
    rt.mq_open(b"/evoforge-audit", 0o100 | 2, 0o666, None)
    with open("/proc/sysvipc/shm") as handle:
        seen["mine"] = len(handle.read().splitlines()) - 1
    return seen
"""


def host_segments_of_sandbox_uids() -> list[str]:
    with open("/proc/sysvipc/shm") as handle:
        rows = [line.split() for line in handle.read().splitlines()[1:]]
    return [" ".join(row) for row in rows if int(row[7]) in s.UID_RANGE]


def test_ipc_objects_die_with_their_candidate(runner):
    first = run_ok(runner, IPC)
    assert first["mine"] == 1  # its own segment, created and visible to itself
    second = run_ok(runner, IPC)
    assert second["shm"] == -1 and second["mq"] == -1  # nothing left by the first
    assert not host_segments_of_sandbox_uids()


@pytest.fixture
def socket_server():
    """A 0777 unix socket in a world-traversable directory, as PostgreSQL's or D-Bus's."""
    folder = tempfile.mkdtemp(prefix="evoforge-audit-")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "server.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(8)
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, accepted
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(2)
    shutil.rmtree(folder, ignore_errors=True)


def test_unix_socket_files_are_unreachable(runner, socket_server):
    path, accepted = socket_server
    # positive control: the worker itself reaches it
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(path)
    code = f"""
import socket
def main():
    out = {{}}
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect({path!r})
        out["unix"] = "connected"
    except OSError as exc:
        out["unix"] = type(exc).__name__
    a, b = socket.socketpair()  # still allowed: it reaches nothing outside
    a.send(b"x")
    out["pair"] = b.recv(1).decode()
    return out
"""
    value = run_ok(runner, code)
    assert value == {"unix": "PermissionError", "pair": "x"}
    assert len(accepted) == 1  # the control only


def test_io_uring_is_denied(runner):
    code = """
import ctypes
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 8, params)  # io_uring_setup
    return [fd, ctypes.get_errno()]
"""
    fd, err = run_ok(runner, code)
    assert fd == -1 and err == 13  # EACCES


def test_a_candidate_cannot_start_sessions(runner):
    """The kernel shares a CPU between sessions first: a candidate whose busy children each
    started one stalled a neighbour's cascade for up to 5 s. Each child still forks and
    runs; os.setsid (and subprocess's start_new_session) fails as for a group leader."""
    code = """
import os
def main():
    errors = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                os._exit(0)
            except PermissionError:
                os._exit(1)
        errors.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    return [errors, os.getsid(0) == os.getpid()]
"""
    children, own_session = run_ok(runner, code)
    assert children == [1, 1] and own_session  # refused; the candidate's own session stays


def test_no_kernel_keyrings_or_new_namespaces(runner):
    """A key outlives its job and belongs to no namespace: a candidate stashed the items it
    was dealt in one, and the next evaluation read the future from it (helper-69's audit).
    New user namespaces are closed too; threads (clone without those flags) still run."""
    code = """
import ctypes, os, threading
def main():
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    def errno_of(result):
        return ctypes.get_errno() if result == -1 else result
    x86 = os.uname().machine == "x86_64"
    keyring = ctypes.c_int32(-3)  # KEY_SPEC_USER_KEYRING
    out["add_key"] = errno_of(libc.syscall(248 if x86 else 217, b"user", b"evo", b"items", 5, keyring))
    out["keyctl"] = errno_of(libc.syscall(250 if x86 else 219, 0, keyring, 0))
    out["unshare"] = errno_of(libc.unshare(0x10000000))  # CLONE_NEWUSER
    nr_clone = 56 if x86 else 220
    pid = libc.syscall(nr_clone, 0x10000000 | 17, 0, 0, 0, 0)  # CLONE_NEWUSER | SIGCHLD
    if pid == 0:
        os._exit(0)
    out["clone_newuser"] = errno_of(pid)
    done = []
    thread = threading.Thread(target=lambda: done.append(1))
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["threads_and_fork"] = [done, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]
    return out
"""
    assert run_ok(runner, code) == {
        "add_key": 1, "keyctl": 1, "unshare": 1, "clone_newuser": 1,  # EPERM
        "threads_and_fork": [[1], 7],
    }  # fmt: skip


def test_candidates_are_the_oom_killers_first_choice(runner):
    code = """
def main():
    with open("/proc/self/oom_score_adj") as handle:
        adj = handle.read().strip()
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("0")
        lowered = True
    except OSError:
        lowered = False
    return [adj, lowered]
"""
    assert run_ok(runner, code) == ["1000", False]


def test_an_exception_whose_str_raises_is_an_error_not_oom(runner):
    code = """
class Liar(BaseException):
    def __str__(self):
        raise Liar()
def main():
    raise Liar()
"""
    result = runner.run(code, "", {}, s.ROOMY)
    assert result.outcome == ERROR, result
    assert result.detail == "an exception whose message could not be made"


def test_the_campaign_database_is_out_of_a_candidates_reach(runner) -> None:
    """evoforge's SQLite files are created owner-only (db/engine.py): a candidate, running
    as another uid, cannot read the campaign's programs and scores."""
    from db import open_storage

    where = tempfile.mkdtemp(dir="/tmp")  # (pytest's tmp_path is under a 0700 directory)
    try:
        os.chmod(where, 0o755)  # a directory anyone may enter, as a working directory is
        path = os.path.join(where, "evolve.db")
        open_storage(f"sqlite:///{path}").close()
        code = (
            "def main():\n"
            "    try:\n"
            f"        return len(open({path!r}, 'rb').read())\n"
            "    except OSError as exc:\n"
            "        return type(exc).__name__\n"
        )
        assert run_ok(runner, code) == "PermissionError"
    finally:
        shutil.rmtree(where, ignore_errors=True)


# Leaves a world-writable file (and a folder) in each shared scratch folder it can write
# to, after looking for those an earlier candidate left.
LEAVE_FILES = """
import os
def main():
    found, wrote = [], []
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        path = os.path.join(folder, "evoforge-audit-left-behind")
        if os.path.exists(path) or os.path.exists(path + ".d"):
            found.append(folder)
        try:
            with open(path, "a") as handle:
                handle.write("data for the next candidate")
            os.chmod(path, 0o666)
            os.mkdir(path + ".d")
            wrote.append(folder)
        except OSError:
            pass
    return {"found": found, "wrote": wrote}
"""


def test_files_left_in_shared_scratch_folders_go_with_their_job(runner):
    first = run_ok(runner, LEAVE_FILES)
    assert first["found"] == []
    second = run_ok(runner, LEAVE_FILES)
    assert second["found"] == []  # nothing the first one wrote was still there
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.exists(os.path.join(folder, "evoforge-audit-left-behind"))


def test_the_scan_for_uid_isolation_without_a_read_only_view(tmp_path):
    """Where the kernel refuses the private mount namespace ("uid+rlimits"), what a job's
    uid left at the top of the shared scratch folders is removed after the job; others'
    files stay."""
    from evaluators.sandbox import reaper

    uid = 61999
    theirs, dir_of_theirs, ours = tmp_path / "left", tmp_path / "left.d", tmp_path / "ours"
    for path in (theirs, ours):
        path.write_text("x")
    dir_of_theirs.mkdir()
    (dir_of_theirs / "inside").write_text("x")
    for path in (theirs, dir_of_theirs):
        os.chown(path, uid, uid)
    reaper.remove_files_of(uid, (str(tmp_path),))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours"]


def test_the_page_cache_cannot_be_probed_or_steered(runner):
    """helper-70 stashed 256 bits in the host's page cache (evict, re-read pages of a
    world-readable file) that a later candidate of another uid read back exactly with
    preadv2(RWF_NOWAIT). Probing and steering calls now fail; plain reads and the usual
    madvise still work."""
    code = """
import ctypes, os
def main():
    out = {}
    fd = os.open("/proc/self/exe", os.O_RDONLY)
    def attempt(name, call):
        try:
            call()
            out[name] = "allowed"
        except OSError as exc:
            out[name] = exc.errno
    attempt("fadvise", lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED))
    attempt("nowait", lambda: os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT))
    attempt("pread", lambda: os.pread(fd, 1, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t] + [ctypes.c_int] * 3 + [ctypes.c_long]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    page = 4096
    area = libc.mmap(None, page, 3, 0x22, -1, 0)  # read/write, private, anonymous
    for name, advice in (("pageout", 21), ("dontneed", 4)):  # MADV_PAGEOUT, MADV_DONTNEED
        out[name] = ctypes.get_errno() if libc.madvise(area, page, advice) else "allowed"
    vec = ctypes.create_string_buffer(1)
    out["mincore"] = ctypes.get_errno() if libc.mincore(area, page, vec) else "allowed"
    return out
"""
    assert run_ok(runner, code) == {
        "fadvise": 1, "nowait": 95, "pread": "allowed", "pageout": 22,  # EPERM, EOPNOTSUPP, EINVAL
        "dontneed": "allowed", "mincore": 38,  # ENOSYS
    }  # fmt: skip


def test_the_job_folder_is_a_capped_tmpfs_and_shm_is_private(runner):
    """On disk only each file's size was capped: a candidate could fill the host's disk.
    /dev/shm of its own: multiprocessing's semaphores live there (the read-only view broke
    them; bubblewrap's /dev never had one)."""
    code = """
import os
def main():
    out = []
    for i in range(3):
        try:
            with open(os.path.join(os.environ["TMPDIR"], f"part{i}"), "wb") as handle:
                handle.write(b"x" * (1 << 20))
            out.append("written")
        except OSError as exc:
            out.append(exc.strerror)
    with open("/dev/shm/evoforge-probe", "w") as handle:
        handle.write("private")
    return out
"""
    result = runner.run(code, "", {}, Limits(wall_s=5.0, memory_mb=512, scratch_mb=2))
    assert result.outcome == OK, result
    assert result.value == ["written", "written", "No space left on device"]
    assert not os.path.exists("/dev/shm/evoforge-probe")  # the host's is untouched


@pytest.mark.parametrize("mode", ["bwrap", "uid"])
def test_multiprocessing_runs_in_candidates(mode):
    if mode == "bwrap" and bwrap_path() is None:
        pytest.skip("bwrap is not installed")
    extra = ("multiprocessing", "multiprocessing.pool", "multiprocessing.synchronize",
             "multiprocessing.queues", "multiprocessing.popen_fork")  # fmt: skip
    code = """
import multiprocessing
def square(x):
    return x * x
def main():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        return pool.map(square, range(5))
"""
    with SandboxRunner(preload=sandbox_modules(extra), isolation=mode) as box:
        result = box.run(code, "", {}, s.ROOMY)
    assert result.outcome == OK, result
    assert result.value == [0, 1, 4, 9, 16]


def test_a_stages_private_paths_are_empty_to_its_candidate(runner):
    """The sandbox shows the whole file system read-only: a world-readable data file the
    trusted side reads (FunSearch's sets, real spot traces) was readable by candidates,
    which could find their instance in it and see what is still to come."""
    data = tempfile.mkdtemp(prefix="evoforge-private-", dir="/tmp")
    try:
        os.chmod(data, 0o755)
        with open(os.path.join(data, "items.json"), "w") as handle:
            handle.write("[1, 2, 3]")
        os.chmod(os.path.join(data, "items.json"), 0o644)
        single = os.path.join(data, "items.json")
        code = f"""
import os
def main():
    return [sorted(os.listdir({data!r})), os.path.isdir({data!r})]
"""
        seen = runner.run(code, "", {}, s.ROOMY)
        hidden = runner.run(code, "", {}, s.ROOMY, hidden=[data])
        assert seen.value == [["items.json"], True]  # the control: readable without it
        assert hidden.outcome == OK and hidden.value == [[], True], hidden
        read = f"def main():\n    return open({single!r}).read()\n"
        assert runner.run(read, "", {}, s.ROOMY, hidden=[single]).value == ""
        assert open(single).read() == "[1, 2, 3]"  # the host's copy is untouched
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_datagram_socketpairs_linux_aio_and_process_madvise_are_denied(runner):
    """helper-72's review: a datagram socketpair end could sendto() a socket file, Linux
    AIO's RWF_NOWAIT reads probe the page cache as preadv2's did, and process_madvise gives
    the denied madvise advice. Stream socketpairs (asyncio, multiprocessing) still work."""
    code = """
import ctypes, os, socket
def main():
    out = {}
    for name, kind in (("stream", socket.SOCK_STREAM), ("datagram", socket.SOCK_DGRAM)):
        try:
            a, b = socket.socketpair(socket.AF_UNIX, kind)
            a.close(), b.close()
            out[name] = "allowed"
        except OSError as exc:
            out[name] = exc.errno
    libc = ctypes.CDLL(None, use_errno=True)
    x86 = os.uname().machine == "x86_64"
    context = ctypes.c_ulong(0)
    failed = libc.syscall(206 if x86 else 0, 8, ctypes.byref(context)) == -1  # io_setup
    out["io_setup"] = ctypes.get_errno() if failed else "allowed"
    failed = libc.syscall(440, -1, 0, 0, 21, 0) == -1  # process_madvise, MADV_PAGEOUT
    out["process_madvise"] = ctypes.get_errno() if failed else "allowed"
    return out
"""
    assert run_ok(runner, code) == {
        "stream": "allowed", "datagram": 13, "io_setup": 38, "process_madvise": 1,
    }  # fmt: skip


def test_mount_points_that_are_not_utf8_are_read(tmp_path):
    """A mount point with other bytes (a USB label) raised in every waiting candidate, and
    the sandbox then ran on without its read-only view (helper-72)."""
    from evaluators.sandbox import mounts

    info = tmp_path / "mountinfo"
    info.write_bytes(
        b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        b"40 22 8:2 / /media/\xff\\040x rw,nosuid,nodev - vfat /dev/sdb1 rw\n"
    )
    points = mounts.mount_points(str(info))
    assert points[0] == ("/", mounts.KEPT["relatime"])
    assert os.fsencode(points[1][0]) == b"/media/\xff x"
    assert points[1][1] == mounts.KEPT["nosuid"] | mounts.KEPT["nodev"]


# What the pid counter shows a candidate: its pid, the last pid the kernel gave out (two
# files show it), the pid /proc/self names, and the processes /proc lists.
PID_COUNTER = """
import os
def main():
    with open("/proc/sys/kernel/ns_last_pid") as handle:
        last = handle.read().strip()
    with open("/proc/loadavg") as handle:
        also_last = handle.read().split()[-1]
    listed = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    return [os.getpid(), last, also_last, os.readlink("/proc/self"), listed]
"""

ADVANCE_THE_COUNTER = """
import os
def main():
    for _ in range(FORKS):
        if os.fork() == 0:
            os._exit(0)
        os.wait()
    return FORKS
"""


def test_the_pid_counter_carries_nothing_to_later_candidates(runner):
    """The red team's audit: a candidate forked k processes to advance the next pid (some
    6 bits a job), and a later one read its own pid, ns_last_pid or /proc/loadavg: in one
    runner under bubblewrap (one pid namespace for all its candidates), across runners
    with uid isolation. Each candidate is now pid 1 of a pid namespace of its own."""
    seen = {}
    for forks in (0, 37):
        assert run_ok(runner, ADVANCE_THE_COUNTER.replace("FORKS", str(forks))) == forks
        seen[forks] = run_ok(runner, PID_COUNTER)
    assert seen[37] == seen[0]  # the 37 forks left no trace
    assert seen[0] == [1, "1", "1", "1", [1]]  # nor did any process before it


# A daemon: a grandchild in a process group of its own that ignores SIGTERM, orphaned by
# its parent; it says who adopted it, then sleeps.
DAEMON = """
import os, signal, time
def main():
    r, w = os.pipe()
    if os.fork() == 0:
        os.setpgid(0, 0)
        parent = os.getpid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while os.getppid() == parent:
                time.sleep(0.001)
            os.write(w, str(os.getppid()).encode())
            time.sleep(60)
            os._exit(0)
        os._exit(0)
    os.close(w)
    os.wait()
    return int(os.read(r, 100))
"""

# Signals the candidate sends itself: an init ignores them (it set no handler).
SELF_SIGNALS = """
import os, signal
def main():
    os.kill(os.getpid(), signal.SIGTERM)
    signal.raise_signal(signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGKILL)
    return "still here"
"""


def test_a_candidate_is_the_init_of_its_pid_namespace(runner):
    """Orphans go to the candidate, not to the supervisor, and die with it (the kernel
    kills a namespace whose init exits); what changes for the candidate itself: signals
    it sends itself are ignored, while faults and abort() still end it."""
    assert run_ok(runner, DAEMON) == 1  # run_ok: and nothing of its uid survives
    assert run_ok(runner, SELF_SIGNALS) == "still here"
    crash = runner.run("import ctypes\ndef main():\n    ctypes.string_at(0)\n", "", {}, s.ROOMY)
    assert (crash.outcome, crash.detail) == (KILLED, "killed by SIGSEGV")
    aborted = runner.run("import os\ndef main():\n    os.abort()\n", "", {}, s.ROOMY)
    assert aborted.outcome == KILLED, aborted
    s.assert_no_survivors()


# Leaves TCP connections in TIME_WAIT (it closes first) on loopback ports it chose.
TIME_WAIT = """
import socket
def main():
    for _ in range(3):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(server.getsockname())
        server.accept()[0].close()
        client.close()
        server.close()
"""

LIST_TCP = """
def main():
    with open("/proc/net/tcp") as handle:
        return handle.read().splitlines()[1:]
"""


def test_loopback_connections_carry_nothing_to_later_candidates(runner):
    """Under bubblewrap candidates shared its network namespace, loopback up: the ports of
    a candidate's closed connections stayed listed in /proc/net/tcp (TIME_WAIT, a
    minute) for the candidates after it. Each now has a network namespace of its own."""
    runner.run(TIME_WAIT, "", {}, s.ROOMY)  # fails where loopback is down: as well
    assert run_ok(runner, LIST_TCP) == []
