"""The operations every adapter calls: the CLI, the REST API and the web page parse their input, call one
function here with keyword arguments, and render its typed result (the JSON shapes live here, so every
adapter prints the same bytes for the same input).

Each operation takes what it reads as arguments: the ``Reference`` (``rehabclaim.reference``), the ledger's
database (a SQLAlchemy engine) and, for anything that changes the ledger, the acting ``Actor`` for the
audit trail. A refusal is a ``Refusal`` (``rehabclaim.services.errors``) that maps once to an exit status
and once to an HTTP status.
"""

from rehabclaim.services.actor import Actor
from rehabclaim.services.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    Refusal,
    TooLarge,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "Actor",
    "BadInput",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Refusal",
    "TooLarge",
    "TooManyAttempts",
    "Unauthenticated",
    "Unavailable",
]
