"""What every rule sees while a visit is scrubbed."""

from __future__ import annotations

from dataclasses import dataclass, field

from rehabclaim.catalog import Catalog
from rehabclaim.diagnoses import DiagnosisIndex
from rehabclaim.lines import WorkLine
from rehabclaim.model import Finding, Visit
from rehabclaim.payers import PayerProfile
from rehabclaim.thresholds import Thresholds
from rehabclaim.units import UnitPlan


@dataclass(slots=True)
class ScrubContext:
    visit: Visit
    payer: PayerProfile
    catalog: Catalog
    thresholds: Thresholds
    diagnoses: DiagnosisIndex
    lines: list[WorkLine]
    plan: UnitPlan
    findings: list[Finding] = field(default_factory=list)

    def line_for(self, code: str) -> WorkLine | None:
        for line in self.lines:
            if line.code.code == code:
                return line
        return None

    @property
    def codes(self) -> set[str]:
        return {line.code.code for line in self.lines}

    @property
    def has_orthosis(self) -> bool:
        return any(line.code.is_orthosis for line in self.lines)
