"""Segments, separators and the interchange envelope shared by the 837P writer and the 835 reader.

The separators of a file are read from its ISA segment, never assumed: the element separator is the
character after "ISA", the repetition separator is ISA11, the component separator is ISA16 and the
segment terminator is the character right after ISA16 (ISA is fixed-length: 106 characters). Line breaks
after a segment terminator are allowed and ignored.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

ISA_LENGTH = 106


class X12Error(ValueError):
    """An unreadable file: truncated, garbled or wrongly enveloped. ``segment`` is 1-based."""

    def __init__(self, message: str, segment: int | None = None) -> None:
        self.segment = segment
        super().__init__(f"segment {segment}: {message}" if segment else message)


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
            self.sender_id.ljust(15)[:15],
            "ZZ",
            self.receiver_id.ljust(15)[:15],
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
    """Join segments; trailing empty elements are dropped, as the standard asks."""
    end = separators.segment + ("\n" if newline and separators.segment not in "\r\n" else "")
    out = []
    for elements in segments:
        last = len(elements)
        while last > 1 and elements[last - 1] == "":
            last -= 1
        out.append(separators.element.join(elements[:last]) + end)
    return "".join(out)
