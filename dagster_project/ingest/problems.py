"""Problems found in a landed file, written so the sender can fix them."""

from dataclasses import dataclass

MAX_LISTED = 20


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # row as a person counts it in a spreadsheet (header = row 1)
    column: str
    value: str
    rule: str
    sheet: str | None = None  # the worksheet, for workbooks

    def detail(self, max_value: int = 200) -> str:
        """Where and what, without the file name."""
        where = f"sheet {self.sheet}, " if self.sheet else ""
        where += f"row {self.row}, " if self.row is not None else ""
        value = self.value if len(self.value) <= max_value else self.value[:max_value] + "…"
        return f"{where}column {self.column}: value {value!r}: {self.rule}"

    def __str__(self) -> str:
        return f"{self.file}: {self.detail()}"


def redact_id(value: str | None) -> str:
    """Keep only the shape of an ID in reports: first letter and length."""
    value = value or ""
    return value[:1] + "*" * max(len(value) - 1, 0)


class FileRejected(ValueError):
    def __init__(self, file: str, problems: list[Problem], total: int | None = None):
        self.file, self.problems = file, problems
        self.total = total if total is not None else len(problems)
        listed = "\n  ".join(str(p) for p in problems[:MAX_LISTED])
        more = f"\n  … and {self.total - MAX_LISTED} more" if self.total > MAX_LISTED else ""
        super().__init__(f"{file} was not loaded: {self.total} problem(s)\n  {listed}{more}")
