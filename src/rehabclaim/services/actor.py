"""Who acts: every operation that changes the ledger is given one, and the audit trail records it."""

from __future__ import annotations

import getpass
from typing import Literal

import msgspec

Role = Literal["admin", "biller", "viewer"]
Channel = Literal["cli", "api", "web"]
ROLES: tuple[Role, ...] = ("admin", "biller", "viewer")


class Actor(msgspec.Struct, frozen=True):
    """``user`` is an account name (``cli:<login>`` at a terminal); ``role`` decides what it may do."""

    user: str
    role: Role
    channel: Channel

    @property
    def may_change(self) -> bool:
        """Billers and admins post, build claims and upload remittances; viewers only read."""
        return self.role in ("admin", "biller")


def terminal_actor() -> Actor:
    """Whoever runs the CLI: the operating-system login, acting as an admin of their own files."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        login = "unknown"
    return Actor(user=f"cli:{login}", role="admin", channel="cli")
