"""Reading the versioned data files shipped in ``rehabclaim/data``.

Every figure a rule uses lives in one of these TOML files beside its source; a bad file is refused whole
with the file and the field named.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any


class DataFileError(ValueError):
    """A bundled or user-supplied data file is malformed; the message names the file and the field."""


@cache
def load_toml(name: str) -> dict[str, Any]:
    """Parse ``rehabclaim/data/<name>`` once per process."""
    text = resources.files("rehabclaim.data").joinpath(name).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{name}: {exc}") from exc


def require(table: dict[str, Any], field: str, kind: type | tuple[type, ...], where: str) -> Any:
    """Return ``table[field]`` checked against ``kind``, or raise naming ``where`` and ``field``."""
    if field not in table:
        raise DataFileError(f"{where}: missing field '{field}'")
    value = table[field]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataFileError(f"{where}: field '{field}' must be {_kind_name(kind)}, got {value!r}")
    return value


def optional_date(table: dict[str, Any], field: str, where: str) -> date | None:
    value = table.get(field)
    if value is not None and not isinstance(value, date):
        raise DataFileError(f"{where}: field '{field}' must be a date (YYYY-MM-DD), got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
