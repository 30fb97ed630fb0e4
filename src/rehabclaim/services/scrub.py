"""Scrubbing: reading visits (one JSON visit or JSON Lines), scrubbing one, and scrubbing a stream of JSON
Lines into a stream of results.

A visit is checked whole when read (the schema, then its codes and modifiers against the catalog), so a
command stops on bad input before it scrubs, posts or writes anything.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Iterator
from itertools import islice

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from rehabclaim.errors import InputError
from rehabclaim.history import History
from rehabclaim.lines import build_lines
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference
from rehabclaim.scrubber import Scrubber, decode_visit, encode_result
from rehabclaim.services.errors import BadInput, TooLarge, Unavailable


class LineError(msgspec.Struct):
    """A JSON Lines line that could not be scrubbed, in ``scrub_lines``' output: its number (from 1), the
    field and the message (``line 2: services[0].minutes: Expected int >= 0``, as ``batch`` reports a
    skipped line)."""

    line: int
    field: str
    error: str


_line_errors = msgspec.json.Encoder()


def looks_like_json_lines(data: bytes) -> bool:
    """JSON Lines rather than one visit: the first non-blank line is a whole object and another line
    follows (a pretty-printed visit's first line is an open brace)."""
    filled = list(islice(filter(None, map(bytes.strip, io.BytesIO(data))), 2))
    return len(filled) == 2 and filled[0].startswith(b"{") and filled[0].endswith(b"}")


def _checked_visit(raw: bytes, reference: Reference) -> Visit:
    """One visit, decoded and its services checked against the catalog; InputError otherwise."""
    visit = decode_visit(raw)
    build_lines(visit.services, reference.catalog)
    return visit


def read_visits(
    data: bytes,
    *,
    reference: Reference,
    json_lines: bool | None = None,
    source: str = "",
    max_visits: int | None = None,
) -> list[Visit]:
    """Every visit in ``data``: one JSON visit, or JSON Lines (one visit per line, blank lines skipped);
    ``json_lines`` None tells them apart by ``looks_like_json_lines``. Any problem, an unknown code or
    modifier included, is BadInput naming the field (and, in JSON Lines, the line); one about the text as
    a whole (not JSON at all) names ``source`` (a file name, say). More than ``max_visits`` is TooLarge."""
    if json_lines is None:
        json_lines = looks_like_json_lines(data)
    if not json_lines:
        try:
            return [_checked_visit(data, reference)]
        except InputError as exc:
            raise BadInput(exc.field or source, exc.reason) from None
    visits: list[Visit] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):  # lines as `batch` reads them
        if not raw.strip():
            continue
        if max_visits is not None and len(visits) >= max_visits:
            raise TooLarge("visits", f"more than {max_visits:,} visits in one request", number)
        try:
            visits.append(_checked_visit(raw, reference))
        except InputError as exc:
            raise BadInput(exc.field, exc.reason, number) from None
    return visits


def scrub_visit(
    reference: Reference,
    *,
    visit: Visit,
    history: History | None = None,
    for_claim: bool = False,
    trace: bool = False,
) -> ScrubResult:
    """Scrub one visit against ``history`` (the ledger's, or what the visit itself says when None);
    ``for_claim`` also runs the claim-data rules; ``trace`` adds to each line the ``trace`` of steps it came
    from (rehabclaim.trace; without it the result is the contract's, byte for byte). BadInput for a visit
    the catalog cannot read (a visit from ``read_visits`` never is); Unavailable when the ledger fails while
    its history is read."""
    try:
        scrubber = _scrubber(reference) if history is None else Scrubber(reference, history)
        return scrubber.scrub(visit, for_claim, trace)
    except InputError as exc:
        raise BadInput.from_input_error(exc) from None
    except SQLAlchemyError as exc:
        raise Unavailable("--database-url", f"the ledger failed while scrubbing ({exc.__class__.__name__})") from None


_SCRUBBERS_KEPT = 8  # references alive at once: one per practice served, and one being replaced
_scrubbers: dict[int, tuple[Reference, Scrubber]] = {}
_scrubbers_lock = threading.Lock()


def _scrubber(reference: Reference) -> Scrubber:
    """A scrubber for ``reference`` without a ledger, built once per reference object: building one binds
    every rule's trigger codes (two thirds of a small visit's scrub). Keyed by identity and holding the
    reference, so a reloaded reference gets a new scrubber and none is ever served stale data."""
    kept = _scrubbers.get(id(reference))
    if kept is not None and kept[0] is reference:
        return kept[1]
    scrubber = Scrubber(reference)
    with _scrubbers_lock:  # server threads: one evicts while another adds
        if len(_scrubbers) >= _SCRUBBERS_KEPT:
            _scrubbers.pop(next(iter(_scrubbers)))  # the oldest
        _scrubbers[id(reference)] = (reference, scrubber)
    return scrubber


def scrub_line(reference: Reference, *, number: int, raw: bytes) -> ScrubResult | LineError:
    """One non-blank JSON Lines line (``number`` from 1): its scrub result, or a ``LineError`` when it is not
    a visit the catalog can read. Shared by ``scrub_lines`` and ``rehabclaim.spark``."""
    try:
        return _scrubber(reference).scrub(decode_visit(raw))
    except InputError as exc:
        error = exc.at_line(number)
        return LineError(number, error.field, str(error))


def scrub_lines(reference: Reference, *, lines: Iterable[bytes]) -> Iterator[bytes]:
    """JSON Lines in, JSON Lines out, lazily: for each non-blank line, in order, its scrub result, or a
    ``LineError`` when the line is not a visit the catalog can read (the next line is still scrubbed).
    Each output line ends with a newline. A line is read only when the previous result has been taken."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        outcome = scrub_line(reference, number=number, raw=raw)
        if isinstance(outcome, LineError):
            yield _line_errors.encode(outcome) + b"\n"
        else:
            yield encode_result(outcome) + b"\n"
