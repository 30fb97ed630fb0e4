"""The 837P (005010X222A1 and A2) professional claim, read into typed claims and then into our visits.

Loops as the writer (``claim837``) and the guide (reference x12.md s. 1, from pyx12's map) name them:
2000A/2010AA billing provider (NM1*85, N3, N4, REF*EI, PRV*BI), 2000B/2010BA subscriber (SBR, NM1*IL, N3,
N4, DMG) with 2010BB payer (NM1*PR), 2000C/2010CA patient (PAT, NM1*QC, N3, N4, DMG), 2300 claim (CLM, DTP*454
initial treatment, DTP*304 last seen, REF*G1, REF*F8, HI), 2310A referring (NM1*DN), 2310B rendering (NM1*82,
PRV*PE), 2400 line (LX, SV1, DTP*472). A file may hold several interchanges, groups and transactions.

A file with a broken envelope, loop or count raises X12Error naming the segment, as ``remit835`` does: SE01,
GE01 and IEA01 counts, SE02/ST02, GE02/GS06 and IEA02/ISA13 control numbers, GS08/ST03 versions, the HL
hierarchy, a claim without its subscriber, payer, diagnoses or lines. A well-formed segment this reader has
no use for is listed in ``unknown_segments`` only when the 837P does not define it (``KNOWN_837``). A PWK
(2300 or 2400) whose PWK01/PWK02 is outside the code lists of data/x12-837p-codes.toml (pyx12's map) is read
and listed in its claim's ``code_problems``, naming the segment: the claim is the caller's to hold back.
Every PWK is kept (2300 on the claim's ``attachments``, 2400 on its line's); ``to_visit`` carries the 2300
ones whose codes are in the lists into ``Visit.attachments``, so the writer writes them again. The writer
has no 2400 PWK: those stay on the line, for the caller to report as not written again.

What a claim holds that a visit does not (line charges, the payer's id and name, the referring provider, the
DTP*454/304 dates) stays on ``IncomingClaim``; ``to_visit`` makes the visit (units as billed, minutes unknown).
The file is read interchange by interchange (``core.interchanges``, as the 835 reader does), each with the
separators its own ISA declares; the ISA/IEA handlers check each envelope's counts and control numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from rehabclaim.errors import InputError, quote, short_reason, validation_field
from rehabclaim.model import Visit
from rehabclaim.x12.claim837 import code_problem
from rehabclaim.x12.core import X12Error, collector_paused, interchanges, iter_segments

VERSIONS = frozenset({"005010X222A1", "005010X222A2"})
VERSION_STEM = "005010X222"
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)")  # an X12 decimal (type R)
UNKNOWN_PAYER_PREFIX = "payer-"  # a payer id the practice file does not list: key "payer-<id>", default profile
# Segments of the 837P this reader reads past on purpose (contacts, other payers, attachments, drugs, ...).
KNOWN_837 = frozenset(
    [
        "BHT",
        "PER",
        "PRV",
        "REF",
        "N3",
        "N4",
        "DMG",
        "PAT",
        "SBR",
        "NM1",
        "CLM",
        "DTP",
        "HI",
        "LX",
        "SV1",
        "NTE",
        "CN1",
        "AMT",
        "K3",
        "CR1",
        "CR2",
        "CRC",
        "HCP",
        "CAS",
        "OI",
        "MOA",
        "MIA",
        "SVD",
        "LIN",
        "CTP",
        "QTY",
        "MEA",
        "PS1",
        "HSD",
        "LQ",
        "FRM",
        "TOO",
        "CUR",
        "N2",
    ]
)
DISCIPLINE_MODIFIERS = {"GP": "PT", "GO": "OT", "GN": "SLP"}
TAXONOMY_DISCIPLINES = {"2251": "PT", "2252": "PT", "225X": "OT", "2278": "OT", "235Z": "SLP", "2355": "SLP"}


class Party(msgspec.Struct):
    """A person or organisation of an NM1 (with what follows it: N3/N4, DMG, PRV, REF*EI)."""

    last_name: str = ""
    first_name: str | None = None
    id: str | None = None  # NM109: NPI, member id or payer id
    address: dict[str, str] | None = None
    birth_date: date | None = None
    sex: str | None = None
    taxonomy: str | None = None
    tax_id: str | None = None
    tax_id_qualifier: str | None = None  # 2010AA REF01: EI (employer id) or SY (social security number)


class IncomingAttachment(msgspec.Struct):
    """A PWK as read: PWK01, PWK02 and PWK06 (the control number PWK05 AC qualifies), as the writer's
    ``claim837.Attachment`` writes them."""

    segment: int
    report_type: str  # PWK01
    transmission: str  # PWK02
    control_number: str | None = None  # PWK06


class IncomingLine(msgspec.Struct):
    code: str
    modifiers: list[str]
    charge: Decimal
    quantity: Decimal  # SV104: units (SV103 UN) or minutes (MJ)
    unit_basis: str  # SV103
    pointers: list[int]
    service_date: date | None = None
    service_date_end: date | None = None  # DTP*472 RD8
    segment: int = 0
    attachments: list[IncomingAttachment] = msgspec.field(default_factory=list)  # 2400 PWK (not written again)


class CodeProblem(msgspec.Struct):
    """A code its element's code list does not hold (PWK01, PWK02): read all the same, and named."""

    segment: int
    id: str  # the segment id: PWK
    element: str  # PWK01 or PWK02
    value: str
    reason: str


class IncomingClaim(msgspec.Struct):
    id: str  # CLM01
    charge: Decimal  # CLM02
    place_of_service: str
    frequency: str
    billing_provider: Party
    subscriber: Party
    payer: Party
    filing_indicator: str  # SBR09
    diagnoses: list[str]
    diagnosis_qualifiers: list[str]  # ABK/ABF (ICD-10-CM) or BK/BF (ICD-9-CM)
    lines: list[IncomingLine]
    patient: Party | None = None  # 2010CA, when the patient is not the subscriber
    relationship: str | None = None  # PAT01
    rendering_provider: Party | None = None
    referring_provider: Party | None = None  # 2310A NM1*DN (for therapy, the certifying physician)
    initial_treatment: date | None = None  # DTP*454
    last_seen: date | None = None  # DTP*304
    prior_authorization: str | None = None  # REF*G1
    payer_claim_control_number: str | None = None  # REF*F8
    segment: int = 0
    code_problems: list[CodeProblem] = msgspec.field(default_factory=list)  # PWK codes outside their lists
    attachments: list[IncomingAttachment] = msgspec.field(default_factory=list)  # 2300 PWK


class UnknownSegment(msgspec.Struct):
    segment: int
    id: str


class Read837(msgspec.Struct):
    claims: list[IncomingClaim]
    interchanges: int
    transactions: int
    segments: int
    unknown_segments: list[UnknownSegment]


def _get(elements: list[str], position: int) -> str | None:
    if position < len(elements):
        return elements[position].strip() or None
    return None


def _date(text: str | None, index: int, name: str) -> date:
    if text is None or len(text) != 8 or not text.isdigit():
        raise X12Error(f"{name} {quote(text or '')} is not a CCYYMMDD date", index)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise X12Error(f"{name} {quote(text)} is not a calendar date", index) from None


def _number(text: str | None, index: int, name: str) -> Decimal:
    if text is None or NUMBER.fullmatch(text) is None or len(text) > 18:
        raise X12Error(f"{name} {quote(text or '')} is not an X12 decimal", index)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise X12Error(f"{name} {quote(text)} is not an X12 decimal", index) from None


class _Reader:
    """One pass over the segments; each goes to the loop it belongs to (the HL level and the claim)."""

    def __init__(self, text: str) -> None:
        self.text, self.component = text, ""  # the component separator of the interchange being read
        self.claims: list[IncomingClaim] = []
        self.unknown: list[UnknownSegment] = []
        self.interchange: list[str] | None = None
        self.group: list[str] | None = None
        self.transaction: list[str] | None = None
        self.interchanges = self.transactions = self.groups = self.in_group = self.start = 0
        self.hl: dict[str, str] = {}  # HL01 -> level code, within the transaction
        self.level = ""
        self.party: Party | None = None
        self.billing = Party()
        self.subscriber: Party | None = None
        self.payer: Party | None = None
        self.patient: Party | None = None
        self.relationship: str | None = None
        self.filing = ""
        self.claim: IncomingClaim | None = None
        self.line: IncomingLine | None = None
        self.in_lx = False

    def read(self) -> Read837:
        index = 0
        try:
            for index, elements in enumerate(self._segments(), start=1):
                self._segment(elements, index)
        except X12Error as exc:
            if exc.segment is None:  # a later ISA that cannot be read: it is the next segment
                raise X12Error(exc.reason, index + 1) from None
            raise
        if self.transaction is not None:
            raise X12Error("the transaction has no SE trailer (truncated)", index)
        if self.interchange is not None or self.group is not None:
            raise X12Error("the interchange has no GE/IEA trailer (truncated)", index)
        if not self.transactions:
            raise X12Error("the file holds no 837P transaction (ST..SE)", index)
        return Read837(self.claims, self.interchanges, self.transactions, index, self.unknown)

    def _segments(self) -> Iterator[list[str]]:
        """Every segment of the file, each interchange split by the separators its own ISA declares."""
        for separators, text in interchanges(self.text):
            self.component = separators.component
            yield from iter_segments(text, separators)

    def _segment(self, elements: list[str], index: int) -> None:
        tag = elements[0]
        if SEGMENT_ID.fullmatch(tag) is None:
            raise X12Error(f"segment id {quote(tag)} is not an X12 segment id", index)
        if self.transaction is None and tag not in ("ISA", "GS", "ST", "GE", "IEA"):
            raise X12Error(f"{quote(tag)} outside a transaction (ST..SE)", index)
        handler = getattr(self, f"_{tag.lower()}", None)
        if handler is not None:
            handler(elements, index)
        elif tag not in KNOWN_837:
            self.unknown.append(UnknownSegment(index, tag))
        else:
            self.party = None if tag != "PER" else self.party

    # envelope
    def _isa(self, elements: list[str], index: int) -> None:
        if self.interchange is not None:
            raise X12Error("a second ISA before the IEA of the first", index)
        self.interchange, self.groups = elements, 0

    def _iea(self, elements: list[str], index: int) -> None:
        if self.interchange is None:
            raise X12Error("IEA without ISA", index)
        if self.group is not None:
            raise X12Error("IEA before the GE of an open group", index)
        if _get(elements, 1) != str(self.groups):
            raise X12Error(f"IEA01 says {_get(elements, 1)} groups, the interchange has {self.groups}", index)
        if _get(elements, 2) != _get(self.interchange, 13):
            raise X12Error(f"IEA02 {_get(elements, 2)} is not ISA13 {_get(self.interchange, 13)}", index)
        self.interchange, self.interchanges = None, self.interchanges + 1

    def _gs(self, elements: list[str], index: int) -> None:
        if self.interchange is None:
            raise X12Error("GS before the ISA interchange header", index)
        if self.group is not None:
            raise X12Error("GS inside an open functional group", index)
        if _get(elements, 8) not in VERSIONS:
            raise X12Error(f"GS08 {quote(_get(elements, 8) or '')} is not an 837P version (005010X222A1/A2)", index)
        self.group, self.in_group = elements, 0
        self.groups += 1

    def _ge(self, elements: list[str], index: int) -> None:
        if self.group is None:
            raise X12Error("GE without GS", index)
        if _get(elements, 1) != str(self.in_group):
            raise X12Error(f"GE01 says {_get(elements, 1)} transactions, the group has {self.in_group}", index)
        if _get(elements, 2) != _get(self.group, 6):
            raise X12Error(f"GE02 {_get(elements, 2)} is not GS06 {_get(self.group, 6)}", index)
        self.group = None

    def _st(self, elements: list[str], index: int) -> None:
        if self.group is None:
            raise X12Error("ST outside a GS functional group", index)
        if self.transaction is not None:
            raise X12Error("ST before the SE of the previous transaction", index)
        if _get(elements, 1) != "837":
            raise X12Error(f"ST01 {quote(_get(elements, 1) or '')} is not an 837", index)
        if not (_get(elements, 3) or VERSION_STEM).startswith(VERSION_STEM):  # as pyx12: GS08 names the guide
            raise X12Error(f"ST03 {quote(_get(elements, 3) or '')} is not an 837P version (005010X222A1/A2)", index)
        self.transaction, self.start, self.hl = elements, index, {}
        self.in_group += 1
        self.level, self.claim, self.line, self.party = "", None, None, None

    def _se(self, elements: list[str], index: int) -> None:
        assert self.transaction is not None
        actual = index - self.start + 1
        if _get(elements, 1) != str(actual):
            raise X12Error(f"SE01 says {_get(elements, 1)} segments, the transaction has {actual}", index)
        if _get(elements, 2) != _get(self.transaction, 2):
            raise X12Error(f"SE02 {_get(elements, 2)} is not ST02 {_get(self.transaction, 2)}", index)
        self._close_claim(index)
        if not self.hl:
            raise X12Error("the transaction has no HL billing provider level", index)
        self.transaction, self.transactions = None, self.transactions + 1

    # hierarchy
    def _hl(self, elements: list[str], index: int) -> None:
        self._close_claim(index)
        number, parent, level = _get(elements, 1), _get(elements, 2), _get(elements, 3)
        if number is None or number != str(len(self.hl) + 1):  # pyx12 checks the count too
            raise X12Error(f"HL01 {quote(number or '')} is not the next HL number ({len(self.hl) + 1})", index)
        wanted = {"20": None, "22": "20", "23": "22"}
        if level not in wanted:
            raise X12Error(f"HL03 {quote(level or '')} is not a 837P level (20, 22, 23)", index)
        if (parent is None) != (wanted[level] is None) or (parent is not None and self.hl.get(parent) != wanted[level]):
            raise X12Error(f"HL02 {quote(parent or '')} is not a level {wanted[level]} HL before it", index)
        self.hl[number], self.level = level, level
        if level == "20":
            self.billing = Party()
        elif level == "22":
            self.subscriber = self.payer = self.patient = self.relationship = None
            self.filing = ""
        else:
            self.patient = None

    def _sbr(self, elements: list[str], index: int) -> None:
        if self.level == "22" and self.claim is None:
            self.filing = _get(elements, 9) or ""

    def _pat(self, elements: list[str], index: int) -> None:
        if self.level == "23" and self.claim is None:
            self.relationship = _get(elements, 1)

    def _nm1(self, elements: list[str], index: int) -> None:
        role = _get(elements, 1)
        party = Party(_get(elements, 3) or "", _get(elements, 4), _get(elements, 9))
        self.party = party
        if self.claim is None:
            where = {("20", "85"): "billing", ("22", "IL"): "subscriber", ("22", "PR"): "payer"}
            where[("23", "QC")] = "patient"
            target = where.get((self.level, role or ""))
            if target == "billing":  # 2000A PRV*BI comes before NM1*85: its taxonomy is kept
                party.taxonomy = self.billing.taxonomy
            if target is not None:
                setattr(self, target, party)
        elif self.line is None and not self.in_lx:
            if role == "82":
                self.claim.rendering_provider = party
            elif role == "DN":
                self.claim.referring_provider = party
            elif role not in ("77", "DQ", "PW", "45", "QB", "DK"):
                self.party = None  # 2330 other payers and the like: not read

    def _n4(self, elements: list[str], index: int) -> None:
        if self.party is not None and self.party.address is not None:
            self.party.address.update(city=_get(elements, 1) or "", state=_get(elements, 2) or "")
            self.party.address["zip"] = _get(elements, 3) or ""

    def _n3(self, elements: list[str], index: int) -> None:
        if self.party is not None:
            self.party.address = {"line1": _get(elements, 1) or ""}
            if _get(elements, 2):
                self.party.address["line2"] = _get(elements, 2) or ""

    def _dmg(self, elements: list[str], index: int) -> None:
        if self.party is not None and _get(elements, 1) == "D8":
            self.party.birth_date = _date(_get(elements, 2), index, "DMG02")
            self.party.sex = _get(elements, 3)

    def _prv(self, elements: list[str], index: int) -> None:
        if self.claim is None and self.level == "20":
            self.billing.taxonomy = _get(elements, 3)
        elif self.party is not None:
            self.party.taxonomy = _get(elements, 3)

    def _ref(self, elements: list[str], index: int) -> None:
        qualifier, value = _get(elements, 1), _get(elements, 2)
        if self.claim is None and self.level == "20" and qualifier in ("EI", "SY"):
            self.billing.tax_id, self.billing.tax_id_qualifier = value, qualifier
        elif self.claim is not None and self.line is None and not self.in_lx:
            if qualifier == "G1":
                self.claim.prior_authorization = value
            elif qualifier == "F8":
                self.claim.payer_claim_control_number = value

    # claim
    def _clm(self, elements: list[str], index: int) -> None:
        self._close_claim(index)
        if self.level not in ("22", "23"):
            raise X12Error("CLM outside a subscriber or patient level (HL 22/23)", index)
        if self.subscriber is None or self.payer is None:
            raise X12Error("CLM without its subscriber (2010BA NM1*IL) and payer (2010BB NM1*PR)", index)
        if self.level == "23" and self.patient is None:
            raise X12Error("CLM under a patient level without its patient (2010CA NM1*QC)", index)
        claim_id = _get(elements, 1)
        if claim_id is None:
            raise X12Error("CLM01, the patient control number, is empty", index)
        place = (_get(elements, 5) or "").split(self.component)
        self.claim = IncomingClaim(
            id=claim_id,
            charge=_number(_get(elements, 2), index, "CLM02"),
            place_of_service=place[0],
            frequency=place[2] if len(place) > 2 else "1",
            billing_provider=self.billing,
            subscriber=self.subscriber,
            payer=self.payer,
            filing_indicator=self.filing,
            diagnoses=[],
            diagnosis_qualifiers=[],
            lines=[],
            patient=self.patient if self.level == "23" else None,
            relationship=self.relationship if self.level == "23" else None,
            segment=index,
        )
        self.line, self.in_lx, self.party = None, False, None

    def _close_claim(self, index: int) -> None:
        claim = self.claim
        if claim is None:
            return
        if not claim.diagnoses:
            raise X12Error(f"claim {claim.id} (CLM at segment {claim.segment}) has no HI diagnosis", index)
        if not claim.lines:
            raise X12Error(f"claim {claim.id} (CLM at segment {claim.segment}) has no 2400 service line", index)
        if any(line.service_date is None for line in claim.lines):
            raise X12Error(f"claim {claim.id}: a service line has no DTP*472 service date", index)
        self.claims.append(claim)
        self.claim, self.line, self.in_lx = None, None, False

    def _hi(self, elements: list[str], index: int) -> None:
        if self.claim is None or self.in_lx:
            raise X12Error("HI outside a claim (2300)", index)
        for composite in elements[1:]:
            parts = composite.split(self.component)
            if parts[0] in ("ABK", "ABF", "BK", "BF") and len(parts) > 1 and parts[1]:
                self.claim.diagnoses.append(parts[1])
                self.claim.diagnosis_qualifiers.append(parts[0])

    def _lx(self, elements: list[str], index: int) -> None:
        if self.claim is None:
            raise X12Error("LX outside a claim (no CLM before it)", index)
        self.in_lx, self.line, self.party = True, None, None

    def _sv1(self, elements: list[str], index: int) -> None:
        if self.claim is None or not self.in_lx or self.line is not None:
            raise X12Error("SV1 outside a 2400 service line (LX before it, one SV1 each)", index)
        composite = (_get(elements, 1) or "").split(self.component)
        if len(composite) < 2 or not composite[1]:
            other = next((c for c in composite[0] if not c.isalnum() and c != " "), None)
            found = f": its parts are separated by {quote(other)}, not ISA16 {quote(self.component)}" if other else ""
            raise X12Error(f"SV101 has no procedure code{found}", index)
        pointers = []
        for text in (_get(elements, 7) or "").split(self.component):
            if text:
                if not text.isdigit() or not 1 <= int(text) <= 12:
                    raise X12Error(f"SV107 pointer {quote(text)} is not 1-12", index)
                pointers.append(int(text))
        basis = _get(elements, 3) or "UN"
        line = IncomingLine(
            composite[1],
            [m for m in composite[2:6] if m],
            _number(_get(elements, 2), index, "SV102"),
            _number(_get(elements, 4), index, "SV104"),
            basis,
            pointers,
            segment=index,
        )
        self.claim.lines.append(line)
        self.line = line

    def _pwk(self, elements: list[str], index: int) -> None:
        """2300 or 2400 PWK, kept on its claim or line: the report type and transmission codes checked against
        the 837P's lists."""
        self.party = None
        if self.claim is None:
            return
        for element in ("PWK01", "PWK02"):
            value = _get(elements, int(element[-2:]))
            reason = code_problem(element, value) if value is not None else None
            if value is not None and reason is not None:
                self.claim.code_problems.append(CodeProblem(index, "PWK", element, value, reason))
        found = IncomingAttachment(index, _get(elements, 1) or "", _get(elements, 2) or "", _get(elements, 6))
        if not self.in_lx:
            self.claim.attachments.append(found)
        elif self.line is not None:
            self.line.attachments.append(found)

    def _dtp(self, elements: list[str], index: int) -> None:
        qualifier, form, value = _get(elements, 1), _get(elements, 2), _get(elements, 3)
        if form not in ("D8", "RD8"):
            return
        first, _, last = (value or "").partition("-")
        start = _date(first, index, f"DTP03 ({qualifier})")
        end = _date(last, index, f"DTP03 ({qualifier})") if form == "RD8" else start
        if self.line is not None and qualifier == "472":
            self.line.service_date, self.line.service_date_end = start, end
        elif self.claim is not None and not self.in_lx and qualifier == "454":
            self.claim.initial_treatment = start
        elif self.claim is not None and not self.in_lx and qualifier == "304":
            self.claim.last_seen = start


def read_837(data: str | bytes) -> Read837:
    """Every claim of an 837P file (several interchanges allowed). Raises X12Error naming the segment for a
    file with a broken envelope, loop or count."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    with collector_paused():
        return _Reader(text).read()


def looks_like_x12(name: str, data: bytes) -> bool:
    """A file ending .837/.x12/.edi, or whose first non-blank characters are ISA, is read as an 837P."""
    return name.lower().endswith((".837", ".x12", ".edi")) or data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"ISA")


def payer_key(payer_id: str | None, keys: Mapping[str, str]) -> str:
    """Our payer key for 2010BB NM109: the practice file's [claims.payers] entry with that id, else the
    fallback ``payer-<id>`` (scrubbed with the default profile and reported as unknown)."""
    key = keys.get(payer_id or "")
    return key if key is not None else f"{UNKNOWN_PAYER_PREFIX}{(payer_id or 'none').lower()}"[:64]


def discipline(claim: IncomingClaim, catalog_disciplines: Mapping[str, tuple[str, ...]]) -> str | None:
    """PT/OT/SLP from the lines' GP/GO/GN, else the rendering or billing taxonomy, else the codes' own
    discipline when all agree; None when nothing tells."""
    for line in claim.lines:
        for modifier in line.modifiers:
            if modifier in DISCIPLINE_MODIFIERS:
                return DISCIPLINE_MODIFIERS[modifier]
    for party in (claim.rendering_provider, claim.billing_provider):
        if party is not None and party.taxonomy and party.taxonomy[:4] in TAXONOMY_DISCIPLINES:
            return TAXONOMY_DISCIPLINES[party.taxonomy[:4]]
    found = {d for line in claim.lines for d in catalog_disciplines.get(line.code, ())}
    return found.pop() if len(found) == 1 else None


def _person(party: Party) -> dict[str, Any]:
    return {
        "first_name": party.first_name,
        "last_name": party.last_name or None,
        "birth_date": party.birth_date,
        "sex": party.sex,
        "address": party.address,
    }


def _attachments(claim: IncomingClaim) -> list[dict[str, str | None]]:
    """The claim's 2300 PWKs as ``Visit.attachments`` (as ``claims.build`` maps them back), leaving out a PWK
    whose codes are outside their lists (in ``code_problems``: the claim is held back naming it)."""
    refused = {problem.segment for problem in claim.code_problems}
    return [
        {"type": found.report_type, "transmission": found.transmission, "control": found.control_number}
        for found in claim.attachments
        if found.segment not in refused
    ]


def to_visit(claim: IncomingClaim, payer: str, discipline: str) -> Visit:
    """The claim as our visit: each line a service with the units billed and ``minutes_unknown`` (SV103
    ``MJ`` gives minutes instead), the first line's date as the visit's, the 2300 PWKs as its attachments;
    InputError naming the field when a value does not fit the contract."""
    services = []
    for line in claim.lines:
        quantity = int(line.quantity) if line.quantity == line.quantity.to_integral_value() else -1
        treated = [claim.diagnoses[p - 1] for p in line.pointers if p <= len(claim.diagnoses)]
        service: dict[str, Any] = {"code": line.code, "modifiers": line.modifiers, "diagnoses": treated}
        if line.unit_basis == "MJ":
            service["minutes"] = quantity
        else:
            service.update(units=quantity, minutes_unknown=True)
        services.append(service)
    visit: dict[str, Any] = {
        "id": claim.id,
        "date": claim.lines[0].service_date,
        "payer": payer,
        "discipline": discipline,
        "services": services,
        "diagnoses": claim.diagnoses,
        "place_of_service": claim.place_of_service or None,
        "claim_frequency": claim.frequency,
        "payer_claim_control_number": claim.payer_claim_control_number,
        "initial_treatment_date": claim.initial_treatment,
    }
    who = claim.patient or claim.subscriber
    visit["patient"] = {**_person(who), "member_id": claim.subscriber.id if claim.patient is None else None}
    if claim.patient is not None:
        subscriber = {**_person(claim.subscriber), "member_id": claim.subscriber.id}
        visit["subscriber"] = {**subscriber, "relationship": claim.relationship or "G8"}
    rendering = claim.rendering_provider
    if rendering is not None:
        visit["rendering_provider"] = {
            "npi": rendering.id,
            "first_name": rendering.first_name,
            "last_name": rendering.last_name,
        }
    attachments = _attachments(claim)
    if attachments:
        visit["attachments"] = attachments
    if claim.prior_authorization:
        day = claim.lines[0].service_date  # the number only: the 837P gives no authorized range
        visit["authorization"] = {"number": claim.prior_authorization, "from": day, "through": day}
    try:
        return msgspec.convert(visit, Visit)
    except msgspec.ValidationError as exc:
        path, reason = validation_field(str(exc))
        raise InputError(path or "visit", short_reason(reason)) from None
