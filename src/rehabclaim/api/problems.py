"""RFC 9457 problem details: every error the API answers is ``application/problem+json`` naming the field
(a dotted path such as ``services[0].minutes``, a query parameter, or empty for the input as a whole) and
the reason, with its line in JSON Lines input. Never a stack trace, never a bad value beyond ``quote``.

Refusals map through their own ``http_status``, ``title`` and ``slug``; FastAPI's validation errors become
422 naming the parameter; Starlette's HTTP errors (an unknown path, a wrong method) keep their status.
Anything else is a 500 with a generic detail, answered and logged by ``rehabclaim.api.limits.RequestGuard``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from rehabclaim.services.errors import Refusal, Unauthenticated
from rehabclaim.x12.remit835 import Imbalance

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"  # a problem's type: /problems/<slug> (relative to the server)
SERVER_ERROR_DETAIL = "the server failed to answer this request (the failure is logged); a change is all or nothing"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rehabclaim"'}


class Problem(msgspec.Struct, frozen=True):
    """One problem: ``field`` empty when the input as a whole is at fault, ``line`` set in JSON Lines input."""

    type: str
    title: str
    status: int
    detail: str
    field: str = ""
    line: int | None = None


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    body = msgspec.json.encode(problem) + b"\n"
    return Response(body, status_code=problem.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def for_status(status: int, detail: str, *, field: str = "", slug: str | None = None) -> Problem:
    """A problem for an HTTP status, titled by its standard phrase."""
    phrase = HTTPStatus(status).phrase
    kind = slug or phrase.lower().replace(" ", "-").replace("'", "")
    return Problem(type=PROBLEM_BASE + kind, title=phrase, status=status, detail=detail, field=field)


def for_refusal(refusal: Refusal) -> Problem:
    """The refusal's field as the API names it: a CLI option (``--date``) is the query parameter (``date``)."""
    field = refusal.field.removeprefix("--")
    named = type(refusal)(field, refusal.reason, refusal.line)
    return Problem(
        type=PROBLEM_BASE + refusal.slug,
        title=refusal.title,
        status=refusal.http_status,
        detail=str(named),
        field=field,
        line=refusal.line,
    )


def refusal_response(refusal: Refusal) -> Response:
    headers = BEARER_CHALLENGE if isinstance(refusal, Unauthenticated) else None
    return problem_response(for_refusal(refusal), headers)


def server_error_response() -> Response:
    return problem_response(for_status(500, SERVER_ERROR_DETAIL, slug="server-error"))


def dotted_path(location: Sequence[int | str]) -> str:
    """``("body", "services", 0, "minutes")`` -> ``services[0].minutes``; the part (query, path, header,
    body) is left out: a parameter's name says where it is."""
    path = ""
    for part in location[1:] if location and location[0] in ("query", "path", "header", "body", "cookie") else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validation_problem(error: RequestValidationError) -> Problem:
    """The first error (a request with several bad parameters names one, as the CLI does)."""
    errors = error.errors()
    first: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = dotted_path(tuple(first.get("loc", ())))
    reason = str(first.get("msg", "invalid value"))  # pydantic's message; its "input" (the value) is left out
    refusal_like = Problem(
        type=PROBLEM_BASE + "invalid-input",
        title="Invalid input",
        status=422,
        detail=f"{field}: {reason}" if field else reason,
        field=field,
    )
    return refusal_like


async def _on_refusal(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return refusal_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(_validation_problem(exc))


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase.lower()
    return problem_response(for_status(exc.status_code, detail), exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Refusal, _on_refusal)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)


class ImbalanceProblem(Problem, frozen=True):
    """A 835 that does not balance (422, nothing posted), with every imbalance and its segment."""

    imbalances: list[Imbalance] = []
