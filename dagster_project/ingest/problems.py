"""Problems found in a landed file, written so the sender can fix them.

A problem can never carry personal data: its value is quoted only when the caller says
the column may be quoted (never for person-level columns), and every field passes through
`safe_text` (IDs masked, controls escaped, values cut to the registry's length).
"""

from dataclasses import dataclass

from dagster_project.lib.redact import safe_text
from dagster_project.lib.source_contract import door

MAX_LISTED = 20
NOT_QUOTED = "(not quoted: personal data)"


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # row as a person counts it in a spreadsheet (header = row 1)
    column: str
    value: str
    rule: str
    sheet: str | None = None  # the worksheet, for workbooks
    quoted: bool = True  # False: the value is personal and never shown
    cell: str | None = None  # a workbook's cell reference (D3), for the sender

    def __post_init__(self):
        limit = door().max_value_chars
        value = safe_text(self.value, limit) if self.quoted else ""
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "file", safe_text(self.file, 120))
        object.__setattr__(self, "column", safe_text(self.column, limit))
        object.__setattr__(self, "rule", safe_text(self.rule, 400))
        if self.sheet is not None:
            object.__setattr__(self, "sheet", safe_text(self.sheet, limit))
        if self.cell is not None:
            object.__setattr__(self, "cell", safe_text(self.cell, 12))

    def where(self) -> str:
        where = f"sheet {self.sheet}, " if self.sheet else ""
        where += f"row {self.row}, " if self.row is not None else ""
        return f"{where}column {self.column}"

    def detail(self) -> str:
        """Where, what value (if it may be quoted) and which rule, without the file name."""
        value = f"value {self.value!r}: " if self.quoted else ""
        return f"{self.where()}: {value}{self.rule}"

    def summary(self) -> str:
        """Where and which rule, no value: what tables, manifests and releases keep."""
        return f"{self.where()}: {self.rule}"

    def __str__(self) -> str:
        return f"{self.file}: {self.detail()}"


class FileRejected(ValueError):
    def __init__(self, file: str, problems: list[Problem], total: int | None = None):
        self.file, self.problems = file, problems
        self.total = total if total is not None else len(problems)
        listed = "\n  ".join(str(p) for p in problems[:MAX_LISTED])
        more = f"\n  … and {self.total - MAX_LISTED} more" if self.total > MAX_LISTED else ""
        super().__init__(f"{safe_text(file, 120)} was not loaded: {self.total} problem(s)\n"
                         f"  {listed}{more}")


def whole_file(file: str, rule: str, column: str = "(whole file)", value: str = "",
               sheet: str | None = None) -> FileRejected:
    """A file refused for one reason that concerns the whole file."""
    return FileRejected(file, [Problem(file, None, column, value, rule, sheet)])


class FilesRejected(Exception):
    """A pass over several files refused some of them: each with its own FileRejected."""

    def __init__(self, rejections: list[FileRejected]):
        self.rejections = rejections
        super().__init__("; ".join(r.file for r in rejections))


def rejections_of(exc: FileRejected | FilesRejected) -> list[FileRejected]:
    return exc.rejections if isinstance(exc, FilesRejected) else [exc]
