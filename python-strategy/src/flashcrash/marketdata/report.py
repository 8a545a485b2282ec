"""What an import kept and what it dropped, with the line number and the reason of every drop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Dropped rows listed one by one; beyond this only counted by reason.
MAX_LISTED = 1_000


@dataclass(frozen=True, slots=True)
class RowIssue:
    line: int  # 1-based line number in the (decompressed) file
    reason: str


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    kept: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)
    symbol: str | None = None  # the file's symbol, when its rows or its name say it

    def drop(self, line: int, reason: str) -> None:
        self.by_reason[reason] += 1
        if len(self.issues) < MAX_LISTED:
            self.issues.append(RowIssue(line, reason))

    @property
    def dropped(self) -> int:
        return sum(self.by_reason.values())

    def summary(self) -> str:
        text = f"{self.source}: {self.rows} rows, {self.kept} kept, {self.dropped} dropped"
        if self.by_reason:
            text += " (" + ", ".join(f"{r}: {n}" for r, n in self.by_reason.most_common()) + ")"
        return text
