"""FHIR R4 in and out: an EMR's Bundle into visits (``import_bundle``), and a scrubbed visit as a FHIR
Claim (``claim_resource``; ``claims_bundle`` for several, as ``claim --fhir`` writes them).

``FhirImport`` is what ``import fhir --json`` prints (a contract: fields are added, never renamed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import msgspec

from rehabclaim.errors import InputError
from rehabclaim.fhir.claim import checked_claim, claim_json
from rehabclaim.fhir.claim import claims_bundle as bundle_of_claims
from rehabclaim.fhir.importer import MAX_BUNDLE_BYTES, ClinicianOverlap, Unmapped, map_bundle, parse_bundle
from rehabclaim.model import ScrubResult, Visit
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, TooLarge

__all__ = [
    "MAX_BUNDLE_BYTES",
    "ClinicianOverlap",
    "FhirImport",
    "Unmapped",
    "claim_resource",
    "claims_bundle",
    "import_bundle",
    "written_claims_bundle",
]


class FhirImport(msgspec.Struct):
    """The visits a Bundle holds, in our JSON contract, every item that could not be mapped, and each
    clinician's one-on-one time given to two patients at once (a warning: the visits are still written)."""

    visits: list[Visit]
    unmapped: list[Unmapped]
    overlaps: list[ClinicianOverlap] = msgspec.field(default_factory=list)


def import_bundle(reference: Reference, *, data: bytes) -> FhirImport:
    """The visits of an R4 Bundle (JSON bytes). BadInput naming the entry, resource and path when the
    Bundle is not valid R4 (by the ``fhir.resources`` R4B models); TooLarge above ``MAX_BUNDLE_BYTES``."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise TooLarge("", f"the Bundle has {len(data):,} bytes; at most {MAX_BUNDLE_BYTES:,} are read")
    try:
        bundle = parse_bundle(data)
    except InputError as exc:
        raise BadInput.from_input_error(exc) from None
    mapped = map_bundle(bundle, reference.catalog)
    return FhirImport(visits=mapped.visits, unmapped=mapped.unmapped, overlaps=mapped.overlaps)


def _claim(reference: Reference, visit: Visit, result: ScrubResult, created: date | None) -> dict[str, object]:
    """The Claim, not yet checked by the R4B models (``checked_claim``, or the check of the Bundle it goes in)."""
    day = created or datetime.now(UTC).date()
    settings = reference.practice.claims
    return claim_json(visit, result, catalog=reference.catalog, settings=settings, created=day)


def claim_resource(reference: Reference, *, visit: Visit, result: ScrubResult, created: date | None = None) -> bytes:
    """The FHIR R4 Claim (JSON) for ``visit`` and its scrub ``result``; ``created``: the Claim's creation
    date (default: today, UTC). The provider is the practice's billing provider, when it has claim settings."""
    return msgspec.json.encode(checked_claim(_claim(reference, visit, result, created)))


def claims_bundle(
    reference: Reference, *, claims: Iterable[tuple[Visit, ScrubResult]], created: date | None = None
) -> bytes:
    """One FHIR ``collection`` Bundle holding a Claim per (visit, result) pair, in order. The R4B models
    check each Claim once, as part of the Bundle (checking each alone first doubled the time)."""
    resources = [_claim(reference, visit, result, created) for visit, result in claims]
    return msgspec.json.encode(bundle_of_claims(resources))


def written_claims_bundle(
    reference: Reference, *, visits: list[Visit], written: list[str], created: date | None = None
) -> bytes:
    """The Bundle of Claims for the claims a ``claim`` run wrote (``written``: their visit ids, in the
    run's order): each visit scrubbed again with the claim rules, as the run scrubbed it (no ledger
    history), so each Claim carries the lines its 837P claim carries. Of visits sharing an id, the first
    not yet used whose scrub has no error is the one the run sent (errors hold a visit back)."""
    unused = list(visits)
    pairs: list[tuple[Visit, ScrubResult]] = []
    for visit_id in written:
        visit, result = _sent_visit(reference, unused, visit_id)
        unused.remove(visit)
        pairs.append((visit, result))
    return claims_bundle(reference, claims=pairs, created=created)


def _sent_visit(reference: Reference, visits: list[Visit], visit_id: str) -> tuple[Visit, ScrubResult]:
    from rehabclaim.services.scrub import scrub_visit

    for visit in visits:
        if visit.id == visit_id:
            result = scrub_visit(reference, visit=visit, for_claim=True)
            if not result.has_error:
                return visit, result
    raise ValueError(f"visit {visit_id!r} was written but is not among the visits read")  # a bug
