"""Errors for input that cannot be scrubbed (exit status 2, HTTP 4xx later)."""

from __future__ import annotations

import ast
import re

_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED_FIELD = re.compile(r"Object (?:missing required|contains unknown) field `(?P<field>[^`]+)`")
_ECHOED_VALUE = re.compile(r"^(?P<head>Invalid enum value )(?P<value>.+)$", re.DOTALL)
MISSING_FIELD = "Object missing required field"
QUOTE_LIMIT = 24  # characters of a bad value a message may show: enough to find it, too few to leak a record


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A bad value for a message: its repr, cut to ``limit`` characters with the full length said, so no
    message echoes a whole field (which may hold patient data put in the wrong place) or megabytes."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def short_reason(reason: str) -> str:
    """A msgspec reason with the bad value it echoes in full (``Invalid enum value 'XYZ'``) cut by ``quote``."""
    echoed = _ECHOED_VALUE.match(reason)
    if echoed is None:
        return reason
    try:
        value = ast.literal_eval(echoed["value"])  # msgspec writes the value's repr
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = echoed["value"]
    return f"{echoed['head']}{quote(value)}"


def validation_field(message: str) -> tuple[str, str]:
    """Split a msgspec validation message into the dotted field path (``services[0].minutes``; for a
    missing or unknown field, that field's own path) and the reason, backticks removed."""
    match = _AT_PATH.match(message)
    reason, path = (match["reason"], (match["path"] or "").lstrip(".")) if match else (message, "")
    named = _NAMED_FIELD.match(reason)
    if named:
        path = f"{path}.{named['field']}" if path else named["field"]
    return path, reason.replace("`", "")


class InputError(ValueError):
    """Unreadable or invalid input. ``field`` is a path like ``services[2].minutes``."""

    def __init__(self, field: str, reason: str, line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.line = line
        super().__init__(str(self))

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, int | None]]:
        return (InputError, (self.field, self.reason, self.line))  # picklable across batch workers

    def at_line(self, line: int) -> InputError:
        return InputError(self.field, self.reason, line)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.reason}" if self.field else f"{where}{self.reason}"
