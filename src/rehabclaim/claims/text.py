"""Visit and practice text as it goes into 837P elements, and the field each element comes from.

Names and addresses are written in plain ASCII: letters with accents lose them (José Núñez -> JOSE NUNEZ),
typographic quotes and dashes become their ASCII forms, outer spaces go. That is a transliteration the
claim-data rule X007 reports (info), since the 5010 character sets hold no other letters; a character
with no plain form (ø, Ł, CJK...) is refused, like every other value that would not fit its element
(rule X006). Identifiers (visit id, member id, authorization and payer claim numbers, NPI, place of
service, diagnoses) are never changed: a bad one is refused, since a changed identifier would not match.

``claim_fields`` lists, for a visit, every value the builder writes from it with the field's path in the
visit (``patient.last_name``) and the element it fills (``NM103``), so the rule checks exactly what the
builder writes; ``practice_fields`` does the same for the practice file's [claims] section.
(Performance: this runs for every visit a claim is made of, hence plain tuples and lists.)
"""

from __future__ import annotations

import unicodedata

from rehabclaim.diagnoses.icd10 import normalize
from rehabclaim.model import Address, Patient, Subscriber, Visit
from rehabclaim.practice import ClaimSettings

TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-"})
NO_BREAK_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " "})


def plain(value: str) -> str:
    """``value`` in plain ASCII where it has a plain form (see the module), outer spaces dropped; any other
    character is kept, for the element check to refuse."""
    if value.isascii():
        return value.strip()
    decomposed = unicodedata.normalize("NFKD", value.translate(TYPOGRAPHIC).translate(NO_BREAK_SPACES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def name(value: str) -> str:
    """A person's name as an 837P carries it: plain, upper case."""
    return plain(value).upper()


ClaimField = tuple[str, str, str, bool]  # path in the visit or practice file, element, value as written, changed
# (the path: patient.last_name, claims.billing_provider.name; the element: NM103; changed: transliterated,
# not merely trimmed or upper-cased). Plain tuples, built for every visit a claim is made of.


def _text(path: str, reference: str, raw: str, upper: bool = False) -> ClaimField:
    written = name(raw) if upper else plain(raw)
    if raw.isascii():
        return (path, reference, written, False)
    return (path, reference, written, written != (raw.strip().upper() if upper else raw.strip()))


def _address(path: str, address: Address) -> list[ClaimField]:
    found = [_text(f"{path}.line1", "N301", address.line1)]
    if address.line2:
        found.append(_text(f"{path}.line2", "N302", address.line2))
    found += [
        _text(f"{path}.city", "N401", address.city),
        (f"{path}.state", "N402", address.state, False),
        (f"{path}.zip", "N403", address.zip, False),
    ]
    return found


def _person(path: str, who: Patient | Subscriber, member_id: bool) -> list[ClaimField]:
    found = []
    if who.last_name is not None:
        found.append(_text(f"{path}.last_name", "NM103", who.last_name, upper=True))
    if who.first_name is not None:
        found.append(_text(f"{path}.first_name", "NM104", who.first_name, upper=True))
    if member_id and who.member_id is not None:
        found.append((f"{path}.member_id", "NM109", who.member_id, False))
    if who.address is not None:
        found += _address(f"{path}.address", who.address)
    return found


def claim_fields(visit: Visit) -> list[ClaimField]:
    """Every value the builder writes from ``visit``, with its path and element (see the module)."""
    found: list[ClaimField] = [("id", "CLM01", visit.id, False)]
    if visit.subscriber is not None:
        found += _person("subscriber", visit.subscriber, member_id=True)
        found.append(("subscriber.relationship", "PAT01", visit.subscriber.relationship, False))
    if visit.patient is not None:
        found += _person("patient", visit.patient, member_id=visit.subscriber is None)
    if visit.place_of_service is not None:
        found.append(("place_of_service", "CLM05-01", visit.place_of_service, False))
    if visit.payer_claim_control_number:
        found.append(("payer_claim_control_number", "REF02", visit.payer_claim_control_number, False))
    if visit.authorization is not None and visit.authorization.number:
        found.append(("authorization.number", "REF02", visit.authorization.number, False))
    found += [(f"diagnoses[{i}]", "HI01-02", normalize(code), False) for i, code in enumerate(visit.diagnoses)]
    rendering = visit.rendering_provider
    if rendering is not None:
        found += [
            _text("rendering_provider.last_name", "NM103", rendering.last_name, upper=True),
            _text("rendering_provider.first_name", "NM104", rendering.first_name, upper=True),
            ("rendering_provider.npi", "NM109", rendering.npi, False),
        ]
    return found + _therapy_fields(visit)


def _therapy_fields(visit: Visit) -> list[ClaimField]:
    """The optional therapy claim fields (2310A, SV105, NTE, PWK), as ``claims.build`` writes them."""
    found: list[ClaimField] = []
    physician = visit.plan_of_care.certifying_physician if visit.plan_of_care else None
    rendering_npi = visit.rendering_provider.npi if visit.rendering_provider else None
    if physician is not None and physician.npi and physician.npi != rendering_npi:
        path = "plan_of_care.certifying_physician"
        if physician.last_name:
            found.append(_text(f"{path}.last_name", "NM103", physician.last_name, upper=True))
            if physician.first_name:
                found.append(_text(f"{path}.first_name", "NM104", physician.first_name, upper=True))
        elif physician.name:
            found.append(_text(f"{path}.name", "NM103", physician.name, upper=True))
        found.append((f"{path}.npi", "NM109", physician.npi, False))
    found += [
        (f"services[{i}].place_of_service", "SV105", service.place_of_service, False)
        for i, service in enumerate(visit.services)
        if service.place_of_service is not None
    ]
    if visit.claim_note is not None:
        found.append(_text("claim_note.text", "NTE02", visit.claim_note.text))
    found += [
        (f"attachments[{i}].control", "PWK06", attachment.control, False)
        for i, attachment in enumerate(visit.attachments)
        if attachment.control
    ]
    return found


def practice_fields(settings: ClaimSettings) -> list[tuple[str, str, str]]:
    """(path, element, value) for every value the writer takes from the practice file's [claims] section,
    as the file has it (checked strictly: nothing is transliterated in a practice file)."""
    provider, submitter, address = settings.billing_provider, settings.submitter, settings.billing_provider.address
    found = [
        ("claims.sender_id", "GS02", settings.sender_id),
        ("claims.receiver_id", "GS03", settings.receiver_id),
        ("claims.billing_provider.name", "NM103", provider.name),
        ("claims.billing_provider.npi", "NM109", provider.npi),
        ("claims.billing_provider.tax_id", "REF02", provider.tax_id),
        ("claims.billing_provider.address.line1", "N301", address.line1),
        ("claims.billing_provider.address.city", "N401", address.city),
        ("claims.billing_provider.address.state", "N402", address.state),
        ("claims.billing_provider.address.zip", "N403", address.zip),
        ("claims.submitter.name", "NM103", submitter.name),
        ("claims.submitter.id", "NM109", submitter.id),
        ("claims.submitter.contact_name", "PER02", submitter.contact_name),
        ("claims.submitter.phone", "PER04", submitter.phone),
        ("claims.receiver.name", "NM103", settings.receiver.name),
        ("claims.receiver.id", "NM109", settings.receiver.id),
    ]
    if provider.taxonomy:
        found.append(("claims.billing_provider.taxonomy", "PRV03", provider.taxonomy))
    if address.line2:
        found.append(("claims.billing_provider.address.line2", "N302", address.line2))
    for key, payer in settings.payers.items():
        found += [
            (f"claims.payers.{key}.name", "NM103", payer.name),
            (f"claims.payers.{key}.id", "NM109", payer.id),
            (f"claims.payers.{key}.filing_indicator", "SBR09", payer.filing_indicator),
        ]
    return found
