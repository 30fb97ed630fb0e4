"""A scrubbed visit as a FHIR R4 ``Claim`` (reference fhir-therapy.md s. 5), for integrators.

Field by field it mirrors the 837P the engine writes: items are the scrub's lines with units (SV1:
``productOrService`` CPT or HCPCS, modifiers, ``quantity`` = units, ``unitPrice`` and ``net`` from the
practice's charge, ``servicedDate``, place of service), ``diagnosis`` the visit's ICD-10-CM codes in order
(HI; each item points to the diagnoses its services name, or else to the first four, as SV107 does:
``claims.build.line_pointers``), ``insurance`` the payer and member id (SBR/2010BB).
The Claim is self-contained: the Patient, the Coverage and the billing provider (an Organization with the
practice's NPI) are ``contained`` resources. Every Claim is checked by parsing it with the R4B models
before it is returned.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from rehabclaim.catalog import Catalog
from rehabclaim.claims.build import line_pointers
from rehabclaim.diagnoses.icd10 import normalize, with_dot
from rehabclaim.fhir import FhirTables, fhir_tables
from rehabclaim.model import Line, Patient, ScrubResult, Visit
from rehabclaim.practice import ClaimSettings

MAX_POINTERS = 4  # as the 837P's SV107
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
VISIT_ID_SYSTEM = "https://rehabclaim.example/fhir/visit-id"  # the project's own identifier system
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
GENDERS = {"F": "female", "M": "male", "U": "unknown"}
CURRENCY = "USD"
RELATIONSHIPS = {"01": "spouse", "19": "child"}  # X12 PAT01 -> subscriber-relationship; the rest "other"


def claim_json(
    visit: Visit, result: ScrubResult, *, catalog: Catalog, settings: ClaimSettings | None, created: date
) -> dict[str, Any]:
    """The Claim for ``visit`` and its scrub ``result`` as a JSON object (dict); lines without units are
    left out, as on the 837P."""
    tables = fhir_tables()
    diagnoses = [with_dot(normalize(code)) for code in visit.diagnoses]
    items = [
        _item(tables, catalog, visit, line, _pointers(visit, line), number)
        for number, line in enumerate((line for line in result.lines if line.units > 0), start=1)
    ]
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "contained": [
            _patient(visit.patient, visit.id),
            _coverage(visit, result.payer, settings),
            _provider(tables, settings),
        ],
        "identifier": [{"system": VISIT_ID_SYSTEM, "value": visit.id}],
        "status": "active",
        "type": {"coding": [{"system": CLAIM_TYPE, "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": "#patient"},
        "billablePeriod": {"start": visit.date.isoformat(), "end": visit.date.isoformat()},
        "created": created.isoformat(),
        "provider": {"reference": "#provider"},
        "priority": {"coding": [{"system": PRIORITY, "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "#coverage"}}],
    }
    if FHIR_ID.match(visit.id):
        claim = {"resourceType": "Claim", "id": visit.id, **{k: v for k, v in claim.items() if k != "resourceType"}}
    if diagnoses:
        claim["diagnosis"] = [
            {
                "sequence": number,
                "diagnosisCodeableConcept": {"coding": [{"system": tables.system("icd10cm"), "code": code}]},
            }
            for number, code in enumerate(diagnoses, start=1)
        ]
    if items:
        claim["item"] = items
    charges = [line.charge for line in result.lines if line.units > 0]
    if charges and all(charge is not None for charge in charges):
        claim["total"] = _money(sum((Decimal(str(charge)) for charge in charges), Decimal(0)))
    return claim


def _pointers(visit: Visit, line: Line) -> list[int]:
    """``diagnosisSequence``: the SV107 pointers of the line; a service naming a diagnosis the visit does not
    list (the claim rules refuse such a claim, the FHIR export still answers) points to the first four."""
    diagnoses = tuple(normalize(code) for code in visit.diagnoses)
    try:
        return list(line_pointers(visit, line, diagnoses))
    except ValueError:
        return list(range(1, min(len(diagnoses), MAX_POINTERS) + 1))


def _item(
    tables: FhirTables, catalog: Catalog, visit: Visit, line: Line, pointers: list[int], number: int
) -> dict[str, Any]:
    code, modifiers, units, charge = line.code, line.modifiers, line.units, line.charge
    item: dict[str, Any] = {"sequence": number}
    if pointers:
        item["diagnosisSequence"] = pointers
    item["productOrService"] = {"coding": [{"system": _code_system(tables, catalog, code), "code": code}]}
    if modifiers:
        item["modifier"] = [{"coding": [{"system": _modifier_system(tables, m), "code": m}]} for m in modifiers]
    item["servicedDate"] = visit.date.isoformat()
    place = visit.place_of_service or "11"
    item["locationCodeableConcept"] = {"coding": [{"system": tables.system("place_of_service"), "code": place}]}
    item["quantity"] = {"value": units}
    if charge is not None:
        total = Decimal(str(charge))
        item["unitPrice"] = _money(total / units)
        item["net"] = _money(total)
    return item


def _code_system(tables: FhirTables, catalog: Catalog, code: str) -> str:
    """CPT (Category I and III) or HCPCS Level II, by the catalog's kind of the code."""
    known = catalog.get(code)
    return tables.system("hcpcs") if known is not None and known.kind == "HCPCS" else tables.system("cpt")


def _modifier_system(tables: FhirTables, modifier: str) -> str:
    """Two-digit modifiers (59, 95) are CPT's; letter modifiers (GP, CQ, KX, XE) HCPCS Level II's."""
    return tables.system("cpt") if modifier.isdigit() else tables.system("hcpcs")


def _money(amount: Decimal) -> dict[str, Any]:
    return {"value": float(amount.quantize(Decimal("0.01"))), "currency": CURRENCY}


def _patient(patient: Patient | None, visit_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    if patient is None:
        return resource
    if patient.id:
        resource["identifier"] = [{"system": "https://rehabclaim.example/fhir/patient-id", "value": patient.id}]
    if patient.last_name or patient.first_name:
        name: dict[str, Any] = {}
        if patient.last_name:
            name["family"] = patient.last_name
        if patient.first_name:
            name["given"] = [patient.first_name]
        resource["name"] = [name]
    if patient.sex:
        resource["gender"] = GENDERS[patient.sex]
    if patient.birth_date:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.address:
        address = patient.address
        resource["address"] = [
            {
                "line": [line for line in (address.line1, address.line2) if line],
                "city": address.city,
                "state": address.state,
                "postalCode": address.zip,
            }
        ]
    return resource


def _coverage(visit: Visit, payer: str, settings: ClaimSettings | None) -> dict[str, Any]:
    ids = settings.payers.get(payer) if settings is not None else None
    payor: dict[str, Any] = {"display": ids.name if ids is not None else payer}
    if ids is not None:
        payor["identifier"] = {"value": ids.id}
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": "coverage",
        "status": "active",
        "beneficiary": {"reference": "#patient"},
        "payor": [payor],
    }
    member = visit.subscriber.member_id if visit.subscriber else visit.patient.member_id if visit.patient else None
    if member:
        coverage["subscriberId"] = member
    relationship = "self" if visit.subscriber is None else RELATIONSHIPS.get(visit.subscriber.relationship, "other")
    coverage["relationship"] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": relationship}]
    }
    return coverage


def _provider(tables: FhirTables, settings: ClaimSettings | None) -> dict[str, Any]:
    organization: dict[str, Any] = {"resourceType": "Organization", "id": "provider"}
    if settings is not None:
        billing = settings.billing_provider
        organization["identifier"] = [{"system": tables.system("npi"), "value": billing.npi}]
        organization["name"] = billing.name
    return organization


def checked_claim(claim: dict[str, Any]) -> dict[str, Any]:
    """``claim`` once the R4B models accept it (a ValidationError here is a bug: the engine built it)."""
    from fhir.resources.R4B.claim import Claim

    Claim.model_validate(claim)
    return claim


def claims_bundle(claims: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``collection`` Bundle of Claims, checked by the R4B models."""
    from fhir.resources.R4B.bundle import Bundle

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": claim} for claim in claims]}
    Bundle.model_validate(bundle)
    return bundle
