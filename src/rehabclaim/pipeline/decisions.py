"""What the line-changing stages decided for a whole visit, kept on the ``ScrubContext`` for the rules that
report it (what they decided for one line is kept on its ``WorkLine``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rehabclaim.history import Sourced
from rehabclaim.lines import WorkLine


@dataclass(slots=True)
class Crossing:
    """Where a visit's billed therapy lines stand against one threshold, in claim order."""

    past: list[WorkLine]  # certainly above it
    undecided: list[WorkLine]  # above it or not depending on lines without an estimate
    unpriced: list[WorkLine]  # the undecided lines without an estimate
    room: Decimal  # what remained under the threshold before the first unpriced line
    reached: Decimal  # the year's amount with every priced line (a floor when some are unpriced)


@dataclass(slots=True)
class TelehealthDecision:
    """The telehealth stage on a telehealth visit (rule P005 reports it)."""

    covered: bool  # the payer covers therapy by telehealth on the date of service (else nothing was added)
    place_accepted: bool  # the place of service is one the payer accepts (or it names none)
    not_listed: list[WorkLine]  # therapy lines whose code is not on the payer's list: left without its modifier


@dataclass(slots=True)
class KxDecision:
    """The KX stage on a visit whose year-to-date allowed therapy amount is known (rule K001 reports it)."""

    allowed_before: Sourced[Decimal]  # the year's allowed amount before the visit, with its source
    lines: list[WorkLine]  # the visit's billed therapy lines
    threshold: Decimal | None  # the year's KX threshold; None: no figure for the year, nothing decided
    crossing: Crossing | None  # where the lines stand against it (None without a threshold)
    marked: list[WorkLine]  # the lines above it that took KX
    left: list[WorkLine]  # the lines above it left without KX: they carry a liability modifier (GA)
