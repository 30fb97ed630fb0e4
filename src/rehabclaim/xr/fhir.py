"""One XR session as FHIR R4 resources: a Device (the XR system), a Procedure (the VR-assisted service,
0770T) and an Observation (the session's metrics), in a ``collection`` Bundle.

Shapes per reference note ``fhir-therapy.md`` s. 2 and s. 7: the Procedure names the Device in
``usedReference``; the Observation points to the Procedure in ``partOf`` and to the Device in ``device``,
carries ``effectivePeriod`` (the session), the active minutes as its value (LOINC 55411-3 "Exercise
duration", as the Physical Activity IG uses it) and one ``component`` per metric. Its category is
``therapy`` for a supervised clinic session and ``activity`` otherwise (HL7 observation-category: activity
is fitness data not under a therapist's direct supervision). Metrics without a standard code
(repetitions, sets, level, joint angles, movement quality, fatigue) use the project's local code system
``XR_METRIC``; pain uses LOINC 72514-3 (0-10 numeric rating, [recalled], not checked against LOINC here).

The patient is referenced by identifier (our patient id, system ``PATIENT_ID``), never by name; resource
ids are UUIDs derived from (vendor, session_id), so rendering a session twice gives the same Bundle.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from rehabclaim.xr.session import Exercise, XrSession

XR_METRIC = "https://rehabclaim.example/fhir/CodeSystem/xr-metric"
PATIENT_ID = "https://rehabclaim.example/fhir/sid/patient-id"
CLINICIAN_ID = "https://rehabclaim.example/fhir/sid/clinician-id"
XR_SESSION_ID = "https://rehabclaim.example/fhir/sid/xr-session"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_NAMESPACE = uuid.UUID("6f0c1d8e-3f5b-5a7e-9a36-2d0f4c1b7e11")  # this project's, for stable resource ids

Resource = dict[str, Any]


def session_to_fhir(session: XrSession) -> Resource:
    """The session as an R4 ``collection`` Bundle of Device, Procedure and Observation (see the module)."""
    ids = {kind: _uuid(session, kind) for kind in ("Device", "Procedure", "Observation")}
    resources = [_device(session, ids["Device"]), _procedure(session, ids), _observation(session, ids)]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in resources],
    }


def _uuid(session: XrSession, kind: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}|{session.vendor.strip().casefold()}|{session.session_id}"))


def _ref(ids: dict[str, str], kind: str) -> Resource:
    return {"reference": f"urn:uuid:{ids[kind]}"}


def _patient(session: XrSession) -> Resource:
    return {"identifier": {"system": PATIENT_ID, "value": session.patient_id}}


def _period(session: XrSession) -> Resource:
    return {"start": _instant(session.session_start), "end": _instant(session.session_end)}


def _instant(moment: datetime) -> str:
    return moment.isoformat()


def _device(session: XrSession, device_id: str) -> Resource:
    device: Resource = {
        "resourceType": "Device",
        "id": device_id,
        "deviceName": [{"name": session.system_name, "type": "user-friendly-name"}],
        "manufacturer": session.vendor,
        "type": {"text": "Extended reality (XR) rehabilitation system"},
    }
    if session.software_version:
        device["version"] = [{"value": session.software_version}]
    if session.device_id:
        device["identifier"] = [{"value": session.device_id}]
    return device


def _procedure(session: XrSession, ids: dict[str, str]) -> Resource:
    procedure: Resource = {
        "resourceType": "Procedure",
        "id": ids["Procedure"],
        "identifier": [{"system": XR_SESSION_ID, "value": f"{session.vendor}|{session.session_id}"}],
        "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "0770T"}], "text": "XR technology used to assist therapy"},
        "subject": _patient(session),
        "performedPeriod": _period(session),
        "usedReference": [_ref(ids, "Device")],
    }
    if session.clinician_id:
        procedure["performer"] = [{"actor": {"identifier": {"system": CLINICIAN_ID, "value": session.clinician_id}}}]
    return procedure


def _observation(session: XrSession, ids: dict[str, str]) -> Resource:
    category = "therapy" if session.setting == "clinic" and session.supervised else "activity"
    observation: Resource = {
        "resourceType": "Observation",
        "id": ids["Observation"],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
        "code": {
            "coding": [{"system": LOINC, "code": "55411-3", "display": "Exercise duration"}],
            "text": "XR session",
        },
        "subject": _patient(session),
        "partOf": [_ref(ids, "Procedure")],
        "effectivePeriod": _period(session),
        "device": _ref(ids, "Device"),
    }
    if session.active_minutes is not None:
        observation["valueQuantity"] = _quantity(session.active_minutes, "min", "min")
    components = list(_components(session))
    if components:
        observation["component"] = components
    return observation


def _components(session: XrSession) -> list[Resource]:
    found = [component for exercise in session.exercises for component in _exercise_components(exercise)]
    reported = session.patient_reported
    if reported is not None and reported.pain_0_10 is not None:
        found.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "72514-3"}], "text": "Pain severity 0-10"},
                "valueInteger": reported.pain_0_10,
            }
        )
    if reported is not None and reported.fatigue_0_10 is not None:
        found.append({"code": _metric("fatigue-0-10", "Fatigue 0-10"), "valueInteger": reported.fatigue_0_10})
    return found


def _exercise_components(exercise: Exercise) -> list[Resource]:
    name = exercise.name
    found: list[Resource] = []
    if exercise.repetitions is not None:
        found.append(
            {
                "code": _metric("repetitions", f"{name}: repetitions"),
                "valueQuantity": _quantity(exercise.repetitions, "{repetitions}", "{repetitions}"),
            }
        )
    if exercise.sets is not None:
        found.append({"code": _metric("sets", f"{name}: sets"), "valueInteger": exercise.sets})
    if exercise.difficulty_level is not None:
        level = exercise.difficulty_level
        value = {"valueInteger": level} if isinstance(level, int) else {"valueString": level}
        found.append({"code": _metric("difficulty-level", f"{name}: difficulty level"), **value})
    for joint, degrees in (exercise.rom_max_deg or {}).items():
        found.append(
            {
                "code": _metric("rom-max", f"{name}: maximum {joint} ROM"),
                "valueQuantity": _quantity(degrees, "deg", "deg"),
            }
        )
    if exercise.quality_score is not None:
        scale = exercise.quality_scale or ""
        found.append(
            {
                "code": _metric("movement-quality", f"{name}: movement quality ({scale})"),
                "valueQuantity": {"value": exercise.quality_score, "unit": f"score ({scale})"},
            }
        )
    return found


def _metric(code: str, text: str) -> Resource:
    return {"coding": [{"system": XR_METRIC, "code": code}], "text": text}


def _quantity(value: float, unit: str, code: str) -> Resource:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}
