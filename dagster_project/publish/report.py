"""report/ of a release: an offline HTML report (no scripts, no CDN: inline SVG charts and
CSS) — an index with the review table, a page per indicator with its headline series, the
2021 baseline and the 2024 target as lines, and county small multiples for the safety-net
programmes — and report.pdf, the same pages printed by headless Chromium when it is
installed (`make system-deps`)."""

import html
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from dagster_project.lib.source_contract import door
from dagster_project.publish.pdf_printer import PrintFailed, chromium, print_pdf
from dagster_project.publish.workbook import ACHIEVED, as_published

REPORT_DIR = "report"
CSS = """
@page { size: A4; margin: 12mm; }  /* Chromium prints US Letter unless told */
body { font-family: "Noto Sans CJK TC", "Noto Sans TC", sans-serif; margin: 18px; color: #111; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 18px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: left; }
th { background: #e8eef5; } td.num { text-align: right; }
td.yes { background: #dff0d8; } td.no { background: #f8d7da; font-weight: bold; }
td.withheld { background: #eee; font-style: italic; }
.page { page-break-after: always; } .small { display: inline-block; margin: 4px; vertical-align: top; width: 220px; }
svg text { font-size: 11px; font-family: inherit; }
"""


def _axis(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _svg_series(points: list[tuple[str, float]], lines: dict[str, float], width=640, height=240) -> str:
    """A line chart of (label, value) with horizontal reference lines (baseline, target)."""
    values = [v for _, v in points] + list(lines.values())
    if not points:
        return "<p>—</p>"
    low, high = min(0.0, min(values)), max(values) or 1.0
    pad, right, n = 40, 80, len(points)  # right: room for the reference lines' labels

    def x(i):
        return pad + (width - pad - right) * (i / max(n - 1, 1))

    def y(v):
        return height - pad - (height - 2 * pad) * ((v - low) / ((high - low) or 1))

    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'data-points="{n}" role="img">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - right}" y2="{height - pad}" stroke="#888"/>',
             f'<text x="2" y="{y(high) + 4:.1f}">{_axis(high)}</text>'
             f'<text x="2" y="{y(low) + 4:.1f}">{_axis(low)}</text>',
             f'<polyline class="series" fill="none" stroke="#1f5fa8" stroke-width="2" points="{path}"/>']
    for (label, value), colour in zip(lines.items(), ("#888", "#c0392b")):
        parts.append(f'<line class="ref" x1="{pad}" y1="{y(value):.1f}" x2="{width - right}" '
                     f'y2="{y(value):.1f}" stroke="{colour}" stroke-dasharray="5,4"/>'
                     f'<text x="{width - right + 4}" y="{y(value) + 4:.1f}" fill="{colour}">'
                     f'{html.escape(label)}</text>')
    parts.append(f'<text x="{pad}" y="{height - pad + 16}">{html.escape(points[0][0])}</text>'
                 f'<text x="{width - right - 40}" y="{height - pad + 16}">{html.escape(points[-1][0])}</text>'
                 "</svg>")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="zh-Hant"><head><meta charset="utf-8"><title>'
            f'{html.escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n')


def _index(con, release_id: str, revisions: list[dict]) -> str:
    rows = con.sql("""select indicator_code, name_zh, name_en, measure, group_code, baseline_actual,
                             target, operator, target_year_actual, is_achieved
                      from marts.indicator_progress order by 1, 4, 5""").fetchall()
    units = dict(((c, m, g), (u, p)) for c, m, g, u, p in con.sql(
        """select v.indicator_code, v.measure, v.group_code, any_value(v.unit),
                  any_value(v.display_precision) from marts.indicator_values v group by all""").fetchall())
    body = [f"<h1>T-SDG 勞動指標 檢視表 Review table</h1><p>發布版本 Release {release_id}</p>",
            "<table><tr><th>指標 Indicator</th><th>名稱 Name</th><th>衡量 Measure</th>"
            "<th>2021年實績 Actual 2021</th><th>2024年目標 Target 2024</th>"
            "<th>2024年實績 Actual 2024</th><th>達成 Achieved</th></tr>"]
    for code, zh, en, measure, group, base, target, op, actual, achieved in rows:
        unit, prec = units.get((code, measure, group), ("", 0))
        css = {True: "yes", False: "no", None: "withheld"}[achieved]
        body.append(f'<tr><td><a href="{code}.html">{code}</a></td><td>{html.escape(zh)}<br>'
                    f'<small>{html.escape(en)}</small></td><td>{measure} {group}</td>'
                    f'<td class="num">{as_published(base, unit, prec)}</td>'
                    f'<td class="num">{html.escape(op)} {as_published(target, unit, prec)}</td>'
                    f'<td class="num">{as_published(actual, unit, prec)}</td>'
                    f'<td class="{css}">{ACHIEVED[achieved]}</td></tr>')
    body.append('</table><p><a href="county.html">縣市社會安全網方案 County programmes</a></p>')
    withheld = con.sql("""select indicator_code, measure, strftime(max(as_of), '%Y-%m-%d'),
                                 any_value(incomplete_reason)
                          from marts.indicator_values where not is_complete and is_headline
                          group by 1, 2 order by 1, 2""").fetchall()
    body.append(f"<h2>未發布 Withheld ({len(withheld)})</h2><ul>" + "".join(
        f"<li>{c} {m} → {d}: {html.escape(r or '')}</li>" for c, m, d, r in withheld) + "</ul>")
    body.append(f"<h2>本版修正 Revisions ({len(revisions)})</h2><table><tr><th>指標 Indicator</th>"
                "<th>衡量 Measure</th><th>資料截至 As of</th><th>原值 Old</th><th>新值 New</th>"
                "<th>變動檔案 Changed files</th></tr>" + "".join(
                    f"<tr><td>{r['indicator_code']}</td><td>{r['measure']} {r['group']}</td>"
                    f"<td>{r['as_of']}</td><td class=\"num\">{r['old_value']}</td>"
                    f"<td class=\"num\">{r['new_value']}</td>"
                    f"<td>{html.escape(r['changed_source_files'])}</td></tr>"
                    for r in revisions[:50]) + "</table>")
    return "".join(body)


def _indicator(con, code: str) -> str:
    zh, en, owner, family, kind, decisions, alias = con.execute(
        """select name_zh, name_en, owner_unit, source_family, window_kind,
                  coalesce(decisions, ''), alias_of from registry.indicators
           where indicator_code = ?""", [code]).fetchall()[0]
    measures = con.execute("""select distinct measure, group_code from marts.indicator_values
                              where indicator_code = ? order by 1, 2""", [code]).fetchall()
    body = [f'<h1>{code} {html.escape(zh)}</h1><p>{html.escape(en)}</p>',
            f"<p>主辦 Owner: {html.escape(owner)} · 資料來源 Source: "
            f"{door().family(family).title_zh} ({family}) · 期間 Window: {kind}"
            + (f" · 同 {alias} (alias of {alias})" if alias else "") + "</p>"]
    if decisions:
        body.append(f"<p>處理原則 Decisions: {html.escape(decisions)}</p>")
    for measure, group in measures:
        series = con.execute("""select strftime(as_of, '%Y-%m'), indicator_value
            from marts.indicator_values where indicator_code = ? and measure = ? and group_code = ?
              and is_headline and indicator_value is not null order by as_of""",
                             [code, measure, group]).fetchall()
        refs = con.execute("""select baseline_actual, target from marts.indicator_progress
            where indicator_code = ? and measure = ? and group_code = ?""",
                           [code, measure, group]).fetchall()
        lines = {}
        if refs and refs[0][0] is not None:
            lines["2021"] = refs[0][0]
        if refs and refs[0][1] is not None:
            lines["2024 目標"] = refs[0][1]
        body.append(f"<h2>{measure} · {group}</h2>" + _svg_series(series, lines))
    withheld = con.execute("""select strftime(as_of, '%Y-%m-%d'), incomplete_reason
        from marts.indicator_values where indicator_code = ? and not is_complete and is_headline
        order by as_of desc limit 5""", [code]).fetchall()
    if withheld:
        body.append("<h2>未發布 Withheld</h2><ul>" + "".join(
            f"<li>{d}: {html.escape(r or '')}</li>" for d, r in withheld) + "</ul>")
    body.append('<p><a href="index.html">← 檢視表 Review table</a></p>')
    return "".join(body)


def _runs(quarters: list[tuple[str, float | None, str | None]]) -> str:
    """Hidden quarters ('2018Q1', value, flag) as runs of adjacent quarters with one flag:
    2018Q1–2025Q3 (C). A quarter without a row breaks a run."""
    def index(label: str) -> int:
        year, q = label.split("Q")
        return int(year) * 4 + int(q)

    runs: list[list] = []  # [first, last, flag]
    for label, _, flag in quarters:
        if not flag:
            continue
        if runs and runs[-1][2] == flag and index(runs[-1][1]) + 1 == index(label):
            runs[-1][1] = label
        else:
            runs.append([label, label, flag])
    return ", ".join(f"{a}–{b} ({f})" if a != b else f"{a} ({f})" for a, b, f in runs)


def _county(con) -> str:
    """Small multiples of the released (protected) coverage rates; a hidden quarter is
    named under its county's chart with the flag's reason, never drawn."""
    reasons = dict(con.sql("select flag, reason_zh || '（' || reason_en || '）' "
                           "from registry.disclosure_flags").fetchall())
    body = ["<h1>縣市社會安全網方案 County programmes</h1>"
            "<p>社勞政聯合服務涵蓋率，每季 Joint-service coverage by quarter</p>"]
    for code, name in con.sql("""select distinct county_code, county_name_zh
                                 from marts.county_programme_quarterly order by 1""").fetchall():
        quarters = con.execute("""select report_year || 'Q' || report_quarter, coverage_rate,
                                         coverage_rate_flag
            from marts.county_programme_quarterly where county_code = ?
            order by report_year, report_quarter""", [code]).fetchall()
        series = [(q, v) for q, v, _ in quarters if v is not None]
        note = (f'<br><small class="suppressed">不予公布 x: {html.escape(_runs(quarters))}</small>'
                if any(f for *_, f in quarters) else "")
        body.append(f'<div class="small"><b>{html.escape(name)}</b><br>'
                    f"{_svg_series(series, {}, 220, 110)}{note}</div>")
    legend = "".join(f"<li>x（{f}）：{html.escape(r)}</li>" for f, r in sorted(reasons.items()))
    body.append(f'<p>不予公布 Suppressed</p><ul class="legend">{legend}</ul>')
    return "".join(body)


def write_report(con: duckdb.DuckDBPyConnection, folder: Path, release_id: str,
                 revisions: list[dict]) -> Callable[[], dict]:
    """Write the report's pages and start Chromium printing them to report.pdf; returns
    `finish`, which waits for the print and gives the counts (the caller writes the other
    outputs meanwhile, while this process's browser prints: publish/pdf_printer.py). If the
    caller fails before calling it, it calls `finish(abandon=True)`, which lets the print
    end (a few tenths of a second) and reports nothing. `revisions`: the rows of this
    release's revisions.csv."""
    out = folder / REPORT_DIR
    out.mkdir()
    codes = [c for (c,) in con.sql("select indicator_code from registry.indicators order by 1").fetchall()]
    sections = [_index(con, release_id, revisions)]
    (out / "index.html").write_text(_page("T-SDG 檢視表", sections[0]), encoding="utf-8")
    for code in codes:
        body = _indicator(con, code)
        sections.append(body)
        (out / f"{code}.html").write_text(_page(code, body), encoding="utf-8")
    county = _county(con)
    sections.append(county)
    (out / "county.html").write_text(_page("County programmes", county), encoding="utf-8")
    printable = out / "print.html"
    printable.write_text(_page("T-SDG report", "".join(f'<div class="page">{s}</div>'
                                                      for s in sections)), encoding="utf-8")
    counts = {"report pages": len(codes) + 2}
    if chromium() is None:
        return lambda abandon=False: counts
    # Printed on a thread: the browser works on the other core while the caller writes the
    # other outputs; the thread only waits on the browser's pipe.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            print_pdf(printable, folder / "report.pdf")
        except BaseException as error:  # handed to finish, which raises it in the caller
            failure.append(error)

    printing = threading.Thread(target=run, name="report.pdf", daemon=True)
    printing.start()

    def finish(abandon: bool = False) -> dict:
        printing.join(timeout=300)
        if abandon:
            return counts
        if printing.is_alive():
            raise PrintFailed("Chromium did not print report.pdf within 300 s")
        if failure:
            raise failure[0]
        return counts | {"report.pdf": 1}

    return finish
