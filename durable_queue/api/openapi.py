"""OpenAPI 3 from aiohttp-apispec's decorators, and Swagger UI served from this process.

aiohttp-apispec 2.2.3 always builds an OpenAPI 2 document; this subclass builds OpenAPI 3
instead (request bodies, typed path parameters) from the same `@docs` / `@request_schema` /
`@response_schema` decorators. Swagger UI's assets come from the aiohttp-apispec wheel
itself, so /docs works offline; its page is api/docs_page.py's.

The statuses every operation of a kind can return are added here, once, from the route
itself, so handlers declare only what is particular to them (their success shapes, and
404/409 with a description saying when):

- 400 on every operation with a path parameter, a query parameter or a body;
- 404 on every operation with a path parameter (the resource, or the route, is missing);
- 413 on every operation that reads a body;
- 503 on every operation under /api/v1 (they all use the database);
- 401 on every operation under /api/v1 when bearer auth is on;
- 204 where a handler declares no success response (DELETE /queues/{queue_name}).

405 is not listed: it answers a method no operation declares, so no operation returns it.
Path parameters without a declared schema get theirs from their name (`*_id`: UUID,
`queue_name`: the queue-name pattern, anything else: a 1 to 1,024 character name).
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
from durable_queue.api.docs_page import add_docs_page
from durable_queue.api.schemas import MAX_NAME_LENGTH, ErrorSchema
from durable_queue.api.wire_fields import QUEUE_NAME_PATTERN

OPENAPI_URL = "/api/v1/openapi.json"
DOCS_URL = "/docs"
API_PREFIX = "/api/v1/"
BEARER_SCHEME = "bearerAuth"
_METHODS = {"get", "put", "post", "delete", "patch"}

COMMON_ERRORS = {
    400: "invalid input: the message names the offending field",
    401: "missing or unknown bearer token",
    404: "not found",
    409: "the resource's current state forbids this",
    413: "request body larger than the configured limit (DURABLE_MAX_BODY_BYTES)",
    503: (
        "the database is unavailable, or the server is busy (with Retry-After): the "
        "outcome is unknown (a change may have committed); retry safely (idempotency_key, "
        "claim_token)"
    ),
}


def _resolver(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") else name


def path_parameter_schema(name: str) -> dict[str, Any]:
    """The schema of a `{name}` path segment that no handler declared one for."""
    if name.endswith("_id"):
        return {"type": "string", "format": "uuid"}
    if name == "queue_name":
        return {"type": "string", "pattern": QUEUE_NAME_PATTERN}
    return {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}


def common_statuses(
    url_path: str, *, has_input: bool, has_body: bool, bearer_auth: bool
) -> list[int]:
    """The error statuses any operation on `url_path` with this input shape can answer."""
    statuses = []
    if has_input:
        statuses.append(400)
    if get_path_keys(url_path):
        statuses.append(404)
    if has_body:
        statuses.append(413)
    if url_path.startswith(API_PREFIX):
        statuses.append(503)
        if bearer_auth:
            statuses.append(401)
    return statuses


class OpenApi3Spec(AiohttpApiSpec):
    """AiohttpApiSpec emitting OpenAPI 3.0, with the common error statuses filled in."""

    def __init__(
        self,
        app: web.Application,
        *,
        title: str,
        version: str,
        bearer_auth: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(title=title, version=version, **kwargs)
        self.bearer_auth = bearer_auth
        self.plugin = MarshmallowPlugin(schema_name_resolver=_resolver)
        self.spec = APISpec(
            title=title, version=version, openapi_version="3.0.3", plugins=(self.plugin,)
        )
        if bearer_auth:
            self.spec.components.security_scheme(
                BEARER_SCHEME, {"type": "http", "scheme": "bearer"}
            )
        self.register(app, in_place=True)

    def _schema(self, schema: Any) -> dict[str, Any]:
        return self.plugin.converter.resolve_nested_schema(schema)

    def _parameters(self, data: dict[str, Any], url_path: str) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = []
        for entry in data.get("schemas", []):
            location = entry["options"].get("default_in", "json")
            if location not in ("json", "body"):
                parameters.extend(
                    self.plugin.converter.schema2parameters(entry["schema"], default_in=location)
                )
        declared = {p["name"] for p in parameters if p["in"] == "path"}
        for parameter in parameters:
            if parameter["in"] == "path":
                parameter["required"] = True
        derived = [
            {"in": "path", "name": key, "required": True, "schema": path_parameter_schema(key)}
            for key in get_path_keys(url_path)
            if key not in declared
        ]
        return derived + parameters

    def _request_body(self, data: dict[str, Any]) -> dict[str, Any] | None:
        for entry in data.get("schemas", []):
            if entry["options"].get("default_in", "json") in ("json", "body"):
                return {
                    "required": any(f.required for f in entry["schema"].fields.values()),
                    "content": {"application/json": {"schema": self._schema(entry["schema"])}},
                }
        return None

    def _responses(
        self, data: dict[str, Any], url_path: str, *, has_input: bool, has_body: bool
    ) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        for code, spec in data.get("responses", {}).items():
            default = COMMON_ERRORS.get(int(code), "OK")
            response: dict[str, Any] = {"description": spec.get("description") or default}
            if "schema" in spec:
                response["content"] = {"application/json": {"schema": self._schema(spec["schema"])}}
            responses[str(code)] = response
        if not any(code.startswith("2") for code in responses):
            responses["204"] = {"description": "No Content"}
        error = {"application/json": {"schema": self._schema(ErrorSchema)}}
        for status in common_statuses(
            url_path, has_input=has_input, has_body=has_body, bearer_auth=self.bearer_auth
        ):
            responses.setdefault(
                str(status), {"description": COMMON_ERRORS[status], "content": error}
            )
        return responses

    def _update_paths(self, data: dict[str, Any], method: str, url_path: str) -> None:
        if method not in _METHODS:
            return
        operation: dict[str, Any] = {
            k: v for k, v in data.items() if k not in ("schemas", "responses", "parameters")
        }
        parameters = self._parameters(data, url_path)
        body = self._request_body(data)
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = self._responses(
            data,
            url_path,
            has_input=bool(parameters) or body is not None,
            has_body=body is not None,
        )
        if self.bearer_auth and url_path.startswith(API_PREFIX):
            operation["security"] = [{BEARER_SCHEME: []}]
        self.spec.path(path=url_path, operations={method: copy.deepcopy(operation)})


def setup_openapi(app: web.Application, *, bearer_auth: bool = False) -> None:
    """Serve the OpenAPI document at OPENAPI_URL and Swagger UI at DOCS_URL; with
    `bearer_auth`, every /api/v1 operation documents the bearer scheme and its 401."""
    OpenApi3Spec(
        app,
        title="durable-queue",
        version=__version__,
        bearer_auth=bearer_auth,
        url=OPENAPI_URL,
    )
    add_docs_page(app, docs_url=DOCS_URL, spec_url=OPENAPI_URL)


def openapi_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document generated for this app's routes."""
    return app["swagger_dict"]
