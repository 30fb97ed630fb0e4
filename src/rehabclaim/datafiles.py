"""Reading the versioned data files shipped in ``rehabclaim/data``.

Every figure a rule uses lives in one of these TOML files beside its source; a bad file is refused whole
with the file and the field named.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import msgspec

from rehabclaim.errors import validation_field

T = TypeVar("T")


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


def line_of(text: str, dotted: str) -> int | None:
    """The line where ``dotted`` (``units.max_per_visit``) is set, or its table starts; None if absent."""
    parts = dotted.split(".")
    table: list[str] = []
    best: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", line)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")]
            if table == parts:
                best = number
            continue
        key = re.match(r'^"?([A-Za-z0-9_\-]+)"?\s*=', line)
        if key and [*table, key.group(1)] == parts:
            return number
        if key and [*table, key.group(1)] == parts[: len(table) + 1] and len(parts) > len(table) + 1:
            best = best or number  # an inline table holding the field
    return best


def _conversion_error(origin: str, text: str, message: str) -> DataFileError:
    path, reason = validation_field(message)
    line = line_of(text, path) if path else None
    where = f"{origin} line {line}" if line else origin
    return DataFileError(f"{where}: {path or 'file'}: {reason}")


def convert_toml(text: str, kind: type[T], origin: str) -> T:
    """Parse TOML ``text`` into the msgspec type ``kind``; errors name the file, line and field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataFileError(f"{origin}: {exc}") from None
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise _conversion_error(origin, text, str(exc)) from None


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
