"""Undo the width and spelling variations senders put into otherwise valid text."""

# Full-width digits, letters and the punctuation that appears in dates and numbers.
FULLWIDTH_MAP = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
FULLWIDTH_MAP[0x3000] = ord(" ")  # ideographic space
# Look-alikes of / - . that Big5 decoders produce: the byte pair Big5-HKSCS writes for
# ／ (A2 41) decodes under CP950 as ∕ DIVISION SLASH, so a full-width date 112／07／16 sent
# in Big5-HKSCS arrives as 112∕07∕16. Minus signs and small forms come from other tools.
FULLWIDTH_MAP.update({0x2215: ord("/"), 0x2044: ord("/"), 0x2212: ord("-"), 0xFE63: ord("-"),
                      0x2010: ord("-"), 0x2011: ord("-"), 0xFE52: ord(".")})


def to_halfwidth(text: str) -> str:
    return text.translate(FULLWIDTH_MAP).strip()


# What senders write for "no data" (as opposed to zero): kept as NULL with this reason.
PLACEHOLDERS = {"-", "--", "…", "...", "—"}


def is_placeholder(raw: str | None) -> bool:
    return raw is not None and to_halfwidth(str(raw)).replace(" ", "") in PLACEHOLDERS


class NotANumber(ValueError):
    pass


def parse_count(raw: str | None) -> int | None:
    """A non-negative-or-negative integer written with optional full-width digits and
    thousands separators. Blank is None; anything else that is not an integer raises."""
    if raw is None:
        return None
    text = to_halfwidth(str(raw)).replace(",", "").replace("，", "")
    if text == "":
        return None
    if text.endswith(".0"):  # spreadsheets hand integers back as floats
        text = text[:-2]
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isdigit():
        raise NotANumber("not a whole number")
    return sign * int(digits)
