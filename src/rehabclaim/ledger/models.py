"""The ledger's tables (SQLAlchemy 2 declarative models). Alembic migrations in ``migrations/`` create them.

Amounts that the rules add up (allowed per year, authorization use, treatment days) are derived from the
posted visits, never kept as running counters, so concurrent posts cannot lose or double-count anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PostedVisit(Base):
    """A visit recorded as billed. The visit id is the primary key: posting it twice is refused."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_patient_date", "patient_id", "date"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    date: Mapped[date] = mapped_column(Date)
    payer: Mapped[str] = mapped_column(String(64))
    discipline: Mapped[str] = mapped_column(String(8))
    benefit: Mapped[str] = mapped_column(String(8))  # PT_SLP or OT: the KX amount it counts toward
    therapy_units: Mapped[int] = mapped_column(Integer)
    total_charge: Mapped[Decimal] = mapped_column(Money)
    therapy_expected: Mapped[Decimal] = mapped_column(Money)  # estimate of therapy lines
    allowed: Mapped[Decimal | None] = mapped_column(Money, nullable=True)  # from the remittance, when posted
    progress_report: Mapped[bool] = mapped_column()  # starts a new progress-report period
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    result_json: Mapped[str] = mapped_column(Text)  # the scrub result as printed, for audit


class PostedLine(Base):
    __tablename__ = "visit_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id"), index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(8))
    units: Mapped[int] = mapped_column(Integer)
    modifiers: Mapped[str] = mapped_column(String(32))
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    charge: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    expected: Mapped[Decimal | None] = mapped_column(Money, nullable=True)


class OrthoticEncounter(Base):
    __tablename__ = "orthotic_encounters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id"))
    date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(8))
    body_region: Mapped[str] = mapped_column(String(32))  # "" when the visit did not say


class PlanOfCareRecord(Base):
    __tablename__ = "plans_of_care"
    __table_args__ = (UniqueConstraint("patient_id", "discipline", "certified_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    discipline: Mapped[str] = mapped_column(String(8))
    certified_from: Mapped[date] = mapped_column(Date)
    certified_through: Mapped[date] = mapped_column(Date)
    physician_npi: Mapped[str | None] = mapped_column(String(10), nullable=True)
    physician_name: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AuthorizationRecord(Base):
    __tablename__ = "authorizations"
    __table_args__ = (UniqueConstraint("patient_id", "payer", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    payer: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    visits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    units: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_through: Mapped[date] = mapped_column(Date)


class ControlNumber(Base):
    """The last X12 control number used, by name (isa, gs, st): unique and increasing across runs."""

    __tablename__ = "control_numbers"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class ClaimSent(Base):
    __tablename__ = "claims_sent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[str] = mapped_column(String(64), index=True)
    payer: Mapped[str] = mapped_column(String(64))
    frequency: Mapped[str] = mapped_column(String(1))
    interchange_control_number: Mapped[int] = mapped_column(Integer)
    total_charge: Mapped[Decimal] = mapped_column(Money)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RemittanceRecord(Base):
    """A posted 835 file: its hash is unique, so the same file cannot be posted twice."""

    __tablename__ = "remittances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    trace_numbers: Mapped[str] = mapped_column(String(512))
    total_paid: Mapped[Decimal] = mapped_column(Money)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RemitClaimRecord(Base):
    """A claim of a posted 835 with what the secondary claim and the reports need of its payment (0006)."""

    __tablename__ = "remit_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"))
    visit_id: Mapped[str] = mapped_column(String(64), index=True)
    payer: Mapped[str] = mapped_column(String(128))
    trace_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(4))
    charge: Mapped[Decimal] = mapped_column(Money)
    paid: Mapped[Decimal] = mapped_column(Money)
    patient_responsibility: Mapped[Decimal] = mapped_column(Money)
    allowed: Mapped[Decimal] = mapped_column(Money)
    payer_claim_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    adjustments: Mapped[str] = mapped_column(Text)  # JSON list of {group, reason, amount}
    remarks: Mapped[str] = mapped_column(Text)  # JSON list of {qualifier, code}
    # The payment's: NULL for claims posted before revision 0006 (TRN03 filled in where remit_traces had it)
    payment_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # BPR16: check or EFT date
    payer_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # N1*PR N104, else REF*2U
    trace_originator: Mapped[str | None] = mapped_column(String(64), nullable=True)  # TRN03: the payer's id
    # the posted visit's date, else the 835's earliest line date (DTM*472/150); NULL when neither is known
    service_date: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)


class RemitLineRecord(Base):
    __tablename__ = "remit_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    remit_claim_id: Mapped[int] = mapped_column(ForeignKey("remit_claims.id"), index=True)
    code: Mapped[str] = mapped_column(String(8))
    modifiers: Mapped[str] = mapped_column(String(32))
    charge: Mapped[Decimal] = mapped_column(Money)
    paid: Mapped[Decimal] = mapped_column(Money)
    units: Mapped[Decimal] = mapped_column(Numeric(9, 2))
    adjustments: Mapped[str] = mapped_column(Text)
    remarks: Mapped[str] = mapped_column(Text)
    service_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # DTM*472/150, else the claim's


class RemitTrace(Base):
    """A posted payment's trace: TRN02 (the check or EFT number) with TRN03 (its originator, the payer's
    identifier), which together identify a payment (835 guide, TRN segment). Unique, so a payment is posted
    once; two payers may use the same check number."""

    __tablename__ = "remit_traces"

    trace_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    originator: Mapped[str] = mapped_column(String(64), primary_key=True)  # '' for traces posted before 0004
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"))


class InterchangeRecord(Base):
    """An 837P interchange, recorded as ``pending`` before its file is renamed into place and marked
    ``sent`` after. A pending row left by a process that died is resolved on the next run: its file exists
    with this ISA13 (sent) or not (the claims were never sent and the row goes)."""

    __tablename__ = "interchanges"

    control_number: Mapped[int] = mapped_column(Integer, primary_key=True)  # ISA13
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))  # pending or sent
    host: Mapped[str] = mapped_column(String(255))  # the writer's host and process, to tell a dead one
    pid: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    content: Mapped[str | None] = mapped_column(Text, nullable=True)  # the 837P when kept in the ledger
    cms1500: Mapped[str | None] = mapped_column(Text, nullable=True)  # its CMS-1500 JSON, likewise
    fhir: Mapped[str | None] = mapped_column(Text, nullable=True)  # its FHIR Bundle of Claims, likewise
    created_by: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the acting user


class User(Base):
    """An account: billers and viewers on the web page, integrators' tokens belong to one."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin, biller or viewer
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token for an integrator; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginFailure(Base):
    """A failed login, kept for a while so repeated guessing is slowed across server processes."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_name_at", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who changed what and when; ``subject`` and ``detail`` hold ids and counts, never patient data."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(8))  # cli, api or web
    action: Mapped[str] = mapped_column(String(40))  # e.g. visit.post, claims.build, remittance.post
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class ColumnLimits:
    """What a table's columns hold, as the models declare them: PostgreSQL refuses more (a long string, a
    NUL, an amount too large), SQLite would quietly keep it, so writers check against these first."""

    lengths: tuple[tuple[str, int], ...]  # string columns: name, most characters
    numbers: tuple[tuple[str, Decimal, Decimal], ...]  # numeric columns: name, bound, smallest step


@cache  # pure: read from the model classes, fixed at import (one entry per table)
def column_limits(table: type[Base]) -> ColumnLimits:
    lengths, numbers = [], []
    for column in table.__table__.columns:
        kind = column.type
        if isinstance(kind, String) and kind.length is not None:
            lengths.append((column.name, kind.length))
        elif isinstance(kind, Numeric) and kind.precision is not None:
            scale = kind.scale or 0
            numbers.append((column.name, Decimal(10) ** (kind.precision - scale), Decimal(1).scaleb(-scale)))
    return ColumnLimits(tuple(lengths), tuple(numbers))
