"""The 835 reader on public real-world remittances we did not write (tests/fixtures/x12, see its README),
cross-checked against pyx12's loop-aware reader."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from rehabclaim.x12.core import X12Error
from rehabclaim.x12.remit835 import Remittance, read_835

SAMPLES = Path(__file__).parent / "fixtures" / "x12"
ENVELOPED = sorted(p.name for p in SAMPLES.glob("*.835") if p.name != "bcbs-nc-no-envelope.835")
UNBALANCED = {"QRP_52192_L500_HBVA010119.835", "QRP_60054_LK81_HAEA010119.835"}


def read(name: str) -> Remittance:
    return read_835((SAMPLES / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "payments", "claims", "lines", "total_paid"),
    [
        ("QRP_52192_L500_HBVA010119.835", 2, 3, 9, "447.18"),
        ("QRP_52563_L087_HNUA090119.835", 3, 79, 365, "62780.19"),
        ("QRP_60054_LF23_HAEA010119.835", 8, 37, 546, "42057.36"),
        ("QRP_60054_LF86_HAEA010119.835", 2, 24, 590, "665.31"),
        ("QRP_60054_LK81_HAEA010119.835", 7, 79, 589, "3572.10"),
        ("edi835parser-sample.835", 2, 6, 12, "142.91"),
        ("emedny-sample.835", 1, 3, 10, "45.75"),
        ("pyx12-mult-loops.835", 1, 1, 3, "0"),
        ("uhc-legacy-sample.835", 1, 2, 5, "349.99"),
    ],
)
def test_reads_every_sample(name: str, payments: int, claims: int, lines: int, total_paid: str) -> None:
    remittance = read(name)
    assert len(remittance.payments) == payments
    assert len(remittance.claims) == claims
    assert sum(len(c.lines) for c in remittance.claims) == lines
    assert remittance.total_paid == Decimal(total_paid) == sum(p.amount for p in remittance.payments)


@pytest.mark.parametrize("name", ENVELOPED)
def test_balancing_is_reported_never_ignored(name: str) -> None:
    remittance = read(name)
    assert (name in UNBALANCED) == bool(remittance.imbalances)
    for imbalance in remittance.imbalances:
        assert imbalance.segment > 0 and imbalance.level in ("transaction", "claim", "line")


def test_unbalanced_claim_names_segment_and_amounts() -> None:
    imbalances = read("QRP_52192_L500_HBVA010119.835").imbalances
    assert any(i.level == "claim" and "H501854336700" in i.message and "607.32" in i.message for i in imbalances)


def test_every_modifier_is_kept() -> None:
    lines = [line for claim in read("QRP_52563_L087_HNUA090119.835").claims for line in claim.lines]
    assert any(line.code == "97110" and line.modifiers == ["GP", "PN", "97"] for line in lines)
    therapy = [line for claim in read("QRP_60054_LF86_HAEA010119.835").claims for line in claim.lines]
    assert any(line.modifiers == ["GP", "CQ"] for line in therapy)


def test_reversals_and_provider_adjustments() -> None:
    remittance = read("QRP_60054_LK81_HAEA010119.835")
    reversal = next(c for c in remittance.claims if c.id == "VW6110079560200")
    assert reversal.status == "22" and reversal.charge < 0 and reversal.status_meaning.startswith("reversal")
    assert [(a.reason, a.amount) for a in remittance.provider_adjustments] == [("FB", Decimal("-170.16"))]


def test_separators_come_from_isa() -> None:
    greater_than = read("edi835parser-sample.835")  # '>' component separator
    assert greater_than.claims[0].lines[0].modifiers == ["26"]
    colon = read("pyx12-mult-loops.835")  # ':' component separator
    assert colon.claims[0].lines[0].code == "T1005"
    other = (SAMPLES / "pyx12-mult-loops.835").read_text().replace("~", "|").replace("*", "!")
    assert msgspec.json.encode(read_835(other)) == msgspec.json.encode(colon)


def test_several_triples_on_one_cas_and_negative_amounts() -> None:
    claims = read("edi835parser-sample.835").claims
    adjustments = [a for c in claims for line in c.lines for a in line.adjustments]
    assert any(a.amount < 0 for a in adjustments)
    assert len({(a.group, a.reason) for a in adjustments}) > 2


def test_json_contract() -> None:
    out = msgspec.json.decode(msgspec.json.Encoder(decimal_format="number").encode(read("edi835parser-sample.835")))
    assert {"total_paid", "payer", "payee", "claims", "provider_adjustments", "payments"} <= out.keys()
    claim = out["claims"][0]
    assert {
        "id",
        "status",
        "charge",
        "paid",
        "patient_responsibility",
        "payer_claim_id",
        "adjustments",
        "lines",
    } <= claim.keys()
    assert {"code", "modifiers", "charge", "paid", "units", "adjustments", "remarks"} <= claim["lines"][0].keys()
    assert {"payer", "payee", "trace_number", "amount", "date"} <= out["payments"][0].keys()


def test_no_envelope_is_refused() -> None:
    with pytest.raises(X12Error, match="segment 1: the file does not start with an ISA"):
        read("bcbs-nc-no-envelope.835")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t[: len(t) // 2], "truncated"),
        (
            lambda t: t.replace("CLP*2005555A*4*915.39*0", "CLP*2005555A*4*915.39*zero"),
            "segment 15: CLP04 'zero' is not a number",
        ),
        (lambda t: t.replace("SE*31*0001", "SE*30*0001"), "segment 33: SE01 says 30 segments"),
        (
            lambda t: t.replace("CAS*CO*16*500.04", "CAS*CR*16*500.04"),
            "segment 21: CAS01 'CR' is not an adjustment group",
        ),
        (lambda t: t.replace("ST*835*0001", "ST*837*0001"), "segment 3: transaction set '837' is not an 835"),
        (lambda t: t.replace("IEA*1*000238388~", ""), "no IEA trailer"),
        (lambda t: t.replace("ISA*00*", "ISA*00!", 1), "segment 1"),
    ],
)
def test_unreadable_files_name_the_segment(change: object, message: str) -> None:
    text = (SAMPLES / "pyx12-mult-loops.835").read_text()
    with pytest.raises(X12Error, match=message):
        read_835(change(text))  # type: ignore[operator]


def _pyx12_claims(path: Path) -> list[tuple[object, ...]]:
    """Claims, amounts and adjustments as pyx12's loop-aware reader sees them."""
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(path.read_text())
    )
    claims = []
    for node in reader.iter_segments("2100"):
        if node.id != "2100":
            continue

        def triples(segment: object) -> list[tuple[str, str, Decimal]]:
            found = []
            for position in range(2, 20, 3):
                reason = segment.get_value(f"CAS{position:02d}")  # type: ignore[attr-defined]
                if reason:
                    amount = segment.get_value(f"CAS{position + 1:02d}")  # type: ignore[attr-defined]
                    found.append((segment.get_value("CAS01"), reason, Decimal(amount)))  # type: ignore[attr-defined]
            return found

        lines = []
        for line in node.select("2110"):
            modifiers = [line.get_value(f"SVC01-{i}") for i in range(3, 7)]
            lines.append(
                (
                    line.get_value("SVC01-2"),
                    [m for m in modifiers if m],
                    Decimal(line.get_value("SVC02")),
                    Decimal(line.get_value("SVC03")),
                    [t for cas in line.select("CAS") for t in triples(cas)],
                )
            )
        claims.append(
            (
                node.get_value("CLP01"),
                node.get_value("CLP02"),
                Decimal(node.get_value("CLP03")),
                Decimal(node.get_value("CLP04")),
                [t for cas in node.select("CAS") for t in triples(cas)],
                lines,
            )
        )
    return claims


@pytest.mark.parametrize("name", ENVELOPED)
def test_same_claims_amounts_and_adjustments_as_pyx12(name: str) -> None:
    ours = [
        (
            c.id,
            c.status,
            c.charge,
            c.paid,
            [(a.group, a.reason, a.amount) for a in c.adjustments],
            [
                (
                    line.code,
                    line.modifiers,
                    line.charge,
                    line.paid,
                    [(a.group, a.reason, a.amount) for a in line.adjustments],
                )
                for line in c.lines
            ],
        )
        for c in read(name).claims
    ]
    assert ours == _pyx12_claims(SAMPLES / name)
