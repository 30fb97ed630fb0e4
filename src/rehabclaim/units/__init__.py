"""Units for timed codes: the CMS total-time method and the per-code method."""

from rehabclaim.units.methods import UnitPlan, allocate_units, cms_total_time, per_code

__all__ = ["UnitPlan", "allocate_units", "cms_total_time", "per_code"]
