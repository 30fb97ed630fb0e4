"""OpenAPI for routes whose bodies are msgspec Structs (FastAPI documents pydantic models only): a route
names its request and response types with ``body_doc`` and ``returns``; ``install_openapi`` turns them into
JSON Schema components (``msgspec.json.schema_components``, all types at once, so names stay unique)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rehabclaim.api.problems import PROBLEM_MEDIA_TYPE, Problem

_MARK = "x-msgspec-type"
_TYPES: dict[str, Any] = {}


def schema_of(kind: Any) -> dict[str, str]:
    """A placeholder for ``kind``'s schema, filled in when the document is built."""
    key = repr(kind)
    _TYPES[key] = kind
    return {_MARK: key}


def returns(
    kind: Any, description: str = "", status: int = 200, media_type: str = "application/json"
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``kind`` (a type, or a schema built with ``schema_of``), with the
    problems every route may answer."""
    schema = kind if isinstance(kind, dict) else schema_of(kind)
    success = {"description": description or "OK", "content": {media_type: {"schema": schema}}}
    return {status: success, **PROBLEMS}


def body_doc(schema: dict[str, Any], *media_types: str, description: str = "") -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its body itself (a visit, JSON Lines, an 835)."""
    content = {media_type: {"schema": schema} for media_type in media_types or ("application/json",)}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema_of(Problem)}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: _problem("No credentials, or a token or session that is not (or no longer) valid"),
    403: _problem("The role may not do this (a viewer changing the ledger)"),
    422: _problem("Invalid input: the field (dotted path) and the reason"),
}


def install_openapi(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            keys = sorted(_TYPES)
            schemas, components = msgspec.json.schema_components(
                [_TYPES[key] for key in keys], ref_template="#/components/schemas/{name}"
            )
            by_key = dict(zip(keys, schemas, strict=True))
            spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = _filled(spec, by_key)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _filled(node: Any, by_key: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if _MARK in node:  # FastAPI may merge its own default ("type": "string") into it
            return by_key[node[_MARK]]
        return {key: _filled(value, by_key) for key, value in node.items()}
    if isinstance(node, list):
        return [_filled(item, by_key) for item in node]
    return node
