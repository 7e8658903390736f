"""release.xlsx: the release for statisticians who work in Excel — the Ministry's review
table as published (檢視表), the series behind it (時間序列), the county programme figures
with numerators and denominators (縣市), and notes to cite (說明). zh-Hant first, English
beside; number formats from the registry's unit and display precision."""

from pathlib import Path

import duckdb
import xlsxwriter

from dagster_project.lib.source_contract import door

ACHIEVED = {True: "達成 achieved", False: "未達成 not achieved", None: "資料不全 withheld"}


def number_format(unit: str, precision: int) -> str:
    """The published form of a measure: shares as percentages, per-1000 rates with their
    decimals, counts with thousands separators."""
    if unit == "ratio":
        return "0." + "0" * (precision - 2) + "%" if precision > 2 else "0%"
    if precision > 0:
        return "0." + "0" * precision
    return "#,##0"


def as_published(value: float | None, unit: str, precision: int) -> str:
    """The value as the review table prints it (10.3.1 in 萬人次)."""
    if value is None:
        return ""
    if unit == "ratio":
        return f"{value * 100:.{max(precision - 2, 0)}f}%"
    if precision < 0:
        return f"{value / 10 ** -precision:,.0f} 萬人次" if precision == -4 else f"{round(value, precision):,.0f}"
    return f"{value:,.{precision}f}"


class Book:
    def __init__(self, path: Path):
        self.wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True})
        self.header = self.wb.add_format({"bold": True, "bg_color": "#E8EEF5", "text_wrap": True,
                                          "valign": "top", "border": 1})
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self.status = {True: self.wb.add_format({"bg_color": "#DFF0D8", "font_color": "#1E5E1E"}),
                       False: self.wb.add_format({"bg_color": "#F8D7DA", "font_color": "#8A1C24",
                                                  "bold": True}),
                       None: self.wb.add_format({"bg_color": "#EEEEEE", "italic": True})}
        self.formats: dict[str, object] = {}

    def number(self, fmt: str):
        if fmt not in self.formats:
            self.formats[fmt] = self.wb.add_format({"num_format": fmt})
        return self.formats[fmt]

    def sheet(self, name: str, headers: list[tuple[str, str, int]]):
        ws = self.wb.add_worksheet(name)
        for col, (zh, en, width) in enumerate(headers):
            ws.write(0, col, f"{zh}\n{en}", self.header)
            ws.set_column(col, col, width)
        ws.set_row(0, 32)
        ws.freeze_panes(1, 0)
        # printed: landscape A4, one page wide, the header on every page
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        return ws


def _review(book: Book, con) -> int:
    ws = book.sheet("檢視表 Review", [
        ("指標", "Indicator", 9), ("指標名稱", "Name (zh)", 34), ("名稱", "Name (en)", 34),
        ("衡量", "Measure", 14), ("群組", "Group", 10), ("單位", "Unit", 14),
        ("2021年實績", "Actual 2021", 13), ("2024年目標", "Target 2024", 13),
        ("2024年實績", "Actual 2024", 13), ("達成情形", "Achieved", 18),
        ("公布格式", "As published (2024)", 16), ("說明", "Note", 40)])
    rows = con.sql("""
        select p.indicator_code, p.name_zh, p.name_en, p.measure, p.group_code, m.unit,
               m.display_precision, p.baseline_actual, p.target, p.target_year_actual,
               p.is_achieved, p.operator, coalesce(p.target_year_incomplete_reason, '')
        from marts.indicator_progress as p
        inner join registry.indicators as i using (indicator_code)
        inner join registry.indicator_measures as m
            on m.indicator_code = coalesce(i.alias_of, p.indicator_code)
            and m.measure = p.measure and m.group_code = p.group_code
        order by p.indicator_code, p.measure, p.group_code""").fetchall()
    for r, (code, zh, en, measure, group, unit, precision, base, target, actual, achieved,
            operator, reason) in enumerate(rows, start=1):
        fmt = book.number(number_format(unit, precision))
        ws.write_row(r, 0, [code, zh, en, measure, group, unit])
        for col, value in ((6, base), (7, target), (8, actual)):
            ws.write_number(r, col, value, fmt) if value is not None else ws.write_blank(r, col, None)
        ws.write(r, 9, ACHIEVED[achieved], book.status[achieved])
        ws.write(r, 10, as_published(actual, unit, precision))
        ws.write(r, 11, reason or f"目標 target {operator} {as_published(target, unit, precision)}",
                 book.wrap)
    ws.autofilter(0, 0, len(rows), 11)
    return len(rows)


def _series(book: Book, con) -> int:
    ws = book.sheet("時間序列 Series", [
        ("指標", "Indicator", 9), ("指標名稱", "Name (zh)", 30), ("衡量", "Measure", 14),
        ("群組", "Group", 10), ("期間", "Window", 16), ("起日", "Window start", 12),
        ("資料截至", "As of", 12), ("數值", "Value", 14), ("分子", "Numerator", 14),
        ("分母", "Denominator", 14), ("完整", "Complete", 8), ("未發布原因", "Withheld because", 40)])
    rows = con.sql("""
        select indicator_code, name_zh, measure, group_code,
               case when is_headline and not is_year_to_date then '主要 headline'
                    else '年初至今 year to date' end,
               window_start, as_of, indicator_value, numerator, denominator, is_complete,
               coalesce(incomplete_reason, ''), unit, display_precision
        from marts.indicator_values
        where is_headline or is_year_to_date
        order by indicator_code, measure, group_code, 5, as_of""").fetchall()
    date = book.number("yyyy-mm-dd")
    for r, row in enumerate(rows, start=1):
        *cells, unit, precision = row
        ws.write_row(r, 0, cells[:5])
        ws.write_datetime(r, 5, cells[5], date) if cells[5] else ws.write_blank(r, 5, None)
        ws.write_datetime(r, 6, cells[6], date)
        for col, value, fmt in ((7, cells[7], number_format(unit, precision)),
                                (8, cells[8], "#,##0.###"), (9, cells[9], "#,##0.###")):
            ws.write_number(r, col, value, book.number(fmt)) if value is not None \
                else ws.write_blank(r, col, None)
        ws.write(r, 10, "是 yes" if cells[10] else "否 no")
        ws.write(r, 11, cells[11])
    ws.autofilter(0, 0, len(rows), 11)
    return len(rows)


COUNTY_LABELS = {"county_code": ("縣市代碼", "County code"), "county_name_zh": ("縣市", "County"),
                 "county_name_en": ("縣市（英）", "County (en)"), "report_year": ("年度", "Year"),
                 "report_quarter": ("季別", "Quarter"), "quarter_end": ("季末", "Quarter end"),
                 "coverage_rate": ("社勞政聯合服務涵蓋率", "Joint-service coverage"),
                 "stable_employment_rate": ("穩定就業率", "Stable employment rate"),
                 "staffing_rate": ("社工進用率", "Social-worker staffing rate"),
                 "submitted_on": ("填報日期", "Submitted on"), "source_file": ("來源檔案", "Source file")}


def _county_label(column: str, contract) -> tuple[str, str]:
    base = column.removesuffix("_flag")
    zh, en = COUNTY_LABELS.get(base) or (contract.header_of.get(base, base), base.replace("_", " "))
    return (f"{zh}註記", f"{en} flag") if column != base else (zh, en)


def _county(book: Book, con) -> int:
    """The county figures as released: a hidden cell shows `x`, its flag column the code
    the notes sheet explains (registry/disclosure.yml)."""
    contract = door().family("county_submissions")
    columns = [c for (c,) in con.sql("""select column_name from information_schema.columns
        where table_schema = 'marts' and table_name = 'county_programme_quarterly'
        order by ordinal_position""").fetchall()]
    ws = book.sheet("縣市 County programmes",
                    [(*_county_label(c, contract), 8 if c.endswith("_flag") else 14)
                     for c in columns])
    rates = {"coverage_rate", "stable_employment_rate", "staffing_rate"}
    rows = con.sql("select * from marts.county_programme_quarterly order by report_year, "
                   "report_quarter, county_code").fetchall()
    date = book.number("yyyy-mm-dd")
    hidden = book.wb.add_format({"align": "right", "font_color": "#7A4A00"})
    for r, row in enumerate(rows, start=1):
        values = dict(zip(columns, row))
        for col, (name, value) in enumerate(values.items()):
            if value is None and values.get(f"{name}_flag"):
                ws.write_string(r, col, "x", hidden)
            elif value is None:
                ws.write_blank(r, col, None)
            elif name in rates:
                ws.write_number(r, col, value, book.number("0.0%"))
            elif hasattr(value, "year"):
                ws.write_datetime(r, col, value, date)
            elif isinstance(value, int | float):
                ws.write_number(r, col, value, book.number("#,##0") if name not in
                                ("report_year", "report_quarter") else None)
            else:
                ws.write(r, col, value)
    ws.autofilter(0, 0, len(rows), len(columns) - 1)
    return len(rows)


def _notes(book: Book, con, release_id: str, revisions: dict) -> None:
    ws = book.sheet("說明 Notes", [("項目", "Item", 16), ("指標", "Indicator", 9),
                                  ("內容", "Content", 110)])
    lines = [("引用 Cite", "", f"T-SDG 勞動指標資料倉儲，發布版本 {release_id}（T-SDG labour indicator "
                                f"warehouse, release {release_id}）"),
             ("修正 Revisions", "", f"與前一版 {revisions.get('previous_release') or '—'} 相比修正 "
                                    f"{revisions.get('revised', 0)} 筆數值（revised figures; see "
                                    "revisions.csv）")]
    for code, zh, en, owner, family, kind, alias, decisions in con.sql("""
            select indicator_code, name_zh, name_en, owner_unit, source_family, window_kind,
                   alias_of, coalesce(decisions, '') from registry.indicators order by 1""").fetchall():
        lines.append(("指標 Indicator", code,
                      f"{zh}（{en}）；主辦 owner: {owner}；資料來源 source: "
                      f"{door().family(family).title_zh} ({family})；期間 window: {kind}"
                      + (f"；同 {alias} 之計算 (alias of {alias})" if alias else "")
                      + (f"；決定 decisions: {decisions}" if decisions else "")))
    for code, measure, as_of, reason in con.sql("""
            select indicator_code, measure, strftime(max(as_of), '%Y-%m-%d'),
                   any_value(incomplete_reason)
            from marts.indicator_values where not is_complete and is_headline
            group by 1, 2 order by 1, 2""").fetchall():
        lines.append(("未發布 Withheld", code, f"{measure} 至 {as_of} 之數值資料不全 "
                                              f"(withheld up to {as_of}): {reason}"))
    for flag, zh, en in con.sql("select flag, reason_zh, reason_en from registry.disclosure_flags "
                                "order by 1").fetchall():
        lines.append(("不予公布 Suppressed", "", f"縣市表中 x、註記 {flag}：{zh}（{en}）"))
    for r, line in enumerate(lines, start=1):
        ws.write_row(r, 0, line, book.wrap)


def write_workbook(con: duckdb.DuckDBPyConnection, path: Path, release_id: str,
                   revisions: dict) -> dict:
    book = Book(path)
    counts = {"release.xlsx review": _review(book, con), "release.xlsx series": _series(book, con),
              "release.xlsx county": _county(book, con)}
    _notes(book, con, release_id, revisions)
    book.wb.close()
    return counts
