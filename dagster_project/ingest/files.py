"""Landed files: which family and partition a file belongs to, and its decoded text."""

import codecs
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dagster_project.lib.freed_memory import scrubbed
from dagster_project.lib.quarters import quarter_keys
from dagster_project.lib.roc_dates import ROC_OFFSET
from dagster_project.lib.source_contract import door


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
    """The file's family, quarters and name fields, if its name follows the family's
    file-name contract (registry/sources.yml)."""
    contract = door().family(family)
    match = contract.pattern.match(path.name)
    if not match:
        return None
    fields = match.groupdict()
    year = int(fields["roc"]) + ROC_OFFSET
    if contract.period == "quarter":
        partitions = (f"{year}Q{fields['q']}",)
    elif contract.period == "month":
        partitions = (f"{year}Q{(int(fields['month']) - 1) // 3 + 1}",)
    else:  # a yearly file feeds the four quarters of its year
        partitions = tuple(f"{year}Q{q}" for q in range(1, 5))
    return LandedFile(family, path, partitions, fields | {"year": year})


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """Entries of a family folder with their lstat (links are not followed); hidden files
    (editors' and systems' own) are left alone."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    return [(p, p.lstat()) for p in sorted(folder.iterdir()) if not p.name.startswith(".")]


def landed_files(sources_dir: Path, family: str) -> tuple[list[LandedFile], list[Path]]:
    """(files to load, files set aside) of one family: regular files directly in the
    family's folder only (see `irregular_entries` for the rest). A file is set aside when
    its name breaks the contract or names a period the warehouse does not cover; every one
    gets its reason from `set_aside_reason` — none is skipped silently."""
    good, unknown = [], []
    covered = set(quarter_keys())
    for path, st in _entries(sources_dir / family):
        if stat.S_ISREG(st.st_mode):
            landed = classify(family, path)
            if landed and covered.intersection(landed.partitions):
                good.append(landed)
            else:
                unknown.append(path)
    return good, unknown


def strays(sources_dir: Path, family: str) -> list[Path]:
    """Regular files in the landing area's top folder named like a file of this family:
    dropped one folder too high, set aside with that reason (never read)."""
    pattern = door().family(family).pattern
    return [p for p, st in _entries(sources_dir) if stat.S_ISREG(st.st_mode) and pattern.match(p.name)]


def set_aside_reason(family: str, path: Path) -> str:
    """Why a regular file in a family's folder is not loaded, in words its sender can act on."""
    name, contract = path.name, door().family(family)
    if path.parent.name != family:
        return (f"a {family} file in the top folder of the landing area: move it to the "
                f"{family} folder")
    if name.startswith("~$"):
        return ("an Excel lock file (the workbook was open in Excel when the folder was "
                "copied): nothing to load; close Excel, then copy the workbook itself")
    if name.lower().endswith(".xls"):
        return (f"an old Excel .xls workbook: open it in Excel and save it as .xlsx (Excel "
                f"Workbook) under the same name (e.g. {contract.example})")
    landed = classify(family, path)
    if landed is not None:
        covered = quarter_keys()
        when = "after the current quarter" if landed.partitions[0] > covered[-1] else \
            f"before the first quarter the warehouse covers ({covered[0]})"
        return (f"the file name's period ({landed.partitions[0]}) is {when}: check the ROC "
                f"year in the name (113 = 2024)")
    for other in door().families.values():
        if other.name != family and other.pattern.match(name):
            return f"a {other.name} file in the {family} folder: move it to the {other.name} folder"
    return f"file name does not follow the {family} contract (e.g. {contract.example})"


def irregular_entries(sources_dir: Path, family: str) -> list[tuple[Path, str]]:
    """Entries of a family folder that are not regular files, with what they are: never
    read (a link named like a county file may point anywhere)."""
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
             (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))
    out = []
    for path, st in _entries(sources_dir / family):
        if not stat.S_ISREG(st.st_mode):
            out.append((path, next((k for test, k in kinds if test(st.st_mode)), "not a file")))
    return out


def files_for_partition(sources_dir: Path, family: str, partition: str) -> list[LandedFile]:
    return [f for f in landed_files(sources_dir, family)[0] if partition in f.partitions]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _open_regular(path: Path) -> int:
    """A descriptor on `path` only if it is a regular file, without following a link
    (swapped in after listing or not: O_NOFOLLOW refuses it either way)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise BadFile(f"cannot be opened as a regular file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BadFile("not a regular file")
    return fd


def read_landed(landed: "LandedFile") -> bytes:
    """The file's bytes, refused before reading when larger than the registry allows."""
    limit = door().max_file_bytes[door().kind(landed.family)]
    fd = _open_regular(landed.path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise BadFile(f"too large: {size:,} bytes, the limit for this family is {limit:,}")
        # A buffer of the file's size, not the limit's: Python allocates what read() is
        # asked for, and freed memory is overwritten in full (lib/freed_memory).
        data = f.read(size + 1)
        if len(data) > size:  # it grew since: read on, up to the limit
            data += f.read(limit + 1 - len(data))
        if len(data) > limit:
            raise BadFile(f"too large: more than {limit:,} bytes, the limit for this family")
        return data


def digest_of(path: Path) -> tuple[str | None, int]:
    """(sha256, size) of a regular file read in blocks; (None, size) for anything else."""
    try:
        fd = _open_regular(path)
    except BadFile:
        return None, path.lstat().st_size
    digest, size = hashlib.sha256(), 0
    # A person-level file's blocks hold raw IDs: freed, they are overwritten.
    with scrubbed(), os.fdopen(fd, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# What a landed file may be encoded in, tried in this order (UTF-8 without a BOM decodes as
# utf-8-sig too). The sample generator writes every one of them.
ENCODINGS = ("utf-8-sig", "cp950", "big5hkscs")


def decode(path: Path, data: bytes) -> str:
    """UTF-8 (with or without BOM), else CP950, else Big5-HKSCS — all strict. Never latin-1,
    which would 'succeed' with mojibake."""
    if not data.strip():
        raise BadFile("the file is empty")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    raise BadFile(f"bytes at offset {error.start} are neither UTF-8 nor Big5/CP950 "
                  f"(rule: files must be UTF-8 or Big5/CP950)")


def as_utf8(path: Path, data: bytes) -> bytes:
    """The file's bytes in UTF-8, by the same rules as decode: UTF-8 bytes (a BOM kept, which
    DuckDB's reader skips) are returned as they are, validated a megabyte at a time so no
    copy of a large file is made; a Big5/CP950 file is transcoded."""
    if not data.strip():
        raise BadFile("the file is empty")
    check = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), 2**20):
            check.decode(view[start:start + 2**20])
        check.decode(b"", final=True)
        return data
    except UnicodeDecodeError:
        return decode(path, data).encode("utf-8")
