"""The last line of defence for text that leaves the ingestion: anything shaped like a
national ID or resident-certificate number is masked, control characters are escaped and
quoted values are cut short. Every sink (reports, logs, tables, manifests) passes through
here, so a message built carelessly upstream still cannot carry an ID to disk."""

import re

from dagster_project.lib.text_normalise import FULLWIDTH_MAP

# Letter + one of 1/2 (citizens), 8/9 (2021 resident certificates) or A–D (older resident
# certificates) + eight digits; lower case and full width too, since senders write both.
# A whole token only: hashes and other long alphanumeric runs are left as they are.
_ID_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9A-Da-d][0-9]{8}(?![A-Za-z0-9])")
# The same shape for DuckDB's regexp functions (RE2 has no look-around).
ID_SHAPE_SQL = "[A-Za-z][0-9A-Da-d][0-9]{8}"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MASK = "[ID redacted]"


def redact_ids(text: str) -> str:
    """Mask every ID-shaped token. Full-width forms are found through their half-width
    image (one character for one, so the spans line up)."""
    if not text:
        return text
    image = text.translate(FULLWIDTH_MAP)
    spans = [m.span() for m in _ID_SHAPE.finditer(image)]
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text


def escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def safe_text(text: object, limit: int | None = None) -> str:
    """Text fit for a message: IDs masked, controls escaped, at most `limit` characters."""
    out = escape_controls(redact_ids(str(text if text is not None else "")))
    if limit is not None and len(out) > limit:
        out = out[:limit] + "…"
    return out
