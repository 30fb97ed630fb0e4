"""The payer policy matrix: one TOML file per payer, validated on load.

Schema (every table optional except ``name``, ``source`` and ``[units]``; see docs/payers.md):

    name = "Medicare Part B"
    sample = false                 # true: the figures are samples, not the payer's published policy
    source = "where the policy comes from"
    [units]        method = "cms" | "per-code"; max_per_visit; max_per_code = {"97140" = 4}
    [modifiers]    discipline (GP/GO/GN); assistant (CQ/CO); kx; distinct = "X" | "59"
    [orthotics]    pays_training_with_device (false: 97760/97761 bundled into an L-code)
    [authorization] required; counts = "visits" | "units"
    [telehealth]   allowed; allowed_from; allowed_through; codes; modifier; place_of_service
    [category_iii] covered = ["0770T"]; accepted_primaries = {"0770T" = ["97116"]}
    [plan_of_care] certification_required; progress_report_every_treatment_days
    [claims]       timely_filing_days
    [fees]         schedule = "medicare" | "percent-of-medicare" | "contracted"; percent_of_medicare;
                   contracted = {"97110" = 31.50}
    [documentation] require = ["start_stop", "session_times"]: elements of data/documentation.toml

A file that does not fit is refused whole: the error names the file, the line and the field. Numbers are
finite and never negative; codes are plain HCPCS/CPT codes as billed (``97110``, ``L3809``). Payer files in
the drop-in folder (``<rules dir>/payers/*.toml``) replace bundled ones with the same name (ignoring case).
The table is read whole from the files as they are when a ``Reference`` is loaded (nothing is kept between
calls: a server loads a new Reference to see a changed file), so a bad file stops a command before any visit.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Annotated, Literal

import msgspec

from rehabclaim.datafiles import (
    DataFileError,
    check_toml_codes,
    check_toml_number,
    convert_toml,
    decode_utf8,
    line_of,
    place,
    read_utf8,
    toml_field_error,
)
from rehabclaim.dates import DateRange
from rehabclaim.documentation import element_ids
from rehabclaim.settings import drop_in_files

DEFAULT_KEY = "default"
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


# Policy tables reject unknown fields: a typo must not silently turn a rule off.
class UnitPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    method: Literal["cms", "per-code"]
    max_per_visit: NonNegative | None = None
    max_per_code: dict[str, int] = {}


class ModifierPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    discipline: bool = True
    assistant: bool = False
    kx: bool = False
    distinct: Literal["X", "59"] = "X"


class OrthoticPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pays_training_with_device: bool = True


class AuthorizationPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    required: bool = False
    counts: Literal["visits", "units"] = "visits"


class TelehealthPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    allowed: bool = False
    allowed_from: date | None = None
    allowed_through: date | None = None
    codes: list[str] = []
    modifier: str | None = None
    place_of_service: list[str] = []

    @property
    def dates(self) -> DateRange:
        """The dates of service telehealth is covered (checked in order when the file is read)."""
        return DateRange(self.allowed_from, self.allowed_through)


class CategoryIIIPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    covered: list[str] = []
    # add-on -> other primaries this payer accepts it with (0770T beside 97116): rule C004 stays silent
    accepted_primaries: dict[str, list[str]] = {}


class PlanOfCarePolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    certification_required: bool = False
    progress_report_every_treatment_days: Positive | None = None


class ClaimPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    timely_filing_days: Positive | None = None


class FeePolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    schedule: Literal["medicare", "percent-of-medicare", "contracted"] = "medicare"
    percent_of_medicare: Decimal | None = None
    contracted: dict[str, Decimal] = {}


class DocumentationPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    require: list[str] = []  # elements of data/documentation.toml the payer adds (e.g. "start_stop")


class PayerPolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    source: str
    units: UnitPolicy
    sample: bool = False
    modifiers: ModifierPolicy = ModifierPolicy()
    orthotics: OrthoticPolicy = OrthoticPolicy()
    authorization: AuthorizationPolicy = AuthorizationPolicy()
    telehealth: TelehealthPolicy = TelehealthPolicy()
    category_iii: CategoryIIIPolicy = CategoryIIIPolicy()
    plan_of_care: PlanOfCarePolicy = PlanOfCarePolicy()
    claims: ClaimPolicy = ClaimPolicy()
    fees: FeePolicy = FeePolicy()
    documentation: DocumentationPolicy = DocumentationPolicy()
    key: str = ""  # the file name; set on load
    configured: bool = True  # False for a payer scrubbed with the default profile
    origin: str = ""  # the file it came from


def parse_policy(key: str, text: str, origin: str) -> PayerPolicy:
    """Validate one payer file's text; raise DataFileError naming file, line and field."""
    policy = convert_toml(text, PayerPolicy, origin)
    _check_units(policy.units, text, origin)
    _check_fees(policy.fees, text, origin)
    _check_telehealth(policy.telehealth, text, origin)
    check_toml_codes(policy.category_iii.covered, origin, text, "category_iii.covered")
    check_toml_codes(policy.category_iii.accepted_primaries, origin, text, "category_iii.accepted_primaries")
    for addon, primaries in policy.category_iii.accepted_primaries.items():
        check_toml_codes(primaries, origin, text, f"category_iii.accepted_primaries.{addon}")
    _check_documentation(policy.documentation, text, origin)
    return msgspec.structs.replace(policy, key=key, origin=origin)


def _check_units(units: UnitPolicy, text: str, origin: str) -> None:
    check_toml_codes(units.max_per_code, origin, text, "units.max_per_code")
    for code, limit in units.max_per_code.items():
        if limit < 0:
            raise toml_field_error(origin, text, f"units.max_per_code.{code}", "must be 0 or more")


def _check_fees(fees: FeePolicy, text: str, origin: str) -> None:
    if fees.schedule == "percent-of-medicare" and fees.percent_of_medicare is None:
        raise DataFileError(
            f"{place(origin, line_of(text, 'fees.schedule'))}: fees.percent_of_medicare: "
            "required when schedule is percent-of-medicare"
        )
    if fees.percent_of_medicare is not None:
        check_toml_number(fees.percent_of_medicare, origin, text, "fees.percent_of_medicare")
    check_toml_codes(fees.contracted, origin, text, "fees.contracted")
    for code, amount in fees.contracted.items():
        check_toml_number(amount, origin, text, f"fees.contracted.{code}")


def _check_telehealth(telehealth: TelehealthPolicy, text: str, origin: str) -> None:
    check_toml_codes(telehealth.codes, origin, text, "telehealth.codes")
    if DateRange.if_ordered(telehealth.allowed_from, telehealth.allowed_through) is None:
        reason = f"{telehealth.allowed_through} is before allowed_from {telehealth.allowed_from}"
        raise toml_field_error(origin, text, "telehealth.allowed_through", reason)


def _check_documentation(documentation: DocumentationPolicy, text: str, origin: str) -> None:
    known = element_ids()
    for element in documentation.require:
        if element not in known:
            reason = f"{element!r} is not a documentation element (one of {', '.join(sorted(known))})"
            raise toml_field_error(origin, text, "documentation.require", reason)


def _bundled_files() -> dict[str, tuple[str, str]]:
    folder = resources.files("rehabclaim.data").joinpath("payers")
    return {
        entry.name.removesuffix(".toml"): (
            decode_utf8(entry.read_bytes(), f"payers/{entry.name}"),
            f"payers/{entry.name}",
        )
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def payer_table() -> dict[str, PayerPolicy]:
    """Every payer policy, bundled and drop-in, read from the files now (``load_reference`` keeps the
    result); any bad file refuses the whole table."""
    sources = {key.lower(): source for key, source in _bundled_files().items()}
    dropped: dict[str, str] = {}
    for path in drop_in_files("payers", "*.toml"):
        key = path.stem.lower()
        if key in dropped:  # Acme.toml and acme.toml: one would silently win
            raise DataFileError(f"{path}: the same payer as {dropped[key]} (names ignore case); keep one")
        dropped[key] = str(path)
        sources[key] = (read_utf8(path), str(path))
    table = {key: parse_policy(key, text, origin) for key, (text, origin) in sources.items()}
    if DEFAULT_KEY not in table:
        raise DataFileError(f"payers: no {DEFAULT_KEY}.toml (the profile for payers not configured)")
    return table
