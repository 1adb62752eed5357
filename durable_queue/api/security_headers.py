"""Security headers on every answer: a Content-Security-Policy that fits what the path
serves, no framing, and no content sniffing.

- The dashboard (`/ui…`) is server-rendered HTML with no script at all: its stylesheet
  is `/ui/style.css`, its forms submit to itself.
- The API docs page (`/docs`) runs Swagger UI from this server's own files (its bundle
  and `/docs/init.js`, no inline script), fetches the OpenAPI document from here, and
  draws its icons from `data:` images in its stylesheet. Swagger UI (React) sets element
  styles through the DOM, which a CSP does not restrict.
- Everything else (the API's JSON, /metrics, the probes, error bodies, static assets) is
  not a page: a policy that allows nothing, so a response a browser is tricked into
  rendering as a document can do nothing.
"""

from __future__ import annotations

from aiohttp import web

from durable_queue.api.openapi import DOCS_URL

DASHBOARD_PREFIX = "/ui"
_NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DASHBOARD_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def content_security_policy(path: str) -> str:
    """The policy of what `path` serves."""
    if path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"):
        return DASHBOARD_POLICY
    if path == DOCS_URL:
        return DOCS_POLICY
    return _NOT_A_PAGE


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`on_response_prepare`: runs for every answer the app sends, errors included."""
    response.headers.update(HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(request.path)


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
