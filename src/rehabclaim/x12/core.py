"""Segments, separators and the interchange envelope shared by the 837P writer and the 835 reader.

The separators of a file are read from its ISA segment, never assumed: the element separator is the
character after "ISA", the repetition separator is ISA11, the component separator is ISA16 and the
segment terminator is the character right after ISA16 (ISA is fixed-length: 106 characters). Line breaks
after a segment terminator are allowed and ignored.

Reading real files: ``interchanges`` splits a file into its ISA..IEA interchanges, each with the separators
its own ISA declares (payers batch many interchanges in one file), after dropping what is layout, not data:
a byte-order mark, blank space before a segment (pretty-printed files), line breaks inside an ISA wrapped at
80 columns, and a DOS end-of-file (Ctrl-Z) or NUL fill after the last IEA. ``iter_segments`` then splits one
interchange into element lists.

Writing: every element value is checked against its X12 data element (``element_problem``: characters,
separators, type, length) by the writer that knows the element; ``render`` then checks the whole text once
more (no separator or control character inside an element) and raises ``X12WriteError`` rather than return
a corrupt interchange. The writer's value formats (``money``, ``d8``) live here too, compiled with this module.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import chain

from rehabclaim.errors import quote

ISA_LENGTH = 106
LINE_BREAKS = "\r\n"
TEXT_TYPES = ("AN", "ID")
UNPRINTABLE = re.compile(r"[^\x20-\x7e\r\n]")  # outside printable ASCII: the 5010 basic and extended sets
# Before the ISA: a byte-order mark (U+FEFF, or its UTF-8 bytes read as Latin-1) and blank space.
LEADING = "\ufeff\xef\xbb\xbf \t\r\n"
# Between and after interchanges: blank space, a DOS end-of-file (Ctrl-Z) and NUL fill of fixed-size records.
PADDING = " \t\r\n\x1a\x00"
# ISA11 is the repetition separator in 5010 but "U" (the standards id) in 4010: a file without one gets the first
# of these that it does not use, so Separators stays four distinct characters (the reader never splits on it).
REPETITION_STAND_INS = "^{}!|`"
INDENT_LOOK = 1 << 16  # characters at the head of a file looked at for indented segments
SEGMENT_BATCH = 1 << 16  # characters of text split into segments at a time


class X12Error(ValueError):
    """An unreadable file: truncated, garbled or wrongly enveloped. ``segment`` is 1-based."""

    def __init__(self, message: str, segment: int | None = None) -> None:
        self.segment = segment
        self.reason = message  # without the segment: a caller that knows the segment better re-raises with it
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


Limits = dict[str, tuple[int, int, str]]  # per element reference: minimum and maximum length, what it holds


def suspect_values(
    values: Sequence[tuple[str, str]], limits: Limits, separators: Separators | None = None
) -> list[int]:
    """Indexes of the (reference, value) pairs that the fast check does not pass, for ``element_problem`` to
    look at: every index when the values together hold a character outside printable ASCII or a separator;
    else those whose length is outside ``limits`` or that end with a space, and codes (``"code"``: letters and
    digits) and numbers (``"number"``: digits; a decimal point or sign takes the slow path) that do not look
    it; any text fits a text element. One character and separator check over all values together and a
    length comparison per value: this runs for every claim built."""
    all_text = "".join([value for _, value in values])
    if not (all_text.isascii() and all_text.isprintable()) or (separators and separators.found_in(all_text)):
        return list(range(len(values)))
    suspects = []
    for index, (reference, value) in enumerate(values):
        low, high, kind = limits[reference]
        if (
            not (low <= len(value) <= high)
            or value[-1] == " "
            or (kind != "text" and not (value.isdigit() if kind == "number" else value.isalnum()))
        ):
            suspects.append(index)
    return suspects


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


def money(amount: Decimal) -> str:
    """X12 decimal: cents at most (rounded half to even), no trailing zeros after the point, no point for
    whole amounts (120, 65.5)."""
    text = f"{amount:.2f}"
    return text.rstrip("0").rstrip(".")


def d8(day: date) -> str:
    """CCYYMMDD."""
    return day.isoformat().replace("-", "")


def read_separators(text: str) -> Separators:
    """The separators declared by the file's ISA segment (its first one; ``interchanges`` reads each).
    A byte-order mark and blank space before it are skipped; an ISA broken over lines (a file wrapped at 80
    columns) is read without its line breaks, as ``iter_segments`` then reads the rest."""
    start = text.lstrip(LEADING)
    if not start.startswith("ISA"):
        raise X12Error("the file does not start with an ISA interchange header (no envelope)", 1)
    head = start[:ISA_LENGTH]
    if "\n" in head[:-1] or "\r" in head[:-1]:  # wrapped: a line break cannot be in ISA01..ISA16
        head = start[: ISA_LENGTH * 2].replace("\r", "").replace("\n", "")[:ISA_LENGTH]
    if len(head) < ISA_LENGTH:
        raise X12Error("the ISA segment is shorter than 106 characters (truncated)", 1)
    element = head[3]
    fields = head.split(element)
    if len(fields) != 17:
        raise X12Error(f"the ISA segment has {len(fields) - 1} elements, not 16 (garbled)", 1)
    repetition, component, segment = fields[11], head[104], head[105]
    if len(repetition) != 1 or repetition.isalnum():  # 4010 puts "U" there: no repetition separator
        repetition = next(c for c in REPETITION_STAND_INS if c not in (element, component, segment))
    separators = Separators(element, component, repetition, segment)
    try:
        separators.check()
    except ValueError as exc:
        raise X12Error(f"the ISA segment declares unusable separators ({exc})", 1) from None
    return separators


def _next_interchange(text: str, position: int, terminator: str) -> int:
    """Where the next ISA starts after ``position`` (-1: none): an "ISA" right after a segment terminator (and
    padding), followed by a separator. "ISA" inside data (a name like LISA) is neither."""
    while (found := text.find("ISA", position)) >= 0:
        before = found - 1
        while before >= 0 and text[before] in PADDING and text[before] != terminator:
            before -= 1
        after = text[found + 3 : found + 4]
        if (before < 0 or text[before] == terminator) and after and not after.isalnum() and not after.isspace():
            return found
        position = found + 3
    return -1


def interchanges(text: str) -> Iterator[tuple[Separators, str]]:
    """Each ISA..IEA interchange of a file in order, with the separators its own ISA declares, as text that
    ``iter_segments`` reads: the byte-order mark and blank space before the first ISA are dropped here, the
    padding (blank space, Ctrl-Z, NUL) after each IEA by ``iter_segments`` (a large single interchange is
    yielded as is, never copied). Text after an interchange that is not another ISA stays with it, so a
    reader refuses it naming its segment. X12Error: the file does not start with an ISA (segment 1), or a
    later ISA is unreadable (``segment`` None: only the caller knows its number)."""
    text = text.lstrip(LEADING)
    start, number = 0, 1
    while True:
        try:
            separators = read_separators(text[start : start + ISA_LENGTH * 2])
        except X12Error as exc:
            if number == 1:
                raise
            raise X12Error(f"interchange {number}: {exc.reason}") from None
        following = _next_interchange(text, start + ISA_LENGTH, separators.segment)
        if following < 0:
            yield separators, text[start:] if start else text
            return
        yield separators, text[start:following]
        start, number = following, number + 1


@contextmanager
def collector_paused(keep_built: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is read into a large tree of objects that holds no
    reference cycles: otherwise each full collection walks every object built so far (quadratic time).

    ``keep_built``: the tree is handed to the caller, who keeps it. Everything the collector tracks then goes
    to its oldest generation as it is (``gc.freeze`` then ``gc.unfreeze``: two list splices), so the first
    young collection after the pause does not walk the whole tree; the next full collection still looks at it,
    as at any long-lived object, so cycles elsewhere are collected as ever. Skipped when the process froze
    objects itself (a pre-fork server): unfreezing would hand its frozen objects back to the collector."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if keep_built and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def iter_segments(text: str, separators: Separators) -> Iterator[list[str]]:
    """Every segment as its list of elements (element 0 is the tag), in file order, one at a time: a large
    file never holds all its element lists at once."""
    return chain.from_iterable(segment_batches(text, separators))


def segment_batches(text: str, separators: Separators) -> Iterator[list[list[str]]]:
    """The segments of ``iter_segments`` a batch (about ``SEGMENT_BATCH`` characters of text) at a time: a hot
    reader loops over lists at C speed, and a large file never holds all its segments at once."""
    element, terminator = separators.element, separators.segment
    text = text.lstrip(LEADING)  # the same string, not a copy, when it starts with its ISA
    if terminator in LINE_BREAKS:
        for chunk in _chunks(text, terminator):
            yield [raw.strip(PADDING).split(element) for raw in chunk.split(terminator) if raw.strip(PADDING)]
        return
    # Line breaks are only ever layout between segments (or a wrap at 80 columns): drop them in one pass.
    # Pretty-printed files indent from their second segment on: their head tells (a whole scan costs more).
    head = text[:INDENT_LOOK]
    indented = any(blank in head for blank in ("\n ", "\n\t", f"{terminator} ", f"{terminator}\t"))
    text = text.replace("\r", "").replace("\n", "")
    if text[-1:] in PADDING:  # a copy only when padded (checked after the line breaks are gone)
        text = text.rstrip(PADDING)
    for chunk in _chunks(text, terminator):
        if indented:
            yield [raw.lstrip(" \t").split(element) for raw in chunk.split(terminator) if raw and not raw.isspace()]
        else:
            yield [raw.split(element) for raw in chunk.split(terminator) if raw and not raw.isspace()]


def _chunks(text: str, terminator: str) -> Iterator[str]:
    """``text`` in pieces of about ``SEGMENT_BATCH`` characters, each cut at a segment terminator (which is
    left out): splitting the pieces gives exactly the segments of splitting the whole."""
    start, size = 0, len(text)
    while start < size:
        end = text.find(terminator, start + SEGMENT_BATCH)
        if end < 0:
            yield text[start:] if start else text
            return
        yield text[start:end]
        start = end + 1


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
    element = separators.element
    out = []
    structural = 0  # element separators the structure puts in
    for elements in segments:
        last = len(elements)
        if last > 1 and elements[last - 1] == "":
            while last > 1 and elements[last - 1] == "":
                last -= 1
            elements = elements[:last]
        structural += last - 1
        out.append(element.join(elements))
    text = end.join(out) + end if out else ""
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
