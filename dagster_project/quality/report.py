"""A self-contained HTML validation report (GX Data Docs load CSS/JS from CDNs, which
this offline machine cannot reach, so we render our own page)."""

import html
import json

STYLE = """
body{font-family:system-ui,'Noto Sans TC',sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#f0f0f0}.ok{color:#176f2c}.ERROR{color:#b00020;font-weight:bold}.WARN{color:#a15c00}
code{font-size:12px;white-space:pre-wrap}
"""


def render(results: dict) -> str:
    status = "PASSED" if results["passed"] else "FAILED"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation {status}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Validation {status}</h1>",
        f"<p>{results['expectations']} expectations on {html.escape(results['database'])} at "
        f"{html.escape(results['validated_at'])} ({results['seconds']} s): "
        f"{results['errors']} blocking errors, {results['warnings']} warnings.</p>",
    ]
    for suite in results["suites"]:
        parts.append(f"<h2>{html.escape(suite['table'])}</h2><p>{html.escape(suite['description'])}</p>")
        if "validated_by_run" in suite:  # a table this build kept (quality/carried.py)
            parts.append("<p>Carried over: the table is unchanged since run "
                         f"{html.escape(suite['validated_by_run'])} validated it.</p>")
        parts.append("<table><tr><th>rule</th><th>severity</th><th>result</th>"
                     "<th>unexpected</th><th>examples</th></tr>")
        for e in suite["expectations"]:
            outcome = ("<span class='ok'>pass</span>" if e["success"]
                       else f"<span class='{e['severity']}'>fail</span>")
            examples = "<br>".join(f"<code>{html.escape(json.dumps(x, ensure_ascii=False))}</code>"
                                   for x in e["examples"])
            if e["error"]:
                examples += f"<br><code>{html.escape(e['error'])}</code>"
            parts.append(f"<tr><td>{html.escape(e['rule'])}<br><small>{e['expectation']}</small></td>"
                         f"<td>{e['severity']}</td><td>{outcome}</td>"
                         f"<td>{'' if e['unexpected_count'] is None else e['unexpected_count']}</td>"
                         f"<td>{examples}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
