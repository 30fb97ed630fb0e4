"""A visit whose only documentation is an attached XR session (what ``import xr`` adds to a visit with no
note) is not a note: the note checks (rule family T) stay off; anything else in ``documentation`` turns them on."""

from __future__ import annotations

from typing import Any

import msgspec

from rehabclaim.documentation import holds_a_note
from rehabclaim.model import Documentation, Visit
from rehabclaim.reference import load_reference
from rehabclaim.scrubber import Scrubber

SESSION = {
    "session_id": "S-1",
    "vendor": "Example XR Vendor",
    "system_name": "Example XR Rehab System",
    "start": "09:07",
    "end": "09:28",
    "setting": "clinic",
    "supervised": True,
}


def _visit(documentation: dict[str, Any]) -> Visit:
    raw = {
        "id": "v1",
        "date": "2026-03-10",
        "payer": "medicare",
        "discipline": "PT",
        "diagnoses": ["M17.11"],
        "services": [
            {"code": "97110", "minutes": 25, "time_blocks": [{"start": "09:05", "end": "09:30"}]},
            {"code": "0770T"},
        ],
        "documentation": documentation,
    }
    return msgspec.convert(raw, Visit)


def test_xr_sessions_alone_are_not_a_note() -> None:
    scrubber = Scrubber(load_reference())
    result = scrubber.scrub(_visit({"xr": {"sessions": [SESSION]}}))
    assert result.documentation is None
    assert not [f for f in result.findings if f.rule.startswith("T")]
    assert not [f for f in result.findings if f.rule == "V005"]  # the session backs 0770T


def test_a_note_beside_the_session_is_checked() -> None:
    scrubber = Scrubber(load_reference())
    result = scrubber.scrub(_visit({"xr": {"sessions": [SESSION]}, "patient_response": "tolerated well"}))
    assert result.documentation is not None and result.documentation.required >= 1
    assert "97110: the note does not document the minutes (or start and stop times)" in [
        f.message for f in result.findings if f.rule == "T001"
    ]


def test_holds_a_note() -> None:
    assert not holds_a_note(None)
    assert not holds_a_note(msgspec.convert({"xr": {"system": "REAL y-Series"}}, Documentation))
    assert holds_a_note(Documentation())  # an empty note is still a note: every element is missing
    assert holds_a_note(msgspec.convert({"total_timed_minutes": 25}, Documentation))
