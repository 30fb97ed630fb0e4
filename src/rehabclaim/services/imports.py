"""Imports: XR sessions attached to visits as 0770T evidence (``attach_xr_sessions``).

Visits from EMRs as FHIR R4 bundles belong here too (``import fhir``), as their own operation.
"""

from __future__ import annotations

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
