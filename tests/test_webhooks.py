"""Change webhooks end to end, on both databases, with real receivers (a threaded http.server on 127.0.0.1).

Covered: the acceptance (a price changed in the overrides file reaches a price_changed subscriber as exactly one
signed POST naming the model with old and new price); a receiver failing twice then succeeding gets the batch
once (three attempts, one delivery id); the backoff schedule and giving up; a receiver down during the sync gets
the batch when it is back (`webhooks deliver`, and the server's loop after an API sync); shutdown_soon once per
model and threshold across syncs (injected clock); conflict and sync_failed and price_scheduled events; event,
provider and model filters; a new subscription does not get the history; claims and batching are
compare-and-set; the secret never appears in API output, the audit log, the logs or the database; a missing
MODELSYNC_SECRET_KEY and an invalid URL are clear errors (exit 4 / 409 / 422); roles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.db.tables import ai_model, audit_log, webhook_delivery, webhook_event, webhook_subscription
from modelsync.errors import SecretKeyMissingError, UsageError
from modelsync.events import verify
from modelsync.services import catalog, conflicts, delivery, webhooks
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings, load_settings
from modelsync.sources.live import ListingResult

KEY = "k" * 40
SECRET = "s3cret-for-tests-0123456789"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GPT4O = '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "{price}"\n'


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST and answers the scripted statuses (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = (), port: int = 0) -> None:
        self.requests: list[Received] = []
        self.statuses = list(statuses)
        self.answered: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.answered.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args) -> None:
                return None

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    """Settings with a secret key and retries due at once (the tests drive time themselves)."""
    return settings.model_copy(update={"secret_key": SecretStr(KEY), "webhook_backoff": 0.0})


def sync(engine, settings, at: datetime | None = None, **options):
    clock = (lambda: at) if at is not None else None
    if clock is None:
        return run_sync(engine, settings, SyncOptions(**options))
    return run_sync(engine, settings, SyncOptions(**options), clock=clock)


def overrides(path: Path, body: str) -> None:
    (path / "modelsync.overrides.toml").write_text(body)


def subscribe(engine, settings, url, **filters) -> int:
    created = webhooks.create_subscription(engine, settings, url, secret=SECRET, actor="test", **filters)
    return created.subscription["id"]


def signed_ok(received: Received, secret: str = SECRET) -> bool:
    """Verify as a receiver would, by hand: HMAC-SHA256 over "<timestamp>.<body>"."""
    timestamp = received.headers["x-modelsync-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256).hexdigest()
    header = received.headers["x-modelsync-signature"]
    return hmac.compare_digest(header, f"sha256={expected}") and verify(secret, timestamp, received.body, header)


def stored_price(engine, model_id: str = "gpt-4o") -> Decimal:
    return dbread.one_row(engine, ai_model, provider="openai", model_id=model_id)["input_price"]


# --- the acceptance ----------------------------------------------------------------------------------------------


def test_a_price_change_in_the_overrides_file_is_one_signed_post_with_old_and_new_price(
    cli, engine, clean_env, receiver, monkeypatch
):
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", KEY)
    assert cli("sync").code == 0
    old = stored_price(engine)
    added = cli("webhooks", "add", receiver.url, "--events", "price_changed")
    assert added.code == 0, added.err
    secret = added.out.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and len(secret) > 40

    overrides(clean_env, GPT4O.format(price="1.75"))
    result = cli("sync")

    assert result.code == 0, result.err
    assert "webhooks: 1 delivered" in result.err
    assert len(receiver.requests) == 1
    received = receiver.requests[0]
    assert signed_ok(received, secret)
    assert not signed_ok(received, secret + "x")
    document = received.document
    assert document["subscriptionId"] == 1 and received.headers["x-modelsync-delivery"] == str(document["deliveryId"])
    [event] = document["events"]
    assert (event["kind"], event["provider"], event["model"]) == ("price_changed", "openai", "gpt-4o")
    assert event["data"]["prices"]["inputCostPer1M"] == {"old": format(old, "f"), "new": "1.75"}
    base = [c for c in event["data"]["components"] if c["unit"] == "input_tokens" and not c["batch"] and not c["above"]]
    assert [(c["old"], c["new"]) for c in base] == [(format(old, "f"), "1.75")]

    # Nothing more: the next sync has no change, and delivering again sends nothing.
    assert cli("sync").code == 0
    assert cli("webhooks", "deliver").code == 0
    assert len(receiver.requests) == 1
    listed = cli("webhooks", "deliveries", "1", "--format", "json")
    [shown] = json.loads(listed.out)
    assert (shown["status"], shown["attempts"], shown["lastStatusCode"], shown["events"]) == ("delivered", 1, 200, 1)


def test_a_receiver_failing_twice_then_succeeding_gets_the_batch_once(engine, keyed, clean_env):
    receiver = Receiver(statuses=(500, 503))
    try:
        sync(engine, keyed)
        sub = subscribe(engine, keyed, receiver.url, events=["price_changed"])
        overrides(clean_env, GPT4O.format(price="1.5"))
        sync(engine, keyed)

        result = delivery.deliver_pending(engine, keyed)
    finally:
        receiver.stop()

    assert receiver.answered == [500, 503, 200]
    assert (result.delivered, result.failed_attempts, result.pending) == (1, 2, 0)
    ids = {r.headers["x-modelsync-delivery"] for r in receiver.requests}
    assert len(ids) == 1
    assert [r.headers["x-modelsync-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert all(signed_ok(r) for r in receiver.requests)
    assert len({json.dumps(r.document["events"]) for r in receiver.requests}) == 1
    [row] = dbread.rows(engine, webhook_delivery, subscription_id=sub)
    assert (row["status"], row["attempts"], row["last_status_code"], row["last_error"]) == ("delivered", 3, 200, None)


def test_retries_back_off_exponentially_and_give_up_after_the_last_attempt(engine, keyed, clean_env):
    settings = keyed.model_copy(update={"webhook_backoff": 60.0, "webhook_max_attempts": 3})
    receiver = Receiver(statuses=(500, 500, 500, 500))
    try:
        sync(engine, settings)
        subscribe(engine, settings, receiver.url, events=["price_changed"])
        overrides(clean_env, GPT4O.format(price="1.5"))
        sync(engine, settings)

        first = delivery.deliver_pending(engine, settings, clock=lambda: T0)
        row = dbread.one_row(engine, webhook_delivery)
        assert (first.failed_attempts, row["attempts"], row["last_error"]) == (1, 1, "HTTP 500")
        assert row["next_attempt_at"] == T0 + timedelta(seconds=60)
        delivery.deliver_pending(engine, settings, clock=lambda: T0 + timedelta(seconds=59))
        assert len(receiver.requests) == 1  # not due yet
        delivery.deliver_pending(engine, settings, clock=lambda: T0 + timedelta(seconds=60))
        row = dbread.one_row(engine, webhook_delivery)
        assert row["next_attempt_at"] == T0 + timedelta(seconds=60 + 120)
        last = delivery.deliver_pending(engine, settings, clock=lambda: T0 + timedelta(seconds=180))
        row = dbread.one_row(engine, webhook_delivery)
        assert (row["status"], row["attempts"], last.given_up, last.pending) == ("failed", 3, 1, 0)
        delivery.deliver_pending(engine, settings, clock=lambda: T0 + timedelta(days=1))
    finally:
        receiver.stop()
    assert len(receiver.requests) == 3


def _free_port() -> socket.socket:
    """A bound local port that refuses connections until a receiver takes it over."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_receiver_down_during_the_sync_receives_the_batch_when_it_is_back(cli, engine, clean_env, monkeypatch):
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", KEY)
    monkeypatch.setenv("MODELSYNC_WEBHOOK_BACKOFF", "1")
    monkeypatch.setenv("MODELSYNC_WEBHOOK_MAX_BACKOFF", "1")
    sock = _free_port()
    port = sock.getsockname()[1]
    assert cli("sync").code == 0
    assert (
        cli("webhooks", "add", f"http://127.0.0.1:{port}/hook", "--events", "price_changed", "--secret", SECRET).code
        == 0
    )
    overrides(clean_env, GPT4O.format(price="1.25"))

    during = cli("sync")

    assert during.code == 0  # the receiver being down never fails the sync
    assert "1 pending" in during.err
    [row] = dbread.rows(engine, webhook_delivery)
    assert (row["status"], row["last_error"], row["last_status_code"]) == ("pending", "could not connect", None)
    assert row["attempts"] >= 1
    time.sleep(1.1)  # past the backoff of the failed attempt
    still_down = cli("webhooks", "deliver")
    assert still_down.code == 1 and "0 delivered" in still_down.out and "1 pending" in still_down.out
    sock.close()
    receiver = Receiver(port=port)
    try:
        time.sleep(1.1)  # past the backoff of the failed attempts
        back = cli("webhooks", "deliver")
    finally:
        receiver.stop()
    assert back.code == 0, back.err
    assert "1 delivered" in back.out
    [received] = receiver.requests
    assert signed_ok(received)
    assert [(e["kind"], e["model"]) for e in received.document["events"]] == [("price_changed", "gpt-4o")]


def test_the_server_delivery_loop_sends_an_api_syncs_events(engine, offline, api_factory, receiver, clean_env):
    settings = offline.model_copy(update={"secret_key": SecretStr(KEY), "webhook_backoff": 0.0})
    sync(engine, settings, providers=["openai"])
    subscribe(engine, settings, receiver.url, events=["price_changed"], models=["openai/gpt-4o"])
    overrides(clean_env, GPT4O.format(price="1.1"))
    with api_factory(engine, settings, stamp_interval=0.0) as api, api.client("super_admin") as client:
        answer = client.post("/api/admin/ai-models/sync", json={"provider": "openai"})
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        with api.client("admin") as reader:
            shown = reader.get("/api/admin/webhooks/1/deliveries").json()["data"]
    [received] = receiver.requests
    assert signed_ok(received)
    assert received.document["events"][0]["data"]["prices"]["inputCostPer1M"]["new"] == "1.1"
    assert [(d["status"], d["attempts"]) for d in shown] == [("delivered", 1)]


# --- which events ------------------------------------------------------------------------------------------------


def events_of(engine, kind: str, model_id: str | None = None) -> list[dict]:
    found = dbread.rows(engine, webhook_event, kind=kind)
    return [row for row in found if model_id is None or row["model_id"] == model_id]


def test_shutdown_soon_fires_once_per_model_and_threshold_across_syncs(engine, keyed, clean_env, receiver):
    shutdown = (T0 + timedelta(days=20)).date()
    overrides(clean_env, f'[[model]]\nprovider = "openai"\nid = "gpt-4o"\nshutdown_date = "{shutdown}"\n')
    subscribe(engine, keyed, receiver.url, events=["shutdown_soon"], models=["gpt-4o"])

    sync(engine, keyed, at=T0)
    sync(engine, keyed, at=T0 + timedelta(hours=6))
    delivery.deliver_pending(engine, keyed)

    [event] = events_of(engine, "shutdown_soon", "gpt-4o")
    assert event["payload"] == {"shutdownDate": shutdown.isoformat(), "daysLeft": 20, "thresholdDays": 30}
    [received] = receiver.requests
    assert [(e["kind"], e["model"]) for e in received.document["events"]] == [("shutdown_soon", "gpt-4o")]

    sync(engine, keyed, at=T0 + timedelta(days=14))  # 6 days left: the 7-day threshold, once
    sync(engine, keyed, at=T0 + timedelta(days=15))
    assert [e["payload"]["thresholdDays"] for e in events_of(engine, "shutdown_soon", "gpt-4o")] == [30, 7]


def test_a_model_first_seen_inside_both_thresholds_gets_one_event(engine, keyed, clean_env):
    shutdown = (T0 + timedelta(days=3)).date()
    overrides(clean_env, f'[[model]]\nprovider = "openai"\nid = "gpt-4o"\nshutdown_date = "{shutdown}"\n')
    sync(engine, keyed, at=T0)
    sync(engine, keyed, at=T0 + timedelta(days=1))
    assert [e["payload"]["thresholdDays"] for e in events_of(engine, "shutdown_soon", "gpt-4o")] == [7]


def test_created_updated_and_price_changed_come_from_the_runs_history(engine, keyed, clean_env):
    first = sync(engine, keyed, providers=["openai"])
    created = events_of(engine, "created")
    assert len(created) == first.total("created") > 0
    assert {row["run_id"] for row in created} == {first.run_id}
    assert not events_of(engine, "updated") and not events_of(engine, "price_changed")
    overrides(clean_env, GPT4O.format(price="1.5"))
    second = sync(engine, keyed, providers=["openai"])
    [updated] = events_of(engine, "updated")
    [price] = events_of(engine, "price_changed")
    assert updated["run_id"] == price["run_id"] == second.run_id
    assert updated["payload"]["changes"]["inputCostPer1M"]["new"] == "1.5"
    assert "provenance" not in updated["payload"]["changes"]


def test_a_held_change_is_one_quarantined_event_and_no_price_changed(engine, keyed, clean_env, receiver):
    sync(engine, keyed, providers=["openai"])
    old = stored_price(engine)
    subscribe(engine, keyed, receiver.url, events=["quarantined", "price_changed"])
    overrides(clean_env, GPT4O.format(price=format(old * 10, "f")))  # x10: held by the quarantine (issue 10)
    held = sync(engine, keyed, providers=["openai"])

    assert stored_price(engine) == old
    [event] = events_of(engine, "quarantined", "gpt-4o")
    assert event["run_id"] == held.run_id
    payload = event["payload"]
    assert (payload["field"], payload["rule"]) == ("inputCostPer1M", "factor")
    assert Decimal(payload["old"]) == old and Decimal(payload["proposed"]) == old * 10
    assert not events_of(engine, "price_changed")
    delivery.deliver_pending(engine, keyed)
    [received] = receiver.requests
    assert [(e["kind"], e["model"]) for e in received.document["events"]] == [("quarantined", "gpt-4o")]
    # The next sync proposes the same held value: no second event.
    sync(engine, keyed, providers=["openai"])
    assert len(events_of(engine, "quarantined", "gpt-4o")) == 1


def test_a_provider_that_fails_and_a_run_that_fails_are_sync_failed_events(engine, keyed):
    def failing(_settings, names, _progress):
        return {name: ListingResult(name, error="HTTP 500 from the listing") for name in names}

    report = run_sync(engine, keyed, SyncOptions(providers=["openai"]), fetch=failing)
    [event] = events_of(engine, "sync_failed")
    assert (event["provider"], event["run_id"]) == ("openai", report.run_id)
    assert event["payload"]["status"] == "failed" and "HTTP 500" in event["payload"]["message"]

    def broken(*_args):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_sync(engine, keyed, SyncOptions(providers=["openai"]), fetch=broken)
    whole = events_of(engine, "sync_failed")[-1]
    assert (whole["provider"], whole["payload"]["status"], whole["payload"]["message"]) == (
        None,
        "failed",
        "RuntimeError",
    )


def test_a_conflict_fires_when_it_appears_and_again_when_it_reappears(engine, keyed):
    sync(engine, keyed)
    first = events_of(engine, "conflict")
    assert first, "the bundled catalogs disagree on some prices"
    sync(engine, keyed)
    assert len(events_of(engine, "conflict")) == len(first)  # still open: not news
    one = first[0]
    source = one["payload"]["candidates"][0]["source"]
    conflicts.resolve(engine, keyed, one["provider"], one["model_id"], one["payload"]["field"], source=source)
    sync(engine, keyed)
    assert len(events_of(engine, "conflict")) == len(first)
    catalog.decide(
        engine, keyed, one["provider"], one["model_id"], {conflicts.field_name(one["payload"]["field"]): None}, "t"
    )
    sync(engine, keyed)
    again = events_of(engine, "conflict")[len(first) :]
    assert [(e["provider"], e["model_id"], e["payload"]["field"]) for e in again] == [
        (one["provider"], one["model_id"], one["payload"]["field"])
    ]


@pytest.fixture
def live_settings(live_env: FakeProviders, clean_env, settings: Settings) -> Settings:
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return load_settings().model_copy(update={"secret_key": SecretStr(KEY)})


def test_a_scheduled_price_first_seen_is_one_price_scheduled_event(engine, live_settings):
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    sync(engine, live_settings, at=now, providers=["google"])
    sync(engine, live_settings, at=now + timedelta(hours=1), providers=["google"])
    [event] = events_of(engine, "price_scheduled", "gemini-3.8-flash")
    assert event["payload"]["effectiveFrom"] == "2027-01-01T00:00:00+00:00"
    assert {"unit": "input_tokens", "usd": "1.5"}.items() <= event["payload"]["prices"][0].items()


def test_filters_by_kind_provider_and_model(engine, keyed, clean_env):
    receivers = [Receiver() for _ in range(4)]
    try:
        sync(engine, keyed)
        kinds = subscribe(engine, keyed, receivers[0].url, events=["updated"])
        other = subscribe(engine, keyed, receivers[1].url, events=["price_changed"], providers=["anthropic"])
        model = subscribe(engine, keyed, receivers[2].url, models=["openai/gpt-4o"])
        everything = subscribe(engine, keyed, receivers[3].url)
        overrides(clean_env, GPT4O.format(price="1.5"))
        sync(engine, keyed)
        delivery.deliver_pending(engine, keyed)
    finally:
        for running in receivers:
            running.stop()
    got = [[(e["kind"], e["model"]) for r in running.requests for e in r.document["events"]] for running in receivers]
    assert got[0] == [("updated", "gpt-4o")]
    assert got[1] == []
    assert got[2] == [("updated", "gpt-4o"), ("price_changed", "gpt-4o")]
    assert ("price_changed", "gpt-4o") in got[3] and len(got[3]) >= 2
    assert [len(r.requests) for r in receivers] == [1, 0, 1, 1]
    assert (kinds, other, model, everything) == (1, 2, 3, 4)


def test_a_new_subscription_starts_after_the_stored_history(engine, keyed, receiver):
    sync(engine, keyed)
    assert dbread.count(engine, webhook_event) > 0
    subscribe(engine, keyed, receiver.url)
    result = delivery.deliver_pending(engine, keyed)
    assert (result.batched, result.delivered, receiver.requests) == (0, 0, [])


def test_batching_and_claims_are_compare_and_set(engine, keyed, clean_env, receiver):
    settings = keyed.model_copy(update={"webhook_batch_size": 10})
    subscribe(engine, settings, receiver.url, events=["created"], providers=["anthropic"])
    report = sync(engine, settings, providers=["anthropic"])
    created = report.total("created")
    made = delivery.batch_events(engine, settings, T0)
    assert made == -(-created // 10)
    assert delivery.batch_events(engine, settings, T0) == 0  # the cursor moved: nothing batched twice
    first = delivery.claim_next(engine, T0, lease=60)
    assert first is not None
    # The oldest pending batch is claimed; its subscription's later batches wait; a second claimer gets nothing.
    assert delivery.claim_next(engine, T0, lease=60) is None
    # A lease that ran out (the claimer died) can be taken over.
    again = delivery.claim_next(engine, T0 + timedelta(seconds=61), lease=60)
    assert again is not None and again.id == first.id and again.claim != first.claim
    result = delivery.deliver_pending(engine, settings, clock=lambda: T0 + timedelta(seconds=200))
    assert result.delivered == made
    sent = [e["model"] for r in receiver.requests for e in r.document["events"]]
    assert len(sent) == len(set(sent)) == created
    assert [r.document["deliveryId"] for r in receiver.requests] == sorted(
        r.document["deliveryId"] for r in receiver.requests
    )


# --- secrets, validation, roles ----------------------------------------------------------------------------------


def test_a_missing_secret_key_is_a_clear_error(cli, engine, settings, receiver):
    with pytest.raises(SecretKeyMissingError, match="MODELSYNC_SECRET_KEY"):
        webhooks.create_subscription(engine, settings, receiver.url)
    result = cli("webhooks", "add", receiver.url)
    assert result.code == 4
    assert "MODELSYNC_SECRET_KEY is not set" in result.err and "at least 32 characters" in result.err
    assert dbread.count(engine, webhook_subscription) == 0


def test_deliveries_wait_for_the_key_and_a_wrong_key_counts_no_attempt(engine, keyed, clean_env, receiver):
    sync(engine, keyed)
    subscribe(engine, keyed, receiver.url, events=["price_changed"])
    overrides(clean_env, GPT4O.format(price="1.5"))
    sync(engine, keyed)
    without = keyed.model_copy(update={"secret_key": None})
    blocked = delivery.deliver_pending(engine, without)
    assert blocked.pending == 1 and "MODELSYNC_SECRET_KEY" in (blocked.blocked or "")
    wrong = keyed.model_copy(update={"secret_key": SecretStr("w" * 40)})
    refused = delivery.deliver_pending(engine, wrong)
    assert refused.pending == 1 and "another one" in (refused.blocked or "")
    assert dbread.one_row(engine, webhook_delivery)["attempts"] == 0
    assert receiver.requests == []
    assert delivery.deliver_pending(engine, keyed).delivered == 1


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "http://", "https://user:pw@example.com/x", "not a url", "http://example.com/#x", ""],
)
def test_an_invalid_url_is_refused(cli, keyed, engine, monkeypatch, url):
    with pytest.raises(UsageError):
        webhooks.create_subscription(engine, keyed, url, secret=SECRET)
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", KEY)
    result = cli("webhooks", "add", url)
    assert result.code == 4
    assert dbread.count(engine, webhook_subscription) == 0


def test_bad_filters_and_secrets_are_refused(engine, keyed, receiver):
    for filters, message in (
        ({"events": ["price_change"]}, "unknown event kind 'price_change'"),
        ({"providers": ["nope"]}, "unknown provider 'nope'"),
        ({"secret": "short"}, "16 to 256"),
    ):
        with pytest.raises(UsageError, match=message):
            webhooks.create_subscription(engine, keyed, receiver.url, **filters)
    assert dbread.count(engine, webhook_subscription) == 0


def test_the_api_by_role_and_never_a_secret(engine, offline, api_factory, receiver, caplog, clean_env):
    settings = offline.model_copy(update={"secret_key": SecretStr(KEY), "webhook_backoff": 0.0})
    caplog.set_level(logging.DEBUG)
    with api_factory(engine, settings, stamp_interval=0.0) as api:
        body = {"url": receiver.url, "events": ["price_changed"], "secret": SECRET}
        with api.client("viewer") as viewer:
            assert viewer.get("/api/admin/webhooks").status_code == 403
            assert viewer.post("/api/admin/webhooks", json=body).status_code == 403
        with api.client("admin") as admin:
            assert admin.post("/api/admin/webhooks", json=body).status_code == 403
        with api.client() as anonymous:
            assert anonymous.get("/api/admin/webhooks").status_code == 401
        with api.client("super_admin") as root:
            created = root.post("/api/admin/webhooks", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["secret"] is None  # a secret the caller gave is never echoed
            sub = created.json()["data"]
            assert sub["secretFingerprint"] == "sha256:" + hashlib.sha256(SECRET.encode()).hexdigest()[:12]
            generated = root.post("/api/admin/webhooks", json={"url": receiver.url})
            assert generated.status_code == 201
            new_secret = generated.json()["secret"]
            assert new_secret.startswith("whsec_")
            bad = root.post("/api/admin/webhooks", json={"url": "ftp://example.com"})
            assert bad.status_code == 422 and "http://" in bad.json()["error"]["message"]
            unknown = root.post("/api/admin/webhooks", json={"url": receiver.url, "events": ["nope"]})
            assert unknown.status_code == 422
            run = root.post("/api/admin/ai-models/sync", json={"provider": "openai"})
            assert run.status_code == 200
            overrides(clean_env, GPT4O.format(price="1.5"))
            assert root.post("/api/admin/ai-models/sync", json={"provider": "openai"}).status_code == 200
            audit = root.get("/api/admin/audit-log", params={"limit": 500}).text
        # The server's delivery loop (woken by the sync) and this pass may both try: claims let one of them send.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            delivery.deliver_pending(engine, settings)
            if {row["status"] for row in dbread.rows(engine, webhook_delivery, subscription_id=1)} == {"delivered"}:
                break
            time.sleep(0.05)
        with api.client("admin") as admin:
            listing = admin.get("/api/admin/webhooks")
            assert listing.status_code == 200
            assert [item["id"] for item in listing.json()["data"]] == [sub["id"], generated.json()["data"]["id"]]
            deliveries = admin.get(f"/api/admin/webhooks/{sub['id']}/deliveries")
            assert deliveries.status_code == 200 and deliveries.json()["data"][0]["status"] == "delivered"
            assert admin.delete(f"/api/admin/webhooks/{sub['id']}").status_code == 403
            assert admin.get("/api/admin/webhooks/999/deliveries").status_code == 404
        with api.client("super_admin") as root:
            assert root.delete(f"/api/admin/webhooks/{sub['id']}").status_code == 204
            assert root.delete(f"/api/admin/webhooks/{sub['id']}").status_code == 404
            audit += root.get("/api/admin/audit-log", params={"limit": 500}).text
    texts = [listing.text, deliveries.text, audit, caplog.text]
    for secret in (SECRET, new_secret, KEY):
        assert not any(secret in text for text in texts)
    assert '"webhook.create"' in audit and '"webhook.remove"' in audit
    stored = dbread.rows(engine, webhook_subscription)
    assert all(SECRET not in json.dumps(row, default=str) and new_secret not in json.dumps(row, default=str)
               for row in stored)  # fmt: skip
    actions = [row["action"] for row in dbread.rows(engine, audit_log) if row["action"].startswith("webhook.")]
    assert actions == ["webhook.create", "webhook.create", "webhook.remove"]
    assert receiver.requests and all(signed_ok(r) for r in receiver.requests if r.document["subscriptionId"] == 1)


def test_missing_key_over_the_api_is_a_409_saying_what_to_set(engine, offline, api_factory, receiver):
    with api_factory(engine, offline, stamp_interval=0.0) as api, api.client("super_admin") as root:
        answer = root.post("/api/admin/webhooks", json={"url": receiver.url})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "secret_key_missing"
    assert "MODELSYNC_SECRET_KEY" in answer.json()["error"]["message"]


def test_webhooks_test_sends_a_signed_ping_and_list_shows_no_secret(cli, engine, receiver, monkeypatch):
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", KEY)
    assert cli("webhooks", "add", receiver.url, "--secret", SECRET, "--provider", "openai").code == 0
    pinged = cli("webhooks", "test", "1")
    assert pinged.code == 0 and "HTTP 200" in pinged.out
    [received] = receiver.requests
    assert signed_ok(received) and received.document["events"][0]["kind"] == "test"
    listed = cli("webhooks", "list", "--format", "tsv")
    assert receiver.url in listed.out and SECRET not in listed.out and "sha256:" in listed.out
    assert cli("webhooks", "test", "7").code == 4
    assert cli("webhooks", "remove", "1").code == 0
    assert cli("webhooks", "remove", "1").code == 4


def test_the_readme_verification_snippet_accepts_a_real_delivery_and_refuses_a_forged_one(engine, keyed, receiver):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    snippet = next(block for block in readme.split("```python\n")[1:] if "def verify(" in block).split("```")[0]
    namespace: dict = {}
    exec(snippet, namespace)
    readme_verify = namespace["verify"]
    sub = subscribe(engine, keyed, receiver.url)
    code, error = delivery.send_test(engine, keyed, sub)
    assert (code, error) == (200, None)
    [received] = receiver.requests
    headers = {
        "X-Modelsync-Timestamp": received.headers["x-modelsync-timestamp"],
        "X-Modelsync-Signature": received.headers["x-modelsync-signature"],
    }
    assert readme_verify(SECRET, headers, received.body)
    assert not readme_verify(SECRET, headers, received.body.replace(b"test", b"tost"))
    assert not readme_verify("another-secret-0123456789", headers, received.body)


def test_a_failing_collector_loses_only_its_runs_events_never_the_sync(engine, keyed, clean_env, monkeypatch):
    from modelsync.services import events as event_service

    def broken(_conn, _context):
        yield from ()
        raise RuntimeError("collector bug")

    sync(engine, keyed, providers=["openai"])
    before = dbread.count(engine, webhook_event)
    monkeypatch.setitem(event_service.COLLECTORS, "broken", broken)
    overrides(clean_env, GPT4O.format(price="1.5"))
    report = sync(engine, keyed, providers=["openai"])
    assert report.status == "ok" and report.total("updated") == 1
    assert stored_price(engine) == Decimal("1.5")  # the sync committed
    assert dbread.count(engine, webhook_event) == before  # its events were rolled back together, none half-stored
    monkeypatch.delitem(event_service.COLLECTORS, "broken")
    overrides(clean_env, GPT4O.format(price="1.25"))
    sync(engine, keyed, providers=["openai"])
    assert [e["payload"]["prices"]["inputCostPer1M"]["new"] for e in events_of(engine, "price_changed")] == ["1.25"]


def test_events_are_derived_and_written_page_by_page_while_the_history_is_read(engine, keyed, monkeypatch):
    from modelsync.services import events as event_service

    monkeypatch.setattr(event_service, "_PAGE", 7)  # many pages: reads and writes interleave on one connection
    report = sync(engine, keyed, providers=["openai"])
    created = events_of(engine, "created")
    assert report.total("created") > 3 * 7
    assert len(created) == len({row["model_id"] for row in created}) == report.total("created")
    assert [row["id"] for row in created] == sorted(row["id"] for row in created)
