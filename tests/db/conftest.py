"""Fixtures for the storage tests: every backend, including a real PostgreSQL server.

PostgreSQL: EVOLVE_TEST_PG_URL (a postgresql+psycopg:// URL whose user may CREATE DATABASE)
if set; otherwise a throwaway cluster is started from the local binaries (Debian's
`postgresql` package: /usr/lib/postgresql/*/bin) for the session. Without binaries the
postgres params are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The checkout must win over a stale editable install that recorded `db` as a namespace
# package (installed before db/__init__.py existed): then db/__init__.py never runs.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from _dbtest_helpers import pg_unavailable as _unavailable  # noqa: E402

from db.sql import SQLStorage  # noqa: E402

BACKENDS = ["sqlite_memory", "sqlite_file", "postgresql"]
_counter = itertools.count()


def _pg_bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "pg_ctl").exists():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Cluster:
    """A throwaway PostgreSQL cluster in a temp dir, run as the `postgres` user if root."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="evoforge-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        self.url = ""
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root and no runuser to drop to `postgres`")
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and no `postgres` system user") from exc
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self.prefix = [runuser, "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [*self.prefix, *args], capture_output=True, text=True, timeout=60, cwd=self.tmp
        )
        if proc.returncode != 0:
            log = self.tmp / "log"
            extra = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {proc.stdout}{proc.stderr}{extra}")

    def start(self) -> str:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self._pg_ctl_start()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/evoforge_test"

    def _pg_ctl_start(self) -> None:
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.tmp / "log"),
            "-o",
            opts,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop_server(self) -> None:
        """`pg_ctl stop -m fast`: clients are disconnected (admin shutdown), commits kept."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        self._pg_ctl_start()

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _admin(url: str, sql: str) -> None:
    """Run one statement in autocommit against the server's `postgres` database."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(
        host=u.host,
        port=u.port,
        user=u.username,
        password=u.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute(sql)


def _started_cluster() -> _Cluster:
    """A throwaway cluster from the local binaries, running, with `evoforge_test` created
    (its URL in ``.url``); skipped (failed under CI) when it cannot be had."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'evoforge[test]')")
    bindir = _pg_bindir()
    if bindir is None:
        _unavailable("PostgreSQL binaries not found (apt-get install postgresql)")
    cluster = _Cluster(bindir)
    try:
        cluster.url = cluster.start()
        _admin(cluster.url, "CREATE DATABASE evoforge_test")
    except Exception as exc:
        cluster.stop()
        _unavailable(f"could not start a throwaway PostgreSQL: {exc}")
    return cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL database `evoforge_test` on a real server (session scope)."""
    external = os.environ.get("EVOLVE_TEST_PG_URL")
    if external:
        yield external
        return
    cluster = _started_cluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[_Cluster]:
    """A throwaway PostgreSQL cluster of the module's own, for tests that stop and start
    its server (stop_server, start_server); its URL is in ``.url``."""
    if os.environ.get("EVOLVE_TEST_PG_URL"):
        pytest.skip("EVOLVE_TEST_PG_URL names a server these tests cannot restart")
    cluster = _started_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server, dropped after the test."""
    from sqlalchemy.engine import make_url

    name = f"evoforge_t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    yield url
    _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_file_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'evolve.db'}"


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database URL for every backend."""
    if request.param == "sqlite_memory":
        return "sqlite://"
    if request.param == "sqlite_file":
        return f"sqlite:///{tmp_path / 'evolve.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite_file", "postgresql"])
def persistent_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database URL that outlives one engine (not in-memory)."""
    if request.param == "sqlite_file":
        return f"sqlite:///{tmp_path / 'evolve.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def storage(backend_url: str) -> Iterator[SQLStorage]:
    st = SQLStorage(backend_url)
    yield st
    st.close()
