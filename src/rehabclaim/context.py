"""What every rule sees while a visit is scrubbed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING

from rehabclaim.catalog import Catalog
from rehabclaim.cms.ptp import PtpEdit
from rehabclaim.cms.tables import CmsTables
from rehabclaim.diagnoses import DiagnosisIndex, Verdict
from rehabclaim.documentation import Checklists, DocumentationReview, review_documentation
from rehabclaim.fees.medicare_policy import MedicarePayment
from rehabclaim.history import History
from rehabclaim.lines import WorkLine
from rehabclaim.memo import remember
from rehabclaim.model import Finding, Visit
from rehabclaim.payers import PayerPolicy
from rehabclaim.pipeline.decisions import KxDecision, TelehealthDecision
from rehabclaim.practice import Practice
from rehabclaim.thresholds import Thresholds
from rehabclaim.units import UnitPlan

if TYPE_CHECKING:
    from rehabclaim.claims.text import ClaimField


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
    _ptp_edits: list[tuple[PtpEdit, WorkLine, WorkLine]] | None = None
    # the values a claim would carry from the visit, listed once by the first claim rule that needs them
    claim_fields: list[ClaimField] | None = None
    # the engine's verdicts by (date of service, code as written), kept across visits (a Scrubber's state)
    verdicts: dict[tuple[date, str], Verdict] | None = None
    # the engine's PTP edits in force by (date of service, billed codes in line order): each as (edit, index
    # of the column 1 line, index of the column 2 line) among the billed lines (a Scrubber's state)
    ptp_found: dict[tuple[date, tuple[str, ...]], list[tuple[PtpEdit, int, int]]] | None = None
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
        verdicts: dict[tuple[date, str], Verdict] | None = None,
        ptp_found: dict[tuple[date, tuple[str, ...]], list[tuple[PtpEdit, int, int]]] | None = None,
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
        self.verdicts = verdicts
        self.ptp_found = ptp_found
        self.distinct_missing = distinct_missing
        self.telehealth = telehealth
        self.kx = kx
        self.codes = {line.code.code for line in lines}
        self.has_orthosis = any(line.code.is_orthosis for line in lines)
        if verdicts is None:
            self.diagnosis_status = diagnoses.statuses(visit.date, visit.diagnoses)
        else:
            self.diagnosis_status = self._cached_statuses(verdicts)

    def _cached_statuses(self, verdicts: dict[tuple[date, str], Verdict]) -> list[tuple[str, Verdict]]:
        day, statuses = self.visit.date, []
        for code in self.visit.diagnoses:
            verdict = verdicts.get((day, code))
            if verdict is None:
                verdict = remember(verdicts, (day, code), self.diagnoses.statuses(day, (code,))[0][1])
            statuses.append((code, verdict))
        return statuses

    @property
    def ptp_edits(self) -> list[tuple[PtpEdit, WorkLine, WorkLine]]:
        """NCCI PTP edits in force between two billed lines: (edit, column 1 line, column 2 line); found once."""
        if self._ptp_edits is None:
            billed = [line for line in self.lines if line.units > 0]
            if self.ptp_found is None:
                found = list(_active_edits(self, billed))
            else:
                found = self._cached_edits(self.ptp_found, billed)
            self._ptp_edits = [(edit, billed[first], billed[second]) for edit, first, second in found]
        return self._ptp_edits

    def _cached_edits(
        self, cache: dict[tuple[date, tuple[str, ...]], list[tuple[PtpEdit, int, int]]], billed: list[WorkLine]
    ) -> list[tuple[PtpEdit, int, int]]:
        key = (self.visit.date, tuple(line.code.code for line in billed))
        found = cache.get(key)
        if found is None:
            found = remember(cache, key, list(_active_edits(self, billed)))
        return found

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


def _active_edits(ctx: ScrubContext, billed: list[WorkLine]) -> Iterator[tuple[PtpEdit, int, int]]:
    """Edits in force between two billed lines: (edit, index of the column 1 line, of the column 2 line)."""
    partners = ctx.cms.ptp.partners
    for first, second in combinations(range(len(billed)), 2):
        code_1, code_2 = billed[first].code.code, billed[second].code.code
        if code_2 not in partners.get(code_1, ()):
            continue
        edit = ctx.cms.ptp.active(code_1, code_2, ctx.visit.date)
        if edit is not None:
            yield (edit, first, second) if edit.column_1 == code_1 else (edit, second, first)
