"""The real-world variation of DOMAIN.md §3, chosen per file and deterministically."""

import hashlib
from dataclasses import dataclass

from dagster_project.ingest.files import ENCODINGS
from dagster_project.lib.roc_dates import DATE_FORMS, to_roc
from dagster_project.lib.source_contract import door

_FULLWIDTH_DIGITS = str.maketrans("0123456789/-,", "０１２３４５６７８９／－，")


@dataclass(frozen=True)
class Mess:
    encoding: str  # one of WRITTEN_ENCODINGS
    date_form: str  # one of roc_dates.DATE_FORMS
    fullwidth: bool  # digits written full-width
    thousands: bool  # counts written with thousands separators
    tai: bool  # 臺 written as 台
    group_separator: str
    crlf: bool
    unit_form: int  # which of an owner unit's names (code, names, variants) a file uses

    def date(self, day) -> str:
        if day is None:
            return ""
        text = to_roc(day, self.date_form)
        return text.translate(_FULLWIDTH_DIGITS) if self.fullwidth else text

    def count(self, value: int) -> str:
        text = f"{value:,}" if self.thousands else str(value)
        if self.thousands and "," in text:
            text = f'"{text}"'
        return text.translate(_FULLWIDTH_DIGITS) if self.fullwidth else text

    def county(self, name: str) -> str:
        return name.replace("臺", "台") if self.tai else name

    def unit(self, code: str) -> str:
        """Any registered name of the unit: a sender may write any of them."""
        names = next(u for u in door().units if u.code == code).names
        return names[self.unit_form % len(names)]


# Plain UTF-8 (no BOM) besides every encoding the door decodes; UTF-8 and CP950 weighted as
# the senders use them most.
WRITTEN_ENCODINGS = ("utf-8", "utf-8", *ENCODINGS, "cp950")


def mess_for(seed: int, file_name: str) -> Mess:
    h = hashlib.sha256(f"{seed}:{file_name}".encode()).digest()
    return Mess(
        encoding=WRITTEN_ENCODINGS[h[0] % len(WRITTEN_ENCODINGS)],
        date_form=tuple(DATE_FORMS)[h[1] % len(DATE_FORMS)],
        fullwidth=h[2] % 10 == 0,
        thousands=h[3] % 3 == 0,
        tai=h[4] % 2 == 0,
        group_separator="、" if h[5] % 3 else ";",
        crlf=h[6] % 4 == 0,
        unit_form=h[7],
    )
