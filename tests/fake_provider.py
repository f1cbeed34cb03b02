"""A fake provider server: real HTTP on 127.0.0.1, replaying the fixtures in tests/fixtures/.

Rules:
- One server hosts every provider, each under its own path prefix, so `base_url(provider)` is a drop-in value
  for that provider's *_BASE_URL (the prefix plus the real API's base path, e.g. `/groq/openai/v1`).
- The providers, their base paths and their environment variables come from the bundled registry
  (`defaults.toml`, read through `modelsync.settings`), so the server never re-declares what the project says.
- Listings are served from the full fixture model lists and paginated from the *requested* page size
  (Anthropic limit/after_id/before_id, Gemini pageSize/pageToken, OpenRouter offset/limit), not from fixed page
  files; Replicate pages are `replicate_page_size` long with cursor `next` links that are absolute URLs back to
  this server. Tests change a listing by editing `models[provider]`.
- Auth is checked as each provider does, answering with that provider's fixture error body (Gemini: 403 without
  a key, 400 API_KEY_INVALID with a wrong one; xAI: 400 for a bad key; OpenRouter and Ollama: no auth).
- Faults are injected per test with `fail(...)`: a status (with the provider's fixture body for it), a raw body
  (malformed JSON, or gzip bytes with a `content-encoding: gzip` header: a bomb), a delay, a body trickled at
  `trickle` bytes a second, held until the test opens a `gate`, for N requests after letting M through (a failure
  on page K = after K-1).
- `latency` delays every request (the bench uses 50 ms); `synthesize_replicate(n)` builds a Replicate-scale
  listing. Every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import copy
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from modelsync.settings import DEFAULTS_FILE, ProviderSpec, read_toml

FIXTURES = Path(__file__).with_name("fixtures")
# Internal: how a fault tells the request handler to trickle its body (never sent to the client).
TRICKLE_HEADER = "x-fake-trickle"


def _bundled_registry() -> dict[str, ProviderSpec]:
    """The provider rows of the bundled defaults.toml, read through the settings module (never a user's config)."""
    rows = read_toml(DEFAULTS_FILE).get("provider", {})
    return {name: ProviderSpec(**{**row, "name": name}) for name, row in rows.items()}


REGISTRY = _bundled_registry()
# Each provider's real base path (the path of its default base URL) and the environment variables modelsync reads
# for it (base URL, first key variable): derived from the project's own registry, never declared twice.
BASE_PATHS = {name: urlsplit(spec.base_url).path.rstrip("/") for name, spec in REGISTRY.items()}
ENV: dict[str, tuple[str, str | None]] = {
    name: (spec.base_url_env, spec.key_env[0] if spec.key_env else None) for name, spec in REGISTRY.items()
}
PROVIDERS = tuple(BASE_PATHS)
# Distinctive keys, so a test can search for them anywhere.
KEYS = {name: f"sk-test-{name}-9f3Kq2Zr7Lw1" for name in PROVIDERS if ENV[name][1]}

# A modelsync.toml for syncs of every provider against this server: the key-less ones enabled, Replicate's full
# listing, and page sizes small enough that the sync crosses pages (Gemini's second, Anthropic's third,
# OpenRouter's fourth).
LIVE_CONFIG = """
providers = ["openrouter", "ollama", "vllm"]
replicate_full_listing = true

[provider.anthropic]
page_size = 5
[provider.google]
page_size = 50
[provider.openrouter]
page_size = 100
"""
# Anthropic's answer when the organization's spend limit is reached (a 429 that no retry lifts).
SPEND_LIMIT = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "You have reached your specified API usage limits.",
        "details": {"error_code": "enforced_spend_limit_reached"},
    },
}


def load(path: str) -> Any:
    """Read a fixture file."""
    return json.loads((FIXTURES / path).read_text())


@cache
def _fixture_models() -> dict[str, Any]:
    replicate = [m for page in (1, 2, 3) for m in load(f"replicate/models_page{page}.json")["results"]]
    shows = {}
    for path in (FIXTURES / "ollama").glob("show_*.json"):
        shows[path.stem.removeprefix("show_").replace("--", ":")] = json.loads(path.read_text())
    return {
        "models": {
            "openai": load("openai/models.json")["data"],
            "anthropic": load("anthropic/models_all.json")["data"],
            "google": load("google/models_all.json")["models"],
            "replicate": replicate,
            "openrouter": load("openrouter/models.json")["data"],
            "mistral": load("mistral/models.json")["data"],
            "xai": load("xai/models.json")["data"],
            "groq": load("groq/models.json")["data"],
            "deepseek": load("deepseek/models.json")["data"],
            "together": load("together/models.json"),
            "ollama": load("ollama/tags.json")["models"],
            "vllm": load("vllm/models.json")["data"],
        },
        "xai_language": load("xai/language_models.json")["models"],
        "collections": {"text-to-image": load("replicate/collection_text-to-image.json")},
        "ollama_shows": shows,
    }


@cache
def _error_bodies() -> dict[tuple[str, int], bytes]:
    found = {}
    for path in FIXTURES.glob("*/errors/*.json"):
        found[(path.parent.parent.name, int(path.stem[:3]))] = path.read_bytes()
    return found


def fixture_models(provider: str) -> list[dict[str, Any]]:
    """The full fixture listing of a provider (a fresh list; do not mutate its entries)."""
    return list(_fixture_models()["models"][provider])


def fixture_ids(provider: str) -> list[str]:
    """The exact ids modelsync must store for a provider's fixture listing."""
    return listing_ids(provider, fixture_models(provider))


def listing_ids(provider: str, models: list[dict[str, Any]]) -> list[str]:
    """The exact API ids of a provider's listing entries (as modelsync must store them)."""
    if provider == "google":
        return [m["name"].removeprefix("models/") for m in models]
    if provider == "replicate":
        return [f"{m['owner']}/{m['name']}" for m in models]
    if provider == "ollama":
        return [m["model"] for m in models]
    return [m["id"] for m in models]


def gemini_token(name: str) -> str:
    """A page token built like Google's: base64 of the protobuf field 1 holding the last model name."""
    raw = name.encode()
    return base64.b64encode(b"\x0a" + bytes([len(raw)]) + raw).decode()


def _gemini_after(token: str) -> str:
    raw = base64.b64decode(token)
    return raw[2 : 2 + raw[1]].decode()


@dataclass
class Fault:
    """An injected failure: the requests it hits answer `status`/`body` (after `delay`) instead of the listing."""

    provider: str
    status: int = 500
    times: int | None = 1
    after: int = 0
    path: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0  # bytes per second the body is written at (0: all at once)
    # Held until the test sets it (at most 60 s): keeps a sync running for exactly as long as a test needs, however
    # slow the machine is, where a delay would race the test's own requests.
    gate: threading.Event | None = None
    seen: int = 0
    hits: int = 0

    def take(self, provider: str, path: str) -> bool:
        """Whether this request is hit (counting it when it matches)."""
        if provider != self.provider or (self.path is not None and not path.endswith(self.path)):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.hits >= self.times):
            return False
        self.hits += 1
        return True


@dataclass
class Request:
    """One request the server received."""

    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeProviders:
    """The server and its per-test state."""

    def __init__(self) -> None:
        data = _fixture_models()
        self.models: dict[str, list[dict[str, Any]]] = {name: list(items) for name, items in data["models"].items()}
        self.xai_language: list[dict[str, Any]] = list(data["xai_language"])
        self.collections: dict[str, dict[str, Any]] = dict(data["collections"])
        self.ollama_shows: dict[str, Any] = dict(data["ollama_shows"])
        self.keys: dict[str, str | None] = dict(KEYS)
        self.keys["vllm"] = None  # vLLM only checks a key when started with --api-key
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.latency = 0.0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the server was answering at the same moment
        self.replicate_page_size = 25
        self.replicate_next_root: str | None = None  # make Replicate's next links point at another host
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-providers", daemon=True
        )

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> FakeProviders:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        """The server's address, http://127.0.0.1:<port>."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def base_url(self, provider: str) -> str:
        """The value for the provider's *_BASE_URL."""
        return f"{self.root}/{provider}{BASE_PATHS[provider]}"

    def env(self, providers: tuple[str, ...] = PROVIDERS, keys: bool = True) -> dict[str, str]:
        """Environment variables pointing modelsync at this server (with every key set unless keys=False)."""
        values = {}
        for provider in providers:
            url_var, key_var = ENV[provider]
            values[url_var] = self.base_url(provider)
            if keys and key_var and provider in KEYS:
                values[key_var] = KEYS[provider]
        return values

    # --- test controls -----------------------------------------------------------------------------------------

    def fail(self, provider: str, status: int = 500, **options: Any) -> Fault:
        """Inject a fault (see Fault); returns it so a test can read its hit count."""
        fault = Fault(provider, status, **options)
        with self._lock:
            self.faults.append(fault)
        return fault

    def remove(self, provider: str, ids: set[str]) -> None:
        """Drop models (by their modelsync id) from a provider's listing."""
        keep = [
            m for m, model_id in zip(self.models[provider], self._ids(provider), strict=True) if model_id not in ids
        ]
        self.models[provider] = keep

    def _ids(self, provider: str) -> list[str]:
        return listing_ids(provider, self.models[provider])

    def synthesize_replicate(self, n: int) -> None:
        """Replace Replicate's listing with n distinct models shaped like the fixture ones (bench scale)."""
        templates = fixture_models("replicate")
        models = []
        for index in range(n):
            model = copy.copy(templates[index % len(templates)])
            model["owner"] = f"owner-{index // 50:04d}"
            model["name"] = f"model-{index:06d}"
            model["url"] = f"https://replicate.com/{model['owner']}/{model['name']}"
            models.append(model)
        self.models["replicate"] = models

    def requests_for(self, provider: str) -> list[Request]:
        """The requests one provider received."""
        return [request for request in self.requests if request.provider == provider]

    # --- serving -----------------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict]:
        """Answer one request: (status, body, headers)."""
        parts = urlsplit(raw_path)
        provider, _, rest = parts.path.lstrip("/").partition("/")
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        path = "/" + rest
        with self._lock:
            self.requests.append(Request(provider, method, path, query, headers, body))
            fault = next((f for f in self.faults if f.take(provider, path)), None)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._answer(provider, method, path, query, headers, body, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(
        self,
        provider: str,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        fault: Fault | None,
    ) -> tuple[int, bytes, dict]:
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.gate is not None:
                fault.gate.wait(60)
            payload = fault.body if fault.body is not None else self._error_body(provider, fault.status)
            extra = dict(fault.headers)
            if fault.trickle:
                extra[TRICKLE_HEADER] = str(fault.trickle)
            return fault.status, payload, extra
        serve = getattr(self, f"_serve_{provider}", None) if provider in BASE_PATHS else None
        if serve is None:
            return 404, b'{"error":"no such provider"}', {}
        denied = self._check_auth(provider, headers, query)
        if denied is not None:
            return denied
        prefix = BASE_PATHS[provider]
        if not path.startswith(prefix):
            return 404, self._error_body(provider, 404), {}
        return serve(method, path[len(prefix) :], query, body)

    def _error_body(self, provider: str, status: int) -> bytes:
        found = _error_bodies().get((provider, status))
        if found is None and status == 400 and provider == "google":
            found = _error_bodies()[("google", 400)]
        return found or json.dumps({"error": {"message": f"injected {status}", "code": status}}).encode()

    def _check_auth(self, provider: str, headers: dict[str, str], query: dict[str, str]) -> tuple | None:
        key = self.keys.get(provider)
        if provider in ("openrouter", "ollama") or key is None:
            return None
        if provider == "anthropic":
            if headers.get("x-api-key") != key:
                return 401, self._error_body("anthropic", 401), {}
            if headers.get("anthropic-version") != "2023-06-01":
                return 400, b'{"type":"error","error":{"type":"invalid_request_error","message":"version"}}', {}
            return None
        if provider == "google":
            given = headers.get("x-goog-api-key") or query.get("key")
            if not given:
                return 403, self._error_body("google", 403), {}
            return None if given == key else (400, _error_bodies()[("google", 400)], {})
        if headers.get("authorization") == f"Bearer {key}":
            return None
        if provider == "xai":
            return 400, _error_bodies()[("xai", 400)], {}
        content = {"content-type": "application/problem+json"} if provider == "replicate" else {}
        return 401, self._error_body(provider, 401), content

    # --- providers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200) -> tuple[int, bytes, dict]:
        return status, json.dumps(body).encode(), {}

    def _not_found(self, provider: str) -> tuple[int, bytes, dict]:
        return 404, self._error_body(provider, 404), {}

    def _serve_openai(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path == "/models":
            return self._json({"object": "list", "data": self.models["openai"]})
        return self._not_found("openai")

    def _serve_anthropic(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path != "/v1/models":
            return self._not_found("anthropic")
        limit = int(query.get("limit", 20))
        if not 1 <= limit <= 1000:
            return 400, self._error_body("anthropic", 400), {}
        models = self.models["anthropic"]
        ids = [m["id"] for m in models]
        if "after_id" in query:
            start = ids.index(query["after_id"]) + 1 if query["after_id"] in ids else len(ids)
            chunk = models[start : start + limit]
            more = start + limit < len(models)
        elif "before_id" in query:
            end = ids.index(query["before_id"]) if query["before_id"] in ids else 0
            chunk = models[max(0, end - limit) : end]
            more = end - limit > 0
        else:
            chunk = models[:limit]
            more = limit < len(models)
        return self._json(
            {
                "data": chunk,
                "has_more": more,
                "first_id": chunk[0]["id"] if chunk else None,
                "last_id": chunk[-1]["id"] if chunk else None,
            }
        )

    def _serve_google(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path not in ("/v1beta/models", "/v1/models"):
            return self._not_found("google")
        size = min(int(query.get("pageSize", 50)), 1000)
        models = self.models["google"]
        start = 0
        if query.get("pageToken"):
            after = _gemini_after(query["pageToken"])
            names = [m["name"] for m in models]
            start = names.index(after) + 1 if after in names else len(names)
        chunk = models[start : start + size]
        page: dict[str, Any] = {"models": chunk} if chunk else {}
        if start + size < len(models):
            page["nextPageToken"] = gemini_token(chunk[-1]["name"])
        return self._json(page)

    def _serve_replicate(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path.startswith("/v1/collections/"):
            slug = path.removeprefix("/v1/collections/")
            if slug not in self.collections:
                return 404, self._error_body("replicate", 404), {"content-type": "application/problem+json"}
            return self._json(self.collections[slug])
        if path == "/v1/collections":
            listed = [{k: c[k] for k in ("name", "slug", "description")} for c in self.collections.values()]
            return self._json({"next": None, "previous": None, "results": listed})
        if path != "/v1/models":
            return self._not_found("replicate")
        start = 0
        if query.get("cursor"):
            start = int(base64.b64decode(query["cursor"]).decode().removeprefix("p="))
        size = self.replicate_page_size
        models = self.models["replicate"]
        root = (self.replicate_next_root or self.root) + "/replicate/v1/models"

        def link(position: int) -> str:
            return f"{root}?cursor={base64.b64encode(f'p={position}'.encode()).decode()}"

        return self._json(
            {
                "next": link(start + size) if start + size < len(models) else None,
                "previous": link(max(0, start - size)) if start else None,
                "results": models[start : start + size],
            }
        )

    def _serve_openrouter(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path != "/models":
            return self._not_found("openrouter")
        models = self.models["openrouter"]
        wanted = query.get("output_modalities", "text")
        if wanted != "all":
            kinds = set(wanted.split(","))
            models = [m for m in models if kinds & set(m["architecture"]["output_modalities"])]
        total = len(models)
        if "limit" in query or "offset" in query:
            limit = int(query.get("limit", 1000))
            if limit > 1000:
                return 400, self._error_body("openrouter", 400), {}
            offset = int(query.get("offset", 0))
            models = models[offset : offset + limit]
        return self._json({"data": models, "total_count": total, "links": {"next": None}})

    def _serve_openai_style(self, provider: str, path: str, paths: tuple[str, ...]) -> tuple:
        if path not in paths:
            return self._not_found(provider)
        return self._json({"object": "list", "data": self.models[provider]})

    def _serve_mistral(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        return self._serve_openai_style("mistral", path, ("/models",))

    def _serve_groq(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        return self._serve_openai_style("groq", path, ("/models",))

    def _serve_deepseek(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        return self._serve_openai_style("deepseek", path, ("/models", "/v1/models"))

    def _serve_vllm(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        return self._serve_openai_style("vllm", path, ("/models",))

    def _serve_xai(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path == "/language-models":
            listed = {m["id"] for m in self.models["xai"]}
            return self._json({"models": [m for m in self.xai_language if m["id"] in listed]})
        return self._serve_openai_style("xai", path, ("/models",))

    def _serve_together(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path != "/models":
            return self._not_found("together")
        return self._json(self.models["together"])

    def _serve_ollama(self, method: str, path: str, query: dict, body: bytes) -> tuple:
        if path == "/api/tags" and method == "GET":
            return self._json({"models": self.models["ollama"]})
        if path == "/api/show" and method == "POST":
            tag = json.loads(body or b"{}").get("model")
            entry = next((m for m in self.models["ollama"] if m["model"] == tag), None)
            if entry is None:
                return 404, json.dumps({"error": f"model '{tag}' not found"}).encode(), {}
            # Tags without a captured show answer get one that states nothing beyond the tags entry.
            show = self.ollama_shows.get(tag) or {"details": entry.get("details", {}), "capabilities": []}
            return self._json(show)
        return self._not_found("ollama")


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connection attempts when every provider connects at once (the client then
    # waits a second to retry its SYN).
    request_queue_size = 256
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client gave up on a delayed answer (timeout tests); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeProviders) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
        disable_nagle_algorithm = True  # headers and body go out in two writes; do not let Nagle delay the second

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, payload, extra = fake.handle(method, self.path, headers, body)
            trickle = float(extra.pop(TRICKLE_HEADER, 0))
            self.send_response(status)
            self.send_header("content-type", extra.pop("content-type", "application/json"))
            self.send_header("content-length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(payload)
                return
            # A tenth of a second's worth at a time, flushed, until the client gives up (a broken pipe ends it).
            step = max(1, int(trickle / 10))
            for start in range(0, len(payload), step):
                self.wfile.write(payload[start : start + step])
                self.wfile.flush()
                time.sleep(0.1)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    """A fresh fake provider server for one test."""
    server = FakeProviders().start()
    yield server
    server.stop()


@pytest.fixture
def live_env(fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """The fake server with every provider's base URL and key set in the environment, and fast retries."""
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELSYNC_HTTP_BACKOFF", "0")
    monkeypatch.setenv("MODELSYNC_HTTP_TIMEOUT", "5")
    return fake
