"""Segments, separators and the interchange envelope shared by the 837P writer and the 835 reader.

The separators of a file are read from its ISA segment, never assumed: the element separator is the
character after "ISA", the repetition separator is ISA11, the component separator is ISA16 and the
segment terminator is the character right after ISA16 (ISA is fixed-length: 106 characters). Line breaks
after a segment terminator are allowed and ignored.

Writing: every element value is checked against its X12 data element (``element_problem``: characters,
separators, type, length) by the writer that knows the element; ``render`` then checks the whole text once
more (no separator or control character inside an element) and raises ``X12WriteError`` rather than return
a corrupt interchange.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from rehabclaim.errors import quote

ISA_LENGTH = 106
LINE_BREAKS = "\r\n"
TEXT_TYPES = ("AN", "ID")
UNPRINTABLE = re.compile(r"[^\x20-\x7e\r\n]")  # outside printable ASCII: the 5010 basic and extended sets


class X12Error(ValueError):
    """An unreadable file: truncated, garbled or wrongly enveloped. ``segment`` is 1-based."""

    def __init__(self, message: str, segment: int | None = None) -> None:
        self.segment = segment
        super().__init__(f"segment {segment}: {message}" if segment else message)


class X12WriteError(ValueError):
    """An element that cannot be written as built (a bug upstream: the data should have been refused before);
    nothing is written."""


@dataclass(frozen=True, slots=True)
class Separators:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def check(self) -> None:
        chosen = (self.element, self.component, self.repetition, self.segment)
        if len(set(chosen)) != 4 or any(len(c) != 1 or c.isalnum() or c == " " for c in chosen):
            raise ValueError(f"separators must be four different punctuation characters, got {chosen!r}")

    def found_in(self, value: str) -> bool:
        """Whether ``value`` holds any of the separators."""
        return self.element in value or self.segment in value or self.component in value or self.repetition in value

    def roles(self) -> tuple[tuple[str, str], ...]:
        """Each separator with what it separates, in words for a message."""
        return (
            (self.segment, "segments"),
            (self.element, "elements"),
            (self.component, "the parts of an element"),
            (self.repetition, "repeated values"),
        )


@dataclass(frozen=True, slots=True)
class ElementSpec:
    """An X12 data element as a segment position uses it: ``NM103`` is data element 1035, AN, 1-60."""

    reference: str  # segment id and position, "-NN" for a component: NM103, SV101-03
    element: str  # the data element number in the X12 dictionary
    type: str  # AN string, ID code, N0 integer, R decimal, DT date, TM time
    min: int
    max: int


def _numeric_length(value: str, decimal: bool) -> int | None:
    """Digits of an N0 or R value (sign and point do not count), or None when it is not such a number."""
    digits = value.removeprefix("-")
    if decimal and digits.count(".") == 1 and not digits.endswith("."):
        digits = digits.replace(".", "")
    return len(digits) if digits.isdigit() and digits.isascii() else None


def _length(spec: ElementSpec, value: str) -> int | None:
    if spec.type in ("N0", "R"):
        return _numeric_length(value, spec.type == "R")
    if spec.type in ("DT", "TM"):
        return len(value) if value.isdigit() and value.isascii() else None
    return len(value)


def fits(spec: ElementSpec, value: str) -> bool:
    """The common case, decided fast: ``value`` is good for ``spec`` (separators aside). False is not a
    verdict: ``element_problem`` then looks closer (a decimal with a point, a trailing space in ISA)."""
    if spec.type in TEXT_TYPES:
        return spec.min <= len(value) <= spec.max and value.isascii() and value.isprintable() and value[-1] != " "
    return spec.min <= len(value) <= spec.max and value.isdigit() and value.isascii()


def element_problem(spec: ElementSpec, value: str, separators: Separators | None = None) -> str | None:
    """Why ``value`` cannot be written as ``spec`` (in words, naming no more of the value than the offending
    character), or None. Characters: printable ASCII only, which is the 5010 basic and extended character
    sets together (so lowercase is allowed); with ``separators``, none of them. An empty value is "at least
    N needed": the caller skips elements it omits."""
    if fits(spec, value) and not (separators and separators.found_in(value)):
        return None
    if not (value.isascii() and value.isprintable()):
        bad = next(c for c in value if not (c.isascii() and c.isprintable()))
        return f"contains {quote(bad)}, a character an X12 file cannot carry"
    for separator, role in separators.roles() if separators else ():
        if separator in value:
            return f"contains {quote(separator)}, which separates {role} in the claim file"
    length = _length(spec, value)
    if length is None:
        return "is not a number" if spec.type in ("N0", "R") else "is not a date or time"
    if length < spec.min:
        return "is empty" if not value else f"is {length} character(s) long; at least {spec.min} needed"
    if length > spec.max:
        return f"is {length} characters long; at most {spec.max} fit"
    if spec.type in TEXT_TYPES and value.endswith(" ") and len(value.rstrip()) >= spec.min:
        return "ends with a space"
    return None


def read_separators(text: str) -> Separators:
    """The separators declared by the file's ISA segment."""
    start = text.lstrip("\ufeff \r\n\t")
    if not start.startswith("ISA"):
        raise X12Error("the file does not start with an ISA interchange header (no envelope)", 1)
    if len(start) < ISA_LENGTH:
        raise X12Error("the ISA segment is shorter than 106 characters (truncated)", 1)
    element = start[3]
    fields = start[:ISA_LENGTH].split(element)
    if len(fields) != 17:
        raise X12Error(f"the ISA segment has {len(fields) - 1} elements, not 16 (garbled)", 1)
    repetition, component, segment = fields[11], start[104], start[105]
    separators = Separators(element, component, repetition if repetition != "U" else "^", segment)
    try:
        separators.check()
    except ValueError as exc:
        raise X12Error(f"the ISA segment declares unusable separators ({exc})", 1) from None
    return separators


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is read into a large tree of objects that holds no
    reference cycles: otherwise each full collection walks every object built so far (quadratic time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def iter_segments(text: str, separators: Separators) -> Iterator[list[str]]:
    """Every segment as its list of elements (element 0 is the tag), in file order, one at a time: a large
    file never holds all its element lists at once."""
    element, terminator = separators.element, separators.segment
    if terminator not in "\r\n":
        # Line breaks are only ever layout between segments: drop them in one pass.
        text = text.replace("\r", "").replace("\n", "")
        return (raw.split(element) for raw in text.split(terminator) if raw and not raw.isspace())
    return (raw.strip().split(element) for raw in text.split(terminator) if raw.strip())


@dataclass(frozen=True, slots=True)
class Envelope:
    """The ISA/GS header and GE/IEA trailer around one transaction set (one functional group)."""

    sender_id: str
    receiver_id: str
    control_number: int  # ISA13 (GS06 may differ)
    group_control_number: int
    created: datetime
    functional_id: str  # GS01: HC claims, HP payments
    version: str  # GS08: 005010X222A1, 005010X221A1
    usage: str = "P"

    def header(self, separators: Separators) -> list[list[str]]:
        when = self.created
        isa = [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            self.sender_id.ljust(15),  # never cut: a longer id fails ISA06's check instead
            "ZZ",
            self.receiver_id.ljust(15),
            when.strftime("%y%m%d"),
            when.strftime("%H%M"),
            separators.repetition,
            "00501",
            f"{self.control_number:09d}",
            "0",
            self.usage,
            separators.component,
        ]
        gs = [
            "GS",
            self.functional_id,
            self.sender_id,
            self.receiver_id,
            when.strftime("%Y%m%d"),
            when.strftime("%H%M"),
            str(self.group_control_number),
            "X",
            self.version,
        ]
        return [isa, gs]

    def trailer(self) -> list[list[str]]:
        return [["GE", "1", str(self.group_control_number)], ["IEA", "1", f"{self.control_number:09d}"]]


def render(segments: list[list[str]], separators: Separators, newline: bool = True) -> str:
    """Join segments; trailing empty elements are dropped, as the standard asks. The text is checked whole:
    each separator and line break occurs exactly where the structure puts it, and nothing but printable
    ASCII occurs; otherwise ``X12WriteError``. (The component separator is not counted: composites come
    joined; the 837P writer puts only codes of letters and digits in them.)"""
    end = separators.segment + ("\n" if newline and separators.segment not in LINE_BREAKS else "")
    out = []
    dropped = 0
    for elements in segments:
        last = len(elements)
        while last > 1 and elements[last - 1] == "":
            last -= 1
        dropped += len(elements) - last
        out.append(separators.element.join(elements[:last]) + end)
    text = "".join(out)
    structural = sum(map(len, segments)) - len(segments) - dropped  # element separators the structure puts in
    _check_rendered(text, len(segments), separators, structural, end)
    return text


def _check_rendered(text: str, segments: int, separators: Separators, structural: int, end: str) -> None:
    """Count every special character: an element holding one adds to its count, so a count equal to the
    structure's proves no element holds one (a few passes over the text, at C speed)."""
    expected = dict.fromkeys((separators.element, separators.segment, separators.repetition, *LINE_BREAKS), 0)
    expected[separators.element] += structural
    for character in end:
        expected[character] += segments
    expected.pop(separators.component, None)  # ISA16 and composites, whose parts the writer checks
    for character, count in expected.items():  # the element separator first: the ISA count below relies on it
        if character == separators.repetition:
            count += text.count(f"ISA{separators.element}")  # ISA11 holds it
        found = text.count(character)
        if found != count:
            raise X12WriteError(f"{found - count} element(s) contain {quote(character)}, a separator of this file")
    if UNPRINTABLE.search(text):  # line breaks were counted above
        raise X12WriteError("an element contains a character an X12 file cannot carry")
