"""A normalized listing and its warnings: what an adapter hands back, besides the records themselves. Pure.

Rules:
- A `Listing` is a dict of records by exact id (so every reader of `dict[str, SourceRecord]` still works) that
  also carries a `WarningLog`: entries that were skipped (no usable id) or repeated.
- A repeated id keeps its first entry, in listing order (pages in order, entries in page order), and says so in a
  warning: the choice is deterministic and visible, never silent.
- Warnings are bounded: the first `WARNING_LIMIT` are kept word for word, the rest only counted, so a hostile
  listing of a million bad entries costs a counter, not a million strings.
- Every upstream text a warning quotes goes through `escape`: control characters (terminal escapes, newlines,
  NUL) are shown as `\\xNN` escapes and long values are cut, so a warning can neither forge output lines nor grow
  without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from modelsync.records import SourceRecord

WARNING_LIMIT = 100
SHOWN_CHARS = 80


def escape(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters with every non-printable character written as an escape."""
    head = text[:limit]
    shown = head if head.isprintable() else "".join(c if c.isprintable() else _escape_char(c) for c in head)
    return shown if len(text) <= limit else f"{shown}… ({len(text):,} chars)"


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def show(value: Any) -> str:
    """A value as a warning quotes it: strings quoted and escaped, numbers and dates as text, all bounded."""
    if isinstance(value, str):
        return f"'{escape(value)}'"
    if isinstance(value, Decimal):
        return escape(str(value.normalize()))  # 1E+28, not 1.000000E+28
    if isinstance(value, int | float | bool) or value is None:
        return escape(str(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):  # never rendered whole: it may be huge
        return f"<{type(value).__name__} of {len(value):,} items>"
    return escape(repr(value))


@dataclass(slots=True)
class WarningLog:
    """Warnings in the order they were raised: the first `limit` kept, every one counted."""

    limit: int = WARNING_LIMIT
    kept: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, text: str) -> None:
        """Record one warning (kept while there is room, counted always)."""
        self.total += 1
        if len(self.kept) < self.limit:
            self.kept.append(text)

    def extend(self, other: WarningLog) -> None:
        """Append another log's warnings, keeping its count of the ones it had no room for."""
        room = max(0, self.limit - len(self.kept))
        self.kept.extend(other.kept[:room])
        self.total += other.total

    def lines(self, prefix: str = "") -> list[str]:
        """The kept warnings, each after `prefix`, and one closing line counting the ones left out."""
        found = [prefix + text for text in self.kept]
        if self.total > len(self.kept):
            left_out = self.total - len(self.kept)
            found.append(f"{prefix}… and {left_out:,} more warnings (the first {len(self.kept)} are shown)")
        return found


class Listing(dict[str, SourceRecord]):
    """Records by exact id, plus the warnings raised while reading them."""

    __slots__ = ("warnings",)

    def __init__(self) -> None:
        super().__init__()
        self.warnings = WarningLog()

    def add(self, record: SourceRecord, where: str) -> None:
        """Add a record; an id already listed keeps its first entry and the repeat is warned about."""
        if record.model_id in self:
            self.repeated(record.model_id, where)
            return
        self[record.model_id] = record

    def repeated(self, model_id: str, where: str) -> None:
        """Warn that an id came again (its first entry is the one kept)."""
        self.warnings.add(f"{where}: model {escape(model_id)} is listed more than once; the first entry is kept")

    def absorb(self, other: dict[str, SourceRecord], where: str) -> None:
        """Add another (page's) listing: its records in order, then its warnings."""
        for record in other.values():
            self.add(record, where)
        if isinstance(other, Listing):
            self.warnings.extend(other.warnings)

    def skip(self, where: str, reason: str) -> None:
        """Record an entry that was left out, and why."""
        self.warnings.add(f"{where}: {reason}; the entry is skipped")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An upstream value an adapter was given but could not read: unknown, never absent.

    An adapter puts it where the value would go (and leaves out whatever follows from that value, such as the
    deprecation a shutdown date implies); validation drops it with a warning quoting `value`.
    """

    value: Any
    reason: str = "cannot be read"


def warnings_of(records: dict[str, SourceRecord]) -> WarningLog:
    """The warnings a listing carries (an empty log for a plain dict)."""
    return records.warnings if isinstance(records, Listing) else WarningLog()
