"""Who may use the dashboard, checked on every request before any page or API runs.

- A token (``--http-token``), required when the dashboard listens beyond loopback:
  ``Authorization: Bearer <token>`` for scripts; a browser opens ``/?token=<token>``
  once and gets a cookie holding a digest of it (never the token itself), then is
  sent on to the same page without the token in its address.
- On loopback, only loopback ``Host`` names are served: a web page elsewhere cannot
  reach the dashboard through DNS rebinding.
- Actions (POST) need the ``X-Orchestrator-Action`` header, which a browser sends
  cross-site only after a CORS preflight this server never allows, and an
  ``Origin`` (when sent) of this very host: no other site can press the buttons.
- Every answer says: no framing, no referrer, no sniffing, scripts and styles from
  this server only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "orchestrator_dashboard"
ACTION_HEADER = "x-orchestrator-action"
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
]


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_value(token: str) -> str:
    """What the cookie holds: a digest that proves the token without carrying it."""
    return hashlib.sha256(f"provider-orchestrator dashboard:{token}".encode()).hexdigest()


class AccessGuard:
    """Pure ASGI middleware (streams pass through untouched, server-sent events too)."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool) -> None:
        self._app = app
        self._token = token
        self._cookie = cookie_value(token) if token else None
        self._loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        if self._token and self._token_in_query(scope):
            await self._log_in(scope, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self._app(scope, receive, secured)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = _host_name(headers.get("host", ""))
        if self._loopback_only and not is_loopback(host):
            return 403, f"Host '{host}' is not served: the dashboard listens on loopback only"
        if self._token and not self._token_in_query(scope) and not self._authorized(headers):
            return 401, "a token is required (Authorization: Bearer <token>, or open /?token=...)"
        if scope["method"] not in ("GET", "HEAD"):
            if ACTION_HEADER not in headers:
                return 403, f"actions need the {ACTION_HEADER} header"
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != headers.get("host"):
                return 403, "actions are taken from this dashboard's own pages only"
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        assert self._token is not None
        assert self._cookie is not None
        scheme, _, supplied = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            supplied.strip().encode(), self._token.encode()
        ):
            return True
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header proves nothing
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self._cookie)

    def _token_in_query(self, scope: Scope) -> bool:
        assert self._token is not None
        if scope["method"] != "GET":
            return False
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        supplied = query.get("token")
        return supplied is not None and hmac.compare_digest(supplied.encode(), self._token.encode())

    async def _log_in(self, scope: Scope, send: Send) -> None:
        """Set the cookie and send the browser on to the page without the token."""
        assert self._cookie is not None
        query = [
            pair
            for pair in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if pair[0] != "token"
        ]
        location = scope["path"] + (f"?{urlencode(query)}" if query else "")
        cookie = f"{COOKIE}={self._cookie}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode()),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _host_name(host: str) -> str:
    """The Host header without its port (``[::1]:8080`` -> ``[::1]``)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _answer(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
