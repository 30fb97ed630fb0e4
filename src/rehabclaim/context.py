"""What every rule sees while a visit is scrubbed."""

from __future__ import annotations

from dataclasses import dataclass, field

from rehabclaim.catalog import Catalog
from rehabclaim.cms.tables import CmsTables
from rehabclaim.diagnoses import DiagnosisIndex
from rehabclaim.history import History
from rehabclaim.lines import WorkLine
from rehabclaim.model import Finding, Visit
from rehabclaim.payers import PayerPolicy
from rehabclaim.thresholds import Thresholds
from rehabclaim.units import UnitPlan


@dataclass(slots=True)
class ScrubContext:
    visit: Visit
    payer: PayerPolicy
    catalog: Catalog
    thresholds: Thresholds
    diagnoses: DiagnosisIndex
    cms: CmsTables
    history: History
    lines: list[WorkLine]
    plan: UnitPlan
    findings: list[Finding] = field(default_factory=list)
    codes: set[str] = field(init=False)  # every code on the visit
    has_orthosis: bool = field(init=False)  # an orthosis device code (L-code) is on the visit
    # each diagnosis as written, with True (billable), False (category) or None (not ICD-10-CM)
    diagnosis_status: list[tuple[str, bool | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.codes = {line.code.code for line in self.lines}
        self.has_orthosis = any(line.code.is_orthosis for line in self.lines)
        self.diagnosis_status = [(code, self.diagnoses.lookup(code)) for code in self.visit.diagnoses]

    def line_for(self, code: str) -> WorkLine | None:
        for line in self.lines:
            if line.code.code == code:
                return line
        return None
