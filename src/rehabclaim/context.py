"""What every rule sees while a visit is scrubbed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from rehabclaim.catalog import Catalog
from rehabclaim.cms.ptp import PtpEdit
from rehabclaim.cms.tables import CmsTables
from rehabclaim.diagnoses import CodeSetOnDate, DiagnosisIndex, Verdict
from rehabclaim.documentation import Checklists, DocumentationReview, review_documentation
from rehabclaim.fees.medicare_policy import MedicarePayment
from rehabclaim.history import History
from rehabclaim.lines import WorkLine
from rehabclaim.memo import Memo, remember
from rehabclaim.model import Finding, Visit
from rehabclaim.payers import PayerPolicy
from rehabclaim.pipeline.decisions import KxDecision, TelehealthDecision
from rehabclaim.practice import Practice
from rehabclaim.thresholds import Thresholds
from rehabclaim.units import UnitPlan

if TYPE_CHECKING:
    from rehabclaim.claims.text import ClaimField


class DiagnosisDay:
    """One date of service's ICD-10-CM code set (``DiagnosisIndex.on``) with the engine's verdicts: a Scrubber
    keeps one per date (bounded, ``rehabclaim.memo``), so a visit looks its date up once. The verdicts, keyed by
    (date, code as written), are one memo shared by every date: codes come from input, so their bound is the
    engine's whole limit, not one per date."""

    def __init__(self, day: date, code_set: CodeSetOnDate, verdicts: dict[tuple[date, str], Verdict]) -> None:
        self.day = day
        self.code_set = code_set
        self.verdicts = verdicts

    def statuses(self, codes: list[str]) -> list[tuple[str, Verdict]]:
        """Each code with its verdict (``DiagnosisIndex.statuses`` on this date)."""
        statuses = []
        for code in codes:
            key = (self.day, code)
            verdict = self.verdicts.get(key)
            if verdict is None:
                verdict = remember(self.verdicts, key, self.code_set.verdict(code))
            statuses.append((code, verdict))
        return statuses


# init=False and a written __init__: the one dataclasses generates runs as interpreted Python even where mypyc
# compiles this module (scripts/compile); one context a visit
@dataclass(slots=True, init=False)
class ScrubContext:
    visit: Visit
    payer: PayerPolicy
    catalog: Catalog
    thresholds: Thresholds
    diagnoses: DiagnosisIndex
    cms: CmsTables
    history: History
    practice: Practice
    medicare: MedicarePayment  # the engine's Medicare figures (thresholds, conversion factors, code swaps)
    lines: list[WorkLine]
    plan: UnitPlan
    findings: list[Finding] = field(default_factory=list)
    # the documentation checklists (rule family T); the review of the visit's note is built once, on first use
    documentation_checklists: Checklists | None = None
    _documentation_review: DocumentationReview | None = None
    codes: set[str] = field(init=False)  # every code on the visit
    has_orthosis: bool = field(init=False)  # an orthosis device code (L-code) is on the visit
    # each diagnosis as written, with its verdict on the date of service: status True (billable), False
    # (category) or None (not ICD-10-CM), and whether the release in force (or covered dated changes) backs it
    diagnosis_status: list[tuple[str, Verdict]] = field(init=False)
    code_set: CodeSetOnDate = field(init=False)  # the ICD-10-CM code set on the date of service
    _ptp_edits: list[tuple[PtpEdit, WorkLine, WorkLine]] | None = None
    # the values a claim would carry from the visit, listed once by the first claim rule that needs them
    claim_fields: list[ClaimField] | None = None
    # the date of service's code set and verdicts, kept across visits (a Scrubber's state; None: the visit's own)
    diagnosis_day: DiagnosisDay | None = None
    # what the line-changing stages (rehabclaim.pipeline) decided for the visit, for the rules that report it:
    # the indicator-1 PTP pairs the distinct stage could not mark (N002), in edit order; the telehealth
    # stage's decision (P005); the KX stage's (K001)
    distinct_missing: tuple[tuple[PtpEdit, WorkLine, WorkLine], ...] = ()
    telehealth: TelehealthDecision | None = None
    kx: KxDecision | None = None

    def __init__(
        self,
        visit: Visit,
        payer: PayerPolicy,
        catalog: Catalog,
        thresholds: Thresholds,
        diagnoses: DiagnosisIndex,
        cms: CmsTables,
        history: History,
        practice: Practice,
        medicare: MedicarePayment,
        lines: list[WorkLine],
        plan: UnitPlan,
        findings: list[Finding] | None = None,
        documentation_checklists: Checklists | None = None,
        _documentation_review: DocumentationReview | None = None,
        _ptp_edits: list[tuple[PtpEdit, WorkLine, WorkLine]] | None = None,
        claim_fields: list[ClaimField] | None = None,
        diagnosis_day: DiagnosisDay | None = None,
        distinct_missing: tuple[tuple[PtpEdit, WorkLine, WorkLine], ...] = (),
        telehealth: TelehealthDecision | None = None,
        kx: KxDecision | None = None,
    ) -> None:
        self.visit = visit
        self.payer = payer
        self.catalog = catalog
        self.thresholds = thresholds
        self.diagnoses = diagnoses
        self.cms = cms
        self.history = history
        self.practice = practice
        self.medicare = medicare
        self.lines = lines
        self.plan = plan
        self.findings = [] if findings is None else findings
        self.documentation_checklists = documentation_checklists
        self._documentation_review = _documentation_review
        self._ptp_edits = _ptp_edits
        self.claim_fields = claim_fields
        self.diagnosis_day = diagnosis_day
        self.distinct_missing = distinct_missing
        self.telehealth = telehealth
        self.kx = kx
        self.codes = {line.code.code for line in lines}
        self.has_orthosis = any(line.code.is_orthosis for line in lines)
        if diagnosis_day is None:
            diagnosis_day = DiagnosisDay(visit.date, diagnoses.on(visit.date), Memo())
        self.code_set = diagnosis_day.code_set
        self.diagnosis_status = diagnosis_day.statuses(visit.diagnoses)

    @property
    def ptp_edits(self) -> list[tuple[PtpEdit, WorkLine, WorkLine]]:
        """NCCI PTP edits in force between two billed lines: (edit, column 1 line, column 2 line); found once.
        Read from the table's index per pair of billed codes, no cache: a visit's codes and date together
        seldom repeat."""
        if self._ptp_edits is None:
            self._ptp_edits = _active_edits(self, [line for line in self.lines if line.units > 0])
        return self._ptp_edits

    @property
    def documentation_review(self) -> DocumentationReview:
        """The visit's note judged against its billed codes (only for a visit with a documentation object)."""
        if self._documentation_review is None:
            if self.documentation_checklists is None:
                raise ValueError("no documentation checklists in this scrub context")
            self._documentation_review = review_documentation(
                self.visit, self.lines, self.documentation_checklists, self.payer.documentation.require
            )
        return self._documentation_review

    def line_for(self, code: str) -> WorkLine | None:
        for line in self.lines:
            if line.code.code == code:
                return line
        return None


def _active_edits(ctx: ScrubContext, billed: list[WorkLine]) -> list[tuple[PtpEdit, WorkLine, WorkLine]]:
    """Edits in force between two billed lines, pairs in line order: (edit, column 1 line, column 2 line)."""
    applicable, day = ctx.cms.ptp.applicable, ctx.visit.date
    found: list[tuple[PtpEdit, WorkLine, WorkLine]] = []
    for first, line_1 in enumerate(billed):
        code_1 = line_1.code.code
        partners = applicable.get(code_1)
        if partners is None:
            continue
        for line_2 in billed[first + 1 :]:
            for start, last, edit in partners.get(line_2.code.code, ()):  # cms.ptp.in_force_on, inlined (compiled)
                if start <= day <= last:
                    found.append((edit, line_1, line_2) if edit.column_1 == code_1 else (edit, line_2, line_1))
                    break
    return found
