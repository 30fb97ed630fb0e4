"""A patient's history as the rules see it: from the ledger, or from what the caller put on the visit.

Rules ask a ``History`` and never care where the answer comes from; each answer says its source so the
output can tell an auditor whether a figure came from our ledger or from the caller.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, Literal, Protocol, TypeVar

import msgspec

from rehabclaim.model import Authorization, PlanOfCare, Visit

Benefit = Literal["PT_SLP", "OT"]
BENEFIT_OF: dict[str, Benefit] = {"PT": "PT_SLP", "SLP": "PT_SLP", "OT": "OT"}


T = TypeVar("T")


# a frozen msgspec Struct rather than a dataclass: the rules ask for several a visit, and a Struct is made five
# times faster (a dataclass's __init__ runs as interpreted Python, compiled modules or not: scripts/compile)
class Sourced(msgspec.Struct, Generic[T], frozen=True):
    value: T
    source: str  # "ledger" or "visit"


class History(Protocol):
    def allowed_ytd(self, visit: Visit, benefit: Benefit) -> Sourced[Decimal] | None: ...

    def has_orthotic_encounter(self, visit: Visit, region: str) -> Sourced[bool] | None: ...

    def treatment_days_since_progress_report(self, visit: Visit) -> Sourced[int] | None: ...

    def plan_of_care(self, visit: Visit) -> Sourced[PlanOfCare] | None: ...

    def authorization(self, visit: Visit) -> Sourced[Authorization] | None: ...


class VisitHistory:
    """What the caller put on the visit; no ledger consulted."""

    def allowed_ytd(self, visit: Visit, benefit: Benefit) -> Sourced[Decimal] | None:
        if visit.therapy_allowed_ytd is None or benefit not in visit.therapy_allowed_ytd:
            return None
        return Sourced(Decimal(str(visit.therapy_allowed_ytd[benefit])), "visit")

    def has_orthotic_encounter(self, visit: Visit, region: str) -> Sourced[bool] | None:
        return None

    def treatment_days_since_progress_report(self, visit: Visit) -> Sourced[int] | None:
        days = visit.treatment_days_since_progress_report
        return None if days is None else Sourced(days, "visit")

    def plan_of_care(self, visit: Visit) -> Sourced[PlanOfCare] | None:
        return None if visit.plan_of_care is None else Sourced(visit.plan_of_care, "visit")

    def authorization(self, visit: Visit) -> Sourced[Authorization] | None:
        return None if visit.authorization is None else Sourced(visit.authorization, "visit")
