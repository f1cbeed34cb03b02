"""The source-boundary validation rules (sources/validate.py) and the warnings they raise. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from modelsync.fieldspec import BY_NAME, FIELDS, SOURCE, FieldType
from modelsync.records import SourceRecord
from modelsync.sources.listing import Listing, Unreadable, WarningLog, escape, show
from modelsync.sources.validate import (
    SOURCE_SPECS,
    InvalidValue,
    check,
    check_record,
    checked_listing,
    clean_extra,
    id_problem,
    parse_price,
)


def checked(name: str, value: Any) -> Any:
    return check(BY_NAME[name], value)


@pytest.mark.parametrize("value", [10**9, 1, 200_000])
def test_token_limits_within_the_ceiling_pass(value):
    assert checked("context_window", value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [(10**9 + 1, "ceiling"), (2**70, "ceiling"), (0, "positive"), (-5, "positive"), (True, "whole"), (1.5, "whole")],
)
def test_token_limits_outside_the_range_are_refused(value, reason):
    with pytest.raises(InvalidValue, match=reason):
        checked("max_output_tokens", value)


def test_prices_are_finite_non_negative_bounded_and_kept_to_twelve_places():
    assert checked("input_price", Decimal("2.50")) == Decimal("2.5")
    assert parse_price("100000") == Decimal(100000)
    assert parse_price("0.0000000000005") == Decimal("0.000000000001")  # 12 places, half up, as NUMERIC(28, 12)
    assert parse_price("0.0000000000004") == 0
    for value, reason in [("100000.01", "ceiling"), ("1e22", "ceiling"), ("-1", "negative"), ("NaN", "finite"),
                          (float("inf"), "finite"), ("abc", "number"), (True, "number")]:  # fmt: skip
        with pytest.raises(InvalidValue, match=reason):
            parse_price(value)


def test_text_is_stripped_bounded_and_free_of_control_characters():
    assert checked("display_name", "  GPT-4o\t") == "GPT-4o"
    assert checked("display_name", "   ") is None
    assert checked("display_name", "Grok 4 · Fast ✓") == "Grok 4 · Fast ✓"
    for bad in ["a\x00b", "\x1b[31mred", "two\nlines", "c1\x85x", "sep\u2028x", "lone\ud800"]:
        with pytest.raises(InvalidValue, match="control character"):
            checked("display_name", bad)
    with pytest.raises(InvalidValue, match="longer than 512"):
        checked("display_name", "x" * 513)
    # Prose (a TEXT column) may hold line breaks and tabs, never NUL or escapes.
    assert checked("description", "line one\nline\ttwo") == "line one\nline\ttwo"
    with pytest.raises(InvalidValue, match="control character"):
        checked("description", "bell\x07")
    with pytest.raises(InvalidValue, match="longer than 4,000"):
        checked("description", "x" * 4001)


@pytest.mark.parametrize("value", ["2026-01-31", "2025-11", "2024"])
def test_release_dates_read_as_full_or_partial_dates(value):
    assert checked("release_date", value) == value


@pytest.mark.parametrize("value", ["2025-25-11", "2025-02-30", "soon", "1969-12-31"])
def test_release_dates_that_are_not_dates_are_refused(value):
    with pytest.raises(InvalidValue, match="not a date"):
        checked("release_date", value)


def test_dates_and_timestamps_are_real_and_plausible():
    assert checked("shutdown_date", date(2027, 1, 1)) == date(2027, 1, 1)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert checked("deprecated_at", moment) == moment
    for name, value in [("shutdown_date", "2027-01-01"), ("shutdown_date", date(9999, 1, 1)),
                        ("deprecated_at", datetime(2026, 1, 1)), ("shutdown_date", moment)]:  # fmt: skip
        with pytest.raises(InvalidValue):
            checked(name, value)


def test_choices_names_flags_and_booleans():
    assert checked("kind", "chat") == "chat"
    with pytest.raises(InvalidValue, match="not one of"):
        checked("kind", "\x1bchat")
    assert checked("modalities_in", ["image", "text"]) == ["image", "text"]
    with pytest.raises(InvalidValue):
        checked("modalities_in", ["text", "a\x00"])
    with pytest.raises(InvalidValue, match="more than 64"):
        checked("modalities_out", [f"m{n}" for n in range(65)])
    assert checked("capabilities", {"vision": True, "tools": None}) == {"vision": True, "tools": None}
    with pytest.raises(InvalidValue, match="not true or false"):
        checked("capabilities", {"vision": "yes"})
    with pytest.raises(InvalidValue):
        checked("capabilities", {"x" * 65: True})
    with pytest.raises(InvalidValue):
        check(SOURCE_SPECS["deprecated"], "false")
    with pytest.raises(InvalidValue, match="cannot be read"):
        checked("shutdown_date", Unreadable("not-a-date"))


def test_every_field_a_source_may_set_is_checked_by_its_type():
    settable = {field.name for field in FIELDS if SOURCE in field.set_by} | {"deprecated"}
    assert set(SOURCE_SPECS) == settable
    for spec in SOURCE_SPECS.values():
        assert spec.type is not FieldType.SOURCES
        with pytest.raises(InvalidValue):
            check(spec, object())  # no type accepts an arbitrary object


def test_ids_must_be_short_single_line_text():
    assert id_problem("meta/llama-3-70b:free") is None and id_problem("x" * 512) is None
    assert id_problem("x" * 513) == "is longer than 512 characters"
    assert id_problem("a\x00b") == "contains a control character (\\x00)"
    assert id_problem("line\nbreak") == "contains a control character (\\x0a)"
    assert id_problem("  ") == "is empty" and id_problem(None) == "is empty"


def test_extras_keep_64_bit_integers_finite_numbers_and_single_line_text():
    assert clean_extra({"created": 1_700_000_000, "aliases": ["a", "b"], "ok": True}) == {
        "created": 1_700_000_000,
        "aliases": ["a", "b"],
        "ok": True,
    }
    for bad in [2**63, float("nan"), "esc\x1b", "x" * 513, [[[[["deep"]]]]], {"k\x00": 1}, object()]:
        with pytest.raises(InvalidValue):
            clean_extra(bad)


def test_a_record_keeps_its_valid_fields_and_a_bad_id_skips_it():
    warnings = WarningLog()
    record = SourceRecord(
        "m",
        {"context_window": 2**70, "max_output_tokens": 4096, "display_name": "\x1b[2J", "kind": None},
        {"owned_by": "acme", "created": 2**64},
    )
    kept, dropped = check_record(record, warnings)
    assert kept is not None
    assert kept.fields == {"max_output_tokens": 4096, "kind": None}
    assert kept.extra == {"owned_by": "acme"}
    assert dropped == ("context_window", "display_name")
    assert warnings.kept == [
        "model m: context_window 1180591620717411303424 dropped: above the ceiling of 1,000,000,000 tokens",
        "model m: display_name '\\x1b[2J' dropped: contains a control character (\\x1b)",
        "model m: extra created 18446744073709551616 dropped: outside the 64-bit integer range",
    ]
    assert check_record(SourceRecord("a\x00", {}), warnings) == (None, ())
    assert warnings.kept[-1] == "model a\\x00 skipped: its id contains a control character (\\x00)"


def test_a_listing_brings_its_own_warnings_first():
    listing = Listing()
    listing.add(SourceRecord("a", {}), "page 1")
    listing.add(SourceRecord("a", {"display_name": "again"}), "page 1")
    listing.add(SourceRecord("b", {"input_price": Decimal("1e30")}), "page 1")
    warnings = WarningLog()
    result = checked_listing(listing, warnings)
    assert list(result.records) == ["a", "b"] and result.dropped == {"b": ("input_price",)}
    assert warnings.kept == [
        "page 1: model a is listed more than once; the first entry is kept",
        "model b: input_price 1E+30 dropped: above the ceiling of 100000 USD per 1M tokens",
    ]


def test_warning_log_keeps_the_first_hundred_and_counts_the_rest():
    log = WarningLog()
    for n in range(250):
        log.add(f"w{n}")
    other = WarningLog()
    other.add("late")
    log.extend(other)
    assert log.total == 251 and len(log.kept) == 100
    assert log.lines("P: ")[-1] == "P: … and 151 more warnings (the first 100 are shown)"


def test_shown_values_are_escaped_and_short():
    assert escape("ok") == "ok"
    assert escape("\x1b[31m\x00\u2028") == "\\x1b[31m\\x00\\u2028"
    assert escape("y" * 100, 10) == "yyyyyyyyyy… (100 chars)"
    assert show("a'b") == "'a'b'" and show(Decimal("1.000E+28")) == "1E+28"
    assert show([1] * 10**6) == "<list of 1,000,000 items>"


def test_a_model_named_as_its_own_replacement_loses_the_replacement():
    warnings = WarningLog()
    kept, dropped = check_record(SourceRecord("m", {"replacement_model": "m", "deprecated": True}), warnings)
    assert kept is not None and kept.fields == {"deprecated": True} and dropped == ("replacement_model",)
    assert warnings.kept == ["model m: replacement_model dropped: a model cannot replace itself"]
