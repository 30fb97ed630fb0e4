"""The Medicare fee of a code, step by step: RVUs x GPCIs x conversion factor, then the therapy MPPR.

Keyed by the date of service (default: January 1 of ``year``, 2026 without one), never today's date; the
locality is the practice's unless one is given.
"""

from __future__ import annotations

from datetime import date

import msgspec

from rehabclaim.cms.pfs import LOCALITY_NUMBER, MAC
from rehabclaim.datafiles import is_code
from rehabclaim.errors import quote
from rehabclaim.fees.estimate import DMEPOS, NoFee, cents, medicare_unit_fee
from rehabclaim.practice import Locality, Practice
from rehabclaim.reference import Reference
from rehabclaim.services.errors import BadInput, NotFound

DEFAULT_YEAR = 2026  # the year of the bundled fee files: a fee asked without a date is for its January 1
MAX_UNITS = 99


class FeeResult(msgspec.Struct):
    """``rehabclaim fee --json``: the per-unit amount, a further unit of the day under the MPPR, and the
    total for ``units`` units; ``why`` is the arithmetic with the files it came from."""

    code: str
    date: date
    locality: str
    per_unit: float
    pe_payment: float
    mppr_percent: float
    further_unit: float
    units: int
    total: float
    why: str
    therapy_mppr: bool


def fee(
    reference: Reference,
    *,
    code: str,
    day: date | str | None = None,
    year: int | None = None,
    locality: str | None = None,
    units: int = 1,
) -> FeeResult:
    """The Medicare fee of ``code`` on ``day`` (a date or YYYY-MM-DD text) at ``locality`` (MAC:LOCALITY).
    BadInput names ``code``, ``--date``, ``--year``, ``--locality`` or ``--units``; a code the physician fee
    schedule does not price (an orthosis, a bundled code, no file for the year) is NotFound, saying why."""
    if not 1 <= units <= MAX_UNITS:
        raise BadInput("--units", f"expected 1 to {MAX_UNITS}, got {units}")
    wanted = code.strip().upper()
    if not is_code(wanted):
        raise BadInput("code", f"expected a 5-character HCPCS/CPT code, got {quote(code)}")
    on = _date_of_service(day, year)
    practice = _at_locality(reference.practice, locality)
    known = reference.catalog.get(wanted)
    if known is not None and known.is_orthosis:
        raise NotFound("", f"{known.code} {DMEPOS}")
    result = medicare_unit_fee(wanted, on, practice, reference.cms, reference.medicare)
    if isinstance(result, NoFee):
        raise NotFound("", result.reason)  # the reason starts with the code (or names the missing file)
    percent = result.mppr_percent if result.mppr else 0  # MULT PROC 5 in the PPRRVU file: the therapy MPPR
    total = result.full + result.reduced * (units - 1)
    return FeeResult(
        code=wanted,
        date=on,
        locality=f"{practice.locality.mac}:{practice.locality.number}",
        per_unit=float(result.full),
        pe_payment=float(cents(result.pe_payment)),
        mppr_percent=float(percent),
        further_unit=float(result.reduced),
        units=units,
        total=float(cents(total)),
        why=result.formula,
        therapy_mppr=result.mppr,
    )


def _date_of_service(day: date | str | None, year: int | None) -> date:
    if isinstance(day, date):
        on = day
    elif day:
        try:
            on = date.fromisoformat(day)
        except ValueError:
            raise BadInput("--date", f"expected YYYY-MM-DD, got {quote(day)}") from None
    else:
        try:
            on = date(DEFAULT_YEAR if year is None else year, 1, 1)
        except (ValueError, OverflowError):
            raise BadInput("--year", f"not a year: {year}") from None
    if year is not None and on.year != year:
        raise BadInput("", f"--date {on} is not in --year {year}")  # the sentence names both options
    return on


def _at_locality(practice: Practice, locality: str | None) -> Practice:
    """The practice, moved to ``locality`` (MAC:LOCALITY; the locality number defaults to 00) when given."""
    if not locality:
        return practice
    mac, _, number = locality.partition(":")
    if not (MAC.fullmatch(mac) and LOCALITY_NUMBER.fullmatch(number or "00")):
        raise BadInput("--locality", f"expected MAC:LOCALITY such as 11502:00, got {quote(locality)}")
    return msgspec.structs.replace(practice, locality=Locality(mac=mac, number=number or "00"))
