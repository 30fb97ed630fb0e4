"""The practice: where it is paid (MAC and locality), its setting, QP status and charge master, and what
its claims need (billing provider, submitter, receiver, payer ids, X12 separators).

``data/practice-demo.toml`` is the bundled demo practice, used when no ``--practice FILE`` is given. The
file is validated on load (UTF-8 text; charges finite, never negative, by plain HCPCS/CPT code; a locality
as the GPCI file writes it); an error names the file, the line and the field.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from rehabclaim.cms.pfs import LOCALITY_NUMBER, MAC
from rehabclaim.datafiles import check_toml_codes, check_toml_number, convert_toml, read_utf8, toml_field_error


class Locality(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mac: str
    number: str


class PracticeAddress(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    line1: str
    city: str
    state: str
    zip: str  # nine digits for the billing provider (837P 2010AA N403)
    line2: str | None = None


class BillingProviderSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    npi: str
    tax_id: str
    address: PracticeAddress
    taxonomy: str | None = None  # e.g. 225100000X physical therapist


class SubmitterSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    id: str
    contact_name: str
    phone: str


class ReceiverSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    id: str


class PayerIdSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    id: str
    filing_indicator: str  # 837P SBR09: MB Medicare Part B, MC Medicaid, CI commercial, HM HMO, ...


class SeparatorSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"


class ClaimSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    sender_id: str  # ISA06/GS02
    receiver_id: str  # ISA08/GS03
    billing_provider: BillingProviderSettings
    submitter: SubmitterSettings
    receiver: ReceiverSettings
    payers: dict[str, PayerIdSettings] = {}  # by payer key, as on visits
    usage: Literal["P", "T"] = "P"  # ISA15: production or test
    separators: SeparatorSettings = SeparatorSettings()


class Practice(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    locality: Locality
    setting: Literal["non-facility", "facility"] = "non-facility"
    qualifying_apm_participant: bool = False
    charges: dict[str, Decimal] = {}
    claims: ClaimSettings | None = None
    origin: str = ""


def load_practice(path: Path | None = None) -> Practice:
    """The practice in ``path`` (the demo when None); an unreadable or bad file raises DataFileError."""
    if path is None:
        return demo_practice()
    return parse_practice(read_utf8(path), str(path))


def parse_practice(text: str, origin: str) -> Practice:
    practice = convert_toml(text, Practice, origin)
    locality = practice.locality
    if not MAC.fullmatch(locality.mac):
        raise toml_field_error(origin, text, "locality.mac", "must be 5 digits, as in the GPCI file")
    if not LOCALITY_NUMBER.fullmatch(locality.number):
        raise toml_field_error(origin, text, "locality.number", "must be 1 or 2 digits, as in the GPCI file")
    check_toml_codes(practice.charges, origin, text, "charges")
    for code, amount in practice.charges.items():
        check_toml_number(amount, origin, text, f"charges.{code}")
    return msgspec.structs.replace(practice, origin=origin)


def demo_practice() -> Practice:
    """The bundled demo practice, read now (``load_reference`` keeps it: no module cache)."""
    raw = resources.files("rehabclaim.data").joinpath("practice-demo.toml").read_bytes()
    return parse_practice(raw.decode("utf-8"), "practice-demo.toml")
