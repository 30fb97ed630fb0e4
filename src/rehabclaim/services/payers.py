"""The payers a scrub knows: the configured profiles, and one payer's whole policy."""

from __future__ import annotations

import msgspec

from rehabclaim.errors import quote
from rehabclaim.payers import PayerPolicy
from rehabclaim.reference import Reference
from rehabclaim.services.errors import NotFound


class PayerSummary(msgspec.Struct):
    """A configured payer in a list: ``sample`` when its figures are samples, not the payer's policy;
    ``origin`` is the file it came from."""

    key: str
    name: str
    sample: bool
    unit_method: str
    origin: str


def list_payers(reference: Reference) -> list[PayerSummary]:
    """The configured payers by key (the default profile for payers not configured is not one of them)."""
    return [
        PayerSummary(policy.key, policy.name, policy.sample, policy.units.method, policy.origin)
        for policy in reference.configured_payers()
    ]


def payer(reference: Reference, *, key: str) -> PayerPolicy:
    """One payer's policy by key (case-insensitive; ``default`` is the profile for payers not configured);
    NotFound naming ``payer``, with the keys there are, when no file has that key."""
    policy = reference.payers.get(key.strip().lower())
    if policy is None:
        raise NotFound("payer", f"unknown payer {quote(key)}; configured: {', '.join(sorted(reference.payers))}")
    return policy
