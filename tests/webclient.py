"""Helpers for the web UI tests: signed-in httpx clients over a running server, and reading forms' CSRF tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


def anonymous(live: Any, **kwargs) -> httpx.Client:
    """A client with no session yet (it gets one at its first page)."""
    return live.client(follow_redirects=False, **kwargs)


@contextmanager
def sign_in(live: Any, role: str, **kwargs) -> Iterator[httpx.Client]:
    """A client signed in as the test user of `role` (tests/apiserver.py makes one per role)."""
    from apiserver import PASSWORD, USERS  # imported late: pytest loads apiserver as a plugin first

    with anonymous(live, **kwargs) as client:
        token = csrf_of(client.get("/opshub/login").text)
        response = client.post(
            "/opshub/login", data={"csrf": token, "username": USERS[role], "password": PASSWORD, "next": ""}
        )
        assert response.status_code == 303, response.text
        yield client
