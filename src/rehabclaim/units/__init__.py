"""Units for timed codes: the CMS total-time method and the per-code method."""

from rehabclaim.units.assign import assign_units
from rehabclaim.units.methods import METHODS, UnitPlan, UnitTexts, allocate_units, cms_total_time, per_code

__all__ = ["METHODS", "UnitPlan", "UnitTexts", "allocate_units", "assign_units", "cms_total_time", "per_code"]
