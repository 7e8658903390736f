"""The real-world variation of DOMAIN.md §3, chosen per file and deterministically."""

import hashlib
from dataclasses import dataclass

from dagster_project.lib.roc_dates import to_roc
from dagster_project.lib.source_contract import door

_FULLWIDTH_DIGITS = str.maketrans("0123456789/-,", "０１２３４５６７８９／－，")


@dataclass(frozen=True)
class Mess:
    encoding: str  # utf-8, utf-8-sig or cp950
    date_form: str  # slash, compact, dash, cjk, gregorian
    fullwidth: bool  # digits written full-width
    thousands: bool  # counts written with thousands separators
    tai: bool  # 臺 written as 台
    group_separator: str
    crlf: bool
    unit_form: str  # how an owner unit is named: code, name_zh, short_zh or name_en

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
        unit = next(u for u in door().units if u.code == code)
        return getattr(unit, self.unit_form)


def mess_for(seed: int, file_name: str) -> Mess:
    h = hashlib.sha256(f"{seed}:{file_name}".encode()).digest()
    return Mess(
        encoding=("utf-8", "utf-8-sig", "cp950", "utf-8", "cp950")[h[0] % 5],
        date_form=("slash", "compact", "dash", "gregorian", "slash", "cjk")[h[1] % 6],
        fullwidth=h[2] % 10 == 0,
        thousands=h[3] % 3 == 0,
        tai=h[4] % 2 == 0,
        group_separator="、" if h[5] % 3 else ";",
        crlf=h[6] % 4 == 0,
        unit_form=("code", "name_zh", "short_zh", "name_en")[h[7] % 4],
    )
