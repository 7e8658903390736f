"""`tsdg indicator CODE [--lang zh|en]`: one indicator in the terminal, from the latest
release — what it is, its window, the latest headline and year-to-date values with what
they are made of, the review-table line, the last revisions and the files behind it."""

import csv
import json
from pathlib import Path

from dagster_project.lib.source_contract import door
from dagster_project.publish import access
from dagster_project.publish.access import RELEASE_DB
from dagster_project.publish.workbook import ACHIEVED, as_published

LABELS = {
    "zh": {"owner": "主辦單位", "source": "資料來源", "window": "計算期間", "decisions": "處理原則",
           "alias": "計算同", "latest": "最新數值", "headline": "主要期間", "ytd": "年初至今",
           "review": "檢視表", "revisions": "本版修正", "files": "依據檔案", "withheld": "未發布",
           "none": "無", "release": "發布版本"},
    "en": {"owner": "Owner", "source": "Source", "window": "Window", "decisions": "Decisions",
           "alias": "Computed as", "latest": "Latest values", "headline": "headline",
           "ytd": "year to date", "review": "Review table", "revisions": "Revised in this release",
           "files": "Files behind it", "withheld": "withheld", "none": "none",
           "release": "Release"},
}


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


class UnknownIndicator(ValueError):
    pass


def card(release: Path, code: str, lang: str = "zh") -> str:
    t = LABELS[lang]
    with access.connect(release / RELEASE_DB) as con:
        found = con.execute("""select name_zh, name_en, owner_unit, source_family, window_kind,
                                      coalesce(decisions, ''), alias_of
                               from registry.indicators where indicator_code = ?""",
                            [code]).fetchall()
        if not found:
            known = [c for (c,) in con.execute(
                "select indicator_code from registry.indicators order by 1").fetchall()]
            raise UnknownIndicator(f"no indicator {code!r}; the registry has {', '.join(known)}")
        zh, en, owner, family, kind, decisions, alias = found[0]
        latest = con.execute("""
            select measure, group_code, is_headline and not is_year_to_date as headline,
                   window_start, as_of, indicator_value, numerator, denominator, is_complete,
                   coalesce(incomplete_reason, ''), unit, display_precision
            from marts.indicator_values v
            where indicator_code = ? and (is_headline or is_year_to_date)
              and as_of = (select max(as_of) from marts.indicator_values
                           where indicator_code = v.indicator_code)
            order by measure, group_code, headline desc""", [code]).fetchall()
        review = con.execute("""select measure, group_code, baseline_actual, target, operator,
                                       target_year_actual, is_achieved
                                from marts.indicator_progress where indicator_code = ?
                                order by 1, 2""", [code]).fetchall()
    units = {(m, g): (u, p) for m, g, *_, u, p in latest}
    lines = [f"{code}  {zh if lang == 'zh' else en}", f"    {en if lang == 'zh' else zh}",
             f"{t['owner']}: {owner}    {t['source']}: {door().family(family).title_zh} ({family})",
             f"{t['window']}: {kind}" + (f"    {t['alias']}: {alias}" if alias else "")]
    if decisions:
        lines.append(f"{t['decisions']}: {decisions}")
    lines.append(f"\n{t['latest']}:")
    for measure, group, headline, start, as_of, value, num, den, complete, reason, unit, prec in latest:
        window = f"{start or '…'} → {as_of}"
        shown = as_published(value, unit, prec) if complete else f"— ({t['withheld']}: {reason})"
        made = (f"  = {_n(num)} / {_n(den)}" if den else f"  (Σ {_n(num)})" if num is not None else "")
        lines.append(f"  {measure:<20} {group:<10} {t['headline'] if headline else t['ytd']:<13} "
                     f"{window:<25} {shown}{made if complete else ''}")
    if review:
        lines.append(f"\n{t['review']}: 2021 · 2024 target · 2024 · achieved")
        for measure, group, base, target, operator, actual, achieved in review:
            unit, prec = units.get((measure, group), ("", 0))
            lines.append(f"  {measure:<20} {group:<10} {as_published(base, unit, prec)} · "
                         f"{operator} {as_published(target, unit, prec)} · "
                         f"{as_published(actual, unit, prec)} · {ACHIEVED[achieved]}")
    with open(release / "revisions.csv", encoding="utf-8-sig") as f:
        revised = [r for r in csv.DictReader(f) if r["indicator_code"] == code]
    lines.append(f"\n{t['revisions']}: {len(revised) or t['none']}")
    for r in revised[-5:]:
        lines.append(f"  {r['measure']} {r['group']} {r['as_of']}: {r['old_value']} → {r['new_value']}")
    sources = json.loads((release / "manifest.json").read_text(encoding="utf-8"))["source_files"]
    files = sorted((f for f in sources if f["family"] == family), key=lambda f: f["period"] or "")
    lines.append(f"\n{t['files']}: {len(files)} ({family}); "
                 + ", ".join(f"{f['file']} v{f['vintage']}" for f in files[-5:]))
    lines.append(f"{t['release']}: {release.name}")
    return "\n".join(lines) + "\n"
