"""The JSON contract: a visit in, a scrub result out.

Field names and meanings here are a published contract (CLI ``--json``, later the API): fields may be
added, never renamed. Input is decoded and validated by msgspec; unknown input fields are ignored so that
callers can send richer visits than this version reads.

Every string, list and number the contract reads is bounded, so no visit is too big to refuse at once, and
a string stored in the ledger fits its column (``ledger/models.py``) on SQLite and PostgreSQL alike. The
limits on fields an 837P carries are looser than the 837P's own: a claim-data rule reports those.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec

MAX_VISIT_BYTES = 1_048_576  # one visit's JSON text; a real visit is a few kilobytes
MAX_MONEY = 10_000_000  # dollars, for an amount read from a visit
MAX_COUNT = 1_000_000  # visits, units or days (an INTEGER column holds 2**31 - 1)

Minutes = Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]
Units = Annotated[int, msgspec.Meta(ge=0, le=999)]
Discipline = Literal["PT", "OT", "SLP"]
RenderedBy = Literal["therapist", "assistant"]
Severity = Literal["error", "warning", "info"]


ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Money = Annotated[float, msgspec.Meta(ge=0, le=MAX_MONEY)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]

# Strings, by the ledger column or the code set they end up in.
Key = Annotated[str, msgspec.Meta(max_length=64)]  # visit, patient and payer: String(64) in the ledger
CodeText = Annotated[str, msgspec.Meta(max_length=8)]  # a 5-character HCPCS/CPT code, spaces around allowed
ModifierText = Annotated[str, msgspec.Meta(max_length=2)]  # every HCPCS/CPT modifier has two characters
DiagnosisText = Annotated[str, msgspec.Meta(max_length=16)]  # ICD-10-CM has 8 with the dot; rule D002 judges
Region = Annotated[str, msgspec.Meta(max_length=32)]  # String(32) in the ledger
Npi = Annotated[str, msgspec.Meta(max_length=10)]  # String(10) in the ledger
Reference = Annotated[str, msgspec.Meta(max_length=64)]  # authorization and claim numbers: String(64)
Text = Annotated[str, msgspec.Meta(max_length=128)]  # names, addresses, member ids: String(128) at most
ShortCode = Annotated[str, msgspec.Meta(max_length=2)]  # place of service, relationship (X12 codes)
BenefitKey = Annotated[str, msgspec.Meta(max_length=16)]  # "PT_SLP" or "OT"

# Lists: generous for a visit, and above the 837P limits the claim-data rules report (X003, X004).
MAX_SERVICES = 200
MAX_DIAGNOSES = 64
MAX_MODIFIERS = 8
MAX_TIME_BLOCKS = 96  # every quarter hour of a day


class TimeBlock(msgspec.Struct):
    """A stretch of the visit (HH:MM, 24-hour clock) during which the service was furnished."""

    start: ClockTime
    end: ClockTime


class Service(msgspec.Struct):
    """One documented service on a visit."""

    code: CodeText
    minutes: Minutes | None = None
    units: Units | None = None
    training_minutes: Minutes | None = None
    assistant_minutes: Minutes | None = None
    body_region: Region | None = None
    distinct: bool | None = None
    distinct_modifier: ModifierText | None = None  # the X{EPSU} (or 59) that fits, when the caller knows it
    time_blocks: Annotated[list[TimeBlock], msgspec.Meta(max_length=MAX_TIME_BLOCKS)] = msgspec.field(
        default_factory=list
    )
    modifiers: Annotated[list[ModifierText], msgspec.Meta(max_length=MAX_MODIFIERS)] = msgspec.field(
        default_factory=list
    )
    # claim data (optional): the visit's diagnoses this service treats, ICD-10-CM, at most 4 (SV107 pointers)
    diagnoses: Annotated[list[DiagnosisText], msgspec.Meta(max_length=4)] = msgspec.field(default_factory=list)
    place_of_service: ShortCode | None = None  # SV105, when it differs from the visit's (CLM05-1)
    # true: ``units`` are as billed (an incoming 837P), the minutes unknown: a timed code bills the units
    # given instead of units computed from minutes, and the scrub lists the rules that need minutes as not checked
    minutes_unknown: bool = False


Sex = Literal["F", "M", "U"]


class Address(msgspec.Struct):
    line1: Text
    city: Text
    state: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
    zip: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}([0-9]{4})?$")]
    line2: Text | None = None


# The note's own words (activities, responses): free text, never stored in the ledger, never in a message.
NoteText = Annotated[str, msgspec.Meta(max_length=2000)]
MAX_NOTE_ITEMS = 64


class Device(msgspec.Struct):
    """The orthosis (or prosthesis) a 97760/97763 service trained the patient with."""

    type: Literal["custom", "prefabricated"] | None = None
    body_region: Region | None = None


class ServiceNote(msgspec.Struct):
    """What the treatment note says about one billed service (matched to the visit's service by ``code``)."""

    code: CodeText
    minutes: Minutes | None = None  # the minutes the note gives for this service
    start: ClockTime | None = None  # or the interval it was furnished in (HH:MM, 24-hour clock)
    stop: ClockTime | None = None
    clinician: Key | None = None  # who furnished it (co-treatment: two clinicians on one patient)
    one_on_one: bool | None = None  # direct one-on-one contact (false: another patient was treated meanwhile)
    activities: Annotated[list[NoteText], msgspec.Meta(max_length=MAX_NOTE_ITEMS)] = msgspec.field(
        default_factory=list
    )  # what was done, in words (e.g. "donning/doffing", "skin inspection", "wearing schedule")
    device: Device | None = None
    patient_response: NoteText | None = None
    fitting_only: bool | None = None  # 97760: the note records fitting but no training


class EvaluationNote(msgspec.Struct):
    """The complexity elements an evaluation level needs (PT 97161-97163, OT 97165-97167)."""

    personal_factors_comorbidities: Count | None = None  # PT: 0 low, 1-2 moderate, 3+ high
    exam_elements: Count | None = None  # PT: body structures/functions, activity limits, participation
    clinical_presentation: Literal["stable", "evolving", "unstable"] | None = None  # PT
    decision_complexity: Literal["low", "moderate", "high"] | None = None  # PT and OT
    occupational_profile: Literal["brief", "expanded", "extensive"] | None = None  # OT
    performance_deficits: Count | None = None  # OT: 1-3 low, 3-5 moderate, 5+ high


class Observer(msgspec.Struct):
    """The independent trained observer VR procedural dissociation (0771T/0772T) needs."""

    name: Text | None = None
    qualification: Text | None = None
    other_duties: bool | None = None  # true: the observer also assisted (not independent)


class XrSessionEvidence(msgspec.Struct):
    """An XR session attached to the visit (``rehabclaim import xr``): the evidence behind 0770T."""

    session_id: Key
    vendor: Text
    system_name: Text
    start: ClockTime
    end: ClockTime
    setting: Literal["clinic", "home"]
    supervised: bool
    software_version: Text | None = None
    clinician: Key | None = None


class XrNote(msgspec.Struct):
    """The XR system used in the session and the skill it supported (0770T)."""

    system: Text | None = None
    version: Text | None = None
    skill_supported: NoteText | None = None
    sessions: Annotated[list[XrSessionEvidence], msgspec.Meta(max_length=MAX_NOTE_ITEMS)] = msgspec.field(
        default_factory=list
    )


class Documentation(msgspec.Struct):
    """What the visit's note documents, checked against each billed code (rule family T). Every field is
    optional: a missing element is a finding, never an input error."""

    services: Annotated[list[ServiceNote], msgspec.Meta(max_length=MAX_SERVICES)] = msgspec.field(default_factory=list)
    diagnosis_and_limitation: NoteText | None = None  # the diagnosis and the functional limitation treated
    patient_response: NoteText | None = None
    plan_of_care_reference: Text | None = None
    certifying_physician: Text | None = None
    evaluation: EvaluationNote | None = None
    group_size: Count | None = None  # 97150: patients treated together
    supervising_therapist: Text | None = None
    xr: XrNote | None = None
    observer: Observer | None = None
    supported_procedure: Text | None = None  # 0771T-0774T: the procedure VR dissociation supported
    session_start: ClockTime | None = None  # the whole session, wall clock (co-treatment check)
    session_end: ClockTime | None = None
    total_timed_minutes: Minutes | None = None
    total_treatment_minutes: Minutes | None = None


class Patient(msgspec.Struct):
    """The patient; the fields after ``id`` are needed only for a claim."""

    id: Key | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    member_id: Text | None = None
    address: Address | None = None


class Subscriber(msgspec.Struct):
    """The insured, when it is not the patient; ``relationship`` is the patient's relationship to them
    (X12 PAT01: 01 spouse, 19 child, G8 other)."""

    first_name: Text
    last_name: Text
    birth_date: date
    sex: Sex
    member_id: Text
    address: Address
    relationship: ShortCode = "G8"


class RenderingProvider(msgspec.Struct):
    npi: Npi
    first_name: Text
    last_name: Text


class Physician(msgspec.Struct):
    npi: Npi | None = None
    name: Text | None = None
    last_name: Text | None = None  # 837P 2310A NM103/NM104; without them ``name`` goes whole into NM103
    first_name: Text | None = None


class PlanOfCare(msgspec.Struct):
    """The certified plan of care the visit falls under (for callers without a ledger)."""

    certified_from: date
    certified_through: date
    certifying_physician: Physician | None = None


class Authorization(msgspec.Struct):
    """A payer's prior authorization: visits or units allowed in a date range, and how many were used
    before this visit (for callers without a ledger)."""

    valid_from: date = msgspec.field(name="from")
    valid_through: date = msgspec.field(name="through")
    number: Reference | None = None
    visits: Count | None = None
    units: Count | None = None
    used: Count = 0


Day = date  # the type, under a name that Visit's own field ``date`` does not hide in its class body


class SecondaryCoverage(msgspec.Struct):
    """The payer billed after the primary (``visit.payer``) has paid: a secondary claim carries the primary's
    posted remittance to it (``rehabclaim claim --secondary``). ``payer`` is a payer key of the practice file's
    [claims.payers]; ``member_id`` the patient's id with it, or ``subscriber`` the insured of that policy when
    not the patient (its own member id and relationship); ``insurance_type`` 837P SBR05, when the secondary
    payer is Medicare (12 working aged, 13 ESRD, 14 no-fault, 15 workers' compensation, 16 federal agency, 41
    black lung, 42 veterans, 43 disabled under 65 with a large group plan, 47 other liability)."""

    payer: Key
    member_id: Text | None = None
    subscriber: Subscriber | None = None
    insurance_type: Annotated[str, msgspec.Meta(max_length=3)] | None = None


class ClaimNote(msgspec.Struct):
    """A note on the claim (837P 2300 NTE): ``code`` is NTE01 (ADD additional information, CER certification
    narrative, DCP goals, rehabilitation potential or discharge plans, DGN diagnosis description, TPO third
    party organization notes), ``text`` NTE02 (80 characters)."""

    text: Text
    code: Annotated[str, msgspec.Meta(max_length=3)] = "ADD"


class Attachment(msgspec.Struct):
    """Paperwork sent with or held for the claim (837P 2300 PWK), e.g. the plan of care a payer asks for:
    ``type`` PWK01 report type, ``transmission`` PWK02 (AA available on request at the provider, BM mail,
    EL electronically, EM e-mail, FT file transfer, FX fax), ``control`` PWK06 the attachment control number
    (required unless AA). Codes: data/x12-837p-codes.toml."""

    type: ShortCode
    transmission: ShortCode
    control: Reference | None = None


class Visit(msgspec.Struct):
    """One visit: the unit of scrubbing."""

    id: Key
    date: date
    payer: Key
    discipline: Discipline
    services: Annotated[list[Service], msgspec.Meta(min_length=1, max_length=MAX_SERVICES)]
    rendered_by: RenderedBy = "therapist"
    initial_orthotic_encounter: bool | None = None
    diagnoses: Annotated[list[DiagnosisText], msgspec.Meta(max_length=MAX_DIAGNOSES)] = msgspec.field(
        default_factory=list
    )
    patient: Patient | None = None
    telehealth: bool = False
    place_of_service: ShortCode | None = None
    authorization: Authorization | None = None
    plan_of_care: PlanOfCare | None = None
    # allowed amounts this calendar year before this visit, by benefit: "PT_SLP" and "OT"
    therapy_allowed_ytd: Annotated[dict[BenefitKey, Money], msgspec.Meta(max_length=8)] | None = None
    progress_report: bool = False  # a progress report was written at this visit
    # treatment days since the last progress report, the report's day counted as day 1, this visit not counted
    treatment_days_since_progress_report: Count | None = None
    # claim data (optional for a scrub, required for a claim)
    subscriber: Subscriber | None = None
    rendering_provider: RenderingProvider | None = None
    claim_frequency: Literal["1", "7", "8"] = "1"  # 1 original, 7 replacement, 8 void
    payer_claim_control_number: Reference | None = None  # the payer's number for the claim being replaced or voided
    documentation: Documentation | None = None  # what the note documents (documentation checks, rule family T)
    # more claim data (optional; see README, X12): 2300 DTP*454, NTE, PWK
    initial_treatment_date: Day | None = None  # first treatment day of this episode (DTP*454)
    claim_note: ClaimNote | None = None  # NTE
    attachments: Annotated[list[Attachment], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)
    secondary: SecondaryCoverage | None = None  # the payer after ``payer`` (coordination of benefits; README, X12)


class Line(msgspec.Struct):
    """One claim line: what is billed and why."""

    code: str
    units: int
    modifiers: list[str]
    minutes: int | None
    why: str
    charge: float | None = None  # the practice's charge for the line (charge master x units)
    expected: float | None = None  # the estimated payment; null when the fee schedule gives none
    expected_why: str = ""  # every step of the estimate


class Finding(msgspec.Struct):
    """A rule's verdict on the visit, a line or a diagnosis."""

    rule: str
    severity: Severity
    code: str | None
    message: str


class MissingElement(msgspec.Struct):
    """An element a billed code's checklist needs that the note does not hold (``code`` null: a visit-level
    element the payer's profile adds)."""

    code: str | None
    element: str


class DocumentationScore(msgspec.Struct):
    """How completely the visit's note documents the billed codes: elements present / required (rule
    family T, ``data/documentation.toml``), so a clinic sees its weakest notes first."""

    present: int
    required: int
    score: float  # present / required, 0..1 rounded to 2 places (1.0 when nothing billed needs an element)
    missing: list[MissingElement]


class ScrubResult(msgspec.Struct):
    id: str
    payer: str
    method: str
    total_timed_minutes: int
    total_timed_units: int
    lines: list[Line]
    findings: list[Finding]
    total_charge: float = 0.0
    total_expected: float = 0.0  # lines without an estimate count as nothing
    documentation: DocumentationScore | None = None  # only for a visit with a documentation object

    @property
    def has_error(self) -> bool:
        return any(f.severity == "error" for f in self.findings)
