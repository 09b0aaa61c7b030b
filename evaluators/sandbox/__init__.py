"""Sandboxed execution of candidate programs (see DESIGN.md, "Sandbox contract").

``SandboxRunner(preload, isolation).run(code, harness, params, limits) -> SandboxResult``.

Isolation levels (``runner.isolation``), strongest first:

* ``bwrap+uid+pidns`` (root + bubblewrap): the zygote runs inside bwrap with the whole file
  system read-only, a private /tmp, /dev and /proc, no network, its own pid/ipc/uts
  namespaces; each candidate runs as a private unprivileged uid with rlimits
  (address space, CPU, file size, open files, processes) and no_new_privs.
* ``uid+rofs+netns+pidns+rlimits`` (root, no bwrap): the same private uid and rlimits; where
  the kernel allows it, each candidate sees every mount read-only but the sandbox's work
  directory (``+rofs``: a private mount namespace, ``mounts``) and has no network (``+netns``);
  without them (``uid+rlimits``) only ordinary permissions protect the file system, and
  world-writable folders such as /tmp stay writable (the scan after each job removes what
  a candidate left at their top).

``+pidns``, at both root levels where the kernel allows it (with the mount namespace): each
candidate is pid 1 of a pid namespace of its own, with that namespace's /proc. bubblewrap's
pid namespace is the runner's, shared by its candidates, so the pid counter carried bits
from one candidate to the next (``spare``); it also hides every other process. The cost:
a candidate is its namespace's init, which ignores the signals it sends itself (``child``).
``+cgroup``, at both root levels where the runner can make cgroups (v1, or v2 in the root
cgroup only, the "no internal processes" rule: the memory, pids and cpu controllers
writable; ``bwrap+uid+pidns+cgroup``,
``uid+rofs+netns+pidns+cgroup+rlimits``): each candidate runs in a cgroup of its own
(``cgroups``), where all its memory (tmpfs, shm and memfd pages included, every process
together) is bounded by ``memory_mb + scratch_mb`` and ends ``oom`` beyond, its tasks by
``processes``, and its CPU weight is one job's, however many processes it runs.
* ``rlimits`` (not root): rlimits and a process-tree kill only; the candidate runs as the
  worker's own user and can read what that user can read, so only for trusted settings.

At every level a candidate also gets, where the kernel allows: private IPC and network
namespaces (root levels: neither SysV/POSIX IPC objects nor loopback TIME_WAIT sockets
reach the next candidate), oom_score_adj 1000, and a seccomp filter denying AF_UNIX sockets, io_uring,
new sessions, kernel keyrings and new namespaces (``seccomp``). What it can always do:
read the files its uid may read (world-readable ones, e.g. a database created with umask
022), and fill its job dir (RLIMIT_FSIZE is per
file; the dir is removed after the job).

Candidates run as another uid, so modules that are not preloaded can be imported only if
their files are world-readable (here Python lives under /root, so they cannot): add them
to ``preload`` (``PRELOAD`` in a single-file problem). A problem's harnesses, modules and
files alike, are preloaded without being named (``evaluators.cascade.problem_preload``).
"""

from typing import Any

__all__ = ["DEFAULT_PRELOAD", "SandboxRunner", "sandbox_modules"]


def __getattr__(name: str) -> Any:
    # The runner side (threads, subprocess, tempfile) is imported on first use: the zygote
    # imports this package for its own modules only, and a smaller zygote is a cheaper fork.
    if name in __all__:
        from evaluators.sandbox import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'evaluators.sandbox' has no attribute {name!r}")
