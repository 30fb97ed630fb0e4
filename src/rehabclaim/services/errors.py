"""Typed refusals: each maps once to a CLI exit status and once to an HTTP status (RFC 9457 problem type).

A refusal names the field (a dotted path such as ``services[2].minutes``, an option, or an X12 segment) and
the reason, in one line that holds no patient data beyond ids (quote bad values with
``rehabclaim.errors.quote``). Nothing is written when an operation refuses.
"""

from __future__ import annotations

from typing import ClassVar

from rehabclaim.errors import InputError

EXIT_ERROR_FINDING = 1  # a billing mistake was found (or a visit was not posted)
EXIT_BAD_INPUT = 2  # input that cannot be read, or an operation that cannot be done


class Refusal(Exception):
    """An operation refused; nothing was written. ``field`` may be empty when the input as a whole is bad."""

    exit_code: ClassVar[int] = EXIT_BAD_INPUT
    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str] = "bad-request"  # the problem type: /problems/<slug>

    def __init__(self, field: str, reason: str, line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.reason}" if self.field else f"{where}{self.reason}"

    @classmethod
    def from_input_error(cls, error: InputError) -> BadInput:
        return BadInput(error.field, error.reason, error.line)


class BadInput(Refusal):
    """The input cannot be read or is invalid (a visit, an option, an 835, a practice or rules file)."""

    http_status = 422
    title = "Invalid input"
    slug = "invalid-input"


class NotFound(Refusal):
    """What was asked for does not exist (a code, a payer, a rule, a patient, a claim batch)."""

    http_status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(Refusal):
    """Already done: the same visit or remittance posted twice, an interchange already sent."""

    exit_code = EXIT_ERROR_FINDING
    http_status = 409
    title = "Already done"
    slug = "conflict"


class TooLarge(Refusal):
    """An upload over the size limit or with too many visits for one request."""

    http_status = 413
    title = "Too large"
    slug = "too-large"


class Forbidden(Refusal):
    """The acting user's role may not do this (a viewer posting, a biller adding users)."""

    http_status = 403
    title = "Forbidden"
    slug = "forbidden"


class Unavailable(Refusal):
    """The ledger cannot be reached or failed part way (nothing was written)."""

    http_status = 503
    title = "Ledger unavailable"
    slug = "unavailable"


class TooManyAttempts(Refusal):
    """Too many failed logins for an account or from an address lately; refused even with the right password
    until the window passes (the reason says how long)."""

    http_status = 429
    title = "Too many attempts"
    slug = "too-many-attempts"


class Unauthenticated(Refusal):
    """No valid credentials: a wrong name or password, or an unknown, revoked or disabled account's token."""

    http_status = 401
    title = "Not authenticated"
    slug = "unauthenticated"
