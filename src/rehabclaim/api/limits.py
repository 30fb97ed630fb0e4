"""The ASGI layers around every request (outermost first):

- ``RequestGuard``: one access-log line per request (method, the route's path template, status, time: no
  query string, no path value, no body), and a 500 problem for anything unhandled, logged as the exception's
  type and where it was raised, never its message (a driver's message may echo the values of a row). API
  answers get ``Cache-Control: no-store`` unless they say otherwise (they hold patient data).
- ``Deadline``: a request whose response has not begun within the timeout gets a 504 problem. A streamed
  response (the batch scrub) begins at once, so it is not cut off. The work itself is not killed (it runs in
  a worker thread): a change it makes is all-or-nothing, and repeating it is refused if it did complete.
- ``BodyLimit``: a body over the limit gets a 413 problem before the application sees it (by its
  Content-Length), or as soon as the bytes read pass the limit (a chunked upload); every route reads its
  whole body before it calls a service, so nothing is processed.
"""

from __future__ import annotations

import logging
import time
import traceback

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rehabclaim.api.problems import for_status, problem_response, refusal_response, server_error_response
from rehabclaim.services.errors import TooLarge

access_log = logging.getLogger("rehabclaim.api.access")
error_log = logging.getLogger("rehabclaim.api")
API_PREFIX = "/v1/"
UNMATCHED = "-"  # the path of a request no route matched is not logged: it may hold anything


def path_template(scope: Scope) -> str:
    """The matched route's path with its parameters unfilled (``/v1/patients/{patient_id}``)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if scope["path"].startswith(API_PREFIX):
                    headers = MutableHeaders(scope=message)
                    headers.setdefault("Cache-Control", "no-store")  # answers hold patient data: never cached
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            log_failure(scope, exc)
            if status is None:
                status = 500
                await server_error_response()(scope, receive, send)
            # else: the response had begun (a stream); it ends short and the client sees it cut off
        finally:
            elapsed = (time.perf_counter() - began) * 1000
            access_log.info("%s %s %s %.1fms", scope["method"], path_template(scope), status or "-", elapsed)


def log_failure(scope: Scope, exc: BaseException) -> None:
    """The exception's type and frames, without its message or the request's data."""
    leaves = list(_leaves(exc))
    kinds = ", ".join(type(leaf).__name__ for leaf in leaves)
    frames = "\n".join(  # where, not the source lines: a line may hold a literal value
        f"  {frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(leaves[-1].__traceback__)
    )
    error_log.error("%s %s failed: %s\n%s", scope.get("method"), path_template(scope), kinds, frames)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


class Deadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun = anyio.Event()
        timed_out = False

        async def send_unless_late(message: Message) -> None:
            if timed_out:
                return  # the 504 went out instead
            if message["type"] == "http.response.start":
                begun.set()
            await send(message)

        async def watch() -> None:
            nonlocal timed_out
            with anyio.move_on_after(self.seconds):
                await begun.wait()
                return
            timed_out = True
            detail = (
                f"no answer within {self.seconds:g} s; a change this request makes may still complete "
                "(all or nothing): repeating it is safe, a visit or remittance already posted is refused"
            )
            await problem_response(for_status(504, detail, slug="timeout"))(scope, receive, send)

        failure: Exception | None = None
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(watch)
            try:
                await self.app(scope, receive, send_unless_late)
            except Exception as exc:  # raised as itself below, not wrapped in the task group's ExceptionGroup
                failure = exc
            finally:
                watchers.cancel_scope.cancel()
        if failure is not None and not timed_out:
            raise failure
        if failure is not None:
            log_failure(scope, failure)  # after the 504: logged, not answered twice


class _BodyTooLarge(Exception):
    """Raised into the application when the bytes read pass the limit; the 413 is answered by BodyLimit."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = f"the request body is over the limit of {self.max_bytes} bytes; nothing was processed"
        await refusal_response(TooLarge("", reason))(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def send_unless_exceeded(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the application made of the cut-off body: the 413 below replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, send_unless_exceeded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)
