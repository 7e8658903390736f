"""When `tsdg serve` forks a refresh (dagster_project/refresh_server.py): only a refresh, on
the same Python, environment (where read at import) and code; and why not, in words that
name what differs without its value."""

import os
import sys
from pathlib import Path

import pytest

from dagster_project.refresh_server import code_stamp, refusal

ENV = {"TSDG_PSEUDONYM_KEY": "server-key-0f3a", "DAGSTER_HOME": "/srv/dagster", "TZ": "UTC",
       "PATH": "/usr/bin", "TERM": "xterm"}


@pytest.fixture
def code(tmp_path) -> Path:
    """A project tree of its own: the folders the stamp reads, and one it does not."""
    for name in ("dagster_project/lib/a.py", "registry/sources.yml", "dbt/models/m.sql",
                 "dbt/target/manifest.json", "expectations/s.json", "deploy/dagster.yaml",
                 "pyproject.toml", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


def _request(**changes) -> dict:
    request = {"argv": ["refresh", "--sources", "in"], "env": dict(ENV),
               "executable": sys.executable, "cwd": "/"}
    request.update(changes)
    return request


def test_a_refresh_like_the_server_is_served(code):
    stamp = code_stamp(code)
    assert refusal(_request(), ENV, sys.executable, stamp, code) is None
    # what is not read at import may differ: the child takes the client's
    other = {**ENV, "PATH": "/opt/bin:/usr/bin", "TERM": "dumb", "COLUMNS": "80"}
    assert refusal(_request(env=other), ENV, sys.executable, stamp, code) is None


def test_a_different_environment_is_named_never_its_value(code):
    stamp = code_stamp(code)
    env = {**ENV, "TSDG_PSEUDONYM_KEY": "client-key-77b1", "TSDG_INGEST_MEMORY_LIMIT": "1GB"}
    del env["TZ"]
    reason = refusal(_request(env=env), ENV, sys.executable, stamp, code)
    assert reason == ("its environment differs in TSDG_INGEST_MEMORY_LIMIT, "
                      "TSDG_PSEUDONYM_KEY, TZ")
    assert "client-key-77b1" not in reason and "server-key-0f3a" not in reason


def test_only_a_refresh_on_the_same_python_is_served(code):
    stamp = code_stamp(code)
    assert refusal(_request(argv=["query", "select 1"]), ENV, sys.executable, stamp, code) \
        == "it serves `tsdg refresh` only"
    assert refusal(_request(executable="/usr/bin/python3"), ENV, sys.executable, stamp,
                   code) == f"it runs another Python ({sys.executable})"


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_changed_code_is_not_served(code, change):
    stamp = code_stamp(code)
    module = code / "dagster_project" / "lib" / "a.py"
    if change == "edit":
        module.write_text("xy")
    elif change == "add":
        (code / "registry" / "new.yml").write_text("x")
    else:
        (code / "dbt" / "models" / "m.sql").unlink()
    assert refusal(_request(), ENV, sys.executable, stamp, code) == \
        "the code changed since it started (it restarts)"


def test_what_is_not_code_may_change(code):
    stamp = code_stamp(code)
    (code / "dbt" / "target" / "manifest.json").write_text("rewritten by a parse")
    (code / "README.md").write_text("edited")
    os.makedirs(code / "dagster_project" / "__pycache__")
    (code / "dagster_project" / "__pycache__" / "a.pyc").write_text("x")
    assert code_stamp(code) == stamp
