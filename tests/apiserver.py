"""A real uvicorn server for API tests: the app on a free 127.0.0.1 port, in a background thread.

Also the users every API test needs (one per role, each with a token), made through the real auth service, and
the `api` fixture (a pytest plugin the root conftest loads for every module). Provider base
URLs point at a closed local port, so no test request can leave the machine even if a sync asks a provider.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine

from modelsync.api.app import create_app
from modelsync.services import auth, tokens
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings

PASSWORD = "correct horse battery staple"


@cache
def _plain_http() -> ssl.SSLContext:
    # The servers here speak plain HTTP; one shared context spares every client the cost of loading certificates.
    return ssl.create_default_context()


@dataclass(frozen=True)
class LiveServer:
    """A running server and its base URL."""

    url: str
    server: uvicorn.Server

    def client(self, token: str | None = None, headers: dict | None = None, **kwargs) -> httpx.Client:
        merged = {"Authorization": f"Bearer {token}"} if token else {}
        merged.update(headers or {})
        return httpx.Client(base_url=self.url, headers=merged, timeout=60, verify=_plain_http(), **kwargs)


@contextmanager
def serve(app) -> Iterator[LiveServer]:
    """Run `app` with uvicorn on a free port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass(frozen=True)
class Tokens:
    """One token per role, plus the user names."""

    super_admin: str
    admin: str
    viewer: str

    def for_role(self, role: str | None) -> str | None:
        return None if role is None else getattr(self, role)


USERS = {"super_admin": "root", "admin": "ada", "viewer": "vic"}


def _quick_hasher():
    from argon2 import PasswordHasher

    # Still Argon2id through the real code path; API tests need users, not 64 MiB of hashing work per user
    # (tests/test_auth.py covers the production parameters).
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_users(engine: Engine) -> Tokens:
    """Create one user per role with a token each."""
    issued = {}
    original = auth._password_hasher
    auth._password_hasher = _quick_hasher
    try:
        for role, name in USERS.items():
            auth.create_user(engine, name, role, PASSWORD, actor="test")
            issued[role] = tokens.create_token(engine, name, None, actor="test").secret
    finally:
        auth._password_hasher = original
    return Tokens(**issued)


@dataclass
class Api:
    """A running API over the test database, with one token per role."""

    live: LiveServer
    tokens: Tokens
    engine: Engine
    settings: Settings
    app: object

    @property
    def url(self) -> str:
        return self.live.url

    def client(self, role: str | None = None, **kwargs) -> httpx.Client:
        """A client acting as the user of `role` (None: anonymous)."""
        return self.live.client(self.tokens.for_role(role), **kwargs)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections (bound, never listening)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def offline(settings, monkeypatch, closed_port) -> Settings:
    """Point every provider's base URL at a closed local port (in the settings, and in the environment for the CLI)."""
    closed = f"http://127.0.0.1:{closed_port}"
    for spec in settings.registry.values():
        if spec.base_url_env:
            monkeypatch.setenv(spec.base_url_env, closed)
    return settings.model_copy(update={"base_urls": dict.fromkeys(settings.registry, closed)})


@pytest.fixture
def synced(engine, offline) -> Engine:
    """The database after a catalog sync of OpenAI, Anthropic and Google (as the CLI would run it)."""
    run_sync(engine, offline, SyncOptions(providers=["openai", "anthropic", "google"], trigger="cli"))
    return engine


@contextmanager
def start_api(engine: Engine, settings: Settings, **app_options) -> Iterator[Api]:
    """Users for every role, then the app on a real server."""
    role_tokens = make_users(engine)
    app = create_app(settings, engine, **app_options)
    with serve(app) as live:
        yield Api(live, role_tokens, engine, settings, app)


@pytest.fixture
def api_factory() -> Callable[..., AbstractContextManager[Api]]:
    """`start_api`, for tests that need an API with other settings."""
    return start_api


@pytest.fixture
def server() -> Callable[..., AbstractContextManager[LiveServer]]:
    """`serve`, for tests that run an app of their own."""
    return serve


@pytest.fixture
def api(synced, offline) -> Iterator[Api]:
    """The API over a synced catalog, with one user and token per role."""
    with start_api(synced, offline, stamp_interval=0.0) as running:
        yield running


def serve_process(cwd: Path, env: dict[str, str], *args: str, seconds: float = 60) -> tuple[subprocess.Popen, str]:
    """Start `modelsync serve ARGS` (the console script) on a free local port; return it and its URL once it answers.

    `env` adds to this process's environment. The caller terminates the process; its stderr is a pipe to read after.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("modelsync", path=str(Path(sys.executable).parent)) or "modelsync"
    process = subprocess.Popen(
        [exe, "serve", "--port", str(port), *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            return process, url
        except httpx.TransportError:
            if time.monotonic() >= deadline or process.poll() is not None:
                process.kill()
                raise AssertionError(f"modelsync serve did not answer: {process.stderr.read().decode()}") from None
            time.sleep(0.1)
