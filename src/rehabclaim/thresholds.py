"""Figures the rules use, from ``data/thresholds.toml`` (each sourced there). ``load_reference`` reads them
once into a Reference; rules read them from the ScrubContext, never from here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rehabclaim.datafiles import DataFileError, load_toml, require


@dataclass(frozen=True, slots=True)
class Thresholds:
    assistant_de_minimis_percent: int
    assistant_required_from: date
    orthotic_device_training_minutes_over: int
    orthotic_units_warning_at: int
    unit_minutes: int
    plan_of_care_certified_days_max: int


def load_thresholds() -> Thresholds:
    """The bundled figures, read and checked now."""
    return parse_thresholds(load_toml("thresholds.toml"))


def parse_thresholds(raw: dict[str, Any]) -> Thresholds:
    """The figures in a parsed thresholds.toml; a missing or out-of-range figure raises DataFileError."""
    assistant, orthotic, units, plan_of_care = (
        require(raw, table, dict, "thresholds.toml") for table in ("assistant", "orthotic", "units", "plan_of_care")
    )
    thresholds = Thresholds(
        assistant_de_minimis_percent=require(assistant, "de_minimis_percent", int, "thresholds.toml [assistant]"),
        assistant_required_from=require(assistant, "required_from", date, "thresholds.toml [assistant]"),
        orthotic_device_training_minutes_over=require(
            orthotic, "device_training_minutes_over", int, "thresholds.toml [orthotic]"
        ),
        orthotic_units_warning_at=require(orthotic, "units_warning_at", int, "thresholds.toml [orthotic]"),
        unit_minutes=require(units, "unit_minutes", int, "thresholds.toml [units]"),
        plan_of_care_certified_days_max=require(
            plan_of_care, "certified_days_max", int, "thresholds.toml [plan_of_care]"
        ),
    )
    for name in ("assistant_de_minimis_percent", "orthotic_device_training_minutes_over", "orthotic_units_warning_at"):
        if getattr(thresholds, name) < 0:
            raise DataFileError(f"thresholds.toml: {name}: must be 0 or more")
    if thresholds.unit_minutes < 1:
        raise DataFileError("thresholds.toml: units.unit_minutes: must be 1 or more")
    if thresholds.plan_of_care_certified_days_max < 1:
        raise DataFileError("thresholds.toml: plan_of_care.certified_days_max: must be 1 or more")
    return thresholds
