"""The interactive API pages work without internet access: /docs and /redoc name no external URL, and every script,
stylesheet, icon and the OpenAPI document they load is served by this server from the installed package."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest


class _Links(HTMLParser):
    """Every URL a page loads: src and href attributes, and the OpenAPI URL handed to the viewer."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    # Swagger UI is told its document in a script: `url: '/openapi.json'`.
    return parser.urls + re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_everything_from_this_server(api, page):
    with api.client() as client:
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "http://" not in html and "https://" not in html, "the page names an external URL"
        urls = links(html)
        assert any(url.endswith(".js") for url in urls), urls  # the viewer's script is among them
        assert "/openapi.json" in urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = client.get(url)
            assert asset.status_code == 200 and asset.content, url
            if url.endswith(".js"):
                assert "javascript" in asset.headers["content-type"], url
            if url.endswith(".css"):
                assert asset.headers["content-type"].startswith("text/css"), url


def test_swagger_ui_is_told_not_to_call_the_online_validator(api):
    with api.client() as client:
        html = client.get("/docs").text
    assert '"validatorUrl": null' in html
