"""Webhook operations on both databases with real receivers on 127.0.0.1: pause/resume, and the event retention.

Covered: a paused subscription gets nothing (neither new batches nor its pending ones) and, resumed, catches up
from its cursor in order (CLI, service and API, audit-logged, 404/403/422); the retention prunes old events and
finished deliveries (injected clock), never past an active subscription's cursor or its pending deliveries, drops
a paused subscription's pending deliveries whose events it pruned, keeps webhook_mark rows, works in bounded
batches, stops at the first young event and takes no write lock when nothing is old; 0 keeps everything; the
server's housekeeping and `modelsync sync` apply it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

import dbread
import test_webhooks
from modelsync.db.tables import audit_log, webhook_delivery, webhook_event, webhook_mark, webhook_subscription
from modelsync.errors import ConfigError, NotFoundError
from modelsync.services import delivery, webhooks
from modelsync.services.event_retention import EventRetention, prune_events
from test_webhooks import GPT4O, KEY, SECRET, T0, Receiver, overrides, signed_ok, subscribe, sync

DAY = timedelta(days=1)


# The webhook tests' fixtures: a receiver on 127.0.0.1 and settings with a secret key and retries due at once.
receiver, keyed = test_webhooks.receiver, test_webhooks.keyed


def prices_sent(receiver: Receiver) -> list[str]:
    """gpt-4o's new input prices in the price_changed events received, in order."""
    return [
        e["data"]["prices"]["inputCostPer1M"]["new"]
        for r in receiver.requests
        for e in r.document["events"]
        if (e["kind"], e["model"]) == ("price_changed", "gpt-4o")
    ]


def event_ids(engine) -> list[int]:
    return [row["id"] for row in dbread.rows(engine, webhook_event)]


# --- pause and resume --------------------------------------------------------------------------------------------


def test_a_paused_subscription_gets_nothing_and_catches_up_in_order_when_resumed(
    cli, engine, clean_env, receiver, monkeypatch
):
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", KEY)
    assert cli("sync").code == 0
    assert cli("webhooks", "add", receiver.url, "--events", "price_changed", "--secret", SECRET).code == 0
    paused = cli("webhooks", "disable", "1")
    assert paused.code == 0, paused.err
    assert "webhook 1 paused" in paused.out
    [shown] = json.loads(cli("webhooks", "list", "--format", "json").out)
    assert shown["active"] is False
    assert "paused" in cli("webhooks", "list", "--format", "tsv").out.splitlines()[1].split("\t")

    for price in ("1.5", "1.75"):
        overrides(clean_env, GPT4O.format(price=price))
        assert cli("sync").code == 0
    assert cli("webhooks", "deliver").code == 0
    assert receiver.requests == []
    assert dbread.rows(engine, webhook_delivery) == []  # a paused cursor stands still: nothing is batched

    resumed = cli("webhooks", "enable", "1")
    assert resumed.code == 0 and "webhook 1 active" in resumed.out
    assert json.loads(cli("webhooks", "list", "--format", "json").out)[0]["active"] is True
    assert "active" in cli("webhooks", "list", "--format", "tsv").out.splitlines()[1].split("\t")
    delivered = cli("webhooks", "deliver")
    assert delivered.code == 0 and "1 delivered" in delivered.out
    assert [r for r in receiver.requests if not signed_ok(r)] == []
    assert prices_sent(receiver) == ["1.5", "1.75"]  # both changes made while paused, oldest first
    actions = [row["action"] for row in dbread.rows(engine, audit_log) if row["action"].startswith("webhook.")]
    assert actions == ["webhook.create", "webhook.disable", "webhook.enable"]
    assert cli("webhooks", "disable", "7").code == 4
    assert cli("webhooks", "enable", "7").code == 4


def test_a_pending_delivery_waits_while_paused_and_goes_on_resume(engine, keyed, clean_env, receiver):
    sync(engine, keyed)
    sub = subscribe(engine, keyed, receiver.url, events=["price_changed"])
    overrides(clean_env, GPT4O.format(price="1.5"))
    sync(engine, keyed)
    assert delivery.batch_events(engine, keyed, T0) == 1
    shown = webhooks.set_active(engine, sub, False, actor="ops")
    assert shown["active"] is False

    result = delivery.deliver_pending(engine, keyed, clock=lambda: T0 + DAY)
    assert (result.delivered, result.pending, receiver.requests) == (0, 1, [])
    assert webhooks.set_active(engine, sub, False)["active"] is False  # pausing twice is harmless
    assert webhooks.set_active(engine, sub, True)["active"] is True
    result = delivery.deliver_pending(engine, keyed, clock=lambda: T0 + DAY)
    assert (result.delivered, result.pending) == (1, 0)
    assert prices_sent(receiver) == ["1.5"]
    with pytest.raises(NotFoundError, match="no webhook subscription 99"):
        webhooks.set_active(engine, 99, True)


def test_pause_and_resume_over_the_api(engine, offline, api_factory, receiver):
    settings = offline.model_copy(update={"secret_key": SecretStr(KEY)})
    subscribe(engine, settings, receiver.url)
    with api_factory(engine, settings, stamp_interval=0.0) as api:
        with api.client("admin") as admin:
            assert admin.patch("/api/admin/webhooks/1", json={"active": False}).status_code == 403
        with api.client() as anonymous:
            assert anonymous.patch("/api/admin/webhooks/1", json={"active": False}).status_code == 401
        with api.client("super_admin") as root:
            paused = root.patch("/api/admin/webhooks/1", json={"active": False})
            assert paused.status_code == 200, paused.text
            assert paused.json()["data"]["active"] is False and paused.json()["data"]["id"] == 1
            assert root.get("/api/admin/webhooks").json()["data"][0]["active"] is False
            assert root.patch("/api/admin/webhooks/99", json={"active": True}).status_code == 404
            for bad in ({}, {"active": "yes"}, {"active": True, "url": "http://x"}, {"active": None}):
                assert root.patch("/api/admin/webhooks/1", json=bad).status_code == 422, bad
            resumed = root.patch("/api/admin/webhooks/1", json={"active": True})
            assert resumed.status_code == 200 and resumed.json()["data"]["active"] is True
            assert "secret" not in json.dumps(resumed.json()["data"]).replace("secretFingerprint", "")
    entries = [row for row in dbread.rows(engine, audit_log) if row["action"] in ("webhook.disable", "webhook.enable")]
    assert [(e["action"], e["actor"]) for e in entries] == [("webhook.disable", "root"), ("webhook.enable", "root")]
    assert entries[0]["details"]["host"] == "127.0.0.1" and entries[0]["source_ip"] == "127.0.0.1"
    assert dbread.one_row(engine, webhook_subscription, id=1)["active"] is True


# --- retention ---------------------------------------------------------------------------------------------------


def two_runs(engine, settings, clean_env) -> tuple[list[int], list[int]]:
    """A first sync at T0 (its events 100 days old at T0+100d) and a price change at T0+95d; their event ids."""
    sync(engine, settings, at=T0)
    old = event_ids(engine)
    overrides(clean_env, GPT4O.format(price="1.5"))
    sync(engine, settings, at=T0 + 95 * DAY)
    new = [i for i in event_ids(engine) if i not in old]
    assert old and new
    return old, new


def test_old_events_and_finished_deliveries_are_pruned_and_the_rest_kept(engine, keyed, clean_env, receiver):
    old, new = two_runs(engine, keyed, clean_env)
    with engine.begin() as conn:
        conn.execute(sa.insert(webhook_mark).values(kind="shutdown_soon", key="openai/x/30", created_at=T0 - DAY))
    sub = subscribe(engine, keyed, receiver.url)
    with engine.begin() as conn:  # finished and pending deliveries of T0, as an earlier subscriber left them
        for status in ("delivered", "failed", "pending"):
            conn.execute(
                sa.insert(webhook_delivery).values(
                    subscription_id=sub, event_ids=[new[0]], last_event_id=new[0], status=status, attempts=1,
                    next_attempt_at=T0, created_at=T0,
                )
            )  # fmt: skip
    webhooks.set_active(engine, sub, False)  # keep the pending one out of the limit: tested below

    assert not prune_events(engine, 90, now=T0 + 89 * DAY)  # nothing old enough yet
    done = prune_events(engine, 90, now=T0 + 100 * DAY)

    assert (done.events, done.deliveries) == (len(old), 2)
    assert event_ids(engine) == new
    assert [row["status"] for row in dbread.rows(engine, webhook_delivery)] == ["pending"]
    assert dbread.count(engine, webhook_mark, key="openai/x/30") == 1  # marks are never pruned
    assert not prune_events(engine, 90, now=T0 + 100 * DAY)  # idempotent
    assert not prune_events(engine, 0, now=T0 + 10_000 * DAY)  # 0 keeps everything
    assert event_ids(engine) == new


def test_never_past_an_active_subscriptions_cursor_or_pending_delivery(engine, keyed, clean_env):
    sub = subscribe(engine, keyed, "http://127.0.0.1:9/hook")  # cursor 0, before any event
    old, new = two_runs(engine, keyed, clean_env)
    late = T0 + 200 * DAY

    assert not prune_events(engine, 90, now=late)  # the active subscription has not been sent any of them
    assert event_ids(engine) == old + new

    # Batched (cursor past them) but not delivered: its pending deliveries still need them.
    assert delivery.batch_events(engine, keyed, T0 + DAY) > 0
    assert dbread.one_row(engine, webhook_subscription, id=sub)["last_event_id"] == new[-1]
    assert not prune_events(engine, 90, now=late)
    assert event_ids(engine) == old + new

    # Once delivered, the events and their (old) finished deliveries go.
    with engine.begin() as conn:
        conn.execute(webhook_delivery.update().values(status="delivered", delivered_at=T0 + DAY))
    done = prune_events(engine, 90, now=late)
    assert done.events == len(old) + len(new) and done.deliveries > 0
    assert event_ids(engine) == [] and dbread.rows(engine, webhook_delivery) == []


def test_a_paused_subscription_does_not_hold_events_and_resumes_with_what_is_left(engine, keyed, clean_env, receiver):
    sub = subscribe(engine, keyed, receiver.url, events=["created", "price_changed"])
    sync(engine, keyed, at=T0)
    old = event_ids(engine)
    assert delivery.batch_events(engine, keyed, T0) == 1  # the T0 events' batch is pending
    webhooks.set_active(engine, sub, False)
    overrides(clean_env, GPT4O.format(price="1.5"))
    sync(engine, keyed, at=T0 + 95 * DAY)
    new = [i for i in event_ids(engine) if i not in old]

    done = prune_events(engine, 90, now=T0 + 100 * DAY)

    assert (done.events, done.abandoned) == (len(old), 1)
    assert dbread.rows(engine, webhook_delivery) == []  # its batch of pruned events went with them
    assert event_ids(engine) == new
    webhooks.set_active(engine, sub, True)
    result = delivery.deliver_pending(engine, keyed, clock=lambda: T0 + 100 * DAY)
    assert result.delivered == 1
    [received] = receiver.requests  # the dropped batch is not sent; the one made on resume is
    assert all(event["id"] in new for event in received.document["events"])
    assert prices_sent(receiver) == ["1.5"]


def test_pruning_goes_in_bounded_batches_and_stops_at_the_first_young_event(engine, keyed, clean_env):
    old, new = two_runs(engine, keyed, clean_env)
    assert len(old) > 7
    # An old-dated event stored after a young one stays until that one is old too (pruning goes in id order).
    with engine.begin() as conn:
        straggler = conn.execute(
            sa.insert(webhook_event)
            .values(kind="created", provider="openai", model_id="late", payload={}, created_at=T0)
            .returning(webhook_event.c.id)
        ).scalar_one()

    done = prune_events(engine, 90, now=T0 + 100 * DAY, batch=3)

    assert done.events == len(old)
    assert event_ids(engine) == [*new, straggler]
    assert prune_events(engine, 90, now=T0 + 200 * DAY, batch=3).events == len(new) + 1
    assert event_ids(engine) == []


def test_a_pass_with_nothing_old_takes_no_write_lock(engine, keyed, clean_env):
    sync(engine, keyed, at=T0)
    subscribe(engine, keyed, "http://127.0.0.1:9/hook")
    outcome: list[object] = []
    with engine.connect().execution_options(catalog_write=True) as holder:
        # Another writer holds the lock a prune would take (SQLite: the write lock; PostgreSQL: the subscriptions).
        holder.begin()  # SQLite: BEGIN IMMEDIATE
        if engine.dialect.name == "postgresql":
            holder.exec_driver_sql("LOCK TABLE webhook_subscription IN EXCLUSIVE MODE")
        worker = threading.Thread(target=lambda: outcome.append(prune_events(engine, 90, now=T0 + 10 * DAY)))
        worker.start()
        worker.join(60)  # only a guard against a hang: a prune that waited for the lock would fail or block
        finished = not worker.is_alive()
        holder.rollback()
    worker.join()
    assert finished and len(outcome) == 1 and not outcome[0]
    assert dbread.count(engine, webhook_event) > 0


def test_the_retention_runs_at_most_once_per_interval(engine, keyed, clean_env):
    old, new = two_runs(engine, keyed, clean_env)
    clock_at = [T0 + 100 * DAY]
    retention = EventRetention(engine, 90, interval=3600, clock=lambda: clock_at[0])
    assert retention.run().events == len(old)
    clock_at[0] = T0 + 200 * DAY
    assert not retention.run()  # within the interval: not applied again
    assert event_ids(engine) == new
    assert EventRetention(engine, 90, interval=0, clock=lambda: clock_at[0]).run().events == len(new)
    assert not EventRetention(engine, 0, interval=0).run()


def test_the_server_housekeeping_prunes_old_events(engine, offline, api_factory, clean_env):
    _old, new = two_runs(engine, offline, clean_env)
    settings = offline.model_copy(update={"webhook_retention_days": 90})
    with api_factory(engine, settings, housekeeping_interval=0.05, clock=lambda: T0 + 100 * DAY):
        deadline = time.monotonic() + 30
        while event_ids(engine) != new and time.monotonic() < deadline:
            time.sleep(0.05)
    assert event_ids(engine) == new


def old_events(engine, count: int, age: timedelta) -> None:
    at = datetime.now(UTC) - age
    with engine.begin() as conn:
        conn.execute(
            sa.insert(webhook_event),
            [{"kind": "created", "provider": "openai", "model_id": f"m{i}", "payload": {}, "created_at": at}
             for i in range(count)],
        )  # fmt: skip


def test_modelsync_sync_prunes_after_syncing_and_0_keeps_everything(cli, engine, clean_env, monkeypatch):
    old_events(engine, 5, timedelta(days=100))
    monkeypatch.setenv("MODELSYNC_WEBHOOK_RETENTION_DAYS", "0")
    assert cli("sync").code == 0
    kept = dbread.count(engine, webhook_event)
    assert dbread.count(engine, webhook_event, model_id="m0") == 1 and kept > 5

    before = event_ids(engine)
    monkeypatch.setenv("MODELSYNC_WEBHOOK_RETENTION_DAYS", "90")
    overrides(clean_env, GPT4O.format(price="1.5"))
    assert cli("sync").code == 0
    stored = dbread.rows(engine, webhook_event)
    assert [r for r in stored if r["model_id"] in {f"m{i}" for i in range(5)}] == []
    assert len([r for r in stored if r["id"] in before]) == kept - 5  # the recent events stay
    assert [r["model_id"] for r in stored if r["kind"] == "price_changed"] == ["gpt-4o"]  # and the new sync's


# --- rotating MODELSYNC_SECRET_KEY -----------------------------------------------------------------------------------

NEW_KEY = "n" * 40


def test_a_rotated_key_reads_old_secrets_through_the_previous_key_and_rekey_moves_them_all(engine, keyed, receiver):
    subscribe(engine, keyed, receiver.url)
    rotated = keyed.model_copy(update={"secret_key": SecretStr(NEW_KEY), "secret_key_previous": keyed.secret_key})
    only_new = keyed.model_copy(update={"secret_key": SecretStr(NEW_KEY)})
    [row] = dbread.rows(engine, webhook_subscription)
    with pytest.raises(ConfigError, match="MODELSYNC_SECRET_KEY_PREVIOUS"):
        webhooks.decrypt_secret(only_new, row["secret_encrypted"])  # the new key alone cannot read it
    assert webhooks.decrypt_secret(rotated, row["secret_encrypted"]) == SECRET  # ...with the old one beside it can

    assert webhooks.rekey_secrets(engine, rotated, actor="ops") == 1

    [moved] = dbread.rows(engine, webhook_subscription)
    assert moved["secret_encrypted"] != row["secret_encrypted"] and SECRET not in moved["secret_encrypted"]
    assert webhooks.decrypt_secret(only_new, moved["secret_encrypted"]) == SECRET
    with pytest.raises(ConfigError):
        webhooks.decrypt_secret(keyed, moved["secret_encrypted"])  # the old key no longer reads it
    [audit] = dbread.audit_entries(engine, "webhook.rekey")
    assert audit["actor"] == "ops" and audit["details"] == {"subscriptions": 1}
    assert SECRET not in str(audit) and NEW_KEY not in str(audit)


def test_rekey_with_a_secret_no_key_reads_changes_nothing_and_says_what_to_set(engine, keyed, receiver):
    subscribe(engine, keyed, receiver.url)
    subscribe(engine, keyed, receiver.url)
    before = dbread.rows(engine, webhook_subscription)
    stranger = keyed.model_copy(update={"secret_key": SecretStr(NEW_KEY), "secret_key_previous": SecretStr("w" * 40)})
    with pytest.raises(ConfigError, match=r"webhook 1 cannot be decrypted.*nothing was changed"):
        webhooks.rekey_secrets(engine, stranger)
    assert dbread.rows(engine, webhook_subscription) == before
    assert dbread.audit_entries(engine, "webhook.rekey") == []


def test_the_cli_rekeys_after_a_rotation(cli, engine, keyed, receiver, monkeypatch):
    subscribe(engine, keyed, receiver.url)
    monkeypatch.setenv("MODELSYNC_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("MODELSYNC_SECRET_KEY_PREVIOUS", keyed.secret_key.get_secret_value())
    done = cli("webhooks", "rekey")
    assert done.code == 0, done.err
    assert "re-encrypted 1 webhook secret" in done.out and NEW_KEY not in done.out + done.err
    monkeypatch.delenv("MODELSYNC_SECRET_KEY_PREVIOUS")
    tested = cli("webhooks", "test", "1")
    assert tested.code == 0, tested.err
    assert signed_ok(receiver.requests[-1])
