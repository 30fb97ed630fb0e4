"""XR rehabilitation sessions: the vendor-neutral session record (``session``), attaching sessions to the
visits they happened in (``matching``) and the same session as FHIR R4 resources (``fhir``).

The format is documented in the README ("XR sessions") and as a JSON Schema in
``data/schemas/xr-session.schema.json``; the reasoning is in the reference note ``xr-sessions.md``.
"""

from rehabclaim.xr.fhir import session_to_fhir
from rehabclaim.xr.matching import Attachment, SessionProblem, XrImport, match_sessions
from rehabclaim.xr.session import Exercise, PatientReported, XrSession, read_sessions

__all__ = [
    "Attachment",
    "Exercise",
    "PatientReported",
    "SessionProblem",
    "XrImport",
    "XrSession",
    "match_sessions",
    "read_sessions",
    "session_to_fhir",
]
