"""Building one 837P interchange from many visits: scrub each with the claim rules, hold back the ones
with errors, allocate control numbers in the ledger, write the file whole (temporary file, then rename),
and record the claims sent so remittances can be matched to them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine as Database
from sqlalchemy import insert, select, update

from rehabclaim.claims.build import address, build_claim
from rehabclaim.claims.cms1500 import cms1500
from rehabclaim.engine import Engine
from rehabclaim.ledger.database import insert_ignoring_duplicates
from rehabclaim.ledger.models import ClaimSent, ControlNumber
from rehabclaim.model import Finding, Visit
from rehabclaim.x12 import claim837 as x12
from rehabclaim.x12.core import Separators

CONTROL_NAMES = ("isa", "gs", "st")
MAX_CONTROL = 999_999_999  # ISA13 is nine digits


class ClaimRunError(ValueError):
    """The practice file cannot produce claims (no [claims] section)."""


@dataclass(slots=True)
class ClaimRun:
    written: list[x12.Claim] = field(default_factory=list)
    held_back: list[tuple[str, list[Finding]]] = field(default_factory=list)
    interchange_control_number: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": len(self.written),
            "held_back": len(self.held_back),
            "interchange_control_number": self.interchange_control_number,
            "claims": [
                {"id": c.control_number, "total_charge": float(c.total_charge), "lines": len(c.lines)}
                for c in self.written
            ],
            "held": [
                {"id": visit_id, "findings": [msgspec.structs.asdict(f) for f in findings]}
                for visit_id, findings in self.held_back
            ],
        }


def next_control_numbers(database: Database) -> dict[str, int]:
    """The next ISA13, GS06 and ST02, each one more than the last used. The UPDATE comes before the read,
    so it takes the row lock (PostgreSQL) or the write lock (SQLite) first: two runs never share a number."""
    numbers = {}
    with database.begin() as connection:
        for name in CONTROL_NAMES:
            insert_ignoring_duplicates(connection, ControlNumber, {"name": name, "value": 0})
            current = ControlNumber.name == name
            connection.execute(update(ControlNumber).where(current).values(value=ControlNumber.value % MAX_CONTROL + 1))
            numbers[name] = connection.execute(select(ControlNumber.value).where(current)).scalar_one()
    return numbers


def _write_whole(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="ascii", newline="") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_claims(
    visits: list[Visit],
    engine: Engine,
    database: Database,
    out: Path,
    cms1500_out: Path | None = None,
    now: datetime | None = None,
) -> ClaimRun:
    settings = engine.fees.practice.claims
    if settings is None:
        raise ClaimRunError(f"{engine.fees.practice.origin}: the practice file has no [claims] section")
    run = ClaimRun()
    for visit in visits:
        result = engine.scrub(visit, for_claim=True)
        errors = [f for f in result.findings if f.severity == "error"]
        if errors:
            run.held_back.append((visit.id, errors))
        else:
            run.written.append(build_claim(visit, result, settings))
    if not run.written:
        return run
    numbers = next_control_numbers(database)
    created = now or datetime.now(UTC)
    separators = Separators(**msgspec.structs.asdict(settings.separators))
    interchange = x12.Interchange(
        sender_id=settings.sender_id,
        receiver_id=settings.receiver_id,
        interchange_control_number=numbers["isa"],
        group_control_number=numbers["gs"],
        transaction_control_number=numbers["st"] % 10_000 or 1,
        created=created,
        submitter=x12.Submitter(**msgspec.structs.asdict(settings.submitter)),
        receiver=x12.Receiver(**msgspec.structs.asdict(settings.receiver)),
        billing_provider=x12.BillingProvider(
            name=settings.billing_provider.name,
            npi=settings.billing_provider.npi,
            tax_id=settings.billing_provider.tax_id,
            taxonomy=settings.billing_provider.taxonomy,
            address=address(settings.billing_provider.address),
        ),
        claims=tuple(run.written),
        usage=settings.usage,
        separators=separators,
    )
    text = interchange.render()
    forms = [cms1500(claim, settings) for claim in run.written] if cms1500_out else None
    _write_whole(out, text)
    if cms1500_out is not None:
        _write_whole(cms1500_out, msgspec.json.encode(forms).decode())
    run.interchange_control_number = numbers["isa"]
    with database.begin() as connection:
        connection.execute(
            insert(ClaimSent),
            [
                {
                    "visit_id": c.control_number,
                    "payer": c.payer.id,
                    "frequency": c.frequency,
                    "interchange_control_number": numbers["isa"],
                    "total_charge": c.total_charge,
                    "sent_at": created,
                }
                for c in run.written
            ],
        )
    return run
