"""The worker process of the local executor (workers/local.py): it starts a sandbox runner,
then evaluates the batches its controller sends until told to stop, or until the controller
is gone. Apart from the executor so that each stays one idea, and small."""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from workers.trusted import WorkerStop

THREADS_ENV = "EVOFORGE_NATIVE_THREADS"  # threads one evaluation's native code may use


def worker_main(
    conn: Connection, isolation: str, modules: tuple[str, ...], threads: int = 0
) -> None:
    # Ctrl-C reaches the whole foreground process group; the controller decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_the_controller()
    if threads:  # native code that splits a call over threads takes this worker's share
        os.environ.setdefault(THREADS_ENV, str(threads))
    from evaluators.sandbox.reaper import set_name

    set_name("evo-worker")
    try:
        _serve(conn, isolation, modules)
    except WorkerStop:  # the controller died: the runner's ``with`` has closed the sandbox
        return


def _serve(conn: Connection, isolation: str, modules: tuple[str, ...]) -> None:
    from evaluators.sandbox import SandboxRunner
    from workers.evaluate import ProblemCache, evaluate_jobs

    name = f"local-{os.getpid()}"
    problems = ProblemCache()
    with SandboxRunner(preload=modules, isolation=isolation) as runner:
        conn.send(("ready", runner.isolation))
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return  # the controller is gone (killed, or closed the pipe): exit quietly
            if job is None:
                return
            results = evaluate_jobs(job, runner, problems, name)
            try:
                conn.send(("result", results))
            except OSError:
                return


def _exit_with_the_controller(poll_s: float = 0.5) -> None:
    """End this worker, sandbox and candidate included, soon after the controller dies.

    A worker notices a closed pipe only when it reads its next job: after kill -9 of the
    controller, one blocked on a candidate kept the sandbox and the candidate running to
    the candidate's wall clock, then ran the batch already waiting in its pipe, beside a
    resumed campaign's workers. A thread watches for the worker being re-parented; SIGTERM
    then raises WorkerStop in the main thread (whatever it waits on), so the sandbox
    runner's ``with`` block closes it: zygote, candidates, work folder and cgroups. Not
    SystemExit: raised inside a scorer, the cascade recorded that as the scorer's failure
    and the worker went on with its batch (workers/trusted.py lets WorkerStop through)."""
    controller = os.getppid()

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the close must not be cut
        raise WorkerStop

    def watch() -> None:
        while os.getppid() == controller:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=watch, name="evo-worker-orphan-watch", daemon=True).start()
