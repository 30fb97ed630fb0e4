"""Medicare Part B coverage rules read from CMS's own files: what a Medicare practitioner claim does not carry
(orthoses, codes Medicare does not recognise) and what it carries unpaid (bundled codes).

They apply to the payer profiles that bill Medicare Part B (``medicare_payers`` in
``data/medicare-payment.toml``); other payers keep these codes on the claim. The facts come from the PFS
relative value file (status code) and the practitioner MUE file (an MUE of 0) in force on the date of
service, so a new quarter's files change them without a release.
"""

from __future__ import annotations

from collections.abc import Iterable

from rehabclaim.catalog import Catalog
from rehabclaim.cms.mue import Mue
from rehabclaim.cms.tables import CmsTables
from rehabclaim.context import ScrubContext
from rehabclaim.lines import WorkLine
from rehabclaim.rules.base import Hit, Hits, codes_where, rule


def _statuses(tables: CmsTables, *statuses: str) -> set[str]:
    return {code for release in tables.rvus for code, row in release.rows.items() if row.status in statuses}


def NOT_RECOGNISED_CODES(_catalog: Catalog, tables: CmsTables) -> Iterable[str]:
    """Codes with PFS status I in some release, or a practitioner MUE of 0."""
    return _statuses(tables, "I") | {code for code, mue in tables.mue.items() if mue.units == 0}


def BUNDLED_CODES(_catalog: Catalog, tables: CmsTables) -> Iterable[str]:
    """Codes with PFS status B in some release."""
    return _statuses(tables, "B")


def _billed_to_medicare(ctx: ScrubContext) -> list[WorkLine]:
    """The billed lines of a visit to a Medicare Part B payer (none for other payers)."""
    if not ctx.medicare.is_medicare(ctx.payer.key):
        return []
    return [line for line in ctx.lines if line.units > 0]


def _mue_zero(ctx: ScrubContext, code: str) -> Mue | None:
    mue = ctx.cms.mue.get(code)
    return mue if mue is not None and mue.units == 0 else None


def _mue_note(mue: Mue | None) -> str:
    return "" if mue is None else f"; practitioner MUE 0 ({mue.rationale}, {mue.origin})"


@rule(
    "B001",
    "orthosis-to-dme-mac",
    "error",
    "An orthosis (L-code) on a Medicare Part B practitioner claim: it is billed to the DME MAC",
    triggers=codes_where(lambda code: code.is_orthosis),
)
def orthosis_to_dme_mac(ctx: ScrubContext) -> Hits:
    """Reports an orthosis device code (L-code) on a visit billed to Medicare Part B, and says where the
    device goes: Medicare pays an orthosis as a DMEPOS item, to the supplier, on a claim to the DME MAC,
    never on the therapist's practitioner claim. The therapy lines (97760 training included) stay on this
    claim; for payers that take the L-code on the therapy claim it stays too (O002 and P004 apply there).

    Why: CMS's practitioner MUE for the L-codes is 0 (MAI 3, "CMS Policy"): on a practitioner claim the
    line is denied whatever its units, and the device goes unpaid unless it is billed where Medicare pays it.
    No L-code is in the physician fee schedule file.

    Example: 97760 and L3809 for Medicare -> error "bill L3809 to the DME MAC"; the same visit for the sample
    PPO -> no finding.

    Fix: take the L-code off this claim and bill it to the DME MAC under the practice's DMEPOS supplier
    enrolment, or leave it to the DMEPOS supplier that furnished the device.

    Source: CMS practitioner MUE table (``MCR_MUE_PractitionerServices_Eff_04-01-2026.csv``: L1906, L3000,
    L3807, L3809 = 0, MAI 3, CMS Policy); L-codes absent from CMS's PFS relative value file
    (``PPRRVU2026_Jul_nonQPP.csv``); DMEPOS claims go to the DME MACs (Pub. 100-04 ch. 20 [recalled]).
    """
    hits: list[Hit] = []
    for line in _billed_to_medicare(ctx):
        code = line.code.code
        if line.code.is_orthosis:
            hits.append(
                (
                    code,
                    (
                        f"{code} is an orthosis (a DMEPOS item): {ctx.payer.name} pays it to the supplier on a claim "
                        f"to the DME MAC, not on this practitioner claim{_mue_note(_mue_zero(ctx, code))}; take it off "
                        f"this claim and bill {code} to the DME MAC (DMEPOS supplier enrolment), or leave it to the "
                        "supplier"
                    ),
                )
            )
    return hits


@rule(
    "B002",
    "not-recognised-by-medicare",
    "error",
    "A code Medicare does not pay on a practitioner claim (PFS status I, or an MUE of 0); the code to use named",
    triggers=NOT_RECOGNISED_CODES,
)
def not_recognised_by_medicare(ctx: ScrubContext) -> Hits:
    """Reports a code, billed to Medicare Part B, that Medicare does not recognise (PFS status I: "not valid
    for Medicare purposes; Medicare uses another code"), naming the code Medicare takes instead where
    ``data/medicare-payment.toml`` lists it (97014 -> G0283); and any other code whose practitioner MUE is
    0 (orthoses: B001; bundled codes: B003).

    Why: Medicare denies 97014: unattended electrical stimulation is billed to Medicare as G0283, at the same
    RVUs. Other payers take 97014, so it stays for them.

    Example: 97014 for Medicare -> error "bill G0283"; 97014 for the sample PPO -> no finding; G0283 for
    Medicare -> no finding.

    Fix: bill the code Medicare uses (G0283 for 97014) for the same service.

    Source: CMS PFS relative value file (``PPRRVU2026_Jul_nonQPP.csv``: 97014 status I, G0283 status A);
    CMS practitioner MUE table (97014 = 0, CMS Policy); status meanings per the PFS file layout (reference
    README s. 1); reference coding-assistant.md (G0283 for Medicare, 97014 for other payers).
    """
    hits: list[Hit] = []
    for line in _billed_to_medicare(ctx):
        code = line.code.code
        rvu = ctx.cms.rvu_on(code, ctx.visit.date)
        mue = _mue_zero(ctx, code)
        if line.code.is_orthosis or (rvu is not None and rvu.status == "B"):
            continue  # B001, B003
        if rvu is not None and rvu.status == "I":
            instead = ctx.medicare.medicare_code_for(code)
            bill = f"bill {instead.code} for Medicare" if instead else "Medicare uses another code for it"
            hits.append(
                (code, f"{code} is not valid for Medicare (PFS status I, {rvu.origin}){_mue_note(mue)}: {bill}")
            )
        elif mue is not None:
            hits.append((code, f"{code}: Medicare does not pay it on a practitioner claim{_mue_note(mue)}"))
    return hits


@rule(
    "B003",
    "bundled-no-payment",
    "warning",
    "A code Medicare bundles (PFS status B): no separate payment",
    triggers=BUNDLED_CODES,
)
def bundled_no_payment(ctx: ScrubContext) -> Hits:
    """Warns that a code billed to Medicare Part B is bundled (PFS status B): Medicare never pays it
    separately, its payment being part of the day's other services, so its expected payment is $0.

    Why: hot or cold packs (97010) are billed out of habit; under Medicare they earn nothing, and the
    practitioner MUE of 0 denies the line.

    Example: 97110 and 97010 for Medicare -> warning on 97010, expected $0; 97010 for the sample PPO -> no
    finding.

    Fix: expect no payment for it; leave it off the Medicare claim unless your MAC asks for bundled services
    to be reported.

    Source: CMS PFS relative value file (``PPRRVU2026_Jul_nonQPP.csv``: 97010 status B); CMS practitioner
    MUE table (97010 = 0, CMS Policy); status B per the PFS file layout (reference README s. 1, Cahaba GBA
    descriptors).
    """
    hits: list[Hit] = []
    for line in _billed_to_medicare(ctx):
        rvu = ctx.cms.rvu_on(line.code.code, ctx.visit.date)
        if rvu is not None and rvu.status == "B":
            hits.append(
                (
                    line.code.code,
                    (
                        f"{line.code.code} is bundled under Medicare (PFS status B, {rvu.origin}): never paid "
                        f"separately, expected $0{_mue_note(_mue_zero(ctx, line.code.code))}"
                    ),
                )
            )
    return hits
