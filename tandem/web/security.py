"""Security plumbing shared by every page: headers, CSRF values, client keys, limits."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""No scripts, no inline styles, nothing from another origin. Images may also be ``data:``
URIs: the console's report draws its charts so, because matplotlib's SVG styles itself
with ``style`` attributes, which inline in the page would need ``style-src
'unsafe-inline'`` for every page; an SVG shown as an image is drawn apart from the page
(no scripts, no requests), and a ``data:`` image fetches nothing."""
HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
    b"cache-control": b"no-store",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to every response.

    ``Referrer-Policy: no-referrer`` matters most here: link pages carry their token in
    the path, which must never leak to another site.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (name, value) for name, value in HEADERS.items() if name not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_value(key: bytes, bound_to: str) -> str:
    """The CSRF value for a form bound to ``bound_to`` (a link token or a session)."""
    return hmac.new(key, b"csrf|" + bound_to.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(key: bytes, bound_to: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_value(key, bound_to), given or "")


def client_key(request: Request) -> str:
    """Who is asking, for rate limits: the peer address (behind a proxy, the proxy's)."""
    return request.client.host if request.client else "unknown"


def token_key(token: str) -> str:
    """A short digest standing in for a link token in counters (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:24]


@dataclass(frozen=True)
class Limits:
    """Rate limits, counted in the database and shared by every process."""

    window: timedelta = timedelta(minutes=10)
    per_link: int = 60
    """Requests one link may make per window (a person filling in a form needs a few)."""
    bad_links_per_client: int = 20
    """Invalid links one client may open per window before every link is refused."""
    sign_in_failures: int = 5
    session_hours: int = 8
