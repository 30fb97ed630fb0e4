"""The 835 (005010X221A1) remittance advice, read into typed models.

Loops mirrored from the implementation guide (as encoded in pyx12's map, reference x12.md s. 2): the
header (BPR payment, TRN trace), 1000A payer (N1*PR), 1000B payee (N1*PE), 2000 header number (LX),
2100 claim payment (CLP, CAS, NM1, MIA/MOA, REF, DTM, AMT), 2110 service payment (SVC, DTM, CAS, REF,
AMT, LQ), and the provider adjustments (PLB) after the last claim. A file may hold several transactions
(one per payment): every claim is kept in file order with the index of its payment.

Reading never stops at a file that does not balance: every imbalance is listed with its segment number.
A file may hold several ISA..IEA interchanges (payers batch them), each with its own separators; each is
checked: counts (SE01, GE01, IEA01), control numbers (SE02 = ST02, GE02 = GS06, IEA02 = ISA13, ISA13 unique
in the file) and the version: GS08 005010X221A1 (and ST03 when given); a 4010 file (GS08 004010X091A1) is
refused by name, never read as if it were 5010.

A file that is truncated, garbled or wrongly enveloped raises X12Error naming the segment, and so does one
that could get a payment posted twice or wrongly: a transaction without its TRN trace (TRN02 with TRN03,
which together identify a payment), the same trace twice in one file, the same claim twice identically in
one payment, an amount that is not an X12 decimal (NaN, Infinity, exponents...) or a segment id that is not
one (``trn``). A well-formed segment the 835 does not define is kept in ``unknown_segments``, never dropped
silently.

Codes are checked against the lists pyx12's 835 map names (data/x12-835-codes.toml): the payer's and payee's
N402 state and the claim's MIA/MOA remark codes. A code outside its list is read all the same and listed in
``code_problems`` with its segment and element: refusing a payer's 835 for a stale code list would stop a
biller posting money that was paid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from sys import intern

import msgspec

from rehabclaim.datafiles import load_toml
from rehabclaim.errors import quote
from rehabclaim.x12.core import Separators, X12Error, collector_paused, interchanges, segment_batches

ZERO = Decimal(0)
ONE = Decimal(1)
CLAIM_STATUS = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to another payer",
    "20": "processed as secondary, forwarded to another payer",
    "21": "processed as tertiary, forwarded to another payer",
    "22": "reversal of a previous payment",
    "23": "not our claim, forwarded",
    "25": "predetermination pricing only, no payment",
}
GROUPS = frozenset({"CO", "OA", "PI", "PR"})
GROUP_CODES = {group: group for group in GROUPS}  # one string per group code, however many adjustments name it
ENVELOPE = frozenset({"ISA", "GS", "ST", "GE", "IEA"})  # the segments allowed between transactions
R_CHARACTERS = "0123456789.-"  # an X12 decimal (type R): digits, an optional leading minus and decimal point
R_MAX_DIGITS = 18  # the longest R element of the 835 (amounts, DE 782)
TRACE_MAX = 50  # TRN02 is AN 1/50
PARSED_KEPT = 1 << 14  # amounts remembered while a file is read: it repeats its charges and adjustments
# text -> value, emptied after each file. A module cache that may stay: pure (an amount's text always means the
# same Decimal, which is immutable), so it cannot go stale, and two threads reading 835s at once only cost each
# other misses when one empties it.
_PARSED: dict[str, Decimal] = {}
SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")  # capital letters and digits: "trn" is garbled, not a TRN
# Segments of the 835 guide this reader has no use for (addresses, contacts, totals): read past on purpose.
# Any other well-formed id is listed in Remittance.unknown_segments.
UNUSED_835 = frozenset({"CUR", "N2", "N3", "PER", "QTY", "RDM", "TS2", "TS3"})
VERSION = "005010X221A1"  # GS08: the 835 guide this reader reads
INTERCHANGE_VERSION = "00501"  # ISA12 of a 5010 interchange
# Characters files put between the parts of a composite: named when SVC01 uses one that ISA16 does not declare.
COMPONENT_LIKE = frozenset(":>^|\\<!`{}")
CODE_TABLE = "x12-835-codes.toml"  # the code lists checked (pyx12's codes.xml), with their sources
# Read once at import: package data, fixed until the file is replaced; it cannot go stale while a process runs.
_CODE_LISTS = load_toml(CODE_TABLE)["external"]
STATES = frozenset(_CODE_LISTS["states"])  # element 156: N402 of 1000A and 1000B
REMARK_CODES = frozenset(_CODE_LISTS["remark_codes"])  # element 1573: MIA05, MIA20-23, MOA03-07
MIA_REMARKS = (5, 20, 21, 22, 23)  # the MIA elements that hold remark codes
STATE_REASON = f"is not a US state, territory or Canadian province code (element 156, data/{CODE_TABLE})"
REMARK_REASON = (
    f"is not in the remark code list we hold (RARC, in force 2014-11-01, data/{CODE_TABLE}): retired, "
    "unknown, or newer than the list; read all the same"
)


class Adjustment(msgspec.Struct, gc=False):
    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


class Remark(msgspec.Struct, gc=False):
    qualifier: str  # HE: remittance advice remark code (RARC); RX: NCPDP reject code; MOA/MIA for claims
    code: str


class Party(msgspec.Struct):
    name: str = ""
    id: str | None = None
    id_qualifier: str | None = None


class RemitLine(msgspec.Struct):
    code: str
    modifiers: list[str]
    charge: Decimal
    paid: Decimal
    units: Decimal
    qualifier: str = "HC"
    revenue_code: str | None = None
    original_code: str | None = None
    service_date: str | None = None
    control_number: str | None = None  # REF*6R: our line item control number echoed back
    allowed: Decimal | None = None  # AMT*B6
    adjustments: list[Adjustment] = []
    remarks: list[Remark] = []
    segment: int = 0


class RemitClaim(msgspec.Struct):
    id: str  # CLP01: our patient control number (the visit id)
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_id: str | None
    status_meaning: str = ""
    filing_indicator: str | None = None
    frequency: str | None = None
    patient_name: str | None = None
    adjustments: list[Adjustment] = []
    remarks: list[Remark] = []
    lines: list[RemitLine] = []
    payment: int = 0  # index into Remittance.payments
    segment: int = 0


class ProviderAdjustment(msgspec.Struct):
    provider_id: str
    fiscal_period_date: str
    reason: str
    reference: str | None
    amount: Decimal  # positive: taken from the payment; negative: added to it
    payment: int = 0
    segment: int = 0


class Payment(msgspec.Struct):
    amount: Decimal  # BPR02: the total actual provider payment
    handling: str
    credit_debit: str
    method: str
    date: str | None
    trace_number: str | None = None  # TRN02: the check or EFT number; always present once read
    trace_originator: str | None = None  # TRN03: the payer's id; the trace is TRN02 with TRN03
    payer: Party = msgspec.field(default_factory=Party)
    payee: Party = msgspec.field(default_factory=Party)
    control_number: str = ""  # ST02
    segment: int = 0


class Imbalance(msgspec.Struct):
    segment: int
    level: str  # transaction, claim or line
    message: str


class UnknownSegment(msgspec.Struct):
    """A well-formed segment the 835 does not define: kept out of the model, but reported."""

    segment: int
    id: str


class CodeProblem(msgspec.Struct):
    """A code its element's code list does not hold: the segment is read all the same, and named."""

    segment: int
    id: str  # the segment id: N4, MIA or MOA
    element: str  # N402, MOA03, ...
    value: str
    reason: str


class Remittance(msgspec.Struct):
    total_paid: Decimal
    payer: Party | None
    payee: Party | None
    claims: list[RemitClaim]
    provider_adjustments: list[ProviderAdjustment]
    payments: list[Payment]
    imbalances: list[Imbalance]
    interchange_control_number: str = ""
    segments: int = 0
    unknown_segments: list[UnknownSegment] = []
    interchange_control_numbers: list[str] = []  # ISA13 of every interchange, in file order
    code_problems: list[CodeProblem] = []  # codes outside their code list, in file order (read all the same)

    @property
    def balanced(self) -> bool:
        return not self.imbalances


def _amount(elements: list[str], position: int, index: int, name: str, default: Decimal | None = ZERO) -> Decimal:
    """An X12 decimal (type R), strictly: Decimal alone would also take NaN, sNaN, Infinity, 1E5, +5, 1_000,
    padded or non-ASCII digits, which either crash later (JSON, arithmetic) or were never X12."""
    try:
        text = elements[position]
    except IndexError:
        text = ""
    known = _PARSED.get(text)
    if known is not None:
        return known
    reason = "is not a number"
    if text and not text.strip(R_CHARACTERS):
        if len(text) <= R_MAX_DIGITS or len(text) - text.count("-") - text.count(".") <= R_MAX_DIGITS:
            try:
                value = Decimal(text)  # only the shape is left to check: one minus first, one point, a digit
            except InvalidOperation:
                pass
            else:
                if len(_PARSED) >= PARSED_KEPT:
                    _PARSED.clear()
                _PARSED[text] = value
                return value
        else:
            reason = f"has more than {R_MAX_DIGITS} digits"
    elif not text or text.isspace():
        if default is None:
            raise X12Error(f"{name} is required", index)
        return default
    raise X12Error(
        f"{name} {quote(text)} {reason} (an X12 decimal: digits, an optional leading minus and point)", index
    )


def _element(elements: list[str], position: int) -> str | None:
    if position < len(elements):
        value = elements[position].strip()
        return value or None
    return None


def _adjustments(elements: list[str], index: int) -> list[Adjustment]:
    """Every (reason, amount, quantity) triple of a CAS segment: up to six after the group code."""
    size = len(elements)
    group = elements[1] if size > 1 else ""
    if group not in GROUPS:
        raise X12Error(f"CAS01 {quote(group)} is not an adjustment group code (CO, OA, PI, PR)", index)
    if size in (4, 5) and elements[2]:  # the usual CAS: one triple, no quantity
        quantity = _amount(elements, 4, index, "CAS04") if size == 5 and elements[4] else None
        return [Adjustment(group, elements[2], _amount(elements, 3, index, "CAS03", None), quantity)]
    found = []
    for position in range(2, min(size, 20), 3):
        reason = elements[position]
        if not reason:
            continue
        amount = _amount(elements, position + 1, index, f"CAS{position + 1:02d}", None)
        has_quantity = position + 2 < size and elements[position + 2]
        quantity = _amount(elements, position + 2, index, f"CAS{position + 2:02d}") if has_quantity else None
        found.append(Adjustment(group, reason, amount, quantity))
    if not found:
        raise X12Error("CAS has no reason code", index)
    return found


class _Reader:
    """One pass over the segments; each segment goes to the loop it belongs to."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.count = 0
        self.separators = Separators()  # each interchange's own, set as its ISA is reached
        self.payments: list[Payment] = []
        self.claims: list[RemitClaim] = []
        self.plb: list[ProviderAdjustment] = []
        self.payment: Payment | None = None
        self.claim: RemitClaim | None = None
        self.line: RemitLine | None = None
        self.party: Party | None = None
        self.transaction_start = 0
        self.groups = 0
        self.transactions_in_group = 0
        self.interchange: list[str] | None = None
        self.interchange_at = 0
        self.interchange_controls: dict[str, int] = {}  # ISA13 -> the segment of its ISA
        self.group: list[str] = []
        self.group_at = 0
        self.group_open = False
        self.unknown_segments: list[UnknownSegment] = []
        self.code_problems: list[CodeProblem] = []
        self.traces: dict[tuple[str, str], Payment] = {}
        self.bpr_seen = False
        # CLP, CAS, NM1 and SVC are read in read_interchange; outside a transaction the envelope check refuses them
        self.handlers: dict[str, Callable[[list[str], int], None]] = {
            "ISA": self.isa,
            "GS": self.gs,
            "ST": self.st,
            "BPR": self.bpr,
            "TRN": self.trn,
            "N1": self.n1,
            "N4": self.n4,
            "REF": self.ref,
            "MOA": self.moa,
            "MIA": self.mia,
            "DTM": self.dtm,
            "AMT": self.amt,
            "LQ": self.lq,
            "PLB": self.plb_segment,
            "LX": self.lx,
            "SE": self.se,
            "GE": self.ge,
            "IEA": self.iea,
        }

    def read(self) -> Remittance:
        index = 0
        try:
            for separators, text in interchanges(self.text):  # the next one is split when this one is read
                self.separators = separators
                index = self.read_interchange(segment_batches(text, separators), index)
        except X12Error as exc:
            if exc.segment is None:  # a later ISA that cannot be read: it is the next segment
                raise X12Error(exc.reason, index + 1) from None
            raise
        self.count = index
        if self.payment is not None:
            raise X12Error(f"transaction {self.payment.control_number} has no SE trailer (truncated)", self.count)
        if self.interchange is not None:
            raise X12Error("the interchange has no IEA trailer (truncated)", self.count)
        if not self.payments:
            raise X12Error("the interchange holds no 835 transaction (ST..SE): no payment to read", self.count)
        return self.finish()

    def read_interchange(self, batches: Iterator[list[list[str]]], index: int) -> int:
        """The segments of one interchange, numbered on from ``index``; returns the last one's number.

        CLP, NM1, SVC and CAS, nine in ten segments of a remittance, are read right here with the current
        claim and line in local variables: a handler call per segment and a helper call per element cost more
        than the reading itself (issue 14). Every other segment goes to its handler, which finds the claim and
        line on ``self``. Checks and messages are those of ``_adjustments`` and ``_amount``, which take over
        whenever a segment is not in its usual shape."""
        handlers = self.handlers
        parsed, claims, payments, component = _PARSED, self.claims, self.payments, self.separators.component
        payment, claim, line = self.payment, self.claim, self.line
        for batch in batches:
            for elements in batch:
                index += 1
                tag = elements[0]
                if payment is not None:
                    if tag == "CAS":
                        target = line if line is not None else claim
                        if target is None:
                            raise X12Error("CAS outside a claim", index)
                        if len(elements) == 4 and elements[2] and (group := GROUP_CODES.get(elements[1])):
                            amount = parsed.get(elements[3])  # the usual CAS: one triple, no quantity
                            if amount is None:
                                amount = _amount(elements, 3, index, "CAS03", None)
                            target.adjustments.append(Adjustment(group, intern(elements[2]), amount))
                        else:
                            target.adjustments.extend(_adjustments(elements, index))
                        continue
                    if tag == "SVC":
                        if claim is None:
                            raise X12Error("SVC outside a claim (no CLP before it)", index)
                        line = _service_line(elements, index, component)
                        claim.lines.append(line)
                        continue
                    if tag == "CLP":
                        claim, line, self.party = _claim(elements, index, len(payments)), None, None
                        claims.append(claim)
                        continue
                    if tag == "NM1":
                        size = len(elements)
                        if claim is not None and line is None and size > 1 and elements[1] == "QC":
                            last = elements[3].strip() if size > 3 else ""
                            first = elements[4].strip() if size > 4 else ""
                            claim.patient_name = (f"{last} {first}" if last and first else last or first) or None
                        continue
                else:  # between transactions only the envelope may appear
                    if tag != "ISA" and self.interchange is None:
                        raise X12Error(f"{quote(tag)} before the ISA interchange header", index)
                    if tag not in ENVELOPE:
                        self.refuse_version(index)
                        raise X12Error(f"{quote(tag)} outside a transaction (ST..SE)", index)
                self.claim, self.line = claim, line
                handler = handlers.get(tag)
                if handler is not None:
                    handler(elements, index)
                elif tag not in UNUSED_835:
                    self.skip_unknown(tag, index)
                payment, claim, line = self.payment, self.claim, self.line
        self.claim, self.line = claim, line
        return index

    def refuse_version(self, index: int) -> None:
        """A segment the envelope cannot explain in an interchange that is not 5010 (ISA12): the version is the
        reason, so it is named (a 4010 file often fails on its layout before its GS08 is reached)."""
        if self.interchange is not None and (version := _element(self.interchange, 12)) != INTERCHANGE_VERSION:
            raise X12Error(
                f"ISA12 {quote(version or '')} is not {INTERCHANGE_VERSION}: a "
                f"{'4010 ' if version == '00401' else ''}interchange; only {VERSION} 835s are read",
                self.interchange_at,
            )

    def skip_unknown(self, tag: str, index: int) -> None:
        """A segment no handler takes: listed when its id is well formed, refused when it is not."""
        if SEGMENT_ID.fullmatch(tag) is None:
            raise X12Error(
                f"segment id {quote(tag)} is not an X12 segment id (2 or 3 capital letters and digits): "
                "a lowercase or garbled segment is refused, never skipped",
                index,
            )
        self.unknown_segments.append(UnknownSegment(index, tag))

    # envelope
    def isa(self, elements: list[str], index: int) -> None:
        if self.interchange is not None:
            raise X12Error("a second ISA before the IEA of the first", index)
        control = _element(elements, 13) or ""
        earlier = self.interchange_controls.setdefault(control, index)
        if earlier != index:
            raise X12Error(
                f"ISA13 {quote(control)} is also the control number of the interchange at segment {earlier}: "
                "the same interchange twice in one file",
                index,
            )
        self.interchange, self.interchange_at, self.groups = elements, index, 0

    def gs(self, elements: list[str], index: int) -> None:
        if self.group_open:
            raise X12Error("GS inside an open functional group", index)
        _refuse_4010(elements, index)  # named by GS08 when it says so,
        self.refuse_version(index)  # else by ISA12,
        if (version := _element(elements, 8) or "") != VERSION:  # else GS08 is simply another guide
            raise X12Error(f"GS08 {quote(version)} is not {VERSION}, the 835 guide this reader reads", index)
        self.group_open, self.transactions_in_group, self.group, self.group_at = True, 0, elements, index
        self.groups += 1

    def st(self, elements: list[str], index: int) -> None:
        if not self.group_open:
            raise X12Error("ST outside a GS functional group", index)
        if self.payment is not None:
            raise X12Error("ST before the SE of the previous transaction", index)
        if _element(elements, 1) != "835":
            raise X12Error(f"transaction set {_element(elements, 1)!r} is not an 835", index)
        if (convention := _element(elements, 3)) is not None and convention != _element(self.group, 8):
            raise X12Error(f"ST03 {quote(convention)} is not GS08 {quote(_element(self.group, 8) or '')}", index)
        self.transaction_start = index
        self.transactions_in_group += 1
        self.payment = Payment(ZERO, "", "", "", None, control_number=_element(elements, 2) or "", segment=index)
        self.claim = self.line = self.party = None
        self.bpr_seen = False

    def se(self, elements: list[str], index: int) -> None:
        assert self.payment is not None
        declared = _element(elements, 1)
        actual = index - self.transaction_start + 1
        if declared != str(actual):
            raise X12Error(f"SE01 says {declared} segments, the transaction has {actual} (truncated or garbled)", index)
        _check_control("SE02", elements, "ST02", self.payment.control_number, self.transaction_start, index)
        if not self.bpr_seen:
            raise X12Error("transaction without a BPR payment segment", index)
        self.check_trace(self.payment, index)
        self.payments.append(self.payment)
        self.payment = self.claim = self.line = None

    def ge(self, elements: list[str], index: int) -> None:
        if not self.group_open:
            raise X12Error("GE without GS", index)
        if _element(elements, 1) != str(self.transactions_in_group):
            raise X12Error(
                f"GE01 says {_element(elements, 1)} transactions, the group has {self.transactions_in_group}", index
            )
        _check_control("GE02", elements, "GS06", _element(self.group, 6) or "", self.group_at, index)
        self.group_open = False

    def iea(self, elements: list[str], index: int) -> None:
        if self.group_open:
            raise X12Error("IEA before the GE of an open group", index)
        if _element(elements, 1) != str(self.groups):
            raise X12Error(f"IEA01 says {_element(elements, 1)} groups, the interchange has {self.groups}", index)
        assert self.interchange is not None
        control = _element(self.interchange, 13) or ""
        _check_control("IEA02", elements, "ISA13", control, self.interchange_at, index)
        self.interchange = None

    # header
    def bpr(self, elements: list[str], index: int) -> None:
        payment = self.payment
        assert payment is not None
        payment.handling = _element(elements, 1) or ""
        payment.amount = _amount(elements, 2, index, "BPR02", None)
        payment.credit_debit = _element(elements, 3) or ""
        payment.method = _element(elements, 4) or ""
        payment.date = _element(elements, 16)
        self.bpr_seen = True

    def trn(self, elements: list[str], index: int) -> None:
        payment = self.payment
        assert payment is not None
        if payment.trace_number is not None:
            raise X12Error(f"a second TRN in transaction {payment.control_number}: one payment has one trace", index)
        trace, originator = _element(elements, 2), _element(elements, 3)
        if trace is None:
            raise X12Error("TRN02, the payment's trace number (check or EFT number), is empty", index)
        if originator is None:
            raise X12Error(
                "TRN03, the trace's originator (the payer's id), is empty: a trace is TRN02 with TRN03", index
            )
        for name, value in (("TRN02", trace), ("TRN03", originator)):
            if len(value) > TRACE_MAX:
                raise X12Error(f"{name} {quote(value)} is longer than {TRACE_MAX} characters", index)
        payment.trace_number, payment.trace_originator = trace, originator

    def check_trace(self, payment: Payment, index: int) -> None:
        """At SE: the transaction has its trace, and no earlier transaction of the file has the same one."""
        if payment.trace_number is None or payment.trace_originator is None:
            raise X12Error(
                f"transaction {payment.control_number} (ST at segment {payment.segment}) has no TRN trace: "
                "without it the payment cannot be told from one posted before",
                index,
            )
        earlier = self.traces.setdefault((payment.trace_number, payment.trace_originator), payment)
        if earlier is not payment:
            raise X12Error(
                f"payment trace {payment.trace_number} from {payment.trace_originator} is in transaction "
                f"{earlier.control_number} (ST at segment {earlier.segment}) and again in transaction "
                f"{payment.control_number} (ST at segment {payment.segment}): the same payment twice in one file",
                index,
            )

    def n1(self, elements: list[str], index: int) -> None:
        assert self.payment is not None
        party = Party(name=_element(elements, 2) or "", id=_element(elements, 4), id_qualifier=_element(elements, 3))
        role = _element(elements, 1)
        if role == "PR":
            self.payment.payer = self.party = party
        elif role == "PE":
            self.payment.payee = self.party = party
        else:
            self.party = None

    def n4(self, elements: list[str], index: int) -> None:
        """1000A/1000B N4: only the state is checked (the address is not kept); empty for an address abroad."""
        state = _element(elements, 2) if self.claim is None and self.party is not None else None
        if state is not None and state not in STATES:
            self.code_problems.append(CodeProblem(index, "N4", "N402", state, STATE_REASON))

    def ref(self, elements: list[str], index: int) -> None:
        qualifier = _element(elements, 1)
        if self.line is not None and qualifier == "6R":
            self.line.control_number = _element(elements, 2)
        elif self.claim is None and self.party is not None and qualifier == "2U" and self.party.id is None:
            self.party.id = _element(elements, 2)  # payer identification when N1*PR carries none

    def lx(self, elements: list[str], index: int) -> None:
        self.claim = self.line = self.party = None

    # 2100 claim payment (CLP, NM1 and CAS: read_interchange)
    def moa(self, elements: list[str], index: int) -> None:
        self.remarks("MOA", elements, range(3, 8), index)

    def mia(self, elements: list[str], index: int) -> None:
        self.remarks("MIA", elements, MIA_REMARKS, index)

    def remarks(self, tag: str, elements: list[str], positions: Iterable[int], index: int) -> None:
        """The claim's remark codes of a MIA or MOA, each checked against the RARC list."""
        if self.claim is None:
            return
        for position in positions:
            if (code := _element(elements, position)) is not None:
                self.claim.remarks.append(Remark(tag, code))
                if code not in REMARK_CODES:
                    problem = CodeProblem(index, tag, f"{tag}{position:02d}", code, REMARK_REASON)
                    self.code_problems.append(problem)

    # 2110 service payment (SVC and CAS: read_interchange)
    def dtm(self, elements: list[str], index: int) -> None:
        if self.line is not None and _element(elements, 1) in ("472", "150"):
            self.line.service_date = _element(elements, 2)

    def amt(self, elements: list[str], index: int) -> None:
        if self.line is not None and _element(elements, 1) == "B6":
            self.line.allowed = _amount(elements, 2, index, "AMT02")

    def lq(self, elements: list[str], index: int) -> None:
        if self.line is not None and (code := _element(elements, 2)):
            self.line.remarks.append(Remark(_element(elements, 1) or "HE", code))

    # provider adjustments
    def plb_segment(self, elements: list[str], index: int) -> None:
        provider, period = _element(elements, 1) or "", _element(elements, 2) or ""
        for position in range(3, min(len(elements), 15), 2):
            composite = _element(elements, position)
            if composite is None:
                continue
            reason, _, reference = composite.partition(self.separators.component)
            self.plb.append(
                ProviderAdjustment(
                    provider,
                    period,
                    reason,
                    reference or None,
                    _amount(elements, position + 1, index, f"PLB{position + 1:02d}", None),
                    payment=len(self.payments),
                    segment=index,
                )
            )
        self.claim = self.line = None

    def finish(self) -> Remittance:
        _refuse_repeated_claims(self.claims, self.payments)
        imbalances = _balance(self.payments, self.claims, self.plb)
        first = self.payments[0] if self.payments else None
        return Remittance(
            total_paid=sum((p.amount for p in self.payments), ZERO),
            payer=first.payer if first else None,
            payee=first.payee if first else None,
            claims=self.claims,
            provider_adjustments=self.plb,
            payments=self.payments,
            imbalances=imbalances,
            interchange_control_number=next(iter(self.interchange_controls), ""),  # the first interchange's
            segments=self.count,
            unknown_segments=self.unknown_segments,
            interchange_control_numbers=list(self.interchange_controls),
            code_problems=self.code_problems,
        )


def _claim(elements: list[str], index: int, payment: int) -> RemitClaim:
    """A CLP segment: the claim as paid (amounts looked up in ``_PARSED`` first: a file repeats them)."""
    size = len(elements)
    status = elements[2] if size > 2 else ""
    charge = _PARSED.get(elements[3]) if size > 3 else None
    if charge is None:
        charge = _amount(elements, 3, index, "CLP03", None)
    paid = _PARSED.get(elements[4]) if size > 4 else None
    if paid is None:
        paid = _amount(elements, 4, index, "CLP04", None)
    responsibility = _PARSED.get(elements[5]) if size > 5 else None
    if responsibility is None:
        responsibility = _amount(elements, 5, index, "CLP05")
    return RemitClaim(
        elements[1] if size > 1 else "",
        status,
        charge,
        paid,
        responsibility,
        (elements[7] or None) if size > 7 else None,
        CLAIM_STATUS.get(status, "unknown status"),
        (elements[6] or None) if size > 6 else None,
        (elements[9] or None) if size > 9 else None,
        None,
        [],
        [],
        [],
        payment,
        index,
    )


def _service_line(elements: list[str], index: int, component: str) -> RemitLine:
    """An SVC segment: the line as paid; SVC01 is the composite qualifier:code:modifiers."""
    size = len(elements)
    composite = (elements[1] if size > 1 else "").split(component)
    if len(composite) < 2 or not composite[1]:
        raise X12Error(_missing_code("SVC01", composite[0], component), index)
    original = (elements[6] or None) if size > 6 else None
    if original and component in original:
        original = original.split(component)[1]
    charge = _PARSED.get(elements[2]) if size > 2 else None
    if charge is None:
        charge = _amount(elements, 2, index, "SVC02", None)
    paid = _PARSED.get(elements[3]) if size > 3 else None
    if paid is None:
        paid = _amount(elements, 3, index, "SVC03", None)
    units = _PARSED.get(elements[5]) if size > 5 else None
    if units is None:
        units = _amount(elements, 5, index, "SVC05", ONE)
    return RemitLine(
        intern(composite[1]),
        [intern(modifier) for modifier in composite[2:6] if modifier],
        charge,
        paid,
        units,
        intern(composite[0]),
        (elements[4] or None) if size > 4 else None,
        original,
        None,
        None,
        None,
        [],
        [],
        index,
    )


def _refuse_4010(gs: list[str], index: int) -> None:
    """GS08 names the guide of the group's transactions: a 4010 one (004010X091A1 for the 835) is refused by
    name, never read as if it were 5010 (its segments look alike; its codes and rules differ)."""
    version = _element(gs, 8) or ""
    if version.startswith("004010"):
        kind = "835" if _element(gs, 1) == "HP" else f"file (GS01 {quote(_element(gs, 1) or '')})"
        raise X12Error(f"a 4010 {kind} (GS08 {version}): only {VERSION} is read", index)


def _check_control(name: str, trailer: list[str], header_name: str, header: str, at: int, index: int) -> None:
    """A trailer repeats its header's control number: a mismatch is a spliced or garbled envelope."""
    control = _element(trailer, int(name[-2:])) or ""
    if control != header:
        raise X12Error(
            f"{name} {quote(control)} does not match {header_name} {quote(header)} (segment {at}): "
            "the trailer closes another envelope (spliced or garbled)",
            index,
        )


def _missing_code(name: str, composite: str, component: str) -> str:
    """Why a composite has no code: often its parts are joined by another separator than ISA16 declares."""
    found = next((c for c in composite if c in COMPONENT_LIKE and c != component), None)
    if found is not None:
        return (
            f"{name} {quote(composite)} separates its parts with {quote(found)}, but ISA16 declares "
            f"{quote(component)} as the component separator"
        )
    return f"{name} has no procedure code"


def _refuse_repeated_claims(claims: list[RemitClaim], payments: list[Payment]) -> None:
    """A claim twice in one payment with the same status, amounts, payer claim number, patient and service
    lines is the same claim sent twice: posting both would double its allowed amount. A reversal (CLP02 22)
    and its correction share CLP01 but differ in status and amounts, so they pass; so do two patients' claims
    that share a CLP01 (the guide's own multiple-claims example does)."""
    if len({claim.id for claim in claims}) == len(claims):
        return  # the common case, checked at C speed: every CLP01 of the file is unique
    seen: dict[tuple[object, ...], RemitClaim] = {}
    for claim in claims:
        amounts = (claim.charge, claim.paid, claim.patient_responsibility)
        lines = tuple((line.code, *line.modifiers, line.charge, line.paid, line.service_date) for line in claim.lines)
        key = (claim.payment, claim.id, claim.status, *amounts, claim.payer_claim_id, claim.patient_name, lines)
        earlier = seen.setdefault(key, claim)
        if earlier is not claim:
            raise X12Error(
                f"claim {claim.id} is twice in payment {payments[claim.payment].trace_number} with the same status, "
                f"amounts, payer claim number, patient and lines (CLP at segments {earlier.segment} and "
                f"{claim.segment}): the same claim paid twice in one file",
                claim.segment,
            )


def _balance(payments: list[Payment], claims: list[RemitClaim], plb: list[ProviderAdjustment]) -> list[Imbalance]:
    """Transaction: sum of CLP04 less PLB equals BPR02. Claim: CLP03 - CLP04 equals the claim and line
    CAS totals. Line: SVC02 - SVC03 equals the line's CAS total."""
    found = []
    paid_by_payment = [ZERO] * len(payments)
    for claim in claims:
        if claim.payment < len(payments):
            paid_by_payment[claim.payment] += claim.paid
        adjusted = ZERO
        for adjustment in claim.adjustments:
            adjusted += adjustment.amount
        for line in claim.lines:
            line_adjusted = ZERO
            for adjustment in line.adjustments:
                line_adjusted += adjustment.amount
            adjusted += line_adjusted
            if line.charge - line.paid != line_adjusted:
                message = (
                    f"claim {claim.id} line {line.code}: charge {line.charge} less paid {line.paid} = "
                    f"{line.charge - line.paid}, but the adjustments total {line_adjusted}"
                )
                found.append(Imbalance(line.segment, "line", message))
        if claim.charge - claim.paid != adjusted:
            message = (
                f"claim {claim.id}: charge {claim.charge} less paid {claim.paid} = "
                f"{claim.charge - claim.paid}, but the adjustments total {adjusted}"
            )
            found.append(Imbalance(claim.segment, "claim", message))
    for number, payment in enumerate(payments):
        taken = sum((a.amount for a in plb if a.payment == number), ZERO)
        paid = paid_by_payment[number]
        if paid - taken != payment.amount:
            message = (
                f"transaction {payment.control_number}: claims paid {paid} less provider adjustments {taken} "
                f"= {paid - taken}, but BPR02 is {payment.amount}"
            )
            found.append(Imbalance(payment.segment, "transaction", message))
    return sorted(found, key=lambda imbalance: imbalance.segment)


def read_835(data: str | bytes) -> Remittance:
    """Read a whole 835 file: one interchange or several. Raises X12Error for a file that cannot be read."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    try:
        with collector_paused(keep_built=True):
            return _Reader(text).read()
    finally:
        _PARSED.clear()
