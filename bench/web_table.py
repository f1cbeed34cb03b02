"""Time of the admin web UI's model table page over a 5,000-model SQLite catalog, against the JSON API's same page.

Builds the catalog as bench/api_read.py does (bundled catalogs plus a synthetic listing, through the real sync
engine), serves the app with uvicorn on 127.0.0.1 in this process, signs in a super admin, and requests the same
six pages of 50 models (filters, sorts, search) from /opshub/ai-models (HTML: the page, its counts per provider and
total, rendered) and from /api/ai-models (JSON), one request at a time over one keep-alive connection. The API
serves repeated reads from its response cache, so its baseline is given warm (as clients see it) and cold (a new
search per request, answered by the database). Prints the median and p95 per page in ms and the ratios.

Usage: .venv/bin/python bench/web_table.py [--models 5000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from api_read import build_catalog

# The same pages in the UI's and the API's parameter names.
PAGES = (
    ("limit=50", "limit=50"),
    ("provider=openai&limit=50", "provider=openai&limit=50"),
    ("provider=together&sort=-inputCostPer1M&limit=50", "provider=together&sort=-inputCostPer1M&limit=50"),
    ("capability=vision&limit=50", "capabilities=vision&limit=50"),
    ("q=model-01&limit=50", "q=model-01&limit=50"),
    ("status=active&sort=contextWindow&limit=50", "status=active&sort=contextWindow&limit=50"),
)
PASSWORD = "bench-password-123456"


def timed(client, paths: list[str], rounds: int) -> list[float]:
    """Milliseconds per request, each path requested `rounds` times in turn (after one warm-up pass)."""
    for path in paths:
        assert client.get(path).status_code == 200, path
    samples = []
    for _ in range(rounds):
        for path in paths:
            start = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, path
    return samples


def p95(samples: list[float]) -> float:
    """The 95th percentile."""
    return statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    """Build, serve, measure, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelsync-webbench-"))
    os.chdir(workdir)
    os.environ["MODELSYNC_SESSION_SECRET"] = "bench-" + "k" * 40

    import httpx
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from apiserver import serve  # the test suite's server: the app on a free local port, in a thread
    from modelsync.api.app import create_app
    from modelsync.services import auth, catalog, tokens

    settings, engine = build_catalog(f"sqlite:///{workdir / 'bench.db'}", args.models)
    total = len(catalog.list_models(engine))
    auth.create_user(engine, "bench", "super_admin", PASSWORD, actor="bench")
    token = tokens.create_token(engine, "bench", None, actor="bench").secret

    with serve(create_app(settings, engine)) as live:
        url = live.url
        with httpx.Client(base_url=url, timeout=60) as web, httpx.Client(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            login = web.get("/opshub/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            web.post("/opshub/login", data={"csrf": csrf, "username": "bench", "password": PASSWORD})
            page = web.get("/opshub/ai-models?limit=50").text
            assert f"{total} models match" in page, "the table does not show the whole catalog"
            html = timed(web, [f"/opshub/ai-models?{ui}" for ui, _ in PAGES], args.rounds)
            warm = timed(api, [f"/api/ai-models?{query}" for _, query in PAGES], args.rounds)
            cold_paths = [f"/api/ai-models?q=model-{i:05d}&limit=50" for i in range(args.rounds * len(PAGES) + 10)]
            cold = []
            for path in cold_paths:
                start = time.perf_counter()
                assert api.get(path).status_code == 200
                cold.append((time.perf_counter() - start) * 1000)
            html_search = timed(web, [f"/opshub/ai-models?q=model-{i:05d}&limit=50" for i in range(20)], 3)

    print(f"catalog: {total} models (SQLite), pages of 50, {args.rounds} rounds of {len(PAGES)} pages")
    rows = (
        ("web table page (HTML)", html),
        ("JSON API, warm (response cache)", warm),
        ("JSON API, cold (new search each)", cold),
        ("web table page, search", html_search),
    )
    for name, samples in rows:
        print(f"  {name:34s} median {statistics.median(samples):7.2f} ms   p95 {p95(samples):7.2f} ms")
    ratio_cold = statistics.median(html) / statistics.median(cold)
    ratio_warm = statistics.median(html) / statistics.median(warm)
    print(f"ratio web / API cold: {ratio_cold:.2f}x   web / API warm: {ratio_warm:.2f}x")
    verdict = "under" if p95(html) < 100 else "OVER"
    print(f"target: the table page under 100 ms -> p95 {p95(html):.1f} ms, {verdict} the target")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
