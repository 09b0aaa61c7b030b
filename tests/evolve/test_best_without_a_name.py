"""`evolve best` may leave out the campaign when the database holds just one."""

from __future__ import annotations

from evolve import api
from tests.evolve.cli_helpers import SINE, assert_one_line_error, run_cli


def test_the_one_campaign_is_found_and_several_are_named(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'one.db'}"
    api.run(SINE, {"db": db, "max_evals": 3, "workers": 1, "seed": 1, "name": "first"})
    code, out, _ = run_cli(capsys, "best", "--db", db)
    assert code == 0 and out.startswith("# program ")
    assert run_cli(capsys, "best", "first", "--db", db)[1] == out
    api.run(SINE, {"db": db, "max_evals": 3, "workers": 1, "seed": 2, "name": "second"})
    code, _, err = run_cli(capsys, "best", "--db", db)
    assert_one_line_error(code, err, "holds 2 campaigns (first, second): name one")


def test_an_empty_database_says_so(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'none.db'}"
    code, _, err = run_cli(capsys, "best", "--db", db)
    assert_one_line_error(code, err, "no database at")


def test_a_wrong_campaign_name_gets_the_names_to_type(tmp_path, capsys):
    # A default campaign name is the problem's and the time, so a newcomer types the
    # problem's name (`evolve best sine`) or misspells the long one.
    db = f"sqlite:///{tmp_path / 'names.db'}"
    for name in ("sine-20261201-093728", "sine-20261201-101500"):
        api.run(SINE, {"db": db, "max_evals": 1, "workers": 1, "seed": 1, "name": name})
    code, _, err = run_cli(capsys, "best", "sine", "--db", db)
    assert_one_line_error(
        code,
        err,
        "no campaign named 'sine' in "
        f"{db}; did you mean 'sine-20261201-101500' or 'sine-20261201-093728'? "
        "(see `evolve status`)",
    )
    code, _, err = run_cli(capsys, "status", "sine", "--db", db)
    assert_one_line_error(code, err, "; did you mean 'sine-20261201-101500' or 'sine-2026")
    code, _, err = run_cli(capsys, "export", "sin-20261201-093728", "--db", db)
    assert_one_line_error(code, err, "; did you mean 'sine-20261201-093728'")
    code, _, err = run_cli(capsys, "best", "ghost", "--db", db)
    assert_one_line_error(code, err, f"no campaign named 'ghost' in {db} (see `evolve status`)")
