"""Withhold, never block, for incomplete data: when every county file of a new quarter is
refused, the release still publishes; that quarter's county figures are published withheld
with the reason naming the refused submissions, and every earlier figure is unchanged."""

import duckdb
import pytest

from dagster_project.lib.reference import counties
from dagster_project.refresh import refresh
from dagster_project.sample.generate import COUNTY_HEADER


@pytest.fixture(scope="module")
def refused_quarter(tiny_refreshed, tmp_path_factory):
    from conftest import copy_of

    s = copy_of(tiny_refreshed, tmp_path_factory.mktemp("refused_quarter"))
    folder = s.sources_dir / "county_submissions"
    for county in counties():
        # 2025Q4 (ROC 114Q4), each with a negative count: every file of the quarter refused
        row = [county["name_zh"], "114", "4", "-1", "0", "0", "0", "0", "0", "0", "1", "1",
               "115/01/10"]
        (folder / f"{county['county_code']}_114Q4.csv").write_text(
            ",".join(COUNTY_HEADER) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    previous = (s.releases_dir / "latest").resolve()
    lines = []
    code = refresh(s, progress=lines.append)
    return s, previous, code, "\n".join(lines)


def _values(release, where):
    with duckdb.connect(str(release / "release.duckdb"), read_only=True) as con:
        return con.sql(f"""select v.indicator_code, v.measure, v.group_code, v.window_start,
                                  v.as_of, v.indicator_value, v.is_complete, v.incomplete_reason
                           from marts.indicator_values as v
                           join registry.indicators as i using (indicator_code)
                           where {where} order by all""").fetchall()


def test_the_release_publishes_with_the_refused_quarter_withheld(refused_quarter):
    s, previous, code, output = refused_quarter
    assert code == 0, output
    assert output.count("QUARANTINED ") >= 22
    latest = (s.releases_dir / "latest").resolve()
    assert latest != previous
    withheld = _values(latest, "i.source_family = 'county_submissions' "
                               "and v.as_of = date '2025-12-31'")
    assert {r[0] for r in withheld} >= {"SSN.JOINT.1", "SSN.STAFF.1"}
    for row in withheld:
        assert row[5] is None and row[6] is False, row
        assert "county_submissions 2025Q4" in row[7] and "quarantined" in row[7], row[7]


def test_every_earlier_figure_is_unchanged(refused_quarter):
    s, previous, _, _ = refused_quarter
    latest = (s.releases_dir / "latest").resolve()
    earlier = "v.as_of <= date '2025-09-30'"
    assert _values(latest, earlier) == _values(previous, earlier)
    # other families' figures do not reach past their data
    assert not _values(latest, "i.source_family <> 'county_submissions' "
                               "and v.as_of > date '2025-09-30'")


def test_sdmx_flags_the_withheld_figures_and_leaves_them_empty(refused_quarter):
    """Read back with pysdmx against the published structure: withheld is status L with
    no value and the reason, never a zero."""
    from pysdmx.io import get_datasets

    s, _, _, _ = refused_quarter
    sdmx = (s.releases_dir / "latest").resolve() / "sdmx"
    (dataset,) = get_datasets(sdmx / "indicators.csv", sdmx / "structure.xml")
    rows = dataset.data
    withheld = rows[(rows.TIME_PERIOD == "2025-12-31") & rows.INDICATOR.isin(["SSN_JOINT_1",
                                                                             "SSN_STAFF_1"])]
    assert len(withheld) >= 2
    assert set(withheld.OBS_STATUS) == {"L"}
    assert withheld.OBS_VALUE.isna().all()
    assert withheld.OBS_COMMENT.str.contains("county_submissions 2025Q4").all()


def test_families_that_sent_nothing_at_all_are_published_withheld(tiny_sample, tmp_path):
    """A first landing with only some families: the others' figures exist, withheld, and
    name the submissions they wait for; the release publishes."""
    import shutil

    from dagster_project.config import settings

    sources = tiny_sample[0]
    landing = tmp_path / "landing"
    for family, stem in (("county_submissions", "63000_113Q2"), ("labour_insurance", "bli_11308"),
                         ("training_rosters", "roster_113Q3_T")):
        (landing / family).mkdir(parents=True, exist_ok=True)
        for path in (sources / family).glob(f"{stem}.*"):
            shutil.copy2(path, landing / family / path.name)
    s = settings(landing, tmp_path / "warehouse")
    lines = []
    assert refresh(s, progress=lines.append) == 0, "\n".join(lines[-40:])
    with duckdb.connect(str(s.releases_dir / "latest" / "release.duckdb"), read_only=True) as con:
        rows = dict(con.execute("""select i.source_family, list(distinct v.incomplete_reason)
                                   from marts.indicator_values v
                                   join registry.indicators i using (indicator_code)
                                   where v.as_of = '2024-09-30' and v.is_headline
                                     and i.source_family in ('employment_services', 'programme_tallies')
                                     and not v.is_complete and v.indicator_value is null
                                   group by 1""").fetchall())
        sent_nothing = {r[0] for r in con.execute(
            """select indicator_code from registry.indicators
               where source_family in ('employment_services', 'programme_tallies')
                 and alias_of is null""").fetchall()}
        published = {r[0] for r in con.execute(
            "select distinct indicator_code from marts.indicator_values").fetchall()}
    assert sent_nothing <= published
    assert any("employment_services 2024Q" in r and ": missing" in r for r in rows["employment_services"])
    assert any("programme_tallies 2024 " in r and ": missing" in r for r in rows["programme_tallies"])
