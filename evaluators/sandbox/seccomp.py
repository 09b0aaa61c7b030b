"""A seccomp filter for candidates: no AF_UNIX sockets, io_uring, new sessions, kernel
keyrings or namespaces.

The network namespace cuts TCP and UDP, and abstract unix sockets with them, but not a
socket *file*: connect() needs write permission on the socket's inode, and neither the
read-only bind of / nor another uid takes that away from a 0777 socket such as
PostgreSQL's (/tmp/.s.PGSQL.5432, /var/run/postgresql), D-Bus's or X11's. So a candidate
may not create an AF_UNIX socket at all (EACCES, as for a socket it may not reach).
``socketpair`` stays allowed for stream and seqpacket ends, which reach nothing outside
the process tree (asyncio, and multiprocessing's pipes, use them); a datagram end could
``sendto`` a socket file (/dev/log, journald: helper-72), so those fail with EACCES.
io_uring is denied too: its IORING_OP_SOCKET and IORING_OP_CONNECT would go around the
filter. Syscalls of another ABI (32-bit ones from a 64-bit process: ENOSYS; x32: EACCES)
fail, since their numbers differ.

``setsid`` fails with EPERM (what it returns to a process group leader). The kernel shares
the CPU fairly between sessions (autogroups) before processes: every candidate gets a
session of its own before the filter, and a candidate whose busy children each started
one took a CPU from its neighbour (a fed binpack cascade beside 40 such children: mean
522 ms, worst 5.3 s, against 164 alone; beside 40 children that cannot, 205 and 238).
So ``subprocess``'s ``start_new_session``, ``pty.fork`` and daemonising fail in a candidate.

The page cache is shared by every process of the machine: a candidate that evicted and
re-read pages of a world-readable file left bits that a later one read back with
``preadv2(RWF_NOWAIT)`` (helper-70's audit: 256 of 256). Probing it (``mincore``,
``cachestat``, ``preadv2``/``pwritev2`` with RWF_NOWAIT, Linux AIO whose reads take
RWF_NOWAIT too) and steering it (``fadvise64``, ``readahead``, ``madvise``
MADV_COLD/MADV_PAGEOUT, ``process_madvise``) are denied; a plain read's timing still tells,
more slowly and noisily, so this raises the cost, it does not close the channel.

Kernel keyrings (``add_key``, ``request_key``, ``keyctl``: EPERM) belong to no namespace
and outlive every process: a candidate stashed the items it was dealt in a key and the
next evaluation read them back, knowing every item to come (helper-69's audit; a key with
open permissions was readable by other uids too). ``unshare`` and ``setns`` (EPERM),
``clone`` with CLONE_NEWUSER (EPERM) and ``clone3`` (ENOSYS, whose flags a filter cannot
read: the C library then falls back to ``clone``) keep candidates out of new user
namespaces, where they would hold capabilities over what they create.

Classic BPF built by hand with ctypes (no libseccomp): x86_64 and aarch64 only; elsewhere
``supported()`` is False and candidates run without the filter.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
X32_SYSCALL_BIT = 0x40000000
# machine -> AUDIT_ARCH_* and the syscall numbers the filter looks at (io_uring_setup and
# clone3 have one number on every architecture)
ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "setsid": 112, "add_key": 248, "request_key": 249,
                            "keyctl": 250, "unshare": 272, "setns": 308, "clone": 56,
                            "clone3": 435, "io_uring_setup": 425, "mincore": 27,
                            "madvise": 28, "readahead": 187, "fadvise64": 221,
                            "preadv2": 327, "pwritev2": 328, "cachestat": 451,
                            "io_setup": 206, "process_madvise": 440, "socketpair": 53}),
    "aarch64": (0xC00000B7, {"socket": 198, "setsid": 157, "add_key": 217, "request_key": 218,
                             "keyctl": 219, "unshare": 97, "setns": 268, "clone": 220,
                             "clone3": 435, "io_uring_setup": 425, "mincore": 232,
                             "madvise": 233, "readahead": 213, "fadvise64": 223,
                             "preadv2": 286, "pwritev2": 287, "cachestat": 451,
                             "io_setup": 0, "process_madvise": 440, "socketpair": 199}),
}  # fmt: skip
# syscall -> the errno it fails with, whatever its arguments
DENIED = {
    "io_uring_setup": errno.EACCES,
    "setsid": errno.EPERM,
    "add_key": errno.EPERM,
    "request_key": errno.EPERM,
    "keyctl": errno.EPERM,
    "unshare": errno.EPERM,
    "setns": errno.EPERM,
    "clone3": errno.ENOSYS,
    # the page cache's contents: probed (mincore, cachestat) or steered (fadvise, readahead)
    "mincore": errno.ENOSYS,
    "cachestat": errno.ENOSYS,
    "fadvise64": errno.EPERM,
    "readahead": errno.EPERM,
    "io_setup": errno.ENOSYS,  # Linux AIO: its RWF_NOWAIT reads probe the cache too
    "process_madvise": errno.EPERM,  # madvise's COLD and PAGEOUT by another door
}
RWF_NOWAIT = 0x8  # preadv2/pwritev2: fail rather than wait, i.e. tell a cached page
MADV_COLD, MADV_PAGEOUT = 20, 21  # evict pages, file-backed ones from the page cache too
CLONE_NEWUSER = 0x10000000


def _arg(index: int) -> int:
    """Where seccomp_data.args[index]'s low 32 bits are (little-endian)."""
    return 16 + 8 * index


_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_AND = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RET = 0x06  # BPF_RET | BPF_K


class _Insn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def supported() -> bool:
    return os.uname().machine in ARCHES


def _fail(code: int) -> tuple[int, int, int, int]:
    return (_RET, 0, 0, SECCOMP_RET_ERRNO | code)


def _program() -> list[tuple[int, int, int, int]]:
    """Blocks in a row, each testing the syscall number and falling through to the next
    when it is not theirs; jump offsets count from the next instruction."""
    arch, nr = ARCHES[os.uname().machine]
    allow = (_RET, 0, 0, SECCOMP_RET_ALLOW)
    insns = [
        (_LD_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ, 1, 0, arch),
        _fail(errno.ENOSYS),  # another ABI
        (_LD_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE, 0, 1, X32_SYSCALL_BIT),
        _fail(errno.EACCES),  # x32
    ]
    for name, code in DENIED.items():
        insns += [(_JEQ, 0, 1, nr[name]), _fail(code)]
    # calls allowed unless an argument says otherwise: each block ends in a verdict
    insns += _unless_flag(nr["clone"], 0, CLONE_NEWUSER, errno.EPERM)  # user namespaces
    for name in ("preadv2", "pwritev2"):
        insns += _unless_flag(nr[name], 5, RWF_NOWAIT, errno.EOPNOTSUPP)
    insns += [  # madvise: allowed unless MADV_COLD or MADV_PAGEOUT
        (_JEQ, 0, 5, nr["madvise"]),
        (_LD_ABS, 0, 0, _arg(2)),
        (_JEQ, 1, 0, MADV_COLD),
        (_JEQ, 0, 1, MADV_PAGEOUT),
        _fail(errno.EINVAL),
        allow,
    ]
    insns += [  # socketpair: stream and seqpacket only (datagram ends reach socket files)
        (_JEQ, 0, 6, nr["socketpair"]),
        (_LD_ABS, 0, 0, _arg(1)),
        (_AND, 0, 0, 0xF),  # the type without SOCK_NONBLOCK and SOCK_CLOEXEC
        (_JEQ, 2, 0, socket.SOCK_STREAM),
        (_JEQ, 1, 0, socket.SOCK_SEQPACKET),
        _fail(errno.EACCES),
        allow,
    ]
    insns += [  # socket: allowed unless AF_UNIX
        (_JEQ, 0, 3, nr["socket"]),
        (_LD_ABS, 0, 0, _arg(0)),
        (_JEQ, 0, 1, socket.AF_UNIX),
        _fail(errno.EACCES),
        allow,
    ]
    return insns


def _unless_flag(number: int, arg: int, flag: int, code: int) -> list[tuple[int, int, int, int]]:
    """Syscall ``number`` fails with ``code`` when ``flag`` is set in its argument ``arg``
    (its low 32 bits), else is allowed; any other syscall goes on to the next block."""
    return [
        (_JEQ, 0, 4, number),
        (_LD_ABS, 0, 0, _arg(arg)),
        (_JSET, 0, 1, flag),
        _fail(code),
        (_RET, 0, 0, SECCOMP_RET_ALLOW),
    ]


def install_filter() -> None:
    """Install the filter on this thread (inherited by every thread and process it
    starts later); needs no_new_privs or CAP_SYS_ADMIN. OSError if the kernel refuses."""
    program = _program()
    insns = (_Insn * len(program))(*(_Insn(*insn) for insn in program))
    prog = _Prog(len(program), insns)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"seccomp filter refused: {errno.errorcode.get(code, code)}")
