"""Bearer-token auth: the constant-time check and the middleware (durable_queue/tokens.py
reads the tokens from the environment).

With `DURABLE_API_TOKENS` (comma-separated) or `DURABLE_API_TOKENS_FILE` (one per line) set,
every request outside the open routes (the probes, `/docs` and its assets, `/` which
redirects there) must carry `Authorization: Bearer <token>` naming one of the tokens, else
it is answered 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer`. Checking everything but
an allow-list (rather than a list of protected prefixes) means a route added later is
protected unless someone opens it on purpose.

Browsers cannot send a bearer header by themselves, so the dashboard (`/ui`) also accepts
HTTP Basic credentials whose password is a token (any user name), and its 401 adds a Basic
challenge so the browser asks for them. So does `/metrics`, which the dashboard links to
(the browser resends the credentials it holds for the realm; Prometheus's `basic_auth`
can use them too).

A token is never logged, never echoed in an answer, and never part of `Settings`' repr.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from durable_queue.api.responses import error_body_response
from durable_queue.tokens import TOKENS_ENV, TOKENS_FILE_ENV

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
log = logging.getLogger("durable_queue.auth")

# Route templates (a static route's prefix) anyone may reach, token or not.
OPEN_ROUTES = frozenset(
    {"/", "/healthz", "/readyz", "/docs", "/docs/init.js", "/docs/page.css", "/docs/static/{name}"}
)
# The dashboard's pages, and /metrics which it links to: they also take Basic credentials,
# and their 401 also challenges for them (a browser prompt).
BROWSER_PREFIXES = ("/ui", "/metrics")
BASIC_CHALLENGE = 'Basic realm="durable-queue", charset="UTF-8"'


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def basic_password(authorization: str | None) -> str | None:
    """The password of an `Authorization: Basic <base64(user:password)>` header: where a
    browser carries the token for the dashboard."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password else None


def given_token(request: web.Request) -> str | None:
    """The token a request carries: a bearer token, or for the dashboard a Basic password."""
    authorization = request.headers.get("Authorization")
    token = bearer_token(authorization)
    if token is None and is_browser_path(request.path):
        token = basic_password(authorization)
    return token


def is_browser_path(path: str) -> bool:
    """Whether `path` is one a browser opens (Basic credentials taken, and asked for)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in BROWSER_PREFIXES)


def token_matches(given: str, tokens: Iterable[str]) -> bool:
    """Whether `given` is one of `tokens`, compared in constant time against every one (no
    early exit, so the timing does not tell which token, or how much of one, matched)."""
    given_bytes = given.encode("utf-8", "surrogateescape")
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given_bytes, token.encode("utf-8"))
    return found


def is_open(request: web.Request) -> bool:
    """Whether the request's route is one anyone may reach."""
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical in OPEN_ROUTES


def unauthorized(request: web.Request, message: str) -> web.Response:
    response = error_body_response(401, "UNAUTHORIZED", message)
    response.headers["WWW-Authenticate"] = "Bearer"
    if is_browser_path(request.path):
        response.headers.add("WWW-Authenticate", BASIC_CHALLENGE)
    return response


def is_loopback(host: str) -> bool:
    """Whether binding `host` exposes the port to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or "" (every address)


def bearer_auth(tokens: tuple[str, ...], host: str) -> Middleware | None:
    """The auth middleware for `tokens`; with none, no middleware at all (None), and a
    warning when the server is about to bind an address other machines can reach."""
    if not tokens:
        if not is_loopback(host):
            log.warning(
                "bearer-token auth is off: anyone who can reach the port can use the API; "
                f"set {TOKENS_ENV} or {TOKENS_FILE_ENV}, or bind 127.0.0.1",
                extra={"host": host},
            )
        return None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_open(request):
            given = given_token(request)
            if given is None:
                message = "missing bearer token: send Authorization: Bearer <token>"
                return unauthorized(request, message)
            if not token_matches(given, tokens):
                return unauthorized(request, "unknown bearer token")
        return await handler(request)

    return auth
