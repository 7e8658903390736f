"""Landed files: which family and partition a file belongs to, and its decoded text."""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from dagster_project.lib.roc_dates import ROC_OFFSET

# File-name contracts of DOMAIN.md §3: pattern → (partition keys, label).
PATTERNS = {
    "training_rosters": re.compile(r"^roster_(?P<roc>\d{2,3})Q(?P<q>[1-4])_(?P<branch>[A-Z])\.csv$"),
    "employment_services": re.compile(r"^pes_(?P<roc>\d{2,3})Q(?P<q>[1-4])_(?P<branch>[A-Z])\.csv$"),
    "labour_insurance": re.compile(r"^bli_(?P<roc>\d{2,3})(?P<month>\d{2})\.csv$"),
    "county_submissions": re.compile(
        r"^(?P<county>\d{5})_(?P<roc>\d{2,3})Q(?P<q>[1-4])\.(?P<ext>csv|xlsx)$"),
    "programme_tallies": re.compile(r"^tally_(?P<unit>[A-Z]+)_(?P<roc>\d{2,3})\.csv$"),
}


class BadFile(ValueError):
    """A file that cannot be read correctly; the message names file, row, column, rule."""


@dataclass(frozen=True)
class LandedFile:
    family: str
    path: Path
    partitions: tuple[str, ...]  # quarters (e.g. 2024Q2) whose rows the file holds
    fields: dict

    @property
    def name(self) -> str:
        return self.path.name


def classify(family: str, path: Path) -> LandedFile | None:
    match = PATTERNS[family].match(path.name)
    if not match:
        return None
    fields = match.groupdict()
    year = int(fields["roc"]) + ROC_OFFSET
    if "q" in fields:
        partitions = (f"{year}Q{fields['q']}",)
    elif "month" in fields:
        month = int(fields["month"])
        if not 1 <= month <= 12:
            return None
        partitions = (f"{year}Q{(month - 1) // 3 + 1}",)
    else:  # a yearly tally file feeds the four quarters of its year
        partitions = tuple(f"{year}Q{q}" for q in range(1, 5))
    return LandedFile(family, path, partitions, fields | {"year": year})


def landed_files(sources_dir: Path, family: str) -> tuple[list[LandedFile], list[Path]]:
    """(recognised files, files whose names break the contract) of one family."""
    folder = sources_dir / family
    good, unknown = [], []
    for path in sorted(folder.glob("*")) if folder.exists() else []:
        if path.is_file() and not path.name.startswith("."):
            landed = classify(family, path)
            (good.append(landed) if landed else unknown.append(path))
    return good, unknown


def files_for_partition(sources_dir: Path, family: str, partition: str) -> list[LandedFile]:
    return [f for f in landed_files(sources_dir, family)[0] if partition in f.partitions]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), else CP950, else Big5-HKSCS — all strict. Never latin-1,
    which would 'succeed' with mojibake."""
    if not data.strip():
        raise BadFile("the file is empty")
    for encoding in ("utf-8-sig", "cp950", "big5hkscs"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    raise BadFile(f"bytes at offset {error.start} are neither UTF-8 nor Big5/CP950 "
                  f"(rule: files must be UTF-8 or Big5/CP950)")
