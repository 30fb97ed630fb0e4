"""XR and VR code rules: 0770T (XR-assisted therapy: once per visit, no minutes of its own, evidence of XR
use from the note or an attached clinic session) and VR procedural dissociation 0771T-0774T (age, units from
intraservice minutes, observer, supported procedure, not a therapy code). Facts in ``data/xr.toml`` and
``data/codes.toml``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache

from rehabclaim.context import ScrubContext
from rehabclaim.datafiles import DataFileError, load_toml, require
from rehabclaim.errors import quote
from rehabclaim.lines import WorkLine
from rehabclaim.model import Documentation, XrSessionEvidence
from rehabclaim.rules.base import NO_HITS, Hit, Hits, Triggers, codes_where, rule


@dataclass(frozen=True, slots=True)
class XrFacts:
    """What ``data/xr.toml`` says (see its sources)."""

    addon_code: str  # 0770T
    addon_max_per_visit: int
    evidence_settings: frozenset[str]  # settings in which a session backs 0770T ("clinic")
    evidence_supervised: bool  # the session must have been supervised
    least_overlap_minutes: int
    first_codes: frozenset[str]  # 0771T, 0773T: the first 15 minutes
    first_unit_minutes: int
    first_unit_least_minutes: int
    observer_codes: frozenset[str]  # 0771T, 0772T
    supported_procedure_codes: frozenset[str]


@cache
def xr_facts() -> XrFacts:
    """The bundled XR facts, read and checked once."""
    raw = load_toml("xr.toml")
    addon, evidence, vr = (
        require(raw, table, dict, "xr.toml") for table in ("xr_addon", "xr_evidence", "vr_dissociation")
    )
    facts = XrFacts(
        addon_code=require(addon, "code", str, "xr.toml [xr_addon]"),
        addon_max_per_visit=require(addon, "max_per_visit", int, "xr.toml [xr_addon]"),
        evidence_settings=frozenset(require(evidence, "settings", list, "xr.toml [xr_evidence]")),
        evidence_supervised=require(evidence, "supervised", bool, "xr.toml [xr_evidence]"),
        least_overlap_minutes=require(evidence, "least_overlap_minutes", int, "xr.toml [xr_evidence]"),
        first_codes=frozenset(require(vr, "first_codes", list, "xr.toml [vr_dissociation]")),
        first_unit_minutes=require(vr, "first_unit_minutes", int, "xr.toml [vr_dissociation]"),
        first_unit_least_minutes=require(vr, "first_unit_least_minutes", int, "xr.toml [vr_dissociation]"),
        observer_codes=frozenset(require(vr, "observer_codes", list, "xr.toml [vr_dissociation]")),
        supported_procedure_codes=frozenset(
            require(vr, "supported_procedure_codes", list, "xr.toml [vr_dissociation]")
        ),
    )
    if facts.addon_max_per_visit < 1 or facts.least_overlap_minutes < 1:
        raise DataFileError("xr.toml: max_per_visit and least_overlap_minutes must be 1 or more")
    if not 1 <= facts.first_unit_least_minutes <= facts.first_unit_minutes:
        raise DataFileError("xr.toml: [vr_dissociation] first_unit_least_minutes must be 1 to first_unit_minutes")
    return facts


def _codes(pick: Callable[[XrFacts], Iterable[str]]) -> Triggers:
    """Triggers: codes named in ``data/xr.toml`` (read when an engine is built, not on import)."""
    return lambda _catalog, _tables: tuple(pick(xr_facts()))


XR_ADDON = _codes(lambda facts: [facts.addon_code])


def age_on(birth: date, day: date) -> int:
    """Whole years of age on ``day``; someone born on 29 February turns a year older on 1 March in other
    years."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@rule(
    "V001",
    "patient-below-minimum-age",
    "error",
    "A code billed for a patient younger than its minimum age (0771T-0774T: 5)",
    triggers=codes_where(lambda code: code.min_age_years is not None),
)
def patient_below_minimum_age(ctx: ScrubContext) -> Hits:
    """Reports a code with a minimum age (VR procedural dissociation 0771T-0774T: 5 years) billed for a
    patient younger than that on the date of service, from ``patient.birth_date``. Without a birth date
    the rule cannot tell and says nothing (a claim needs the birth date anyway).

    Why: VR procedural dissociation is not reported for patients younger than 5; the payer denies the code
    on the patient's age.

    Example: 0771T on 2026-06-01 for a patient born 2021-06-02 (4 years old) -> error; born 2021-06-01
    (5 that day) -> no finding.

    Fix: do not bill VR procedural dissociation for a child under 5; check the birth date if it is wrong.

    Source: CPT 2023 guidance for 0771T-0774T as summarised by American Medical Coding, and the 0771T/0773T
    descriptors shown by Coding Ahead (reference xr-vr-codes.md s. 2); ages in ``data/codes.toml``.
    """
    patient = ctx.visit.patient
    if patient is None or patient.birth_date is None:
        return NO_HITS
    age = age_on(patient.birth_date, ctx.visit.date)
    hits: list[Hit] = []
    for line in ctx.lines:
        least = line.code.min_age_years
        if least is not None and age < least:
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code} is not reported for a patient under {least}; the patient is {age} on the "
                    "date of service",
                )
            )
    return hits


@rule(
    "V002",
    "units-unsupported-by-minutes",
    "error",
    "Units of a per-15-minute add-on (0772T/0774T) that its documented minutes do not support",
    triggers=codes_where(lambda code: code.minutes_per_unit is not None),
)
def units_unsupported_by_minutes(ctx: ScrubContext) -> Hits:
    """Reports an add-on billed per 15 minutes of its own intraservice time (0772T, 0774T: each further
    15 minutes after the first code's) when the service has no minutes, or states more units than its
    minutes support. The engine bills the units the minutes support: a unit once more than half of it has
    passed (8-22 minutes 1 unit, 23-37 minutes 2, ...).

    Why: the add-on pays per 15 minutes of VR procedural dissociation beyond the first 15; units without
    the minutes behind them are denied or recovered on review.

    Example: 0771T and 0772T with 20 minutes and ``"units": 3`` -> error (20 minutes support 1 unit);
    0772T with no minutes -> error; 0772T with 30 minutes -> 2 units, no finding.

    Fix: document the intraservice minutes after the first 15 on the add-on service (start and stop
    times), and bill the units they support.

    Source: 0772T/0774T are add-ons for each further 15 minutes (Coding Ahead, OpenPayer; reference
    xr-vr-codes.md s. 2); CPT's time convention, "a unit of time is attained when the mid-point is passed"
    (reference units.md s. 6); the CPT table for these codes was not found (unconfirmed); minutes per unit
    in ``data/codes.toml``.
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        per_unit = line.code.minutes_per_unit
        if per_unit is None:
            continue
        code = line.code.code
        if line.minutes is None:
            hits.append((code, f"{code} is billed per {per_unit} min of its own time but the service has no minutes"))
        elif line.stated_units is not None and line.stated_units > line.units:
            hits.append(
                (
                    code,
                    (
                        f"{code}: {line.stated_units} units stated but {line.minutes} min support {line.units} "
                        f"(one per {per_unit} min, once more than half of it has passed)"
                    ),
                )
            )
    return hits


# --- 0770T: XR-assisted therapy ---------------------------------------------------------------------------


def _minute(clock: str) -> int:
    """Minutes since midnight of an ``HH:MM`` time (the model has checked its form)."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _overlap(first: tuple[int, int], second: tuple[int, int]) -> int:
    return max(0, min(first[1], second[1]) - max(first[0], second[0]))


def _xr_lines(ctx: ScrubContext) -> list[WorkLine]:
    addon = xr_facts().addon_code
    return [line for line in ctx.lines if line.code.code == addon]


def _session_backs_addon(session: XrSessionEvidence) -> bool:
    facts = xr_facts()
    return session.setting in facts.evidence_settings and (session.supervised or not facts.evidence_supervised)


@rule(
    "V003",
    "xr-addon-more-than-once",
    "error",
    "0770T listed more than once on a visit: it is reported once per session",
    triggers=XR_ADDON,
)
def xr_addon_more_than_once(ctx: ScrubContext) -> Hits:
    """Reports 0770T listed as more than one service on the same visit (several XR sessions, or XR used
    with several base codes). The engine bills it once; stated units above one are reported by U002
    (an untimed code is billed once per session).

    Why: 0770T is reported per session in which XR is used, whatever the number of base codes or XR
    sessions; a second unit is denied.

    Example: 97110 and 97530 each followed by a 0770T service -> error; 0770T with ``"units": 2`` -> U002.

    Fix: list 0770T once for the visit; several XR sessions on one day go to review, not to extra units.

    Source: ABA Coding Coalition (CPT 2023 guidance) and AAPC, "per session" (reference xr-vr-codes.md
    s. 1; xr-sessions.md s. 3: two sessions the same day -> review); ``data/xr.toml`` [xr_addon].
    """
    most = xr_facts().addon_max_per_visit
    hits: list[Hit] = []
    for line in _xr_lines(ctx):
        listed = len(line.service_indexes)
        if listed > most and (line.stated_units is None or line.stated_units <= line.units):
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code} is listed {listed} times on the visit; it is reported at most {most} "
                    "per session",
                )
            )
    return hits


@rule(
    "V004",
    "xr-addon-with-minutes",
    "warning",
    "Minutes given on 0770T: XR time belongs to the base therapy code",
    triggers=XR_ADDON,
)
def xr_addon_with_minutes(ctx: ScrubContext) -> Hits:
    """Warns when 0770T carries minutes of its own, on the service or in its note. The engine never
    counts them in the visit's timed total (0770T is untimed); the base code must carry the time.

    Why: 0770T pays the practice expense of the XR technology and adds no therapist time; XR minutes are
    part of the base code's minutes. Minutes on 0770T suggest the time was taken out of the base code, or
    billed twice.

    Example: 97110 for 30 minutes and 0770T with ``"minutes": 20`` -> warning; 97110 still earns 2 units
    from its own 30 minutes.

    Fix: put the XR minutes on the base therapy code's service (its minutes or time blocks) and leave
    0770T without minutes.

    Source: ABA Coding Coalition (CPT 2023 guidance: no added therapist time), reference xr-vr-codes.md
    s. 1; xr-sessions.md s. 1 ("no extra minutes").
    """
    doc = ctx.visit.documentation
    hits: list[Hit] = []
    for line in _xr_lines(ctx):
        code = line.code.code
        noted = [note for note in doc.services if note.code.strip().upper() == code] if doc else []
        minutes = line.minutes or sum(note.minutes or 0 for note in noted)
        if minutes or line.time_blocks or any(note.start or note.stop for note in noted):
            said = f"{minutes} min" if minutes else "a time interval"
            hits.append(
                (
                    code,
                    (
                        f"{code} has {said} of its own: XR time belongs to the base code's minutes and is not "
                        "counted in the timed total"
                    ),
                )
            )
    return hits


@rule(
    "V005",
    "xr-use-undocumented",
    "warning",
    "0770T without the XR system named in the note or a clinic XR session attached",
    triggers=XR_ADDON,
)
def xr_use_undocumented(ctx: ScrubContext) -> Hits:
    """Warns that 0770T has no evidence of XR use: neither the XR system in ``documentation.xr.system`` nor
    an attached session that can back it (a supervised clinic session, ``documentation.xr.sessions``; see
    V006). A visit with no ``documentation`` at all gets the warning too: 0770T is the one code whose
    evidence the engine can attach (``rehabclaim import xr``), so it says so even without a note.

    Why: 0770T is reported for a session in which XR was used; a reviewer asks for the record of which
    system was used and how it supported the base therapy.

    Example: 97110 and 0770T with ``documentation: {"patient_response": "tolerated well"}`` -> warning;
    with ``"xr": {"system": "REAL y-Series"}`` -> no finding.

    Fix: name the XR system (and version) in the note, or attach the session log with
    ``rehabclaim import xr``.

    Source: reference xr-vr-codes.md s. 1 (documentation the engine should expect, derived from the CPT
    guidance); xr-sessions.md s. 1 (which system/software; VR used in this session).
    """
    doc = ctx.visit.documentation
    xr = doc.xr if doc is not None else None
    if xr is not None and (xr.system or any(_session_backs_addon(s) for s in xr.sessions)):
        return NO_HITS
    hits: list[Hit] = []
    for line in _xr_lines(ctx):
        hits.append(
            (
                line.code.code,
                (
                    f"{line.code.code}: the note names no XR system and no supervised clinic XR session is attached "
                    "(documentation.xr.system or documentation.xr.sessions)"
                ),
            )
        )
    return hits


@rule(
    "V006",
    "xr-session-cannot-back-addon",
    "warning",
    "An attached XR session done at home or without the therapist: it cannot back 0770T",
    triggers=XR_ADDON,
)
def xr_session_cannot_back_addon(ctx: ScrubContext) -> Hits:
    """Warns about each attached XR session (``documentation.xr.sessions``) that was done at home or not
    supervised, naming the session: it is no evidence for 0770T on this visit.

    Why: 0770T is an add-on to a base therapy service furnished in the session; a home or unsupervised
    session has no same-day base service it can attach to (that data belongs to remote therapeutic
    monitoring or progress evidence).

    Example: 0770T with a session ``{"session_id": "NV-1", "setting": "home", "supervised": false, ...}``
    -> warning naming NV-1.

    Fix: attach the clinic session the therapist supervised, or do not bill 0770T for home XR use.

    Source: reference xr-sessions.md s. 1 (consequence: an unsupervised home session cannot back 0770T)
    and s. 4 (RTM); ``data/xr.toml`` [xr_evidence].
    """
    doc = ctx.visit.documentation
    if doc is None or doc.xr is None:
        return NO_HITS
    code = xr_facts().addon_code
    hits: list[Hit] = []
    for session in doc.xr.sessions:
        if _session_backs_addon(session):
            continue
        how = "at home" if session.setting not in xr_facts().evidence_settings else "in the clinic"
        who = "" if session.supervised else " without the therapist"
        hits.append((code, f"XR session {quote(session.session_id)} was done {how}{who}: it cannot back {code}"))
    return hits


def _base_intervals(ctx: ScrubContext, doc: Documentation) -> list[tuple[int, int]]:
    """The documented intervals of 0770T's base codes on the visit: its designated primaries, or the other
    therapy primaries when none of those is billed; from time blocks and the note's start/stop."""
    addon = ctx.catalog.get(xr_facts().addon_code)
    designated = set(addon.addon_of) if addon else set()
    primaries = [line for line in ctx.lines if line.code.therapy and not line.code.is_addon]
    bases = [line for line in primaries if line.code.code in designated] or primaries
    codes = {line.code.code for line in bases}
    intervals = [(_minute(b.start), _minute(b.end)) for line in bases for b in line.time_blocks]
    intervals += [
        (_minute(note.start), _minute(note.stop))
        for note in doc.services
        if note.code.strip().upper() in codes and note.start and note.stop and note.stop > note.start
    ]
    return intervals


@rule(
    "V007",
    "xr-session-outside-base-service",
    "warning",
    "A clinic XR session that does not overlap the base therapy code's documented time",
    triggers=XR_ADDON,
)
def xr_session_outside_base_service(ctx: ScrubContext) -> Hits:
    """Warns about an attached clinic session (supervised) that does not overlap, by at least a minute,
    any documented interval of the base therapy code (its time blocks, or start/stop in the note). When
    either time is unknown the rule says nothing.

    Why: the XR use that 0770T reports happens inside the base therapy service; a session outside the
    base code's time was not part of it.

    Example: 97110 documented 09:00-09:30 and a clinic session 10:00-10:20 -> warning; a session
    09:05-09:25 -> no finding.

    Fix: attach the session that took place during the base service, or correct the documented times.

    Source: reference xr-sessions.md s. 1 (session interval inside the base-code interval) and s. 3
    (overlap of at least 1 minute); ``data/xr.toml`` [xr_evidence].
    """
    doc = ctx.visit.documentation
    if doc is None or doc.xr is None or not doc.xr.sessions:
        return NO_HITS
    bases = _base_intervals(ctx, doc)
    if not bases:
        return NO_HITS
    least, code = xr_facts().least_overlap_minutes, xr_facts().addon_code
    hits: list[Hit] = []
    for session in doc.xr.sessions:
        if not _session_backs_addon(session) or session.end <= session.start:
            continue
        span = (_minute(session.start), _minute(session.end))
        if all(_overlap(span, base) < least for base in bases):
            hits.append(
                (
                    code,
                    (
                        f"XR session {quote(session.session_id)} ({session.start}-{session.end}) does not overlap the "
                        f"base therapy code's documented time: it cannot back {code}"
                    ),
                )
            )
    return hits


# --- 0771T-0774T: VR procedural dissociation --------------------------------------------------------------


@rule(
    "V008",
    "vr-dissociation-first-unit-too-short",
    "error",
    "0771T/0773T with fewer intraservice minutes than its first 15-minute unit needs",
    triggers=_codes(lambda facts: facts.first_codes),
)
def vr_first_unit_too_short(ctx: ScrubContext) -> Hits:
    """Reports 0771T or 0773T (the first 15 minutes of VR procedural dissociation) whose documented minutes
    do not reach the first unit (more than half of 15 minutes, 8). Without minutes the rule says nothing.

    Why: the first code reports the first 15 minutes of intraservice time; by the CPT time convention a
    unit is attained once more than half of it has passed.

    Example: 0771T with ``"minutes": 5`` -> error; 0771T with 12 minutes -> no finding.

    Fix: do not report VR dissociation that lasted too short a time, or document the intraservice start and
    stop times.

    Source: reference xr-vr-codes.md s. 2 (first 15 minutes, Coding Ahead descriptors); units.md s. 6 (mid-point
    convention); the CPT table of minimum minutes was not found (unconfirmed): ``data/xr.toml``
    [vr_dissociation].
    """
    facts = xr_facts()
    hits: list[Hit] = []
    for line in ctx.lines:
        code = line.code.code
        if code in facts.first_codes and line.minutes is not None and line.minutes < facts.first_unit_least_minutes:
            hits.append(
                (
                    code,
                    (
                        f"{code}: {line.minutes} min of intraservice time do not reach its first "
                        f"{facts.first_unit_minutes}-minute unit (at least {facts.first_unit_least_minutes} min)"
                    ),
                )
            )
    return hits


@rule(
    "V009",
    "vr-dissociation-observer-undocumented",
    "warning",
    "0771T/0772T without an independent trained observer documented",
    triggers=_codes(lambda facts: facts.observer_codes),
)
def vr_observer_undocumented(ctx: ScrubContext) -> Hits:
    """Warns, when the visit carries its note, that 0771T or 0772T lacks the independent trained observer:
    ``documentation.observer`` without a name or a qualification, or with ``other_duties: true``.

    Why: for 0771T/0772T the practitioner doing the procedure also furnishes the dissociation, so an
    independent observer, qualified to monitor the patient and with no other duties (not assisting), must be
    present; without that record the code is not supported (0773T/0774T are furnished by a second
    practitioner instead).

    Example: 0771T with ``documentation: {"supported_procedure": "burn dressing change"}`` -> warning
    "no observer"; with ``"observer": {"name": "...", "qualification": "RN", "other_duties": true}`` ->
    warning "not independent".

    Fix: document the observer's name and qualification and that they had no other duties, or bill
    0773T/0774T when a second practitioner furnished the dissociation.

    Source: Coding Ahead 0771T/0772T descriptors; CPT guidance summarised by American Medical Coding
    (reference xr-vr-codes.md s. 2); ``data/xr.toml`` [vr_dissociation].
    """
    doc = ctx.visit.documentation
    if doc is None:
        return NO_HITS
    codes = [line.code.code for line in ctx.lines if line.code.code in xr_facts().observer_codes]
    observer = doc.observer
    if observer is None:
        problem = "no independent trained observer is documented (documentation.observer)"
    elif observer.other_duties:
        problem = "the observer had other duties, so was not independent"
    else:
        missing = [field for field in ("name", "qualification") if not getattr(observer, field)]
        if not missing:
            return NO_HITS
        problem = f"the observer's {' and '.join(missing)} is not documented"
    hits: list[Hit] = []
    for code in codes:
        hits.append((code, f"{code}: {problem}"))
    return hits


@rule(
    "V010",
    "vr-dissociation-procedure-undocumented",
    "warning",
    "0771T-0774T without the procedure the VR dissociation supported",
    triggers=_codes(lambda facts: facts.supported_procedure_codes),
)
def vr_procedure_undocumented(ctx: ScrubContext) -> Hits:
    """Warns, when the visit carries its note, that a VR procedural dissociation code has no supported
    procedure (``documentation.supported_procedure``).

    Why: VR procedural dissociation is reported only with a procedure it supports (for example burn care or
    an orthopedic procedure); the note must name it and who performed it.

    Example: 0773T with ``documentation: {"patient_response": "calm"}`` -> warning; with
    ``"supported_procedure": "burn dressing change"`` -> no finding.

    Fix: name the procedure the dissociation supported in the note.

    Source: reference xr-vr-codes.md s. 2 (documentation the engine should require, derived from the CPT
    guidance); ``data/xr.toml`` [vr_dissociation].
    """
    doc = ctx.visit.documentation
    if doc is None or doc.supported_procedure:
        return NO_HITS
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.code in xr_facts().supported_procedure_codes:
            hits.append((line.code.code, f"{line.code.code}: the supported procedure is not documented"))
    return hits


@rule(
    "V011",
    "discipline-modifier-on-non-therapy-code",
    "error",
    "GP/GO/GN given on VR procedural dissociation (0771T-0774T), which is not a therapy code",
    triggers=codes_where(lambda code: code.category == "vr_dissociation" and not code.therapy),
)
def discipline_modifier_on_non_therapy_code(ctx: ScrubContext) -> Hits:
    """Reports a discipline modifier (GP, GO, GN) given with a VR procedural dissociation code. The engine
    adds none to these codes, and their minutes never count in the 8-minute total; a modifier given by the
    caller is kept, so the rule reports it.

    Why: 0771T-0774T support procedures such as burn care; they are not outpatient therapy services, so a
    therapy modifier claims them under the therapy benefit by mistake.

    Example: 0771T with ``"modifiers": ["GP"]`` -> error; 0771T without modifiers -> no finding.

    Fix: remove GP/GO/GN from the VR procedural dissociation line.

    Source: reference xr-vr-codes.md s. 2 (context: not routine outpatient-therapy codes, they do not inherit
    therapy rules) [derived]; ``therapy = false`` in ``data/codes.toml``.
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.code.therapy or line.code.category != "vr_dissociation":
            continue
        given = [m for m in line.input_modifiers if ctx.catalog.modifiers[m].role == "discipline"]
        if given:
            hits.append(
                (
                    line.code.code,
                    f"{line.code.code} is not a therapy code: remove {', '.join(given)} (no GP/GO/GN on it)",
                )
            )
    return hits
