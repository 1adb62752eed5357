"""What a browser can make the server do on a page's behalf: the Host allow-list (against DNS
rebinding) and the refusal of cross-site writes (against forms and no-cors fetches).

The API reads any body as JSON whatever its Content-Type (curl's `-d` sends
`application/x-www-form-urlencoded`), so a page the user opens elsewhere could post a
task with a plain HTML form or `fetch(url, {mode: "no-cors"})`: neither needs a CORS
preflight. Browsers tell the server where such a request comes from (`Origin`,
`Sec-Fetch-Site`); curl, the SDKs and other programs send neither header, so refusing
what a browser says is cross-site costs them nothing.

DNS rebinding points a name the attacker controls at 127.0.0.1, so a page of that name
reaches a loopback server as "same-origin". The request still carries the attacker's name
in `Host`; on a loopback bind only the loopback names (and DURABLE_ALLOWED_HOSTS) are
answered. On any other bind the server is reachable anyway (tokens protect it), so every
Host is answered unless DURABLE_ALLOWED_HOSTS is set. SECURITY.md, "Browsers".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from aiohttp import web

from durable_queue.api.auth import is_loopback
from durable_queue.api.responses import error_body_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answered whatever the Host: orchestrators probe by address (a pod's IP), and an up/ready
# answer tells a rebinding page nothing.
PROBES = frozenset({"/healthz", "/readyz"})
DEFAULT_PORTS = {"http": 80, "https": 443}
HOSTS_ENV = "DURABLE_ALLOWED_HOSTS"
ORIGINS_ENV = "DURABLE_ALLOWED_ORIGINS"


def split_host(value: str) -> tuple[str, int | None]:
    """A Host header (or a host[:port] entry) as (lowercased name, port or None);
    `[::1]:8080` gives ("::1", 8080). A port that is not a number leaves the name as is
    (it then matches nothing)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, colon, port = value.rpartition(":")
        if not colon or ":" in name:  # no port, or a bare IPv6 address
            name, port = value, ""
    if port and not (port.isascii() and port.isdigit()):  # "²" is a digit to isdigit()
        return value, None
    return name.rstrip("."), int(port) if port else None


class HostAllowList:
    """The Host values a server answers: entries are `name` (any port) or `name:port`;
    `*` (or no entry at all on a non-loopback bind) answers every Host."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = [split_host(entry) for entry in entries]
        self.any = any(name == ANY_HOST for name, _ in self.entries)

    @classmethod
    def for_bind(cls, host: str, allowed: tuple[str, ...]) -> HostAllowList | None:
        """The list for a server bound to `host`: DURABLE_ALLOWED_HOSTS when set; else, on a
        loopback bind, that address and the loopback names; else None (every Host)."""
        if allowed:
            hosts = cls(allowed)
            return None if hosts.any else hosts
        if is_loopback(host):
            return cls((host, *LOOPBACK_NAMES))
        return None

    def allows(self, host_header: str) -> bool:
        name, port = split_host(host_header)
        return any(
            name == allowed and (allowed_port is None or port == allowed_port)
            for allowed, allowed_port in self.entries
        )

    def names(self) -> str:
        """The entries, for the refusal's message."""
        shown = []
        for name, port in self.entries:
            host = f"[{name}]" if ":" in name else name
            shown.append(f"{host}:{port}" if port is not None else host)
        return ", ".join(dict.fromkeys(shown))


def answered_hosts(host: str, allowed: tuple[str, ...]) -> str:
    """The Host names a server bound to `host` answers, for its `serving` log line."""
    hosts = HostAllowList.for_bind(host, allowed)
    return "any" if hosts is None else hosts.names()


def normal_origin(origin: str) -> tuple[str, str, int] | None:
    """An origin (`scheme://host[:port]`) as (scheme, host, port) with the scheme's default
    port filled in; None for `null` or anything that is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.rstrip("."), port or DEFAULT_PORTS[parts.scheme]


def same_origin(origin: tuple[str, str, int], host_header: str) -> bool:
    """Whether an origin names the server the request was sent to (its Host header). A
    Host without a port is taken at the origin scheme's default port; the scheme itself
    is not compared (a TLS proxy in front makes it https outside, http here)."""
    scheme, name, port = origin
    host, host_port = split_host(host_header)
    return name == host and port == (host_port or DEFAULT_PORTS[scheme])


def cross_site_reason(request: web.Request, allowed: frozenset[tuple[str, str, int]]) -> str:
    """Why a state-changing request is a browser's cross-site write; "" when it is not."""
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if origin is None:
        if fetch_site == "cross-site":
            return "a cross-site page (Sec-Fetch-Site: cross-site)"
        return ""
    parsed = normal_origin(origin)
    if parsed is None:
        return f"a page of origin {origin.strip()[:100]!r} (an opaque origin)"
    if parsed in allowed:
        return ""
    if same_origin(parsed, request.headers.get("Host", "")) and fetch_site != "cross-site":
        return ""
    return f"a page of origin {origin.strip()[:100]!r}"


def browser_guard(
    host: str, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]
) -> Middleware:
    """The middleware: 421 for a Host this server does not answer to, 403 for a
    state-changing request a browser sent from another site."""
    hosts = HostAllowList.for_bind(host, allowed_hosts)
    origins = frozenset(o for o in map(normal_origin, allowed_origins) if o is not None)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host_header = request.headers.get("Host")
        if (
            hosts is not None
            and host_header is not None
            and request.path not in PROBES
            and not hosts.allows(host_header)
        ):
            message = (
                f"this server does not answer to Host {host_header[:100]!r}; it answers to "
                f"{hosts.names()} (add the name to {HOSTS_ENV} to serve it)"
            )
            return error_body_response(421, "MISDIRECTED_REQUEST", message)
        if request.method in STATE_CHANGING:
            reason = cross_site_reason(request, origins)
            if reason:
                message = (
                    f"cross-site request refused: {reason} may not change anything here "
                    f"(list the origin in {ORIGINS_ENV} to allow its pages)"
                )
                return error_body_response(403, "CROSS_SITE_REQUEST", message)
        return await handler(request)

    return guard
