"""The price ledger, on both databases, with genai-prices' real dated prices (Gemini 3.8 Flash: 0.75/3.75 per 1M
tokens now, 1.5/7.5 from 2027-01-01) and Google's fixture listing served by the fake provider over real HTTP.

Covered: the future price is stored as scheduled and reported once when first seen; the endpoint lists current
and scheduled prices; a cost `at` a time after the date uses the later price and before it the current one; a sync
after the date applies the new price and the ledger dates it from its start; a time before modelsync observed any
price is unpriced; a bad `at` is a 422 / exit 4 with a clear message; the pure schedule extraction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.db.tables import price_schedule
from modelsync.errors import UsageError
from modelsync.services import catalog, ledger, query
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings, load_settings
from modelsync.sources.catalogs import _match_index, genai_future
from modelsync.sync.report import SyncReport
from webclient import sign_in

MODEL = "gemini-3.8-flash"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DATE = datetime(2027, 1, 1, tzinfo=UTC)
LATER = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
MILLION = 1_000_000


def _base(schedule: list[dict[str, Any]] | None, unit: str) -> str | None:
    for item in schedule or ():
        if item["unit"] == unit and not item.get("batch") and not item.get("above"):
            return str(item["usd"])
    return None


@pytest.fixture
def live_settings(live_env: FakeProviders, clean_env, settings: Settings) -> Settings:
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return load_settings()


def sync_google(engine: Engine, settings: Settings, at: datetime) -> SyncReport:
    report = run_sync(engine, settings, SyncOptions(providers=["google"], trigger="cli"), clock=lambda: at)
    assert [outcome.status for outcome in report.outcomes] == ["ok"]
    return report


def scheduled_notes(report: SyncReport) -> list[str]:
    return [note for outcome in report.outcomes for note in outcome.notes if note.startswith("price scheduled:")]


def test_genai_prices_future_price_is_its_dated_schedule():
    index = _match_index("google")
    assert index is not None
    info = index.find(MODEL)
    assert info is not None
    future = genai_future(info, NOW)
    assert [begins for begins, _ in future] == [DATE]
    schedule = future[0][1]
    assert (_base(schedule, "input_tokens"), _base(schedule, "output_tokens")) == ("1.5", "7.5")
    # On the date it is in force: nothing is scheduled any more.
    assert genai_future(info, DATE) == []


def test_a_scheduled_price_is_stored_reported_once_and_used_at_its_date(engine, live_settings):
    first = sync_google(engine, live_settings, NOW)
    notes = scheduled_notes(first)
    mine = [note for note in notes if f"google/{MODEL} " in note]
    assert mine == [f"price scheduled: google/{MODEL} from 2027-01-01: " + mine[0].split(": ", 2)[2]]
    assert "$1.5 per 1M input tokens" in mine[0] and "$7.5 per 1M output tokens" in mine[0]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(price_schedule).where(price_schedule.c.model_id == MODEL)).mappings().all()
    assert [(row["effective_from"], row["source"], row["first_seen"]) for row in rows] == [(DATE, "genai-prices", NOW)]

    # Seen again: stored once, not reported again.
    again = sync_google(engine, live_settings, NOW.replace(hour=18))
    assert not [note for note in scheduled_notes(again) if f"google/{MODEL} " in note]

    view = ledger.price_ledger(engine, "google", MODEL, NOW.replace(hour=19))
    assert view["past"] == []
    assert _base(view["current"]["prices"], "input_tokens") == "0.75"
    assert view["current"]["effectiveTo"] == DATE.isoformat()
    assert [(s["effectiveFrom"], s["source"], s["firstObserved"]) for s in view["scheduled"]] == [
        (DATE.isoformat(), "genai-prices", NOW.isoformat())
    ]
    assert _base(view["scheduled"][0]["prices"], "output_tokens") == "7.5"

    usage = {"inputTokens": MILLION, "outputTokens": MILLION}
    before = ledger.price_call_at(engine, "google", MODEL, usage, False, datetime(2026, 12, 31, 23, tzinfo=UTC))
    after = ledger.price_call_at(engine, "google", MODEL, usage, False, LATER)
    assert Decimal(before["totalCost"]) == Decimal("4.5")
    assert Decimal(after["totalCost"]) == Decimal("9")
    # Before modelsync observed any price for the model: unknown, never a guess.
    earlier = ledger.price_call_at(engine, "google", MODEL, usage, False, datetime(2026, 1, 1, tzinfo=UTC))
    assert earlier["priced"] is False and earlier["totalCost"] is None
    assert any("no recorded price" in note for note in earlier["notes"])

    # When the date arrives, the normal sync applies the new price; the ledger dates it from its start.
    sync_google(engine, live_settings, LATER)
    view = ledger.price_ledger(engine, "google", MODEL, LATER)
    assert [_base(entry["prices"], "input_tokens") for entry in view["past"]] == ["0.75"]
    assert view["past"][0]["effectiveTo"] == DATE.isoformat()
    assert view["current"]["effectiveFrom"] == DATE.isoformat()
    assert _base(view["current"]["prices"], "input_tokens") == "1.5"
    assert view["scheduled"] == []
    still_then = ledger.price_call_at(engine, "google", MODEL, usage, False, datetime(2026, 12, 15, tzinfo=UTC))
    assert Decimal(still_then["totalCost"]) == Decimal("4.5")


def test_dry_run_reports_a_scheduled_price_without_storing_it(engine, live_settings):
    report = run_sync(engine, live_settings, SyncOptions(providers=["google"], dry_run=True), clock=lambda: NOW)
    assert any(f"google/{MODEL} " in note for note in scheduled_notes(report))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(price_schedule)).scalar_one() == 0


def test_the_prices_endpoint_and_cost_at(engine, live_settings, api_factory):
    sync_google(engine, live_settings, NOW)
    with api_factory(engine, live_settings) as api, api.client("viewer") as client:
        ledger_view = client.get(f"/api/ai-models/google/{MODEL}/prices")
        assert ledger_view.status_code == 200
        data = ledger_view.json()
        assert data["provider"] == "google" and data["model"] == MODEL
        assert [entry["effectiveFrom"] for entry in data["scheduled"]] == [DATE.isoformat()]
        assert _base(data["current"]["prices"], "input_tokens") == "0.75"
        missing = client.get("/api/ai-models/google/no-such-model/prices")
        assert missing.status_code == 404

        body = {"model": MODEL, "provider": "google", "inputTokens": MILLION, "outputTokens": MILLION}
        now_cost = client.post("/api/cost", json=body).json()
        later = client.post("/api/cost", json={**body, "at": "2027-01-02T00:00:00Z"}).json()
        assert Decimal(now_cost["totalCost"]) == Decimal("4.5") and "at" not in now_cost
        assert Decimal(later["totalCost"]) == Decimal("9") and later["known"] is True
        assert later["at"] == "2027-01-02T00:00:00+00:00"

        for bad in ("2027-01-02T00:00:00", "tomorrow", "2027-13-01T00:00:00Z"):
            response = client.post("/api/cost", json={**body, "at": bad})
            assert response.status_code == 422, bad
            assert "at" in json.dumps(response.json())


def test_cli_cost_at(engine, live_settings, cli: Callable[..., Any]):
    sync_google(engine, live_settings, NOW)
    args = ["cost", f"google/{MODEL}", "--input-tokens", str(MILLION), "--output-tokens", str(MILLION), "--json"]
    before = cli(*args, "--at", "2026-12-31T23:59:59Z")
    after = cli(*args, "--at", "2027-01-02T00:00:00+00:00")
    assert before.code == 0 and after.code == 0, (before.err, after.err)
    assert Decimal(json.loads(before.out)["totalCost"]) == Decimal("4.5")
    assert Decimal(json.loads(after.out)["totalCost"]) == Decimal("9")
    text = cli(*args[:-1], "--at", "2027-01-02T00:00:00Z")
    assert text.code == 0 and "at 2027-01-02T00:00:00+00:00" in text.out and "9" in text.out

    naive = cli(*args, "--at", "2027-01-02T00:00:00")
    assert naive.code == 4 and "no UTC offset" in naive.err
    garbage = cli(*args, "--at", "next tuesday")
    assert garbage.code == 4 and "ISO 8601" in garbage.err


def test_a_dated_price_the_catalog_no_longer_announces_is_withdrawn(engine, live_settings):
    sync_google(engine, live_settings, NOW)
    gone = datetime(2027, 6, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            price_schedule.insert().values(
                provider="google", model_id=MODEL, effective_from=gone, prices=[], source="genai-prices",
                first_seen=NOW, updated_at=NOW,
            )
        )  # fmt: skip
    report = sync_google(engine, live_settings, NOW.replace(hour=20))
    notes = [note for outcome in report.outcomes for note in outcome.notes]
    assert f"price schedule withdrawn: google/{MODEL} from 2027-06-01" in notes
    with engine.connect() as conn:
        starts = conn.execute(sa.select(price_schedule.c.effective_from).where(price_schedule.c.model_id == MODEL))
        assert [row[0] for row in starts] == [DATE]


def test_an_override_price_is_not_replaced_by_a_catalog_date(engine, live_settings, clean_env):
    (clean_env / "modelsync.overrides.toml").write_text(
        f'[[model]]\nprovider = "google"\nid = "{MODEL}"\ninput_price = "0.5"\noutput_price = "2"\n'
    )
    report = sync_google(engine, live_settings, NOW)
    assert not [note for note in scheduled_notes(report) if f"google/{MODEL} " in note]
    usage = {"inputTokens": MILLION, "outputTokens": MILLION}
    later = ledger.price_call_at(engine, "google", MODEL, usage, False, LATER)
    assert Decimal(later["totalCost"]) == Decimal("2.5")
    assert ledger.price_ledger(engine, "google", MODEL, NOW)["scheduled"] == []


# --- the change feed -----------------------------------------------------------------------------------------------


def feed_of(engine: Engine, since: str | None, now: datetime, **filters: Any) -> dict[str, Any]:
    """Every page of the change feed from `since`, as `query.list_changes` answers at `now`."""
    data: list[dict[str, Any]] = []
    while True:
        page = query.list_changes(engine, since, limit=50, now=now, **filters)
        data += page["data"]
        since = page["nextSince"]
        if not page["hasMore"]:
            return {"data": data, "nextSince": since}


def mine(entries: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in entries if e["model"] == MODEL and e["kind"].startswith("price_") and kind in (None, e["kind"])]


def test_the_change_feed_announces_a_scheduled_price_and_reports_it_when_it_takes_effect(engine, live_settings):
    sync_google(engine, live_settings, NOW)
    evening = NOW.replace(hour=19)
    feed = feed_of(engine, None, evening)
    [announced] = mine(feed["data"])
    assert announced["kind"] == "price_scheduled" and announced["id"] is None
    assert (announced["at"], announced["effectiveFrom"]) == (NOW.isoformat(), DATE.isoformat())
    assert announced["source"] == "genai-prices"
    assert announced["changes"]["inputCostPer1M"] == ["0.75", "1.5"]
    assert announced["changes"]["outputCostPer1M"] == ["3.75", "7.5"]
    old, new = announced["changes"]["prices"]
    assert (_base(old, "input_tokens"), _base(new, "input_tokens")) == ("0.75", "1.5")
    # Placed by time among the stored changes: after the sync's "created" rows of the same time.
    created = [i for i, e in enumerate(feed["data"]) if e["kind"] == "created" and e["model"] == MODEL]
    assert created and created[0] < feed["data"].index(announced)

    # Polling on from nextSince reports nothing twice; the date passing needs no sync to be reported.
    cursor = feed["nextSince"]
    assert cursor.isdigit()  # announced at the sync's time: the last change's id covers it
    assert mine(feed_of(engine, cursor, evening)["data"]) == []
    later = feed_of(engine, cursor, LATER)
    [effective] = mine(later["data"])
    assert (effective["kind"], effective["at"], effective["effectiveFrom"]) == (
        "price_effective",
        DATE.isoformat(),
        DATE.isoformat(),
    )
    assert effective["changes"]["inputCostPer1M"] == ["0.75", "1.5"]
    assert later["nextSince"].startswith(f"{cursor}@2027-01-01T00:00:00")  # past the last change: how far it went
    assert mine(feed_of(engine, later["nextSince"], LATER)["data"]) == []
    # A change stored meanwhile (an admin decision, stamped by the real clock, before the date) is reported, and
    # the cursor after it still remembers how far the events went: the effective price is not reported again.
    catalog.decide(engine, live_settings, "google", MODEL, {"recommended": True}, "ada")
    decided = feed_of(engine, later["nextSince"], LATER)
    assert [e["kind"] for e in decided["data"]] == ["manual"]
    assert "@2027-01-01T00:00:00" in decided["nextSince"]
    assert feed_of(engine, decided["nextSince"], LATER)["data"] == []
    # Just before the date it has not taken effect.
    assert mine(feed_of(engine, cursor, DATE.replace(year=2026, month=12, day=31))["data"]) == []

    # Kinds and providers narrow the derived events like the stored ones.
    only = feed_of(engine, None, LATER, kinds=("price_effective",))["data"]
    assert [e["kind"] for e in mine(only)] == ["price_effective"] and all(e["kind"] == "price_effective" for e in only)
    assert mine(feed_of(engine, None, LATER, kinds=("created",))["data"]) == []
    assert feed_of(engine, None, LATER, providers=("openai",))["data"] == []
    with pytest.raises(UsageError, match="price_effective"):
        query.list_changes(engine, None, kinds=("price_moved",), now=LATER)

    # The sync after the date applies the price (a stored change); the feed still dates the event from its start.
    sync_google(engine, live_settings, LATER)
    everything = feed_of(engine, None, LATER)["data"]
    assert [e["kind"] for e in mine(everything)] == ["price_scheduled", "price_effective"]
    applied = [e for e in everything if e["model"] == MODEL and e["kind"] == "updated"]
    assert applied and applied[0]["changes"]["inputCostPer1M"] == ["0.75", "1.5"]


def test_the_change_feed_endpoint_follows_the_clock_past_its_cache_and_the_web_page_shows_it(engine, live_settings,
                                                                                             api_factory):  # fmt: skip
    sync_google(engine, live_settings, NOW)
    moment = [NOW.replace(hour=19)]
    with api_factory(engine, live_settings, clock=lambda: moment[0], stamp_interval=0.0) as api:
        with api.client("viewer") as client:
            params = {"kind": "price_effective", "provider": "google"}
            assert client.get("/api/ai-models/changes", params=params).json()["data"] == []
            moment[0] = LATER  # the date passes: the same request, no sync in between
            data = client.get("/api/ai-models/changes", params=params).json()["data"]
            assert [(e["model"], e["effectiveFrom"]) for e in data if e["model"] == MODEL] == [
                (MODEL, DATE.isoformat())
            ]
            bad = client.get("/api/ai-models/changes", params={"kind": "price_moved"})
            assert bad.status_code == 422
        with sign_in(api.live, "viewer") as web:
            page = web.get("/opshub/ai-models/changes", params={"since": "2026-11-01"}).text
    assert "price_scheduled" in page and "effective 2027-01-01" in page
    assert "inputCostPer1M: $0.75 → $1.5" in page


def test_the_model_page_charts_the_scheduled_price_dashed_until_its_date_passes(engine, live_settings, api_factory):
    sync_google(engine, live_settings, NOW)
    moment = [NOW.replace(hour=19)]
    with api_factory(engine, live_settings, clock=lambda: moment[0]) as api, sign_in(api.live, "viewer") as web:
        page = web.get(f"/opshub/ai-models/model/google/{MODEL}").text
        assert "Price history" in page and "dashed: scheduled" in page and ">today</text>" in page
        assert page.count('stroke-dasharray="6 4"') == 2  # input and output, after today
        assert "2027-01-01 00:00 UTC (scheduled)</td><td>$1.5</td><td>$7.5</td>" in page
        moment[0] = LATER  # in force now: nothing is scheduled any more (no sync has applied it yet)
        later = web.get(f"/opshub/ai-models/model/google/{MODEL}").text
    assert "(scheduled)" not in later and 'stroke-dasharray="6 4"' not in later
