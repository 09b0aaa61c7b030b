"""The cluster path through the `evolve` command on a real PostgreSQL server: what it
prints names the database without its password, the hints it prints carry the --db they
need, and a campaign whose Ray cluster is gone can be resumed elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evolve"))
from cli_helpers import SINE, one_line_error, run_cli  # noqa: E402

from db import open_storage  # noqa: E402

PASSWORD = "s3cret-pw"  # the test server trusts every login, so any password connects


def _with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _run(capsys, url: str, name: str, *extra: str) -> tuple[int, str, str]:
    argv = ["run", SINE, "--db", url, "--max-evals", "3", "--workers", "1", "--name", name]
    return run_cli(capsys, *argv, "--quiet", *extra)


def test_the_password_of_the_db_url_is_never_printed(capsys, pg_url: str) -> None:
    url = _with_password(pg_url)
    masked = make_url(url).render_as_string(hide_password=True)
    code, out, err = _run(capsys, url, "pw")
    assert code == 0 and PASSWORD not in out + err
    (line,) = [x.strip() for x in out.splitlines() if x.strip().startswith("results:")]
    assert line == (
        f"results: {masked} · `evolve best pw --db {masked}` · `evolve status pw --db {masked}`"
    )
    for argv in (["best", "ghost"], ["export", "ghost"], ["resume", "ghost"], ["status", "x"]):
        code, out, err = run_cli(capsys, *argv, "--db", url)
        assert PASSWORD not in one_line_error(code, err) + out
        assert "no campaign named 'ghost'" in err or argv[0] == "status"
    # The name is taken: the hint names the database to resume it in, masked.
    code, _, err = _run(capsys, url, "pw")
    assert f"`evolve resume pw --db {masked}`" in one_line_error(code, err)
    assert PASSWORD not in err
    # A URL that does not parse is shown masked too.
    bad = url.replace(f":{make_url(url).port}/", ":notaport/")
    code, _, err = run_cli(capsys, "status", "--db", bad)
    assert "invalid database URL" in one_line_error(code, err) and PASSWORD not in err


def test_a_failed_connection_names_the_fix_after_a_semicolon(capsys, pg_url: str) -> None:
    wrong = make_url(pg_url).set(database="no_such_db").render_as_string(hide_password=False)
    code, _, err = run_cli(capsys, "status", "--db", wrong)
    assert "or fix the URL; set --db or EVOLVE_DB" in one_line_error(code, err)


def test_status_hint_of_a_killed_campaign_names_its_db(capsys, pg_url: str) -> None:
    url = _with_password(pg_url)
    masked = make_url(url).render_as_string(hide_password=True)
    assert _run(capsys, url, "killed")[0] == 0
    storage = open_storage(url)
    try:  # as a controller killed with SIGKILL leaves it: running, and no lease
        storage.set_campaign_status(storage.get_campaign("killed").id, "running")
    finally:
        storage.close()
    code, out, _ = run_cli(capsys, "status", "--db", url)
    assert code == 0 and PASSWORD not in out
    assert f"continue it with `evolve resume killed --db {masked}`" in out


def test_a_campaign_whose_ray_cluster_is_gone_resumes_elsewhere(capsys, pg_url: str) -> None:
    """A campaign started on a Ray head that is unreachable (moved, or down for good)
    stays stored; `evolve resume --executor local` or `--ray-address NEW` continues it."""
    pytest.importorskip("ray")
    dead = "127.0.0.1:1"
    code, _, err = _run(capsys, pg_url, "moved", "--executor", "ray", "--ray-address", dead)
    assert f"cannot reach the Ray cluster at '{dead}'" in one_line_error(code, err)
    # it stopped before it ran: interrupted (not "running", a controller that died)
    storage = open_storage(pg_url)
    try:
        record = storage.get_campaign("moved")
        assert record.status == "interrupted"
        [event] = storage.events(record.id, "interrupted")
        assert event.payload["reason"] == "start_failed" and dead in event.payload["detail"]
    finally:
        storage.close()
    # The stored address is used again by a plain resume ...
    code, _, err = run_cli(capsys, "resume", "moved", "--db", pg_url, "--quiet")
    assert f"cannot reach the Ray cluster at '{dead}'" in one_line_error(code, err)
    # ... and replaced for this run by --ray-address (reaching the executor) ...
    other = "127.0.0.1:2"
    code, _, err = run_cli(capsys, "resume", "moved", "--db", pg_url, "--ray-address", other)
    assert f"cannot reach the Ray cluster at '{other}'" in one_line_error(code, err)
    code, _, err = run_cli(
        capsys, "resume", "moved", "--db", pg_url, "--executor", "local", "--ray-address", other
    )
    assert "--ray-address goes with --executor ray" in one_line_error(code, err)
    # ... or by the local pool, which finishes the budget.
    code, out, _ = run_cli(capsys, "resume", "moved", "--db", pg_url, "--executor", "local")
    assert code == 0 and "campaign moved: 3 evaluations (budget)" in out
