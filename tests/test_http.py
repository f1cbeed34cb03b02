"""The HTTP layer over real HTTP (the fake provider server): retries, waits, no-retry cases, messages, redaction."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from fake_provider import FIXTURES, KEYS, SPEND_LIMIT, FakeProviders
from modelsync.sources import anthropic, gemini, openai_compat
from modelsync.sources.http import (
    Bounds,
    FetchError,
    ListingClient,
    Redactor,
    RetryPolicy,
    Target,
    judge,
    retry_after,
)

KEY = KEYS["openai"]


class Sleeps:
    """Records the waits the client asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def get(fake: FakeProviders, provider: str = "openai", path: str = "/models", retries: int = 4, **options):
    """Run one GET through a ListingClient against the fake server; return (result or error, sleeps, client).

    `quirks` is the error classifier of the adapter that owns the provider (none: the generic rules only).
    """
    sleeps = Sleeps()
    headers = {"Authorization": f"Bearer {options.pop('key', KEYS.get(provider, ''))}"}
    if provider == "anthropic":
        headers = {"x-api-key": KEYS["anthropic"], "anthropic-version": "2023-06-01"}
    target = Target(
        provider.title(),
        fake.base_url(provider),
        key_env=f"{provider.upper()}_API_KEY",
        base_url_env=f"{provider.upper()}_BASE_URL",
        has_key=True,
        redact=Redactor([KEY, KEYS["anthropic"]]),
    )

    async def run():
        async with httpx.AsyncClient(timeout=options.pop("timeout", 5.0)) as client:
            listing = ListingClient(
                client,
                target,
                RetryPolicy(retries, backoff=0.5, max_wait=options.pop("max_wait", 60.0)),
                headers=headers,
                sleep=sleeps,
                timeout=client.timeout.read or 5.0,
                quirks=options.pop("quirks", None),
                bounds=options.pop("bounds", None),
            )
            try:
                result = await listing.get_json(fake.base_url(provider) + path, **options)
            except FetchError as exc:
                result = exc
            return result, listing.requests

    result, requests = asyncio.run(run())
    return result, sleeps.waits, requests


def test_429_then_success_waits_exactly_what_retry_after_says(fake):
    fake.fail("openai", 429, times=2, headers={"retry-after": "23"})
    result, waits, requests = get(fake)
    assert len(result["data"]) == 139
    assert waits == [23.0, 23.0] and requests == 3


def test_retry_after_ms_wins_over_retry_after(fake):
    fake.fail("openai", 429, times=1, headers={"retry-after-ms": "1500", "retry-after": "9"})
    result, waits, _ = get(fake)
    assert isinstance(result, dict) and waits == [1.5]


def test_gemini_retry_info_delay_is_honoured(fake):
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
        }
    }
    fake.fail("openai", 429, times=1, body=json.dumps(body).encode())
    result, waits, _ = get(fake)
    assert isinstance(result, dict) and waits == [7.0]


def test_retry_after_as_http_date():
    now = datetime(2026, 10, 24, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after({"retry-after": header}, None, now=now) == 30.0
    assert retry_after({"retry-after": "garbage"}, None, now=now) is None


@pytest.mark.parametrize(("provider", "status"), [("anthropic", 529), ("anthropic", 500), ("openai", 503)])
def test_overloaded_and_server_errors_are_retried_with_growing_backoff(fake, provider, status):
    fake.fail(provider, status, times=3)
    path = "/v1/models" if provider == "anthropic" else "/models"
    result, waits, requests = get(fake, provider, path)
    assert isinstance(result, dict) and requests == 4
    # Equal jitter: each wait lies in [d/2, d] for d = 0.5, 1, 2.
    for wait, ceiling in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_giving_up_after_the_configured_retries_says_so(fake):
    fake.fail("openai", 500, times=None)
    error, waits, requests = get(fake, retries=4)
    assert isinstance(error, FetchError) and error.kind == "server"
    assert requests == 5 and len(waits) == 4
    assert error.message == (
        "Openai answered 500 (The server had an error while processing your request. Sorry about that!) "
        "for the model listing, retried 4 times; try again later"
    )


def test_rate_limit_that_never_lifts_names_the_retries(fake):
    fake.fail("openai", 429, times=None, headers={"retry-after": "0"})
    error, _, requests = get(fake, retries=2)
    assert requests == 3
    assert "rate limited the requests for the model listing (429), retried 2 times; try again later" in error.message


def test_a_wait_longer_than_the_maximum_is_reported_not_waited(fake):
    fake.fail("openai", 429, times=None, headers={"retry-after": "3600"})
    error, waits, requests = get(fake, max_wait=60)
    assert waits == [] and requests == 1
    assert "asks to wait 3600 s, longer than MODELSYNC_HTTP_MAX_WAIT (60 s)" in error.message


@pytest.mark.parametrize(
    ("provider", "status", "body_file", "quirks", "kind"),
    [
        ("openai", 401, "openai/errors/401.json", None, "auth"),
        ("openai", 403, "anthropic/errors/403.json", None, "auth"),
        ("openai", 400, "google/errors/400_api_key_invalid.json", gemini.classify_error, "auth"),
        ("openai", 400, "xai/errors/400_invalid_key.json", openai_compat.classify_error, "auth"),
        ("openai", 429, "xai/errors/429.json", openai_compat.classify_error, "spend_limit"),
        ("openai", 404, "openai/errors/404.json", None, "not_found"),
        ("openai", 400, "anthropic/errors/400.json", None, "rejected"),
    ],
)
def test_auth_spend_limit_and_client_errors_are_not_retried(fake, provider, status, body_file, quirks, kind):
    body = (FIXTURES / body_file).read_bytes()
    fake.fail(provider, status, times=None, body=body)
    error, waits, requests = get(fake, provider, quirks=quirks)
    assert isinstance(error, FetchError) and error.kind == kind
    assert requests == 1 and waits == []




def test_anthropic_spend_limit_429_is_not_retried_and_says_what_to_do(fake):
    fake.fail("anthropic", 429, times=None, body=json.dumps(SPEND_LIMIT).encode(), headers={"retry-after": "1"})
    error, waits, requests = get(fake, "anthropic", "/v1/models", quirks=anthropic.classify_error)
    assert error.kind == "spend_limit" and requests == 1 and waits == []
    assert "raise the limit or add credits in the Anthropic console" in error.message


def test_a_generic_429_is_retried_even_with_anthropics_quirks(fake):
    body = (FIXTURES / "anthropic/errors/429.json").read_bytes()
    fake.fail("anthropic", 429, times=2, body=body, headers={"retry-after": "1"})
    result, waits, requests = get(fake, "anthropic", "/v1/models", quirks=anthropic.classify_error)
    assert isinstance(result, dict) and requests == 3 and waits == [1.0, 1.0]


@pytest.mark.parametrize(
    ("status", "body_file", "kind", "retried"),
    [
        (429, None, "rate_limited", True),  # Anthropic's spend limit: only Anthropic's adapter knows it
        (429, "xai/errors/429.json", "rate_limited", True),
        (400, "xai/errors/400_invalid_key.json", "rejected", False),
        (400, "google/errors/400_api_key_invalid.json", "rejected", False),
    ],
)
def test_without_the_owning_adapters_quirks_the_generic_rules_apply(fake, status, body_file, kind, retried):
    body = (FIXTURES / body_file).read_bytes() if body_file else json.dumps(SPEND_LIMIT).encode()
    fake.fail("openai", status, times=None, body=body, headers={"retry-after": "0"})
    error, waits, requests = get(fake, retries=2)
    assert error.kind == kind
    assert requests == (3 if retried else 1) and len(waits) == (2 if retried else 0)


def test_x_should_retry_false_stops_retrying(fake):
    fake.fail("openai", 500, times=None, headers={"x-should-retry": "false"})
    error, _, requests = get(fake)
    assert error.kind == "server" and requests == 1


def test_wrong_key_message_names_the_variable_and_never_the_key(fake):
    fake.keys["openai"] = "sk-the-right-one"
    error, _, requests = get(fake)
    assert requests == 1 and error.kind == "auth"
    assert error.message.startswith("Openai rejected the key (401: Incorrect API key provided")
    assert error.message.endswith("check OPENAI_API_KEY")
    assert KEY not in error.message


def test_a_key_echoed_by_the_provider_is_redacted_everywhere(fake, caplog):
    body = json.dumps({"error": {"message": f"bad key {KEY} for org"}}).encode()
    fake.fail("openai", 500, times=2, body=body)
    fake.fail("openai", 401, times=1, body=body)
    with caplog.at_level(logging.DEBUG):
        error, _, _ = get(fake)
    assert KEY not in error.message and "bad key [redacted] for org" in error.message
    assert caplog.records and all(KEY not in record.getMessage() for record in caplog.records)


def test_redactor_blanks_plain_and_url_encoded_secrets():
    redact = Redactor(["a+b/c=", "abc"])
    assert redact("x a+b/c= y a%2Bb%2Fc%3D z abc") == "x [redacted] y [redacted] z [redacted]"
    assert Redactor([""])("nothing to hide") == "nothing to hide"


def test_malformed_json_is_a_clear_error_not_retried(fake):
    fake.fail("openai", 200, times=None, body=b'{"object": "list", "data": [')
    error, _, requests = get(fake)
    assert error.kind == "bad_body" and requests == 1
    assert error.message == (
        "Openai answered the model listing with a body that is not valid JSON; nothing was changed. Try again later"
    )


def test_timeout_is_retried_then_reported_with_the_setting_to_raise(fake):
    fake.fail("openai", 200, times=None, delay=0.5)
    error, waits, requests = get(fake, retries=1, timeout=0.1)
    assert error.kind == "timeout" and requests == 2 and len(waits) == 1
    assert "did not answer within 0.1 s for the model listing, retried 1 times" in error.message
    assert "raise MODELSYNC_HTTP_TIMEOUT" in error.message


def test_slow_answer_within_the_timeout_succeeds(fake):
    fake.fail("openai", 200, times=1, delay=0.2, body=b'{"object":"list","data":[{"id":"gpt-x"}]}')
    result, waits, _ = get(fake, timeout=2.0)
    assert result == {"object": "list", "data": [{"id": "gpt-x"}]} and waits == []


def test_refused_connection_is_not_retried_and_names_the_base_url_variable(fake):
    root = fake.root
    fake.stop()
    sleeps = Sleeps()

    async def run():
        async with httpx.AsyncClient() as client:
            target = Target("Ollama", root + "/ollama", base_url_env="OLLAMA_BASE_URL")
            listing = ListingClient(client, target, RetryPolicy(4, 0.5, 60), sleep=sleeps)
            with pytest.raises(FetchError) as caught:
                await listing.get_json(root + "/ollama/api/tags")
            return caught.value, listing.requests

    error, requests = asyncio.run(run())
    assert error.kind == "connect" and requests == 1 and sleeps.waits == []
    assert error.message.startswith(f"Ollama cannot be reached at {root} (")
    assert "check OLLAMA_BASE_URL and that the server is running" in error.message


def test_redirects_are_not_followed(fake):
    fake.fail("openai", 307, times=None, body=b"", headers={"location": "https://elsewhere.example/v1/models"})
    error, _, _ = get(fake)
    assert error.kind == "redirect"
    assert len(fake.requests) == 1  # the key was not carried to the redirect target
    assert "set OPENAI_BASE_URL to the new address" in error.message


def test_judge_is_pure_and_classifies_the_documented_cases():
    assert judge(529, {}, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}').retry
    assert judge(503, {}, b"not json").kind == "server"
    assert judge(408, {}, b"").retry
    assert not judge(401, {"x-should-retry": "true"}, b"").retry
    verdict = judge(429, {"retry-after": "2"}, b'{"error":{"message":"Rate limit reached"}}')
    assert verdict.kind == "rate_limited" and verdict.retry and verdict.wait == 2.0
    assert verdict.detail == "Rate limit reached"


def test_judge_asks_the_adapters_quirks_first_and_never_retries_what_they_name():
    spend = json.dumps(SPEND_LIMIT).encode()
    assert judge(429, {"retry-after": "1"}, spend) == judge(429, {"retry-after": "1"}, spend, quirks=None)
    assert judge(429, {}, spend).kind == "rate_limited" and judge(429, {}, spend).retry
    verdict = judge(429, {"retry-after": "1", "x-should-retry": "true"}, spend, quirks=anthropic.classify_error)
    assert (verdict.kind, verdict.retry, verdict.wait) == ("spend_limit", False, None)
    assert verdict.detail == "You have reached your specified API usage limits."
    # A quirk hook only speaks for the responses it knows.
    overloaded = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert judge(529, {}, overloaded, quirks=anthropic.classify_error).kind == "server"
    google_400 = (FIXTURES / "google/errors/400_api_key_invalid.json").read_bytes()
    assert judge(400, {}, google_400, quirks=gemini.classify_error).kind == "auth"
    assert judge(400, {}, google_400, quirks=anthropic.classify_error).kind == "rejected"
    xai_429 = (FIXTURES / "xai/errors/429.json").read_bytes()
    assert judge(429, {}, xai_429, quirks=openai_compat.classify_error).kind == "spend_limit"
    openai_429 = (FIXTURES / "openai/errors/429.json").read_bytes()
    assert judge(429, {}, openai_429, quirks=openai_compat.classify_error).retry


def test_policy_delay_doubles_and_is_capped():
    policy = RetryPolicy(retries=10, backoff=1.0, max_wait=5.0)
    assert [policy.delay(n, rng=lambda: 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [policy.delay(n, rng=lambda: 0.0) for n in range(3)] == [0.5, 1.0, 2.0]


# --- redaction beyond the exact key ---------------------------------------------------------------------------------


def test_redactor_catches_a_key_in_any_letter_case():
    redact = Redactor(["sk-Test-AbCdEf0123456789"])
    assert redact("bad key SK-TEST-ABCDEF0123456789!") == "bad key [redacted]!"
    assert redact("bad key sk-test-abcdef0123456789") == "bad key [redacted]"


def test_redactor_catches_prefixes_of_twelve_characters_or_more():
    key = "sk-proj-AbCdEfGh0123456789wxyz"
    redact = Redactor([key])
    assert redact(f"Incorrect API key provided: {key[:12]}...wxyz.") == "Incorrect API key provided: [redacted]...wxyz."
    assert redact(f"key {key[:20].upper()}**** rejected") == "key [redacted]**** rejected"
    assert redact(f"{key[:11]} is too short to be a secret") == f"{key[:11]} is too short to be a secret"
    # The longest run of the key is blanked, never a redacted head followed by the rest of the key.
    assert redact(f"<{key}>") == "<[redacted]>" and redact(key + key) == "[redacted][redacted]"


def test_redactor_keeps_several_keys_and_short_keys_apart():
    redact = Redactor(["sk-aaaaaaaaaaaa-one", "sk-aaaaaaaaaaaa-two", "tiny"])
    assert redact("x sk-aaaaaaaaaaaa-two y TINY z") == "x [redacted] y [redacted] z"
    assert redact("nothing here") == "nothing here"


def test_a_key_echoed_in_another_case_or_cut_short_is_redacted(fake):
    body = json.dumps({"error": {"message": f"bad key {KEY.upper()} (starts {KEY[:14]}…)"}}).encode()
    fake.fail("openai", 401, times=None, body=body)
    error, _, _ = get(fake)
    assert error.message.startswith("Openai rejected the key (401: bad key [redacted] (starts [redacted]…))")
    assert KEY[:12].lower() not in error.message.lower()


# --- bounded requests -----------------------------------------------------------------------------------------------

LISTING = {"object": "list", "data": [{"id": f"m-{n}", "object": "model"} for n in range(50)]}


def test_a_body_that_trickles_past_the_request_deadline_fails_at_once(fake):
    fake.fail("openai", 200, times=None, body=json.dumps(LISTING).encode(), trickle=50)
    started = time.monotonic()
    error, waits, requests = get(fake, bounds=Bounds(deadline=0.5))
    assert time.monotonic() - started < 3
    assert isinstance(error, FetchError) and error.kind == "deadline" and requests == 1 and waits == []
    assert error.message == (
        "Openai did not finish sending the model listing within 0.5 s (MODELSYNC_HTTP_DEADLINE); nothing was "
        "changed. Try again later, or raise MODELSYNC_HTTP_DEADLINE if the listing is really that slow"
    )


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send it
    ],
)
def test_compressed_bodies_within_the_limit_are_decoded(fake, encoding, encode):
    fake.fail("openai", 200, times=1, body=encode(json.dumps(LISTING).encode()), headers={"content-encoding": encoding})
    result, _, _ = get(fake, bounds=Bounds(max_bytes=64 * 1024))
    assert result == LISTING


def test_a_gzip_bomb_is_refused_once_its_decoded_bytes_pass_the_limit(fake):
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))
    fake.fail("openai", 200, times=None, body=bomb, headers={"content-encoding": "gzip"})
    error, _, requests = get(fake, bounds=Bounds(max_bytes=100_000))
    assert error.kind == "too_large" and requests == 1
    assert "answered the model listing with more than 100,000 bytes (MODELSYNC_HTTP_MAX_BYTES)" in error.message


def test_a_declared_length_over_the_limit_is_refused_before_reading(fake):
    error, _, _ = get(fake, bounds=Bounds(max_bytes=2048))
    assert error.kind == "too_large" and "more than 2,048 bytes" in error.message


def test_an_error_body_is_bounded_too(fake):
    fake.fail("openai", 500, times=None, body=b"x" * 10_000)
    error, _, requests = get(fake, bounds=Bounds(max_bytes=4096))
    assert error.kind == "too_large" and requests == 1


def test_an_encoding_that_was_not_asked_for_is_a_clear_error(fake):
    fake.fail("openai", 200, times=None, body=b"\x00\x01", headers={"content-encoding": "br"})
    error, _, requests = get(fake)
    assert error.kind == "bad_body" and requests == 1
    assert "in an encoding modelsync did not ask for ('br')" in error.message


def test_a_corrupt_compressed_body_is_a_clear_error(fake):
    fake.fail("openai", 200, times=None, body=b"not gzip at all", headers={"content-encoding": "gzip"})
    error, _, _ = get(fake)
    assert error.kind == "bad_body" and "compressed body that cannot be decoded" in error.message


def test_numbers_orjson_refuses_still_parse_so_validation_can_drop_them(fake):
    body = b'{"object":"list","data":[{"id":"m","context_window":1e400,"name":"\\ud800"}]}'
    fake.fail("openai", 200, times=1, body=body)
    result, _, _ = get(fake)
    assert result["data"][0]["context_window"] == float("inf") and result["data"][0]["name"] == "\ud800"
