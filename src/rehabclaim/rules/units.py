"""Unit rules: minutes documented for timed codes, units the minutes support, services earning no unit."""

from __future__ import annotations

from rehabclaim.context import ScrubContext
from rehabclaim.rules.base import Hit, Hits, rule


@rule("U001", "timed-code-without-minutes", "error", "A timed code with no documented minutes")
def timed_without_minutes(ctx: ScrubContext) -> Hits:
    """Reports a timed (15-minute) therapy code whose service has no minutes.

    Why: units of timed codes come from the minutes; without them no unit can be defended in an audit
    and the engine bills none.

    Example: ``{"code": "97110"}`` -> error.

    Fix: document the minutes of direct treatment for the service.

    Source: Pub. 100-04 ch. 5 s. 20.2 (units from timed minutes); AOTA and MedPayIQ list undocumented time
    as an audit trigger (reference units.md s. 2, orthotics.md s. 5).
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.is_timed_therapy and line.minutes is None and not line.minutes_unknown:
            hits.append((line.code.code, f"{line.code.code} is timed but the service has no minutes; no unit billed"))
    return hits


@rule("U002", "units-exceed-minutes", "error", "Units stated for a service are more than its minutes support")
def units_exceed_minutes(ctx: ScrubContext) -> Hits:
    """Reports a service whose stated ``units`` are more than the engine finds: for timed codes, more than
    the minutes earn under the payer's method; for untimed therapy codes, more than one per session.

    Why: billing units the documented minutes cannot support is the commonest therapy audit finding.

    Example: 97110 with 20 minutes and ``"units": 2`` -> error (20 minutes earn 1 unit).

    Fix: bill the units the engine computed, or document the missing minutes.

    Source: Pub. 100-04 ch. 5 s. 20.2 (time-to-units table); untimed codes one unit per session
    (Clinicient 8-minute rule guide) (reference units.md s. 1, 5).
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        if not line.code.therapy or line.stated_units is None or line.stated_units <= line.units:
            continue
        basis = (
            f"{line.counted_minutes} counted min support {line.units}"
            if line.code.timed
            else "an untimed code is billed once per session"
        )
        hits.append((line.code.code, f"{line.code.code}: {line.stated_units} units stated but {basis}"))
    return hits


@rule("U003", "service-earns-no-unit", "info", "A documented timed service that earns no unit")
def service_earns_no_unit(ctx: ScrubContext) -> Hits:
    """Reports a timed service with minutes that earns no unit, so that it is never dropped silently.

    Why: under the CMS method a short service still counts toward the visit's total timed minutes but
    may get no unit of its own (Example 4 of the manual: 97035 for 8 minutes earns none); under the
    per-code method fewer than 8 minutes of a code earn nothing.

    Example: 97110 18, 97140 13, 97116 10, 97035 8 minutes -> 97035 earns no unit.

    Fix: nothing to fix; the minutes stay documented and counted in the total.

    Source: Pub. 100-04 ch. 5 s. 20.2 examples (reference units.md s. 4).
    """
    hits: list[Hit] = []
    for line in ctx.lines:
        if line.is_timed_therapy and line.minutes is not None and line.units == 0:
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code}: {line.counted_minutes} min earned no unit under the {ctx.plan.method} "
                        "method; the minutes stay documented and count toward the visit's timed total"
                    ),
                )
            )
    return hits
