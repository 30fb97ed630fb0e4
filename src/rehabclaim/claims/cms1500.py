"""The same claim as CMS-1500 (02/12) data for paper payers: JSON keyed by the form's item numbers."""

from __future__ import annotations

from typing import Any

from rehabclaim.practice import ClaimSettings
from rehabclaim.x12.claim837 import Claim, Person

LETTERS = "ABCDEFGHIJKL"  # item 21 diagnosis slots
INSURANCE_TYPE = {"MB": "Medicare", "MC": "Medicaid"}


def _name(person: Person) -> str:
    return f"{person.last_name}, {person.first_name}"


def _address(person: Person) -> dict[str, str]:
    a = person.address
    return {"street": a.line1 + (f" {a.line2}" if a.line2 else ""), "city": a.city, "state": a.state, "zip": a.zip}


def cms1500(claim: Claim, settings: ClaimSettings) -> dict[str, Any]:
    patient = claim.patient or claim.subscriber
    insured = claim.subscriber
    provider = settings.billing_provider
    return {
        "1": INSURANCE_TYPE.get(claim.payer.filing_indicator, "Group Health Plan"),
        "1a": insured.member_id,
        "2": _name(patient),
        "3": {"birth_date": patient.birth_date.isoformat(), "sex": patient.sex},
        "4": _name(insured),
        "5": _address(patient),
        "6": "Self"
        if claim.patient is None
        else {"01": "Spouse", "19": "Child"}.get(claim.patient_relationship or "", "Other"),
        "7": _address(insured),
        "11": {"payer": claim.payer.name, "payer_id": claim.payer.id},
        "21": {"icd_indicator": "0", **{LETTERS[i]: code for i, code in enumerate(claim.diagnoses)}},
        "22": {"resubmission_code": claim.frequency, "original_ref": claim.payer_claim_control_number}
        if claim.frequency != "1"
        else None,
        "23": claim.prior_authorization,
        "24": [
            {
                "A": {"from": line.service_date.isoformat(), "to": line.service_date.isoformat()},
                "B": claim.place_of_service,
                "D": {"code": line.code, "modifiers": list(line.modifiers)},
                "E": "".join(LETTERS[p - 1] for p in line.pointers),
                "F": float(line.charge),
                "G": line.units,
                "J": claim.rendering_provider.npi if claim.rendering_provider else provider.npi,
            }
            for line in claim.lines
        ],
        "25": {"ein": provider.tax_id},
        "26": claim.control_number,
        "27": True,
        "28": float(claim.total_charge),
        "31": "Signature on file",
        "32": {"name": provider.name, "address": provider.address.line1},
        "33": {
            "name": provider.name,
            "address": provider.address.line1,
            "city": provider.address.city,
            "state": provider.address.state,
            "zip": provider.address.zip,
            "npi": provider.npi,
        },
    }
