"""`tsdg indicator CODE`: the latest release's view of one indicator, in the terminal."""

import duckdb

from dagster_project.cli import main


def test_the_card_shows_definition_latest_values_and_the_review_line(tiny_refreshed, capsys):
    release = (tiny_refreshed.releases_dir / "latest").resolve()
    assert main(["indicator", "8.5.3", "--warehouse", str(tiny_refreshed.warehouse_dir)]) == 0
    out = capsys.readouterr().out
    with duckdb.connect(str(release / "release.duckdb"), read_only=True) as con:
        (num, den, as_of, start), = con.execute("""
            select numerator, denominator, strftime(as_of, '%Y-%m-%d'), strftime(window_start, '%Y-%m-%d')
            from marts.indicator_values where indicator_code = '8.5.3' and measure = 'rate'
              and is_headline and not is_year_to_date
              and as_of = (select max(as_of) from marts.indicator_values)""").fetchall()
        base, actual = con.execute("""select baseline_actual, target_year_actual
            from marts.indicator_progress where indicator_code = '8.5.3' and measure = 'rate'""").fetchall()[0]
    assert out.startswith("8.5.3  推介身心障礙者就業\n")
    assert "資料來源: 公立就業服務求職紀錄 (employment_services)" in out
    # the latest headline rate with what it is made of: a ratio of sums
    assert f"{start} → {as_of}   {num / den * 100:.2f}%  = {num:,.0f} / {den:,.0f}" in out
    assert f"{base * 100:.2f}% · >= 74.00% · {actual * 100:.2f}%" in out
    assert f"發布版本: {release.name}" in out


def test_english_and_an_unknown_code(tiny_refreshed, capsys):
    assert main(["indicator", "8.7.1", "--lang", "en", "--warehouse",
                 str(tiny_refreshed.warehouse_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("8.7.1  Occupational fatality rate per 1,000 insured\n")
    assert "Owner: 勞動部職業安全衛生署" in out and "未達成 not achieved" in out
    assert main(["indicator", "9.9", "--warehouse", str(tiny_refreshed.warehouse_dir)]) == 1
    assert "no indicator '9.9'" in capsys.readouterr().err
