"""A candidate's private view of the file system: read-only but for its own tmpfs folders.

Under bubblewrap every candidate sees / read-only and writes only below the sandbox's work
directory. With "uid" isolation alone it shared the host's mounts: it could write in any
world-writable directory (/var/tmp, /run/lock, the 0777 session folders Ray leaves below
/tmp), and a file left below the top of those outlived its job, where the scan after each
job does not look: a stash for later candidates, such as the items of a training set
(helper-69's audit found the same stash in kernel keys). So each candidate gets a mount
namespace of its own in which every mount is read-only except the work directory (root's,
0711: the candidate writes only in its own 0700 job directory there). Set up as root while
the candidate waits for its job; the namespace and its mounts go with its last process.

In that namespace, under bubblewrap too, the candidate also gets (helper-70's audit):

* its job folder as a tmpfs of ``Limits.scratch_mb``: on disk, only each file's size was
  capped, and a candidate could fill the host's disk for as long as its wall clock ran;
  other candidates cannot see into it even when it opens it to everyone (one that made
  its folder 0777 let a concurrent candidate read and write its files);
* a /dev/shm of its own (a tmpfs of SHM_MB), for the POSIX semaphores of ``multiprocessing``
  (Pool, Queue, Lock): the read-only view broke them, and bubblewrap's /dev never had one;
* where it runs in a pid namespace of its own (spare.py), a /proc of that namespace
  (``own_proc``): the host's (or bubblewrap's) /proc still showed every other process and,
  through /proc/self, the candidate's pid outside, so the pid counter it is there to hide.
"""

from __future__ import annotations

import ctypes
import os

from evaluators.sandbox import reaper

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
# the per-mount options a read-only remount keeps (dropping noexec or nosuid would widen)
KEPT = {
    "nosuid": 0x2,
    "nodev": 0x4,
    "noexec": 0x8,
    "noatime": 0x400,
    "nodiratime": 0x800,
    "relatime": 0x200000,
    "strictatime": 0x1000000,
    "nosymfollow": 0x100,
}
SKIPPED = ("/proc", "/sys")  # kernel interfaces, not storage: left as they are
SHM_MB = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def _mount(source: str | None, target: str, flags: int) -> bool:
    raw = os.fsencode(source) if source is not None else None
    return _libc.mount(raw, os.fsencode(target), None, flags, None) == 0


def _tmpfs(target: str, options: str, flags: int = MS_NOSUID | MS_NODEV) -> bool:
    return _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", flags, options.encode()) == 0


def _unescape(field: str) -> str:
    r"""mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, int]]:
    """This namespace's mount points with the flags of theirs a remount keeps."""
    out = []
    # any bytes: a mount point need not be UTF-8 (a USB label, a FUSE mount)
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) < 6:
                continue
            kept = 0
            for option in fields[5].split(","):
                kept |= KEPT.get(option, 0)
            out.append((_unescape(fields[4]), kept))
    return out


def private_read_only(writable: str) -> bool:
    """Give this process a mount namespace where everything is read-only but ``writable``
    (and /proc, /sys, and a private /dev/shm). False, with nothing made read-only, when the
    kernel refuses the namespace or the bind of ``writable``; True once / itself is
    read-only."""
    if not reaper.unshare(CLONE_NEWNS):
        return False
    # private first: nothing done here may reach the host's namespace
    if not _mount(None, "/", MS_REC | MS_PRIVATE):
        return False
    # bound before its mount turns read-only: a bind takes its source mount's flags
    if not _mount(writable, writable, MS_BIND):
        return False
    root_done = False
    for point, kept in mount_points():
        if point == writable or any(point == s or point.startswith(s + "/") for s in SKIPPED):
            continue
        done = _mount(None, point, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)
        root_done = root_done or (done and point == "/")
    if root_done and os.path.isdir("/dev/shm"):
        _tmpfs("/dev/shm", f"size={SHM_MB}m,mode=1777")  # best effort: only mp needs it
    return root_done


def own_proc() -> bool:
    """Mount a procfs of this process's pid namespace on /proc (in this mount namespace
    only), with /proc/sys read-only as bubblewrap has it; False if the kernel refuses.
    The namespace's first process must be the caller: a procfs shows the pid namespace
    of the process that mounts it."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if _libc.mount(b"proc", b"/proc", b"proc", flags, None) != 0:
        return False
    return _mount("/proc/sys", "/proc/sys", MS_BIND) and _mount(
        None, "/proc/sys", MS_BIND | MS_REMOUNT | MS_RDONLY | flags
    )


def hide(path: str) -> bool:
    """Make ``path`` (in this namespace only) an empty read-only folder, or an empty file
    (/dev/null bound over it); True also when there is nothing there to hide. It covers the
    path, not the data: a hard link or a copy elsewhere stays readable."""
    if os.path.isdir(path):
        return _tmpfs(path, "size=4k,mode=0555", MS_NOSUID | MS_NODEV | MS_RDONLY)
    if os.path.lexists(path):
        return _mount("/dev/null", path, MS_BIND)
    return True


def job_folder(path: str, uid: int, size_mb: int) -> bool:
    """Make ``path`` (in this namespace only) an empty tmpfs of ``size_mb`` that ``uid``
    owns; False if the kernel refuses."""
    return _tmpfs(path, f"size={int(size_mb)}m,mode=0700,uid={int(uid)},gid={int(uid)}")
