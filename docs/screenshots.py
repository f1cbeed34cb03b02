"""Take the README's screenshots of the admin web UI (run by hand, not in CI): `python docs/screenshots.py`.

Builds a catalog in a temporary SQLite file from the bundled catalogs (no network: every provider URL points at a
closed local port), adds one user per role, serves the app with uvicorn on 127.0.0.1 and drives Debian's
headless Chromium with Playwright, writing PNG files into docs/screenshots/.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    """Build the catalog, serve it, and take the screenshots."""
    workdir = Path(tempfile.mkdtemp(prefix="modelsync-shots-"))
    os.chdir(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'modelsync.db'}"
    closed = f"http://127.0.0.1:{closed_port()}"
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "REPLICATE_BASE_URL"):
        os.environ[name] = closed
    os.environ["MODELSYNC_SESSION_SECRET"] = "screenshots-only-" + "x" * 32

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from playwright.sync_api import sync_playwright

    from apiserver import serve  # the test suite's server: the app on a free local port, in a thread
    from modelsync.api.app import create_app
    from modelsync.db.engine import open_database
    from modelsync.services import auth, catalog
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings

    settings = load_settings()
    engine = open_database(settings.database_url)
    run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic", "google"], trigger="cli", actor="ops"))
    for name, role in (("root", "super_admin"), ("ada", "admin"), ("vic", "viewer")):
        auth.create_user(engine, name, role, PASSWORD, actor="screenshots")
    catalog.decide(engine, settings, "openai", "gpt-4o", {"replacement_model": "gpt-5.4"}, "ada")
    catalog.decide(engine, settings, "openai", "gpt-4o", {"input_price": Decimal("2.25")}, "ada")
    # A price ten times the catalogs' in the overrides file: the next sync holds it in the quarantine.
    (workdir / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "anthropic"\nid = "claude-sonnet-4-5"\ninput_price = "30"\n'
    )
    run_sync(engine, settings, SyncOptions(providers=["anthropic"], trigger="cli", actor="ops"))

    OUT.mkdir(exist_ok=True)
    with serve(create_app(settings, engine)) as live, sync_playwright() as playwright:
        url = live.url
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        laptop = browser.new_page(viewport={"width": 1280, "height": 860})
        laptop.goto(f"{url}/opshub/login")
        laptop.screenshot(path=OUT / "login.png")
        laptop.fill("#username", "root")
        laptop.fill("#password", PASSWORD)
        laptop.click("button[type=submit]")
        laptop.wait_for_url("**/opshub/ai-models")
        laptop.screenshot(path=OUT / "models.png")
        laptop.goto(f"{url}/opshub/ai-models?kind=chat&capability=vision&sort=-contextWindow")
        laptop.screenshot(path=OUT / "models-filtered.png")
        laptop.goto(f"{url}/opshub/ai-models/model/openai/gpt-4o")
        laptop.screenshot(path=OUT / "model.png", full_page=True)
        laptop.goto(f"{url}/opshub/ai-models/compare?m=openai/gpt-4o&m=anthropic/claude-sonnet-4-5&m=google/gemini-2.5-pro")
        laptop.screenshot(path=OUT / "compare.png", full_page=True)
        laptop.goto(f"{url}/opshub/ai-models/changes?since=2000-01-01")
        laptop.screenshot(path=OUT / "changes.png")
        laptop.goto(f"{url}/opshub/ai-models/sync")
        laptop.click("text=Sync all providers")
        laptop.wait_for_selector("text=finished", timeout=120_000)
        laptop.screenshot(path=OUT / "sync.png", full_page=True)
        laptop.goto(f"{url}/opshub/ai-models/conflicts")
        laptop.screenshot(path=OUT / "conflicts.png")
        laptop.goto(f"{url}/opshub/ai-models/quarantine")
        laptop.screenshot(path=OUT / "quarantine.png")
        laptop.goto(f"{url}/opshub/ai-models/runs")
        laptop.screenshot(path=OUT / "runs.png")
        laptop.goto(f"{url}/opshub/ai-models/audit")
        laptop.screenshot(path=OUT / "audit.png")
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(f"{url}/opshub/login")
        phone.fill("#username", "vic")
        phone.fill("#password", PASSWORD)
        phone.click("button[type=submit]")
        phone.wait_for_url("**/opshub/ai-models")
        phone.screenshot(path=OUT / "models-phone.png")
        browser.close()
    print(f"wrote {len(list(OUT.glob('*.png')))} screenshots to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
