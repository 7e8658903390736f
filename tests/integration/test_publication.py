"""The release's outputs for people and programs, read back by independent readers and
compared with the release's own marts: release.xlsx with openpyxl, the Parquet files with
DuckDB, the CSVs with the csv module, metadata.json against the marts' columns."""

import csv
import json

import pandas as pd
import pytest
from openpyxl import load_workbook

pytestmark = pytest.mark.tools


def test_the_review_sheet_is_the_review_table_as_published(tiny_release):
    folder, con = tiny_release
    ws = load_workbook(folder / "release.xlsx")["檢視表 Review"]
    assert ws.freeze_panes == "A2"
    assert ws["G1"].value == "2021年實績\nActual 2021" and ws["J1"].value == "達成情形\nAchieved"
    sheet = {(r[0].value, r[3].value, r[4].value): r for r in ws.iter_rows(min_row=2)}
    marts = con.execute("""select p.indicator_code, p.measure, p.group_code, p.baseline_actual,
                              p.target, p.target_year_actual, p.is_achieved, m.unit
                       from marts.indicator_progress p
                       join registry.indicators i using (indicator_code)
                       join registry.indicator_measures m
                         on m.indicator_code = coalesce(i.alias_of, p.indicator_code)
                        and m.measure = p.measure and m.group_code = p.group_code""").fetchall()
    assert len(sheet) == len(marts) == 26
    achieved = {True: "達成 achieved", False: "未達成 not achieved", None: "資料不全 withheld"}
    for code, measure, group, base, target, actual, is_achieved, unit in marts:
        row = sheet[code, measure, group]
        assert (row[6].value, row[7].value, row[8].value) == (base, target, actual), code
        assert row[9].value == achieved[is_achieved]
        assert row[5].value == unit
    # number formats as published: counts with separators, shares as %, per-1000 with 3 decimals
    assert sheet["1.3.1", "count", "all"][8].number_format == "#,##0"
    assert sheet["8.5.2", "rate", "all"][8].number_format == "0.00%"
    assert sheet["8.7.1", "rate_per_1000", "all"][8].number_format == "0.000"
    assert sheet["10.3.1", "cumulative_visits", "all"][10].value.endswith("萬人次")
    # not achieved is visibly marked
    assert sheet["8.7.1", "rate_per_1000", "all"][9].fill.fgColor.rgb.endswith("F8D7DA")


def test_series_county_and_notes_sheets_hold_the_marts(tiny_release):
    folder, con = tiny_release
    wb = load_workbook(folder / "release.xlsx", read_only=True)
    series = list(wb["時間序列 Series"].iter_rows(min_row=2, values_only=True))
    assert len(series) == con.execute("""select count(*) from marts.indicator_values
                                     where is_headline or is_year_to_date""").fetchall()[0][0]
    withheld = [r for r in series if r[10] == "否 no"]
    assert all(r[11] for r in withheld)  # a withheld value says why
    county = list(wb["縣市 County programmes"].iter_rows(min_row=2, values_only=True))
    assert len(county) == con.execute("select count(*) from marts.county_programme_quarterly").fetchall()[0][0]
    notes = [r[2] for r in wb["說明 Notes"].iter_rows(min_row=2, values_only=True)]
    assert folder.name in notes[0]  # the release id to cite
    assert sum(1 for r in notes if r and r.startswith(("請領", "單獨"))) == 2  # every indicator listed


def test_every_mart_is_published_as_parquet_equal_to_the_mart(tiny_release):
    folder, con = tiny_release
    for (mart,) in con.execute("select table_name from information_schema.tables "
                           "where table_schema = 'marts'").fetchall():
        parquet = folder / "data" / f"{mart}.parquet"
        differ = con.execute(f"""select count(*) from (
            (select * from marts.{mart} except all select * from read_parquet('{parquet}'))
            union all
            (select * from read_parquet('{parquet}') except all select * from marts.{mart}))""")
        assert differ.fetchall()[0][0] == 0, mart


def test_csvs_have_a_bom_and_whole_numbers_without_a_decimal_point(tiny_release):
    folder, con = tiny_release
    assert (folder / "indicator_progress.csv").read_bytes().startswith("\ufeff".encode())
    with open(folder / "indicator_progress.csv", encoding="utf-8-sig") as f:
        progress = {r["indicator_code"]: r for r in csv.DictReader(f)}
    assert progress["1.3.1"]["actual_2024"].isdigit()  # 1536268, not 1536268.0
    with open(folder / "data" / "county_programme_quarterly.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == con.execute("select count(*) from marts.county_programme_quarterly").fetchall()[0][0]
    # a count is a whole number, or empty beside the flag saying why (disclosure control)
    assert all(r["referred_willing"].isdigit() or r["referred_willing_flag"] for r in rows)
    assert any(r["referred_willing"].isdigit() for r in rows)
    expected = {(r[0], r[1], r[2]): r[3] for r in con.sql(
        "select county_code, report_year::varchar, report_quarter::varchar, coverage_rate "
        "from marts.county_programme_quarterly").fetchall()}
    for r in rows:
        want = expected[r["county_code"], r["report_year"], r["report_quarter"]]
        assert (r["coverage_rate"] == "" if want is None else float(r["coverage_rate"]) == want)


def test_metadata_describes_every_column_and_indicator(tiny_release):
    folder, con = tiny_release
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["release_id"] == folder.name
    for table in meta["tables"]:
        columns = [c for (c,) in con.execute("""select column_name from information_schema.columns
            where table_schema = 'marts' and table_name = ? order by ordinal_position""",
                                            [table["table"]]).fetchall()]
        assert [c["name"] for c in table["columns"]] == columns
        assert table["description"] and all(c["description"] for c in table["columns"]), table["table"]
    codes = {i["code"] for i in meta["indicators"]}
    assert codes == {c for (c,) in con.execute("select indicator_code from registry.indicators").fetchall()}
    alias = next(i for i in meta["indicators"] if i["code"] == "10.2.2")
    assert alias["alias_of"] == "8.5.3" and alias["measures"]  # an alias carries its original's
    with open(folder / "metadata.csv", encoding="utf-8-sig") as f:
        assert sum(1 for _ in csv.DictReader(f)) == sum(len(t["columns"]) for t in meta["tables"])


def test_sdmx_csv_read_by_pysdmx_equals_indicators_csv(tiny_release):
    """SDMX-CSV 2.0 against the SDMX-ML 3.0 structure beside it, read by pysdmx (BIS's SDMX
    library: it reads SDMX-CSV 2.0 and SDMX-ML 3.0 structures; sdmx1 reads SDMX-CSV 1.0)."""
    from pysdmx.io import get_datasets

    folder, _ = tiny_release
    (dataset,) = get_datasets(folder / "sdmx" / "indicators.csv", folder / "sdmx" / "structure.xml")
    assert [c.id for c in dataset.structure.components][:6] == [
        "INDICATOR", "MEASURE", "GROUP", "WINDOW", "REF_AREA", "TIME_PERIOD"]
    with open(folder / "indicators.csv", encoding="utf-8-sig") as f:
        published = {(r["indicator_code"].replace(".", "_"), r["measure"], r["group"],
                      r["window_start"], r["as_of"]): r for r in csv.DictReader(f)}
    observations = dataset.data.to_dict("records")
    assert len(observations) == len(published)
    for obs in observations:
        row = published[obs["INDICATOR"], obs["MEASURE"], obs["GROUP"], obs["WINDOW_START"],
                        obs["TIME_PERIOD"]]
        if obs["OBS_STATUS"] == "L":
            assert row["is_complete"] == "False" and pd.isna(obs["OBS_VALUE"])
        else:
            assert float(obs["OBS_VALUE"]) == float(row["value"])
            assert int(obs["DECIMALS"]) == int(row["display_precision"])


def _png_is_not_blank(path) -> bool:
    """More than one colour in the picture (pdftoppm/Chromium PNG, read without Pillow)."""
    import zlib

    data = path.read_bytes()
    chunks, i = b"", 8
    while i < len(data):
        length = int.from_bytes(data[i:i + 4], "big")
        if data[i + 4:i + 8] == b"IDAT":
            chunks += data[i + 8:i + 8 + length]
        i += 12 + length
    raw = zlib.decompress(chunks)
    return len(set(raw[1:4000:3])) > 2


def test_the_report_renders_offline_with_charts_and_chinese(tiny_release, tmp_path):
    import re
    import shutil
    import subprocess

    folder, con = tiny_release
    assert shutil.which("chromium") and shutil.which("pdftoppm"), "run `make system-deps`"
    report = folder / "report"
    page = (report / "8.5.3.html").read_text(encoding="utf-8")
    assert "推介身心障礙者就業" in page and "<script" not in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")  # offline: nothing fetched at view time
    points = [int(n) for n in re.findall(r'data-points="(\d+)"', page)]
    months = con.execute("""select count(*) from marts.indicator_values where indicator_code = '8.5.3'
        and measure = 'rate' and is_headline and indicator_value is not null""").fetchall()[0][0]
    assert months in points and page.count('class="ref"') >= 2  # baseline and target lines
    index = (report / "index.html").read_text(encoding="utf-8")
    review = index.split("<h2>")[0]
    assert review.count("<tr>") == 1 + con.execute(
        "select count(*) from marts.indicator_progress").fetchall()[0][0]
    with open(folder / "revisions.csv", encoding="utf-8-sig") as f:
        assert f"本版修正 Revisions ({sum(1 for _ in csv.DictReader(f))})" in index
    assert "未發布 Withheld (" in index
    for name in ("index.html", "8.5.3.html"):
        shot = tmp_path / f"{name}.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        f"--screenshot={shot}", "--window-size=1000,900", (report / name).as_uri()],
                       check=True, capture_output=True, timeout=120)
        assert _png_is_not_blank(shot), name
    pdf = folder / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))
    assert pages >= 26  # the index, 24 indicators, the counties
    assert re.search(r"^Page size:.* pts \(A4\)$", info, re.M), info  # not US Letter
    subprocess.run(["pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "3", str(pdf),
                    str(tmp_path / "p")], check=True, timeout=120)
    rendered = sorted(tmp_path.glob("p-*.png"))
    assert len(rendered) == 3 and all(_png_is_not_blank(p) for p in rendered)
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "檢視表" in text


def test_the_release_carries_the_dbt_documentation_site(tiny_release):
    folder, con = tiny_release
    site = (folder / "docs" / "index.html").read_text(encoding="utf-8")
    for (mart,) in con.execute("select table_name from information_schema.tables "
                               "where table_schema = 'marts'").fetchall():
        assert f"model.tsdg.{mart}" in site, mart  # every published model, with its lineage
    assert "Value rounded to display_precision" in site  # the columns' documentation


def test_the_workbook_prints_in_libreoffice_with_the_review_table_on_page_one(tiny_release, tmp_path):
    """A second, independent XLSX reader: LibreOffice Calc prints release.xlsx to PDF; the
    first page is the review table, whole (landscape, one page wide), in Chinese."""
    import re
    import shutil
    import subprocess

    folder, _ = tiny_release
    assert shutil.which("soffice"), "run `make system-deps`"
    subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(folder / "release.xlsx")],
                   check=True, capture_output=True, timeout=300)
    pdf = tmp_path / "release.pdf"
    first = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    for text in ("指標名稱", "2024年目標", "請領勞保年金給付人數", "1,931,013", "達成 achieved",
                 "未達成 not achieved"):
        assert text in first, text
    assert re.search(r"8\.7\.1 .*0\.022 .*未達成", first)  # one row, all its columns on one page
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "w")], check=True, timeout=120)
    assert _png_is_not_blank(next(tmp_path.glob("w-*.png")))
