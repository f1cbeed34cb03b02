"""Literal prefilters for regular expressions: a cheap `in` test that rules out most ids before the regex runs. Pure.

Rules:
- `necessary_literals(pattern)` returns lower-case strings such that every match of the pattern (searched
  case-insensitively) contains at least one of them, or None when the pattern gives no such guarantee (then the
  regex must always run). It reads the pattern's parse tree: a sequence needs all its parts, so any one part's
  literals will do (the most selective is kept); an alternation needs one of its branches' literals; a repeat
  that may match nothing, a character class or a back-reference needs nothing that can be named.
- A `Prefiltered` pattern answers exactly what the regex answers: the prefilter only ever skips ids that cannot
  match. Non-ASCII literals are not used, and non-ASCII text always goes to the regex (case-insensitive matching
  folds some non-ASCII letters onto ASCII ones, which `str.lower` does not).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

# The regex parser is private (`re._parser` since Python 3.11); it is the one source of truth for what a pattern
# means, so reading its tree beats re-parsing patterns by hand. Loaded by name: typeshed does not describe it.
_sre_parse: Any = importlib.import_module("re._parser")
_sre_constants: Any = importlib.import_module("re._constants")

_LITERAL = _sre_constants.LITERAL
_SUBPATTERN = _sre_constants.SUBPATTERN
_BRANCH = _sre_constants.BRANCH
_REPEATS = (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT, getattr(_sre_constants, "POSSESSIVE_REPEAT", None))
_ATOMIC = getattr(_sre_constants, "ATOMIC_GROUP", None)


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    # Any candidate is a valid requirement (a sequence needs all of its parts); the one whose shortest literal is
    # longest rules out the most ids, with fewer alternatives as the tie-breaker.
    if not candidates:
        return None
    return max(candidates, key=lambda found: (min(len(text) for text in found), -len(found)))


def _sequence(items: Any) -> frozenset[str] | None:
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            candidates.append(frozenset({"".join(run)}))
            run.clear()

    for op, value in items:
        if op is _LITERAL:
            char = chr(value)
            if not char.isascii():
                close()
                continue
            run.append(char.lower())
            continue
        close()
        found: frozenset[str] | None = None
        if op is _SUBPATTERN:
            found = _sequence(value[-1])
        elif op is _BRANCH:
            branches = [_sequence(branch) for branch in value[1]]
            if branches and all(branch is not None for branch in branches):
                found = frozenset().union(*branches)  # type: ignore[arg-type]  # None ruled out just above
        elif op in _REPEATS and op is not None and value[0] >= 1:
            found = _sequence(value[2])
        elif _ATOMIC is not None and op is _ATOMIC:
            found = _sequence(value)
        if found:
            candidates.append(found)
    close()
    return _best(candidates)


def necessary_literals(pattern: str) -> frozenset[str] | None:
    """Lower-case literals one of which every match contains, or None when there is no such set."""
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return None
    found = _sequence(parsed)
    return found if found and all(found) else None


@dataclass(frozen=True, slots=True)
class Prefiltered:
    """A case-insensitive regex with its literal prefilter."""

    regex: re.Pattern[str]
    # The necessary literals as one plain alternation, searched in the lower-cased text: a few hundred
    # nanoseconds, against microseconds for a pattern with classes and anchors.
    prefilter: re.Pattern[str] | None

    @classmethod
    def compile(cls, pattern: str) -> Prefiltered:
        """Compile `pattern` case-insensitively, with the literals that any match must contain."""
        literals = necessary_literals(pattern)
        prefilter = re.compile("|".join(map(re.escape, sorted(literals)))) if literals else None
        return cls(re.compile(pattern, re.IGNORECASE), prefilter)

    def search(self, text: str, lowered: str | None = None) -> bool:
        """Whether the regex matches somewhere in `text` (`lowered` = text.lower(), when the caller has it)."""
        # Under IGNORECASE some non-ASCII letters match ASCII ones (the long s matches "s"), which a plain search of
        # the lower-cased text would miss: such text always goes to the regex.
        if self.prefilter is not None and text.isascii():
            lowered = text.lower() if lowered is None else lowered
            if self.prefilter.search(lowered) is None:
                return False
        return self.regex.search(text) is not None
