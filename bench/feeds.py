"""Benchmark: what reading the catalog feeds adds to a keyless sync, measured in one run on SQLite.

A local HTTP server serves the three fixture feed files (tests/fixtures/feeds, with ETags). In one process, on a
fresh database, it times a keyless sync of the default providers offline (the installed packages: the baseline),
then the first sync with feeds (three 200s: download, parse, gate, store), a second one (three 304s, the copies
already parsed in this process), and, as a new process would, a sync that must read and parse the stored copies
again (304s after the in-process copies are dropped). It prints each as a ratio to the offline sync, and the feed
bodies' sizes against their stored, compressed sizes.

    python bench/feeds.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FEEDS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "feeds"
FILES = {
    "models-dev": ("MODELSYNC_FEED_MODELS_DEV_URL", FEEDS / "models-dev" / "api.json.gz"),
    "genai-prices": ("MODELSYNC_FEED_GENAI_PRICES_URL", FEEDS / "genai-prices" / "data.json.gz"),
    "litellm": ("MODELSYNC_FEED_LITELLM_URL", FEEDS / "litellm" / "model_prices_and_context_window.json.gz"),
}


def serve(bodies: dict[str, bytes]) -> tuple[ThreadingHTTPServer, int]:
    """A static server answering If-None-Match with 304, like the upstream CDNs."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            return None

        def do_GET(self) -> None:
            name = self.path.strip("/")
            body = bodies[name]
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is printed)")
    args = parser.parse_args()
    for name in list(os.environ):
        if name.startswith("MODELSYNC_") or name.endswith(("_API_KEY", "_API_TOKEN", "_BASE_URL")):
            del os.environ[name]
    bodies = {name: gzip.decompress(path.read_bytes()) for name, (_env, path) in FILES.items()}
    server, port = serve(bodies)

    import sqlalchemy as sa

    from modelsync.db.engine import open_database
    from modelsync.db.tables import catalog_feed
    from modelsync.services import feeds as feed_service
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings
    from modelsync.sources.catalog_data import activate

    urls = {env: f"http://127.0.0.1:{port}/{name}" for name, (env, _path) in FILES.items()}
    timings: dict[str, list[float]] = {"offline": [], "200": [], "304": [], "304, new process": []}
    stored: dict[str, int] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            engine = open_database(url)
            offline = load_settings(database_url=url, offline=True)
            online = load_settings(
                database_url=url,
                feed_models_dev_url=urls["MODELSYNC_FEED_MODELS_DEV_URL"],
                feed_genai_prices_url=urls["MODELSYNC_FEED_GENAI_PRICES_URL"],
                feed_litellm_url=urls["MODELSYNC_FEED_LITELLM_URL"],
            )
            # Every sync recomputes (a sync skipping unchanged providers would hide what the catalogs cost).
            options = SyncOptions(trigger="bench", recompute=True)
            run_sync(engine, offline, options)  # warm-up: imports, the packages' own data, the first write
            for label, settings in (("offline", offline), ("200", online), ("304", online)):
                started = time.perf_counter()
                report = run_sync(engine, settings, options)
                timings[label].append(time.perf_counter() - started)
                assert report.status == "ok", report.to_dict()
            activate(())
            feed_service._parsed.clear()
            started = time.perf_counter()
            report = run_sync(engine, online, options)
            timings["304, new process"].append(time.perf_counter() - started)
            assert {use["fetch"] for use in report.catalogs.values()} == {"not_modified"}, report.catalogs
            with engine.connect() as conn:
                rows = conn.execute(sa.select(catalog_feed.c.catalog, sa.func.length(catalog_feed.c.body)))
                stored = {name: int(size) for name, size in rows}
            engine.dispose()
            activate(())
            feed_service._parsed.clear()
    server.shutdown()

    base = statistics.median(timings["offline"])
    print(f"keyless sync of the default providers, median of {args.repeat} (recomputing every model):")
    print(f"  offline (installed packages)    {base * 1000:8.0f} ms   1.00x")
    for label in ("200", "304", "304, new process"):
        value = statistics.median(timings[label])
        print(f"  feeds: {label:<24} {value * 1000:8.0f} ms   {value / base:.2f}x")
    print("feed bodies and their stored copies:")
    for name, body in bodies.items():
        size = stored.get(name, 0)
        ratio = len(body) / max(size, 1)
        print(f"  {name:<13} {len(body) / 1e6:6.2f} MB  stored {size / 1e6:5.2f} MB  ({ratio:.1f}x smaller)")


if __name__ == "__main__":
    sys.exit(main())
