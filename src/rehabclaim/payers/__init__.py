"""Payer profiles: which unit method and modifier policies a payer uses.

This is the small built-in table from ``data/payers.toml``; a payer that is not listed uses the
``[default]`` profile (CMS method). The full payer policy matrix replaces this later.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from rehabclaim.datafiles import DataFileError, load_toml, require
from rehabclaim.units.methods import METHODS


@dataclass(frozen=True, slots=True)
class PayerProfile:
    key: str
    name: str
    unit_method: str
    assistant_modifiers: bool
    source: str
    configured: bool = True


def _parse(key: str, row: dict[str, Any], configured: bool) -> PayerProfile:
    where = f"payers.toml: payer {key}"
    method = require(row, "unit_method", str, where)
    if method not in METHODS:
        raise DataFileError(f"{where}: field 'unit_method' must be one of {', '.join(METHODS)}, got {method!r}")
    return PayerProfile(
        key=key,
        name=require(row, "name", str, where),
        unit_method=method,
        assistant_modifiers=require(row, "assistant_modifiers", bool, where),
        source=require(row, "source", str, where),
        configured=configured,
    )


@cache
def payer_table() -> dict[str, PayerProfile]:
    raw = load_toml("payers.toml")
    return {key.lower(): _parse(key.lower(), row, True) for key, row in raw.get("payer", {}).items()}


@lru_cache(maxsize=4096)  # bounded: payer names come from input
def payer_profile(key: str) -> PayerProfile:
    """The profile for ``key`` (case-insensitive), or the default profile under that key."""
    normalized = key.strip().lower()
    found = payer_table().get(normalized)
    if found is not None:
        return found
    default = _parse("default", load_toml("payers.toml")["default"], False)
    return PayerProfile(
        normalized,
        default.name,
        default.unit_method,
        default.assistant_modifiers,
        default.source,
        configured=False,
    )
