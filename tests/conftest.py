"""Shared fixtures: real refreshes of the calibrated sample, once per test session.

Two sizes: the tiny sample (every family, quarter and dialect; person-level volume 2 %)
carries the scenario tests, each on a private copy; the scale-1 sample is the `e2e` proof of
every published figure, built once and only read.
"""

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# A fixed test key: pseudonyms are reproducible across the session, and no key file is
# created in the checkout by the tests.
os.environ["TSDG_PSEUDONYM_KEY"] = "test-key-not-for-production"

HERE = Path(__file__).parent


def pytest_configure(config):
    """The dbt manifest exists before any test module imports the definitions."""
    from dagster_project.dbt_manifest import ensure_manifest

    ensure_manifest()


# The tiers whose tests take minutes each: handed out first, so that a worker does not
# start one of them when the other has nearly finished everything else.
LONG_TIERS = ("e2e", "fault", "distributed")


@pytest.hookimpl(wrapper=True)  # before pytest-xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """`make test` and `make check` run on two pytest-xdist workers (`--dist loadgroup`).
    Tests using a module-scoped fixture (e.g. a blocked build that several tests assert on)
    stay together on one worker, so that it is built once; every e2e test joins one group
    (the scale-1 build is a session fixture: built once, on one worker); any other test is
    handed out on its own, to whichever worker is free."""
    def tier(item) -> int:
        marked = [i for i, name in enumerate(LONG_TIERS) if item.get_closest_marker(name)]
        return marked[0] if marked else len(LONG_TIERS)

    # Within the default tier: one test on the tiny warehouse first (its worker builds it,
    # ~15 s), then the tests that need no tiny sample (the other worker runs them instead of
    # waiting on the build's lock), then the module groups (a refresh each: long units go
    # out early, so that no worker is left with one at the end), then the scenarios on a
    # private copy (a refresh or two each, 5-20 s), then the rest (reads, mostly under 1 s).
    def needs_tiny(item) -> bool:
        return bool({"tiny_sample", "tiny_refreshed"} & set(getattr(item, "fixturenames", ())))

    default = len(LONG_TIERS)
    starter = next((item for item in items if tier(item) == default
                    and "tiny_refreshed" in getattr(item, "fixturenames", ())), None)

    def order(item) -> tuple[int, int]:
        if tier(item) < default or item is starter:
            return tier(item), 0
        if not needs_tiny(item):
            return tier(item), 1
        if _uses_module_fixture(item):
            return tier(item), 2
        return tier(item), 3 if "copies" in getattr(item, "fixturenames", ()) else 4

    items.sort(key=order)  # stable: collection order within each
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
        elif _uses_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    return (yield)


def pytest_collection_finish(session):
    """On an xdist worker under `--dist loadgroup`, a grouped test's node id ends in its
    group (xdist's doing). If a pytest or xdist upgrade stops that, the groups are ignored
    and, e.g., the scale-1 warehouse is built on both workers: refuse to run instead."""
    if getattr(session.config.option, "loadgroup", False):
        lost = [item.nodeid for item in session.items
                if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if lost:
            raise pytest.UsageError(f"pytest-xdist ignored the test groups (e.g. {lost[0]}): "
                                    "check the pytest and pytest-xdist pins in pyproject.toml")


def _uses_module_fixture(item) -> bool:
    fixtures = getattr(item, "_fixtureinfo", None)
    return fixtures is not None and any(
        definition.scope == "module"
        for definitions in fixtures.name2fixturedefs.values() for definition in definitions)


@pytest.fixture(scope="session")
def published_figures() -> list[dict]:
    with open(HERE / "published_figures.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _generated(tmp_path_factory, name: str, scale: float) -> tuple[Path, dict]:
    from dagster_project.sample.generate import generate

    out = tmp_path_factory.mktemp(name)
    return out, generate(out, scale=scale, progress=lambda m: None)


def _refreshed(sources: Path, warehouse: Path):
    """`sources` through `tsdg refresh` (real Dagster, dbt and DuckDB) into `warehouse`."""
    from dagster_project.config import settings
    from dagster_project.refresh import refresh

    s = settings(sources, warehouse)
    lines = []
    code = refresh(s, progress=lines.append)
    assert code == 0, "\n".join(lines)
    return s


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    return _generated(tmp_path_factory, "landing", 1.0)


@pytest.fixture(scope="session")
def refreshed(sample, tmp_path_factory):
    """The scale-1 sample, refreshed once; only read (the `e2e` tier)."""
    return _refreshed(sample[0], tmp_path_factory.mktemp("warehouse"))


def _release_digest(s) -> str:
    """A digest of the release `latest` points at: its folder name and every file."""
    latest = s.releases_dir / "latest"
    digest = hashlib.sha256(str(latest.resolve()).encode())
    root = latest.resolve()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def release_digest():
    return _release_digest


# The tiny calibrated sample: every family, quarter and file dialect, few person rows.
# Aggregated families are not scaled, so their published figures hold exactly.
TINY_SCALE = 0.02


@contextlib.contextmanager
def _once_per_run(tmp_path_factory, name: str):
    """(folder, built?) for something every worker of the run shares: the first worker to
    ask builds it while the others wait on a lock, then they all read it (under xdist the
    workers' temporary folders share a parent; alone, it is the session's own)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
        yield folder, done.exists()
        done.touch()


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory) -> tuple[Path, dict]:
    """Generated once per run, whatever the number of workers."""
    from dagster_project.sample.generate import generate

    with _once_per_run(tmp_path_factory, "tiny_landing") as (out, built):
        if not built:
            generate(out, scale=TINY_SCALE, progress=lambda m: None)
    return out, json.loads((out / "sample_manifest.json").read_text())


@pytest.fixture(scope="session")
def tiny_refreshed(tiny_sample, tmp_path_factory):
    """The tiny sample, refreshed once per run (the workers share it). No test writes here:
    take `copies`."""
    from dagster_project.config import settings

    with _once_per_run(tmp_path_factory, "tiny_warehouse") as (warehouse, built):
        if not built:
            _refreshed(tiny_sample[0], warehouse)
    return settings(tiny_sample[0], warehouse)


@pytest.fixture(scope="module")
def tiny_release(tiny_refreshed):
    """(folder, read-only connection) of the tiny warehouse's latest release."""
    import duckdb

    folder = (tiny_refreshed.releases_dir / "latest").resolve()
    con = duckdb.connect(str(folder / "release.duckdb"), read_only=True)
    yield folder, con
    con.close()


def copy_of(s, into: Path):
    """A private copy of a landing area and warehouse (releases' `latest` link kept)."""
    from dagster_project.config import settings

    shutil.copytree(s.sources_dir, into / "landing")
    shutil.copytree(s.warehouse_dir, into / "warehouse", symlinks=True)
    return settings(into / "landing", into / "warehouse")


@pytest.fixture
def copies(tiny_refreshed, tmp_path):
    """A private copy of the tiny landing area and refreshed warehouse, for a scenario
    that writes (a few MB: cheap to copy whole)."""
    return copy_of(tiny_refreshed, tmp_path)
