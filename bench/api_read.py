"""Read-side benchmark of the HTTP API, and of the in-process price look-up behind /api/cost.

1. Builds a catalog of about 5,000 models (the bundled catalogs plus a synthetic live listing, through the real
   sync engine) in a fresh SQLite database (or the PostgreSQL one given with --database-url).
2. Starts `modelsync serve` in its own process and drives it from a second process: a closed-loop load generator
   with N concurrent keep-alive connections (50 by default), printing requests/s and p50/p99 latency for the list
   endpoint, the one-model look-up and /api/cost; and, as the baseline, the same list requests against bare
   uvicorn answering with the very bytes modelsync sent (the floor of serving those pages on this machine). With
   two CPUs or more, the server and the generator are pinned to one each.
3. In this process, times the price index look-up (what /api/cost does before the arithmetic) per call after
   warm-up, as a ratio to genai_prices.calc_price over the same 200 model references (exact ids, dated snapshots,
   unknown ids), and compares the prices the two give, listing every mismatch.

Usage: .venv/bin/python bench/api_read.py [--models 5000] [--clients 50] [--seconds 3] [--rounds 3]
                                          [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

SCENARIOS = ("list", "model", "cost", "list-cold")
# The list requests: pages of 50 under typical filters and sorts, requested at random.
LIST_QUERIES = (
    "limit=50",
    "provider=openai&limit=50",
    "provider=together&sort=-inputPrice&limit=50",
    "tag=fast&limit=50",
    "capability=vision&maxInputPrice=5&limit=50",
    "q=model-01&limit=50",
    "status=active&sort=contextWindow&limit=50",
)


# --- load generator (runs in its own process) -------------------------------------------------------------------


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if match is None:
        raise RuntimeError("response without content-length")
    await reader.readexactly(int(match.group(1)))
    return status


def _raw_requests(host: str, token: str, scenario: str, refs: list[list[str]]) -> list[bytes]:
    auth = f"Authorization: Bearer {token}\r\n"
    base = f"Host: {host}\r\n{auth}Connection: keep-alive\r\n"
    if scenario == "list":
        return [f"GET /api/ai-models?{query} HTTP/1.1\r\n{base}\r\n".encode() for query in LIST_QUERIES]
    if scenario == "list-cold":
        # 50,000 distinct searches, more than the response cache holds: nearly every one is answered by the database.
        return [
            f"GET /api/ai-models?q=model-{i:05d}&limit={limit} HTTP/1.1\r\n{base}\r\n".encode()
            for i in range(5000)
            for limit in range(41, 51)
        ]
    if scenario == "model":
        return [
            f"GET /api/ai-models/{provider}/{model_id} HTTP/1.1\r\n{base}\r\n".encode() for provider, model_id in refs
        ]
    bodies = []
    for provider, model_id in refs:
        body = json.dumps({"model": f"{provider}/{model_id}", "inputTokens": 1200, "outputTokens": 350}).encode()
        head = f"POST /api/cost HTTP/1.1\r\n{base}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        bodies.append(head.encode() + body)
    return bodies


async def _drive(url: str, token: str, scenario: str, clients: int, seconds: float, refs: list[list[str]]) -> dict:
    host, port = url.removeprefix("http://").split(":")
    requests = _raw_requests(f"{host}:{port}", token, scenario, refs)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    warmup_until = time.perf_counter() + 1.0
    stop_at = warmup_until + seconds

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while True:
                started = time.perf_counter()
                if started >= stop_at:
                    return
                status = await _request(reader, writer, rng.choice(requests))
                if started >= warmup_until:
                    latencies.append(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client(index) for index in range(clients)))
    latencies.sort()
    return {
        "scenario": scenario,
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "statuses": statuses,
    }


def generator_main(argv: list[str]) -> None:
    """Entry point of the load-generator process: prints one JSON result per scenario."""
    url, token, clients, seconds, refs_file, scenarios = argv
    refs = json.loads(Path(refs_file).read_text())
    for scenario in scenarios.split(","):
        result = asyncio.run(_drive(url, token, scenario, int(clients), float(seconds), refs))
        print(json.dumps(result), flush=True)


def baseline_main(argv: list[str]) -> None:
    """The baseline server: uvicorn (same HTTP stack) answering each list query with the bytes modelsync sent for it.

    No framework, no routing, no authentication, no cache logic: one dict look-up, the floor of serving those bytes.
    """
    import uvicorn

    port, bodies_file = argv
    bodies = {query.encode(): body.encode() for query, body in json.loads(Path(bodies_file).read_text()).items()}
    fallback = b"{}"

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = bodies.get(scope["query_string"], fallback)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")


# --- catalog, server --------------------------------------------------------------------------------------------


def build_catalog(database_url: str, total: int) -> Any:
    """Sync the bundled catalogs, then a synthetic live listing that brings the catalog to about `total` models."""
    from modelsync.db.engine import open_database
    from modelsync.records import SourceRecord
    from modelsync.services import catalog
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings
    from modelsync.sources.live import ListingResult

    settings = load_settings(database_url=database_url, offline=True)  # the packages: never the internet
    engine = open_database(database_url)
    run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic", "google"], trigger="cli"))
    stored = len(catalog.list_models(engine))
    rng = random.Random(7)
    records = {}
    for index in range(max(0, total - stored)):
        model_id = f"vendor-{index % 97}/model-{index:05d}"
        records[model_id] = SourceRecord(
            model_id,
            {
                "display_name": f"Vendor {index % 97} Model {index}",
                "kind": "chat",
                "context_window": rng.choice([8192, 32768, 128000, 200000, 1000000]),
                "max_output_tokens": rng.choice([4096, 8192, 16384]),
                "input_price": Decimal(rng.randint(1, 3000)) / 100,
                "output_price": Decimal(rng.randint(1, 9000)) / 100,
                "capabilities": {"vision": rng.random() < 0.4, "tools": rng.random() < 0.7},
                "modalities_in": ["image", "text"] if rng.random() < 0.4 else ["text"],
            },
        )

    def fetch(_settings: Any, names: list[str], _progress: Any) -> dict[str, Any]:
        return {name: ListingResult(name, records=records) for name in names}

    run_sync(engine, settings, SyncOptions(providers=["together"], trigger="cli"), fetch=fetch)
    return settings, engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pinned(cpu: int | None) -> Any:
    """A preexec function that pins the child to one CPU (server and load generator get one core each)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def cpus() -> tuple[int | None, int | None]:
    """The CPUs for the server and the generator, when there are two to give."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (available[0], available[1]) if len(available) >= 2 else (None, None)


def start_server(command: list[str], port: int, database_url: str, workdir: Path, cpu: int | None) -> subprocess.Popen:
    """Run a server command in its own process and wait until its port answers."""
    import httpx

    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_pinned(cpu)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not start: {process.stderr.read().decode() if process.stderr else ''}")


def run_load(url: str, token: str, args: Any, refs_file: Path, scenarios: str, cpu: int | None) -> list[dict]:
    """Drive a server from the load-generator process; return one result per scenario."""
    generator = subprocess.run(
        [
            sys.executable,
            __file__,
            "--generator",
            url,
            token,
            str(args.clients),
            str(args.seconds),
            str(refs_file),
            scenarios,
        ],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_pinned(cpu),
    )
    return [json.loads(line) for line in generator.stdout.splitlines()]


# --- the in-process price look-up vs genai_prices.calc_price -----------------------------------------------------


def price_references(engine: Any, settings: Any, count: int = 200) -> list[tuple[str, str | None, str]]:
    """(kind, provider or None, reference): exact ids (with and without the provider), dated snapshots, unknown ids."""
    from modelsync.services import catalog

    rng = random.Random(11)
    real = [m for m in catalog.list_models(engine) if m["provider"] in ("openai", "anthropic", "google")]
    refs: list[tuple[str, str | None, str]] = []
    for model in real:
        dated = re.search(r"-\d{4}-\d{2}-\d{2}$|-\d{8}$", model["id"]) is not None
        refs.append(("dated" if dated else "exact", model["provider"], model["id"]))
    unknown_count = max(40, count - 2 * len(refs))
    for model in rng.sample(real, min(len(real), count - unknown_count - len(refs))):
        refs.append(("bare", None, f"{model['provider']}/{model['id']}"))
    refs = refs[: count - unknown_count]
    mutations = (
        lambda i: i + "-2099-12-31",  # a snapshot that does not exist (yet)
        lambda i: i.upper(),  # wrong case
        lambda i: i[:-1],  # truncated: a near miss
        lambda i: i + "-preview-x",
        lambda i: "my-" + i,
    )
    stored = {(m["provider"], m["id"]) for m in real}
    while len(refs) < count:
        model = rng.choice(real)
        candidate = mutations[len(refs) % len(mutations)](model["id"])
        if (model["provider"], candidate) not in stored:
            refs.append(("unknown", model["provider"], candidate))
    return refs


def _per_call(function: Any, items: list[Any], rounds: int) -> float:
    """Seconds per call over `rounds` passes of `items` (after one warm-up pass)."""
    for item in items:
        function(item)
    started = time.perf_counter()
    for _ in range(rounds):
        for item in items:
            function(item)
    return (time.perf_counter() - started) / (rounds * len(items))


def _best_of(repeats: int, timings: dict[str, tuple[Any, list[Any], int]]) -> dict[str, float]:
    """Each timing's fastest of `repeats` runs, the runs of all timings interleaved.

    On a shared machine a neighbour's burst only ever slows a run down; the fastest of several interleaved runs is
    the figure least disturbed by it, for every side of the comparison alike.
    """
    best = {name: float("inf") for name in timings}
    for _ in range(repeats):
        for name, (function, items, rounds) in timings.items():
            best[name] = min(best[name], _per_call(function, items, rounds))
    return best


def compare_prices(engine: Any, settings: Any) -> None:
    """Time the index against calc_price over the same references, then compare what each says."""
    from genai_prices import Usage, calc_price

    from modelsync.services.catalog import price_call
    from modelsync.services.prices import PriceIndex

    index = PriceIndex(engine)
    index.refresh()
    refs = price_references(engine, settings)
    # 1,000 tokens each way stays in every model's base price tier (long-context tiers start far above).
    usage = Usage(input_tokens=1000, output_tokens=1000)
    counts = {"inputTokens": 1200, "outputTokens": 350}

    def ours(item: tuple[str, str | None, str]) -> Any:
        return index.lookup(item[2], item[1])

    def ours_priced(item: tuple[str, str | None, str]) -> Any:
        entry = index.lookup(item[2], item[1])
        return None if entry is None else price_call(entry.schedule, entry.provider, entry.model_id, counts)

    def theirs(item: tuple[str, str | None, str]) -> Any:
        provider, ref = item[1], item[2]
        if provider is None:
            provider, _, ref = ref.partition("/")
        try:
            return calc_price(usage, ref, provider_id=settings.registry[provider].genai_prices)
        except LookupError:
            return None

    known = [r for r in refs if r[0] != "unknown"]
    unknown = [r for r in refs if r[0] == "unknown"]
    timed = _best_of(
        5,
        {
            "lookup": (ours, refs, 500),
            "known": (ours, known, 500),
            "unknown": (ours, unknown, 500),
            "with_math": (ours_priced, refs, 50),
            "calc": (theirs, refs, 2),
        },
    )
    lookup, lookup_known, lookup_unknown = timed["lookup"], timed["known"], timed["unknown"]
    with_math, calc = timed["with_math"], timed["calc"]
    kinds = {kind: sum(1 for r in refs if r[0] == kind) for kind in ("exact", "bare", "dated", "unknown")}
    print(f"\nprice look-up over {len(refs)} references ({', '.join(f'{v} {k}' for k, v in kinds.items())}):")
    print("  (fastest of 5 interleaved runs each; index warm, built from the database before timing)")
    print(f"  modelsync index look-up     {lookup * 1e6:8.3f} µs/call")
    print(f"    known ids {lookup_known * 1e6:.3f} µs/call, unknown ids {lookup_unknown * 1e6:.3f} µs/call")
    print(f"  look-up + price_call        {with_math * 1e6:8.3f} µs/call")
    print(f"  genai_prices.calc_price     {calc * 1e6:8.3f} µs/call")
    print(f"  ratio calc_price / look-up  {calc / lookup:8.1f}x   (look-up + arithmetic: {calc / with_math:.1f}x)")
    _report_prices(index, refs, theirs)


def _no_price_data(result: Any) -> bool:
    """Whether genai-prices matched a model whose entry holds no price (calc_price then answers 0)."""
    prices = getattr(result.model, "prices", None)
    fields = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
    return prices is not None and not isinstance(prices, list) and all(getattr(prices, f, None) is None for f in fields)


def _report_prices(index: Any, refs: list[tuple[str, str | None, str]], theirs: Any) -> None:
    """Compare per-1M prices (base tier: priced at 1,000 tokens each way) for every reference."""
    from modelsync.records import money

    agree, mismatches, fuzzy = 0, [], 0
    for kind, provider, ref in refs:
        entry = index.lookup(ref, provider)
        result = theirs((kind, provider, ref))
        mine = (entry.prices["input_price"], entry.prices["output_price"]) if entry else None
        other = (money(result.input_price * 1000), money(result.output_price * 1000)) if result else None
        if kind == "unknown":
            assert entry is None, f"{provider}/{ref} must be unknown to the index"  # never a near-miss match
            fuzzy += other is not None
        elif mine == other:
            agree += 1
        else:
            shown = "unpriced" if entry is None else f"in {mine[0]} / out {mine[1]}"
            theirs_shown = "no match" if other is None else f"in {other[0]} / out {other[1]}"
            if result is not None and _no_price_data(result):
                theirs_shown += " (its entry has no price at all: a silent zero)"
            name = ref if provider is None else f"{provider}/{ref}"
            mismatches.append(f"    {kind:<6} {name}: modelsync {shown}; genai-prices {theirs_shown}")
    known = sum(1 for r in refs if r[0] != "unknown")
    unknown = len(refs) - known
    print(f"  per-1M prices of exact ids and dated snapshots: {agree} of {known} agree, {len(mismatches)} differ")
    for line in mismatches:
        print(line)
    print(
        f"  unknown ids: modelsync answers all {unknown} as unpriced (no near-miss match); genai-prices' fuzzy "
        f"matching priced {fuzzy} of them as some other model"
    )


def _median(results: list[dict]) -> dict:
    """Per-figure medians over rounds (each figure on its own), and every non-200 answer summed."""
    return {
        "rps": statistics.median(r["rps"] for r in results),
        "p50_ms": statistics.median(r["p50_ms"] for r in results),
        "p99_ms": statistics.median(r["p99_ms"] for r in results),
        "errors": sum(count for r in results for status, count in r["statuses"].items() if status != "200"),
    }


def run_rounds(
    args: Any,
    database_url: str,
    workdir: Path,
    token: str,
    refs_file: Path,
    server_cpu: int | None,
    generator_cpu: int | None,
) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Start `modelsync serve` and the baseline side by side, then load them in alternating rounds.

    Alternating rounds on the same pinned CPU keep a neighbour's burst on this shared machine from landing on one
    side of the comparison only.
    """
    import httpx

    exe = shutil.which("modelsync", path=str(Path(sys.executable).parent)) or "modelsync"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        [exe, "serve", "--port", str(port), "--log-level", "warning"], port, database_url, workdir, server_cpu
    )
    baseline = None
    try:
        headers = {"Authorization": f"Bearer {token}"}
        pages = {query: httpx.get(f"{url}/api/ai-models?{query}", headers=headers).text for query in LIST_QUERIES}
        body_file = workdir / "pages.json"
        body_file.write_text(json.dumps(pages))
        base_port = _free_port()
        baseline = start_server(
            [sys.executable, __file__, "--baseline-server", str(base_port), str(body_file)],
            base_port,
            database_url,
            workdir,
            server_cpu,
        )
        rounds, floors = [], []
        for _ in range(args.rounds):
            results = run_load(url, token, args, refs_file, ",".join(SCENARIOS), generator_cpu)
            rounds.append({result["scenario"]: result for result in results})
            floors += run_load(f"http://127.0.0.1:{base_port}", token, args, refs_file, "list", generator_cpu)
        return rounds, floors, pages
    finally:
        for process in (server, baseline):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


# --- main --------------------------------------------------------------------------------------------------------


def main() -> None:
    """Build, serve, load, compare; print every figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="An empty database to use (default: a temp SQLite).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in list(os.environ):
            if name.endswith(("_API_KEY", "_API_TOKEN")):
                del os.environ[name]  # catalogs only: the benchmark never calls a provider
        database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        started = time.perf_counter()
        settings, engine = build_catalog(database_url, args.models)
        from modelsync.services import auth, catalog, tokens

        models = catalog.list_models(engine)
        print(f"catalog: {len(models)} models in {engine.dialect.name}, built in {time.perf_counter() - started:.1f} s")
        auth.create_user(engine, "bench", "viewer", "bench-password-123", actor="bench")
        token = tokens.create_token(engine, "bench", None, actor="bench").secret
        rng = random.Random(3)
        refs = [[m["provider"], m["id"]] for m in rng.sample(models, min(500, len(models)))]
        refs_file = workdir / "refs.json"
        refs_file.write_text(json.dumps(refs))

        server_cpu, generator_cpu = cpus()
        pinning = (
            f"server on CPU {server_cpu}, generator on CPU {generator_cpu}" if server_cpu is not None else "unpinned"
        )
        print(
            f"load: {args.clients} concurrent keep-alive clients; {args.rounds} rounds alternating modelsync and the "
            f"baseline, {args.seconds:.0f} s per endpoint per round after 1 s warm-up; {pinning}; medians shown"
        )
        rounds, floors, pages = run_rounds(args, database_url, workdir, token, refs_file, server_cpu, generator_cpu)
        labels = {
            "list": "GET /api/ai-models (50/page)",
            "list-cold": "GET /api/ai-models?q=<distinct>",
            "model": "GET /api/ai-models/{p}/{id}",
            "cost": "POST /api/cost",
            "baseline": "baseline: bare uvicorn, same pages",
        }
        medians = {scenario: _median([r[scenario] for r in rounds]) for scenario in SCENARIOS}
        medians["baseline"] = _median(floors)
        for scenario, result in medians.items():
            print(
                f"  {labels[scenario]:<36} {result['rps']:7.0f} req/s   p50 {result['p50_ms']:6.1f} ms   "
                f"p99 {result['p99_ms']:6.1f} ms   non-200: {result['errors']}"
            )
        print(f"  (list pages average {sum(map(len, pages.values())) // len(pages):,} bytes)")
        listed, floor = medians["list"], medians["baseline"]
        print(
            f"  list endpoint / baseline: {listed['rps'] / floor['rps']:.2f}x the requests/s, "
            f"{listed['p99_ms'] / floor['p99_ms']:.2f}x the p99"
        )
        compare_prices(engine, settings)
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--generator":
        generator_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--baseline-server":
        baseline_main(sys.argv[2:])
    else:
        main()
