"""Visits in a request body: one visit (a JSON object), a JSON array of visits, or JSON Lines; each read and
checked by ``services.scrub.read_visits`` before anything is scrubbed, posted or built. A bad visit is a 422
naming its place: ``[2].services[0].minutes`` in an array, the line in JSON Lines. More visits than the
server's limit per request: 413."""

from __future__ import annotations

import msgspec

from rehabclaim.errors import short_reason
from rehabclaim.model import Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, TooLarge
from rehabclaim.services.scrub import read_visits

_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


def visits_in(body: bytes, *, reference: Reference, max_visits: int) -> list[Visit]:
    if not body.lstrip().startswith(b"["):
        visits = read_visits(body, reference=reference, max_visits=max_visits)
    else:
        visits = _visits_in_array(body, reference, max_visits)
    if not visits:
        raise BadInput("", "no visit in the request body")
    return visits


def _visits_in_array(body: bytes, reference: Reference, max_visits: int) -> list[Visit]:
    try:
        elements = _ARRAY.decode(body)
    except msgspec.DecodeError as exc:
        raise BadInput("", f"not a JSON array of visits: {short_reason(str(exc))}") from None
    if len(elements) > max_visits:
        raise TooLarge("", f"{len(elements):,} visits; at most {max_visits:,} in one request")
    visits = []
    for index, element in enumerate(elements):
        try:
            visits.extend(read_visits(bytes(element), reference=reference, json_lines=False))
        except BadInput as exc:
            raise BadInput(f"[{index}].{exc.field}" if exc.field else f"[{index}]", exc.reason) from None
    return visits
