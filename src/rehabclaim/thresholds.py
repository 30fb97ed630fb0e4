"""Figures the rules use, read once from ``data/thresholds.toml`` (each sourced there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from rehabclaim.datafiles import load_toml, require


@dataclass(frozen=True, slots=True)
class Thresholds:
    assistant_de_minimis_percent: int
    assistant_required_from: date
    orthotic_device_training_minutes_over: int
    orthotic_units_warning_at: int
    unit_minutes: int


@cache
def load_thresholds() -> Thresholds:
    raw = load_toml("thresholds.toml")
    assistant, orthotic, units = raw["assistant"], raw["orthotic"], raw["units"]
    return Thresholds(
        assistant_de_minimis_percent=require(assistant, "de_minimis_percent", int, "thresholds.toml [assistant]"),
        assistant_required_from=require(assistant, "required_from", date, "thresholds.toml [assistant]"),
        orthotic_device_training_minutes_over=require(
            orthotic, "device_training_minutes_over", int, "thresholds.toml [orthotic]"
        ),
        orthotic_units_warning_at=require(orthotic, "units_warning_at", int, "thresholds.toml [orthotic]"),
        unit_minutes=require(units, "unit_minutes", int, "thresholds.toml [units]"),
    )
