"""Imports: XR sessions attached to visits as 0770T evidence (``attach_xr_sessions``).

Visits from EMRs as FHIR R4 bundles belong here too (``import fhir``), as their own operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

import msgspec

from rehabclaim.errors import InputError
from rehabclaim.model import Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput
from rehabclaim.xr.matching import XrImport, match_sessions
from rehabclaim.xr.session import read_sessions


def attach_xr_sessions(
    reference: Reference, *, sessions_data: bytes, visits: list[Visit], json_lines: bool | None = None
) -> XrImport:
    """Attach each XR session in ``sessions_data`` (one session, a JSON list, or JSON Lines; ``json_lines``
    None tells them apart) to its visit among ``visits`` (read and checked against ``reference`` by the
    caller): the enriched visits in input order, each attachment, and each session attached nowhere with
    its reason. A session that cannot be read is BadInput naming the field and line; nothing is attached.
    The reference is taken as every operation takes it (a future per-practice setting, such as a clinic's
    time zone for visits, would live there)."""
    del reference  # not read yet: matching needs only the visits
    try:
        sessions = read_sessions(sessions_data, json_lines=json_lines)
    except InputError as exc:
        raise BadInput.from_input_error(exc) from None
    return match_sessions(sessions, visits)


def visits_json_lines(visits: Iterable[Visit]) -> bytes:
    """Every visit as one JSON line, absent fields left out: the enriched visits an import writes (the CLI's
    file, the web page's download)."""
    return b"".join(msgspec.json.encode(without_nulls(msgspec.to_builtins(visit))) + b"\n" for visit in visits)


def without_nulls(node: Any) -> Any:
    """``node`` without null values in objects (a null optional field reads the same as an absent one)."""
    if isinstance(node, dict):
        return {key: without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [without_nulls(item) for item in node]
    return node


def json_lines_by_name(name: str) -> bool | None:
    """JSON Lines by a file's name (.jsonl), one JSON document by .json; None (told apart by the content)
    for any other name."""
    return {".jsonl": True, ".json": False}.get(PurePath(name).suffix.lower())
