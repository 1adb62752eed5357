"""OpenAPI 3 from aiohttp-apispec's decorators, and Swagger UI served from this process.

aiohttp-apispec 2.2.3 always builds an OpenAPI 2 document; this subclass
builds OpenAPI 3 instead (request bodies, typed path parameters) from the same
`@docs` / `@request_schema` / `@response_schema` decorators. Swagger UI's
assets come from the aiohttp-apispec wheel itself, so /docs works offline.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web
from aiohttp_apispec.aiohttp_apispec import AiohttpApiSpec
from aiohttp_apispec.utils import get_path_keys
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from durable_queue import __version__

OPENAPI_URL = "/api/v1/openapi.json"
DOCS_URL = "/docs"
_METHODS = {"get", "put", "post", "delete", "patch"}


def _resolver(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") else name


class OpenApi3Spec(AiohttpApiSpec):
    """AiohttpApiSpec emitting OpenAPI 3.0."""

    def __init__(self, app: web.Application, *, title: str, version: str, **kwargs: Any) -> None:
        super().__init__(title=title, version=version, **kwargs)
        self.plugin = MarshmallowPlugin(schema_name_resolver=_resolver)
        self.spec = APISpec(
            title=title, version=version, openapi_version="3.0.3", plugins=(self.plugin,)
        )
        self.register(app, in_place=True)

    def _update_paths(self, data: dict[str, Any], method: str, url_path: str) -> None:
        if method not in _METHODS:
            return
        operation: dict[str, Any] = {
            k: v for k, v in data.items() if k not in ("schemas", "responses", "parameters")
        }
        parameters = [
            {"in": "path", "name": key, "required": True, "schema": {"type": "string"}}
            for key in get_path_keys(url_path)
        ]
        for entry in data.get("schemas", []):
            location = entry["options"].get("default_in", "json")
            if location in ("json", "body"):
                operation["requestBody"] = {
                    "required": any(f.required for f in entry["schema"].fields.values()),
                    "content": {
                        "application/json": {
                            "schema": self.plugin.converter.resolve_nested_schema(entry["schema"])
                        }
                    },
                }
            else:
                parameters.extend(
                    self.plugin.converter.schema2parameters(entry["schema"], default_in=location)
                )
        if parameters:
            operation["parameters"] = parameters
        responses: dict[str, Any] = {}
        for code, spec in data.get("responses", {}).items():
            response: dict[str, Any] = {"description": spec.get("description") or "OK"}
            if "schema" in spec:
                response["content"] = {
                    "application/json": {
                        "schema": self.plugin.converter.resolve_nested_schema(spec["schema"])
                    }
                }
            responses[str(code)] = response
        if not responses:
            responses["204"] = {"description": "No Content"}
        operation["responses"] = responses
        self.spec.path(path=url_path, operations={method: copy.deepcopy(operation)})


def setup_openapi(app: web.Application) -> None:
    """Serve the OpenAPI document at OPENAPI_URL and Swagger UI at DOCS_URL."""
    OpenApi3Spec(
        app,
        title="durable-queue",
        version=__version__,
        url=OPENAPI_URL,
        swagger_path=DOCS_URL,
        static_path="/docs/static",
    )


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document generated for this app's routes."""
    return app["swagger_dict"]


def main() -> None:
    """Print the generated OpenAPI document (to refresh the committed openapi.json)."""
    import json

    from durable_queue.app import create_app
    from durable_queue.config import Settings

    app = create_app(Settings(database_url="postgresql://unused/unused"))
    print(json.dumps(openapi_document(app), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
