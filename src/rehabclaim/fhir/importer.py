"""An EMR's FHIR R4 Bundle -> visits in our JSON contract, and what could not be mapped (never guessed).

``parse_bundle`` validates the Bundle with the ``fhir.resources.R4B`` models (an invalid one is an
InputError naming the entry, the resource and the path); ``map_bundle`` makes one visit per ambulatory
Encounter (reference fhir-therapy.md s. 2-4):

- Encounter: id, date (``period.start``, in its own UTC offset), place of service (its Location's type);
  ``class`` must be AMB and ``status`` finished.
- Procedure (``status`` completed only; any other status is never billed) -> a service: the code from a
  CPT or HCPCS coding; minutes = ``performedPeriod`` end - start (both taken to the visit's UTC offset;
  whole minutes), or the project's minutes extension; ``performedDateTime`` alone gives no minutes. Several
  Procedures with one code are summed; one with unknown minutes leaves its timed code's minutes unknown.
  Untimed codes are billed 1 unit by the engine, their minutes count to total treatment time only; an
  untimed add-on (0770T) has no minutes of its own. A period outside its Encounter's is reported and its
  minutes are not counted.
- Condition (ICD-10-CM) in ``Encounter.diagnosis`` rank order, then the other encounter-diagnosis
  Conditions of the Encounter.
- Coverage (active, the patient's, covering the date; lowest ``order``) -> payer and member id.
- Patient -> id, names, birth date, sex, address.
- Practitioner / PractitionerRole -> discipline (when ``serviceType`` has none), assistant status, NPI.

Everything that cannot be mapped is an ``Unmapped`` item naming the resource, the path and the reason; an
Encounter that cannot become a visit (no date, payer, discipline or billable service) is one too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import msgspec
from pydantic import ValidationError

from rehabclaim.catalog import Catalog
from rehabclaim.documentation import ClinicianSlot, SlotOverlap, clinician_overlaps
from rehabclaim.errors import InputError, quote, short_reason, validation_field
from rehabclaim.fhir import FhirTables, Role, fhir_tables
from rehabclaim.lines import build_lines
from rehabclaim.model import Visit

MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # an EMR export of a few thousand visits
REASON_LIMIT = 200  # characters of a validator's message kept
BILLED_STATUS = "completed"
GENDERS = {"female": "F", "male": "M", "other": "U", "unknown": "U"}
UCUM_MINUTES = {"min": 1, "h": 60}


class Unmapped(msgspec.Struct):
    """One thing in the Bundle that did not become part of a visit, and why."""

    resource_type: str
    resource_id: str | None
    path: str  # FHIRPath-like, from the resource: ``performedPeriod.end``, ``code.coding``
    reason: str
    visit: str | None = None  # the visit (Encounter) it concerns, when there is one


# --- validation ---------------------------------------------------------------------------------------


def parse_bundle(data: bytes) -> Any:
    """The Bundle in ``data`` as R4B models; InputError naming the entry, resource and path when the text
    is not JSON, not a Bundle, holds an unknown resource type or breaks an R4 rule the models check."""
    from fhir.resources.R4B.bundle import Bundle

    if len(data) > MAX_BUNDLE_BYTES:
        raise InputError("", f"the Bundle has {len(data):,} bytes; at most {MAX_BUNDLE_BYTES:,} are read")
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise InputError("", f"not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        raise InputError("resourceType", "expected a FHIR Bundle")
    listed = raw.get("entry")
    entries: list[Any] = listed if isinstance(listed, list) else []
    for number, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # an entry without a resource (a request, say): the models judge it
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        _check_resource_type(number, kind)
    try:
        return Bundle.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(exc, entries) from None


def _check_resource_type(number: int, kind: Any) -> None:
    """A resource type the R4B models know (an unknown one makes them raise KeyError, not a validation error)."""
    from fhir.resources.R4B import get_fhir_model_class

    where = f"entry[{number}].resource.resourceType"
    if not isinstance(kind, str):
        raise InputError(where, "missing: every resource names its type")
    try:
        get_fhir_model_class(kind)
    except (KeyError, AttributeError, ValueError):
        raise InputError(where, f"{quote(kind)} is not a FHIR R4 resource type") from None


def _invalid(error: ValidationError, entries: list[Any]) -> InputError:
    """The first validation error, naming the entry's resource (``Encounter/enc-1 (entry[3])``) and path."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    location = [part for part in first["loc"] if part != "root"]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    reason = str(first["msg"])[:REASON_LIMIT] + more
    if len(location) >= 3 and location[0] == "entry" and location[2] == "resource" and isinstance(location[1], int):
        number = location[1]
        resource = entries[number].get("resource", {}) if number < len(entries) else {}
        name = f"{resource.get('resourceType', '?')}/{str(resource.get('id', '?'))[:64]} (entry[{number}])"
        return InputError(f"{name} {_path(location[3:])}".strip(), reason)
    return InputError(f"Bundle {_path(location)}".strip(), reason)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


# --- the index of resources -----------------------------------------------------------------------------


class Resources:
    """The Bundle's resources by ``Type/id`` and by ``fullUrl``, and by type in Bundle order."""

    def __init__(self, bundle: Any) -> None:
        self.keyed: dict[str, Any] = {}
        self.by_type: dict[str, list[Any]] = {}
        for entry in bundle.entry or []:
            resource = entry.resource
            if resource is None:
                continue
            kind = resource.get_resource_type()
            self.by_type.setdefault(kind, []).append(resource)
            if resource.id:
                self.keyed[f"{kind}/{resource.id}"] = resource
            if entry.fullUrl:
                self.keyed[str(entry.fullUrl)] = resource

    def of_type(self, kind: str) -> list[Any]:
        return self.by_type.get(kind, [])

    def resolve(self, reference: Any) -> Any | None:
        """The resource a Reference points to in this Bundle (relative, absolute or urn:uuid); None if
        it is not here."""
        text = getattr(reference, "reference", None) if reference is not None else None
        if not text:
            return None
        found = self.keyed.get(str(text))
        if found is not None:
            return found
        parts = str(text).rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        return self.keyed.get("/".join(parts[-2:])) if len(parts) >= 2 else None


def name_of(resource: Any) -> tuple[str, str | None]:
    return resource.get_resource_type(), resource.id


# --- mapping --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Mapping:
    tables: FhirTables
    catalog: Catalog
    resources: Resources
    unmapped: list[Unmapped] = field(default_factory=list)
    visit: str | None = None  # the visit being mapped
    slots: list[ClinicianSlot] = field(default_factory=list)  # timed Procedures with a period and a performer
    patient: str | None = None  # the patient of the visit being mapped

    def report(self, resource: Any, path: str, reason: str) -> None:
        kind, ident = name_of(resource)
        self.unmapped.append(Unmapped(kind, ident, path, reason, self.visit))


@dataclass(slots=True)
class _Service:
    """One code's Procedures summed."""

    code: str
    timed: bool
    no_minutes_of_its_own: bool
    minutes: int = 0
    minutes_known: bool = True
    assistant_minutes: int = 0
    any_minutes: bool = False
    blocks: list[dict[str, str]] = field(default_factory=list)
    region: str | None = None
    by_assistant: list[bool] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Window:
    """The Encounter's period in its own UTC offset (``zone`` None when it gives only a date)."""

    day: date
    zone: tzinfo | None
    start: datetime | None
    end: datetime | None


class ClinicianOverlap(msgspec.Struct):
    """One clinician's one-on-one services for two different patients at the same time (reference
    documentation.md s. 5, derived check 1; fhir-therapy.md s. 4 rule 5). Under Medicare Part B the
    overlapping minutes are group therapy (97150), never two one-on-one services."""

    clinician: str  # the performer's NPI, else Practitioner/<id>
    visits: list[str]  # the two visits (Encounter ids), earlier start first
    codes: list[str]  # their codes, in the same order
    start: datetime  # the overlap, in the first visit's UTC offset
    end: datetime
    minutes: int
    message: str


@dataclass(frozen=True, slots=True)
class MappedBundle:
    visits: list[Visit]  # one per ambulatory Encounter, in Bundle order
    unmapped: list[Unmapped]  # in the order met
    overlaps: list[ClinicianOverlap]


def map_bundle(bundle: Any, catalog: Catalog) -> MappedBundle:
    """The visits of a parsed Bundle, what was not mapped, and each clinician's one-on-one time that
    overlaps across patients."""
    mapping = _Mapping(fhir_tables(), catalog, Resources(bundle))
    visits = [visit for encounter in mapping.resources.of_type("Encounter") if (visit := _visit(mapping, encounter))]
    mapping.visit = mapping.patient = None
    encounters = {id(encounter) for encounter in mapping.resources.of_type("Encounter")}
    for procedure in mapping.resources.of_type("Procedure"):
        if id(mapping.resources.resolve(procedure.encounter)) not in encounters:
            where = "is not in the Bundle" if procedure.encounter else "is missing"
            mapping.report(procedure, "encounter", f"its Encounter {where}: the Procedure belongs to no visit")
    imported = {visit.id for visit in visits}
    slots = [slot for slot in mapping.slots if slot.visit in imported]
    return MappedBundle(visits, mapping.unmapped, [_overlap(found) for found in clinician_overlaps(slots)])


def _overlap(found: SlotOverlap) -> ClinicianOverlap:
    first, second = found.first, found.second
    zone = first.start.tzinfo
    start, end = found.start.astimezone(zone), found.end.astimezone(zone)
    message = (
        f"clinician {first.clinician}: {first.code} in visit {first.visit} and {second.code} in visit "
        f"{second.visit} (different patients) overlap by {found.minutes} min ({start:%H:%M}-{end:%H:%M}): "
        "one-on-one time cannot be given to two patients at once; under Medicare Part B bill that time as "
        "group therapy (97150)"
    )
    return ClinicianOverlap(
        first.clinician, [first.visit, second.visit], [first.code, second.code], start, end, found.minutes, message
    )


def _visit(mapping: _Mapping, encounter: Any) -> Visit | None:
    mapping.visit = str(encounter.id or "")[:64] or None
    if not _billable_encounter(mapping, encounter):
        return None
    window = _window(mapping, encounter)
    patient = mapping.resources.resolve(encounter.subject)
    if patient is None or patient.get_resource_type() != "Patient":
        mapping.report(encounter, "subject", "no Patient in the Bundle: the visit is not imported")
        return None
    mapping.patient = str(patient.id)[:64] if patient.id else None
    coverage = _coverage(mapping, encounter, patient, window)
    payer = _payer(mapping, coverage) if coverage is not None else None
    discipline = _discipline(mapping, encounter)
    services = _services(mapping, encounter, window)
    if window is None or payer is None or discipline is None or not services:
        if not services:
            mapping.report(encounter, "id", "no completed Procedure with a known code: nothing to bill")
        return None
    raw: dict[str, Any] = {
        "id": mapping.visit,
        "date": window.day,
        "payer": payer,
        "discipline": discipline,
        "services": [_service_fields(service) for service in services],
        "diagnoses": _diagnoses(mapping, encounter),
        "patient": _patient(mapping, patient, coverage),
    }
    if all(all(service.by_assistant) and service.by_assistant for service in services):
        raw["rendered_by"] = "assistant"
        for fields in raw["services"]:
            fields.pop("assistant_minutes", None)
    place = _place_of_service(mapping, encounter)
    if place:
        raw["place_of_service"] = place
    rendering = _rendering_provider(mapping, encounter)
    if rendering:
        raw["rendering_provider"] = rendering
    return _checked(mapping, encounter, raw)


def _checked(mapping: _Mapping, encounter: Any, raw: dict[str, Any]) -> Visit | None:
    """The visit, if our contract and catalog accept what was mapped; else one item naming the field."""
    try:
        visit = msgspec.convert(raw, Visit)
        build_lines(visit.services, mapping.catalog)
    except msgspec.ValidationError as exc:
        path, reason = validation_field(str(exc))
        mapping.report(encounter, "id", f"the mapped visit is refused: {path}: {short_reason(reason)}")
        return None
    except InputError as exc:
        mapping.report(encounter, "id", f"the mapped visit is refused: {exc}")
        return None
    return visit


def _billable_encounter(mapping: _Mapping, encounter: Any) -> bool:
    if not encounter.id:
        mapping.report(encounter, "id", "an Encounter without an id cannot be a visit")
        return False
    kind = encounter.class_fhir
    if kind is None or not (mapping.tables.is_system("act_code", kind.system) and kind.code == "AMB"):
        code = quote(kind.code) if kind is not None and kind.code else "none"
        system = str(kind.system) if kind is not None and kind.system else "no system"
        reason = f"class {code} ({system}) is not v3-ActCode AMB (ambulatory): not an outpatient visit"
        mapping.report(encounter, "class", reason)
        return False
    if encounter.status != "finished":
        mapping.report(encounter, "status", f"status {encounter.status} is not finished: not billed yet")
        return False
    return True


def _window(mapping: _Mapping, encounter: Any) -> _Window | None:
    period = encounter.period
    start = period.start if period is not None else None
    if isinstance(start, datetime):
        end = period.end if isinstance(period.end, datetime) else None
        return _Window(start.date(), start.tzinfo, start, end.astimezone(start.tzinfo) if end else None)
    if isinstance(start, date):
        return _Window(start, None, None, None)
    reason = "no period.start: the date of service is unknown" if start is None else "period.start is not a full date"
    mapping.report(encounter, "period.start", reason)
    return None


# --- services -------------------------------------------------------------------------------------------


def _services(mapping: _Mapping, encounter: Any, window: _Window | None) -> list[_Service]:
    by_code: dict[str, _Service] = {}
    for procedure in mapping.resources.of_type("Procedure"):
        if mapping.resources.resolve(procedure.encounter) is not encounter:
            continue
        if procedure.status != BILLED_STATUS:
            mapping.report(procedure, "status", f"status {procedure.status}: only completed Procedures are billed")
            continue
        code = _procedure_code(mapping, procedure)
        if code is None:
            continue
        known = mapping.catalog.get(code)
        assert known is not None
        service = by_code.get(known.code)
        if service is None:
            lone_addon = known.is_addon and not known.timed
            service = by_code[known.code] = _Service(known.code, known.timed and known.therapy, lone_addon)
        _add_procedure(mapping, service, procedure, window)
    return list(by_code.values())


def _procedure_code(mapping: _Mapping, procedure: Any) -> str | None:
    codings = procedure.code.coding or [] if procedure.code is not None else []
    for coding in codings:
        if mapping.tables.is_system("cpt", coding.system) or mapping.tables.is_system("hcpcs", coding.system):
            if coding.code and mapping.catalog.get(coding.code) is not None:
                return str(coding.code)
            mapping.report(procedure, "code.coding", f"unknown code {quote(coding.code or '')}: not billed")
            return None
    systems = sorted({str(coding.system) for coding in codings if coding.system}) or ["none"]
    mapping.report(procedure, "code.coding", f"no CPT or HCPCS coding (systems: {', '.join(systems)}): not billed")
    return None


def _add_procedure(mapping: _Mapping, service: _Service, procedure: Any, window: _Window | None) -> None:
    by_assistant = _performed_by_assistant(mapping, procedure)
    service.by_assistant.append(by_assistant)
    region = procedure.bodySite[0].text if procedure.bodySite else None
    if region and not service.region:
        service.region = str(region).strip()
    if service.no_minutes_of_its_own:
        return  # an add-on such as 0770T: its period is the base code's time, never minutes of its own
    timed = _procedure_minutes(mapping, procedure, window, service.timed)
    if timed is None:
        service.minutes_known = False
        return
    minutes, block = timed
    service.minutes += minutes
    service.any_minutes = True
    if by_assistant:
        service.assistant_minutes += minutes
    if block is not None:
        service.blocks.append(block)
    if service.timed:
        _record_slots(mapping, service.code, procedure, window)


def _record_slots(mapping: _Mapping, code: str, procedure: Any, window: _Window | None) -> None:
    """The Procedure's period (in the visit's UTC offset) once for each performer, for the check across
    patients (``overlaps``). Called only for a period whose minutes were counted."""
    period = procedure.performedPeriod
    if period is None or not isinstance(period.start, datetime) or not isinstance(period.end, datetime):
        return
    if mapping.visit is None or mapping.patient is None:
        return
    zone = window.zone if window is not None and window.zone is not None else period.start.tzinfo
    start, end = period.start.astimezone(zone), period.end.astimezone(zone)
    for performer in procedure.performer or []:
        clinician = _clinician_key(mapping, performer.actor)
        if clinician is not None:
            mapping.slots.append(ClinicianSlot(clinician, mapping.patient, mapping.visit, code, start, end))


def _clinician_key(mapping: _Mapping, reference: Any) -> str | None:
    """The performer's NPI, else ``Practitioner/<id>``: who, never a name."""
    _, practitioner = _role(mapping, reference)
    if practitioner is None or practitioner.get_resource_type() != "Practitioner":
        return None
    for identifier in practitioner.identifier or []:
        if mapping.tables.is_system("npi", identifier.system) and identifier.value:
            return str(identifier.value)
    return f"Practitioner/{practitioner.id}" if practitioner.id else None


def _procedure_minutes(
    mapping: _Mapping, procedure: Any, window: _Window | None, timed: bool
) -> tuple[int, dict[str, str] | None] | None:
    """Minutes and the clock interval of one Procedure; None (reported for a timed code) when unknown."""
    period = procedure.performedPeriod
    if period is not None and isinstance(period.start, datetime) and isinstance(period.end, datetime):
        return _period_minutes(mapping, procedure, window, period.start, period.end)
    extension = _extension_minutes(mapping, procedure)
    if extension is not None:
        return extension, None
    if not timed:
        return None
    if period is not None:
        path, reason = "performedPeriod", "needs a start and an end with times of day"
    elif procedure.performedDateTime is not None:
        path, reason = "performedDateTime", "a single time gives no minutes (performedPeriod start and end needed)"
    else:
        path, reason = "performed[x]", "no performed time"
    mapping.report(procedure, path, f"{reason}: minutes unknown, the code's units are not counted")
    return None


def _period_minutes(
    mapping: _Mapping, procedure: Any, window: _Window | None, start: datetime, end: datetime
) -> tuple[int, dict[str, str] | None] | None:
    zone = window.zone if window is not None and window.zone is not None else start.tzinfo
    start, end = start.astimezone(zone), end.astimezone(zone)
    if end < start:
        mapping.report(procedure, "performedPeriod", "ends before it starts: minutes not counted")
        return None
    if window is not None and not _inside(window, start, end):
        mapping.report(
            procedure,
            "performedPeriod",
            f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} is outside its Encounter's period: minutes not counted",
        )
        return None
    minutes = int((end - start) // timedelta(minutes=1))
    block = {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"} if end.date() == start.date() and end > start else None
    if block is not None and block["end"] <= block["start"]:
        block = None  # under a minute: no clock interval to show
    return minutes, block


def _inside(window: _Window, start: datetime, end: datetime) -> bool:
    if window.start is None:
        return start.date() == window.day and end.date() == window.day
    if start < window.start:
        return False
    return end.date() == window.day if window.end is None else end <= window.end


def _extension_minutes(mapping: _Mapping, procedure: Any) -> int | None:
    for extension in procedure.extension or []:
        if extension.url not in mapping.tables.minutes_extensions:
            continue
        duration = extension.valueDuration
        factor = UCUM_MINUTES.get(str(duration.code)) if duration is not None else None
        if duration is None or duration.value is None or factor is None:
            mapping.report(procedure, "extension.valueDuration", "minutes extension without a UCUM min or h value")
            return None
        return int(duration.value * factor)
    return None


def _performed_by_assistant(mapping: _Mapping, procedure: Any) -> bool:
    roles = [_role(mapping, performer.actor)[0] for performer in procedure.performer or []]
    known = [role for role in roles if role is not None]
    return bool(known) and all(role.assistant for role in known)


def _service_fields(service: _Service) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": service.code}
    if service.any_minutes and (service.minutes_known or not service.timed):
        fields["minutes"] = service.minutes
        if service.assistant_minutes:
            fields["assistant_minutes"] = service.assistant_minutes
        if service.blocks:
            fields["time_blocks"] = service.blocks
    if service.region:
        fields["body_region"] = service.region
    return fields


# --- who: discipline, assistants, rendering provider -------------------------------------------------------


def _role(mapping: _Mapping, reference: Any) -> tuple[Role | None, Any | None]:
    """The role a Practitioner or PractitionerRole plays (by NUCC code or its whole text), and the
    Practitioner."""
    resource = mapping.resources.resolve(reference)
    if resource is None:
        return None, None
    kind = resource.get_resource_type()
    if kind == "PractitionerRole":
        concepts = [*(resource.code or []), *(resource.specialty or [])]
        return _role_of(mapping.tables, concepts), mapping.resources.resolve(resource.practitioner)
    if kind == "Practitioner":
        concepts = [qualification.code for qualification in resource.qualification or []]
        return _role_of(mapping.tables, concepts), resource
    return None, None


def _role_of(tables: FhirTables, concepts: Iterable[Any]) -> Role | None:
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.code in tables.role_codes and coding.system in (None, *tables.systems["provider_taxonomy"]):
                return tables.role_codes[coding.code]
        for text in (concept.text, *(coding.display for coding in concept.coding or [])):
            if text and text.strip().lower() in tables.role_texts:
                return tables.role_texts[text.strip().lower()]
    return None


def _discipline(mapping: _Mapping, encounter: Any) -> str | None:
    service_type = encounter.serviceType
    for coding in service_type.coding or [] if service_type is not None else []:
        if mapping.tables.is_system("service_type", coding.system) and coding.code in mapping.tables.service_types:
            return mapping.tables.service_types[coding.code]
    disciplines = {role.discipline for role, _ in _participants(mapping, encounter) if role is not None}
    if len(disciplines) == 1:
        return disciplines.pop()
    why = "roles of several disciplines" if disciplines else "no role with a known discipline"
    mapping.report(
        encounter, "serviceType", f"no service-type 65, 61 or 68, and the participants have {why}: no discipline"
    )
    return None


def _participants(mapping: _Mapping, encounter: Any) -> Iterator[tuple[Role | None, Any | None]]:
    for participant in encounter.participant or []:
        yield _role(mapping, participant.individual)


def _rendering_provider(mapping: _Mapping, encounter: Any) -> dict[str, str] | None:
    """The first participant who is not an assistant, with an NPI and a name."""
    for role, practitioner in _participants(mapping, encounter):
        if practitioner is None or (role is not None and role.assistant):
            continue
        npi = next(
            (i.value for i in practitioner.identifier or [] if mapping.tables.is_system("npi", i.system) and i.value),
            None,
        )
        if npi is None:
            mapping.report(practitioner, "identifier", "no NPI (us-npi): no rendering provider")
            continue
        name = practitioner.name[0] if practitioner.name else None
        if name is None or not name.family or not name.given:
            mapping.report(practitioner, "name", "no family and given name: no rendering provider")
            continue
        return {"npi": str(npi), "first_name": str(name.given[0]), "last_name": str(name.family)}
    return None


def _place_of_service(mapping: _Mapping, encounter: Any) -> str | None:
    for place in encounter.location or []:
        location = mapping.resources.resolve(place.location)
        for concept in (location.type or []) if location is not None else []:
            for coding in concept.coding or []:
                if mapping.tables.is_system("place_of_service", coding.system) and coding.code:
                    return str(coding.code)
    return None


# --- diagnoses ------------------------------------------------------------------------------------------


def _diagnoses(mapping: _Mapping, encounter: Any) -> list[str]:
    """ICD-10-CM codes in billing order: ``Encounter.diagnosis`` by rank (unranked after, in order), then
    the encounter-diagnosis Conditions that point to the Encounter and are not listed."""
    listed = sorted(
        enumerate(encounter.diagnosis or []),
        key=lambda pair: (pair[1].rank is None, pair[1].rank or 0, pair[0]),
    )
    conditions = [mapping.resources.resolve(item.condition) for _, item in listed]
    for (number, _), condition in zip(listed, conditions, strict=True):
        if condition is None:
            mapping.report(encounter, f"diagnosis[{number}].condition", "the Condition is not in the Bundle")
    listed_ids = {id(condition) for condition in conditions}
    for condition in mapping.resources.of_type("Condition"):
        mine = mapping.resources.resolve(condition.encounter) is encounter and id(condition) not in listed_ids
        if mine and _is_encounter_diagnosis(mapping, condition):
            conditions.append(condition)
    codes: list[str] = []
    for condition in conditions:
        code = _icd10(mapping, condition) if condition is not None else None
        if code and code not in codes:
            codes.append(code)
    return codes


def _is_encounter_diagnosis(mapping: _Mapping, condition: Any) -> bool:
    return any(
        mapping.tables.is_system("condition_category", coding.system) and coding.code == "encounter-diagnosis"
        for category in condition.category or []
        for coding in category.coding or []
    )


def _icd10(mapping: _Mapping, condition: Any) -> str | None:
    status = condition.verificationStatus
    codes = {coding.code for coding in status.coding or []} if status is not None else set()
    if codes & {"entered-in-error", "refuted"}:
        mapping.report(condition, "verificationStatus", f"{', '.join(sorted(codes))}: not a diagnosis to bill")
        return None
    for coding in condition.code.coding or [] if condition.code is not None else []:
        if mapping.tables.is_system("icd10cm", coding.system) and coding.code:
            return str(coding.code).strip().upper()
    mapping.report(condition, "code.coding", "no ICD-10-CM coding: the diagnosis is not on the claim")
    return None


# --- payer and patient ----------------------------------------------------------------------------------


def _coverage(mapping: _Mapping, encounter: Any, patient: Any, window: _Window | None) -> Any | None:
    """The patient's active Coverage in force on the date, lowest ``order`` first."""
    found = []
    for coverage in mapping.resources.of_type("Coverage"):
        if mapping.resources.resolve(coverage.beneficiary) is not patient:
            continue
        if coverage.status != "active":
            mapping.report(coverage, "status", f"status {coverage.status}: not used")
        elif window is not None and not _covers(coverage.period, window.day):
            mapping.report(coverage, "period", f"does not cover the visit's date {window.day}: not used")
        else:
            found.append(coverage)
    if not found:
        mapping.report(encounter, "subject", "no active Coverage of the patient on the date: no payer")
        return None
    return min(found, key=lambda coverage: coverage.order if coverage.order is not None else 10**9)


def _covers(period: Any, day: date) -> bool:
    def day_of(value: Any) -> date | None:
        return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None

    start, end = (day_of(period.start), day_of(period.end)) if period is not None else (None, None)
    return (start is None or start <= day) and (end is None or day <= end)


def _payer(mapping: _Mapping, coverage: Any) -> str | None:
    """Our payer key: the Source of Payment Typology's (121 -> medicare), else the payor's name, else its
    reference's display, else its identifier's value, lower-cased."""
    for coding in coverage.type.coding or [] if coverage.type is not None else []:
        if mapping.tables.is_system("payer_type", coding.system) and coding.code in mapping.tables.payer_types:
            return mapping.tables.payer_types[coding.code]
    for payor in coverage.payor or []:
        organization = mapping.resources.resolve(payor)
        name = getattr(organization, "name", None) or payor.display
        name = name or (payor.identifier.value if payor.identifier is not None else None)
        if name and len(str(name).strip()) <= 64:
            return str(name).strip().lower()
    mapping.report(coverage, "payor", "no payor name, display or identifier of at most 64 characters: no payer")
    return None


def _member_id(mapping: _Mapping, coverage: Any) -> str | None:
    if coverage.subscriberId:
        return str(coverage.subscriberId)
    for identifier in coverage.identifier or []:
        codings = identifier.type.coding or [] if identifier.type is not None else []
        if any(mapping.tables.is_system("member_id_type", c.system) and c.code == "MB" for c in codings):
            return str(identifier.value) if identifier.value else None
    mapping.report(coverage, "subscriberId", "no member id (subscriberId or identifier of type MB)")
    return None


def _patient(mapping: _Mapping, patient: Any, coverage: Any | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": str(patient.id)[:64] if patient.id else None}
    names = patient.name or []
    name = next((n for n in names if n.use == "official"), names[0] if names else None)
    if name is not None:
        fields["first_name"] = str(name.given[0]) if name.given else None
        fields["last_name"] = str(name.family) if name.family else None
    if isinstance(patient.birthDate, date):
        fields["birth_date"] = patient.birthDate
    elif patient.birthDate is not None:
        mapping.report(patient, "birthDate", "not a full date: the birth date is left out")
    if patient.gender:
        fields["sex"] = GENDERS.get(str(patient.gender), "U")
    address = _address(mapping, patient)
    if address:
        fields["address"] = address
    if coverage is not None:
        if coverage.relationship is not None and not any(c.code == "self" for c in coverage.relationship.coding or []):
            mapping.report(coverage, "relationship", "the subscriber is not the patient: subscriber not imported")
        fields["member_id"] = _member_id(mapping, coverage)
    return {key: value for key, value in fields.items() if value is not None}


def _address(mapping: _Mapping, patient: Any) -> dict[str, str] | None:
    addresses = patient.address or []
    address = next((a for a in addresses if a.use == "home"), addresses[0] if addresses else None)
    if address is None:
        return None
    lines = [str(line) for line in address.line or []]
    state = str(address.state or "").strip().upper()
    zip_code = str(address.postalCode or "").replace("-", "").strip()
    if not lines or not address.city or len(state) != 2 or not zip_code.isdigit() or len(zip_code) not in (5, 9):
        mapping.report(patient, "address", "needs a line, a city, a 2-letter state and a 5 or 9 digit ZIP: left out")
        return None
    fields = {"line1": lines[0], "city": str(address.city), "state": state, "zip": zip_code}
    if len(lines) > 1:
        fields["line2"] = lines[1]
    return fields
