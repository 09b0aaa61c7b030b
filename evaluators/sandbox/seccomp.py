"""A seccomp filter for candidates: no AF_UNIX sockets, no io_uring, no new sessions.

The network namespace cuts TCP and UDP, and abstract unix sockets with them, but not a
socket *file*: connect() needs write permission on the socket's inode, and neither the
read-only bind of / nor another uid takes that away from a 0777 socket such as
PostgreSQL's (/tmp/.s.PGSQL.5432, /var/run/postgresql), D-Bus's or X11's. So a candidate
may not create an AF_UNIX socket at all (EACCES, as for a socket it may not reach).
``socketpair`` stays allowed: it reaches nothing outside the process tree (asyncio, and
multiprocessing's pipes, use it). io_uring is denied too: its IORING_OP_SOCKET and
IORING_OP_CONNECT would go around the filter. Syscalls of another ABI (32-bit ones from
a 64-bit process, x32) fail with ENOSYS, since their numbers differ.

``setsid`` fails with EPERM (what it returns to a process group leader). The kernel shares
the CPU fairly between sessions (autogroups) before processes: every candidate gets a
session of its own before the filter, and a candidate whose busy children each started
one took a CPU from its neighbour (a fed binpack cascade beside 40 such children: 234 ms
against 141; beside 40 children that cannot, 144).

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
IO_URING_SETUP = 425  # the same number on every architecture since Linux 5.1
# machine -> (AUDIT_ARCH_*, __NR_socket, __NR_setsid); little-endian: args[0]'s low word at 16
ARCHES = {"x86_64": (0xC000003E, 41, 112), "aarch64": (0xC00000B7, 198, 157)}

_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
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


def _program() -> list[tuple[int, int, int, int]]:
    arch, nr_socket, nr_setsid = ARCHES[os.uname().machine]
    deny = SECCOMP_RET_ERRNO | errno.EACCES
    # jump offsets count from the next instruction
    return [
        (_LD_ABS, 0, 0, 4),  # 0: seccomp_data.arch
        (_JEQ, 1, 0, arch),  # 1: native -> 3
        (_RET, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),  # 2: another ABI
        (_LD_ABS, 0, 0, 0),  # 3: seccomp_data.nr
        (_JGE, 5, 0, X32_SYSCALL_BIT),  # 4: x32 -> 10
        (_JEQ, 4, 0, IO_URING_SETUP),  # 5: -> 10
        (_JEQ, 4, 0, nr_setsid),  # 6: -> 11
        (_JEQ, 0, 4, nr_socket),  # 7: socket -> 8, else 12
        (_LD_ABS, 0, 0, 16),  # 8: args[0] (the domain), low 32 bits
        (_JEQ, 0, 2, socket.AF_UNIX),  # 9: AF_UNIX -> 10, else 12
        (_RET, 0, 0, deny),  # 10
        (_RET, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),  # 11: setsid
        (_RET, 0, 0, SECCOMP_RET_ALLOW),  # 12
    ]


def deny_unix_sockets() -> None:
    """Install the filter on this thread (inherited by every thread and process it
    starts later); needs no_new_privs or CAP_SYS_ADMIN. OSError if the kernel refuses."""
    program = _program()
    insns = (_Insn * len(program))(*(_Insn(*insn) for insn in program))
    prog = _Prog(len(program), insns)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"seccomp filter refused: {errno.errorcode.get(code, code)}")
