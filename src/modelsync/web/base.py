"""What every web page shares: the visitor (session and user), rendering, role and CSRF guards, form reading.

Rules: pages render server-side with Jinja2 (autoescaped); every response carries a strict Content-Security-Policy
(no script at all, styles and images from this server only) and is never cached. A visitor without a session gets
an anonymous one (so the sign-in form has a CSRF token too). A page a visitor may not see redirects to sign-in when
nobody is signed in and answers 403 otherwise; a POST without its session's CSRF token, or from a role below the
action's, is refused with 403 before anything is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias
from urllib.parse import parse_qs, quote

import anyio.to_thread
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from modelsync.services import auth, conflicts
from modelsync.services import quarantine as held
from modelsync.services.audit import Denial, DenialLog
from modelsync.services.auth import ROLE_RANK, Principal
from modelsync.settings import Settings
from modelsync.web import present
from modelsync.web.session import COOKIE, LIFETIME_S, Session, csrf_ok, csrf_token, decode, encode, new_session

PREFIX: Final = "/opshub"
# The app's database engine as the pages see it: an opaque handle they pass to services, never query themselves
# (tests/test_layers.py keeps sqlalchemy and modelsync.db out of the web package).
Engine: TypeAlias = Any
_MAX_FORM_BYTES: Final = 64 * 1024
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=PackageLoader("modelsync.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals.update(
    money=present.money, count=present.count, when=present.when, tri=present.tri, text=present.text,
    duration=present.duration, prefix=PREFIX,
)  # fmt: skip


class Refused(Exception):
    """A request the visitor may not make: 403 (or a redirect to sign-in for a page and nobody signed in)."""

    def __init__(
        self, message: str, sign_in: bool = False, who: Principal | None = None, role: str | None = None
    ) -> None:
        super().__init__(message)
        self.sign_in = sign_in
        self.who = who
        self.role = role


@dataclass
class Visit:
    """The visitor of one request: the verified session, its user (None: signed out), and whether to (re)set it."""

    session: Session
    user: Principal | None
    key: bytes
    fresh: bool

    @property
    def csrf(self) -> str:
        """This session's CSRF token, for forms."""
        return csrf_token(self.session, self.key)

    def can(self, role: str) -> bool:
        """Whether the signed-in user's role is at least `role`."""
        return self.user is not None and ROLE_RANK.get(self.user.role, -1) >= ROLE_RANK[role]


def engine_of(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


def visit(request: Request) -> Visit:
    """Read and verify the session cookie (a new anonymous session when there is none), then its current user."""
    key: bytes = request.app.state.session_key
    session = decode(request.cookies.get(COOKIE), key)
    if session is None:
        return Visit(new_session(), None, key, True)
    user = auth.active_user(engine_of(request), session.user_id) if session.user_id is not None else None
    if session.user_id is not None and user is None:  # the user was disabled or removed: start over signed out
        return Visit(new_session(), None, key, True)
    return Visit(session, user, key, False)


def require(request: Request, role: str) -> Visit:
    """The visitor, who must be signed in with at least `role`."""
    current = visit(request)
    if current.user is None:
        raise Refused("sign in to see this page", sign_in=True)
    if not current.can(role):
        raise Refused(
            f"{current.user.name} has the {current.user.role} role; this needs {role} or higher.",
            who=current.user,
            role=role,
        )
    return current


def set_session(request: Request, response: Response, session: Session, key: bytes) -> None:
    """Put the session cookie on a response: HttpOnly, SameSite=Lax, Secure over HTTPS, scoped to the UI."""
    response.set_cookie(
        COOKIE,
        encode(session, key),
        max_age=LIFETIME_S,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def conflict_count(request: Request) -> int:
    """Unresolved conflicts (the nav's count), recounted only when the catalog stamp has moved."""
    state = request.app.state
    version = state.watch.stamp().catalog
    kept = getattr(state, "conflict_count", None)
    if kept is None or kept[0] != version:
        counted = conflicts.count_conflicts(state.engine, state.settings.policy.price_tolerance)
        kept = state.conflict_count = (version, counted)
    return int(kept[1])


def held_count(request: Request) -> int:
    """Held changes awaiting a decision (the nav's count), counted at every admin page."""
    # Not cached like the conflicts count: a rejection (from the CLI, the API or another replica) writes no history
    # row and so never moves the catalog stamp, and the quarantine table holds a handful of rows, not a catalog.
    return held.count_pending(request.app.state.engine)


def page(request: Request, current: Visit, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template for the visitor (an admin's nav also counts the open conflicts and held changes)."""
    admin = current.can("admin")
    context.setdefault("open_conflicts", conflict_count(request) if admin else None)
    context.setdefault("pending_held", held_count(request) if admin else None)
    body = templates.get_template(template).render(user=current.user, visit=current, csrf=current.csrf, **context)
    response = HTMLResponse(body, status_code=status, headers=HEADERS)
    if current.fresh:
        set_session(request, response, current.session, current.key)
    return response


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other (after a POST, the browser GETs the target)."""
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/login?next={quote(target, safe='')}"


async def read_form(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form body (at most 64 KiB), as lists of values."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise Refused("the form is too large")
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=200)


def one(form: dict[str, list[str]], name: str) -> str:
    """The single value of a form field ("" when absent)."""
    values = form.get(name) or [""]
    return values[0]


async def post_visit(request: Request, form: dict[str, list[str]], role: str | None) -> Visit:
    """The visitor of a POST: its CSRF token must match its session, and its role be at least `role` (if any)."""
    current = await anyio.to_thread.run_sync(visit, request)
    if current.fresh or not csrf_ok(current.session, current.key, one(form, "csrf")):
        raise Refused(
            "the form's security token is missing or stale; reload the page and try again.",
            who=current.user,
            role=role,
        )
    if role is not None:
        if current.user is None:
            raise Refused("sign in first.", role=role)
        if not current.can(role):
            raise Refused(
                f"{current.user.name} has the {current.user.role} role; this needs {role} or higher.",
                who=current.user,
                role=role,
            )
    return current


def client_ip(request: Request) -> str | None:
    """The address the request came from (as uvicorn reports it)."""
    return request.client.host if request.client else None


async def record_denial(
    request: Request, who: Principal | None, status: int, reason: str, role: str | None
) -> int | None:
    """Count a refused form among the denied attempts (audit-logged per minute); return seconds to wait if over."""
    denials: DenialLog = request.app.state.denials
    denial = Denial(
        client_ip(request),
        who.user_id if who else None,
        who.name if who else None,
        f"{request.method} {request.url.path}"[:200],
        status,
        reason[:200],
        role,
    )
    retry_after, row = denials.count(denial, audited=True)
    if row is not None:
        await anyio.to_thread.run_sync(denials.write, row)
    return retry_after
