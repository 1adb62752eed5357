"""The API docs page (`/docs`): Swagger UI from the aiohttp-apispec wheel's own assets, in a
page with no inline script or style, so it runs under a strict Content-Security-Policy
(api/security_headers.py).

aiohttp-apispec's own page starts Swagger UI from an inline script and styles itself
inline; this one loads `/docs/init.js` and `/docs/page.css` from here instead. The online
validator badge is turned off (it would load an image from validator.swagger.io).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_apispec
from aiohttp import web

STATIC_URL = "/docs/static"
# One file of the wheel's folder by name: no directory answers (aiohttp's static route
# answered /docs/static/ with a 403, and a missing file with a bare 404), no other path.
ASSET_ROUTE = STATIC_URL + "/{name}"
INIT_URL = "/docs/init.js"
CSS_URL = "/docs/page.css"
SWAGGER_ASSETS = Path(aiohttp_apispec.__file__).parent / "static"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>durable-queue API</title>
<link rel="stylesheet" type="text/css" href="{static}/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="{css}">
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="{static}/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{static}/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="{static}/swagger-ui-standalone-preset.js" charset="utf-8"></script>
<script src="{init}" charset="utf-8"></script>
</body>
</html>
"""

_INIT = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
});
"""

_CSS = """html { box-sizing: border-box; overflow-y: scroll; }
*, *:before, *:after { box-sizing: inherit; }
body { margin: 0; background: #fafafa; }
"""


def add_docs_page(app: web.Application, *, docs_url: str, spec_url: str) -> None:
    """Serve the page at `docs_url`, its script and stylesheet, and Swagger UI's assets (the
    files of the wheel's static folder, by name)."""
    assets = frozenset(path.name for path in SWAGGER_ASSETS.iterdir() if path.is_file())
    page = _PAGE.format(static=STATIC_URL, css=CSS_URL, init=INIT_URL, spec=spec_url)

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def init(request: web.Request) -> web.Response:
        return web.Response(text=_INIT, content_type="text/javascript")

    async def css(request: web.Request) -> web.Response:
        return web.Response(text=_CSS, content_type="text/css")

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in assets:
            raise web.HTTPNotFound()  # the JSON 404 of any unknown path
        return web.FileResponse(SWAGGER_ASSETS / name)

    app.router.add_get(docs_url, docs)
    app.router.add_get(INIT_URL, init)
    app.router.add_get(CSS_URL, css)
    app.router.add_get(ASSET_ROUTE, asset)
